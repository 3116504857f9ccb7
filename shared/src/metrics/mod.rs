//! The service's own figures: a closed vocabulary of what is measured ([`Figure`]), a process-wide
//! [`Registry`] the code records into (counters, timings, gauges), and two writers of it: CloudWatch
//! Embedded Metric Format lines for the Lambda functions ([`emf`]), flushed once per invocation,
//! and the Prometheus text format for `serve`'s `GET /metrics` ([`prometheus`]).
//!
//! The registry is global, as `tracing`'s subscriber is: the HTTP clients, the handlers and the
//! scheduled run record without a handle threaded through every constructor. Recording is a
//! mutex-guarded map update; nothing is written until a flush.

pub mod emf;
pub mod health;
pub mod prometheus;

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use crate::ports::Service;

/// Values a timing keeps between two flushes; EMF takes at most 100 values per metric.
pub const MAX_VALUES_PER_FLUSH: usize = 100;

/// Where a delivery, a call or a change comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// GitLab (its webhook, its API, its changes).
    Gitlab,
    /// QALITA.
    Qalita,
}

impl Origin {
    /// Both, in the order figures are written.
    pub const ALL: [Origin; 2] = [Origin::Gitlab, Origin::Qalita];

    /// The label value (`gitlab`, `qalita`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Gitlab => "gitlab",
            Origin::Qalita => "qalita",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Origin::Gitlab => "Gitlab",
            Origin::Qalita => "Qalita",
        }
    }
}

impl From<Service> for Origin {
    fn from(service: Service) -> Self {
        match service {
            Service::Gitlab => Origin::Gitlab,
            Service::Qalita => Origin::Qalita,
        }
    }
}

/// How the webhook function answered a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryOutcome {
    /// Put on the queue (`200 queued`).
    Queued,
    /// Authentic, of a kind not synced (`200 ignored`).
    Ignored,
    /// Not authenticated (`401`): a wrong token or signature.
    Rejected,
    /// Not a delivery the route can read (`400`, `404` route off, `405`, `413`).
    Malformed,
    /// The secret or the queue could not be reached (`503`; the sender retries).
    Unavailable,
}

impl DeliveryOutcome {
    /// Every outcome.
    pub const ALL: [DeliveryOutcome; 5] = [
        DeliveryOutcome::Queued,
        DeliveryOutcome::Ignored,
        DeliveryOutcome::Rejected,
        DeliveryOutcome::Malformed,
        DeliveryOutcome::Unavailable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Queued => "queued",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Rejected => "rejected",
            DeliveryOutcome::Malformed => "malformed",
            DeliveryOutcome::Unavailable => "unavailable",
        }
    }

    fn title(self) -> &'static str {
        match self {
            DeliveryOutcome::Queued => "Queued",
            DeliveryOutcome::Ignored => "Ignored",
            DeliveryOutcome::Rejected => "Rejected",
            DeliveryOutcome::Malformed => "Malformed",
            DeliveryOutcome::Unavailable => "Unavailable",
        }
    }
}

/// How the worker ended with a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageOutcome {
    /// A write was made (GitLab or QALITA).
    Applied,
    /// Nothing to write: unchanged, ignored, superseded, or skipped while disabled.
    NothingToDo,
    /// Back to the queue after a back-off.
    Retried,
    /// Refused for good or unreadable: logged and deleted.
    Failed,
    /// Failed on its last receive: SQS moves it to the dead-letter queue.
    DeadLettered,
}

impl MessageOutcome {
    /// Every outcome.
    pub const ALL: [MessageOutcome; 5] = [
        MessageOutcome::Applied,
        MessageOutcome::NothingToDo,
        MessageOutcome::Retried,
        MessageOutcome::Failed,
        MessageOutcome::DeadLettered,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageOutcome::Applied => "applied",
            MessageOutcome::NothingToDo => "nothing_to_do",
            MessageOutcome::Retried => "retried",
            MessageOutcome::Failed => "failed",
            MessageOutcome::DeadLettered => "dead_lettered",
        }
    }

    fn title(self) -> &'static str {
        match self {
            MessageOutcome::Applied => "Applied",
            MessageOutcome::NothingToDo => "NothingToDo",
            MessageOutcome::Retried => "Retried",
            MessageOutcome::Failed => "Failed",
            MessageOutcome::DeadLettered => "DeadLettered",
        }
    }
}

/// The class of an API answer. 401 and 429 have their own: a refused token and a rate limit each
/// need an operator for a different reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 3xx (never followed: a misconfigured URL).
    Redirect,
    /// 401: the token is refused.
    Unauthorized,
    /// 429: rate limited.
    RateLimited,
    /// Any other 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No answer: time-out, connection refused, TLS.
    NoAnswer,
}

