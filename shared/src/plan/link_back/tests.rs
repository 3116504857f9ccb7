//! The link back's rules, one test each, and a model of the protocol under crashes and replays:
//! whatever attempt dies where, QALITA ends with one comment per GitLab issue.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::domain::gitlab::GitlabUser;
use crate::domain::link::{GitlabLink, Reservation};
use crate::domain::qalita::{IssueContext, QalitaIssue};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::mapping::{Desired, Facts};
use crate::plan::comments::is_our_comment;
use crate::plan::{AssigneeInput, Op};

const URL: &str = "https://gitlab.example.com/data/quality/-/issues/7";

fn config(extra: &str) -> Config {
    let text = format!("[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n{extra}");
    Config::from_document(&text, |_| None).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
}

fn issue() -> QalitaIssue {
    let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../../fixtures/qalita/issue.json")).unwrap();
    issue.updated_at = Some(at(1));
    issue
}

/// The link the outbound planner leaves after creating the GitLab issue, GitLab's answer filled in.
fn created(config: &Config) -> LinkState {
    let issue = issue();
    let desired = Desired::of(config, &Facts::of(&issue, &IssueContext::default(), None));
    let assignee = AssigneeInput::Found {
        user: GitlabUser { id: 8, username: "jroe".into(), name: String::new() },
        how: "map".into(),
    };
    let reserved = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "t".into(), at(1));
    let plan = crate::plan::plan(config, &issue, &desired, &assignee, &reserved, at(1));
    assert!(matches!(plan.ops.first(), Some(Op::CreateIssue { .. })), "{plan:?}");
    let mut next = plan.next;
    next.gitlab = Some(GitlabLink {
        project_id: GitlabProjectId::new(42).unwrap(),
        iid: Iid::new(7).unwrap(),
        issue_id: 700,
        web_url: URL.into(),
    });
    next.version = 2;
    next
}

fn comment_link(copy: Option<u64>, ours: bool) -> CommentLink {
    CommentLink {
        issue: QalitaIssueId::new(4821).unwrap(),
        key: CommentKey::LinkBack(700),
        copy,
        reservation: copy.is_none().then(|| Reservation { token: "t".into(), at: at(2), project: None }),
        digest: None,
        ours,
        version: 1,
        updated_at: at(2),
    }
}

#[test]
fn a_creation_owes_the_link_back_in_the_same_write_as_the_link_unless_the_mode_is_none() {
    assert_eq!(created(&config("")).link_back, Some(LinkBackDue::Created));
    assert_eq!(created(&config("[link_back]\nmode = \"none\"")).link_back, None);
}

#[test]
fn a_linked_issue_owes_one_comment_keyed_by_its_gitlab_issue() {
    let config = config("");
    let link = created(&config);
    assert_eq!(
        due(&config, &link, at(3)),
        Due::Write {
            key: CommentKey::LinkBack(700),
            text: format!("[GitLab] Tracked in GitLab: {URL}"),
            look_first: false
        }
    );
    let adopted = LinkState { link_back: Some(LinkBackDue::Adopted), ..link.clone() };
    assert!(matches!(due(&config, &adopted, at(3)), Due::Write { look_first: true, .. }), "QALITA may show it");
    let paid = LinkState { link_back: None, ..link.clone() };
    assert_eq!(due(&config, &paid, at(3)), Due::Nothing, "owed nothing: a replay or a later change");
    let severed = LinkState { status: LinkStatus::Severed, ..link.clone() };
    assert_eq!(due(&config, &severed, at(3)), Due::Nothing);
    let reserved = LinkState { status: LinkStatus::Reserved, gitlab: None, ..link };
    assert_eq!(due(&config, &reserved, at(3)), Due::Nothing, "no GitLab issue yet");
}

#[test]
fn with_the_mode_none_an_owed_link_back_is_forgotten_and_nothing_written() {
    let link = created(&config(""));
    let Due::Dropped(plan) = due(&config("[link_back]\nmode = \"none\""), &link, at(3)) else { panic!() };
    assert_eq!(plan.ops, []);
    assert_eq!(plan.next.link_back, None);
    assert_eq!(plan.decisions[0].kind, DecisionKind::LinkBack);
}

#[test]
fn the_step_follows_the_comment_link() {
    assert_eq!(step(None, false), CopyStep::Create, "reserved now, for a new GitLab issue");
    assert_eq!(step(None, true), CopyStep::FindThenCreate, "reserved now, for an adopted GitLab issue");
    assert_eq!(step(Some(&comment_link(Some(55), false)), false), CopyStep::Unchanged, "written already");
    assert_eq!(step(Some(&comment_link(None, false)), false), CopyStep::FindThenCreate, "a dead worker's");
    assert_eq!(step(Some(&comment_link(Some(1), true)), false), CopyStep::Ours);
}

