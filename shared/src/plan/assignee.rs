//! Whom an assignee maps to, both ways (DESIGN section 7), pure: which name to look up, and what
//! the answer means. The engine makes the one lookup these rules ask for.
//!
//! QALITA → GitLab: the link's earlier resolution while it still holds, else the explicit map
//! (`[assignees]`, by QALITA login or user id), else the GitLab user whose username is the QALITA
//! login. GitLab → QALITA: the link's earlier resolution, else the explicit map read backwards,
//! else the QALITA user whose login is the GitLab username. Nobody found leaves the other side's
//! assignee as it is, and the log says why.

use crate::config::Config;
use crate::domain::gitlab::GitlabUser;
use crate::domain::link::{LinkState, ResolvedAssignee};
use crate::domain::qalita::QalitaUser;
use crate::plan::inbound::AssigneeBack;
use crate::plan::outbound::AssigneeInput;

/// How an earlier resolution is named in the log.
const AS_BEFORE: &str = "as resolved before";

/// The link's earlier resolution of the QALITA assignee, if it still holds: the same QALITA user,
/// and the explicit map does not now name another GitLab user for their login.
pub fn cached(config: &Config, link: Option<&LinkState>, assignee: Option<u64>) -> Option<ResolvedAssignee> {
    link.and_then(|link| link.assignee.clone()).filter(|c| {
        Some(c.qalita_user) == assignee
            && c.login.as_ref().and_then(|l| config.assignees.get(l)).is_none_or(|mapped| *mapped == c.username)
    })
}

/// The owner and the planner's input an earlier resolution stands for, at no call.
pub fn from_cache(cached: &ResolvedAssignee) -> (QalitaUser, AssigneeInput) {
    let owner = QalitaUser { id: cached.qalita_user, login: cached.login.clone(), name: None, email: None };
    let user = GitlabUser { id: cached.gitlab_user, username: cached.username.clone(), name: String::new() };
    (owner, AssigneeInput::Found { user, how: AS_BEFORE.into() })
}

/// The GitLab username to look up for the QALITA assignee `assignee` (whose user `owner` was read),
/// and how it was chosen; or, when no lookup is needed or possible, the planner's input.
pub fn gitlab_username(
    config: &Config,
    assignee: Option<u64>,
    owner: Option<&QalitaUser>,
) -> Result<(String, String), AssigneeInput> {
    let Some(id) = assignee else { return Err(AssigneeInput::Unassigned) };
    let Some(owner) = owner else {
        return Err(AssigneeInput::NotFound { reason: format!("QALITA user {id} cannot be read") });
    };
    let login = owner.login.clone().unwrap_or_default();
    match config.assignees.get(&login).or_else(|| config.assignees.get(&id.to_string())) {
        Some(username) => Ok((username.clone(), format!("explicit map {login:?} → {username:?}"))),
        None if !login.is_empty() => Ok((login.clone(), format!("same username as QALITA login {login:?}"))),
        None => {
            Err(AssigneeInput::NotFound { reason: format!("QALITA user {id} has no login and no explicit mapping") })
        }
    }
}

/// What the GitLab lookup of `username` (chosen `how`) answered, as the planner's input.
pub fn gitlab_found(username: &str, how: String, found: Option<GitlabUser>) -> AssigneeInput {
    match found {
        Some(user) => AssigneeInput::Found { user, how },
        None => AssigneeInput::NotFound { reason: format!("no GitLab user {username:?} ({how})") },
    }
}

/// What the link records of a resolution made now: the QALITA owner and the GitLab user found.
pub fn resolution(assignee: &AssigneeInput, owner: Option<&QalitaUser>) -> Option<ResolvedAssignee> {
    match (assignee, owner) {
        (AssigneeInput::Found { user, .. }, Some(owner)) => Some(ResolvedAssignee {
            qalita_user: owner.id,
            login: owner.login.clone(),
            gitlab_user: user.id,
            username: user.username.clone(),
        }),
        _ => None,
    }
}

/// The QALITA login to look up for the GitLab user `user`, and how it was chosen; or, when no
/// lookup is needed or possible, the inbound planner's input.
pub fn qalita_login(config: &Config, link: &LinkState, user: &GitlabUser) -> Result<(String, String), AssigneeBack> {
    if let Some(cached) = link.assignee.as_ref().filter(|c| c.gitlab_user == user.id) {
        return Err(AssigneeBack::Found {
            user: cached.qalita_user,
            login: cached.login.clone(),
            how: AS_BEFORE.into(),
        });
    }
    if user.username.is_empty() {
        return Err(AssigneeBack::NotFound {
            reason: format!("the delivery names GitLab user {} by id only", user.id),
        });
    }
    match config.assignees.iter().find(|(_, username)| username.eq_ignore_ascii_case(&user.username)) {
        Some((login, username)) => {
            let how = format!("explicit map {login:?} → {username:?}");
            match login.parse::<u64>() {
                // The explicit map may name a QALITA user by id.
                Ok(id) => Err(AssigneeBack::Found { user: id, login: None, how }),
                Err(_) => Ok((login.clone(), how)),
            }
        }
        None => Ok((user.username.clone(), format!("same login as GitLab username {:?}", user.username))),
    }
}

