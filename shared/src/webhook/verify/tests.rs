//! The authenticator over an in-memory secret store and a manual clock: each mode, each refusal,
//! unusable secrets, rotation of the signing secret.

use chrono::{TimeZone, Utc};
use http::HeaderMap;

use super::*;
use crate::adapters::memory::{ManualClock, MemorySecrets};
use crate::webhook::signature::SigningKey;

const TOKEN_ID: &str = "webhook-secret";
const SIGNING_ID: &str = "webhook-signing-secret";
const TOKEN: &str = "wh-token-5b1e";
const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_KEY: &str = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=";
const BODY: &[u8] = br#"{"object_kind":"issue"}"#;
const ID: &str = "0f8a4c3e-6d2b-4f1a-9e7c-5b3d2a1f0e9d";

struct World {
    secrets: Arc<MemorySecrets>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    let secrets = Arc::new(MemorySecrets::new());
    secrets.put(TOKEN_ID, TOKEN);
    secrets.put(SIGNING_ID, KEY);
    World { secrets, clock: Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap())) }
}

fn auth(w: &World, mode: AuthMode) -> WebhookAuthenticator {
    let auth = WebhookAuthenticator::new(w.secrets.clone(), TOKEN_ID, w.clock.clone(), CachePolicy::default());
    match mode {
        AuthMode::Token => auth,
        mode => {
            auth.with_signing(Signing { mode, secret_id: SIGNING_ID.into(), tolerance: DEFAULT_SIGNATURE_TOLERANCE })
        }
    }
}

/// Headers as GitLab sends them: the token if given, and a signature by `key` if given.
fn headers(w: &World, token: Option<&str>, key: Option<&str>, body: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(token) = token {
        map.insert("x-gitlab-token", token.parse().unwrap());
    }
    if let Some(key) = key {
        let timestamp = w.clock.now().timestamp().to_string();
        let signature = SigningKey::parse(key).unwrap().sign(ID, &timestamp, body);
        map.insert("webhook-id", ID.parse().unwrap());
        map.insert("idempotency-key", ID.parse().unwrap());
        map.insert("webhook-timestamp", timestamp.parse().unwrap());
        map.insert("webhook-signature", signature.parse().unwrap());
    }
    map
}

async fn verdict(auth: &WebhookAuthenticator, map: &HeaderMap, body: &[u8]) -> Verdict {
    auth.check(&DeliveryHeaders::from_map(map), body).await.unwrap()
}

const OK: Verdict = Verdict::Accepted { previous: false };

#[tokio::test]
async fn in_token_mode_only_the_token_counts() {
    let w = world();
    let auth = auth(&w, AuthMode::Token);
    assert_eq!(verdict(&auth, &headers(&w, Some(TOKEN), None, BODY), BODY).await, OK);
    assert_eq!(
        verdict(&auth, &headers(&w, None, Some(KEY), BODY), BODY).await,
        Verdict::Rejected(Rejection::MissingToken)
    );
    assert_eq!(
        verdict(&auth, &headers(&w, Some("nope"), None, BODY), BODY).await,
        Verdict::Rejected(Rejection::WrongToken)
    );
}

#[tokio::test]
async fn in_signature_mode_the_signature_of_the_exact_body_counts_and_no_token_is_needed() {
    let w = world();
    let auth = auth(&w, AuthMode::Signature);
    assert_eq!(verdict(&auth, &headers(&w, None, Some(KEY), BODY), BODY).await, OK);
    let tampered = br#"{"object_kind":"issue" }"#;
    assert_eq!(
        verdict(&auth, &headers(&w, None, Some(KEY), BODY), tampered).await,
        Verdict::Rejected(Rejection::WrongSignature),
        "one byte changed"
    );
    assert_eq!(
        verdict(&auth, &headers(&w, Some(TOKEN), None, BODY), BODY).await,
        Verdict::Rejected(Rejection::MissingSignature),
        "a token alone is not enough"
    );
    assert_eq!(
        verdict(&auth, &headers(&w, None, Some(NEW_KEY), BODY), BODY).await,
        Verdict::Rejected(Rejection::WrongSignature),
        "signed with another key"
    );
}

#[tokio::test]
async fn in_both_mode_each_proof_is_required() {
    let w = world();
    let auth = auth(&w, AuthMode::Both);
    assert_eq!(verdict(&auth, &headers(&w, Some(TOKEN), Some(KEY), BODY), BODY).await, OK);
    assert_eq!(
        verdict(&auth, &headers(&w, None, Some(KEY), BODY), BODY).await,
        Verdict::Rejected(Rejection::MissingToken)
    );
    assert_eq!(
        verdict(&auth, &headers(&w, Some(TOKEN), None, BODY), BODY).await,
        Verdict::Rejected(Rejection::MissingSignature)
    );
}

