//! [`GitlabAdmin`] on the GitLab client: the project and group hooks APIs and the token's own record and
//! rotation, sent and classified as the sync's calls are. The rotation's answer holds the new
//! token: it is read into a [`SecretString`] at once and never quoted in an error.

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{GitlabClient, read};
use crate::domain::SecretString;
use crate::domain::hooks::{HookEvent, HookOwner, HookSettings, ProjectHook, RotatedToken, TokenRecord};
use crate::ports::{ApiError, GitlabAdmin};

/// GitLab's largest page.
const PER_PAGE: u32 = 100;

/// The body of a create or update: our URL and secret, the four events the sync reads, nothing
/// else, certificates checked; on a group, none of the group-only events (subgroups, members,
/// projects) either.
fn hook_body(owner: &HookOwner, settings: &HookSettings) -> serde_json::Value {
    let mut body = json!({
        "url": settings.url,
        "token": settings.token.expose(),
        "issues_events": true,
        "confidential_issues_events": true,
        "note_events": true,
        "confidential_note_events": true,
        "push_events": false,
        "merge_requests_events": false,
        "tag_push_events": false,
        "enable_ssl_verification": true,
    });
    if let (HookOwner::Group(_), Some(fields)) = (owner, body.as_object_mut()) {
        for event in ["subgroup_events", "member_events", "project_events"] {
            fields.insert(event.to_owned(), json!(false));
        }
    }
    body
}

#[async_trait]
impl GitlabAdmin for GitlabClient {
    async fn hooks(&self, owner: &HookOwner) -> Result<Vec<ProjectHook>, ApiError> {
        let mut hooks = Vec::new();
        let mut page = Some(1_u32);
        while let Some(number) = page {
            let request =
                self.request(Method::GET, &owner.hooks_path()).query(&[("page", number), ("per_page", PER_PAGE)]);
            let found = self.fetch_page::<ProjectHook>(request, None, "a list of hooks").await?;
            hooks.extend(found.items);
            page = found.next_page.filter(|next| *next > number);
        }
        Ok(hooks)
    }

    async fn hook_events(&self, owner: &HookOwner, hook_id: u64) -> Result<Vec<HookEvent>, ApiError> {
        let path = format!("{}/{hook_id}/events", owner.hooks_path());
        self.fetch(self.request(Method::GET, &path).query(&[("per_page", PER_PAGE)]), None, "a hook's events").await
    }

    async fn create_hook(&self, owner: &HookOwner, settings: &HookSettings) -> Result<ProjectHook, ApiError> {
        let request = self.request(Method::POST, &owner.hooks_path()).json(&hook_body(owner, settings));
        self.fetch(request, None, "the created hook").await
    }

    async fn update_hook(
        &self,
        owner: &HookOwner,
        hook_id: u64,
        settings: &HookSettings,
    ) -> Result<ProjectHook, ApiError> {
        let path = format!("{}/{hook_id}", owner.hooks_path());
        self.fetch(self.request(Method::PUT, &path).json(&hook_body(owner, settings)), None, "the updated hook").await
    }

    async fn delete_hook(&self, owner: &HookOwner, hook_id: u64) -> Result<(), ApiError> {
        let path = format!("{}/{hook_id}", owner.hooks_path());
        self.send(self.request(Method::DELETE, &path), Some(format!("hook {hook_id} of {} {owner}", owner.kind())))
            .await
            .map(drop)
    }

    async fn test_hook(&self, owner: &HookOwner, hook_id: u64, trigger: &str) -> Result<(), ApiError> {
        let path = format!("{}/{hook_id}/test/{trigger}", owner.hooks_path());
        self.send(self.request(Method::POST, &path), None).await.map(drop)
    }

    async fn token(&self) -> Result<TokenRecord, ApiError> {
        self.fetch(self.request(Method::GET, "/personal_access_tokens/self"), None, "the token's record").await
    }

    async fn rotate_token(&self, expires_at: Option<NaiveDate>) -> Result<RotatedToken, ApiError> {
        #[derive(Deserialize)]
        struct Rotated {
            #[serde(flatten)]
            record: TokenRecord,
            token: String,
        }
        let body = match expires_at {
            Some(day) => json!({ "expires_at": day.format("%Y-%m-%d").to_string() }),
            None => json!({}),
        };
        let request = self.request(Method::POST, "/personal_access_tokens/self/rotate").json(&body);
        let response = self.send(request, None).await?;
        let rotated: Rotated = read(response, "the rotated token").await?;
        Ok(RotatedToken { record: rotated.record, token: SecretString::new(rotated.token) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_body_asks_for_the_four_events_and_certificate_checks_only() {
        let owner = HookOwner::Project(crate::domain::gitlab::GitlabProjectRef::Path("data/quality".into()));
        let body = hook_body(
            &owner,
            &HookSettings { url: "https://x.example/hook".into(), token: SecretString::new("s3cret") },
        );
        for event in ["issues_events", "confidential_issues_events", "note_events", "confidential_note_events"] {
            assert_eq!(body[event], true, "{event}");
        }
        assert_eq!((body["push_events"].clone(), body["enable_ssl_verification"].clone()), (json!(false), json!(true)));
    }
}
