//! Request authentication for Cairn.
//!
//! - [`sls`] — SLS signatures v1 and v4 (verification, and signing for clients and tests);
//! - [`digest`] — HTTP Digest (RFC 7616, MD5, `qop=auth`) for the Atlas-compatible endpoints.
//!
//! Nothing here depends on an HTTP framework; callers pass strings and bytes.

pub mod digest;
pub mod sls;

pub use digest::{DigestAuthority, DigestError};
pub use sls::{sign_v1, sign_v4, verify_sls, SlsAuthError, SlsRequest};

/// Who a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id.
    pub access_key_id: String,
}

/// Finds the secret of an access key id.
pub trait SecretLookup {
    /// The secret, if the id is known.
    fn secret(&self, access_key_id: &str) -> Option<String>;
}

/// Percent-decodes `s` (`+` stays `+`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
