//! The demo's world: a simulated GitLab (two projects, a data team) and a simulated QALITA (the
//! same people, four open data-quality issues), both on loopback ports in this process, and the
//! configuration and secrets that point `serve` at them.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use qalita_gitlab_core::adapters::gitlab_http::{GitlabClient, GitlabClientError};
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::SecretSource;
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, GitlabSim, SimConfig};
use qalita_gitlab_sims::qalita::QalitaSim;
use serde_json::{Value, json};

use crate::embedded::secrets::EnvSecrets;
use crate::local::{GITLAB_TOKEN_ID, QALITA_TOKEN_ID, WEBHOOK_SECRET_ID};

/// The simulated QALITA's API token (a demo value, not a secret).
pub const QALITA_TOKEN: &str = "qalita-demo-api-token";
/// The webhook secret the simulated GitLab's hook sends (a demo value, not a secret).
pub const WEBHOOK_SECRET: &str = "demo-webhook-secret";
/// Marie Durand's token in the simulated GitLab: she is the person who acts in GitLab.
pub const PERSON_TOKEN: &str = "test-token-demo-marie-durand";

/// A GitLab project of the demo.
#[derive(Debug, Clone, Copy)]
pub struct Project {
    /// Its id.
    pub id: u64,
    /// Its path.
    pub path: &'static str,
}

/// Where issues go by default.
pub const DATA_QUALITY: Project = Project { id: 42, path: "data/quality" };
/// Where the routing sends finance issues.
pub const FINANCE: Project = Project { id: 43, path: "finance/data-quality" };

/// A person of the data team: their QALITA user and their GitLab user.
struct Person {
    qalita_id: u64,
    login: &'static str,
    gitlab_id: u64,
    username: &'static str,
    name: &'static str,
}

const PEOPLE: [Person; 3] = [
    Person { qalita_id: 12, login: "m.durand", gitlab_id: 30, username: "mdurand", name: "Marie Durand" },
    Person { qalita_id: 13, login: "a.khan", gitlab_id: 31, username: "akhan", name: "Amir Khan" },
    Person { qalita_id: 14, login: "l.chen", gitlab_id: 32, username: "lchen", name: "Li Chen" },
];

/// One seeded QALITA issue.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    /// Its id.
    pub id: u64,
    /// Its title (the rule or metric).
    pub title: &'static str,
    /// The evidence.
    pub description: &'static str,
    /// The dataset.
    pub dataset: &'static str,
    /// The column, if the issue is about one.
    pub column: Option<&'static str>,
    /// The QALITA user it is assigned to.
    pub assignee: u64,
    /// Where the routing must send it.
    pub project: Project,
}

/// The four open issues QALITA starts with.
pub const SEEDS: [Seed; 4] = [
    Seed {
        id: 4821,
        title: "Invalid Latitude",
        description: "12.4% of rows in column `lat` are outside [-90, 90] (1,204 of 9,713 rows).",
        dataset: "billing.customer_sites",
        column: Some("lat"),
        assignee: 12,
        project: DATA_QUALITY,
    },
    Seed {
        id: 4822,
        title: "Freshness breach",
        description: "The last successful load was 31 h ago; the freshness objective is 24 h.",
        dataset: "sales.orders_daily",
        column: None,
        assignee: 13,
        project: DATA_QUALITY,
    },
    Seed {
        id: 4823,
        title: "Missing customer_id",
        description: "3.1% of rows (2,417 of 77,960) have no `customer_id`.",
        dataset: "crm.contacts",
        column: Some("customer_id"),
        assignee: 14,
        project: DATA_QUALITY,
    },
    Seed {
        id: 4824,
        title: "Duplicate invoice numbers",
        description: "17 invoice numbers appear on more than one invoice in March 2026.",
        dataset: "finance.invoices",
        column: Some("invoice_number"),
        assignee: 12,
        project: FINANCE,
    },
];

/// The simulators, seeded.
pub struct World {
    /// GitLab.
    pub gitlab: GitlabSim,
    /// QALITA.
    pub qalita: QalitaSim,
    /// When the seeds were raised: the demo's creation policy starts there, so the tenant's issues
    /// are new to the deployment (a real first deployment creates nothing for older ones).
    pub seeded_at: chrono::DateTime<chrono::Utc>,
}

