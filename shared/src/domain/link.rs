//! The link between a QALITA issue and its GitLab issue, with the sync state DESIGN section 4
//! keeps on it: what this service last wrote to each field, and the provider timestamp of the
//! value it wrote (the field's watermark).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::gitlab::{GitlabProjectRef, IssueState};
use super::qalita::IssueContext;
use super::sync::Status;
use super::{GitlabProjectId, Iid, QalitaIssueId};

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// A worker is creating the GitLab issue (step 1 of the creation protocol).
    Reserved,
    /// The two issues are linked and kept in sync.
    Linked,
    /// An operator cut the link: the GitLab issue stays, later events are ignored.
    Severed,
    /// The GitLab issue was deleted and is not to be recreated.
    Gone,
}

impl LinkStatus {
    /// The word stored and shown: `reserved`, `linked`, `severed`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Reserved => "reserved",
            LinkStatus::Linked => "linked",
            LinkStatus::Severed => "severed",
            LinkStatus::Gone => "gone",
        }
    }
}

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The token and time of a reservation: only its holder may turn it into a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// A random UUID naming this reservation; a takeover writes a new one.
    pub token: String,
    /// When it was taken: an old reservation is stale (its worker died).
    pub at: DateTime<Utc>,
    /// The project the issue is being created in: where a takeover looks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<GitlabProjectRef>,
}

/// The GitLab issue of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabLink {
    /// The numeric id of the project the GitLab issue is in.
    pub project_id: GitlabProjectId,
    /// Its number in the project.
    pub iid: Iid,
    /// The GitLab issue's instance-wide id (`id`), not its iid.
    pub issue_id: u64,
    /// The GitLab issue's page in the browser, shown by `link show` and in the integration log.
    pub web_url: String,
}

/// A synced field of the GitLab issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The title (`ownership.title` says which side owns it).
    Title,
    /// The description, with the hidden marker on GitLab's side; long ones recorded as a digest.
    Description,
    /// The labels the sync manages (rendered from `mapping.labels`); others are never touched.
    Labels,
    /// GitLab's `opened` or `closed`.
    State,
    /// The assignee: a GitLab user id in `to_gitlab`, a QALITA user id in `to_qalita`.
    Assignee,
    /// Whether the GitLab issue is confidential, as the routing rule asks.
    Confidential,
    /// The status as both sides understand it: `open`, `resolved` or `muted` (GitLab: open, closed,
    /// open with the muted label). Kept beside `State` and `Labels`, which are its GitLab parts.
    Status,
}

/// What was last written to a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The value written, or `sha256:<hex>` of it for long texts (a description can be large;
    /// the item must stay well under DynamoDB's 400 KB).
    pub value: String,
    /// The provider timestamp of the value it came from: an event older than this changes nothing.
    pub watermark: Option<DateTime<Utc>>,
    /// When the side it was written to (or seen on) got it, by that side's clock: of two records
    /// of one field, the later is what that side holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl Written {
    /// A value with its source's timestamp, not yet seen on the target.
    pub fn new(value: impl Into<String>, watermark: Option<DateTime<Utc>>) -> Self {
        Written { value: value.into(), watermark, at: None }
    }
}

