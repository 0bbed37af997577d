//! HTTP Digest authentication (RFC 7616 with MD5 and `qop=auth`), as the Atlas Admin API uses
//! it: user name = public key (access key id), password = private key (secret).
//!
//! Nonces are stateless: `<unix time>:<hex HMAC-SHA256(server secret, unix time)>`, so any node
//! holding the server secret can check them, and a nonce older than [`NONCE_TTL_SECS`] is stale.
//! Replays within that window are not tracked.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::{Principal, SecretLookup};

/// Realm announced in challenges.
pub const REALM: &str = "MMS Public API";
/// Lifetime of a nonce.
pub const NONCE_TTL_SECS: i64 = 300;

/// Why a Digest `Authorization` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// No Digest credentials.
    #[error("this resource requires HTTP Digest authentication")]
    Missing,
    /// Unparsable or incomplete credentials.
    #[error("malformed Digest credentials: {0}")]
    Malformed(String),
    /// Unknown user.
    #[error("unknown API key {0:?}")]
    UnknownUser(String),
    /// Wrong response (wrong private key, or tampered request).
    #[error("the Digest response does not match")]
    BadResponse,
    /// Nonce expired (or not issued by this server).
    #[error("the Digest nonce is stale or invalid")]
    StaleNonce,
}

/// Issues challenges and checks credentials.
pub struct DigestAuthority {
    key: Vec<u8>,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

impl DigestAuthority {
    /// An authority with a server secret (random bytes, shared by every node that checks).
    pub fn new(server_secret: &[u8]) -> Self {
        Self {
            key: server_secret.to_vec(),
        }
    }

    /// An authority with a fresh random secret.
    pub fn random() -> Self {
        Self::new(&rand::random::<[u8; 32]>())
    }

    fn nonce_mac(&self, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(t.to_string().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A nonce for time `now_unix`.
    pub fn nonce(&self, now_unix: i64) -> String {
        format!("{now_unix}:{}", self.nonce_mac(now_unix))
    }

    /// The `WWW-Authenticate` value of a 401.
    pub fn challenge(&self, now_unix: i64, stale: bool) -> String {
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{}\", algorithm=MD5, qop=\"auth\", stale={}",
            self.nonce(now_unix),
            stale
        )
    }

    fn check_nonce(&self, nonce: &str, now: i64) -> Result<(), DigestError> {
        let (t, mac) = nonce.split_once(':').ok_or(DigestError::StaleNonce)?;
        let t: i64 = t.parse().map_err(|_| DigestError::StaleNonce)?;
        if self.nonce_mac(t) != mac || now - t > NONCE_TTL_SECS || t - now > 60 {
            return Err(DigestError::StaleNonce);
        }
        Ok(())
    }

    /// Verifies an `Authorization: Digest …` header for a request with `method`.
    pub fn verify(
        &self,
        method: &str,
        authorization: &str,
        keys: &dyn SecretLookup,
        now_unix: i64,
    ) -> Result<Principal, DigestError> {
        let rest = authorization.trim();
        let rest = match rest.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("digest ") => &rest[7..],
            _ => return Err(DigestError::Missing),
        };
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let need = |k: &str| get(k).ok_or_else(|| DigestError::Malformed(format!("missing {k}")));
        let user = need("username")?;
        let nonce = need("nonce")?;
        let uri = need("uri")?;
        let response = need("response")?;
        let realm = need("realm")?;
        let algorithm = get("algorithm").unwrap_or("MD5");
        let secret = keys
            .secret(user)
            .ok_or_else(|| DigestError::UnknownUser(user.to_string()))?;
        let mut ha1 = md5_hex(&format!("{user}:{realm}:{secret}"));
        let cnonce = get("cnonce");
        if algorithm.eq_ignore_ascii_case("MD5-sess") {
            let c = cnonce.ok_or_else(|| DigestError::Malformed("MD5-sess needs cnonce".into()))?;
            ha1 = md5_hex(&format!("{ha1}:{nonce}:{c}"));
        } else if !algorithm.eq_ignore_ascii_case("MD5") {
            return Err(DigestError::Malformed(format!(
                "unsupported algorithm {algorithm}"
            )));
        }
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = need("nc")?;
                let c = cnonce.ok_or_else(|| DigestError::Malformed("missing cnonce".into()))?;
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{c}:auth:{ha2}"))
            }
            Some(q) => return Err(DigestError::Malformed(format!("unsupported qop {q}"))),
            None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        if realm != REALM || !expected.eq_ignore_ascii_case(response) {
            return Err(DigestError::BadResponse);
        }
        self.check_nonce(nonce, now_unix)?;
        Ok(Principal {
            access_key_id: user.to_string(),
        })
    }
}

