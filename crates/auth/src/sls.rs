//! SLS request signatures, v1 (`LOG <id>:<base64 HMAC-SHA1>`) and v4 (`SLS4-HMAC-SHA256`).
//!
//! v1 string to sign:
//! ```text
//! VERB \n Content-MD5 \n Content-Type \n Date \n
//! (x-log-*/x-acs-* headers except x-log-date, lowercased, sorted, "name:value\n" each)
//! path [? key=value&... sorted by key, values URL-decoded]
//! ```
//! v4 rebuilds the signed header list itself (content-type, host, x-log-*, x-acs-*), hashes a
//! canonical request and signs it with a key derived from the secret, the date and the region.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{percent_decode, Principal, SecretLookup};

/// Largest accepted difference between the request time and the server clock.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// A request as the signature sees it. Framework-free: the HTTP layer adapts its types.
pub struct SlsRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as received (percent-encoded form).
    pub path: &'a str,
    /// Raw query string without `?`, possibly empty.
    pub query: &'a str,
    /// All headers; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body bytes as received.
    pub body: &'a [u8],
}

impl SlsRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
            .collect()
    }
}

/// Why a request was not authenticated. Messages never contain secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlsAuthError {
    /// No Authorization header.
    #[error("no Authorization header; this server requires signed requests")]
    MissingAuthorization,
    /// An Authorization header that is not a v1 or v4 signature.
    #[error("malformed Authorization header: {0}")]
    Malformed(String),
    /// Unknown access key id.
    #[error("access key id {0:?} is not known")]
    UnknownKey(String),
    /// Signature mismatch.
    #[error("the request signature does not match; check the access key secret")]
    SignatureNotMatch,
    /// No date header.
    #[error("the request has neither x-log-date nor Date")]
    MissingDate,
    /// Unparsable date.
    #[error("cannot parse the request date {0:?}")]
    InvalidDate(String),
    /// Too far from the server clock.
    #[error("request time {request} is more than 15 minutes from server time {server}")]
    Expired {
        /// Request time, unix seconds.
        request: i64,
        /// Server time, unix seconds.
        server: i64,
    },
}

impl SlsAuthError {
    /// The SLS `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "Unauthorized",
            Self::Malformed(_) => "Unauthorized",
            Self::UnknownKey(_) => "InvalidAccessKeyId",
            Self::SignatureNotMatch => "SignatureNotMatch",
            Self::MissingDate => "MissingDate",
            Self::InvalidDate(_) => "InvalidDateFormat",
            Self::Expired { .. } => "RequestTimeExpired",
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingDate | Self::InvalidDate(_) | Self::Expired { .. } => 400,
            _ => 401,
        }
    }
}

const V4_PREFIX: &str = "SLS4-HMAC-SHA256 ";

/// Verifies a signed SLS request against the known keys at server time `now_unix`.
pub fn verify_sls(
    req: &SlsRequest,
    keys: &dyn SecretLookup,
    now_unix: i64,
) -> Result<Principal, SlsAuthError> {
    let auth = req
        .header("authorization")
        .ok_or(SlsAuthError::MissingAuthorization)?
        .trim();
    if let Some(rest) = auth.strip_prefix(V4_PREFIX) {
        return verify_v4(req, rest, keys, now_unix);
    }
    let rest = auth.strip_prefix("LOG ").ok_or_else(|| {
        SlsAuthError::Malformed("expected \"LOG <id>:<signature>\" or SLS4-HMAC-SHA256".into())
    })?;
    let (id, sig) = rest
        .rsplit_once(':')
        .ok_or_else(|| SlsAuthError::Malformed("expected \"LOG <id>:<signature>\"".into()))?;
    let secret = keys
        .secret(id.trim())
        .ok_or_else(|| SlsAuthError::UnknownKey(id.trim().to_string()))?;
    check_time_v1(req, now_unix)?;
    let expected_sig = sig.trim().as_bytes();
    for with_meta in [false, true] {
        let sts = string_to_sign_v1(req, with_meta);
        if constant_eq(sign_v1_raw(&secret, &sts).as_bytes(), expected_sig) {
            return Ok(Principal {
                access_key_id: id.trim().to_string(),
            });
        }
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-log-meta-"))
        {
            break;
        }
    }
    Err(SlsAuthError::SignatureNotMatch)
}

fn check_time_v1(req: &SlsRequest, now: i64) -> Result<(), SlsAuthError> {
    let raw = req
        .header("x-log-date")
        .or_else(|| req.header("date"))
        .ok_or(SlsAuthError::MissingDate)?;
    let t = parse_http_date(raw).ok_or_else(|| SlsAuthError::InvalidDate(raw.to_string()))?;
    check_skew(t, now)
}

