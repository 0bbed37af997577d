//! HTTP Digest authentication, server side, as the Atlas Admin API uses it: realm
//! `MMS Public API`, algorithm MD5 (MD5-sess accepted too), `qop=auth`; user name = API public
//! key (access key id), password = private key (secret).
//!
//! ```text
//! HA1      = MD5(username ":" realm ":" password)        (MD5-sess: MD5(HA1 ":" nonce ":" cnonce))
//! HA2      = MD5(method ":" uri)                         (uri exactly as in the header)
//! response = MD5(HA1 ":" nonce ":" nc ":" cnonce ":auth:" HA2)
//! ```
//!
//! # Nonces
//!
//! A nonce is `<unix time>:<16 hex digits>:<32 hex digits>`: its issue time, 64 random bits
//! (so every challenge has its own nonce, even within one second) and the first 16 bytes of
//! HMAC-SHA256(server secret, `<unix time>:<random part>`). Any node holding the server secret
//! can check one; a nonce with a wrong MAC is [`DigestError::InvalidNonce`]. A genuine nonce
//! older than the nonce lifetime (default [`NONCE_TTL_SECS`]) or more than a minute in the
//! future is stale.
//!
//! # Nonce counts
//!
//! Each accepted request must carry a higher `nc` than every earlier accepted request with the
//! same nonce; a non-increasing one is [`DigestError::NonceCountReused`] (a replay). curl
//! (`--digest`) answers every challenge with `nc=00000001` on a fresh nonce; python-requests'
//! `HTTPDigestAuth` keeps the nonce and counts up. The authority remembers, per nonce, the
//! highest `nc` it accepted, in memory shared by its clones:
//!
//! - only after the rest of the credentials verified (the response is right, the nonce genuine
//!   and not stale), so unauthenticated requests add nothing;
//! - an entry is dropped once its nonce is past its lifetime;
//! - at most [`MAX_TRACKED_NONCES`] entries (see [`DigestAuthority::with_nonce_cap`]). When a
//!   new nonce does not fit, the entries with the oldest issue time are dropped, and from then
//!   on every nonce issued at or before the newest dropped issue time is stale, so its count can
//!   never be replayed; a client is re-challenged and retries with a fresh nonce.
//!
//! Entries are forgotten by issue time: once those issued at or before some time are dropped
//! (by expiry or by the cap), every nonce issued at or before it is stale from then on, even if
//! the clock passed to the checks goes back.
//!
//! Stale nonces and reused counts are reported only when the rest of the response is right,
//! and both are answered with `stale=true` (RFC 7616: the response is valid, the nonce is not),
//! so that genuine clients retry with the fresh nonce of the challenge without asking for the
//! password again.
//!
//! # Parsing
//!
//! The header's parameters are RFC 7235 auth-params (`name=token` or `name="quoted string"`,
//! separated by commas); names are tokens compared case-insensitively, and a name that appears
//! twice makes the header [`DigestError::Malformed`]. Unknown parameters are ignored.
//!
//! Not done: `qop=auth-int`; the SHA-256 algorithms; `userhash`. Credentials without `qop`
//! (RFC 2069) are refused since the challenge always offers `qop="auth"`.
//!
//! [`DigestAuthority::verify`] checks the response over the `uri` field as sent; a server
//! serving a request uses [`DigestAuthority::verify_for_target`], which also requires that
//! `uri` names the request being served.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::encoding::constant_time_eq;
use crate::{Principal, SecretLookup};

/// Realm announced in challenges and required in credentials.
pub const REALM: &str = "MMS Public API";
/// Default lifetime of a nonce, in seconds.
pub const NONCE_TTL_SECS: i64 = 300;
/// Default number of nonces whose highest nonce-count is remembered.
pub const MAX_TRACKED_NONCES: usize = 100_000;
/// How far in the future a nonce's time may be (clock differences between nodes).
const NONCE_FUTURE_SLACK_SECS: i64 = 60;

