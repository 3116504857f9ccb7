//! The inbound planner's rules, one test each, on the link the outbound planner leaves after a
//! creation, and the delivery facts read from the real fixtures.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::gitlab::{GitlabUser, IssueState};
use crate::domain::link::{GitlabLink, LinkState, Written};
use crate::domain::qalita::IssueContext;
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::events::facts::parse_gitlab_time;
use crate::events::gitlab::read_issue_event;
use crate::mapping::Desired;
use crate::plan::{AssigneeInput, plan};

fn config(extra: &str) -> Config {
    let text = format!("[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n{extra}");
    Config::from_document(&text, |_| None).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
}

fn qalita(status: &str, minute: u32) -> QalitaIssue {
    let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../../fixtures/qalita/issue.json")).unwrap();
    issue.status = status.into();
    issue.updated_at = Some(at(minute));
    issue
}

pub(crate) fn context() -> IssueContext {
    IssueContext { severity: Some("high".into()), source_name: Some("billing.sites".into()), domain: None }
}

fn facts_of(issue: &QalitaIssue) -> Facts {
    Facts::of(issue, &context(), None)
}

/// The link after the outbound sync created the GitLab issue from QALITA's state at minute 1
/// (QALITA user 12), assigned to GitLab user 8.
pub(crate) fn linked(config: &Config) -> LinkState {
    let issue = qalita("open", 1);
    let desired = Desired::of(config, &facts_of(&issue));
    let assignee = AssigneeInput::Found {
        user: GitlabUser { id: 8, username: "jroe".into(), name: String::new() },
        how: "map".into(),
    };
    let reserved = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "t".into(), at(1));
    let mut next = plan(config, &issue, &desired, &assignee, &reserved, at(1)).next;
    next.gitlab = Some(GitlabLink {
        project_id: GitlabProjectId::new(42).unwrap(),
        iid: Iid::new(7).unwrap(),
        issue_id: 700,
        web_url: "https://gitlab.example.com/g/p/-/issues/7".into(),
    });
    for written in next.to_gitlab.values_mut() {
        written.at = Some(at(1));
    }
    next
}

/// The GitLab issue as the link knows it, at `minute`, with what a person changed.
fn event(
    config: &Config,
    link: &LinkState,
    minute: u32,
    change: impl FnOnce(&mut GitlabIssueFacts),
) -> GitlabIssueFacts {
    let issue = qalita("open", 1);
    let desired = Desired::of(config, &facts_of(&issue));
    let mut facts = GitlabIssueFacts {
        project_id: link.gitlab.as_ref().unwrap().project_id,
        iid: link.gitlab.as_ref().unwrap().iid,
        issue_id: Some(700),
        state: IssueState::Opened,
        labels: Some(desired.labels.clone()),
        assignee: Some(Some(GitlabUser { id: 8, username: "jroe".into(), name: String::new() })),
        title: Some(desired.title.clone()),
        description: Some(desired.description.clone()),
        updated_at: Some(at(minute)),
        action: Some("update".into()),
        marked: Some(QalitaIssueId::new(4821).unwrap()),
        by: Some("mdurand".into()),
        changed: None,
        previous_state: None,
        previous_labels: None,
        refreshed: false,
    };
    change(&mut facts);
    facts
}

fn closed(facts: &mut GitlabIssueFacts) {
    facts.state = IssueState::Closed;
    facts.changed = Some(BTreeSet::from([Field::Status]));
    facts.previous_state = Some(IssueState::Opened);
}

fn run(config: &Config, link: &LinkState, facts: &GitlabIssueFacts, now_in_qalita: &QalitaIssue) -> InboundPlan {
    let known = facts_of(now_in_qalita);
    plan_inbound(config, link, facts, Some((now_in_qalita, &known)), &AssigneeBack::NotNeeded, at(30))
}

