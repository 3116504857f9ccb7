//! The local AWS stack: a `moto` server on a loopback port, started by the test command
//! (`scripts/test.sh`), which exports its URL as `AWS_ENDPOINT_URL`. Clients are built from the
//! standard AWS configuration chain, so they find the endpoint the way the deployed functions
//! would find a real one; this module only refuses to run against anything but loopback.

use aws_config::{BehaviorVersion, SdkConfig};

/// The configuration every test client is built from.
#[derive(Clone)]
pub struct LocalAws {
    config: SdkConfig,
    endpoint: String,
}

impl LocalAws {
    /// Connects to the local stack named by `AWS_ENDPOINT_URL`.
    ///
    /// # Panics
    /// When `AWS_ENDPOINT_URL` is unset or not a loopback address: the tests must never reach a
    /// real AWS account or any other machine. Run them through `scripts/test.sh`.
    pub async fn connect() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
            "AWS_ENDPOINT_URL must point at the local moto server (got {endpoint:?}); run the tests with scripts/test.sh"
        );
        assert_eq!(
            std::env::var("AWS_EC2_METADATA_DISABLED").as_deref(),
            Ok("true"),
            "AWS_EC2_METADATA_DISABLED must be true so the SDK never calls the instance metadata address"
        );
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        LocalAws { config, endpoint }
    }

    /// The SDK configuration (endpoint, region and dummy credentials from the environment).
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The local stack's URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// An SQS client that goes through `endpoint` (a fault proxy) instead, with one attempt per
    /// call so that a failure shows at once.
    pub fn sqs_via(&self, endpoint: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.config)
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// A Secrets Manager client.
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config)
    }
}
