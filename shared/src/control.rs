//! The operator's switch (`qalita-gitlab disable` / `enable`): while the integration is disabled,
//! the worker acknowledges every event and writes nothing, logging each as skipped. The switch is
//! a cursor of the link store, so every worker reads the same one.

use crate::ports::{LinkStore, StoreError};

/// The cursor holding the switch: `disabled`, or `enabled` (the same as absent).
pub const STATE_CURSOR: &str = "integration-state";

/// Whether the operator disabled the integration.
pub async fn is_disabled(store: &dyn LinkStore) -> Result<bool, StoreError> {
    Ok(store.cursor(STATE_CURSOR).await?.is_some_and(|state| state == "disabled"))
}

/// Disables (`true`) or enables the integration.
pub async fn set_disabled(store: &dyn LinkStore, disabled: bool) -> Result<(), StoreError> {
    store.set_cursor(STATE_CURSOR, if disabled { "disabled" } else { "enabled" }).await
}

/// Why a scheduled run must not write: the integration is disabled, or the switch cannot be read
/// (then it is safer to wait for the next run). `None`: go ahead.
pub async fn held(store: &dyn LinkStore) -> Option<String> {
    match is_disabled(store).await {
        Ok(false) => None,
        Ok(true) => Some("the integration is disabled".into()),
        Err(error) => Some(format!("the integration switch is unreadable: {error}")),
    }
}