#[test]
fn our_own_echo_plans_nothing() {
    let config = config("");
    let link = linked(&config);
    let echo = event(&config, &link, 2, |_| {});
    assert!(changed_fields(&config, &link, &echo).is_empty());
    let plan = run(&config, &link, &echo, &qalita("open", 1));
    assert!(plan.update().is_none() && plan.plan.decisions.is_empty() && !plan.push_to_gitlab, "{plan:?}");
}

#[test]
fn triage_reads_only_what_the_changed_fields_need() {
    let config = config("[ownership]\ntitle = \"both\"\nassignee = \"both\"");
    let link = linked(&config);
    let mut severed = link.clone();
    severed.status = LinkStatus::Severed;
    let echo = event(&config, &link, 2, |_| {});
    assert!(matches!(triage(&config, &severed, &echo, at(30)), Triage::Ignored(reason) if reason.contains("Severed")));
    let reserved = LinkState { status: LinkStatus::Reserved, ..link.clone() };
    assert_eq!(triage(&config, &reserved, &echo, at(30)), Triage::AdoptReserved);
    assert_eq!(triage(&config, &link, &echo, at(30)), Triage::Unchanged, "our own echo reads nothing");
    let Triage::Changed(reads) = triage(&config, &link, &event(&config, &link, 5, closed), at(30)) else { panic!() };
    assert_eq!((reads.fields.as_slice(), reads.qalita_issue, reads.owner), ([Field::Status].as_slice(), true, false));
    assert_eq!(reads.assignee, None, "the assignee did not change: no lookup");
    let renamed = event(&config, &link, 5, |f| {
        f.title = Some("Renamed".into());
        f.assignee = Some(Some(GitlabUser { id: 9, username: "ana".into(), name: String::new() }));
    });
    let Triage::Changed(reads) = triage(&config, &link, &renamed, at(30)) else { panic!() };
    assert!(reads.owner, "a title going back needs the owner for the template");
    assert_eq!(reads.assignee.map(|u| u.id), Some(9));
    // Owned by QALITA, a changed field is recorded but reads nothing of QALITA.
    let qalita_owned = self::config("[ownership]\nstatus = \"qalita\"");
    let link = linked(&qalita_owned);
    let Triage::Changed(reads) = triage(&qalita_owned, &link, &event(&qalita_owned, &link, 5, closed), at(30)) else {
        panic!()
    };
    assert!(!reads.qalita_issue && !reads.owner);
}

#[test]
fn triage_of_a_late_delivery_is_stale_and_of_a_change_back_bumps_the_watermark() {
    let config = config("");
    let mut link = linked(&config);
    link.to_gitlab.get_mut(&Field::Status).unwrap().watermark = Some(at(10));
    assert!(
        matches!(triage(&config, &link, &event(&config, &link, 5, closed), at(30)), Triage::Stale(d) if d.len() == 1)
    );
    let link = linked(&config);
    let reopened_back = event(&config, &link, 6, |f| {
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = Some(IssueState::Closed);
    });
    let Triage::Bumped(next) = triage(&config, &link, &reopened_back, at(30)) else { panic!() };
    assert_eq!(next.from_gitlab[&Field::Status].watermark, Some(at(6)));
    assert_eq!(next.updated_at, at(30));
}

#[test]
fn a_close_resolves_with_the_configured_word_and_records_what_qalita_holds() {
    let config = config("[status]\nresolved = [\"Resolved\", \"closed\"]");
    let link = linked(&config);
    let close = event(&config, &link, 5, closed);
    assert_eq!(changed_fields(&config, &link, &close), [Field::Status]);
    let plan = run(&config, &link, &close, &qalita("open", 1));
    assert_eq!(plan.update().and_then(|u| u.status.as_deref()), Some("Resolved"));
    assert_eq!(plan.accepted, [Field::Status]);
    assert_eq!(plan.plan.next.from_gitlab[&Field::Status].value, "resolved");
    assert_eq!(plan.plan.next.from_gitlab[&Field::Status].watermark, Some(at(5)));
}