#[tokio::test]
async fn a_replay_outside_the_window_is_refused_from_the_headers_alone() {
    let w = world();
    let auth = auth(&w, AuthMode::Signature);
    let map = headers(&w, None, Some(KEY), BODY);
    w.clock.advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    let header_verdict = auth.check_headers(&DeliveryHeaders::from_map(&map)).await.unwrap();
    assert_eq!(header_verdict, Verdict::Rejected(Rejection::StaleTimestamp));
    assert_eq!(verdict(&auth, &map, BODY).await, Verdict::Rejected(Rejection::StaleTimestamp));

    let mut unreadable = headers(&w, None, Some(KEY), BODY);
    unreadable.insert("webhook-timestamp", "yesterday".parse().unwrap());
    assert_eq!(verdict(&auth, &unreadable, BODY).await, Verdict::Rejected(Rejection::UnreadableTimestamp));
}

#[tokio::test]
async fn while_the_signing_secret_rotates_both_keys_verify_and_the_old_one_is_flagged() {
    let w = world();
    let auth = auth(&w, AuthMode::Signature);
    assert_eq!(verdict(&auth, &headers(&w, None, Some(KEY), BODY), BODY).await, OK);
    w.secrets.put(SIGNING_ID, NEW_KEY);
    // The new key is unknown to the cache: the mismatch re-reads the secret once.
    assert_eq!(verdict(&auth, &headers(&w, None, Some(NEW_KEY), BODY), BODY).await, OK);
    assert_eq!(verdict(&auth, &headers(&w, None, Some(KEY), BODY), BODY).await, Verdict::Accepted { previous: true });
}

#[tokio::test]
async fn a_secret_that_is_only_whitespace_is_refused_and_never_matches_an_empty_token() {
    for blank in ["", "   ", " \n", "\t\r\n"] {
        let w = world();
        w.secrets.put(TOKEN_ID, blank);
        let auth = auth(&w, AuthMode::Token);
        let mut map = HeaderMap::new();
        map.insert("x-gitlab-token", "".parse().unwrap());
        let error = auth.check(&DeliveryHeaders::from_map(&map), BODY).await.unwrap_err();
        assert!(error.to_string().contains("empty or only whitespace"), "{blank:?}: {error}");
        map.insert("x-gitlab-token", "   ".parse().unwrap());
        assert!(auth.check(&DeliveryHeaders::from_map(&map), BODY).await.is_err(), "{blank:?}");
    }
}

#[tokio::test]
async fn a_token_secret_emptied_after_a_good_read_keeps_the_good_value_and_still_refuses_empty_tokens() {
    let w = world();
    let auth = auth(&w, AuthMode::Token);
    assert_eq!(verdict(&auth, &headers(&w, Some(TOKEN), None, BODY), BODY).await, OK);
    w.secrets.put(TOKEN_ID, "  ");
    w.clock.advance(TimeDelta::minutes(6));
    assert_eq!(verdict(&auth, &headers(&w, Some(TOKEN), None, BODY), BODY).await, OK);
    assert_eq!(
        verdict(&auth, &headers(&w, Some(""), None, BODY), BODY).await,
        Verdict::Rejected(Rejection::WrongToken)
    );
}

#[tokio::test]
async fn an_unusable_signing_secret_is_an_error_naming_the_problem_not_a_match() {
    for (value, problem) in
        [("  ", "empty"), ("unset", "not whsec_<base64>"), ("whsec_c2hvcnQ=", "shorter than 16 bytes")]
    {
        let w = world();
        w.secrets.put(SIGNING_ID, value);
        let auth = auth(&w, AuthMode::Signature);
        let error =
            auth.check(&DeliveryHeaders::from_map(&headers(&w, None, Some(KEY), BODY)), BODY).await.unwrap_err();
        assert!(error.to_string().contains(problem), "{value:?}: {error}");
        assert!(!error.to_string().contains(value.trim()) || value.trim().is_empty(), "the value is not echoed");
    }
}

#[test]
fn the_mode_words_read_back() {
    for mode in [AuthMode::Token, AuthMode::Signature, AuthMode::Both] {
        assert_eq!(AuthMode::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(AuthMode::parse(" Both "), Some(AuthMode::Both));
    assert_eq!(AuthMode::parse("hmac"), None);
}
