//! `links rebuild` end to end: a lost link table rebuilt from the markers of the GitLab issues, after
//! which a backfill creates nothing; a rebuild interrupted, then resumed where it stopped; a dry run
//! that writes nothing; duplicates and conflicts reported, the table's links kept; GitLab's rate
//! limit honoured.

mod commands_world;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use commands_world::*;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::LinkStatus;
use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::mapping::{Desired, Facts};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, Fault, FaultRule, RateLimits, SimConfig};
use serde_json::{Value, json};

/// The first seeded QALITA issue id.
const FIRST: u64 = 10_001;
/// The default project's issues, as the client asks for them.
const ISSUES_PATH: &str = "/projects/data%2Fquality/issues";
/// The routed project's issues.
const FINANCE_ISSUES_PATH: &str = "/projects/43/issues";

/// GitLab without rate limits: the worlds that seed hundreds of issues through `backfill`.
fn unlimited() -> SimConfig {
    SimConfig::default().with_rate_limits(RateLimits {
        window: Duration::from_secs(60),
        api: None,
        issue_creation: None,
        note_creation: None,
    })
}

/// Adds `n` open QALITA issues, one a minute from 2026-11-01; they are returned too.
fn seed_qalita(world: &World, n: u64) -> Vec<Value> {
    let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let issues: Vec<Value> = (0..n)
        .map(|i| {
            let at = (start + TimeDelta::minutes(i as i64)).to_rfc3339();
            json!({
                "id": FIRST + i, "title": format!("Check {i}"), "status": "open", "source_id": 57,
                "created_at": at, "updated_at": at,
            })
        })
        .collect();
    for issue in &issues {
        world.qalita.insert_issue(issue.clone());
    }
    issues
}

/// Adds `n` open QALITA issues, then gives each (and the fixture's 4821) its GitLab issue with
/// `backfill`: `n + 1` marked GitLab issues, made by the service.
async fn seed_marked(world: &World, n: u64) {
    seed_qalita(world, n);
    let report = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(report["total"]["created"], n + 1, "{report}");
}

/// Adds `n` open QALITA issues and files their GitLab issues straight through GitLab's API, each
/// as the service writes it (the same mapping of the same issue, marker included): hundreds of
/// marked issues in a second or two, where `backfill` takes half a minute.
async fn seed_marked_in_gitlab(world: &World, n: u64) {
    let config = Config::from_document(&world.document(""), |_| None).unwrap();
    let client = reqwest::Client::new();
    for issue in seed_qalita(world, n) {
        let issue: QalitaIssue = serde_json::from_value(issue).unwrap();
        let desired = Desired::of(&config, &Facts::of(&issue, &IssueContext::default(), None));
        assert_eq!(desired.route.project.to_string(), "data/quality");
        let labels: Vec<&str> = desired.labels.iter().map(String::as_str).collect();
        let body = json!({ "title": desired.title, "description": desired.description, "labels": labels.join(",") });
        gitlab_call_with(&client, world, reqwest::Method::POST, ISSUES_PATH, body).await;
    }
}

/// The GitLab issue (project id, iid) each seeded QALITA issue is linked to in GitLab, by marker.
fn marked_issue(world: &World, id: u64) -> (u64, u64) {
    let marker = format!("<!-- qalita-issue:{id} -->");
    let found: Vec<(u64, u64)> = world
        .gitlab_issues()
        .iter()
        .filter(|issue| issue.description.as_deref().is_some_and(|d| d.trim_end().ends_with(&marker)))
        .map(|issue| (issue.project_id.get(), issue.iid.get()))
        .collect();
    assert_eq!(found.len(), 1, "one GitLab issue carries the marker of {id}");
    found[0]
}

/// The QALITA issue whose marker ends a description.
fn marker_of(description: &str) -> u64 {
    let id = description.trim_end().strip_suffix(" -->").and_then(|d| d.rsplit_once("qalita-issue:")).unwrap().1;
    id.parse().unwrap()
}

/// The list requests made to a project's issues so far.
fn lists(world: &World, path: &str) -> usize {
    world.gitlab.count("GET", path)
}

/// The iid of the GitLab issue `link show` says the QALITA issue is linked to.
async fn linked_iid(world: &World, id: &str) -> Value {
    world.json(&["link", "show", id]).await.expect(0).json()["gitlab"]["iid"].clone()
}

/// A GitLab API call with the sync's own token, as a person or a script with its rights makes it.
async fn gitlab_call(world: &World, method: reqwest::Method, path: &str, body: Value) -> Value {
    gitlab_call_with(&reqwest::Client::new(), world, method, path, body).await
}

