//! Cold start: read the settings, build the AWS clients and adapters once, then serve deliveries
//! (writing each invocation's figures as an EMF line).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_http::{Error, LambdaEvent, Request, service_fn};
use qalita_gitlab_core::adapters::{secrets_manager::SecretsManager, sqs::SqsQueue};
use qalita_gitlab_core::ports::SystemClock;
use qalita_gitlab_webhook::config::Config;
use qalita_gitlab_webhook::event::answer;
use qalita_gitlab_webhook::handler::{Deps, QalitaDeps, handle};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    qalita_gitlab_core::logs::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Said plainly (not as a Debug dump), so the operator sees which variable to fix.
            tracing::error!(error = %error, "cold start failed");
            return Err(error.to_string().into());
        }
    };

    // GitLab gives up after 10 s and counts that as a failure: keep every AWS call well inside it.
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    let clock = Arc::new(SystemClock);
    let secrets = Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(&aws)));
    let qalita =
        config.qalita_authenticator(secrets.clone(), clock.clone()).map(|(auth, route)| QalitaDeps { auth, route });
    let deps = Deps {
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.queue_url.clone())),
        auth: config.authenticator(secrets, clock.clone()),
        clock,
        max_body_bytes: config.max_body_bytes,
        qalita,
    };
    let deps = &deps;
    // The raw event, not `lambda_http::run`: its conversion panics on some events (a body marked
    // base64 that does not decode, …), and the release build aborts on a panic. The edge answers
    // those `400` and converts the rest exactly as lambda_http does.
    let handler = move |request: Request| async move { Ok::<_, Infallible>(handle(deps, request).await) };
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answered = answer(service_fn(handler), event).await;
        // The invocation's figures, as one EMF line, once its answer is made.
        qalita_gitlab_core::metrics::emf::flush();
        answered.map_err(Error::from)
    }))
    .await
}