/// Why a Digest `Authorization` was refused. Messages never contain passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `Authorization`, or one of another scheme.
    #[error("this resource requires HTTP Digest authentication")]
    Missing,
    /// Unparsable or incomplete credentials, or an unsupported algorithm or qop.
    #[error("malformed Digest credentials: {0}")]
    Malformed(String),
    /// The user name is not a known API key.
    #[error("unknown API key {0:?}")]
    UnknownUser(String),
    /// The response does not match (wrong private key, method, uri or realm).
    #[error("the Digest response does not match")]
    BadResponse,
    /// The nonce was issued by this server but has expired; challenge again with `stale=true`.
    #[error("the Digest nonce is stale")]
    StaleNonce,
    /// The nonce was not issued by this server (tampered, or another server secret).
    #[error("the Digest nonce was not issued by this server")]
    InvalidNonce,
    /// The credentials are valid for another request target than the one being served.
    #[error("the Digest uri does not match the request")]
    UriMismatch,
    /// The nonce-count is not higher than one already accepted with this nonce: a replayed
    /// request. Challenge again with `stale=true`.
    #[error("the Digest nonce count was already used with this nonce")]
    NonceCountReused,
}

impl DigestError {
    /// Whether the 401 challenge should say `stale=true`: the response was right, but its nonce
    /// cannot be used for this request (expired, forgotten, or its count already used).
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::StaleNonce | Self::NonceCountReused)
    }
}

/// The fields of an `Authorization: Digest …` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestCredentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`: the request target the client digested.
    pub uri: String,
    /// `response`: the hex digest.
    pub response: String,
    /// `algorithm`, if sent.
    pub algorithm: Option<String>,
    /// `qop`, if sent.
    pub qop: Option<String>,
    /// `nc`, if sent.
    pub nc: Option<String>,
    /// `cnonce`, if sent.
    pub cnonce: Option<String>,
    /// `opaque`, if sent.
    pub opaque: Option<String>,
}

impl DigestCredentials {
    /// Parses an `Authorization` value. [`DigestError::Missing`] when it is not a Digest one,
    /// [`DigestError::Malformed`] when a required field is absent.
    pub fn parse(authorization: &str) -> Result<Self, DigestError> {
        let value = authorization.trim();
        let (scheme, rest) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::Missing);
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let need =
            |name: &str| get(name).ok_or_else(|| DigestError::Malformed(format!("missing {name}")));
        Ok(Self {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm: get("algorithm"),
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
            opaque: get("opaque"),
        })
    }
}

/// Parses `name=token` / `name="quoted"` pairs separated by commas (RFC 7235 auth-params).
/// Names must be tokens and may not repeat (compared case-insensitively).
fn parse_params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let malformed = |what: &str| DigestError::Malformed(what.to_string());
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(malformed("a parameter name is not a token"));
        }
        if out
            .iter()
            .any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(&name))
        {
            return Err(DigestError::Malformed(format!(
                "parameter {name} appears more than once"
            )));
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(malformed("expected name=value pairs"));
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or_else(|| malformed("bad escape"))?),
                    Some(c) => value.push(c),
                    None => return Err(malformed("unterminated quoted string")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim_end().to_string();
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some(',') => {}
            Some(_) => return Err(malformed("expected a comma between parameters")),
        }
        out.push((name, value));
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Issues challenges and checks Digest credentials. Holds the server secret that
/// authenticates nonces (its `Debug` output leaves that secret out) and the record of nonce
/// counts, which clones share.
#[derive(Clone)]
pub struct DigestAuthority {
    key: Vec<u8>,
    nonce_ttl_secs: i64,
    counts: Arc<Mutex<NonceCounts>>,
}

impl fmt::Debug for DigestAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuthority")
            .field("nonce_ttl_secs", &self.nonce_ttl_secs)
            .finish_non_exhaustive()
    }
}

/// A nonce this server issued: its issue time and random part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct NonceId {
    issued: i64,
    salt: u64,
}