fn check_skew(t: i64, now: i64) -> Result<(), SlsAuthError> {
    if (t - now).abs() > MAX_SKEW_SECS {
        return Err(SlsAuthError::Expired {
            request: t,
            server: now,
        });
    }
    Ok(())
}

fn parse_http_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.timestamp())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim(), "%a, %d %b %Y %H:%M:%S GMT")
                .ok()
                .map(|d| d.and_utc().timestamp())
        })
}

/// Lines `name:value\n` of the headers that take part in a v1 signature.
fn canonical_log_headers_v1(req: &SlsRequest, with_meta: bool) -> String {
    let mut hs: Vec<(String, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .filter(|(k, _)| {
            (k.starts_with("x-log-") || k.starts_with("x-acs-"))
                && k != "x-log-date"
                && (with_meta || !k.starts_with("x-log-meta-"))
        })
        .collect();
    hs.sort();
    hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

fn canonical_resource_v1(req: &SlsRequest) -> String {
    let mut out = percent_decode(req.path);
    let mut params = req.query_pairs();
    if !params.is_empty() {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        out.push('?');
        let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&joined.join("&"));
    }
    out
}

/// The v1 string to sign.
pub fn string_to_sign_v1(req: &SlsRequest, with_meta: bool) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        req.method,
        req.header("content-md5").unwrap_or(""),
        req.header("content-type").unwrap_or(""),
        req.header("date").unwrap_or(""),
        canonical_log_headers_v1(req, with_meta),
        canonical_resource_v1(req)
    )
}

fn sign_v1_raw(secret: &str, sts: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(sts.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The v1 `Authorization` value for a request (used by clients, tests and load generators).
pub fn sign_v1(req: &SlsRequest, access_key_id: &str, secret: &str) -> String {
    format!(
        "LOG {access_key_id}:{}",
        sign_v1_raw(secret, &string_to_sign_v1(req, false))
    )
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 percent-encoding: unreserved characters stay, everything else is `%XX`.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The v4 canonical request and the signed header list.
fn canonical_request_v4(req: &SlsRequest, with_meta: bool, body_hash: &str) -> String {
    let mut hs: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| {
            k == "content-type"
                || k == "host"
                || ((k.starts_with("x-log-") || k.starts_with("x-acs-"))
                    && (with_meta || !k.starts_with("x-log-meta-")))
        })
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed: Vec<&str> = hs.iter().map(|(k, _)| k.as_str()).collect();
    let mut params = req.query_pairs();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={}", pct(v))
            }
        })
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        query.join("&"),
        canonical_headers,
        signed.join(";"),
        body_hash
    )
}