#[test]
fn a_delivery_older_than_the_field_is_stale_and_changes_nothing() {
    let config = config("");
    let mut link = linked(&config);
    // QALITA's value of minute 10 was written after this close of minute 5 was made.
    link.to_gitlab.get_mut(&Field::Status).unwrap().watermark = Some(at(10));
    let close = event(&config, &link, 5, closed);
    assert!(changed_fields(&config, &link, &close).is_empty(), "no read for a stale delivery");
    let stale = stale_decisions(&config, &link, &close);
    assert_eq!(stale.len(), 1);
    assert!(stale[0].message.contains("older than the value already synced"), "{stale:?}");
}

#[test]
fn a_hook_shows_the_state_after_its_request_and_the_muted_label_it_changed() {
    let config = config("");
    let link = linked(&config);
    // The issue is closed, but this delivery is about a label: the close is another delivery's.
    let labelled = event(&config, &link, 5, |f| {
        f.state = IssueState::Closed;
        f.labels.as_mut().unwrap().insert("needs-triage".into());
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = None;
        f.previous_labels = Some(BTreeSet::from(["qalita".to_owned(), "severity:high".to_owned()]));
    });
    assert!(changed_fields(&config, &link, &labelled).is_empty());
    // Every hook shows the state as it is after its request (GitLab saves the state first): a
    // delivery that removes the muted label of a closed issue says the issue is resolved, even
    // while the close's own delivery is still on its way (or lost).
    let unmuting = event(&config, &link, 6, |f| {
        f.state = IssueState::Closed;
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_labels = Some(BTreeSet::from(["qalita".to_owned(), "ignored".to_owned()]));
    });
    assert!(unmuting.changes(Field::Status, "ignored"));
    assert_eq!(gitlab_value(&config, &link, &unmuting, Field::Status).as_deref(), Some("resolved"));
    assert_eq!(changed_fields(&config, &link, &unmuting), vec![Field::Status]);
    // The muted label is the delivery's only when it changed it: a close hook shows the labels
    // before the request, and the link's knowledge of the label stands.
    let mut muted = link.clone();
    muted.to_gitlab.insert(Field::Status, Written { value: "muted".into(), watermark: Some(at(4)), at: Some(at(4)) });
    muted.managed_labels.insert("ignored".into());
    let closing = event(&config, &muted, 7, |f| {
        f.state = IssueState::Closed;
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = Some(IssueState::Opened);
    });
    assert_eq!(gitlab_value(&config, &muted, &closing, Field::Status).as_deref(), Some("resolved"));
}

#[test]
fn one_request_that_reopens_and_mutes_reaches_as_two_hooks_that_are_both_our_echo() {
    let config = config("");
    let mut link = linked(&config);
    // The service wrote "muted" (reopen + the label) to a closed issue.
    link.to_gitlab.insert(Field::Status, Written { value: "muted".into(), watermark: Some(at(9)), at: Some(at(10)) });
    link.to_gitlab.insert(Field::State, Written { value: "opened".into(), watermark: Some(at(9)), at: Some(at(10)) });
    link.managed_labels.insert("ignored".into());
    // GitLab's reopen hook shows the labels before the request; its update hook adds the label.
    let reopen = event(&config, &link, 10, |f| {
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = Some(IssueState::Closed);
    });
    let labelled = event(&config, &link, 10, |f| {
        f.labels.as_mut().unwrap().insert("ignored".into());
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_labels = Some(BTreeSet::from(["qalita".to_owned(), "severity:high".to_owned()]));
    });
    for hook in [&reopen, &labelled] {
        assert_eq!(gitlab_value(&config, &link, hook, Field::Status).as_deref(), Some("muted"));
        assert!(changed_fields(&config, &link, hook).is_empty(), "{hook:?}");
    }
}

#[test]
fn qalita_owned_fields_are_recorded_not_synced_back() {
    let config = config("");
    let link = linked(&config);
    let retitled = event(&config, &link, 5, |f| {
        f.title = Some("[QALITA] billing.sites: Latitude out of range".into());
        f.changed = Some(BTreeSet::from([Field::Title]));
    });
    let plan = run(&config, &link, &retitled, &qalita("open", 1));
    assert!(plan.update().is_none());
    assert_eq!(plan.plan.decisions[0].kind.as_str(), "not-synced-back");
    assert!(plan.plan.next.from_gitlab.contains_key(&Field::Title), "the edit is known, so it is not logged again");
}