/// A link and its sync state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    /// The QALITA issue the link is for: the key of its item.
    pub qalita_id: QalitaIssueId,
    /// Where the link is in its life.
    pub status: LinkStatus,
    /// The stored version this state was read at (0: not stored yet). Every write is conditional
    /// on it (optimistic locking).
    pub version: u64,
    /// The reservation (token, time, project), set while `Reserved` and cleared by the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Reservation>,
    /// Set once the GitLab issue exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<GitlabLink>,
    /// What this service last wrote to GitLab, per field.
    #[serde(default)]
    pub to_gitlab: BTreeMap<Field, Written>,
    /// What GitLab changed by itself (a person's edit), per field, as last seen in an event: the
    /// value and GitLab's `updated_at` of the change (its watermark and its `at`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub from_gitlab: BTreeMap<Field, Written>,
    /// What QALITA holds per inbound field (`Status`, `Assignee`, `Title`, `Description`), as last
    /// read or written by this service, with QALITA's `updated_at`: a QALITA value equal to it is
    /// no news (our own echo, or unchanged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub to_qalita: BTreeMap<Field, Written>,
    /// The labels this service manages on the GitLab issue (it never touches others).
    #[serde(default)]
    pub managed_labels: BTreeSet<String>,
    /// What the last change event knew beyond the issue (severity, source name, domain): the poll
    /// reads issues without it, and must not drop the labels it gave.
    #[serde(default, skip_serializing_if = "IssueContext::is_empty")]
    pub context: IssueContext,
    /// The last owner resolution (QALITA user → GitLab user): an unchanged owner costs no lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<ResolvedAssignee>,
    /// The QALITA `updated_at` of the last issue state planned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qalita_watermark: Option<DateTime<Utc>>,
    /// The GitLab issue's URL is still to be written back to QALITA (`[link_back]`): set, with the
    /// link, when this service creates or adopts the GitLab issue; cleared once the comment
    /// exists. A crash between the two leaves it set, so the retry writes it (once: the comment
    /// has a comment link of its own, keyed by the GitLab issue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_back: Option<LinkBackDue>,
    /// When the poll's comment sweep last queued a sweep of this issue's comments, or, until the
    /// first one, when the link was reserved: the sweep takes the open links swept longest ago
    /// first ([`LinkState::sweep_position`]). `None` on a link written before the sweep existed,
    /// which the poll enrols when it next reads its issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments_swept_at: Option<DateTime<Utc>>,
    /// When the QALITA issue was last seen becoming resolved (set by the outbound planner, cleared
    /// when it opens again): how long it stayed resolved decides the regression policy. QALITA's
    /// own `closed_at` is not kept across a reopen. `None` on links written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When a write found the GitLab issue deleted (GitLab answered 404) and
    /// `sync.recreate_if_deleted` recreates it: the recreation is due, and waits for the deleted
    /// issue's changes queued before it (the worker queues it behind them, in the issue's message
    /// group; the poll queues it too). Cleared by the recreation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The GitLab issues this link had before its current one, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<PastIssue>,
    /// When the link was last written.
    pub updated_at: DateTime<Utc>,
}

/// Why a link left a GitLab issue for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelinkReason {
    /// An operator asked for a new issue on a severed or gone link (`create-issue`).
    Operator,
    /// The QALITA issue opened again after staying resolved longer than
    /// `sync.new_issue_after_days`, under `sync.on_regression = "new_issue"`.
    Regression,
}

impl RelinkReason {
    /// The word stored and shown: `operator` or `regression`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelinkReason::Operator => "operator",
            RelinkReason::Regression => "regression",
        }
    }
}

/// A GitLab issue a link had before its current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastIssue {
    /// The GitLab issue it was.
    pub gitlab: GitlabLink,
    /// When the link was left for a new issue.
    pub retired_at: DateTime<Utc>,
    /// Why.
    pub reason: RelinkReason,
}

/// Why the GitLab issue's URL is owed to QALITA, which says whether QALITA may show it already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkBackDue {
    /// This service created the GitLab issue: no comment can show its URL yet.
    Created,
    /// This service adopted a GitLab issue that existed before the link (a crashed creation, a
    /// lost link table): QALITA may show its URL already, so its comments are looked at first.
    Adopted,
}

/// Where a link stands in the poll's comment sweep: swept longest ago first, then by QALITA id.
/// Every store lists the links to sweep in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SweepPosition {
    /// When its comments were last swept (or its link reserved).
    pub swept_at: DateTime<Utc>,
    /// The QALITA issue, which breaks ties.
    pub issue: QalitaIssueId,
}

impl LinkState {
    /// Records the project a reservation creates the GitLab issue in.
    pub fn reserve_in(&mut self, project: GitlabProjectRef) {
        if let Some(reservation) = self.reservation.as_mut() {
            reservation.project = Some(project);
        }
    }

    /// A new reservation for `qalita_id`, not stored yet.
    pub fn reserved(qalita_id: QalitaIssueId, token: String, at: DateTime<Utc>) -> Self {
        LinkState {
            qalita_id,
            status: LinkStatus::Reserved,
            version: 0,
            reservation: Some(Reservation { token, at, project: None }),
            gitlab: None,
            to_gitlab: BTreeMap::new(),
            from_gitlab: BTreeMap::new(),
            to_qalita: BTreeMap::new(),
            managed_labels: BTreeSet::new(),
            context: IssueContext::default(),
            assignee: None,
            qalita_watermark: None,
            link_back: None,
            // A new link's comments are swept by the event that creates its GitLab issue: it
            // joins the comment sweep's line at the back.
            comments_swept_at: Some(at),
            resolved_at: None,
            deleted_at: None,
            history: Vec::new(),
            updated_at: at,
        }
    }

