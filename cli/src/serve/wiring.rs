//! What the webhook function's and the worker's `main.rs` build at a cold start, built here from
//! the embedded adapters: the configuration (a file, the stored document, or the environment),
//! the secrets (each checked usable at start), the GitLab and QALITA clients and the handlers'
//! dependencies. The worker's are built again (tokens read again) after GitLab or QALITA refused a
//! token, as the Lambda does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;

use qalita_gitlab_core::ports::{Clock, SecretError, SecretSource, SecretStage, Settings};
use qalita_gitlab_core::webhook::qalita::QalitaRoute;
use qalita_gitlab_core::webhook::qalita::auth::{MIN_SECRET_CHARS, QalitaAuthenticator};
use qalita_gitlab_core::webhook::signature::SigningKey;
use qalita_gitlab_core::webhook::verify::{
    AuthMode, CachePolicy, DEFAULT_SIGNATURE_TOLERANCE, Signing, WebhookAuthenticator,
};
use qalita_gitlab_webhook::config::{DEFAULT_MAX_BODY_BYTES, qalita_route};
use qalita_gitlab_webhook::handler::QalitaDeps;
use qalita_gitlab_worker::handler::Deps;
use qalita_gitlab_worker::wiring::{self, BuildError, Places, Tokens};
use tokio::sync::RwLock;

use super::error::StartError;
use crate::embedded::queue::EmbeddedQueue;
use crate::embedded::secrets::{EnvSecrets, is_unset};
use crate::embedded::store::RedbLinkStore;

pub use crate::local::{
    GITLAB_TOKEN_ID, QALITA_TOKEN_ID, QALITA_WEBHOOK_SECRET_ID, WEBHOOK_SECRET_ID, WEBHOOK_SIGNING_SECRET_ID,
};

/// The least time between two rebuilds caused by a refused token (the worker Lambda's).
const REFRESH_AFTER_REFUSAL: Duration = Duration::from_secs(60);

/// Where the configuration document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFrom {
    /// A TOML file (`--config`).
    File(PathBuf),
    /// A document given in full (the demo, tests).
    Document(String),
    /// The document stored in the database by `config apply`; without one, the defaults and the
    /// environment (`GITLAB_BASE_URL`, `GITLAB_DEFAULT_PROJECT`, `QALITA_BASE_URL`), as the Lambda.
    Stored,
}

/// Reads and validates the configuration; returns it and where it came from, in words.
pub(crate) async fn load_config(
    from: &ConfigFrom,
    store: &RedbLinkStore,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<(Config, String), StartError> {
    let (document, origin, hint) = match from {
        ConfigFrom::File(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|source| StartError::ConfigFile { path: path.clone(), source })?;
            (text, format!("file {}", path.display()), "")
        }
        ConfigFrom::Document(text) => (text.clone(), "given".to_owned(), ""),
        ConfigFrom::Stored => match store.config_document().await.map_err(StartError::Store)? {
            Some(text) => (text, "stored in the database (by `config apply`)".to_owned(), ""),
            None => (
                String::new(),
                "from the environment (no --config, none stored)".to_owned(),
                " (give --config FILE, store one with `qalita-gitlab config apply FILE`, or set GITLAB_DEFAULT_PROJECT \
                 and QALITA_BASE_URL)",
            ),
        },
    };
    match Config::from_document(&document, env) {
        Ok(config) => Ok((config, origin)),
        Err(source) => Err(StartError::Config { origin, hint, source }),
    }
}

/// Where a secret is set, in words, for a message that asks to set it.
#[derive(Debug, Clone)]
pub(crate) enum SecretsPlace {
    /// Environment variables.
    Environment,
    /// The secrets file.
    File(PathBuf),
    /// A source given in code (tests, the demo).
    Given,
}

impl SecretsPlace {
    /// Where the secret `id` is set.
    pub fn of(&self, id: &str) -> String {
        match self {
            SecretsPlace::Environment => {
                format!("the environment variable {} (or give --secrets-file FILE)", EnvSecrets::variable(id))
            }
            SecretsPlace::File(path) => format!("the entry \"{id}\" of the secrets file {}", path.display()),
            SecretsPlace::Given => format!("the secret {id}"),
        }
    }
}

