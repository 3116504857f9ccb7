//! The GitLab calls that administer the service itself rather than sync: the project hooks the
//! service registers and heals, and the token's own record and rotation.

use async_trait::async_trait;
use chrono::NaiveDate;

use super::ApiError;
use crate::domain::hooks::{HookEvent, HookOwner, HookSettings, ProjectHook, RotatedToken, TokenRecord};

/// GitLab's hooks and token administration. Errors are classified as [`super::GitlabApi`]'s are:
/// 429 and 5xx are [`ApiError::Transient`] (the test endpoint allows 5 calls a minute per project or group),
/// 401, 403 (a project's hooks need Maintainer, a group's Owner), 404 and 422 (a failed test delivery) are
/// [`ApiError::Permanent`]. No error and no `Debug` shows a token or a hook's secret.
#[async_trait]
pub trait GitlabAdmin: Send + Sync {
    /// Every hook of the project or group (all pages; a project's list never shows its groups' hooks).
    async fn hooks(&self, owner: &HookOwner) -> Result<Vec<ProjectHook>, ApiError>;

    /// The hook's latest deliveries (one page of 100, newest first); a 404 on a GitLab older than
    /// 17.1, which has no such list.
    async fn hook_events(&self, owner: &HookOwner, hook_id: u64) -> Result<Vec<HookEvent>, ApiError>;

    /// Registers a hook with `settings`; GitLab answers it.
    async fn create_hook(&self, owner: &HookOwner, settings: &HookSettings) -> Result<ProjectHook, ApiError>;

    /// Sets the hook `hook_id` to `settings`.
    async fn update_hook(
        &self,
        owner: &HookOwner,
        hook_id: u64,
        settings: &HookSettings,
    ) -> Result<ProjectHook, ApiError>;

    /// Deletes the hook `hook_id`.
    async fn delete_hook(&self, owner: &HookOwner, hook_id: u64) -> Result<(), ApiError>;

    /// Asks GitLab for a test delivery of `trigger` (`issues_events`): `Ok` when the receiver
    /// answered 2xx, which re-enables a disabled hook; a failed delivery is a 422.
    async fn test_hook(&self, owner: &HookOwner, hook_id: u64, trigger: &str) -> Result<(), ApiError>;

    /// The token's own record.
    async fn token(&self) -> Result<TokenRecord, ApiError>;

    /// Rotates the token: GitLab revokes it at once and answers the new one, expiring on
    /// `expires_at` (GitLab's default: a week).
    async fn rotate_token(&self, expires_at: Option<NaiveDate>) -> Result<RotatedToken, ApiError>;
}
