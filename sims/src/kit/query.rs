//! Query strings and form bodies as web frameworks read them: `&`-separated `key=value` pairs,
//! percent-decoded, `+` read as a space.

/// Splits and decodes a query string (`a=1&b=x%20y`); a pair without `=` has an empty value.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// Percent-decoding of a query or form component (`+` is a space); an invalid escape stays as
/// written, and invalid UTF-8 becomes U+FFFD.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.extend(u8::try_from(high * 16 + low).ok());
                i += 2;
            }
            (byte, _, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_split_and_decoded() {
        let pairs = pairs("offset=0&limit=5&sort=-created_at&q=a+b%2Fc&flag&bad=%zz");
        let expected =
            [("offset", "0"), ("limit", "5"), ("sort", "-created_at"), ("q", "a b/c"), ("flag", ""), ("bad", "%zz")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
}