#[test]
fn the_plan_writes_one_qalita_comment_and_leaves_the_link_owing_nothing() {
    let config = config("");
    let link = created(&config);
    let text = text(&config.comments, URL);
    let plan = plan(&link, text.clone(), &CopyStep::Create, at(3));
    assert_eq!(plan.ops, [Op::CreateComment { issue: link.qalita_id, content: text.clone() }]);
    assert!(plan.ops.iter().all(|op| !op.to_gitlab()), "nothing goes to GitLab");
    assert_eq!(plan.next.link_back, None);
    assert_eq!(plan.next.version, link.version, "committed on the link it was planned from");
    assert!(plan.decisions[0].message.contains(URL), "{:?}", plan.decisions);
    let written = plan_of(&link, &text, &CopyStep::Unchanged);
    assert_eq!((written.ops.len(), written.next.link_back), (0, None));
}

fn plan_of(link: &LinkState, text: &str, step: &CopyStep) -> Plan {
    plan(link, text.to_owned(), step, at(3))
}

#[test]
fn the_comment_follows_the_configured_prefix_of_what_this_service_writes_in_qalita() {
    let config = config("[comments]\nqalita_prefix = \"(from GitLab)\"");
    let text = text(&config.comments, URL);
    assert_eq!(text, format!("(from GitLab) Tracked in GitLab: {URL}"));
    assert!(is_our_comment(&config.comments, &text));
}

/// The protocol as the engine runs it, over a model of the comment link, QALITA's comments and
/// the link: each attempt may die after any step, and is then retried.
#[derive(Debug, Default)]
struct Model {
    owed: Option<LinkBackDue>,
    comment_link: Option<CommentLink>,
    comments: Vec<String>,
}

impl Model {
    /// One attempt, which dies after `dies_after` steps (claim, write, commit the comment link).
    fn attempt(&mut self, config: &Config, link: &LinkState, dies_after: usize) {
        let link = LinkState { link_back: self.owed, ..link.clone() };
        let Due::Write { text, look_first, .. } = due(config, &link, at(3)) else { return };
        // The claim: reserve, or take a dead worker's reservation over.
        let found = self.comment_link.clone();
        if found.is_none() {
            self.comment_link = Some(comment_link(None, false));
        }
        if dies_after == 0 {
            return;
        }
        let step = step(found.as_ref(), look_first);
        let plan = plan(&link, text.clone(), &step, at(3));
        let mut copy = self.comment_link.as_ref().and_then(|c| c.copy);
        if !plan.ops.is_empty() {
            let existing = self.comments.iter().position(|c| c.trim() == text.trim());
            let searched = if step == CopyStep::FindThenCreate { existing } else { None };
            copy = Some(searched.unwrap_or_else(|| {
                self.comments.push(text.clone());
                self.comments.len() - 1
            }) as u64);
        }
        if dies_after == 1 {
            return;
        }
        self.comment_link = Some(comment_link(copy, false));
        if dies_after == 2 {
            return;
        }
        self.owed = plan.next.link_back;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Attempts that die anywhere, then retries and replays: exactly one comment, and the link owes
    /// nothing once an attempt finished.
    #[test]
    fn crashes_retries_and_replays_write_one_comment(
        deaths in prop::collection::vec(0usize..3, 0..6),
        replays in 0usize..4,
        adopted in any::<bool>(),
    ) {
        let config = config("");
        let link = created(&config);
        let mut model = Model {
            owed: Some(if adopted { LinkBackDue::Adopted } else { LinkBackDue::Created }),
            ..Model::default()
        };
        for dies_after in &deaths {
            model.attempt(&config, &link, *dies_after);
        }
        for _ in 0..=replays {
            model.attempt(&config, &link, 3);
        }
        prop_assert_eq!(model.comments.len(), 1, "{:?}", model);
        prop_assert_eq!(model.owed, None);
        prop_assert!(model.comments.iter().all(|c| is_our_comment(&config.comments, c)));
    }
}

#[test]
fn the_link_back_key_reads_back_from_its_sort_key_beside_the_comment_keys() {
    for key in [CommentKey::LinkBack(700), CommentKey::Note(700), CommentKey::Comment(700)] {
        assert_eq!(CommentKey::parse(&key.sort_key()), Some(key));
    }
    assert_eq!(CommentKey::LinkBack(700).sort_key(), "LINKBACK#700");
    assert_eq!(CommentKey::parse("LINKBACK#x"), None);
    assert_eq!(CommentKey::parse("LINK"), None);
}
