//! What a simulated GitLab starts with: its users and their tokens, the rate-limit budgets and
//! window, and the instance's behaviours that differ by tier or set-up.

use std::time::Duration;

use super::webhook::WebhookConfig;

/// The token of the default user of [`SimConfig::default`].
pub const DEFAULT_TOKEN: &str = "test-token-simulated-sync-bot";
/// The id of the default user.
pub const DEFAULT_USER_ID: u64 = 1;
/// The username of the default user.
pub const DEFAULT_USERNAME: &str = "qalita-sync-bot";

/// A GitLab user of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The user id.
    pub id: u64,
    /// The username (matched without regard to case, as GitLab does).
    pub username: String,
    /// The display name.
    pub name: String,
}

impl SimUser {
    /// A user.
    pub fn new(id: u64, username: &str, name: &str) -> Self {
        SimUser { id, username: username.to_owned(), name: name.to_owned() }
    }
}

/// Rate limits as gitlab.com applies them: a budget of API requests per user (per client for
/// requests without a valid token) shown in the `RateLimit-*` headers of every answer, and budgets
/// of issue and note creations per user that no header shows. `None` is no limit. All budgets
/// count in fixed windows of `window`, counted from the simulator's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Length of a window.
    pub window: Duration,
    /// API requests of any kind in a window.
    pub api: Option<u32>,
    /// `POST /projects/:id/issues` in a window.
    pub issue_creation: Option<u32>,
    /// `POST …/notes` in a window.
    pub note_creation: Option<u32>,
}

impl RateLimits {
    /// How long until the current window turns. GitLab's windows (and the simulator's) turn on
    /// multiples of their length since the Unix epoch, whenever a client starts: a test that counts
    /// refusals waits for a turn first, so that its whole load starts in a fresh window.
    pub fn until_next_window(&self) -> Duration {
        let length = self.window.max(Duration::from_millis(1)).as_nanos();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        Duration::from_nanos(u64::try_from(length - now % length).unwrap_or(0))
    }

    /// Waits until just after the current window turns (see [`Self::until_next_window`]).
    pub async fn next_window(&self) {
        tokio::time::sleep(self.until_next_window() + Duration::from_millis(20)).await;
    }
}

impl Default for RateLimits {
    /// gitlab.com's figures: 2000 authenticated API requests, 200 issue creations and 60 note
    /// creations each minute.
    fn default() -> Self {
        RateLimits {
            window: Duration::from_secs(60),
            api: Some(2000),
            issue_creation: Some(200),
            note_creation: Some(60),
        }
    }
}

/// The start-up configuration of a [`super::GitlabSim`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Known users.
    pub users: Vec<SimUser>,
    /// Valid tokens and the user id each belongs to.
    pub tokens: Vec<(String, u64)>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Whether an issue may have several assignees (a paid tier). On the Free tier GitLab keeps
    /// only the first of `assignee_ids`.
    pub multiple_assignees: bool,
    /// How long a new issue stays invisible to `search` (a search index that lags behind);
    /// zero by default.
    pub search_delay: Duration,
    /// The project webhook every change made through the API is delivered to; none by default.
    pub webhook: Option<WebhookConfig>,
}

impl Default for SimConfig {
    /// One user, [`DEFAULT_USERNAME`], whose token is [`DEFAULT_TOKEN`]; gitlab.com's rate limits;
    /// one assignee per issue.
    fn default() -> Self {
        SimConfig {
            users: vec![SimUser::new(DEFAULT_USER_ID, DEFAULT_USERNAME, "QALITA sync")],
            tokens: vec![(DEFAULT_TOKEN.to_owned(), DEFAULT_USER_ID)],
            rate_limits: RateLimits::default(),
            multiple_assignees: false,
            search_delay: Duration::ZERO,
            webhook: None,
        }
    }
}

impl SimConfig {
    /// Adds a user.
    pub fn with_user(mut self, id: u64, username: &str, name: &str) -> Self {
        self.users.push(SimUser::new(id, username, name));
        self
    }

    /// Adds a valid token of user `user_id`.
    pub fn with_token(mut self, token: &str, user_id: u64) -> Self {
        self.tokens.push((token.to_owned(), user_id));
        self
    }

    /// Sets the rate limits.
    pub fn with_rate_limits(mut self, rate_limits: RateLimits) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// Sets the webhook.
    pub fn with_webhook(mut self, webhook: WebhookConfig) -> Self {
        self.webhook = Some(webhook);
        self
    }
}
