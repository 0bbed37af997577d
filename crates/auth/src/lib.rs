//! Request authentication for Cairn.
//!
//! Module map:
//!
//! - [`sls`] — the SLS request signatures: verification of v1 (`LOG <id>:<sig>`) and v4
//!   (`SLS4-HMAC-SHA256 …`) exactly as the official SDKs compute them, in two phases (head,
//!   then body: [`verify_sls_head`], [`BodyCheck::verify_body`]) or in one ([`verify_sls`]),
//!   with the clock checked against the signed time only (v1 `Date`, v4 `x-log-date`); plus
//!   signing helpers for test suites and load generators;
//! - [`digest`] — HTTP Digest (RFC 7616 / RFC 2617, MD5 and MD5-sess, `qop=auth`) for the
//!   Atlas-compatible backup endpoints: HMAC-authenticated nonces, new for every challenge,
//!   credentials bound to the request target, and a bounded in-memory record of each nonce's
//!   highest nonce-count against replays;
//! - `encoding` (private) — percent-decoding and RFC 3986 encoding shared by both.
//!
//! Nothing here depends on an HTTP framework: callers hand over the method, the request target,
//! the headers as `(name, value)` string pairs and the body bytes, and map the errors (each has
//! a code and an HTTP status) onto their own responses.
//!
//! Secrets are looked up through [`SecretLookup`] per request and never stored in, or printed
//! by, any value of this crate.

use std::collections::{BTreeMap, HashMap};

pub mod digest;
mod encoding;
pub mod sls;

pub use digest::{DigestAuthority, DigestCredentials, DigestError};
pub use sls::{
    sign_v1, sign_v4, verify_sls, verify_sls_head, BodyCheck, Signer, SlsAuthError, SlsRequest,
};

/// Who a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id (SLS) or API public key (Digest user name).
    pub access_key_id: String,
}

/// Finds the secret of an access key id.
pub trait SecretLookup {
    /// The secret of `access_key_id`, if that id is known and enabled.
    fn secret(&self, access_key_id: &str) -> Option<String>;
}

impl SecretLookup for HashMap<String, String> {
    fn secret(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

impl SecretLookup for BTreeMap<String, String> {
    fn secret(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// Percent-decodes `s` as a URL path would be (`%XX` → byte, `+` stays `+`; malformed escapes
/// are kept literally; invalid UTF-8 is replaced).
pub fn percent_decode(s: &str) -> String {
    encoding::decode(s, false)
}

/// Decodes one key or value of a query string the way every SLS SDK encodes it: `%XX` escapes and
/// `+` for a space (form encoding; a literal `+` arrives as `%2B`).
pub fn decode_query_component(s: &str) -> String {
    encoding::decode(s, true)
}
