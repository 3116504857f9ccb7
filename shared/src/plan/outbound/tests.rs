//! The planner: one test per rule, and property tests over orders and replays of changes.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::domain::link::GitlabLink;
use crate::domain::qalita::IssueContext;
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::mapping::Facts;

fn config(extra: &str) -> Config {
    let text = format!("[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n{extra}");
    Config::from_document(&text, |_| None).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
}

fn issue(status: &str, minute: u32) -> QalitaIssue {
    let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../../fixtures/qalita/issue.json")).unwrap();
    issue.status = status.into();
    issue.updated_at = Some(at(minute));
    issue
}

fn context(severity: &str) -> IssueContext {
    IssueContext { severity: Some(severity.into()), source_name: Some("billing.sites".into()), domain: None }
}

fn desired(config: &Config, issue: &QalitaIssue, severity: &str) -> Desired {
    Desired::of(config, &Facts::of(issue, &context(severity), None))
}

fn user(id: u64, username: &str) -> AssigneeInput {
    AssigneeInput::Found {
        user: GitlabUser { id, username: username.into(), name: String::new() },
        how: "explicit map".into(),
    }
}

fn reserved() -> LinkState {
    LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "token".into(), at(0))
}

/// The link after the creation planned from `issue` succeeded.
fn linked(config: &Config, issue: &QalitaIssue, severity: &str, assignee: &AssigneeInput) -> LinkState {
    let plan = plan(config, issue, &desired(config, issue, severity), assignee, &reserved(), at(1));
    let mut next = plan.next;
    next.gitlab = Some(GitlabLink {
        project_id: GitlabProjectId::new(42).unwrap(),
        iid: Iid::new(7).unwrap(),
        issue_id: 700,
        web_url: "https://gitlab.example.com/g/p/-/issues/7".into(),
    });
    next.version = 2;
    next
}