/// Reads the current value of a secret; `what` names it in the error. A value that is empty or
/// only whitespace is refused, whatever the source: no sender can present it.
async fn read_secret(
    secrets: &dyn SecretSource,
    id: &str,
    what: &'static str,
    (hint, place): (&'static str, &SecretsPlace),
) -> Result<SecretString, StartError> {
    match secrets.read(id, SecretStage::Current).await {
        Ok(Some(value)) if value.expose().trim().is_empty() => Err(StartError::Secret {
            what,
            hint,
            source: SecretError::Unreadable {
                id: id.to_owned(),
                class: "Empty".into(),
                message: format!("the value is empty or only whitespace: set {}", place.of(id)),
            },
        }),
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(StartError::Secret {
            what,
            hint,
            source: SecretError::Unreadable { id: id.to_owned(), class: "NotSet".into(), message: "no value".into() },
        }),
        Err(source) => Err(StartError::Secret { what, hint, source }),
    }
}

/// The adapters the handlers are built from.
#[derive(Clone)]
pub(crate) struct Wiring {
    pub config: Arc<Config>,
    pub secrets: Arc<dyn SecretSource>,
    /// Said after a secret that cannot be read: where secrets can be given.
    pub secrets_hint: &'static str,
    /// Where each secret is set.
    pub secrets_place: SecretsPlace,
    /// What authenticates a delivery.
    pub auth_mode: AuthMode,
    pub store: RedbLinkStore,
    pub queue: EmbeddedQueue,
    pub clock: Arc<dyn Clock>,
    /// The QALITA route's settings, when its secret is set ([`Self::qalita_webhook`]).
    pub qalita_route: Option<QalitaRoute>,
}

impl Wiring {
    /// Reads the current value of the secret `id`; `what` names it in the error.
    async fn secret(&self, id: &str, what: &'static str) -> Result<SecretString, StartError> {
        read_secret(self.secrets.as_ref(), id, what, (self.secrets_hint, &self.secrets_place)).await
    }

    /// The webhook function's dependencies: the queue and the token and signature checks.
    pub fn webhook_deps(&self) -> qalita_gitlab_webhook::handler::Deps {
        let auth = WebhookAuthenticator::new(
            self.secrets.clone(),
            WEBHOOK_SECRET_ID,
            self.clock.clone(),
            CachePolicy::default(),
        );
        let auth = match self.auth_mode {
            AuthMode::Token => auth,
            mode => auth.with_signing(Signing {
                mode,
                secret_id: WEBHOOK_SIGNING_SECRET_ID.to_owned(),
                tolerance: DEFAULT_SIGNATURE_TOLERANCE,
            }),
        };
        let qalita = self.qalita_route.clone().map(|route| QalitaDeps {
            auth: QalitaAuthenticator::new(
                self.secrets.clone(),
                QALITA_WEBHOOK_SECRET_ID,
                self.clock.clone(),
                CachePolicy::default(),
                &route,
            ),
            route,
        });
        qalita_gitlab_webhook::handler::Deps {
            queue: Arc::new(self.queue.clone()),
            auth,
            clock: self.clock.clone(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            qalita,
        }
    }

    /// The QALITA route's settings when its secret is set (`None`: the route answers `404`), read
    /// from the same `QALITA_WEBHOOK_*` variables as the Lambda function's. A secret that is set
    /// but cannot authenticate anything (blank, shorter than 16 characters) stops the start.
    pub async fn qalita_webhook(&self) -> Result<Option<QalitaRoute>, StartError> {
        let what = "QALITA webhook secret";
        let value = match self.secrets.read(QALITA_WEBHOOK_SECRET_ID, SecretStage::Current).await {
            Ok(None) => return Ok(None),
            Err(error) if is_unset(&error) => return Ok(None),
            Ok(Some(value)) => value,
            Err(source) => return Err(StartError::Secret { what, hint: self.secrets_hint, source }),
        };
        if value.expose().trim().chars().count() < MIN_SECRET_CHARS {
            return Err(StartError::UnusableSecret {
                what,
                id: QALITA_WEBHOOK_SECRET_ID,
                problem: format!("it is shorter than {MIN_SECRET_CHARS} characters"),
                place: self.secrets_place.of(QALITA_WEBHOOK_SECRET_ID),
            });
        }
        qalita_route(|key| std::env::var(key).ok()).map(Some).map_err(StartError::QalitaRoute)
    }

    /// Checks that the secrets the auth mode needs can be read and used (the webhook secret for a
    /// token, the signing secret for a signature), so that a missing, blank or malformed one stops
    /// the start rather than answering every delivery 503.
    pub async fn check_webhook_secret(&self) -> Result<(), StartError> {
        if matches!(self.auth_mode, AuthMode::Token | AuthMode::Both) {
            self.secret(WEBHOOK_SECRET_ID, "webhook secret").await?;
        }
        if matches!(self.auth_mode, AuthMode::Signature | AuthMode::Both) {
            let what = "webhook signing secret";
            let value = self.secret(WEBHOOK_SIGNING_SECRET_ID, what).await?;
            SigningKey::parse(value.expose()).map_err(|error| StartError::UnusableSecret {
                what,
                id: WEBHOOK_SIGNING_SECRET_ID,
                problem: error.to_string(),
                place: self.secrets_place.of(WEBHOOK_SIGNING_SECRET_ID),
            })?;
        }
        Ok(())
    }

    /// The worker's dependencies, with the tokens read now.
    pub async fn worker_deps(&self) -> Result<Deps, StartError> {
        let config = self.config.clone();
        let gitlab_token = self.secret(GITLAB_TOKEN_ID, "GitLab token").await?;
        let qalita_token = self.secret(QALITA_TOKEN_ID, "QALITA token").await?;
        // The worker Lambda's builder and HTTP profile: several calls per sync must fit in the
        // visibility timeout.
        let tokens = Tokens { gitlab: gitlab_token, qalita: qalita_token };
        let places = Places {
            store: Arc::new(self.store.clone()),
            queue: Arc::new(self.queue.clone()),
            clock: self.clock.clone(),
        };
        Deps::build(config, tokens, &wiring::http_profile(), places).map_err(|error| match error {
            BuildError::Gitlab(error) => StartError::Gitlab(error),
            BuildError::Qalita(error) => StartError::Qalita(error),
        })
    }
}

/// The worker's dependencies in use, rebuilt after a refused token.
pub(crate) struct CurrentDeps {
    wiring: Wiring,
    current: RwLock<(Arc<Deps>, Instant)>,
}

impl CurrentDeps {
    /// Builds the first dependencies.
    pub async fn build(wiring: Wiring) -> Result<Self, StartError> {
        let deps = Arc::new(wiring.worker_deps().await?);
        Ok(CurrentDeps { wiring, current: RwLock::new((deps, Instant::now())) })
    }

    /// The dependencies to use now.
    pub async fn get(&self) -> Arc<Deps> {
        self.current.read().await.0.clone()
    }

    /// After GitLab or QALITA refused a token: reads the secrets again (at most once a minute), so
    /// that a rotated token is picked up without a restart.
    pub async fn refresh_if_refused(&self) {
        let refused = self.current.read().await.0.credentials_refused.load(std::sync::atomic::Ordering::SeqCst);
        if !refused {
            return;
        }
        let mut guard = self.current.write().await;
        if guard.1.elapsed() < REFRESH_AFTER_REFUSAL {
            return;
        }
        match self.wiring.worker_deps().await {
            Ok(fresh) => {
                tracing::info!("a token was refused: the secrets were read again");
                *guard = (Arc::new(fresh), Instant::now());
            }
            Err(error) => {
                tracing::error!(error = %super::error::describe(&error), "a token was refused and the secrets could not be read again");
                guard.1 = Instant::now();
            }
        }
    }
}