    /// Whether the QALITA issue is open as far as the link knows (open or muted, not resolved):
    /// QALITA's status as last read; where QALITA's word is not a configured one, the GitLab
    /// issue's state as last written or seen.
    pub fn is_open(&self) -> bool {
        match self.to_qalita.get(&Field::Status).and_then(|w| Status::parse(&w.value)) {
            Some(status) => status != Status::Resolved,
            None => {
                self.gitlab_value(Field::State).is_none_or(|w| IssueState::parse(&w.value) != Some(IssueState::Closed))
            }
        }
    }

    /// Where the link stands in the poll's comment sweep; `None` when the sweep passes it over:
    /// not linked (reserved, severed, gone), resolved, or written before the sweep existed (not
    /// enrolled yet).
    pub fn sweep_position(&self) -> Option<SweepPosition> {
        let swept_at = self.comments_swept_at?;
        (self.status == LinkStatus::Linked && self.gitlab.is_some() && self.is_open())
            .then_some(SweepPosition { swept_at, issue: self.qalita_id })
    }
}

impl LinkState {
    /// The value GitLab holds for `field` as far as this service knows: the later of what it wrote
    /// and what an event showed.
    pub fn gitlab_value(&self, field: Field) -> Option<&Written> {
        match (self.to_gitlab.get(&field), self.from_gitlab.get(&field)) {
            (Some(written), Some(seen)) => Some(if written.at > seen.at { written } else { seen }),
            (written, seen) => written.or(seen),
        }
    }

    /// The provider timestamp of the value `field` holds: an event older than it changes nothing.
    pub fn watermark(&self, field: Field) -> Option<DateTime<Utc>> {
        let of = |map: &BTreeMap<Field, Written>| map.get(&field).and_then(|w| w.watermark);
        of(&self.to_gitlab).max(of(&self.from_gitlab))
    }
}

/// Which comment a comment link is keyed by (DESIGN section 4: `NOTE#<id>`, `COMMENT#<id>`, and
/// `LINKBACK#<GitLab issue id>` for the QALITA comment that shows a GitLab issue's URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CommentKey {
    /// A GitLab note id.
    Note(u64),
    /// A QALITA comment id.
    Comment(u64),
    /// The link-back comment of a GitLab issue (its instance-wide id): one per GitLab issue, so a
    /// recreated issue gets its own, and a retry or a replay never writes a second.
    LinkBack(u64),
}

impl CommentKey {
    /// The sort key of its item.
    pub fn sort_key(&self) -> String {
        match self {
            CommentKey::Note(id) => format!("NOTE#{id}"),
            CommentKey::Comment(id) => format!("COMMENT#{id}"),
            CommentKey::LinkBack(id) => format!("LINKBACK#{id}"),
        }
    }

    /// Reads a sort key back.
    pub fn parse(sort_key: &str) -> Option<Self> {
        let (kind, id) = sort_key.split_once('#')?;
        let id = id.parse().ok()?;
        match kind {
            "NOTE" => Some(CommentKey::Note(id)),
            "COMMENT" => Some(CommentKey::Comment(id)),
            "LINKBACK" => Some(CommentKey::LinkBack(id)),
            _ => None,
        }
    }
}

/// The link between a comment and its copy on the other side: no comment is copied twice.
///
/// A copy makes two items: one keyed by the source (`copy` is the copy's id), one keyed by the copy
/// (`ours`, `copy` is the source's id), so that the event about the copy is known for ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentLink {
    /// The QALITA issue the comments are on.
    pub issue: QalitaIssueId,
    /// The comment this item is about.
    pub key: CommentKey,
    /// The other side's id, once the copy exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<u64>,
    /// Set while the copy is being made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Reservation>,
    /// `sha256:` of the source text copied: an edit with another digest updates the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The comment is a copy this service made.
    #[serde(default)]
    pub ours: bool,
    /// The stored version (0: not stored yet); writes are conditional on it.
    pub version: u64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// How a QALITA owner was found in GitLab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedAssignee {
    /// The QALITA user id.
    pub qalita_user: u64,
    /// Their QALITA login, when QALITA gave one: what the `[assignees]` map and the lookup use.
    #[serde(default)]
    pub login: Option<String>,
    /// The GitLab user id.
    pub gitlab_user: u64,
    /// The GitLab username they resolved to, for the log and `link show`.
    pub username: String,
}

