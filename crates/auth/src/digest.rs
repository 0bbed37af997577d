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
//! Nonces are stateless: `<unix time>:<hex of the first 16 bytes of HMAC-SHA256(server secret,
//! decimal unix time)>`. Any node holding the server secret can check them; a genuine nonce
//! older than the nonce lifetime (default [`NONCE_TTL_SECS`]) is stale, which is reported only
//! when the rest of the response is right, so that clients retry with the fresh nonce of the
//! `stale=true` challenge. A nonce with a wrong MAC is [`DigestError::InvalidNonce`].
//!
//! Not done: replay protection of `nc` within a nonce's lifetime (it would need shared state);
//! `qop=auth-int`; the SHA-256 algorithms; `userhash`. Credentials without `qop` (RFC 2069)
//! are refused since the challenge always offers `qop="auth"`.
//!
//! [`DigestAuthority::verify`] checks the response over the `uri` field as sent; the caller
//! must also make sure that `uri` names the request being served, or use
//! [`DigestAuthority::verify_for_target`], which does.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::encoding::constant_time_eq;
use crate::{Principal, SecretLookup};

/// Realm announced in challenges and required in credentials.
pub const REALM: &str = "MMS Public API";
/// Default lifetime of a nonce, in seconds.
pub const NONCE_TTL_SECS: i64 = 300;
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
}

impl DigestError {
    /// Whether the 401 challenge should say `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::StaleNonce)
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

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Issues challenges and checks Digest credentials. Holds the server secret that
/// authenticates nonces; its `Debug` output leaves that secret out.
#[derive(Clone)]
pub struct DigestAuthority {
    key: Vec<u8>,
    nonce_ttl_secs: i64,
}

impl fmt::Debug for DigestAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuthority")
            .field("nonce_ttl_secs", &self.nonce_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl DigestAuthority {
    /// An authority with `server_secret` (random bytes, the same on every node that checks).
    pub fn new(server_secret: &[u8]) -> Self {
        Self {
            key: server_secret.to_vec(),
            nonce_ttl_secs: NONCE_TTL_SECS,
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

    fn nonce_mac(&self, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(t.to_string().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A nonce issued at `now_unix`.
    pub fn nonce(&self, now_unix: i64) -> String {
        format!("{now_unix}:{}", self.nonce_mac(now_unix))
    }

    /// The `WWW-Authenticate` value of a 401, with a nonce issued at `now_unix`.
    pub fn challenge(&self, now_unix: i64, stale: bool) -> String {
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{}\", algorithm=MD5, qop=\"auth\", stale={stale}",
            self.nonce(now_unix)
        )
    }

    /// The issue time of `nonce` if this server made it.
    fn nonce_time(&self, nonce: &str) -> Result<i64, DigestError> {
        let (t, mac) = nonce.split_once(':').ok_or(DigestError::InvalidNonce)?;
        let t: i64 = t.parse().map_err(|_| DigestError::InvalidNonce)?;
        if !constant_time_eq(self.nonce_mac(t).as_bytes(), mac.as_bytes()) {
            return Err(DigestError::InvalidNonce);
        }
        Ok(t)
    }

    /// Verifies an `Authorization: Digest …` value for a request with `method`, at server time
    /// `now_unix`. The response is checked over the `uri` field as sent.
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
    /// query.
    pub fn verify_for_target(
        &self,
        method: &str,
        request_target: &str,
        authorization: &str,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
        let c = DigestCredentials::parse(authorization)?;
        let principal = self.verify_credentials(method, &c, keys, now_unix)?;
        if !uri_names_target(&c.uri, request_target) {
            return Err(DigestError::UriMismatch);
        }
        Ok(principal)
    }

    /// Verifies parsed credentials (see [`verify`](Self::verify)).
    pub fn verify_credentials(
        &self,
        method: &str,
        c: &DigestCredentials,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
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
        match c.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(q) => {
                return Err(DigestError::Malformed(format!(
                    "unsupported qop {q:?}; this server offers auth"
                )))
            }
            None => return Err(DigestError::Malformed("missing qop (must be auth)".into())),
        }
        let nc =
            c.nc.as_deref()
                .ok_or_else(|| DigestError::Malformed("missing nc".into()))?;
        if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::Malformed(
                "nc must be 8 hexadecimal digits".into(),
            ));
        }
        let cnonce = c
            .cnonce
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DigestError::Malformed("missing cnonce".into()))?;
        let issued = self.nonce_time(&c.nonce)?;
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
        let expected = md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce));
        if !constant_time_eq(
            expected.as_bytes(),
            c.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(DigestError::BadResponse);
        }
        if now_unix - issued > self.nonce_ttl_secs || issued - now_unix > NONCE_FUTURE_SLACK_SECS {
            return Err(DigestError::StaleNonce);
        }
        Ok(Principal {
            access_key_id: c.username.clone(),
        })
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

    #[test]
    fn debug_hides_the_server_secret() {
        let s = format!("{:?}", DigestAuthority::new(b"topsecretbytes"));
        assert!(!s.contains("topsecret") && !s.contains("746f70"), "{s}");
    }
}