/// What the QALITA lookup of `login` (chosen `how`) answered, as the inbound planner's input.
pub fn qalita_found(login: &str, how: String, found: Option<QalitaUser>) -> AssigneeBack {
    match found {
        Some(found) => AssigneeBack::Found { user: found.id, login: found.login, how },
        None => AssigneeBack::NotFound { reason: format!("no QALITA user with login {login:?} ({how})") },
    }
}

#[cfg(test)]
mod ownership;

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::QalitaIssueId;

    fn config(map: &[(&str, &str)]) -> Config {
        let text = "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n";
        let mut config = Config::from_document(text, |_| None).unwrap();
        config.assignees = map.iter().map(|(l, u)| ((*l).to_owned(), (*u).to_owned())).collect();
        config
    }

    fn owner(id: u64, login: Option<&str>) -> QalitaUser {
        QalitaUser { id, login: login.map(str::to_owned), name: None, email: None }
    }

    fn gitlab_user(id: u64, username: &str) -> GitlabUser {
        GitlabUser { id, username: username.into(), name: String::new() }
    }

    fn link_resolved(resolved: Option<ResolvedAssignee>) -> LinkState {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
        let mut link = LinkState::reserved(QalitaIssueId::new(1).unwrap(), "t".into(), at);
        link.assignee = resolved;
        link
    }

    fn resolved(login: &str, username: &str) -> ResolvedAssignee {
        ResolvedAssignee { qalita_user: 5, login: Some(login.into()), gitlab_user: 50, username: username.into() }
    }

    #[test]
    fn the_explicit_map_comes_before_the_same_username() {
        let c = config(&[("ana", "ana.lopez"), ("6", "bob")]);
        assert_eq!(gitlab_username(&c, Some(5), Some(&owner(5, Some("ana")))).unwrap().0, "ana.lopez");
        assert_eq!(gitlab_username(&c, Some(6), Some(&owner(6, None))).unwrap().0, "bob", "mapped by user id");
        assert_eq!(gitlab_username(&c, Some(7), Some(&owner(7, Some("carla")))).unwrap().0, "carla");
    }

    #[test]
    fn no_lookup_without_an_assignee_a_readable_owner_or_a_name() {
        let c = config(&[]);
        assert_eq!(gitlab_username(&c, None, None), Err(AssigneeInput::Unassigned));
        assert!(
            matches!(gitlab_username(&c, Some(5), None), Err(AssigneeInput::NotFound { reason }) if reason.contains("cannot be read"))
        );
        assert!(
            matches!(gitlab_username(&c, Some(5), Some(&owner(5, None))), Err(AssigneeInput::NotFound { reason }) if reason.contains("no login"))
        );
        assert!(
            matches!(gitlab_found("x", "how".into(), None), AssigneeInput::NotFound { reason } if reason.contains("\"x\""))
        );
    }

    #[test]
    fn an_earlier_resolution_holds_until_the_user_or_the_map_changes() {
        let link = link_resolved(Some(resolved("ana", "ana")));
        assert!(cached(&config(&[]), Some(&link), Some(5)).is_some());
        assert!(cached(&config(&[]), Some(&link), Some(6)).is_none(), "another QALITA user");
        assert!(cached(&config(&[("ana", "ana.lopez")]), Some(&link), Some(5)).is_none(), "the map now says otherwise");
        assert!(cached(&config(&[("ana", "ana")]), Some(&link), Some(5)).is_some());
        let (owner, input) = from_cache(&resolved("ana", "ana"));
        assert_eq!(owner.id, 5);
        assert_eq!(resolution(&input, Some(&owner)), Some(resolved("ana", "ana")));
        assert_eq!(resolution(&AssigneeInput::Unassigned, Some(&owner)), None);
    }

    #[test]
    fn back_to_qalita_the_map_is_read_backwards() {
        let c = config(&[("ana", "Ana.Lopez"), ("12", "bob")]);
        let link = link_resolved(None);
        assert_eq!(qalita_login(&c, &link, &gitlab_user(50, "ana.lopez")).unwrap().0, "ana", "case-insensitive");
        assert!(matches!(qalita_login(&c, &link, &gitlab_user(51, "bob")), Err(AssigneeBack::Found { user: 12, .. })));
        assert_eq!(qalita_login(&c, &link, &gitlab_user(52, "carla")).unwrap().0, "carla");
        assert!(matches!(qalita_login(&c, &link, &gitlab_user(53, "")), Err(AssigneeBack::NotFound { .. })));
        let cached = link_resolved(Some(resolved("ana", "ana.lopez")));
        assert!(matches!(
            qalita_login(&c, &cached, &gitlab_user(50, "ana.lopez")),
            Err(AssigneeBack::Found { user: 5, .. })
        ));
        assert!(matches!(qalita_found("zed", "how".into(), None), AssigneeBack::NotFound { .. }));
    }
}
