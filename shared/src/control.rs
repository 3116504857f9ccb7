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