impl World {
    /// Starts both simulators and seeds them.
    pub async fn start() -> World {
        let mut sim = SimConfig::default();
        for person in &PEOPLE {
            sim = sim.with_user(person.gitlab_id, person.username, person.name);
        }
        let gitlab = GitlabSim::start(sim.with_token(PERSON_TOKEN, PEOPLE[0].gitlab_id)).await;
        gitlab.add_project(DATA_QUALITY.id, DATA_QUALITY.path);
        gitlab.add_project(FINANCE.id, FINANCE.path);
        let qalita = QalitaSim::start(QALITA_TOKEN).await;
        for person in &PEOPLE {
            qalita.insert_user(json!({"id": person.qalita_id, "login": person.login, "name": person.name, "email": format!("{}@example.com", person.login)}));
        }
        let seeded_at = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
        for seed in &SEEDS {
            qalita.insert_issue(issue_json(seed, &qalita.url()));
        }
        World { gitlab, qalita, seeded_at }
    }

    /// The configuration document that points the sync at the simulators.
    pub fn config_document(&self) -> String {
        let assignees: String = PEOPLE.iter().map(|p| format!("\"{}\" = \"{}\"\n", p.login, p.username)).collect();
        format!(
            "[gitlab]\nbase_url = \"{gitlab}\"\ndefault_project = \"{default}\"\n\n[qalita]\nbase_url = \"{qalita}\"\n\n\
             [assignees]\n{assignees}\n[create]\ncreated_after = \"{seeded}\"\n\n[[routing]]\nname = \"finance\"\nscope = \"finance.*\"\nproject = \"{finance}\"\n",
            gitlab = self.gitlab.url(),
            default = DATA_QUALITY.path,
            qalita = self.qalita.url(),
            finance = FINANCE.path,
            seeded = self.seeded_at.to_rfc3339(),
        )
    }

    /// The three secrets, as `serve` reads them from the environment, given here without touching
    /// the process's environment.
    pub fn secrets() -> Arc<dyn SecretSource> {
        let values =
            [(GITLAB_TOKEN_ID, DEFAULT_TOKEN), (QALITA_TOKEN_ID, QALITA_TOKEN), (WEBHOOK_SECRET_ID, WEBHOOK_SECRET)]
                .map(|(id, value)| (EnvSecrets::variable(id), OsString::from(value)));
        Arc::new(EnvSecrets::with_lookup(move |variable| {
            values.iter().find(|(name, _)| name == variable).map(|(_, value)| value.clone())
        }))
    }

    /// GitLab's API as Marie Durand, a person (not the sync's token).
    pub fn person(&self) -> Result<GitlabClient, GitlabClientError> {
        let settings = HttpSettings { total_timeout: Duration::from_secs(5), ..HttpSettings::default() };
        GitlabClient::new(&self.gitlab.url(), SecretString::new(PERSON_TOKEN), &settings)
    }

    /// The display name of a QALITA user.
    pub fn name_of(qalita_id: u64) -> &'static str {
        PEOPLE.iter().find(|p| p.qalita_id == qalita_id).map_or("someone", |p| p.name)
    }

    /// The GitLab username of the person who acts in GitLab.
    pub fn person_username() -> &'static str {
        PEOPLE[0].username
    }
}

fn issue_json(seed: &Seed, qalita_url: &str) -> Value {
    let dataset = json!({"perimeter": "dataset", "value": seed.dataset});
    let scope = match seed.column {
        Some(column) => json!({"perimeter": "column", "value": column, "parent_scope": dataset}),
        None => dataset,
    };
    json!({
        "id": seed.id,
        "partner_id": 3,
        "title": seed.title,
        "description": seed.description,
        "status": "open",
        "source_id": 57,
        "assignee": seed.assignee,
        "scope": scope,
        "due_date": "2026-12-05",
        "author_id": seed.assignee,
        "updated_by": seed.assignee,
        "closed_by": null,
        "closed_at": null,
        "url": format!("{qalita_url}/home/data-management/issues/{}", seed.id),
    })
}