impl StatusClass {
    /// Every class.
    pub const ALL: [StatusClass; 7] = [
        StatusClass::Success,
        StatusClass::Redirect,
        StatusClass::Unauthorized,
        StatusClass::RateLimited,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::NoAnswer,
    ];

    /// The class of an HTTP status; `None`: no answer.
    pub fn of(status: Option<u16>) -> StatusClass {
        match status {
            None => StatusClass::NoAnswer,
            Some(401) => StatusClass::Unauthorized,
            Some(429) => StatusClass::RateLimited,
            Some(200..=299) => StatusClass::Success,
            Some(300..=399) => StatusClass::Redirect,
            Some(500..=599) => StatusClass::ServerError,
            Some(_) => StatusClass::ClientError,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::Unauthorized => "401",
            StatusClass::RateLimited => "429",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoAnswer => "none",
        }
    }

    fn title(self) -> &'static str {
        match self {
            StatusClass::NoAnswer => "NoAnswer",
            other => other.as_str(),
        }
    }
}

/// How a figure accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count of events (EMF: the count since the last flush; Prometheus: the running total).
    Counter,
    /// Durations in milliseconds (EMF: the values since the last flush; Prometheus: a summary
    /// with its sum in seconds and its count).
    Timing,
    /// A level, set by the scheduled run (EMF: the last value set since the last flush).
    Gauge,
}

/// A CloudWatch unit (of the specification's list) this module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Events.
    Count,
    /// Durations.
    Milliseconds,
    /// Levels without a CloudWatch unit (days, 0/1).
    None,
}

impl Unit {
    /// The unit's name in EMF and CloudWatch.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// The dimension every figure carries: the stack (two deployments in one account stay apart).
pub const STACK_DIMENSION: &str = "Stack";
/// The dimension of the per-project hook gauge.
pub const PROJECT_DIMENSION: &str = "Project";

/// One figure the service measures: the closed list of what exists, with its CloudWatch name,
/// unit and dimensions and its Prometheus family and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// Webhook deliveries by source and outcome (webhook function).
    Delivery(Origin, DeliveryOutcome),
    /// Queued messages by outcome (worker).
    Message(MessageOutcome),
    /// From the provider's change time to our write, per source of the change.
    SyncLag(Origin),
    /// API calls by service and status class.
    Call(Origin, StatusClass),
    /// API calls by service, every class (the base of the share of 429s: an alarm's metric math
    /// takes at most 10 metrics).
    Calls(Origin),
    /// The wait a 429 asked for, per service.
    RateLimitWait(Origin),
    /// How long a poll of QALITA took.
    PollDuration,
    /// QALITA issues a poll read.
    PollRead,
    /// Issues a poll put on the queue.
    PollEnqueued,
    /// Issues a poll could not check or queue.
    PollFailed,
    /// How long a GitLab reconcile took.
    ReconcileDuration,
    /// GitLab issues a reconcile read.
    ReconcileRead,
    /// Issues a reconcile synced (a lost delivery made up).
    ReconcileSynced,
    /// Issues a reconcile could not sync.
    ReconcileFailed,
    /// 1 when the project's hook is executable, else 0 (from the health record).
    HookExecutable(String),
    /// Configured projects whose hook is not executable (disabled, temporarily disabled, missing).
    HooksNotExecutable,
    /// Whole days before the GitLab token expires (negative once expired).
    TokenDaysLeft,
}

impl Figure {
    /// Every figure that has no free label (all but [`Figure::HookExecutable`], whose project is
    /// the configuration's), for the template's checks and the dashboard.
    pub fn catalog() -> Vec<Figure> {
        let mut all = Vec::new();
        for origin in Origin::ALL {
            all.extend(DeliveryOutcome::ALL.map(|outcome| Figure::Delivery(origin, outcome)));
        }
        all.extend(MessageOutcome::ALL.map(Figure::Message));
        all.extend(Origin::ALL.map(Figure::SyncLag));
        for origin in Origin::ALL {
            all.extend(StatusClass::ALL.map(|class| Figure::Call(origin, class)));
        }
        all.extend(Origin::ALL.map(Figure::Calls));
        all.extend(Origin::ALL.map(Figure::RateLimitWait));
        all.extend([
            Figure::PollDuration,
            Figure::PollRead,
            Figure::PollEnqueued,
            Figure::PollFailed,
            Figure::ReconcileDuration,
            Figure::ReconcileRead,
            Figure::ReconcileSynced,
            Figure::ReconcileFailed,
            Figure::HooksNotExecutable,
            Figure::TokenDaysLeft,
        ]);
        all
    }

