//! A small HTTP client for the simulator: a request with or without the dialect's credential, and
//! its answer read as JSON; the QALITA samples.

use qalita_gitlab_sims::qalita::{Dialect, QalitaSim};
use reqwest::Method;
use serde_json::{Value, json};

pub const TOKEN: &str = "qalita-token";

/// The issue of `fixtures/qalita/issue.json`, every field of QALITA's issue set.
pub fn fixture_issue() -> Value {
    fixture("issue.json")
}

/// The user of `fixtures/qalita/user.json`.
pub fn fixture_user() -> Value {
    fixture("user.json")
}

/// A source with every field of QALITA's source (no captured sample exists, so built here).
pub fn sample_source() -> Value {
    json!({
        "id": 57,
        "name": "billing.customer_sites",
        "type": "postgresql",
        "description": "Customer sites of the billing database",
        "owner_id": 12,
        "tags": ["domain:finance", "pii"],
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-11-02T10:30:00Z",
    })
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../fixtures/qalita/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap()
}

/// How a request proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The dialect's own header with the right token.
    Right,
    /// No credential at all.
    None,
    /// `Authorization: Bearer <right token>`.
    Bearer,
    /// `X-API-Key: <right token>`.
    ApiKey,
    /// The dialect's own header with a wrong token.
    Wrong,
}

/// An answer: status, `WWW-Authenticate`, and the body (JSON when it parses, `Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub authenticate: Option<String>,
    pub text: String,
    pub json: Value,
}

thread_local! {
    /// One client per test thread (and so per test runtime, whose connections it pools): building
    /// one per request costs more than the request.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

/// Sends a request with `credential` and a JSON body, and reads the answer.
pub async fn call(sim: &QalitaSim, method: &str, path: &str, credential: Credential, body: Option<&Value>) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = CLIENT.with(|client| client.request(method, format!("{}{path}", sim.url())));
    let (bearer, api_key) = match (credential, sim.dialect()) {
        (Credential::Right, Dialect::First) | (Credential::Bearer, _) => (Some(TOKEN), None),
        (Credential::Right, Dialect::Second) | (Credential::ApiKey, _) => (None, Some(TOKEN)),
        (Credential::Wrong, Dialect::First) => (Some("wrong"), None),
        (Credential::Wrong, Dialect::Second) => (None, Some("wrong")),
        (Credential::None, _) => (None, None),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(key) = api_key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let authenticate = response.headers().get("www-authenticate").map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
    Answer { status, authenticate, text, json }
}

/// `GET` with the right credential.
pub async fn get(sim: &QalitaSim, path: &str) -> Answer {
    call(sim, "GET", path, Credential::Right, None).await
}

/// The keys of a JSON object, sorted.
pub fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<_> =
        object.as_object().unwrap_or_else(|| panic!("not an object: {object}")).keys().cloned().collect();
    keys.sort();
    keys
}
