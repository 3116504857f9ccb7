//! The delivery headers GitLab sends, read from the request once.

use std::borrow::Cow;

use http::HeaderMap;

use crate::envelope::DeliveryMeta;

/// Header values longer than this are cut before they go into a message: they are only echoed
/// back to GitLab and into logs, and a real one is a UUID or a URL.
const MAX_HEADER_COPY: usize = 256;

/// The headers of a GitLab webhook delivery. Values that are not valid UTF-8 are treated as absent.
/// `Debug` never shows the token.
#[derive(Clone, Copy, Default)]
pub struct DeliveryHeaders<'a> {
    /// `X-Gitlab-Event`.
    pub event: Option<&'a str>,
    /// `X-Gitlab-Token`, as bytes, compared in constant time. Never logged.
    pub token: Option<&'a [u8]>,
    /// `X-Gitlab-Event-UUID`.
    pub event_uuid: Option<&'a str>,
    /// `X-Gitlab-Webhook-UUID`.
    pub webhook_uuid: Option<&'a str>,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    /// `X-Gitlab-Instance`.
    pub instance: Option<&'a str>,
    /// `webhook-id` (Standard Webhooks; GitLab sets it equal to `Idempotency-Key`).
    pub webhook_id: Option<&'a str>,
    /// `webhook-timestamp`: Unix seconds, signed with the body.
    pub webhook_timestamp: Option<&'a str>,
    /// `webhook-signature`: `v1,<base64>` entries. A hash, not a secret, but never logged.
    pub webhook_signature: Option<&'a str>,
}

impl std::fmt::Debug for DeliveryHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryHeaders")
            .field("event", &self.event)
            .field("token", &self.token.map(|_| "[redacted]"))
            .field("event_uuid", &self.event_uuid)
            .field("webhook_uuid", &self.webhook_uuid)
            .field("idempotency_key", &self.idempotency_key)
            .field("instance", &self.instance)
            .field("webhook_id", &self.webhook_id)
            .field("webhook_timestamp", &self.webhook_timestamp)
            .field("webhook_signature", &self.webhook_signature.map(|_| "[present]"))
            .finish()
    }
}

impl<'a> DeliveryHeaders<'a> {
    /// Reads the GitLab headers from a request's header map (names are case-insensitive).
    pub fn from_map(map: &'a HeaderMap) -> Self {
        let text = |name: &str| map.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        DeliveryHeaders {
            event: text("x-gitlab-event"),
            token: map.get("x-gitlab-token").map(|v| v.as_bytes()),
            event_uuid: text("x-gitlab-event-uuid"),
            webhook_uuid: text("x-gitlab-webhook-uuid"),
            idempotency_key: text("idempotency-key"),
            instance: text("x-gitlab-instance"),
            webhook_id: text("webhook-id"),
            webhook_timestamp: text("webhook-timestamp"),
            webhook_signature: text("webhook-signature"),
        }
    }

    /// `X-Gitlab-Event` as a log may show it: one of GitLab's event names (at most 64 characters of
    /// letters and spaces), else `"other"`. A header is whatever a client sends, and a log line
    /// must not become a channel for an unauthenticated client's 100 kB.
    pub fn event_for_log(&self) -> &'a str {
        match self.event {
            None => "-",
            Some(event)
                if event.len() <= 64
                    && event.ends_with(" Hook")
                    && event.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ') =>
            {
                event
            }
            Some(_) => "other",
        }
    }

    /// The headers the worker needs, for the envelope. The token is not among them.
    pub fn meta(&self) -> DeliveryMeta<'a> {
        let copy = |v: Option<&'a str>| v.map(|v| Cow::Borrowed(clip(v)));
        DeliveryMeta {
            event: copy(self.event),
            event_uuid: copy(self.event_uuid),
            webhook_uuid: copy(self.webhook_uuid),
            idempotency_key: copy(self.idempotency_key.or(self.webhook_id)),
            instance: copy(self.instance),
            texts_omitted: false,
        }
    }
}

fn clip(value: &str) -> &str {
    if value.len() <= MAX_HEADER_COPY {
        return value;
    }
    let mut end = MAX_HEADER_COPY;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}