fn update_of(plan: &Plan) -> &IssueUpdate {
    match plan.ops.as_slice() {
        [Op::UpdateIssue { update, .. }] => update,
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn the_first_event_creates_the_issue_with_every_field() {
    let config = config("");
    let issue = issue("open", 5);
    let plan = plan(&config, &issue, &desired(&config, &issue, "high"), &user(8, "jroe"), &reserved(), at(6));
    let [Op::CreateIssue { project, issue: new }] = plan.ops.as_slice() else { panic!("{:?}", plan.ops) };
    assert_eq!(project.to_string(), "42");
    assert_eq!(new.title, "[QALITA] billing.sites: Invalid Latitude");
    assert!(new.description.ends_with("<!-- qalita-issue:4821 -->"));
    assert_eq!(new.labels, ["qalita", "severity:high"]);
    assert_eq!(new.assignee_ids, [8]);
    assert!(!new.confidential, "not confidential, and not closed after: the only write is the creation");
    assert_eq!(plan.next.status, LinkStatus::Linked);
    assert_eq!(plan.next.reservation, None);
    assert_eq!(plan.next.to_gitlab.len(), 7, "six GitLab fields and the status they make");
    assert_eq!(plan.next.to_gitlab[&Field::Status].value, "open");
    assert_eq!(plan.next.to_qalita[&Field::Status].value, "open");
    assert_eq!(plan.next.to_qalita[&Field::Assignee].watermark, Some(at(5)));
    assert_eq!(plan.next.qalita_watermark, Some(at(5)));
    assert!(plan.decisions.iter().any(|d| d.kind.as_str() == "route" && d.message.contains("no routing rules")));
}

#[test]
fn the_poll_queues_an_unlinked_issue_only_when_the_policy_creates_it() {
    let config = config("");
    // The fixture was raised at 2026-11-20T08:15:02Z.
    let before = chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let after = chrono::Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
    assert_eq!(poll_verdict(&config, None, &issue("open", 5), before), PollVerdict::Sync);
    assert!(
        matches!(poll_verdict(&config, None, &issue("open", 5), after), PollVerdict::NotCreated(r) if r.rule() == "create.created_after")
    );
    assert!(
        matches!(poll_verdict(&config, None, &issue("resolved", 5), before), PollVerdict::NotCreated(r) if r.rule() == "create.statuses")
    );
    let manual = self::config("[create]\nmode = \"manual\"");
    assert!(matches!(poll_verdict(&manual, None, &issue("open", 5), before), PollVerdict::NotCreated(_)));
    // Linked: the policy does not matter, only whether QALITA changed since the last sync.
    let link = linked(&manual, &issue("open", 5), "high", &AssigneeInput::Unassigned);
    assert_eq!(poll_verdict(&manual, Some(&link), &issue("resolved", 9), after), PollVerdict::Sync);
    assert_eq!(poll_verdict(&manual, Some(&link), &issue("open", 5), after), PollVerdict::Nothing);
    let severed = LinkState { status: LinkStatus::Severed, ..link };
    assert_eq!(poll_verdict(&manual, Some(&severed), &issue("resolved", 9), after), PollVerdict::Nothing);
}

#[test]
fn an_issue_already_resolved_is_created_then_closed() {
    let config = config("");
    let issue = issue("Resolved", 5);
    let plan = plan(&config, &issue, &desired(&config, &issue, "high"), &AssigneeInput::Unassigned, &reserved(), at(6));
    assert!(matches!(plan.ops.as_slice(), [Op::CreateIssue { .. }, Op::CloseCreated]), "{:?}", plan.ops);
    assert_eq!(plan.next.to_gitlab[&Field::State].value, "closed");
}

#[test]
fn a_replay_or_a_duplicate_plans_nothing() {
    let config = config("");
    let issue = issue("open", 5);
    let link = linked(&config, &issue, "high", &user(8, "jroe"));
    let plan = plan(&config, &issue, &desired(&config, &issue, "high"), &user(8, "jroe"), &link, at(9));
    assert_eq!(plan.ops, []);
    assert_eq!(plan.next.to_gitlab, link.to_gitlab);
}

#[test]
fn each_change_writes_only_the_fields_it_touches() {
    let config = config("");
    let base = issue("open", 5);
    let link = linked(&config, &base, "high", &user(8, "jroe"));

    let mut retitled = issue("open", 6);
    retitled.title = "Invalid Longitude".into();
    let plan_title = plan(&config, &retitled, &desired(&config, &retitled, "high"), &user(8, "jroe"), &link, at(7));
    let update = update_of(&plan_title);
    assert_eq!(update.title.as_deref(), Some("[QALITA] billing.sites: Invalid Longitude"));
    // The default description names the rule too: both change, nothing else.
    assert!(update.description.as_deref().unwrap().contains("**Rule:** Invalid Longitude"));
    assert_eq!(IssueUpdate { title: None, description: None, ..update.clone() }, IssueUpdate::default());

    let mut described = issue("open", 6);
    described.description = Some("now 13%".into());
    let plan_description =
        plan(&config, &described, &desired(&config, &described, "high"), &user(8, "jroe"), &link, at(7));
    let update = update_of(&plan_description);
    assert!(update.description.as_deref().unwrap().contains("now 13%") && update.title.is_none());

    let reassigned = issue("open", 6);
    let plan_assignee =
        plan(&config, &reassigned, &desired(&config, &reassigned, "high"), &user(9, "asmith"), &link, at(7));
    assert_eq!(update_of(&plan_assignee), &IssueUpdate { assignee_ids: Some(vec![9]), ..Default::default() });

    let plan_severity =
        plan(&config, &reassigned, &desired(&config, &reassigned, "warning"), &user(8, "jroe"), &link, at(7));
    // The default description shows the severity too.
    assert!(update_of(&plan_severity).description.as_deref().unwrap().contains("**Severity:** warning"));
    assert_eq!(
        &IssueUpdate { description: None, ..update_of(&plan_severity).clone() },
        &IssueUpdate {
            add_labels: vec!["severity:warning".into()],
            remove_labels: vec!["severity:high".into()],
            ..Default::default()
        }
    );
}

#[test]
fn status_changes_close_reopen_and_mute() {
    let config = config("");
    let open = issue("open", 5);
    let link = linked(&config, &open, "high", &AssigneeInput::Unassigned);

    let resolved = issue("resolved", 6);
    let closing =
        plan(&config, &resolved, &desired(&config, &resolved, "high"), &AssigneeInput::Unassigned, &link, at(6));
    // The muted label goes with the status, whoever added it.
    assert_eq!(
        update_of(&closing),
        &IssueUpdate {
            state_event: Some(StateEvent::Close),
            remove_labels: vec!["ignored".into()],
            ..Default::default()
        }
    );

    let reopened = issue("Active", 7);
    let reopening = plan(
        &config,
        &reopened,
        &desired(&config, &reopened, "high"),
        &AssigneeInput::Unassigned,
        &closing.next,
        at(7),
    );
    assert_eq!(
        update_of(&reopening),
        &IssueUpdate {
            state_event: Some(StateEvent::Reopen),
            remove_labels: vec!["ignored".into()],
            ..Default::default()
        }
    );

    let muted = issue("Muted", 8);
    let muting =
        plan(&config, &muted, &desired(&config, &muted, "high"), &AssigneeInput::Unassigned, &closing.next, at(8));
    assert_eq!(
        update_of(&muting),
        &IssueUpdate {
            add_labels: vec!["ignored".into()],
            state_event: Some(StateEvent::Reopen),
            ..Default::default()
        }
    );
    let unmuted = issue("open", 9);
    let unmuting =
        plan(&config, &unmuted, &desired(&config, &unmuted, "high"), &AssigneeInput::Unassigned, &muting.next, at(9));
    // The whole status is written: GitLab may have been closed meanwhile by an event still on its way.
    assert_eq!(
        update_of(&unmuting),
        &IssueUpdate {
            remove_labels: vec!["ignored".into()],
            state_event: Some(StateEvent::Reopen),
            ..Default::default()
        }
    );
}

/// Seed 782 of the simulation: a person closed a muted issue and left the label, then reopened it
/// (muted again in GitLab). A sync of QALITA's other fields removed the label with the labels diff,
/// writing "open" over the person's newer "muted". The muted label is the status's: only a status
/// write touches it.
#[test]
fn a_sync_of_other_fields_leaves_the_muted_label_to_the_status() {
    let config = config("");
    let resolved = issue("resolved", 5);
    let mut link = linked(&config, &resolved, "high", &AssigneeInput::Unassigned);
    // The inbound sync recorded GitLab's label, as the person left it on the closed issue.
    link.managed_labels.insert("ignored".into());
    let mut retitled = issue("resolved", 6);
    retitled.title = "Invalid Longitude".into();
    let plan = plan_for(&config, &retitled, &AssigneeInput::Unassigned, &link);
    let update = update_of(&plan);
    assert!(update.title.is_some());
    assert!(update.remove_labels.is_empty() && update.add_labels.is_empty(), "{update:?}");
    assert!(update.state_event.is_none());
    assert!(plan.next.managed_labels.contains("ignored"), "GitLab still has it");
    // QALITA's own status change writes the whole status, the label with it.
    let reopened = issue("open", 7);
    let reopening = plan_for(&config, &reopened, &AssigneeInput::Unassigned, &plan.next);
    assert_eq!(update_of(&reopening).remove_labels, vec!["ignored".to_owned()]);
    assert!(!reopening.next.managed_labels.contains("ignored"));
}

/// Seed 403: an adopted issue (a crashed creation's) has its state recorded and no status. QALITA
/// muted meanwhile: the status is known from the state and the label the adopted issue shows, so
/// the muted label is written (before, only the labels diff wrote it, which now leaves it).
#[test]
fn an_adopted_issue_gets_the_muted_label_of_its_status() {
    let config = config("");
    let open = issue("open", 5);
    let mut adopted = linked(&config, &open, "high", &AssigneeInput::Unassigned);
    adopted.to_gitlab.remove(&Field::Status);
    let muted = issue("muted", 6);
    let plan = plan_for(&config, &muted, &AssigneeInput::Unassigned, &adopted);
    let update = update_of(&plan);
    assert_eq!(update.add_labels, vec!["ignored".to_owned()], "{update:?}");
    assert_eq!(update.state_event, Some(StateEvent::Reopen));
    assert_eq!(plan.next.to_gitlab[&Field::Status].value, "muted");
}

#[test]
fn an_unknown_status_word_or_person_changes_nothing_and_says_why() {
    let config = config("");
    let open = issue("open", 5);
    let link = linked(&config, &open, "high", &user(8, "jroe"));
    let odd = issue("in review", 6);
    let unknown = AssigneeInput::NotFound { reason: "no GitLab user m.durand".into() };
    let plan = plan(&config, &odd, &desired(&config, &odd, "high"), &unknown, &link, at(6));
    assert_eq!(plan.ops, []);
    let kinds: Vec<&str> = plan.decisions.iter().map(|d| d.kind.as_str()).collect();
    assert!(kinds.contains(&"status-unknown") && kinds.contains(&"assignee-unknown"), "{kinds:?}");
    let unassigned = plan_for(&config, &issue("open", 7), &AssigneeInput::Unassigned, &link);
    assert_eq!(unassigned.ops, [], "an unassigned QALITA issue never clears the GitLab assignee");
}

fn plan_for(config: &Config, issue: &QalitaIssue, assignee: &AssigneeInput, link: &LinkState) -> Plan {
    plan(config, issue, &desired(config, issue, "high"), assignee, link, at(30))
}

#[test]
fn an_older_state_than_the_last_synced_changes_nothing() {
    let config = config("");
    let newer = issue("resolved", 10);
    let link = linked(&config, &newer, "high", &AssigneeInput::Unassigned);
    let older = issue("open", 4);
    let plan = plan_for(&config, &older, &AssigneeInput::Unassigned, &link);
    assert_eq!(plan.ops, []);
    assert_eq!(plan.decisions[0].kind.as_str(), "stale");
}

#[test]
fn fields_owned_by_gitlab_are_not_written() {
    let config = config("[ownership]\ntitle = \"gitlab\"\ndescription = \"gitlab\"\nstatus = \"gitlab\"");
    let open = issue("open", 5);
    let link = linked(&config, &open, "high", &AssigneeInput::Unassigned);
    let mut changed = issue("resolved", 6);
    changed.title = "Renamed".into();
    assert_eq!(plan_for(&config, &changed, &AssigneeInput::Unassigned, &link).ops, []);
}

#[test]
fn a_severed_link_plans_nothing() {
    let config = config("");
    let mut link = linked(&config, &issue("open", 5), "high", &AssigneeInput::Unassigned);
    link.status = LinkStatus::Severed;
    let plan = plan_for(&config, &issue("resolved", 6), &AssigneeInput::Unassigned, &link);
    assert_eq!((plan.ops.as_slice(), plan.decisions[0].kind.as_str()), ([].as_slice(), "skipped"));
}

#[test]
fn a_confidential_route_makes_the_issue_confidential_and_never_the_reverse() {
    let config = config("[[routing]]\nseverity = \"high\"\nproject = 42\nconfidential = true");
    let open = issue("open", 5);
    let plan_create =
        plan(&config, &open, &desired(&config, &open, "high"), &AssigneeInput::Unassigned, &reserved(), at(5));
    assert!(matches!(plan_create.ops.as_slice(), [Op::CreateIssue { issue, .. }] if issue.confidential));
    let link = linked(&config, &open, "info", &AssigneeInput::Unassigned);
    let raised = issue("open", 6);
    let update = plan(&config, &raised, &desired(&config, &raised, "high"), &AssigneeInput::Unassigned, &link, at(6));
    assert_eq!(update_of(&update).confidential, Some(true));
    let lowered =
        plan(&config, &raised, &desired(&config, &raised, "info"), &AssigneeInput::Unassigned, &update.next, at(7));
    assert_eq!(update_of(&lowered).confidential, None);
}

/// A GitLab issue as the ops leave it, for the property tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Model {
    title: String,
    description: String,
    labels: BTreeSet<String>,
    closed: bool,
    assignee: Option<u64>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        let update = match op {
            Op::CreateIssue { issue, .. } => {
                *self = Model {
                    title: issue.title.clone(),
                    description: issue.description.clone(),
                    labels: issue.labels.iter().cloned().collect(),
                    closed: false,
                    assignee: issue.assignee_ids.first().copied(),
                };
                return;
            }
            Op::CloseCreated => {
                self.closed = true;
                return;
            }
            Op::UpdateIssue { update, .. } => update,
            other => panic!("the outbound planner wrote {other:?}"),
        };
        if let Some(title) = &update.title {
            self.title = title.clone();
        }
        if let Some(description) = &update.description {
            self.description = description.clone();
        }
        self.labels.extend(update.add_labels.iter().cloned());
        for label in &update.remove_labels {
            self.labels.remove(label);
        }
        match update.state_event {
            Some(StateEvent::Close) => self.closed = true,
            Some(StateEvent::Reopen) => self.closed = false,
            None => {}
        }
        if let Some(ids) = &update.assignee_ids {
            self.assignee = ids.first().copied();
        }
    }

    fn expected(desired: &Desired, assignee: u64) -> Model {
        Model {
            title: desired.title.clone(),
            description: desired.description.clone(),
            labels: desired.labels.clone(),
            closed: desired.state == Some(IssueState::Closed),
            assignee: Some(assignee),
        }
    }
}