/// Parses `k=v, k="v", …` (quoted values may contain commas and escaped quotes).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[ks..i].trim().to_string();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys;
    impl SecretLookup for Keys {
        fn secret(&self, id: &str) -> Option<String> {
            (id == "pub").then(|| "priv".to_string())
        }
    }

    /// What curl --digest / requests' HTTPDigestAuth send, computed from RFC 7616.
    fn client_header(user: &str, password: &str, method: &str, uri: &str, nonce: &str) -> String {
        let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let (nc, cnonce) = ("00000001", "0a4f113b");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
        )
    }

    #[test]
    fn accepts_a_correct_response_and_refuses_the_rest() {
        let auth = DigestAuthority::new(b"k");
        let now = 1_800_000_000;
        let challenge = auth.challenge(now, false);
        assert!(challenge.starts_with("Digest realm=\"MMS Public API\""));
        assert!(challenge.contains("qop=\"auth\"") && challenge.contains("algorithm=MD5"));
        let nonce = auth.nonce(now);
        let uri =
            "/api/atlas/v1.0/groups/abc/clusters/c/backupCheckpoints?pageNum=2&itemsPerPage=5";
        let h = client_header("pub", "priv", "GET", uri, &nonce);
        assert_eq!(
            auth.verify("GET", &h, &Keys, now + 10)
                .unwrap()
                .access_key_id,
            "pub"
        );
        assert_eq!(
            auth.verify("POST", &h, &Keys, now),
            Err(DigestError::BadResponse)
        );
        let wrong = client_header("pub", "nope", "GET", uri, &nonce);
        assert_eq!(
            auth.verify("GET", &wrong, &Keys, now),
            Err(DigestError::BadResponse)
        );
        let unknown = client_header("who", "priv", "GET", uri, &nonce);
        assert_eq!(
            auth.verify("GET", &unknown, &Keys, now),
            Err(DigestError::UnknownUser("who".into()))
        );
        assert_eq!(
            auth.verify("GET", &h, &Keys, now + NONCE_TTL_SECS + 1),
            Err(DigestError::StaleNonce)
        );
        let forged = client_header("pub", "priv", "GET", uri, &format!("{now}:00"));
        assert_eq!(
            auth.verify("GET", &forged, &Keys, now),
            Err(DigestError::StaleNonce)
        );
        let other = DigestAuthority::new(b"other");
        assert_eq!(
            other.verify("GET", &h, &Keys, now),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(
            auth.verify("GET", "Basic abc", &Keys, now),
            Err(DigestError::Missing)
        );
        assert!(matches!(
            auth.verify("GET", "Digest username=\"pub\"", &Keys, now),
            Err(DigestError::Malformed(_))
        ));
    }

    #[test]
    fn params_parse_quoted_commas() {
        let p = parse_params("a=\"x, y\", b=1,c=\"q\\\"z\"");
        assert_eq!(
            p,
            vec![
                ("a".into(), "x, y".into()),
                ("b".into(), "1".into()),
                ("c".into(), "q\"z".into())
            ]
        );
    }
}