    /// The CloudWatch metric name. The source and the outcome or status class are part of the
    /// name, so that one invocation's figures share one dimension set (one EMF line).
    pub fn name(&self) -> String {
        match self {
            Figure::Delivery(origin, outcome) => format!("{}Deliveries{}", origin.prefix(), outcome.title()),
            Figure::Message(outcome) => format!("Messages{}", outcome.title()),
            Figure::SyncLag(origin) => format!("{}SyncLag", origin.prefix()),
            Figure::Call(origin, class) => format!("{}Calls{}", origin.prefix(), class.title()),
            Figure::Calls(origin) => format!("{}Calls", origin.prefix()),
            Figure::RateLimitWait(origin) => format!("{}RateLimitWait", origin.prefix()),
            Figure::PollDuration => "PollDuration".into(),
            Figure::PollRead => "PollIssuesRead".into(),
            Figure::PollEnqueued => "PollIssuesEnqueued".into(),
            Figure::PollFailed => "PollFailures".into(),
            Figure::ReconcileDuration => "ReconcileDuration".into(),
            Figure::ReconcileRead => "ReconcileIssuesRead".into(),
            Figure::ReconcileSynced => "ReconcileIssuesSynced".into(),
            Figure::ReconcileFailed => "ReconcileFailures".into(),
            Figure::HookExecutable(_) => "HookExecutable".into(),
            Figure::HooksNotExecutable => "HooksNotExecutable".into(),
            Figure::TokenDaysLeft => "TokenDaysLeft".into(),
        }
    }

    /// How it accumulates.
    pub fn kind(&self) -> Kind {
        match self {
            Figure::SyncLag(_) | Figure::RateLimitWait(_) | Figure::PollDuration | Figure::ReconcileDuration => {
                Kind::Timing
            }
            Figure::HookExecutable(_) | Figure::HooksNotExecutable | Figure::TokenDaysLeft => Kind::Gauge,
            _ => Kind::Counter,
        }
    }

    /// Its CloudWatch unit.
    pub fn unit(&self) -> Unit {
        match self.kind() {
            Kind::Counter => Unit::Count,
            Kind::Timing => Unit::Milliseconds,
            Kind::Gauge => Unit::None,
        }
    }

    /// Its dimensions besides [`STACK_DIMENSION`] (the project of a hook gauge).
    pub fn dimensions(&self) -> Vec<(&'static str, String)> {
        match self {
            Figure::HookExecutable(project) => vec![(PROJECT_DIMENSION, project.clone())],
            _ => Vec::new(),
        }
    }
}

/// What the registry holds of one figure.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cell {
    /// Counter: the running total; timing: the sum of the values (ms); gauge: the last value.
    total: f64,
    /// Timing: how many values.
    count: u64,
    /// Counter: the count since the last flush.
    unflushed: f64,
    /// Timing: the values since the last flush (at most [`MAX_VALUES_PER_FLUSH`]).
    values: Vec<f64>,
    /// Whether it was recorded since the last flush.
    touched: bool,
}

/// What a flush writes of one figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Flushed {
    /// A count since the last flush, or a gauge's last value.
    Value(f64),
    /// Timings since the last flush.
    Values(Vec<f64>),
}

/// What a scrape shows of one figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Total {
    /// Counter: the total; timing: the sum (ms); gauge: the value.
    pub value: f64,
    /// Timing: how many values were recorded.
    pub count: u64,
}

/// The figures of this process.
#[derive(Debug, Default)]
pub struct Registry {
    cells: Mutex<BTreeMap<Figure, Cell>>,
}

impl Registry {
    /// An empty registry (tests); the code records into [`global`].
    pub fn new() -> Self {
        Registry::default()
    }

    fn cells(&self) -> MutexGuard<'_, BTreeMap<Figure, Cell>> {
        // A panic while holding the lock leaves plain numbers behind: still worth reading.
        self.cells.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `n` to a counter.
    pub fn count(&self, figure: Figure, n: u64) {
        let mut cells = self.cells();
        let cell = cells.entry(figure).or_default();
        cell.total += n as f64;
        cell.unflushed += n as f64;
        cell.touched = true;
    }

    /// Records one duration of a timing.
    pub fn time(&self, figure: Figure, duration: Duration) {
        let ms = duration.as_secs_f64() * 1000.0;
        let mut cells = self.cells();
        let cell = cells.entry(figure).or_default();
        cell.total += ms;
        cell.count += 1;
        if cell.values.len() < MAX_VALUES_PER_FLUSH {
            cell.values.push(ms);
        }
        cell.touched = true;
    }

    /// Sets a gauge.
    pub fn set(&self, figure: Figure, value: f64) {
        let mut cells = self.cells();
        let cell = cells.entry(figure).or_default();
        cell.total = value;
        cell.touched = true;
    }