#[test]
fn a_two_way_title_goes_back_without_the_template_around_it() {
    let config = config("[ownership]\ntitle = \"both\"");
    let link = linked(&config);
    let retitled = event(&config, &link, 5, |f| {
        f.title = Some("[QALITA] billing.sites: Latitude out of range".into());
        f.changed = Some(BTreeSet::from([Field::Title]));
    });
    let plan = run(&config, &link, &retitled, &qalita("open", 1));
    assert_eq!(plan.update().and_then(|u| u.title.as_deref()), Some("Latitude out of range"));
    // A title a person rewrote whole goes back whole.
    let rewritten = event(&config, &link, 6, |f| {
        f.title = Some("Latitudes are wrong".into());
        f.changed = Some(BTreeSet::from([Field::Title]));
    });
    assert_eq!(
        run(&config, &link, &rewritten, &qalita("open", 1)).update().and_then(|u| u.title.as_deref()),
        Some("Latitudes are wrong")
    );
}

#[test]
fn a_two_way_description_goes_back_without_the_marker() {
    assert_eq!(description_back("Rows are wrong.\n\n<!-- qalita-issue:4821 -->\n"), "Rows are wrong.");
    assert_eq!(description_back("No marker here."), "No marker here.");
}

#[test]
fn when_qalita_already_holds_the_value_nothing_is_written() {
    let config = config("");
    let link = linked(&config);
    let close = event(&config, &link, 5, closed);
    let plan = run(&config, &link, &close, &qalita("resolved", 4));
    assert!(plan.update().is_none());
    assert_eq!(plan.accepted, [Field::Status], "recorded as in sync");
}

#[test]
fn a_conflict_goes_to_the_newer_side_and_is_logged() {
    let config = config("");
    let link = linked(&config);
    let close = event(&config, &link, 5, closed);
    // QALITA muted the issue at minute 8, after GitLab's close of minute 5: QALITA wins.
    let plan = run(&config, &link, &close, &qalita("muted", 8));
    assert!(plan.update().is_none() && plan.push_to_gitlab);
    assert!(
        plan.plan.decisions.iter().any(|d| d.kind.as_str() == "conflict" && d.message.contains("QALITA wins")),
        "{plan:?}"
    );
    // QALITA muted it at minute 3, before: GitLab wins.
    let plan = run(&config, &link, &close, &qalita("muted", 3));
    assert_eq!(plan.update().and_then(|u| u.status.as_deref()), Some("resolved"));
    assert!(
        plan.plan.decisions.iter().any(|d| d.kind.as_str() == "conflict" && d.message.contains("GitLab wins")),
        "{plan:?}"
    );
}

#[test]
fn an_unassignment_or_an_unknown_person_changes_nothing_and_says_why() {
    // Two-way: the rule is about what an assignee that syncs back does.
    let config = config("[ownership]\nassignee = \"both\"");
    let link = linked(&config);
    let unassigned = event(&config, &link, 5, |f| {
        f.assignee = Some(None);
        f.changed = Some(BTreeSet::from([Field::Assignee]));
    });
    let plan = run(&config, &link, &unassigned, &qalita("open", 1));
    assert!(plan.update().is_none());
    assert_eq!(plan.plan.decisions[0].kind.as_str(), "assignee-cleared");

    let stranger = event(&config, &link, 6, |f| {
        f.assignee = Some(Some(GitlabUser { id: 99, username: "stranger".into(), name: String::new() }));
        f.changed = Some(BTreeSet::from([Field::Assignee]));
    });
    let unknown = AssigneeBack::NotFound { reason: "no QALITA user with login \"stranger\"".into() };
    let issue = qalita("open", 1);
    let known = facts_of(&issue);
    let plan = plan_inbound(&config, &link, &stranger, Some((&issue, &known)), &unknown, at(30));
    assert!(plan.update().is_none());
    assert!(
        plan.plan.decisions.iter().any(|d| d.kind.as_str() == "assignee-unknown" && d.message.contains("stranger"))
    );
}