fn v4_signature(
    req: &SlsRequest,
    secret: &str,
    date: &str,
    day: &str,
    region: &str,
    with_meta: bool,
    body_hash: &str,
) -> String {
    let scope = format!("{day}/{region}/sls/aliyun_v4_request");
    let creq = canonical_request_v4(req, with_meta, body_hash);
    let sts = format!(
        "SLS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let mut k = hmac256(format!("aliyun_v4{secret}").as_bytes(), day.as_bytes());
    k = hmac256(&k, region.as_bytes());
    k = hmac256(&k, b"sls");
    k = hmac256(&k, b"aliyun_v4_request");
    hex::encode(hmac256(&k, sts.as_bytes()))
}

fn verify_v4(
    req: &SlsRequest,
    rest: &str,
    keys: &dyn SecretLookup,
    now: i64,
) -> Result<Principal, SlsAuthError> {
    let malformed = || {
        SlsAuthError::Malformed(
            "expected Credential=<id>/<date>/<region>/sls/aliyun_v4_request,Signature=<hex>".into(),
        )
    };
    let mut credential = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (credential, signature) = (
        credential.ok_or_else(malformed)?,
        signature.ok_or_else(malformed)?,
    );
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[3] != "sls" || parts[4] != "aliyun_v4_request" {
        return Err(malformed());
    }
    let (id, day, region) = (parts[0], parts[1], parts[2]);
    let secret = keys
        .secret(id)
        .ok_or_else(|| SlsAuthError::UnknownKey(id.to_string()))?;
    let date = req.header("x-log-date").ok_or(SlsAuthError::MissingDate)?;
    let t = chrono::NaiveDateTime::parse_from_str(date.trim(), "%Y%m%dT%H%M%SZ")
        .map_err(|_| SlsAuthError::InvalidDate(date.to_string()))?
        .and_utc()
        .timestamp();
    check_skew(t, now)?;
    if !date.starts_with(day) {
        return Err(SlsAuthError::SignatureNotMatch);
    }
    let actual_hash = hex::encode(Sha256::digest(req.body));
    if let Some(claimed) = req.header("x-log-content-sha256") {
        if !claimed.trim().eq_ignore_ascii_case(&actual_hash) {
            return Err(SlsAuthError::SignatureNotMatch);
        }
    }
    for with_meta in [false, true] {
        let sig = v4_signature(
            req,
            &secret,
            date.trim(),
            day,
            region,
            with_meta,
            &actual_hash,
        );
        if constant_eq(
            sig.as_bytes(),
            signature.trim().to_ascii_lowercase().as_bytes(),
        ) {
            return Ok(Principal {
                access_key_id: id.to_string(),
            });
        }
    }
    Err(SlsAuthError::SignatureNotMatch)
}

/// The v4 `Authorization` value; the request must already carry `x-log-date`
/// (`YYYYMMDDTHHMMSSZ`) and `x-log-content-sha256`.
pub fn sign_v4(req: &SlsRequest, access_key_id: &str, secret: &str, region: &str) -> String {
    let date = req.header("x-log-date").unwrap_or("");
    let day = date.get(..8).unwrap_or("");
    let body_hash = hex::encode(Sha256::digest(req.body));
    let sig = v4_signature(req, secret, date, day, region, false, &body_hash);
    format!("SLS4-HMAC-SHA256 Credential={access_key_id}/{day}/{region}/sls/aliyun_v4_request,Signature={sig}")
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Keys(HashMap<String, String>);
    impl SecretLookup for Keys {
        fn secret(&self, id: &str) -> Option<String> {
            self.0.get(id).cloned()
        }
    }

    fn keys() -> Keys {
        Keys(HashMap::from([("ak".to_string(), "secret".to_string())]))
    }

    const NOW: i64 = 1_795_000_000;

    fn date(t: i64) -> String {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    fn signed_v1(
        headers: &mut Vec<(String, String)>,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> String {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = SlsRequest {
            method,
            path,
            query,
            headers: &hs,
            body,
        };
        sign_v1(&req, "ak", "secret")
    }

    fn verify(
        headers: &[(String, String)],
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<Principal, SlsAuthError> {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        verify_sls(
            &SlsRequest {
                method,
                path,
                query,
                headers: &hs,
                body,
            },
            &keys(),
            NOW,
        )
    }

    #[test]
    fn v1_string_to_sign_matches_the_documented_shape() {
        let headers = [
            ("Date", "Sun, 22 Nov 2026 12:48:03 GMT"),
            ("Content-Type", "application/json"),
            ("x-log-apiversion", "0.6.0"),
            ("x-log-signaturemethod", "hmac-sha1"),
            ("x-log-bodyrawsize", "0"),
            ("x-log-date", "Sun, 22 Nov 2026 12:48:03 GMT"),
            ("User-Agent", "x"),
        ];
        let req = SlsRequest {
            method: "GET",
            path: "/logstores/ls1/shards/0",
            query: "type=cursor&from=begin",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            string_to_sign_v1(&req, false),
            "GET\n\napplication/json\nSun, 22 Nov 2026 12:48:03 GMT\nx-log-apiversion:0.6.0\nx-log-bodyrawsize:0\nx-log-signaturemethod:hmac-sha1\n/logstores/ls1/shards/0?from=begin&type=cursor"
        );
        let req = SlsRequest {
            method: "GET",
            path: "/",
            query: "offset=0&size=100&resourceGroupId=",
            headers: &headers,
            body: b"",
        };
        assert!(string_to_sign_v1(&req, false).ends_with("/?offset=0&resourceGroupId=&size=100"));
        let req = SlsRequest {
            method: "GET",
            path: "/x",
            query: "cursor=MTI%3D&count=10",
            headers: &headers,
            body: b"",
        };
        assert!(
            string_to_sign_v1(&req, false).ends_with("/x?count=10&cursor=MTI="),
            "values are URL-decoded"
        );
    }

    #[test]
    fn v1_sign_verify_and_every_tamper_fails() {
        let body = b"{\"a\":1}".to_vec();
        let mut headers = vec![
            ("Date".to_string(), date(NOW)),
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Content-MD5".to_string(), "ABC".to_string()),
            ("x-log-apiversion".to_string(), "0.6.0".to_string()),
            ("x-acs-security-token".to_string(), "tok".to_string()),
        ];
        let auth = signed_v1(&mut headers, "POST", "/logstores", "a=1", &body);
        headers.push(("Authorization".to_string(), auth));
        assert_eq!(
            verify(&headers, "POST", "/logstores", "a=1", &body)
                .unwrap()
                .access_key_id,
            "ak"
        );
        assert_eq!(
            verify(&headers, "PUT", "/logstores", "a=1", &body),
            Err(SlsAuthError::SignatureNotMatch)
        );
        assert_eq!(
            verify(&headers, "POST", "/logstore", "a=1", &body),
            Err(SlsAuthError::SignatureNotMatch)
        );
        assert_eq!(
            verify(&headers, "POST", "/logstores", "a=2", &body),
            Err(SlsAuthError::SignatureNotMatch)
        );
        for i in 1..5 {
            let mut h = headers.clone();
            h[i].1.push('x');
            assert_eq!(
                verify(&h, "POST", "/logstores", "a=1", &body),
                Err(SlsAuthError::SignatureNotMatch),
                "header {i}"
            );
        }
        // x-log-date is not signed but overrides Date for the time check.
        let mut h = headers.clone();
        h.push(("x-log-date".to_string(), date(NOW - 3600)));
        assert!(matches!(
            verify(&h, "POST", "/logstores", "a=1", &body),
            Err(SlsAuthError::Expired { .. })
        ));
        // Wrong secret, unknown key, malformed.
        let mut h = headers.clone();
        h.pop();
        let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let wrong = sign_v1(
            &SlsRequest {
                method: "POST",
                path: "/logstores",
                query: "a=1",
                headers: &hs,
                body: &body,
            },
            "ak",
            "nope",
        );
        let mut h2 = h.clone();
        h2.push(("Authorization".into(), wrong));
        let e = verify(&h2, "POST", "/logstores", "a=1", &body).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("SignatureNotMatch", 401));
        let mut h3 = h.clone();
        h3.push(("Authorization".into(), "LOG other:abc".into()));
        let e = verify(&h3, "POST", "/logstores", "a=1", &body).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("InvalidAccessKeyId", 401));
        let e = verify(&h, "POST", "/logstores", "a=1", &body).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("Unauthorized", 401));
        assert!(!format!("{e:?}{e}").contains("secret"));
    }

    #[test]
    fn v1_skew_is_checked() {
        for (t, ok) in [
            (NOW, true),
            (NOW - 14 * 60, true),
            (NOW + 16 * 60, false),
            (NOW - 3600, false),
        ] {
            let mut headers = vec![("Date".to_string(), date(t))];
            let auth = signed_v1(&mut headers, "GET", "/", "", b"");
            headers.push(("Authorization".to_string(), auth));
            let r = verify(&headers, "GET", "/", "", b"");
            assert_eq!(r.is_ok(), ok, "{t}: {r:?}");
            if !ok {
                assert_eq!(r.unwrap_err().code(), "RequestTimeExpired");
            }
        }
        let headers = vec![
            ("Date".to_string(), "yesterday".to_string()),
            ("Authorization".to_string(), "LOG ak:x".to_string()),
        ];
        assert_eq!(
            verify(&headers, "GET", "/", "", b"").unwrap_err().code(),
            "InvalidDateFormat"
        );
    }

    #[test]
    fn v4_sign_verify_and_tamper() {
        let body = b"payload".to_vec();
        let xdate = chrono::DateTime::from_timestamp(NOW, 0)
            .unwrap()
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        let mut headers = vec![
            ("Host".to_string(), "proj.localhost".to_string()),
            (
                "Content-Type".to_string(),
                "application/x-protobuf".to_string(),
            ),
            ("x-log-date".to_string(), xdate),
            (
                "x-log-content-sha256".to_string(),
                hex::encode(Sha256::digest(&body)),
            ),
            ("x-log-apiversion".to_string(), "0.6.0".to_string()),
            ("User-Agent".to_string(), "not signed".to_string()),
        ];
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let q = "key=a b+c&empty=";
        let auth = sign_v4(
            &SlsRequest {
                method: "POST",
                path: "/logstores/l/shards/route",
                query: q,
                headers: &hs,
                body: &body,
            },
            "ak",
            "secret",
            "cn-hangzhou",
        );
        headers.push(("Authorization".to_string(), auth));
        assert!(verify(&headers, "POST", "/logstores/l/shards/route", q, &body).is_ok());
        assert_eq!(
            verify(&headers, "POST", "/logstores/l/shards/route", q, b"other"),
            Err(SlsAuthError::SignatureNotMatch)
        );
        assert_eq!(
            verify(
                &headers,
                "POST",
                "/logstores/l/shards/route",
                "key=x",
                &body
            ),
            Err(SlsAuthError::SignatureNotMatch)
        );
        let mut h = headers.clone();
        h[0].1 = "other.localhost".into();
        assert_eq!(
            verify(&h, "POST", "/logstores/l/shards/route", q, &body),
            Err(SlsAuthError::SignatureNotMatch)
        );
        let mut h = headers.clone();
        h[5].1 = "changed".into();
        assert!(
            verify(&h, "POST", "/logstores/l/shards/route", q, &body).is_ok(),
            "unsigned headers may change"
        );
        assert_eq!(pct("a b+c/~"), "a%20b%2Bc%2F~");
    }
}
