//! The rate governor against the GitLab simulator's rate limits (gitlab.com's kind: fixed windows on
//! the epoch, hidden creation budgets, the API budget in `RateLimit-*` headers), with short windows
//! so that a test takes seconds: concurrent writers stay within the budgets and GitLab refuses
//! nothing; without the governor, the same load is refused.

use std::sync::Arc;
use std::time::Duration;

use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::governor::Governed;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::config::RateLimits as Budgets;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, NewIssue};
use qalita_gitlab_core::domain::{Iid, SecretString};
use qalita_gitlab_core::ports::{ApiError, CallContext, GitlabApi, SystemClock, TransientKind};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, GitlabSim, RateLimits, SimConfig};

const WINDOW: Duration = Duration::from_secs(2);

async fn sim(limits: RateLimits) -> GitlabSim {
    let sim = GitlabSim::start(SimConfig::default().with_rate_limits(limits)).await;
    sim.add_project(1, "data/quality");
    sim
}

fn client(sim: &GitlabSim) -> Arc<GitlabClient> {
    Arc::new(GitlabClient::new(&sim.url(), SecretString::new(DEFAULT_TOKEN), &HttpSettings::default()).unwrap())
}

fn governed(client: Arc<GitlabClient>, budgets: Budgets) -> Arc<dyn GitlabApi> {
    let seen = client.rate_seen();
    Arc::new(
        Governed::new(client, seen, Arc::new(MemoryLinkStore::new()), Arc::new(SystemClock), budgets)
            .with_window(WINDOW),
    )
}

fn project() -> GitlabProjectRef {
    GitlabProjectRef::parse("1").unwrap()
}

fn issue(n: usize) -> NewIssue {
    NewIssue { title: format!("check {n}"), description: format!("<!-- qalita-issue:{n} -->"), ..NewIssue::default() }
}

/// Three writers creating `each` issues and a note on each, at once.
async fn load(gitlab: Arc<dyn GitlabApi>, each: usize) -> Vec<Result<(), ApiError>> {
    let writers = (0..3).map(|writer| {
        let gitlab = gitlab.clone();
        tokio::spawn(async move {
            let mut results = Vec::new();
            for n in 0..each {
                let made = gitlab.create_issue(&project(), &issue(writer * 100 + n), &CallContext::default()).await;
                let noted = match made {
                    Ok(created) => gitlab
                        .create_note(&project(), created.iid, "seen again", false, &CallContext::default())
                        .await
                        .map(drop),
                    Err(error) => Err(error),
                };
                results.push(noted);
            }
            results
        })
    });
    let mut all = Vec::new();
    for writer in writers {
        all.extend(writer.await.unwrap());
    }
    all
}

fn refused(sim: &GitlabSim) -> usize {
    sim.requests().iter().filter(|r| r.status == Some(429)).count()
}

fn creation_limits() -> RateLimits {
    RateLimits { window: WINDOW, api: None, issue_creation: Some(4), note_creation: Some(3) }
}

#[tokio::test]
async fn concurrent_writers_stay_within_the_creation_budgets_and_gitlab_refuses_nothing() {
    let sim = sim(creation_limits()).await;
    let budgets = Budgets {
        issue_creations_per_minute: Some(4),
        note_creations_per_minute: Some(3),
        max_wait: Duration::from_secs(5),
        ..Budgets::default()
    };
    let results = load(governed(client(&sim), budgets), 3).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sim.issues(1).len(), 9);
    assert_eq!(
        refused(&sim),
        0,
        "no 429: {:?}",
        sim.requests().iter().filter(|r| r.status == Some(429)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn without_the_governor_the_same_load_is_refused() {
    let sim = sim(creation_limits()).await;
    let results = load(client(&sim), 3).await;
    assert!(refused(&sim) > 0, "the budgets are real: {results:?}");
    assert!(
        results.iter().any(|r| matches!(r, Err(ApiError::Transient { kind: TransientKind::Http(429), .. }))),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_wait_longer_than_allowed_is_a_paced_error_that_sent_nothing_and_says_when_to_retry() {
    let sim = sim(RateLimits { window: Duration::from_secs(60), ..creation_limits() }).await;
    let seen = client(&sim);
    let budgets = Budgets { issue_creations_per_minute: Some(1), max_wait: Duration::ZERO, ..Budgets::default() };
    let governor = Arc::new(Governed::new(
        seen.clone(),
        seen.rate_seen(),
        Arc::new(MemoryLinkStore::new()),
        Arc::new(SystemClock),
        budgets,
    ));
    governor.create_issue(&project(), &issue(1), &CallContext::default()).await.unwrap();
    let held = governor.create_issue(&project(), &issue(2), &CallContext::default()).await;
    match held {
        Err(ApiError::Transient { kind: TransientKind::Paced, retry_after: Some(wait), message, .. }) => {
            assert!(wait > Duration::ZERO && wait <= Duration::from_secs(61), "{wait:?}");
            assert!(message.contains("1 issue creations a minute"), "{message}");
        }
        other => panic!("a paced error: {other:?}"),
    }
    assert!(TransientKind::Paced.surely_not_done(), "a reservation may be released: nothing was sent");
    assert_eq!(sim.count("POST", "/projects/1/issues"), 1, "the held creation never reached GitLab");
}

#[tokio::test]
async fn the_api_reserve_pauses_reads_until_gitlabs_window_turns() {
    let limits = RateLimits { window: WINDOW, api: Some(6), issue_creation: None, note_creation: None };
    let sim = sim(limits).await;
    let iid = Iid::new(1).unwrap();
    client(&sim).create_issue(&project(), &issue(1), &CallContext::default()).await.unwrap();
    let budgets = Budgets { api_reserve: 1, max_wait: Duration::from_secs(5), ..Budgets::default() };
    let gitlab = governed(client(&sim), budgets);
    for _ in 0..14 {
        gitlab.get_issue(&project(), iid).await.expect("never refused");
    }
    assert_eq!(refused(&sim), 0);

    // The control: the same reads without the governor meet GitLab's "Retry later".
    let bare = client(&sim);
    let mut refusals = 0;
    for _ in 0..14 {
        if bare.get_issue(&project(), iid).await.is_err() {
            refusals += 1;
        }
    }
    assert!(refusals > 0 && refused(&sim) > 0);
}
