//! What the local pipeline (`serve`, the demo) and the commands that open it (`--local DIR`)
//! agree on: where the database is, the names of the secrets, how long the log is kept, the paths
//! the endpoint answers, and the exit codes of `serve`. Written once, here.

use chrono::TimeDelta;

/// The database file in the data folder.
pub const DATABASE_FILE: &str = "qalita-gitlab.redb";

/// The secret id of the GitLab token (scope `api`): variable `QALITA_GITLAB_GITLAB_TOKEN`.
pub const GITLAB_TOKEN_ID: &str = "qalita-gitlab/gitlab-token";
/// The secret id of the QALITA API token: variable `QALITA_GITLAB_QALITA_TOKEN`.
pub const QALITA_TOKEN_ID: &str = "qalita-gitlab/qalita-token";
/// The secret id of the GitLab webhook secret: variable `QALITA_GITLAB_WEBHOOK_SECRET` (and
/// `QALITA_GITLAB_WEBHOOK_SECRET_PREVIOUS` during a rotation).
pub const WEBHOOK_SECRET_ID: &str = "qalita-gitlab/webhook-secret";
/// The secret id of the hook's signing token (`whsec_…`), needed when signatures are checked:
/// variable `QALITA_GITLAB_WEBHOOK_SIGNING_SECRET` (and `…_PREVIOUS` during a rotation).
pub const WEBHOOK_SIGNING_SECRET_ID: &str = "qalita-gitlab/webhook-signing-secret";
/// The secret id of the QALITA webhook's shared secret: variable
/// `QALITA_GITLAB_QALITA_WEBHOOK_SECRET` (and `…_PREVIOUS` during a rotation). Unset, the QALITA
/// route answers `404`.
pub const QALITA_WEBHOOK_SECRET_ID: &str = "qalita-gitlab/qalita-webhook-secret";

/// How long the integration log is kept (as the deployed table's TTL).
pub const LOG_TTL: TimeDelta = TimeDelta::days(90);

/// The path the deployed HTTP API routes to the webhook function (QALITA's own GitLab guide's).
pub const WEBHOOK_PATH: &str = "/api/v2/integrations/gitlab/webhook";
/// The path of QALITA's own webhook.
pub use qalita_gitlab_core::webhook::qalita::QALITA_WEBHOOK_PATH;
/// The health path.
pub const HEALTH_PATH: &str = "/healthz";
/// The path of the figures, in the Prometheus text format.
pub const METRICS_PATH: &str = "/metrics";

/// Exit code when `serve` cannot start (the configuration, a secret, the data folder, the address,
/// the TLS files): the code every command of the CLI gives for a usage or configuration error.
pub const EXIT_CANNOT_START: u8 = 2;
/// Exit code when the database failed in a way this process cannot repair, so that a supervisor
/// tells it from a crash (1): its file is gone, corrupted, or another process took it while it
/// was closed for a reopen. A storage failure that a reopen can fix (a full disk, freed later)
/// heals in the process and never ends it. An operator should look before a restart: a restart
/// would meet the same file (or, if it is gone, start on an empty one). Not 3, which the other
/// commands give for an unavailable remote service.
pub const EXIT_STORAGE_LOST: u8 = 4;

/// What `serve --demo` says in a build without the simulators.
pub const NO_DEMO: &str = "error: this build of qalita-gitlab has no demo: it was built without the `demo` feature \
     (the GitLab and QALITA simulators). Build it with the default features to run `serve --demo`, or run \
     `serve` against a real GitLab and QALITA.";
