//! The health gauges, set by the scheduled run from the records it keeps ([`crate::health`]):
//! each configured project's hook, how many are not executable, and the token's days left. A
//! project whose hook was never checked, and a token that never expires, set no gauge: unknown is
//! not zero.

use chrono::{DateTime, Utc};

use super::{Figure, Registry};
use crate::domain::gitlab::GitlabProjectRef;
use crate::health::{self, HookState};
use crate::ports::{Settings, StoreError};

/// Sets the health gauges of `registry` from the records of `projects` and of the token, at `now`.
pub async fn record(
    registry: &Registry,
    store: &dyn Settings,
    projects: &[GitlabProjectRef],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut not_executable = 0u32;
    let mut checked = 0u32;
    for project in projects {
        let Some(hook) = health::hook(store, &project.into()).await? else { continue };
        checked += 1;
        let executable = hook.state == HookState::Executable;
        if !executable {
            not_executable += 1;
        }
        registry.set(Figure::HookExecutable(project.to_string()), if executable { 1.0 } else { 0.0 });
    }
    if checked > 0 {
        registry.set(Figure::HooksNotExecutable, f64::from(not_executable));
    }
    if let Some(days) = health::token(store).await?.and_then(|token| token.days_left(now)) {
        registry.set(Figure::TokenDaysLeft, days as f64);
    }
    Ok(())
}

/// [`record`] into the process's registry; a store that cannot be read is logged, not an error
/// of the run.
pub async fn record_global(store: &dyn Settings, projects: &[GitlabProjectRef], now: DateTime<Utc>) {
    if let Err(error) = record(super::global(), store, projects, now).await {
        tracing::warn!(error = %error, "health records unreadable; the health gauges are not set this run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_store::MemoryLinkStore;
    use crate::health::{HookHealth, TokenHealth};
    use crate::metrics::Flushed;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn hook(project: &str, state: HookState) -> HookHealth {
        HookHealth {
            project: project.into(),
            checked_at: at("2026-12-02T10:00:00Z"),
            hook_id: Some(1),
            state,
            disabled_until: None,
            last_heal: None,
        }
    }

    #[tokio::test]
    async fn the_gauges_say_what_the_records_say_and_nothing_of_what_was_never_checked() {
        let store = MemoryLinkStore::default();
        let (a, b, never) = (
            GitlabProjectRef::parse("data/a").unwrap(),
            GitlabProjectRef::parse("data/b").unwrap(),
            GitlabProjectRef::parse("data/never").unwrap(),
        );
        health::set_hook(&store, &(&a).into(), &hook("data/a", HookState::Executable)).await.unwrap();
        health::set_hook(&store, &(&b).into(), &hook("data/b", HookState::Disabled)).await.unwrap();
        let token = TokenHealth {
            checked_at: at("2026-12-02T10:00:00Z"),
            expires_at: Some(at("2026-12-12T00:00:00Z")),
            rotated_at: None,
            problem: None,
        };
        health::set_token(&store, &token).await.unwrap();
        let registry = Registry::new();

        record(&registry, &store, &[a, b, never], at("2026-12-02T10:00:00Z")).await.unwrap();

        let flushed = registry.take();
        assert_eq!(
            flushed,
            vec![
                (Figure::HookExecutable("data/a".into()), Flushed::Value(1.0)),
                (Figure::HookExecutable("data/b".into()), Flushed::Value(0.0)),
                (Figure::HooksNotExecutable, Flushed::Value(1.0)),
                (Figure::TokenDaysLeft, Flushed::Value(9.0)),
            ]
        );
    }
}
