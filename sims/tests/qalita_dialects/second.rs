//! The second dialect's behaviour over HTTP: the API key, page/size paging with `{data, total}`,
//! `PATCH` answered with an empty 204, `assignee_id`, 404 for what is missing, notes with `text`,
//! and the change events in its shape, over the same model as the first dialect.

use std::sync::Arc;

use qalita_gitlab_core::adapters::memory::MemoryQueue;
use qalita_gitlab_core::ports::SystemClock;
use qalita_gitlab_sims::qalita::{Dialect, Fault, QalitaSim};
use serde_json::{Value, json};

use crate::support::{Credential, TOKEN, call, fixture_issue, get, keys};

async fn second() -> QalitaSim {
    QalitaSim::start_with(TOKEN, Dialect::Second).await
}

fn ids(list: &Value) -> Vec<u64> {
    list["data"].as_array().unwrap().iter().map(|issue| issue["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn only_the_api_key_is_accepted_and_a_missing_or_wrong_one_gets_401() {
    let sim = second().await;
    let issue = sim.insert_issue(json!({"title": "t", "status": "open"}));
    let path = format!("/api/v2/issues/{issue}");

    let missing = call(&sim, "GET", &path, Credential::None, None).await;
    let bearer = call(&sim, "GET", &path, Credential::Bearer, None).await;
    let wrong = call(&sim, "GET", &path, Credential::Wrong, None).await;
    let right = call(&sim, "GET", &path, Credential::ApiKey, None).await;

    for refused in [&missing, &bearer] {
        assert_eq!((refused.status, &refused.json), (401, &json!({"detail": "Not authenticated"})), "{refused:?}");
        assert_eq!(refused.authenticate.as_deref(), Some("APIKey"));
    }
    assert_eq!((wrong.status, &wrong.json), (401, &json!({"detail": "Invalid API Key"})));
    assert_eq!((right.status, &right.json["title"]), (200, &json!("t")));
    assert!(!format!("{:?}", sim.requests()).contains(TOKEN), "the journal keeps no credential");
}

#[tokio::test]
async fn the_first_dialect_does_not_take_the_api_key() {
    let sim = QalitaSim::start(TOKEN).await;
    let issue = sim.insert_issue(json!({"title": "t"}));

    let answer = call(&sim, "GET", &format!("/api/v2/issues/{issue}"), Credential::ApiKey, None).await;

    assert_eq!(answer.status, 401);
    assert_eq!(answer.authenticate.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn issues_are_paged_by_page_and_size_newest_first_with_the_total() {
    let sim = second().await;
    let inserted: Vec<u64> = (0..25).map(|n| sim.insert_issue(json!({"title": format!("issue {n}")}))).collect();
    let newest_first: Vec<u64> = inserted.iter().rev().copied().collect();

    let pages = [
        get(&sim, "/api/v2/issues?page=1&size=10").await,
        get(&sim, "/api/v2/issues?page=2&size=10").await,
        get(&sim, "/api/v2/issues?page=3&size=10").await,
        get(&sim, "/api/v2/issues?page=4&size=10").await,
    ];
    let default = get(&sim, "/api/v2/issues").await;

    for page in &pages {
        assert_eq!((page.status, keys(&page.json)), (200, vec!["data".to_owned(), "total".to_owned()]));
        assert_eq!(page.json["total"], 25);
    }
    assert_eq!(pages.iter().map(|page| ids(&page.json).len()).collect::<Vec<_>>(), vec![10, 10, 5, 0]);
    assert_eq!(pages.iter().flat_map(|page| ids(&page.json)).collect::<Vec<_>>(), newest_first);
    assert_eq!((ids(&default.json), &default.json["total"]), (newest_first, &json!(25)), "50 by default");
}

#[tokio::test]
async fn a_page_or_size_out_of_bounds_gets_fastapis_422_naming_it() {
    let sim = second().await;
    sim.insert_issue(json!({"title": "t"}));

    let too_big = get(&sim, "/api/v2/issues?size=101").await;
    let zero = get(&sim, "/api/v2/issues?size=0").await;
    let page_zero = get(&sim, "/api/v2/users?page=0").await;
    let not_a_number = get(&sim, "/api/v2/issues?page=two").await;
    let largest = get(&sim, "/api/v2/issues?size=100").await;

    assert_eq!(too_big.status, 422);
    assert_eq!(
        too_big.json["detail"][0],
        json!({"type": "less_than_equal", "loc": ["query", "size"], "msg": "Input should be less than or equal to 100",
               "input": "101", "ctx": {"le": 100}})
    );
    assert_eq!((zero.status, &zero.json["detail"][0]["type"]), (422, &json!("greater_than_equal")));
    assert_eq!((page_zero.status, &page_zero.json["detail"][0]["loc"]), (422, &json!(["query", "page"])));
    assert_eq!((not_a_number.status, &not_a_number.json["detail"][0]["type"]), (422, &json!("int_parsing")));
    assert_eq!((largest.status, &largest.json["total"]), (200, &json!(1)));
}

#[tokio::test]
async fn a_patch_is_answered_with_an_empty_204_and_the_change_is_read_back() {
    let sim = second().await;
    let issue = sim.insert_issue(fixture_issue());
    let path = format!("/api/v2/issues/{issue}");
    let change = json!({"status": "resolved", "assignee_id": 40, "title": "Latitude fixed"});

    let patched = call(&sim, "PATCH", &path, Credential::Right, Some(&change)).await;
    let read = get(&sim, &path).await;

    assert_eq!((patched.status, patched.text.as_str()), (204, ""));
    assert_eq!(
        (&read.json["status"], &read.json["assignee_id"], &read.json["title"]),
        (&json!("resolved"), &json!(40), &json!("Latitude fixed"))
    );
    assert_eq!(read.json.get("assignee"), None, "the assignee is only `assignee_id`");
    assert_eq!(read.json["updated_by"], sim.api_user_id());
    assert_eq!(read.json["closed_at"], read.json["updated_at"]);
    assert_eq!(sim.issue(issue), Some(read.json));
}

#[tokio::test]
async fn a_patch_with_the_first_dialects_key_or_a_wrong_type_changes_nothing() {
    let sim = second().await;
    let issue = sim.insert_issue(json!({"title": "t", "status": "open", "assignee_id": 12}));
    let before = sim.issue(issue).unwrap();
    let path = format!("/api/v2/issues/{issue}");

    let ignored = call(&sim, "PATCH", &path, Credential::Right, Some(&json!({"assignee": 40}))).await;
    let wrong_type = call(&sim, "PATCH", &path, Credential::Right, Some(&json!({"assignee_id": "40"}))).await;
    let put = call(&sim, "PUT", &path, Credential::Right, Some(&json!({"assignee_id": 40}))).await;

    assert_eq!(ignored.status, 204, "pydantic ignores a field it does not know");
    assert_eq!((wrong_type.status, &wrong_type.json["detail"][0]["loc"]), (422, &json!(["body", "assignee_id"])));
    assert_eq!((put.status, &put.json), (405, &json!({"detail": "Method Not Allowed"})));
    assert_eq!(sim.issue(issue), Some(before), "nothing written, not even updated_at");
}

#[tokio::test]
async fn a_missing_issue_note_or_user_gets_404_not_found() {
    let sim = second().await;
    let issue = sim.insert_issue(json!({"title": "t"}));
    let other = sim.insert_issue(json!({"title": "u"}));
    let note = sim.add_comment(issue, sim.api_user_id(), "hi");
    sim.remove_issue(other);
    let not_found = json!({"detail": "Not Found"});

    let answers = [
        get(&sim, &format!("/api/v2/issues/{other}")).await,
        call(&sim, "PATCH", &format!("/api/v2/issues/{other}"), Credential::Right, Some(&json!({"title": "x"}))).await,
        get(&sim, &format!("/api/v2/issues/{other}/notes")).await,
        call(&sim, "POST", &format!("/api/v2/issues/{other}/notes"), Credential::Right, Some(&json!({"text": "x"})))
            .await,
        get(&sim, &format!("/api/v2/issues/{other}/notes/{note}")).await,
        get(&sim, "/api/v2/users/12").await,
    ];

    for answer in &answers {
        assert_eq!((answer.status, &answer.json), (404, &not_found), "{answer:?}");
    }
    assert_eq!(sim.comments(issue).len(), 1);
}

#[tokio::test]
async fn notes_live_under_notes_with_their_text_as_text() {
    let sim = second().await;
    let issue = sim.insert_issue(json!({"title": "t"}));
    let theirs = sim.add_comment(issue, 12, "from the UI");
    let notes = format!("/api/v2/issues/{issue}/notes");

    let created = call(&sim, "POST", &notes, Credential::Right, Some(&json!({"text": "from the sync"}))).await;
    let with_content = call(&sim, "POST", &notes, Credential::Right, Some(&json!({"content": "x"}))).await;
    let mine = created.json["id"].as_u64().unwrap();
    let edited =
        call(&sim, "PATCH", &format!("{notes}/{mine}"), Credential::Right, Some(&json!({"text": "edited"}))).await;
    let refused =
        call(&sim, "PATCH", &format!("{notes}/{theirs}"), Credential::Right, Some(&json!({"text": "no"}))).await;
    let list = get(&sim, &format!("{notes}?page=1&size=1")).await;
    let second_page = get(&sim, &format!("{notes}?page=2&size=1")).await;
    let comments = get(&sim, &format!("/api/v2/issues/{issue}/comments")).await;

    assert_eq!(created.status, 201);
    assert_eq!(
        (&created.json["text"], &created.json["author_id"], &created.json["issue_id"]),
        (&json!("from the sync"), &json!(sim.api_user_id()), &json!(issue))
    );
    assert_eq!(created.json.get("content"), None);
    assert_eq!((with_content.status, &with_content.json["detail"][0]["loc"]), (422, &json!(["body", "text"])));
    assert_eq!((edited.status, &edited.json["text"]), (200, &json!("edited")));
    assert_eq!(refused.status, 403);
    assert_eq!((ids(&list.json), &list.json["total"]), (vec![theirs], &json!(2)), "oldest first");
    assert_eq!(ids(&second_page.json), vec![mine]);
    assert_eq!(comments.status, 404, "the first dialect's path is not served");
    let texts: Vec<_> = sim.comments(issue).iter().map(|note| note["text"].clone()).collect();
    assert_eq!(texts, vec![json!("from the UI"), json!("edited")]);
}

#[tokio::test]
async fn users_are_listed_with_page_and_size_and_read_one_by_one() {
    let sim = second().await;
    for id in [3, 1, 2] {
        sim.insert_user(json!({"id": id, "login": format!("user{id}")}));
    }

    let page = get(&sim, "/api/v2/users?page=2&size=2").await;
    let one = get(&sim, "/api/v2/users/2").await;

    assert_eq!(page.json, json!({"data": [{"id": 3, "login": "user3"}], "total": 3}));
    assert_eq!(one.json, json!({"id": 2, "login": "user2"}));
}

#[tokio::test]
async fn the_change_events_carry_the_objects_in_the_second_dialects_shape() {
    let sim = second().await;
    sim.emit_events_to(Arc::new(MemoryQueue::new(Arc::new(SystemClock))));
    let issue = sim.insert_issue(json!({"title": "t", "status": "open"}));

    call(&sim, "PATCH", &format!("/api/v2/issues/{issue}"), Credential::Right, Some(&json!({"assignee_id": 12}))).await;
    call(&sim, "POST", &format!("/api/v2/issues/{issue}/notes"), Credential::Right, Some(&json!({"text": "hi"}))).await;
    sim.set_assignee(issue, Some(13));
    sim.settle_events().await;

    let events = sim.events();
    let kinds: Vec<_> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, ["issue.created", "issue.updated", "comment.created", "issue.updated"]);
    assert_eq!(sim.events_sent(), 4);
    let payloads: Vec<_> = events.iter().map(|event| event.envelope()["payload"].clone()).collect();
    assert_eq!(payloads[1]["issue"]["assignee_id"], 12);
    assert_eq!(payloads[1]["issue"].get("assignee"), None);
    assert_eq!(payloads[2]["comment"]["text"], "hi");
    assert_eq!(payloads[3]["issue"]["assignee_id"], 13);
    assert_eq!(sim.issue(issue).unwrap()["assignee_id"], 13);
}

#[tokio::test]
async fn faults_meet_the_second_dialect_as_they_meet_the_first() {
    let sim = second().await;
    let issue = sim.insert_issue(json!({"title": "t"}));
    sim.fail_next_on("/api/v2/issues", 1, Fault::Unauthorized);
    sim.fail_next_on("/api/v2/users", 1, Fault::RateLimited { retry_after_secs: 7 });

    let revoked = get(&sim, &format!("/api/v2/issues/{issue}")).await;
    let limited = get(&sim, "/api/v2/users").await;
    let again = get(&sim, &format!("/api/v2/issues/{issue}")).await;

    assert_eq!((revoked.status, &revoked.json), (401, &json!({"detail": "Invalid API Key"})));
    assert_eq!(revoked.authenticate.as_deref(), Some("APIKey"));
    assert_eq!(limited.status, 429);
    assert_eq!(again.status, 200);
}