/// [`gitlab_call`] through `client` (one client for many calls: each new one costs its set-up).
async fn gitlab_call_with(
    client: &reqwest::Client,
    world: &World,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let response = client
        .request(method, format!("{}/api/v4{path}", world.gitlab.url()))
        .header("PRIVATE-TOKEN", DEFAULT_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

/// A fresh stack against a GitLab that already holds 500 marked issues (one made by
/// `create-issue`, the others filed as the service files them): rebuilt, the table links each of
/// them again, and a backfill then creates nothing (it writes only the link backs those issues
/// never had, and a second one writes nothing at all).
#[tokio::test]
async fn links_rebuilt_from_500_marked_issues_then_a_backfill_creates_nothing() {
    let started = Instant::now();
    let mut world = World::local_with(unlimited(), "").await;
    world.run(&["create-issue", "4821"]).await.expect(0);
    seed_marked_in_gitlab(&world, 499).await;
    let seeded = started.elapsed();
    world.lose_table("").await;
    assert_eq!(world.run(&["link", "show", "10001"]).await.code, 1, "the table is empty");

    let lists_before = lists(&world, ISSUES_PATH);
    let report = world.json(&["links", "rebuild"]).await.expect(0).json();
    assert_eq!(report["total"]["scanned"], 500, "{report}");
    assert_eq!(report["total"]["restored"], 500, "{report}");
    assert_eq!(
        (report["total"]["duplicates"].as_u64(), report["total"]["conflicts"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(report["done"], true);
    // Pages of 100, each after the last one read (which it lists again): six of them.
    let pages = lists(&world, ISSUES_PATH) - lists_before;
    assert_eq!(pages, 6, "read page by page");
    let link = world.json(&["link", "show", "10250"]).await.expect(0).json();
    let (project, iid) = marked_issue(&world, 10_250);
    assert_eq!((link["status"].as_str(), link["gitlab"]["iid"].as_u64()), (Some("linked"), Some(iid)), "{link}");
    assert_eq!(link["gitlab"]["project_id"], project);

    let (posts, writes, qalita_writes) =
        (world.gitlab.count("POST", ISSUES_PATH), world.gitlab_writes(), world.qalita_writes());
    let backfill = world.json(&["backfill", "--restart"]).await.expect(0).json();
    assert_eq!(
        (backfill["total"]["created"].as_u64(), backfill["total"]["adopted"].as_u64()),
        (Some(0), Some(0)),
        "{backfill}"
    );
    assert_eq!(backfill["total"]["unchanged"], 500, "the restored links record what GitLab holds: {backfill}");
    assert_eq!(world.gitlab.count("POST", ISSUES_PATH), posts, "no GitLab issue created");
    assert_eq!(world.gitlab_writes(), writes, "no GitLab write at all");
    // The 499 issues seeded straight into GitLab never had their URL written back to QALITA: a
    // restored link owes it, looked for first, so only those are written (4821's was written by
    // `create-issue`).
    assert_eq!(world.qalita_writes() - qalita_writes, 499, "the missing link backs, and nothing else");
    let qalita_writes = world.qalita_writes();
    let again = world.json(&["backfill", "--restart"]).await.expect(0).json();
    assert_eq!(again["total"]["unchanged"], 500, "{again}");
    assert_eq!(world.gitlab_writes(), writes, "no GitLab write at all");
    assert_eq!(world.qalita_writes(), qalita_writes, "a second backfill writes nothing to QALITA either");
    let mut carried: Vec<u64> =
        world.gitlab_issues().iter().map(|issue| marker_of(issue.description.as_deref().unwrap())).collect();
    carried.sort_unstable();
    let expected: Vec<u64> = std::iter::once(ISSUE).chain(FIRST..FIRST + 499).collect();
    assert_eq!(carried, expected, "each QALITA issue still has exactly one GitLab issue, and no other exists");
    println!("seeded 500 marked issues in {seeded:?}; everything in {:?}", started.elapsed());
}

/// A rebuild that GitLab stops in its third page (the token refused) keeps its checkpoint; run
/// again, it goes on from there, and the project it had finished is not walked again.
#[tokio::test]
async fn an_interrupted_rebuild_resumes_where_it_stopped_and_ends_with_every_link() {
    let mut world = World::aws_with(unlimited(), "").await;
    seed_marked(&world, 24).await;
    world.lose_table("").await;
    world.gitlab.inject(FaultRule::new(Fault::Unauthorized).on("GET", ISSUES_PATH).after(2));

    let stopped = world.json(&["links", "rebuild", "--page-size", "5"]).await.expect(1).json();
    assert_eq!(stopped["done"], false, "{stopped}");
    let default = &stopped["projects"][0];
    assert_eq!((default["project"].as_str(), default["done"].as_bool()), (Some("data/quality"), Some(false)));
    assert!(default["stopped"].as_str().unwrap().contains("401"), "{stopped}");
    // The second page starts at the first page's last issue, listed again and skipped.
    assert_eq!(default["counts"]["restored"], 9, "two pages of five: {stopped}");
    assert_eq!(stopped["projects"][1]["done"], true, "the other project is walked meanwhile: {stopped}");
    let store = world.dynamo_store();
    let linked = |id: u64| {
        let store = store.clone();
        async move { store.get(QalitaIssueId::new(id).unwrap()).await.unwrap() }
    };
    // GitLab lists them least recently updated first: the first nine are linked, no other.
    let mut listed = world.gitlab.issues(DEFAULT_PROJECT);
    listed.sort_by_key(|issue| (issue.updated_at, issue.id));
    let order: Vec<u64> = listed.iter().map(|issue| marker_of(issue.description.as_deref().unwrap())).collect();
    for (index, id) in order.iter().enumerate() {
        assert_eq!(linked(*id).await.is_some(), index < 9, "QALITA issue {id}, listed {index}th");
    }

    let status = world.run(&["status"]).await.expect(0).stdout;
    assert!(status.contains("links rebuild: interrupted in data/quality (9 GitLab issue(s) scanned"), "{status}");

    let (before, finance_before) = (lists(&world, ISSUES_PATH), lists(&world, FINANCE_ISSUES_PATH));
    let resumed = world.json(&["links", "rebuild", "--page-size", "5"]).await.expect(0).json();
    assert_eq!((resumed["resumed"].as_bool(), resumed["done"].as_bool()), (Some(true), Some(true)), "{resumed}");
    assert_eq!(resumed["this_run"]["counts"]["scanned"], 16, "only the rest is read: {resumed}");
    assert_eq!(resumed["total"]["restored"], 25, "{resumed}");
    assert_eq!(resumed["projects"][1]["done_before"], true);
    assert_eq!(lists(&world, FINANCE_ISSUES_PATH), finance_before, "the finished project is not read again");
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!(status["links_rebuild"]["done"], true, "{status}");
    assert_eq!(status["links_rebuild"]["projects"]["data/quality"]["counts"]["restored"], 25, "{status}");
    let first_again =
        world.gitlab.requests().into_iter().filter(|r| r.method == "GET" && r.path == ISSUES_PATH).nth(before).unwrap();
    assert!(first_again.query_param("updated_after").is_some(), "resumed after the last issue read: {first_again:?}");
    for id in std::iter::once(ISSUE).chain(FIRST..FIRST + 24) {
        let link = linked(id).await.unwrap_or_else(|| panic!("QALITA issue {id} is linked"));
        let (project, iid) = marked_issue(&world, id);
        let gitlab = link.gitlab.unwrap();
        assert_eq!((link.status, gitlab.project_id.get(), gitlab.iid.get()), (LinkStatus::Linked, project, iid));
    }

    // Finished: the next run is a new one, from the start, and finds every link in place.
    let again = world.json(&["links", "rebuild"]).await.expect(0).json();
    assert_eq!((again["resumed"].as_bool(), again["total"]["already_linked"].as_u64()), (Some(false), Some(25)));

    // The issues the service made, restored, are what a backfill would write: it writes nothing.
    let (writes, qalita_writes) = (world.gitlab_writes(), world.qalita_writes());
    let backfill = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(
        (backfill["total"]["created"].as_u64(), backfill["total"]["unchanged"].as_u64()),
        (Some(0), Some(25)),
        "{backfill}"
    );
    assert_eq!((world.gitlab_writes(), world.qalita_writes()), (writes, qalita_writes), "nothing written");
}

/// On a table that has links: a second GitLab issue carrying a linked issue's marker is a
/// duplicate, a marked issue whose QALITA issue is linked to another (unmarked) one is a conflict;
/// both are reported and logged, and no link changes (the conflict's way out, `link sever` then
/// `create-issue`, adopts the marked issue). On a lost table, of two issues carrying one marker the
/// first GitLab lists is linked and the other reported.
#[tokio::test]
async fn duplicates_and_conflicts_are_reported_and_no_link_is_replaced() {
    let mut world = World::local_with(unlimited(), "").await;
    seed_marked(&world, 3).await;
    let (_, original) = marked_issue(&world, FIRST);
    let (_, unmarked) = marked_issue(&world, FIRST + 1);
    // A person copies 10001's issue, marker included; another removes 10002's marker and files a
    // new issue with it.
    let copy = gitlab_call(
        &world,
        reqwest::Method::POST,
        ISSUES_PATH,
        json!({ "title": "Copy", "description": "copied\n\n<!-- qalita-issue:10001 -->" }),
    )
    .await;
    gitlab_call(
        &world,
        reqwest::Method::PUT,
        &format!("{ISSUES_PATH}/{unmarked}"),
        json!({ "description": "the marker was removed by hand" }),
    )
    .await;
    let refiled = gitlab_call(
        &world,
        reqwest::Method::POST,
        ISSUES_PATH,
        json!({ "title": "Refiled", "description": "again\n\n<!-- qalita-issue:10002 -->" }),
    )
    .await;

    let report = world.json(&["link", "rebuild"]).await.expect(0).json();
    let total = &report["total"];
    assert_eq!(
        [
            &total["restored"],
            &total["already_linked"],
            &total["duplicates"],
            &total["conflicts"],
            &total["without_marker"]
        ],
        [0, 3, 1, 1, 1],
        "{report}"
    );
    assert_eq!(report["duplicates"][0]["iid"], copy["iid"], "{report}");
    assert!(report["duplicates"][0]["kept"].as_str().unwrap().ends_with(&format!("/issues/{original}")));
    assert_eq!(
        (report["conflicts"][0]["iid"].clone(), report["conflicts"][0]["linked_exists"].clone()),
        (refiled["iid"].clone(), json!(true))
    );
    assert_eq!(linked_iid(&world, "10001").await, original, "the duplicate links nothing");
    assert_eq!(linked_iid(&world, "10002").await, unmarked, "the table's link stays");
    let log = world.run(&["logs", "10001"]).await.expect(0).stdout;
    assert!(log.contains("duplicate") && log.contains(&format!("/issues/{}", copy["iid"])), "{log}");
    let text = world.run(&["links", "rebuild", "--restart"]).await.expect(0).stdout;
    assert!(text.contains("duplicate: ") && text.contains("conflict: "), "{text}");
    // The way out of the conflict the log names: sever, then create-issue adopts the marked issue.
    let log = world.run(&["logs", "10002"]).await.expect(0).stdout;
    assert!(log.contains("marker-conflict") && log.contains("`link sever`, then `create-issue`"), "{log}");
    let posts = world.gitlab.count("POST", ISSUES_PATH);
    world.run(&["link", "sever", "10002"]).await.expect(0);
    world.run(&["create-issue", "10002"]).await.expect(0);
    assert_eq!(linked_iid(&world, "10002").await, refiled["iid"], "the marked issue is adopted");
    assert_eq!(world.gitlab.count("POST", ISSUES_PATH), posts, "and none created");

    // Lost: the dry run says what it would restore and writes nothing; then the original (listed
    // before its later copy) is linked, the copy reported, and 10002 linked to the refiled issue.
    world.lose_table("").await;
    let dry = world.json(&["links", "rebuild", "--dry-run"]).await.expect(0).json();
    assert_eq!(dry["planned"].as_array().unwrap().len(), 4, "{dry}");
    assert_eq!(dry["total"]["duplicates"], 1, "the dry run sees the copy as the real run will: {dry}");
    assert_eq!(world.run(&["link", "show", "10001"]).await.code, 1, "the dry run wrote no link");
    let rebuilt = world.json(&["links", "rebuild"]).await.expect(0).json();
    assert_eq!(
        (rebuilt["resumed"].as_bool(), rebuilt["total"]["restored"].as_u64()),
        (Some(false), Some(4)),
        "{rebuilt}"
    );
    assert_eq!(rebuilt["total"]["duplicates"], 1, "{rebuilt}");
    assert_eq!(linked_iid(&world, "10001").await, original, "the first listed is kept");
    assert_eq!(linked_iid(&world, "10002").await, refiled["iid"], "the marked one");
}

/// GitLab's API limit: the rebuild waits for its `Retry-After` and finishes.
#[tokio::test]
async fn a_rebuild_waits_for_gitlabs_rate_limit_and_finishes() {
    // The governor holds each call past GitLab's API budget (no wait in place, no reserve): the
    // rebuild's pacing waits for the window GitLab's headers name, and GitLab refuses nothing.
    let paced = "[gitlab.rate_limits]\nmax_wait_seconds = 0\napi_reserve = 0\n";
    let mut world = World::local_with(unlimited(), paced).await;
    seed_marked(&world, 5).await;
    world.lose_table(paced).await;
    world.gitlab.set_rate_limits(RateLimits {
        window: Duration::from_secs(2),
        api: Some(2),
        issue_creation: None,
        note_creation: None,
    });
    let report = world.json(&["links", "rebuild", "--page-size", "2"]).await.expect(0).json();
    assert!(report["waits"].as_u64().unwrap() >= 1, "a window was waited for: {report}");
    let refused = world.gitlab.requests().iter().filter(|r| r.status == Some(429)).count();
    assert_eq!(refused, 0, "the governor held the calls over GitLab's budget before GitLab refused them");
    assert_eq!(report["total"]["restored"], 6, "{report}");
}
