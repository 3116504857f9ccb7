//! Sources (the datasets an issue's `source_id` names) in both dialects: one read by id with the
//! same fields, the dialect's "not found" for a missing one, the dialect's 401 without a
//! credential, every lookup in the request record, and a change or removal seen by the next read.

use qalita_gitlab_sims::qalita::{Dialect, QalitaSim};
use serde_json::json;

use crate::support::{Credential, TOKEN, call, get, sample_source};

/// The status and body of a missing object in `dialect`.
fn not_found(dialect: Dialect) -> (u16, serde_json::Value) {
    match dialect {
        Dialect::First => (204, serde_json::Value::Null),
        Dialect::Second => (404, json!({"detail": "Not Found"})),
    }
}

#[tokio::test]
async fn a_source_is_read_by_id_in_each_dialect_and_every_lookup_is_recorded() {
    for dialect in [Dialect::First, Dialect::Second] {
        let sim = QalitaSim::start_with(TOKEN, dialect).await;
        let id = sim.insert_source(sample_source());

        let found = get(&sim, &format!("/api/v2/sources/{id}")).await;
        let missing = get(&sim, "/api/v2/sources/58").await;
        let anonymous = call(&sim, "GET", &format!("/api/v2/sources/{id}"), Credential::None, None).await;

        assert_eq!((found.status, &found.json), (200, &sample_source()), "{dialect:?}");
        assert_eq!((missing.status, missing.json), not_found(dialect), "{dialect:?}: {}", missing.text);
        assert_eq!(anonymous.status, 401, "{dialect:?}: {}", anonymous.text);
        let lookups = sim.count_matching(|r| r.method == "GET" && r.path.starts_with("/api/v2/sources/"));
        assert_eq!(lookups, 3, "{dialect:?}: {:?}", sim.requests());
        let statuses: Vec<_> = sim.requests().into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Some(200), Some(not_found(dialect).0), Some(401)], "{dialect:?}");
    }
}

#[tokio::test]
async fn a_changed_source_is_read_with_a_later_updated_at_and_a_removed_one_is_not_found() {
    for dialect in [Dialect::First, Dialect::Second] {
        let sim = QalitaSim::start_with(TOKEN, dialect).await;
        let id = sim.insert_source(json!({"name": "orders", "type": "file", "tags": []}));
        let before = sim.source(id).unwrap();

        let changed = sim.update_source(id, |source| source["tags"] = json!(["pii"]));
        let read = get(&sim, &format!("/api/v2/sources/{id}")).await;
        let removed = sim.remove_source(id);
        let gone = get(&sim, &format!("/api/v2/sources/{id}")).await;

        assert_eq!((read.status, &read.json), (200, &changed), "{dialect:?}");
        assert_eq!(read.json["tags"], json!(["pii"]));
        assert_eq!(read.json["created_at"], before["created_at"]);
        assert!(read.json["updated_at"].as_str() > before["updated_at"].as_str(), "{read:?} after {before}");
        assert_eq!(removed, Some(changed));
        assert_eq!((gone.status, gone.json), not_found(dialect), "{dialect:?}");
        assert_eq!(sim.remove_source(id), None);
    }
}

#[tokio::test]
async fn sources_are_listed_by_id_and_paged_as_each_dialect_pages() {
    let first = QalitaSim::start(TOKEN).await;
    let second = QalitaSim::start_with(TOKEN, Dialect::Second).await;
    for sim in [&first, &second] {
        for id in [3, 1, 2] {
            sim.insert_source(json!({"id": id, "name": format!("source {id}"), "type": "file", "tags": []}));
        }
    }

    let offset = get(&first, "/api/v2/sources?offset=1&limit=1").await;
    let page = get(&second, "/api/v2/sources?page=2&size=2").await;

    assert_eq!(
        offset.json.as_array().map(|items| items.iter().map(|s| s["id"].clone()).collect()),
        Some(vec![json!(2)])
    );
    assert_eq!((page.json["data"][0]["id"].clone(), page.json["total"].clone()), (json!(3), json!(3)));
    assert_eq!(page.json["data"].as_array().map(Vec::len), Some(1));
}
