//! The operator's switch (`qalita-gitlab disable` / `enable`): while the integration is disabled,
//! the worker acknowledges every event and writes nothing, logging each as skipped. The switch is
//! kept in the store's settings ([`Settings::switch`]), so every worker reads the same one.

use crate::ports::{IntegrationSwitch, Settings, StoreError};

/// Whether the operator disabled the integration.
pub async fn is_disabled(store: &dyn Settings) -> Result<bool, StoreError> {
    Ok(store.switch().await? == IntegrationSwitch::Disabled)
}

/// Disables (`true`) or enables the integration.
pub async fn set_disabled(store: &dyn Settings, disabled: bool) -> Result<(), StoreError> {
    let position = match disabled {
        true => IntegrationSwitch::Disabled,
        false => IntegrationSwitch::Enabled,
    };
    store.set_switch(position).await
}

/// Why a scheduled run must not write: the integration is disabled, or the switch cannot be read
/// (then it is safer to wait for the next run). `None`: go ahead.
pub async fn held(store: &dyn Settings) -> Option<String> {
    match is_disabled(store).await {
        Ok(false) => None,
        Ok(true) => Some("the integration is disabled".into()),
        Err(error) => Some(format!("the integration switch is unreadable: {error}")),
    }
}
