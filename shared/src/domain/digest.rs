//! The one way a SHA-256 digest is written in this workspace: `sha256:<64 lowercase hex digits>`,
//! used for deduplication ids and for the digests of long texts kept in links.

use sha2::{Digest, Sha256};

/// The value recorded for a long text: its digest, so that the link item stays small.
pub fn text_digest(text: &str) -> String {
    sha256_tagged(text.as_bytes())
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    push_hex(&mut out, bytes);
    out
}

/// The 64 lowercase hex digits of the SHA-256 of `bytes`, appended to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in Sha256::digest(bytes) {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_abc_is_the_published_test_vector() {
        assert_eq!(sha256_tagged(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