/// How serious a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// A decision or a successful call.
    Info,
    /// Something did not sync, by rule (an unknown person, a field owned by the other side).
    Warn,
    /// A sync failed (a refused or failed call); `logs --errors` lists only these.
    Error,
}

impl LogLevel {
    /// `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the integration log: a decision or a remote call's outcome, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The QALITA issue it is about.
    pub issue: QalitaIssueId,
    /// When it was written, by the writer's clock (the worker's, or the CLI's for a backfill).
    pub at: DateTime<Utc>,
    /// How serious: `logs --errors` keeps only [`LogLevel::Error`].
    pub level: LogLevel,
    /// A short, stable kind (`create`, `update`, `route`, `assignee-unknown`, …).
    pub kind: String,
    /// What happened, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    /// A linked issue, reserved at `reserved` and open as QALITA last said.
    fn linked(id: u64, reserved: i64) -> LinkState {
        let mut link = LinkState::reserved(QalitaIssueId::new(id).unwrap(), "token".into(), at(reserved));
        link.status = LinkStatus::Linked;
        link.reservation = None;
        link.gitlab = Some(GitlabLink {
            project_id: GitlabProjectId::new(42).unwrap(),
            iid: Iid::new(id).unwrap(),
            issue_id: 1000 + id,
            web_url: format!("https://gitlab.example/data/quality/-/issues/{id}"),
        });
        link.to_gitlab.insert(Field::State, Written::new("opened", None));
        link.to_qalita.insert(Field::Status, Written::new("open", None));
        link
    }

    #[test]
    fn the_sweep_takes_the_links_swept_longest_ago_first_then_the_lowest_id() {
        let mut swept_late = linked(1, 0);
        swept_late.comments_swept_at = Some(at(50));
        let (reserved_early, tie_high, tie_low) = (linked(2, 10), linked(9, 20), linked(3, 20));
        let mut links = [swept_late, reserved_early, tie_high, tie_low];
        links.sort_by_key(|link| link.sweep_position());
        let order: Vec<u64> = links.iter().map(|link| link.qalita_id.get()).collect();
        assert_eq!(order, [2, 3, 9, 1]);
    }

    #[test]
    fn a_new_link_joins_the_line_at_its_reservation() {
        let link = linked(4, 30);
        assert_eq!(link.sweep_position(), Some(SweepPosition { swept_at: at(30), issue: link.qalita_id }));
    }

    #[test]
    fn resolved_unlinked_and_unenrolled_links_are_not_swept_but_muted_ones_are() {
        let mut resolved = linked(1, 0);
        resolved.to_qalita.insert(Field::Status, Written::new("resolved", None));
        assert_eq!(resolved.sweep_position(), None, "resolved in QALITA");
        let mut closed = linked(1, 0);
        closed.to_qalita.clear();
        closed.to_gitlab.insert(Field::State, Written::new("closed", None));
        assert_eq!(closed.sweep_position(), None, "QALITA's word unknown, the GitLab issue closed");
        closed.to_gitlab.insert(Field::State, Written::new("opened", None));
        assert!(closed.sweep_position().is_some(), "QALITA's word unknown, the GitLab issue open");
        for status in [LinkStatus::Reserved, LinkStatus::Severed, LinkStatus::Gone] {
            assert_eq!(LinkState { status, ..linked(1, 0) }.sweep_position(), None, "{status}");
        }
        let unenrolled = LinkState { comments_swept_at: None, ..linked(1, 0) };
        assert_eq!(unenrolled.sweep_position(), None, "written before the sweep existed");
        let mut muted = linked(1, 0);
        muted.to_qalita.insert(Field::Status, Written::new("muted", None));
        assert!(muted.sweep_position().is_some(), "a muted issue is not resolved: people still comment");
    }

    #[test]
    fn a_link_stored_before_the_sweep_existed_reads_as_not_enrolled() {
        let mut json = serde_json::to_value(linked(5, 0)).unwrap();
        json.as_object_mut().unwrap().remove("comments_swept_at");
        let old: LinkState = serde_json::from_value(json).unwrap();
        assert_eq!((old.comments_swept_at, old.sweep_position()), (None, None));
    }
}
