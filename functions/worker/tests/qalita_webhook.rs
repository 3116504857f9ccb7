//! QALITA's own webhook, end to end on the Lambda path: the QALITA simulator POSTs each change to
//! the webhook function's QALITA route (authenticated by the stack's QALITA webhook secret), the
//! function queues the id-only event on moto's FIFO queue, and the worker reads the issue and
//! writes GitLab.

mod world;

use qalita_gitlab_core::domain::gitlab::IssueState;
use qalita_gitlab_sims::qalita::{EmitOutcome, WebhookProof, WebhookTarget};
use world::*;

#[tokio::test]
async fn qalita_changes_reach_gitlab_through_qalitas_own_webhook() {
    let world = World::qalita_webhook(WebhookProof::Bearer).await;

    // A person edits the issue in QALITA: its webhook announces it, the worker creates the GitLab
    // issue from the issue as QALITA holds it.
    world.qalita.update_issue(ISSUE, |issue| issue["title"] = "Invalid latitude in the March load".into());
    world.quiesce().await;
    let created = world.gitlab_issue();
    assert!(created.title.ends_with("Invalid latitude in the March load"), "{}", created.title);

    // Each proof QALITA may use is accepted; the issue's later changes follow.
    let proofs = [
        WebhookProof::Hmac("X-Qalita-Signature".into()),
        WebhookProof::StandardWebhooks,
        WebhookProof::Header("X-Qalita-Token".into()),
    ];
    let url = world.front.as_ref().expect("the front").qalita_url.clone();
    for (n, proof) in proofs.into_iter().enumerate() {
        world.qalita.emit_webhooks_to(WebhookTarget {
            url: url.clone(),
            secret: qalita_gitlab_tests::stack::QALITA_WEBHOOK_SECRET_VALUE.into(),
            proof: proof.clone(),
        });
        let title = format!("Invalid latitude, take {n}");
        world.qalita.update_issue(ISSUE, |issue| issue["title"] = title.clone().into());
        world.quiesce().await;
        assert!(world.gitlab_issue().title.ends_with(&title), "{proof:?}: {}", world.gitlab_issue().title);
    }

    // A resolution closes the GitLab issue; a comment (announced by its own event) becomes a note.
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Closed);
    world.qalita.add_comment(ISSUE, 12, "Fixed upstream in the loader.");
    world.quiesce().await;
    let issue = world.gitlab_issue();
    let notes = world.gitlab.notes(issue.project_id.get(), issue.iid.get());
    assert_eq!(notes.iter().filter(|n| n.body.contains("Fixed upstream in the loader.")).count(), 1, "{notes:?}");

    let events = world.qalita.events();
    assert!(events.len() >= 6, "one per change: {events:?}");
    assert!(events.iter().all(|e| e.outcome == EmitOutcome::Sent), "every delivery answered 2xx: {events:?}");
    assert_eq!(world.gitlab.issues(42).len() + world.gitlab.issues(43).len(), 1, "one GitLab issue");
    // Nothing the sync wrote to QALITA came back as a loop: the worker is quiet.
    assert_eq!(world.quiesce().await, 0);
}

#[tokio::test]
async fn a_delivery_with_the_wrong_secret_is_refused_and_queues_nothing() {
    let world = World::qalita_webhook(WebhookProof::Bearer).await;
    let url = world.front.as_ref().expect("the front").qalita_url.clone();
    world.qalita.emit_webhooks_to(WebhookTarget {
        url,
        secret: "not-the-qalita-webhook-secret".into(),
        proof: WebhookProof::Hmac("X-Qalita-Signature".into()),
    });
    world.qalita.update_issue(ISSUE, |issue| issue["title"] = "Forged".into());
    world.qalita.settle_events().await;
    let failed = world.qalita.failed_events();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        matches!(&failed[0].outcome, EmitOutcome::Failed(reason) if reason.contains("401")),
        "{:?}",
        failed[0].outcome
    );
    assert_eq!(world.run_worker().await.0, 0, "nothing queued");
    assert!(world.gitlab.issues(42).is_empty());
}