#[test]
fn a_change_back_to_the_synced_value_moves_the_watermark_but_not_our_echo() {
    let config = config("");
    let link = linked(&config);
    let reopened = event(&config, &link, 5, |f| {
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = Some(IssueState::Closed);
    });
    let bumps = watermark_bumps(&config, &link, &reopened);
    assert_eq!(bumps.iter().map(|(f, w)| (*f, w.watermark)).collect::<Vec<_>>(), [(Field::Status, Some(at(5)))]);
    // Our own write's echo carries the time the link recorded for it.
    let echo = event(&config, &link, 1, |f| {
        f.changed = Some(BTreeSet::from([Field::Status]));
        f.previous_state = Some(IssueState::Closed);
    });
    assert!(watermark_bumps(&config, &link, &echo).is_empty());
}

#[test]
fn the_fixtures_read_as_facts() {
    let close = include_str!("../../../../fixtures/gitlab/issue_close.json");
    let raw: &serde_json::value::RawValue = serde_json::from_str(close).unwrap();
    let facts = GitlabIssueFacts::of_issue(&read_issue_event(raw).unwrap()).unwrap();
    assert_eq!(facts.state, IssueState::Closed);
    assert_eq!(facts.action.as_deref(), Some("close"));
    assert_eq!(facts.previous_state, Some(IssueState::Opened));
    assert!(facts.changes(Field::Status, "ignored"));
    assert!(!facts.changes(Field::Title, "ignored"));
    assert_eq!(facts.updated_at.unwrap().to_rfc3339(), "2026-05-28T06:11:46.241+00:00");
    assert_eq!(parse_gitlab_time("2015-05-17 17:06:40 UTC").unwrap().to_rfc3339(), "2015-05-17T17:06:40+00:00");
    assert_eq!(
        crate::domain::marker::Marker::issue_of("text\n\n<!-- qalita-issue:4821 -->\n").map(|i| i.get()),
        Some(4821)
    );
    assert_eq!(crate::domain::marker::Marker::issue_of("<!-- qalita-issue:4821 --> quoted, then more text"), None);
}

#[test]
fn a_description_read_for_a_delivery_that_left_it_out_finds_the_link_and_counts_as_changed() {
    let close = include_str!("../../../../fixtures/gitlab/issue_close.json");
    let raw: &serde_json::value::RawValue = serde_json::from_str(close).unwrap();
    let mut facts = GitlabIssueFacts::of_issue(&read_issue_event(raw).unwrap()).unwrap();
    facts.description = None;
    facts.marked = None;
    let completed = facts.with_description_read("Long text\n\n<!-- qalita-issue:4821 -->".into());
    assert_eq!(completed.marked.map(|i| i.get()), Some(4821));
    assert!(completed.changed.as_ref().is_some_and(|c| c.contains(&Field::Description) && c.contains(&Field::Status)));
    assert_eq!(completed.description.as_deref(), Some("Long text\n\n<!-- qalita-issue:4821 -->"));
}

