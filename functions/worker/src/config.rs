//! The worker function's settings, read from the environment once per cold start and validated
//! there, so that a mistake fails the first call with a message naming the variable (the webhook
//! function's `Config::from_lookup` is the model).

/// A setting that is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct SettingsError {
    /// The environment variable.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Where the worker's state, queue and tokens are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `SYNC_TABLE_NAME`: the DynamoDB table of links, cursors, the configuration and the log.
    pub table_name: String,
    /// `EVENT_QUEUE_URL`: the FIFO queue of change events (the poll queues there too).
    pub queue_url: String,
    /// `GITLAB_TOKEN_SECRET_ID`: the GitLab token's secret in Secrets Manager.
    pub gitlab_token_secret_id: String,
    /// `QALITA_TOKEN_SECRET_ID`: the QALITA token's secret in Secrets Manager.
    pub qalita_token_secret_id: String,
    /// `GITLAB_TOKEN_ROTATION` = `on`: the stack granted `PutSecretValue` on the GitLab token's
    /// secret, so `[gitlab] rotate_before_days` may rotate it (off when unset).
    pub token_rotation: bool,
    /// `MAX_RECEIVE_COUNT` (optional): the queue's `maxReceiveCount`, so that the metrics count a
    /// message failing on its last receive as dead-lettered.
    pub max_receive_count: Option<u32>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let required = |key: &'static str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SettingsError { key, problem: "is not set".into() })
        };
        Ok(Settings {
            table_name: required("SYNC_TABLE_NAME")?,
            queue_url: required("EVENT_QUEUE_URL")?,
            gitlab_token_secret_id: required("GITLAB_TOKEN_SECRET_ID")?,
            qalita_token_secret_id: required("QALITA_TOKEN_SECRET_ID")?,
            token_rotation: match lookup("GITLAB_TOKEN_ROTATION").as_deref().map(str::trim) {
                None | Some("" | "off") => false,
                Some("on") => true,
                Some(other) => {
                    return Err(SettingsError {
                        key: "GITLAB_TOKEN_ROTATION",
                        problem: format!("must be on or off, got {other:?}"),
                    });
                }
            },
            max_receive_count: match lookup("MAX_RECEIVE_COUNT").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
            {
                None => None,
                Some(text) => Some(text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| SettingsError {
                    key: "MAX_RECEIVE_COUNT",
                    problem: format!("{text:?} is not a positive whole number"),
                })?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |key| map.get(key).cloned()
    }

    const ALL: [(&str, &str); 4] = [
        ("SYNC_TABLE_NAME", " stack-sync "),
        ("EVENT_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/stack-events.fifo"),
        ("GITLAB_TOKEN_SECRET_ID", "stack/gitlab-token"),
        ("QALITA_TOKEN_SECRET_ID", "stack/qalita-token"),
    ];

    #[test]
    fn every_setting_is_read_and_trimmed() {
        let settings = Settings::from_lookup(env(&ALL)).unwrap();
        assert_eq!(settings.table_name, "stack-sync");
        assert_eq!(settings.qalita_token_secret_id, "stack/qalita-token");
        assert_eq!(settings.max_receive_count, None);
    }

    #[test]
    fn the_max_receive_count_is_optional_and_must_be_a_positive_number() {
        let mut set = ALL.to_vec();
        set.push(("MAX_RECEIVE_COUNT", " 5 "));
        assert_eq!(Settings::from_lookup(env(&set)).unwrap().max_receive_count, Some(5));
        set.pop();
        set.push(("MAX_RECEIVE_COUNT", "0"));
        assert_eq!(Settings::from_lookup(env(&set)).unwrap_err().key, "MAX_RECEIVE_COUNT");
    }

    #[test]
    fn token_rotation_is_off_unless_the_stack_says_on() {
        assert!(!Settings::from_lookup(env(&ALL)).unwrap().token_rotation);
        let mut on = ALL.to_vec();
        on.push(("GITLAB_TOKEN_ROTATION", "on"));
        assert!(Settings::from_lookup(env(&on)).unwrap().token_rotation);
        let last = on.len() - 1;
        on[last] = ("GITLAB_TOKEN_ROTATION", "yes");
        assert_eq!(Settings::from_lookup(env(&on)).unwrap_err().key, "GITLAB_TOKEN_ROTATION");
    }

    #[test]
    fn a_missing_or_blank_setting_is_named() {
        for (index, (key, _)) in ALL.iter().enumerate() {
            let mut missing = ALL.to_vec();
            missing.remove(index);
            assert_eq!(Settings::from_lookup(env(&missing)).unwrap_err().key, *key);
            let mut blank = ALL.to_vec();
            blank[index] = (key, "  ");
            let error = Settings::from_lookup(env(&blank)).unwrap_err();
            assert_eq!(error.to_string(), format!("configuration: {key}: is not set"));
        }
    }
}
