//! The configuration document: defaults, a full document, and one error per kind of mistake.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "GITLAB_DEFAULT_PROJECT" => Some("data/quality".into()),
        "QALITA_BASE_URL" => Some("https://qalita.example.com".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn an_empty_document_takes_the_defaults_and_the_environment() {
    let config = Config::from_document("", env).unwrap();
    assert_eq!(config.gitlab.base_url, "https://gitlab.com");
    assert_eq!(config.gitlab.default_project.to_string(), "data/quality");
    assert_eq!(config.qalita.base_url, "https://qalita.example.com");
    assert_eq!(config.mapping.title.to_string(), DEFAULT_TITLE);
    assert_eq!(config.mapping.muted_label, "ignored");
    assert_eq!(config.ownership, Ownership::default());
    assert_eq!(config.ownership.assignee, Owner::Qalita, "the assignee syncs one way, QALITA → GitLab");
    assert_eq!(config.ownership.status, Owner::Both);
    assert_eq!(config.link_back, LinkBackMode::Comment, "the GitLab URL is written back as a comment");
    assert!(config.sync.recreate_if_deleted);
    assert_eq!(config.sync.comment_sweep_per_run, 50);
    assert_eq!((config.sync.on_regression, config.sync.new_issue_after_days), (OnRegression::Reopen, 30));
    assert_eq!(config.status.meaning("Active"), Some(crate::domain::sync::Status::Open));
    assert_eq!(config.status.meaning(" RESOLVED "), Some(crate::domain::sync::Status::Resolved));
    assert_eq!(config.status.meaning("Ignored"), Some(crate::domain::sync::Status::Muted));
    assert_eq!(config.status.meaning("weird"), None);
}

#[test]
fn a_full_document_is_read() {
    let text = r#"
        [gitlab]
        base_url = "https://gitlab.example.com/gitlab/"
        default_project = 42
        [qalita]
        base_url = "http://qalita.local:3080"
        [mapping]
        title = "{rule} on {dataset}"
        labels = ["dq", "sev::{severity}"]
        muted_label = "wontfix"
        [status]
        open = ["Open", "Active", "New"]
        [assignees]
        "m.durand" = "marie"
        [[routing]]
        name = "billing"
        domain = "billing"
        project = "finance/billing-data"
        confidential = true
        [[routing]]
        severity = "high"
        project = 7
        [ownership]
        title = "both"
        assignee = "both"
        [link_back]
        mode = "none"
        [sync]
        recreate_if_deleted = false
        backoff_min_seconds = 2
        poll_page_size = 50
        comment_sweep_per_run = 200
        on_regression = "new_issue"
        new_issue_after_days = 14
    "#;
    let config = Config::from_document(text, no_env).unwrap();
    assert_eq!(config.gitlab.base_url, "https://gitlab.example.com/gitlab");
    assert_eq!(config.gitlab.default_project.to_string(), "42");
    assert_eq!(config.mapping.labels.len(), 2);
    assert_eq!(config.status.meaning("new"), Some(crate::domain::sync::Status::Open));
    assert_eq!(config.assignees["m.durand"], "marie");
    assert_eq!(config.routing[0].project.to_string(), "finance/billing-data");
    assert!(config.routing[0].confidential);
    assert_eq!(config.routing[1].project.to_string(), "7");
    assert_eq!(config.ownership.title, Owner::Both);
    assert_eq!(config.ownership.description, Owner::Qalita);
    assert_eq!(config.ownership.assignee, Owner::Both);
    assert_eq!(config.link_back, LinkBackMode::None);
    assert!(!config.sync.recreate_if_deleted);
    assert_eq!(config.sync.backoff_min, Duration::from_secs(2));
    assert_eq!(config.sync.poll_page_size, 50);
    assert_eq!(config.sync.comment_sweep_per_run, 200);
    assert_eq!((config.sync.on_regression, config.sync.new_issue_after_days), (OnRegression::NewIssue, 14));
}

#[test]
fn the_projects_written_to_are_the_default_then_each_routed_one_once() {
    let text = r#"
        [gitlab]
        default_project = "data/quality"
        [qalita]
        base_url = "http://qalita.local:3080"
        [[routing]]
        domain = "billing"
        project = "finance/billing"
        [[routing]]
        severity = "high"
        project = "data/quality"
        [[routing]]
        source = "crm"
        project = 7
    "#;
    let config = Config::from_document(text, no_env).unwrap();
    let projects: Vec<String> = config.projects().iter().map(ToString::to_string).collect();
    assert_eq!(projects, ["data/quality", "finance/billing", "7"]);
}

#[test]
fn each_mistake_names_its_key() {
    let cases: &[(&str, &str)] = &[
        ("", "configuration: gitlab.default_project: is not set (nor GITLAB_DEFAULT_PROJECT)"),
        (
            "[gitlab]\ndefault_project = \"flat\"",
            "configuration: gitlab.default_project: \"flat\" is not a GitLab project: give its numeric id or its full path (group/subgroup/project)",
        ),
        (
            "[gitlab]\ndefault_project = 1\nbase_url = \"gitlab.com\"\n[qalita]\nbase_url = \"https://q\"",
            "configuration: gitlab.base_url: must be an http(s) URL without a query, got \"gitlab.com\"",
        ),
        ("[gitlab]\ndefault_project = 1", "configuration: qalita.base_url: is not set (nor QALITA_BASE_URL)"),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[mapping]\ntitle = \"{rulez}\"",
            "configuration: mapping.title: unknown placeholder {rulez} (known: dataset, rule, severity, domain, source, status, owner, evidence, qalita_url, issue_id, due_date, scope)",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[mapping]\nlabels = [\"a,b\"]",
            "configuration: mapping.labels[0]: a GitLab label cannot contain a comma",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[status]\nmuted = [\"open\"]",
            "configuration: status.muted: \"open\" is also listed in status.open",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[[routing]]\nproject = 3",
            "configuration: routing[0]: has no condition (domain, source, scope, owner or severity): it would catch every issue; set gitlab.default_project instead",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[[routing]]\ndomain = \"x\"\nproject = \"nope\"",
            "configuration: routing[0]: \"nope\" is not a GitLab project: give its numeric id or its full path (group/subgroup/project)",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[sync]\nbackoff_min_seconds = 0",
            "configuration: sync.backoff_min_seconds: must be between 1 and 3600 seconds, got 0",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[link_back]\nmode = \"note\"",
            "configuration: link_back.mode: must be \"comment\" or \"none\", got \"note\"",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[sync]\ncomment_sweep_per_run = 0",
            "configuration: sync.comment_sweep_per_run: must be between 1 and 1000, got 0",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[sync]\non_regression = \"recreate\"",
            "configuration: sync.on_regression: must be \"reopen\" or \"new_issue\", got \"recreate\"",
        ),
        (
            "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[sync]\nnew_issue_after_days = 0",
            "configuration: sync.new_issue_after_days: must be between 1 and 3650, got 0",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Config::from_document(text, no_env).unwrap_err().to_string(), *expected, "{text}");
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    let error = Config::from_document("[gitlab]\ndefualt_project = 1", no_env).unwrap_err();
    assert!(error.to_string().contains("unknown field `defualt_project`"), "{error}");
    let error = Config::from_document("[sync]\nrecreate_if_deleted = \"yes\"", no_env).unwrap_err();
    assert!(matches!(error, ConfigError::Syntax(_)), "{error}");
}

#[test]
fn qalita_paths_and_verbs_are_configurable_and_checked() {
    let text = "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[qalita.paths]\nget_issue = \"GET /api/v3/issues/{id}\"\nlist_extra_query = [[\"sort\", \"-created_at\"]]";
    let config = Config::from_document(text, no_env).unwrap();
    assert_eq!(config.qalita.paths.get_issue.path.as_str(), "/api/v3/issues/{id}");
    assert_eq!(config.qalita.paths.list_extra_query, [("sort".to_string(), "-created_at".to_string())]);
    let bad = "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n[qalita.paths]\nget_issue = \"GET /api/v2/issues\"";
    let error = Config::from_document(bad, no_env).unwrap_err().to_string();
    assert!(error.starts_with("configuration: qalita.paths: "), "{error}");
}

#[test]
fn a_base_url_with_credentials_is_refused_without_showing_them() {
    let document = "[gitlab]\nbase_url = \"https://bot:test-token-secret-value@gitlab.example.com\"\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"";
    let error = Config::from_document(document, |_| None).unwrap_err().to_string();
    assert!(error.contains("gitlab.base_url") && error.contains("credentials"), "{error}");
    assert!(!error.contains("test-token-secret-value"), "{error}");
}

#[test]
fn the_qalita_shape_sections_are_read_and_default_to_the_built_in_shape() {
    let base = "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n";
    assert_eq!(Config::from_document(base, no_env).unwrap().qalita.shape, QalitaShape::default());
    let text = format!(
        "{base}[qalita.auth]\nheader = \"X-API-Key\"\n[qalita.fields]\nassignee = \"/assignee_id\"\n\
         [qalita.write]\ncomment_text = \"text\"\n[qalita.paging]\nstyle = \"page\"\nitems = \"/data\"\ntotal = \"/total\"\n\
         [qalita.not_found]\nstatuses = [404]"
    );
    let shape = Config::from_document(&text, no_env).unwrap().qalita.shape;
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("X-API-Key", None));
    assert_eq!(shape.fields.assignee.pointers()[0].as_str(), "/assignee_id");
    assert_eq!(shape.write.comment_text, "text");
    assert_eq!(shape.paging.style, qalita_shape::PagingStyle::Page);
    assert!(!shape.not_found.means_not_found(204) && shape.not_found.means_not_found(404));
}

#[test]
fn each_qalita_shape_mistake_fails_the_start_naming_its_key() {
    let base = "[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q\"\n";
    let cases = [
        (
            "[qalita.fields]\nassignee = \"assignee\"",
            "configuration: qalita.fields.assignee: \"assignee\" is not a JSON pointer",
        ),
        ("[qalita.fields.comment]\nid = 7", "configuration: qalita.fields.comment.id: "),
        ("[qalita.auth]\nheader = \"\"", "configuration: qalita.auth.header: \"\" is not an HTTP header name"),
        ("[qalita.write]\nstatus = \"\"", "configuration: qalita.write.status: must not be empty"),
        ("[qalita.paging]\nitems = \"items\"", "configuration: qalita.paging.items: \"items\" is not a JSON pointer"),
        ("[qalita.paging]\nfirst_page = 5", "configuration: qalita.paging.first_page: must be 0 or 1, got 5"),
        (
            "[qalita.not_found]\nstatuses = [200]",
            "configuration: qalita.not_found.statuses: can hold only 204 and 404, got 200",
        ),
        ("[qalita.paging]\nsize = 10", "configuration: qalita.paging.size: unknown field `size`"),
    ];
    for (section, expected) in cases {
        let error = Config::from_document(&format!("{base}{section}"), no_env).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{section}: {error}");
    }
}

#[test]
fn token_rotation_is_off_by_default_and_its_lead_time_is_1_to_30_days() {
    assert_eq!(Config::from_document("", env).unwrap().gitlab.rotate_before_days, None);
    let on = Config::from_document("[gitlab]\nrotate_before_days = 10\n", env).unwrap();
    assert_eq!(on.gitlab.rotate_before_days, Some(10));
    for wrong in ["0", "31", "-2"] {
        let error = Config::from_document(&format!("[gitlab]\nrotate_before_days = {wrong}\n"), env).unwrap_err();
        assert!(error.to_string().contains("gitlab.rotate_before_days: must be 1 to 30"), "{error}");
    }
}

#[test]
fn the_webhook_group_is_off_by_default_and_is_a_group_id_or_path() {
    assert_eq!(Config::from_document("", env).unwrap().gitlab.webhook_group, None);
    let by_path = Config::from_document("[gitlab]\nwebhook_group = \"data\"\n", env).unwrap();
    assert_eq!(by_path.gitlab.webhook_group.map(|group| group.to_string()).as_deref(), Some("data"));
    let by_id = Config::from_document("[gitlab]\nwebhook_group = 12\n", env).unwrap();
    assert_eq!(by_id.gitlab.webhook_group.map(|group| group.to_string()).as_deref(), Some("12"));
    for wrong in ["\"\"", "\"data//x\"", "0", "true"] {
        let error = Config::from_document(&format!("[gitlab]\nwebhook_group = {wrong}\n"), env).unwrap_err();
        assert!(error.to_string().contains("gitlab.webhook_group"), "{wrong}: {error}");
    }
}
