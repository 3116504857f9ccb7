//! Secrets from AWS Secrets Manager. A secret holds the value itself as its `SecretString`; a new
//! value is put as the secret's current version.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;

use super::aws_error::classify;
use crate::domain::SecretString;
use crate::ports::{SecretError, SecretSource, SecretStage, SecretStore};

/// Reads secrets by name or ARN.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    /// A reader through `client` (whose endpoint comes from the AWS config).
    pub fn new(client: Client) -> Self {
        SecretsManager { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn read(&self, id: &str, stage: SecretStage) -> Result<Option<SecretString>, SecretError> {
        let result = self.client.get_secret_value().secret_id(id).version_stage(stage.label()).send().await;
        match result {
            Ok(output) => match output.secret_string {
                Some(value) => Ok(Some(SecretString::new(value))),
                None => Err(SecretError::Unreadable {
                    id: id.to_owned(),
                    class: "NotAString".into(),
                    message: "the secret holds binary data, not a string".into(),
                }),
            },
            // Before the first rotation there is no AWSPREVIOUS version: that is not an error.
            Err(SdkError::ServiceError(e))
                if stage == SecretStage::Previous && e.err().is_resource_not_found_exception() =>
            {
                Ok(None)
            }
            Err(error) => {
                let classified = classify(&error);
                match classified.transient {
                    true => Err(SecretError::Unavailable { class: classified.class, source: Box::new(error) }),
                    false => Err(SecretError::Unreadable {
                        id: id.to_owned(),
                        class: classified.class,
                        message: classified.message,
                    }),
                }
            }
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn put(&self, id: &str, value: &SecretString) -> Result<(), SecretError> {
        let result = self.client.put_secret_value().secret_id(id).secret_string(value.expose()).send().await;
        result.map(drop).map_err(|error| {
            let classified = classify(&error);
            match classified.transient {
                true => SecretError::Unavailable { class: classified.class, source: Box::new(error) },
                false => {
                    SecretError::Unreadable { id: id.to_owned(), class: classified.class, message: classified.message }
                }
            }
        })
    }
}
