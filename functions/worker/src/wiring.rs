//! The one builder of the worker's dependencies, used by the Lambda's `main`, by `serve` and by the
//! test worlds: the GitLab and QALITA clients (one HTTP profile, GitLab's CA bundle), the engine,
//! and what the handler needs around it. Each caller only says where its tokens, store, queue and
//! clock come from.

use std::sync::Arc;
use std::time::Duration;

use qalita_gitlab_core::adapters::gitlab_http::{GitlabClient, GitlabClientError};
use qalita_gitlab_core::adapters::governor::Governed;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::{QalitaClient, QalitaClientError};
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::engine::{Engine, Ports};
use qalita_gitlab_core::ports::{Clock, EventQueue, LinkStore, Settings};

use crate::handler::Deps;

/// The most one GitLab or QALITA call of the worker may take: several calls per sync must fit in
/// the function's time-out (60 s) and the queue's visibility timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The worker's HTTP profile (the Lambda's and `serve`'s).
pub fn http_profile() -> HttpSettings {
    HttpSettings { total_timeout: CALL_TIMEOUT, ..HttpSettings::default() }
}

/// The tokens the clients send.
pub struct Tokens {
    /// GitLab's (scope `api`).
    pub gitlab: SecretString,
    /// QALITA's API token.
    pub qalita: SecretString,
}

/// A client that cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The GitLab client (its base URL, token or CA bundle).
    #[error("GitLab client: {0}")]
    Gitlab(#[source] GitlabClientError),
    /// The QALITA client (its base URL, token or endpoint paths).
    #[error("QALITA client: {0}")]
    Qalita(#[source] QalitaClientError),
}

/// The GitLab and QALITA clients of the configuration: `http` for both, with GitLab's CA bundle.
pub fn clients(
    config: &Config,
    tokens: Tokens,
    http: &HttpSettings,
) -> Result<(Arc<GitlabClient>, Arc<QalitaClient>), BuildError> {
    let gitlab = gitlab_client(config, tokens.gitlab, http)?;
    let qalita = QalitaClient::with_shape(
        &config.qalita.base_url,
        tokens.qalita,
        config.qalita.paths.clone(),
        config.qalita.shape.clone(),
        http,
    )
    .map_err(BuildError::Qalita)?;
    Ok((gitlab, Arc::new(qalita)))
}

/// The GitLab client of the configuration alone (with its CA bundle), for the calls that need no
/// QALITA (`hooks`, the token's rotation).
pub fn gitlab_client(
    config: &Config,
    token: SecretString,
    http: &HttpSettings,
) -> Result<Arc<GitlabClient>, BuildError> {
    let gitlab_settings = HttpSettings { ca_bundle: config.gitlab.ca_bundle.clone(), ..http.clone() };
    Ok(Arc::new(GitlabClient::new(&config.gitlab.base_url, token, &gitlab_settings).map_err(BuildError::Gitlab)?))
}

/// `gitlab` paced by the rate governor (`[gitlab.rate_limits]`), its creation budgets counted in
/// `counters` (the table), so that every worker, `serve` and the CLI share them.
pub fn governed(
    config: &Config,
    gitlab: Arc<GitlabClient>,
    counters: Arc<dyn Settings>,
    clock: Arc<dyn Clock>,
) -> Arc<Governed> {
    let seen = gitlab.rate_seen();
    Arc::new(Governed::new(gitlab, seen, counters, clock, config.gitlab.rate_limits.clone()))
}

/// Where the worker's state and events live, and its time.
pub struct Places {
    /// The link store.
    pub store: Arc<dyn LinkStore>,
    /// The event queue.
    pub queue: Arc<dyn EventQueue>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// The worker's dependencies: the clients of `config` with `tokens` over `http`, the engine on
    /// them, and `places`.
    pub fn build(config: Arc<Config>, tokens: Tokens, http: &HttpSettings, places: Places) -> Result<Deps, BuildError> {
        let (gitlab, qalita) = clients(&config, tokens, http)?;
        let admin = gitlab.clone();
        let gitlab = governed(&config, gitlab, places.store.clone(), places.clock.clone());
        Ok(Deps::over(config, gitlab, admin, qalita, places))
    }

    /// The worker's dependencies over clients built elsewhere (a test's own clients). The token
    /// is not rotated (see [`Deps::token_rotation`]).
    pub fn over(
        config: Arc<Config>,
        gitlab: Arc<dyn qalita_gitlab_core::ports::GitlabApi>,
        admin: Arc<dyn qalita_gitlab_core::ports::GitlabAdmin>,
        qalita: Arc<dyn qalita_gitlab_core::ports::QalitaApi>,
        places: Places,
    ) -> Deps {
        let Places { store, queue, clock } = places;
        let ports = Ports { gitlab, qalita: qalita.clone(), store: store.clone(), clock: clock.clone() };
        let engine = Engine::new(ports, config.clone());
        let credentials_refused = false.into();
        Deps {
            engine,
            qalita,
            queue,
            store,
            clock,
            config,
            credentials_refused,
            admin,
            token_rotation: None,
            max_receive_count: None,
            noted: Default::default(),
        }
    }
}
