//! `qalita discover` and the QALITA checks of `test-connection`, end to end with the built binary on
//! the embedded stack: the configuration discover writes for each simulator dialect, unedited,
//! makes `test-connection` pass; a configuration the instance does not match is caught (a route
//! its OpenAPI document lacks, a field none of its issues has); and a document that cannot be read
//! is said with the right exit code, the token never shown.

mod commands_world;

use std::io::{Read, Write};
use std::net::TcpListener;

use commands_world::*;
use qalita_gitlab_sims::qalita::Dialect;
use serde_json::Value;

/// The check named `name` in a JSON report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    let checks = report["checks"].as_array().expect("checks");
    checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// A server that answers every request with `body` as `content_type`, on a free loopback port.
fn serving(content_type: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut stream = stream;
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(format!("{head}{body}").as_bytes());
        }
    });
    url
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("its address").port()
}

#[tokio::test]
async fn what_discover_writes_for_the_second_dialect_makes_test_connection_pass_unedited() {
    let world = World::local_in(Dialect::Second, "").await;
    let before = world.json(&["test-connection"]).await.expect(1).json();
    let refused = check(&before, "QALITA API")["detail"].as_str().unwrap_or_default().to_owned();
    assert!(refused.contains("refuses the token (HTTP 401)"), "{before:#}");

    let discovered = world.discover().await;
    for line in [
        "[qalita.paths]",
        "update_issue = \"PATCH /api/v2/issues/{id}\"",
        "list_comments = \"GET /api/v2/issues/{id}/notes\"",
        "[qalita.auth]\n# security scheme APIKeyHeader is an API key in the header X-API-Key, sent bare\nheader = \"X-API-Key\"",
        "style = \"page\"",
        "items = \"/data\"",
        "total = \"/total\"",
        "assignee = \"/assignee_id\"",
        "comment_text = \"text\"",
        "statuses = [404]",
    ] {
        assert!(discovered.contains(line), "{line:?} missing from\n{discovered}");
    }
    world.apply(&discovered).await;
    let after = world.json(&["test-connection"]).await.expect(0).json();
    assert_eq!(check(&after, "QALITA API")["status"], "ok", "{after:#}");
    assert_eq!(check(&after, "QALITA routes")["status"], "ok", "{after:#}");
    assert_eq!(check(&after, "QALITA issue fields")["status"], "ok", "{after:#}");
    assert_eq!(world.qalita_writes() + world.gitlab_writes(), 0, "discover and the checks write nothing");
}

#[tokio::test]
async fn discover_shows_the_first_dialects_configuration_to_people_and_scripts() {
    let world = World::local("").await;
    let people = world.run(&["qalita", "discover"]).await.expect(0);
    for line in ["✓ list issues", "GET /api/v2/issues", "✓ get source", "[qalita.paths]", "statuses = [204]"] {
        assert!(people.stdout.contains(line), "{line:?} missing from\n{}", people.stdout);
    }
    let scripts = world.json(&["qalita", "discover"]).await.expect(0).json();
    assert_eq!(scripts["missing"], 0, "{scripts:#}");
    let operations = scripts["operations"].as_array().expect("operations");
    assert_eq!(operations.len(), 9);
    assert!(operations.iter().all(|o| o["found"] == true), "{scripts:#}");
    assert!(scripts["toml"].as_str().unwrap_or_default().contains("scheme = \"Bearer\""), "{scripts:#}");
    assert_eq!(scripts["written"], Value::Null);

    let checked = world.json(&["test-connection"]).await.expect(0).json();
    assert_eq!(check(&checked, "QALITA routes")["status"], "ok", "{checked:#}");
    assert_eq!(check(&checked, "QALITA issue fields")["status"], "ok", "{checked:#}");
}

#[tokio::test]
async fn test_connection_catches_a_route_the_document_lacks_and_a_field_no_issue_has() {
    let world = World::local_in(Dialect::Second, "").await;
    let discovered = world.discover().await;
    // As if written by hand from the first dialect's habits: PUT updates, `assignee` read as is.
    let misconfigured = discovered
        .replace("update_issue = \"PATCH /api/v2/issues/{id}\"", "update_issue = \"PUT /api/v2/issues/{id}\"")
        .replace("assignee = \"/assignee_id\"\n", "");
    assert_ne!(misconfigured, discovered);
    world.apply(&misconfigured).await;
    let ran = world.run(&["test-connection"]).await.expect(1);
    assert!(ran.stdout.contains("✗ QALITA routes"), "{}", ran.stdout);
    let report = world.json(&["test-connection"]).await.expect(1).json();
    let routes = check(&report, "QALITA routes");
    assert_eq!(routes["status"], "fail");
    let detail = routes["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("update_issue `PUT /api/v2/issues/{id}`: the path has only GET, PATCH"), "{routes}");
    assert!(routes["fix"].as_str().unwrap_or_default().contains("qalita discover"), "{routes}");
    let fields = check(&report, "QALITA issue fields");
    assert_eq!(fields["status"], "warn");
    assert!(fields["detail"].as_str().unwrap_or_default().contains("assignee (`/assignee`)"), "{fields}");
    assert!(!fields["detail"].as_str().unwrap_or_default().contains("title"), "{fields}");
}

#[tokio::test]
async fn a_document_that_cannot_be_read_is_said_with_its_exit_code() {
    let world = World::local("").await;
    let missing = world.run(&["qalita", "discover", "--openapi-path", "/docs/openapi.json"]).await.expect(1);
    assert!(missing.stderr.contains("serves no OpenAPI document at"), "{missing:?}");
    assert!(missing.stderr.contains("--openapi-path"), "{missing:?}");
    // A JSON answer that is not a document (the issue list, with the right token).
    let list = world.json(&["qalita", "discover", "--openapi-path", "/api/v2/issues"]).await.expect(1).json();
    let message = list["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("the document is not a JSON object"), "{list:#}");
    assert_eq!(list["error"]["exit_code"], 1);
    let bad_path = world.run(&["qalita", "discover", "--openapi-path", "openapi.json"]).await.expect(2);
    assert!(bad_path.stderr.contains("must start with `/`"), "{bad_path:?}");

    let html = serving("text/html; charset=utf-8", "<!DOCTYPE html><html>QALITA</html>");
    let page = world.write_config("html.toml", &world.document("").replace(&world.qalita.url(), &html));
    world.run(&["config", "apply", path(&page), "--yes"]).await.expect(0);
    let not_json = world.run(&["qalita", "discover"]).await.expect(1);
    assert!(not_json.stderr.contains("is not JSON (text/html; charset=utf-8)"), "{not_json:?}");

    let down = format!("http://127.0.0.1:{}", closed_port());
    let unreachable = world.write_config("down.toml", &world.document("").replace(&world.qalita.url(), &down));
    world.run(&["config", "apply", path(&unreachable), "--yes"]).await.expect(0);
    let ran = world.run(&["qalita", "discover"]).await.expect(3);
    assert!(ran.stderr.contains("QALITA did not answer"), "{ran:?}");
}