    /// The figures recorded since the last call, in order, and marks them flushed.
    pub fn take(&self) -> Vec<(Figure, Flushed)> {
        let mut cells = self.cells();
        let mut out = Vec::new();
        for (figure, cell) in cells.iter_mut().filter(|(_, cell)| cell.touched) {
            let flushed = match figure.kind() {
                Kind::Counter => Flushed::Value(std::mem::take(&mut cell.unflushed)),
                Kind::Timing => Flushed::Values(std::mem::take(&mut cell.values)),
                Kind::Gauge => Flushed::Value(cell.total),
            };
            cell.touched = false;
            out.push((figure.clone(), flushed));
        }
        out
    }

    /// Every figure recorded so far, in order, with its running total.
    pub fn totals(&self) -> Vec<(Figure, Total)> {
        self.cells()
            .iter()
            .map(|(figure, cell)| (figure.clone(), Total { value: cell.total, count: cell.count }))
            .collect()
    }
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::new);

/// The process's registry.
pub fn global() -> &'static Registry {
    &GLOBAL
}

/// Adds one to a counter of the process's registry.
pub fn count(figure: Figure) {
    global().count(figure, 1);
}

/// Adds `n` to a counter of the process's registry.
pub fn count_n(figure: Figure, n: u64) {
    if n > 0 {
        global().count(figure, n);
    }
}

/// Records a duration in the process's registry.
pub fn time(figure: Figure, duration: Duration) {
    global().time(figure, duration);
}

/// Sets a gauge of the process's registry.
pub fn set(figure: Figure, value: f64) {
    global().set(figure, value);
}

/// Records one API answer (`None`: no answer) and, for a 429, the wait it asked for.
pub fn api_call(service: Service, status: Option<u16>, wait: Option<Duration>) {
    let origin = Origin::from(service);
    let class = StatusClass::of(status);
    count(Figure::Call(origin, class));
    count(Figure::Calls(origin));
    if class == StatusClass::RateLimited {
        time(Figure::RateLimitWait(origin), wait.unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_of_the_catalog_has_its_own_name() {
        let catalog = Figure::catalog();
        let names: std::collections::BTreeSet<String> = catalog.iter().map(Figure::name).collect();
        assert_eq!(names.len(), catalog.len());
        assert!(names.contains("GitlabDeliveriesRejected") && names.contains("GitlabCalls429"), "{names:?}");
        assert!(names.iter().all(|name| name.chars().all(|c| c.is_ascii_alphanumeric())), "{names:?}");
    }

    #[test]
    fn a_flush_takes_what_was_recorded_since_the_last_and_totals_keep_running() {
        let registry = Registry::new();
        registry.count(Figure::Message(MessageOutcome::Applied), 2);
        registry.time(Figure::SyncLag(Origin::Qalita), Duration::from_millis(1500));
        registry.set(Figure::TokenDaysLeft, 9.0);

        let first = registry.take();
        assert_eq!(
            first,
            vec![
                (Figure::Message(MessageOutcome::Applied), Flushed::Value(2.0)),
                (Figure::SyncLag(Origin::Qalita), Flushed::Values(vec![1500.0])),
                (Figure::TokenDaysLeft, Flushed::Value(9.0)),
            ]
        );
        assert!(registry.take().is_empty(), "nothing new, nothing written");

        registry.count(Figure::Message(MessageOutcome::Applied), 1);
        assert_eq!(registry.take(), vec![(Figure::Message(MessageOutcome::Applied), Flushed::Value(1.0))]);
        let totals = registry.totals();
        assert_eq!(totals[0], (Figure::Message(MessageOutcome::Applied), Total { value: 3.0, count: 0 }));
        assert_eq!(totals[1].1, Total { value: 1500.0, count: 1 });
    }

    #[test]
    fn a_timing_keeps_at_most_what_emf_takes_between_flushes_and_counts_everything() {
        let registry = Registry::new();
        for _ in 0..150 {
            registry.time(Figure::PollDuration, Duration::from_millis(2));
        }
        let Flushed::Values(values) = &registry.take()[0].1 else { panic!("a timing flushes values") };
        assert_eq!(values.len(), MAX_VALUES_PER_FLUSH);
        assert_eq!(registry.totals()[0].1.count, 150);
    }

    #[test]
    fn status_classes_single_out_refusals_and_rate_limits() {
        let classes: Vec<_> = [Some(201), Some(302), Some(401), Some(403), Some(429), Some(503), None]
            .into_iter()
            .map(|s| StatusClass::of(s).as_str())
            .collect();
        assert_eq!(classes, ["2xx", "3xx", "401", "4xx", "429", "5xx", "none"]);
    }
}