#[test]
fn only_the_notes_own_flag_or_an_unflagged_note_on_a_public_issue_is_internal() {
    let cases = [
        ("internal_note", true),
        ("internal_note_old", true),
        ("note_on_confidential_issue", false),
        ("note_on_confidential_issue_old", false),
    ];
    for (name, internal) in cases {
        let path = format!("{}/../fixtures/gitlab/constructed/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read_to_string(&path).unwrap();
        let event: crate::events::gitlab::NoteEvent<'_> = serde_json::from_str(&body).unwrap();
        let facts = crate::events::facts::GitlabNoteFacts::of_note(&event).unwrap().unwrap();
        assert_eq!(facts.internal, internal, "{name}");
    }
    let public: crate::events::gitlab::NoteEvent<'_> =
        serde_json::from_str(include_str!("../../../../fixtures/gitlab/note_on_issue.json")).unwrap();
    assert!(!crate::events::facts::GitlabNoteFacts::of_note(&public).unwrap().unwrap().internal);
}

mod properties {
    //! The inbound rules over random histories, in memory: the GitLab edits of one issue delivered
    //! in any order, each possibly twice, run through the planner as the engine runs it (changed
    //! fields, watermark bumps, plan, write, record); then every delivery replayed once more.

    use proptest::prelude::*;

    use super::*;
    use crate::domain::sync::Status;

    /// One person's edit of the GitLab issue.
    #[derive(Debug, Clone)]
    enum Edit {
        Status(Status),
        Title(&'static str),
        Description(&'static str),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            prop::sample::select(Status::ALL.to_vec()).prop_map(Edit::Status),
            prop::sample::select(vec!["Nulls in orders", "Latitude out of range", "Stale feed"]).prop_map(Edit::Title),
            prop::sample::select(vec!["First look.", "Root cause: the feed.", ""]).prop_map(Edit::Description),
        ]
    }

    /// The deliveries of `edits`, made at minutes 2, 3, …, each showing the issue as it was after
    /// its edit and naming what it changed, as GitLab's hooks do.
    fn deliveries(config: &Config, link: &LinkState, edits: &[Edit]) -> Vec<GitlabIssueFacts> {
        let muted = config.mapping.muted_label.clone();
        let mut now = event(config, link, 1, |_| {});
        let mut out = Vec::new();
        for (index, edit) in edits.iter().enumerate() {
            let before = now.clone();
            let field = match edit {
                Edit::Status(status) => {
                    now.state = status.state();
                    let labels = now.labels.get_or_insert_with(BTreeSet::new);
                    match status {
                        Status::Muted => labels.insert(muted.clone()),
                        _ => labels.remove(&muted),
                    };
                    Field::Status
                }
                Edit::Title(title) => {
                    now.title = Some((*title).into());
                    Field::Title
                }
                Edit::Description(text) => {
                    let marker = crate::domain::marker::Marker::Issue(link.qalita_id).text();
                    now.description = Some(format!("{text}\n\n{marker}"));
                    Field::Description
                }
            };
            now.updated_at = Some(at(2 + index as u32));
            now.changed = Some(BTreeSet::from([field]));
            now.previous_state = Some(before.state);
            now.previous_labels = before.labels.clone();
            out.push(now.clone());
        }
        out
    }

    /// What QALITA holds, and the link, as the engine leaves them.
    struct Sides {
        qalita: QalitaIssue,
        link: LinkState,
        writes: usize,
        clock: u32,
    }

    impl Sides {
        /// The engine's handling of one delivery, through the pure planner: returns whether
        /// QALITA was written.
        fn deliver(&mut self, config: &Config, facts: &GitlabIssueFacts) -> bool {
            let bumps = watermark_bumps(config, &self.link, facts);
            if changed_fields(config, &self.link, facts).is_empty() {
                self.link.from_gitlab.extend(bumps);
                return false;
            }
            let known = facts_of(&self.qalita);
            let plan =
                plan_inbound(config, &self.link, facts, Some((&self.qalita, &known)), &AssigneeBack::NotNeeded, at(59));
            let mut next = plan.plan.next.clone();
            next.from_gitlab.extend(bumps);
            let wrote = plan.update().is_some();
            if let Some(update) = plan.update() {
                if let Some(status) = &update.status {
                    self.qalita.status = status.clone();
                }
                if let Some(title) = &update.title {
                    self.qalita.title = title.clone();
                }
                if let Some(description) = &update.description {
                    self.qalita.description = Some(description.clone());
                }
                // QALITA stamps its own time on every write.
                self.clock += 1;
                self.qalita.updated_at = Some(Utc.with_ymd_and_hms(2026, 11, 25, 0, self.clock, 0).unwrap());
                self.writes += 1;
            }
            record_written(config, &mut next, facts, &plan.recorded(), &self.qalita, None, &AssigneeBack::NotNeeded);
            if !plan.accepted.is_empty() {
                next.qalita_watermark = next.qalita_watermark.max(self.qalita.updated_at);
            }
            self.link = next;
            wrote
        }
    }

    fn two_way() -> Config {
        config("[ownership]\nstatus = \"both\"\ntitle = \"both\"\ndescription = \"both\"")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever the order and the duplicates, QALITA ends with the newest GitLab value of each
        /// field, a delivery replayed afterwards writes nothing, and no delivery writes more than
        /// once.
        #[test]
        fn any_order_of_the_same_deliveries_ends_in_the_newest_values_and_a_replay_writes_nothing(
            edits in prop::collection::vec(edit(), 1..7),
            order in prop::collection::vec(any::<prop::sample::Index>(), 1..14),
        ) {
            let config = two_way();
            let link = linked(&config);
            let all = deliveries(&config, &link, &edits);
            let mut sides = Sides { qalita: qalita("open", 1), link, writes: 0, clock: 0 };
            // Every delivery once (GitLab retries, it does not lose), then the picked ones again.
            let mut sequence: Vec<usize> = order.iter().map(|i| i.index(all.len())).collect();
            sequence.extend(0..all.len());
            let mut rotated = sequence.clone();
            rotated.rotate_left(order.len() % sequence.len());
            for &i in &rotated {
                sides.deliver(&config, &all[i]);
            }
            prop_assert!(sides.writes <= edits.len(), "{} writes for {} edits", sides.writes, edits.len());

            let newest = |pick: fn(&Edit) -> Option<String>| edits.iter().rev().find_map(pick);
            if let Some(word) = newest(|e| match e { Edit::Status(s) => Some(s.as_str().to_owned()), _ => None }) {
                let expected = match Status::parse(&word).unwrap() {
                    Status::Resolved => &config.status.resolve_to,
                    Status::Muted => &config.status.mute_to,
                    Status::Open => &config.status.reopen_to,
                };
                prop_assert_eq!(&sides.qalita.status, expected, "edits {:?}, order {:?}", edits, rotated);
            }
            if let Some(title) = newest(|e| match e { Edit::Title(t) => Some((*t).to_owned()), _ => None }) {
                prop_assert_eq!(&sides.qalita.title, &title, "edits {:?}, order {:?}", edits, rotated);
            }
            if let Some(text) = newest(|e| match e { Edit::Description(d) => Some((*d).to_owned()), _ => None }) {
                prop_assert_eq!(sides.qalita.description.as_deref().unwrap_or_default(), text.as_str());
            }
            for (index, delivery) in all.iter().enumerate() {
                prop_assert!(!sides.deliver(&config, delivery), "replaying delivery {} wrote QALITA", index);
            }
        }

        /// The echo of the link's own state, at any time, plans nothing and reads nothing.
        #[test]
        fn an_echo_plans_nothing(minute in 2u32..59, edits in prop::collection::vec(edit(), 0..4)) {
            let config = two_way();
            let link = linked(&config);
            let all = deliveries(&config, &link, &edits);
            let mut sides = Sides { qalita: qalita("open", 1), link, writes: 0, clock: 0 };
            for delivery in &all {
                sides.deliver(&config, delivery);
            }
            // What GitLab shows now, delivered again later without a change (a label added by
            // someone else, a comment): nothing of ours changed.
            let mut echo = all.last().cloned().unwrap_or_else(|| event(&config, &sides.link, 1, |_| {}));
            echo.updated_at = Some(at(minute.max(edits.len() as u32 + 2)));
            echo.changed = Some(BTreeSet::new());
            echo.previous_state = Some(echo.state);
            echo.previous_labels = echo.labels.clone();
            prop_assert!(changed_fields(&config, &sides.link, &echo).is_empty());
            prop_assert!(!sides.deliver(&config, &echo));
        }
    }
}