fn version() -> impl Strategy<Value = (&'static str, &'static str, &'static str, u64)> {
    (
        prop::sample::select(vec!["open", "active", "resolved", "muted", "ignored"]),
        prop::sample::select(vec!["Invalid Latitude", "Invalid Longitude", "Null ratio"]),
        prop::sample::select(vec!["info", "warning", "high"]),
        1u64..4,
    )
}

proptest! {
    /// Any order of the same set of QALITA changes (each with its own `updated_at`) ends in the
    /// GitLab state of the newest; replaying any of them afterwards plans nothing.
    #[test]
    fn any_order_of_the_same_changes_ends_in_the_newest_state(
        versions in prop::collection::vec(version(), 1..8),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let config = config("");
        let changes: Vec<(QalitaIssue, Desired, u64)> = versions
            .iter()
            .enumerate()
            .map(|(minute, (status, title, severity, assignee))| {
                let mut issue = issue(status, minute as u32 + 1);
                issue.title = title.to_string();
                let desired = desired(&config, &issue, severity);
                (issue, desired, *assignee)
            })
            .collect();
        let mut shuffled: Vec<usize> = (0..changes.len()).collect();
        let mut seed = order;
        for i in (1..shuffled.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }

        let mut link = reserved();
        let mut gitlab = Model::default();
        for &i in &shuffled {
            let (issue, desired, assignee) = &changes[i];
            let plan = plan(&config, issue, desired, &user(*assignee, "u"), &link, at(59));
            for op in &plan.ops {
                gitlab.apply(op);
            }
            link = plan.next;
            if link.gitlab.is_none() && link.status == LinkStatus::Linked {
                link.gitlab = Some(GitlabLink { project_id: GitlabProjectId::new(42).unwrap(), iid: Iid::new(1).unwrap(), issue_id: 1, web_url: String::new() });
            }
        }
        let (_, newest, assignee) = changes.last().unwrap();
        let newest_first_seen = shuffled[0] == changes.len() - 1;
        prop_assert_eq!(&gitlab, &Model::expected(newest, *assignee), "order {:?} (newest first: {})", shuffled, newest_first_seen);
        for (issue, desired, assignee) in &changes {
            let replay = plan(&config, issue, desired, &user(*assignee, "u"), &link, at(59));
            let replayed_newest = issue.updated_at == changes.last().unwrap().0.updated_at;
            prop_assert!(replay.ops.is_empty() || !replayed_newest, "replaying the newest state wrote {:?}", replay.ops);
            prop_assert!(replay.ops.is_empty(), "replaying an older state wrote {:?}", replay.ops);
        }
    }
}