/// The highest accepted nonce-count per nonce (see "Nonce counts" in the module documentation).
#[derive(Debug)]
struct NonceCounts {
    /// Ordered by issue time, so expiry and eviction take from the front.
    highest: BTreeMap<NonceId, u32>,
    /// Every nonce issued at or before this time is stale: its entry may have been dropped.
    forgotten_through: i64,
    cap: usize,
}

impl NonceCounts {
    fn new(cap: usize) -> Self {
        Self {
            highest: BTreeMap::new(),
            forgotten_through: i64::MIN,
            cap: cap.max(1),
        }
    }

    /// Drops every entry issued at or before `t`; nonces issued then are stale from now on.
    fn forget_through(&mut self, t: i64) {
        if t <= self.forgotten_through {
            return;
        }
        self.forgotten_through = t;
        self.highest = match t.checked_add(1) {
            Some(next) => self.highest.split_off(&NonceId {
                issued: next,
                salt: 0,
            }),
            None => BTreeMap::new(),
        };
    }

    /// Accepts `nc` for `nonce` if it is higher than every count accepted for it before.
    fn accept(
        &mut self,
        nonce: NonceId,
        nc: u32,
        now_unix: i64,
        ttl: i64,
    ) -> Result<(), DigestError> {
        // Nonces issued before now − ttl are past their lifetime.
        self.forget_through(now_unix.saturating_sub(ttl).saturating_sub(1));
        if nonce.issued <= self.forgotten_through {
            return Err(DigestError::StaleNonce);
        }
        if let Some(seen) = self.highest.get_mut(&nonce) {
            if nc <= *seen {
                return Err(DigestError::NonceCountReused);
            }
            *seen = nc;
            return Ok(());
        }
        while self.highest.len() >= self.cap {
            let oldest = self.highest.keys().next().map_or(i64::MAX, |k| k.issued);
            // The new nonce would be the oldest entry: forget it rather than a newer one.
            self.forget_through(oldest.min(nonce.issued));
            if nonce.issued <= self.forgotten_through {
                return Err(DigestError::StaleNonce);
            }
        }
        self.highest.insert(nonce, nc);
        Ok(())
    }
}

impl DigestAuthority {
    /// An authority with `server_secret` (random bytes, the same on every node that checks).
    pub fn new(server_secret: &[u8]) -> Self {
        Self {
            key: server_secret.to_vec(),
            nonce_ttl_secs: NONCE_TTL_SECS,
            counts: Arc::new(Mutex::new(NonceCounts::new(MAX_TRACKED_NONCES))),
        }
    }

    /// An authority with a fresh random 32-byte secret (nonces die with the process).
    pub fn random() -> Self {
        Self::new(&rand::random::<[u8; 32]>())
    }

    /// Sets the nonce lifetime.
    pub fn with_nonce_ttl(mut self, secs: i64) -> Self {
        self.nonce_ttl_secs = secs;
        self
    }

    /// Sets how many nonces' counts are remembered at most (default [`MAX_TRACKED_NONCES`],
    /// at least 1), with an empty record.
    pub fn with_nonce_cap(mut self, cap: usize) -> Self {
        self.counts = Arc::new(Mutex::new(NonceCounts::new(cap)));
        self
    }

