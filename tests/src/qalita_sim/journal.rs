//! The record of every request the simulator received, without any header (so never the token):
//! what tests read to prove a call was made, or that none was, and what a write sent.

use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path, `/api/v2/issues/7`.
    pub path: String,
    /// The raw query string, when there is one.
    pub query: Option<String>,
    /// The body as text, when there was one (QALITA's API takes no secret in a body).
    pub body: Option<String>,
    /// The status answered; `None` while the answer is pending, or when the client left first.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The query's parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(query_pairs).unwrap_or_default()
    }

    /// The body as JSON, when there was one and it parses.
    pub fn json(&self) -> Option<Value> {
        self.body.as_deref().and_then(|body| serde_json::from_str(body).ok())
    }

    /// The first value of the query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }
}

/// Splits and decodes a query string (`a=1&b=x%20y`).
pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_split_and_decoded() {
        let pairs = query_pairs("offset=0&limit=5&sort=-created_at&q=a+b%2Fc&flag&bad=%zz");
        let expected =
            [("offset", "0"), ("limit", "5"), ("sort", "-created_at"), ("q", "a b/c"), ("flag", ""), ("bad", "%zz")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
}
