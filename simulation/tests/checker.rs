//! The checker fails where a promise is broken: a check that cannot fail proves nothing.

use qalita_gitlab_core::domain::GitlabProjectId;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, NewIssue};
use qalita_gitlab_core::ports::{CallContext, GitlabApi, IntegrationSwitch, Settings};
use qalita_gitlab_simulation::people::{Act, marker};
use qalita_gitlab_simulation::scenario::Scenario;

#[test]
fn a_second_gitlab_issue_for_one_qalita_issue_is_reported() {
    let mut s = Scenario::new();
    let issue = s.synced_issue();
    let copy = NewIssue {
        title: "copy".into(),
        description: format!("made by someone else\n\n{}", marker(issue)),
        labels: Vec::new(),
        assignee_ids: Vec::new(),
        ..NewIssue::default()
    };
    let project = GitlabProjectRef::Id(GitlabProjectId::new(42).unwrap());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(s.world.person.create_issue(&project, &copy, &CallContext::default()))
        .unwrap();
    let broken = s.settle_and_check();
    assert!(broken.iter().any(|b| b.contains(&format!("QALITA issue {issue} has 2 GitLab issues"))), "{broken:#?}");
}

#[test]
fn a_change_that_never_crosses_and_a_comment_never_copied_are_reported() {
    let mut s = Scenario::new();
    let issue = s.synced_issue();
    // The operator's switch off: the worker acknowledges everything and writes nothing.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(s.world.store.set_switch(IntegrationSwitch::Disabled))
        .unwrap();
    s.person(Act::QalitaStatus("muted"));
    s.person(Act::QalitaComment);
    let broken = s.settle_and_check();
    assert!(
        broken.iter().any(|b| b.contains(&format!("Status of QALITA issue {issue}: GitLab says open, QALITA muted"))),
        "{broken:#?}"
    );
    assert!(broken.iter().any(|b| b.contains("is in GitLab 0 times")), "{broken:#?}");
}