    /// The MAC part of the nonce `<time>:<salt>:…`, over those two parts as written.
    fn nonce_mac(&self, time: &str, salt: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(format!("{time}:{salt}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A new nonce issued at `now_unix`; every call gives another one.
    pub fn nonce(&self, now_unix: i64) -> String {
        let salt = format!("{:016x}", rand::random::<u64>());
        let time = now_unix.to_string();
        let mac = self.nonce_mac(&time, &salt);
        format!("{time}:{salt}:{mac}")
    }

    /// The `WWW-Authenticate` value of a 401, with a new nonce issued at `now_unix`.
    pub fn challenge(&self, now_unix: i64, stale: bool) -> String {
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{}\", algorithm=MD5, qop=\"auth\", stale={stale}",
            self.nonce(now_unix)
        )
    }

    /// Which nonce `nonce` is, if this server made it.
    fn nonce_id(&self, nonce: &str) -> Result<NonceId, DigestError> {
        let mut parts = nonce.split(':');
        let (Some(t), Some(salt), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DigestError::InvalidNonce);
        };
        if !constant_time_eq(self.nonce_mac(t, salt).as_bytes(), mac.as_bytes()) {
            return Err(DigestError::InvalidNonce);
        }
        // Only nonces this server made get here: a decimal time and 16 hex digits.
        let issued: i64 = t.parse().map_err(|_| DigestError::InvalidNonce)?;
        if salt.len() != 16 || !salt.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::InvalidNonce);
        }
        let salt = u64::from_str_radix(salt, 16).map_err(|_| DigestError::InvalidNonce)?;
        Ok(NonceId { issued, salt })
    }

    /// Verifies an `Authorization: Digest …` value for a request with `method`, at server time
    /// `now_unix`, and records its nonce count. The response is checked over the `uri` field as
    /// sent.
    pub fn verify(
        &self,
        method: &str,
        authorization: &str,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
        let c = DigestCredentials::parse(authorization)?;
        self.verify_credentials(method, &c, keys, now_unix)
    }

    /// Like [`verify`](Self::verify), and also requires the digested `uri` to be
    /// `request_target` (path and query as received), or an absolute URI with that path and
    /// query. This is the check for serving a request.
    pub fn verify_for_target(
        &self,
        method: &str,
        request_target: &str,
        authorization: &str,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
        let c = DigestCredentials::parse(authorization)?;
        let (principal, nonce, nc) = self.check(method, &c, keys, now_unix)?;
        if !uri_names_target(&c.uri, request_target) {
            return Err(DigestError::UriMismatch);
        }
        self.accept_count(nonce, nc, now_unix)?;
        Ok(principal)
    }

    /// Verifies parsed credentials and records their nonce count (see [`verify`](Self::verify)).
    pub fn verify_credentials(
        &self,
        method: &str,
        c: &DigestCredentials,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
        let (principal, nonce, nc) = self.check(method, c, keys, now_unix)?;
        self.accept_count(nonce, nc, now_unix)?;
        Ok(principal)
    }

    fn accept_count(&self, nonce: NonceId, nc: u32, now_unix: i64) -> Result<(), DigestError> {
        // `accept` does not panic, so a poisoned lock never guards a half-done update.
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.accept(nonce, nc, now_unix, self.nonce_ttl_secs)
    }

    /// Everything but the nonce count: fields, nonce, response, nonce lifetime.
    fn check(
        &self,
        method: &str,
        c: &DigestCredentials,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<(Principal, NonceId, u32), DigestError> {
        let sess = match c.algorithm.as_deref() {
            None => false,
            Some(a) if a.eq_ignore_ascii_case("MD5") => false,
            Some(a) if a.eq_ignore_ascii_case("MD5-sess") => true,
            Some(a) => {
                return Err(DigestError::Malformed(format!(
                    "unsupported algorithm {a:?}; this server offers MD5"
                )))
            }
        };
        // The response covers qop as the client sent it (RFC 7616 §3.4.1), in whichever case.
        let qop = match c.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => q,
            Some(q) => {
                return Err(DigestError::Malformed(format!(
                    "unsupported qop {q:?}; this server offers auth"
                )))
            }
            None => return Err(DigestError::Malformed("missing qop (must be auth)".into())),
        };
        let nc_text =
            c.nc.as_deref()
                .ok_or_else(|| DigestError::Malformed("missing nc".into()))?;
        let nc = match u32::from_str_radix(nc_text, 16) {
            Ok(n) if nc_text.len() == 8 && nc_text.bytes().all(|b| b.is_ascii_hexdigit()) => n,
            _ => {
                return Err(DigestError::Malformed(
                    "nc must be 8 hexadecimal digits".into(),
                ))
            }
        };
        let cnonce = c
            .cnonce
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DigestError::Malformed("missing cnonce".into()))?;
        let nonce = self.nonce_id(&c.nonce)?;
        let password = keys
            .secret(&c.username)
            .ok_or_else(|| DigestError::UnknownUser(c.username.clone()))?;
        if c.realm != REALM {
            return Err(DigestError::BadResponse);
        }
        let mut ha1 = md5_hex(&format!("{}:{}:{password}", c.username, c.realm));
        if sess {
            ha1 = md5_hex(&format!("{ha1}:{}:{cnonce}", c.nonce));
        }
        let ha2 = md5_hex(&format!("{method}:{}", c.uri));
        let expected = md5_hex(&format!("{ha1}:{}:{nc_text}:{cnonce}:{qop}:{ha2}", c.nonce));
        if !constant_time_eq(
            expected.as_bytes(),
            c.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(DigestError::BadResponse);
        }
        if now_unix - nonce.issued > self.nonce_ttl_secs
            || nonce.issued - now_unix > NONCE_FUTURE_SLACK_SECS
        {
            return Err(DigestError::StaleNonce);
        }
        let principal = Principal {
            access_key_id: c.username.clone(),
        };
        Ok((principal, nonce, nc))
    }
}

/// Whether a digest `uri` names `target` (origin form `path?query`).
fn uri_names_target(uri: &str, target: &str) -> bool {
    if uri == target {
        return true;
    }
    // Absolute form: scheme://authority/path?query.
    let Some((_, after_scheme)) = uri.split_once("://") else {
        return false;
    };
    let path = after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("/");
    path == target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_quoted_values_and_tokens() {
        let p = parse_params("a=\"x, y\", b=1,c=\"q\\\"z\" ,  d = tok , e=\"é\"").unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), "x, y".into()),
                ("b".into(), "1".into()),
                ("c".into(), "q\"z".into()),
                ("d".into(), "tok".into()),
                ("e".into(), "é".into()),
            ]
        );
        assert!(parse_params("a=\"open").is_err());
        assert!(parse_params("a").is_err());
        assert!(parse_params("a=\"x\" b=1").is_err());
        assert_eq!(parse_params("").unwrap(), vec![]);
    }

    #[test]
    fn uri_matching() {
        assert!(uri_names_target("/a?b=1", "/a?b=1"));
        assert!(uri_names_target("http://h:8080/a?b=1", "/a?b=1"));
        assert!(uri_names_target("http://h", "/"));
        assert!(!uri_names_target("/a?b=2", "/a?b=1"));
        assert!(!uri_names_target("/a", "/a?b=1"));
    }

    const USER: &str = "pub";
    const PASSWORD: &str = "priv";
    const T0: i64 = 1_795_351_683;

    fn keys() -> std::collections::HashMap<String, String> {
        std::collections::HashMap::from([(USER.to_string(), PASSWORD.to_string())])
    }

    /// A correct `qop=auth` MD5 header, computed from RFC 7616.
    fn header(method: &str, uri: &str, nonce: &str, nc: u32, cnonce: &str) -> String {
        let ha1 = md5_hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        format!(
            "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
        )
    }

    fn get(a: &DigestAuthority, nonce: &str, nc: u32, now: i64) -> Result<Principal, DigestError> {
        a.verify_for_target(
            "GET",
            "/a",
            &header("GET", "/a", nonce, nc, "c1"),
            &keys(),
            now,
        )
    }

    #[test]
    fn the_response_covers_qop_as_sent() {
        // Found by the digest fuzz target: `qop=autH` was accepted as `auth`, but the response
        // was checked as if the client had hashed `auth`.
        let a = DigestAuthority::new(b"s");
        let nonce = a.nonce(T0);
        let ha1 = md5_hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = md5_hex("GET:/a");
        let signed = |qop: &str, hashed: &str| {
            let response = md5_hex(&format!("{ha1}:{nonce}:00000001:c1:{hashed}:{ha2}"));
            format!(
                "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"/a\", \
                 response=\"{response}\", qop={qop}, nc=00000001, cnonce=\"c1\""
            )
        };
        let verify =
            |h: &str| DigestAuthority::new(b"s").verify_for_target("GET", "/a", h, &keys(), T0);
        assert!(verify(&signed("autH", "autH")).is_ok());
        assert!(verify(&signed("AUTH", "AUTH")).is_ok());
        assert_eq!(
            verify(&signed("autH", "auth")),
            Err(DigestError::BadResponse)
        );
        assert!(verify(&signed("auth", "auth")).is_ok());
    }

    #[test]
    fn duplicated_parameters_are_malformed() {
        assert!(matches!(
            parse_params("uri=\"/a\", uri=\"/b\""),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            parse_params("uri=\"/a\", URI=\"/a\""),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            parse_params("\"uri\"=\"/a\""),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(parse_params("=x"), Err(DigestError::Malformed(_))));
        let a = DigestAuthority::new(b"s");
        let h = header("GET", "/a", &a.nonce(T0), 1, "c1");
        for extra in [
            ", uri=\"/b\"",
            ", Uri=\"/a\"",
            ", nc=00000002",
            ", response=\"00\"",
            ", Username=\"pub\"",
        ] {
            let doubled = format!("{h}{extra}");
            assert!(
                matches!(
                    a.verify_for_target("GET", "/a", &doubled, &keys(), T0),
                    Err(DigestError::Malformed(_))
                ),
                "{doubled}"
            );
        }
        assert_eq!(
            a.verify_for_target("GET", "/a", &h, &keys(), T0),
            Ok(Principal {
                access_key_id: USER.into()
            })
        );
    }

    #[test]
    fn other_parameters_do_not_change_the_uri() {
        let a = DigestAuthority::new(b"s");
        let h = header("GET", "/a", &a.nonce(T0), 1, "c1");
        // Unknown parameters are ignored wherever they are, and `uri` is the `uri` parameter.
        let with_xuri = h.replacen(", uri=", ", xuri=\"/b\", uri=", 1);
        assert_eq!(
            DigestCredentials::parse(&with_xuri).unwrap().uri,
            "/a",
            "{with_xuri}"
        );
        let front = with_xuri.replacen("Digest ", "Digest xuri=\"/b\", ", 1);
        assert!(matches!(
            a.verify_for_target("GET", "/b", &front, &keys(), T0),
            Err(DigestError::Malformed(_))
        ));
        assert_eq!(
            a.verify_for_target("GET", "/b", &with_xuri, &keys(), T0),
            Err(DigestError::UriMismatch)
        );
        // A refused request does not use up the count.
        assert!(a
            .verify_for_target("GET", "/a", &with_xuri, &keys(), T0)
            .is_ok());
    }

    #[test]
    fn nonce_counts_must_increase() {
        let a = DigestAuthority::new(b"s");
        let n = a.nonce(T0);
        assert!(get(&a, &n, 1, T0).is_ok());
        let e = get(&a, &n, 1, T0).unwrap_err();
        assert_eq!(e, DigestError::NonceCountReused);
        assert!(e.is_stale());
        assert!(get(&a, &n, 2, T0 + 1).is_ok());
        assert!(get(&a, &n, 5, T0 + 1).is_ok());
        assert_eq!(get(&a, &n, 3, T0 + 2), Err(DigestError::NonceCountReused));
        assert_eq!(get(&a, &n, 5, T0 + 2), Err(DigestError::NonceCountReused));
        assert!(get(&a, &n, 6, T0 + 2).is_ok());
        // Counts are per nonce; other nonces of the same second start afresh.
        let m = a.nonce(T0);
        assert_ne!(m, n);
        assert!(get(&a, &m, 1, T0 + 2).is_ok());
        // Clones share the record; another authority with the same secret does not.
        assert_eq!(
            get(&a.clone(), &m, 1, T0 + 2),
            Err(DigestError::NonceCountReused)
        );
        assert!(get(&DigestAuthority::new(b"s"), &m, 1, T0 + 2).is_ok());
        // Failed checks record nothing.
        let for_get = header("GET", "/a", &m, 2, "c1");
        assert_eq!(
            a.verify("POST", &for_get, &keys(), T0 + 2),
            Err(DigestError::BadResponse)
        );
        assert!(get(&a, &m, 2, T0 + 2).is_ok());
        // verify (without a target) records counts too.
        assert!(a
            .verify("GET", &header("GET", "/a", &m, 3, "c1"), &keys(), T0 + 2)
            .is_ok());
        assert_eq!(get(&a, &m, 3, T0 + 2), Err(DigestError::NonceCountReused));
    }

    #[test]
    fn counts_are_dropped_when_their_nonce_expires() {
        let a = DigestAuthority::new(b"s");
        let n = a.nonce(T0);
        assert!(get(&a, &n, 1, T0).is_ok());
        let live = a.nonce(T0 + 10);
        assert!(get(&a, &live, 1, T0 + 10).is_ok());
        let counts = |a: &DigestAuthority| a.counts.lock().unwrap().highest.len();
        assert_eq!(counts(&a), 2);
        assert!(get(&a, &n, 2, T0 + NONCE_TTL_SECS).is_ok());
        assert_eq!(
            get(&a, &n, 3, T0 + NONCE_TTL_SECS + 1),
            Err(DigestError::StaleNonce)
        );
        // Any later check drops the expired entry.
        assert!(get(&a, &live, 2, T0 + NONCE_TTL_SECS + 1).is_ok());
        assert_eq!(counts(&a), 1);
        // Once forgotten, the nonce stays stale even if the clock goes back.
        assert_eq!(get(&a, &n, 3, T0 + 5), Err(DigestError::StaleNonce));
        assert_eq!(get(&a, &n, 1, T0 + 5), Err(DigestError::StaleNonce));
        assert!(get(&a, &live, 3, T0 + 5).is_ok());
    }

    #[test]
    fn the_cap_evicts_the_oldest_and_makes_them_stale() {
        let a = DigestAuthority::new(b"s").with_nonce_cap(3);
        let now = T0 + 100;
        let n1 = a.nonce(T0);
        let n2a = a.nonce(T0 + 1);
        let n2b = a.nonce(T0 + 1);
        let n3 = a.nonce(T0 + 2);
        let n4 = a.nonce(T0 + 3);
        for n in [&n2a, &n1, &n3] {
            assert!(get(&a, n, 1, now).is_ok());
        }
        // Full: a new nonce pushes out the oldest-issued one (n1), which is stale from then on
        // (re-challenged, never replayable).
        assert!(get(&a, &n4, 1, now).is_ok());
        assert_eq!(get(&a, &n1, 1, now), Err(DigestError::StaleNonce));
        assert_eq!(get(&a, &n1, 2, now), Err(DigestError::StaleNonce));
        // Entries still held keep their counts.
        assert_eq!(get(&a, &n2a, 1, now), Err(DigestError::NonceCountReused));
        assert!(get(&a, &n2a, 2, now).is_ok());
        // Full again: n2b (issued with n2a) would be the oldest: its whole second goes.
        assert_eq!(get(&a, &n2b, 1, now), Err(DigestError::StaleNonce));
        assert_eq!(get(&a, &n2a, 3, now), Err(DigestError::StaleNonce));
        let counts = a.counts.lock().unwrap();
        assert_eq!(counts.highest.len(), 2);
        assert_eq!(counts.forgotten_through, T0 + 1);
        drop(counts);
        // Newer nonces are unaffected.
        assert!(get(&a, &n3, 2, now).is_ok());
        assert!(get(&a, &a.nonce(now), 1, now).is_ok());
        assert!(get(&a, &a.nonce(now), 1, now).is_ok());
        assert_eq!(get(&a, &n3, 3, now), Err(DigestError::StaleNonce));
        assert_eq!(a.counts.lock().unwrap().highest.len(), 3);
    }

    #[test]
    fn debug_hides_the_server_secret() {
        let s = format!("{:?}", DigestAuthority::new(b"topsecretbytes"));
        assert!(!s.contains("topsecret") && !s.contains("746f70"), "{s}");
    }
}
