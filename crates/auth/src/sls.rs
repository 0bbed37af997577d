//! SLS request signatures: verification of v1 and v4, and signing helpers.
//!
//! The rules below were checked byte for byte against what aliyun-log-python-sdk 0.9.52 signs
//! (see `tests/sls_sdk_vectors.rs`).
//!
//! # What the server receives and what the client signed
//!
//! The SDKs sign the *unencoded* resource path and the *unencoded* query parameters, then let
//! the HTTP library encode them on the wire (`requests` form-encodes the query: space → `+`,
//! `+` → `%2B`, `=` → `%3D`, `/` → `%2F`; the path is percent-encoded, e.g. `cg 1` → `cg%201`).
//! So [`SlsRequest::path`] and [`SlsRequest::query`] are taken exactly as received and decoded
//! here before canonicalisation:
//!
//! - the path is percent-decoded (`+` stays `+`);
//! - query keys and values are form-decoded (`%XX` and `+` → space). If the raw query contains
//!   a literal `+`, the variant that keeps `+` as `+` is also tried, for hand-made clients that
//!   do not encode `+`.
//!
//! The OpenAPI SDK (`alibabacloud-sls20201230`, through `alibabacloud-gateway-sls`) signs v1 the
//! same way with HMAC-SHA256, and is checked against its own signer in
//! `tests/openapi_sdk_vectors.rs`.
//!
//! # v1: `Authorization: LOG <AccessKeyId>:<base64 HMAC(secret, StringToSign)>`
//!
//! The HMAC is the one `x-log-signaturemethod` names: `hmac-sha1` (the classic SDKs; also when
//! the header is absent) or `hmac-sha256` (the OpenAPI SDKs); any other value is
//! `400 ParameterInvalid`. The header is itself signed.
//!
//! ```text
//! StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//!                CanonicalizedLogHeaders CanonicalizedResource
//! ```
//! - `Content-MD5`, `Content-Type`, `Date`: header values as received, empty when absent;
//! - CanonicalizedLogHeaders: every header whose lower-cased name starts with `x-log-` or
//!   `x-acs-`, except `x-log-date` (the Python SDK adds it after signing) and `x-log-meta-*`;
//!   lower-cased name, `name:value\n` each, sorted by name. A client that signs every
//!   `x-log-*` header it sends, `x-log-date` included, is accepted too (that form is tried
//!   when `x-log-date` is present); the request time is still only `Date`;
//! - CanonicalizedResource: decoded path, then, when there are parameters, `?` and
//!   `key=value` pairs (decoded, empty values kept as `key=`) sorted by key, joined by `&`.
//!
//! # v4: `Authorization: SLS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/sls/aliyun_v4_request,Signature=<hex>`
//!
//! No SignedHeaders list is transmitted; the server rebuilds it:
//! `content-type` (if present), `host`, and every `x-log-*` / `x-acs-*` header except
//! `x-log-meta-*`, lower-cased and sorted.
//!
//! ```text
//! CanonicalRequest = METHOD "\n" decoded-path "\n" CanonicalQuery "\n"
//!                    ("name:trim(value)\n" per signed header) "\n"
//!                    signed-names-joined-by-";" "\n" hex(SHA-256(body))
//! CanonicalQuery   = sorted by key, `key=RFC3986(value)` or bare `key` when the value is
//!                    empty, joined by "&" (keys are not re-encoded)
//! StringToSign     = "SLS4-HMAC-SHA256\n" x-log-date "\n"
//!                    yyyymmdd "/" region "/sls/aliyun_v4_request\n" hex(SHA-256(CanonicalRequest))
//! key = HMAC-SHA256("aliyun_v4" + secret, yyyymmdd) → region → "sls" → "aliyun_v4_request"
//! Signature = hex(HMAC-SHA256(key, StringToSign))
//! ```
//! The region is taken from the credential scope and not checked against a configured one.
//!
//! # Checks
//!
//! - Time: only a time the signature covers is checked against the server clock. v1 takes it
//!   from `Date` (RFC 1123), line 4 of the string to sign; `x-log-date`, which the Python SDK
//!   adds after signing as a copy of `Date`, is not signed, so it is ignored (it stays out of the
//!   canonical headers too): a request replayed with a fresh `x-log-date` still carries its old
//!   `Date`. A v1 request without `Date` is `400 MissingDate`. v4 needs `x-log-date` as
//!   `YYYYMMDDTHHMMSSZ` (it is line 2 of the string to sign and a signed header) and the
//!   credential date must be its first eight characters. More than [`MAX_SKEW_SECS`] away from
//!   the server clock → `400 RequestTimeExpired`.
//! - Body: v1 signs the `Content-MD5` header, so when that header is present and not empty it
//!   must be the MD5 of the body (else `400 InvalidContentMD5`; the exact code real SLS uses is
//!   not known); an empty one (the OpenAPI SDK sends `Content-MD5:` without a body) claims
//!   nothing. A v1 request that sends `x-log-content-sha256` (signed as an `x-log-*` header)
//!   must have that SHA-256 (else `401 SignatureNotMatch`). A v1 request with a body and
//!   neither digest is accepted with an unsigned body, as the Python SDK's `put_object` sends. v4: when `x-log-content-sha256` is present the
//!   canonical request is built with its value and the body must have that SHA-256 (else
//!   `SignatureNotMatch`); without it the canonical request uses the SHA-256 of the body.
//! - `x-log-meta-*`: excluded by Python (v1 and v4) and Go (v4), included by Java and Go v1.
//!   When such headers are present and the Python form does not match, the variant that
//!   includes them is tried.
//! - STS tokens (`x-acs-security-token`) are signed like any `x-acs-*` header but not
//!   otherwise validated.
//! - Signatures are compared in constant time.
//!
//! # Two phases
//!
//! [`verify_sls_head`] checks what the head of a request allows, so that an HTTP server can
//! refuse a request before reading its body; [`BodyCheck::verify_body`] finishes with the body.
//! [`verify_sls`] is the two in a row.
//!
//! | request | head phase | body phase |
//! |---|---|---|
//! | v1 | `Authorization` shape, signature method, `Date` within the skew, known key, signature (it covers `Content-MD5` and `x-log-content-sha256`) | the body has each digest that was sent (not empty) |
//! | v4 with `x-log-content-sha256` | `Authorization` shape, `x-log-date` within the skew and matching the credential date, known key, signature (over the header's value) | the body's SHA-256 is `x-log-content-sha256` |
//! | v4 without it | `Authorization` shape, `x-log-date` within the skew and matching the credential date, known key | signature (over the body's SHA-256) |
//!
//! So in the last case the head phase authenticates nobody: the access key id is known to
//! exist, but only the body phase shows that the sender holds its secret
//! ([`BodyCheck::signature_verified`] tells the cases apart).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::encoding::{constant_time_eq, decode, encode_rfc3986};
use crate::{Principal, SecretLookup};

/// Largest accepted difference between the request time and the server clock.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// Hex SHA-256 of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The v4 algorithm name (scheme of the `Authorization` value).
pub const V4_ALGORITHM: &str = "SLS4-HMAC-SHA256";
const V4_SERVICE: &str = "sls";
const V4_TERMINATOR: &str = "aliyun_v4_request";
const V4_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// A request as the signature sees it. Framework-free: the HTTP layer adapts its own types.
#[derive(Debug, Clone, Copy)]
pub struct SlsRequest<'a> {
    /// HTTP method, upper case as sent (`GET`, `POST`, …).
    pub method: &'a str,
    /// Request path as received on the wire (still percent-encoded), without the query.
    pub path: &'a str,
    /// Raw query string as received, without `?`; empty when there is none.
    pub query: &'a str,
    /// All request headers, names in any case. When a name repeats, the first value counts.
    /// HTTP/2 requests must include `host` (from `:authority`), which v4 signs.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body bytes exactly as received (compressed PutLogs bodies stay compressed); not read
    /// by [`verify_sls_head`].
    pub body: &'a [u8],
}

impl<'a> SlsRequest<'a> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Why a request was not authenticated. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlsAuthError {
    /// No `Authorization` header.
    #[error("no Authorization header; this server requires signed requests")]
    MissingAuthorization,
    /// An `Authorization` value that is neither a v1 nor a v4 signature.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The `Authorization` value names no access key id.
    #[error("the Authorization header names no access key id")]
    MissingAccessKeyId,
    /// The access key id is not known.
    #[error("access key id {0:?} does not exist")]
    UnknownAccessKeyId(String),
    /// The signature does not match the request.
    #[error(
        "the request signature does not match; check the access key secret and that the \
         method, path, query, signed headers and Date reach the server unchanged"
    )]
    SignatureNotMatch,
    /// v4: `x-log-content-sha256` is not the SHA-256 of the body.
    #[error("x-log-content-sha256 does not match the SHA-256 of the request body")]
    ContentSha256Mismatch,
    /// v1: `Content-MD5` is not the MD5 of the body.
    #[error("Content-MD5 does not match the MD5 of the request body")]
    ContentMd5Mismatch,
    /// No `Date` (v1), or no `x-log-date` (v4): the signed request time is missing.
    #[error("the request carries no signed date: v1 needs Date, v4 needs x-log-date")]
    MissingDate,
    /// The date header cannot be parsed.
    #[error("cannot parse the request date {0:?} (v1: RFC 1123, v4: YYYYMMDDTHHMMSSZ)")]
    InvalidDate(String),
    /// v1: `x-log-signaturemethod` names a method other than `hmac-sha1` and `hmac-sha256`.
    #[error("unsupported x-log-signaturemethod {0:?}: use hmac-sha1 or hmac-sha256")]
    UnsupportedSignatureMethod(String),
    /// The request time is too far from the server clock.
    #[error(
        "request time {request_unix} is more than 15 minutes away from server time \
         {server_unix}; check the client clock"
    )]
    RequestTimeExpired {
        /// Request time, unix seconds.
        request_unix: i64,
        /// Server time, unix seconds.
        server_unix: i64,
    },
}

impl SlsAuthError {
    /// The SLS `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthorization | Self::MalformedAuthorization(_) => "Unauthorized",
            Self::MissingAccessKeyId | Self::UnknownAccessKeyId(_) => "InvalidAccessKeyId",
            Self::SignatureNotMatch | Self::ContentSha256Mismatch => "SignatureNotMatch",
            Self::ContentMd5Mismatch => "InvalidContentMD5",
            Self::MissingDate => "MissingDate",
            Self::InvalidDate(_) => "InvalidDateFormat",
            Self::UnsupportedSignatureMethod(_) => "ParameterInvalid",
            Self::RequestTimeExpired { .. } => "RequestTimeExpired",
        }
    }

    /// The HTTP status of the error response.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ContentMd5Mismatch
            | Self::MissingDate
            | Self::InvalidDate(_)
            | Self::UnsupportedSignatureMethod(_)
            | Self::RequestTimeExpired { .. } => 400,
            Self::MissingAuthorization
            | Self::MalformedAuthorization(_)
            | Self::MissingAccessKeyId
            | Self::UnknownAccessKeyId(_)
            | Self::SignatureNotMatch
            | Self::ContentSha256Mismatch => 401,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canonicalisation

/// Which of the tolerated client differences a canonical form uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    /// `+` in the query means a space (true for every official SDK).
    plus_as_space: bool,
    /// `x-log-meta-*` headers are signed (Java; Go v1; the OpenAPI SDK).
    include_meta: bool,
    /// v1: `x-log-date` is signed (the OpenAPI SDK's signer signs every `x-log-*` header it
    /// sends; the classic SDKs add `x-log-date` after signing).
    include_log_date: bool,
}

/// What the Python SDK (and, for the inputs it produces, the other SDKs) signs.
const SDK_VARIANT: Variant = Variant {
    plus_as_space: true,
    include_meta: false,
    include_log_date: false,
};

/// The forms to try, most common first.
fn variants(req: &SlsRequest) -> Vec<Variant> {
    let plus = if req.query.contains('+') {
        &[true, false][..]
    } else {
        &[true][..]
    };
    let has_meta = req
        .headers
        .iter()
        .any(|(k, _)| lower(k).starts_with("x-log-meta-"));
    let meta = if has_meta {
        &[false, true][..]
    } else {
        &[false][..]
    };
    let log_date = if req.header("x-log-date").is_some() {
        &[false, true][..]
    } else {
        &[false][..]
    };
    let mut out = Vec::with_capacity(plus.len() * meta.len() * log_date.len());
    for &include_log_date in log_date {
        for &include_meta in meta {
            for &plus_as_space in plus {
                out.push(Variant {
                    plus_as_space,
                    include_meta,
                    include_log_date,
                });
            }
        }
    }
    out
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn is_log_header(lower_name: &str, include_meta: bool) -> bool {
    lower_name.starts_with("x-acs-")
        || (lower_name.starts_with("x-log-")
            && (include_meta || !lower_name.starts_with("x-log-meta-")))
}

/// Headers selected by `keep`, lower-cased, first value per name, sorted by name.
fn select_headers<'a>(
    req: &SlsRequest<'a>,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, &'a str> {
    let mut out = BTreeMap::new();
    for (k, v) in req.headers {
        let k = lower(k);
        if keep(&k) {
            out.entry(k).or_insert(*v);
        }
    }
    out
}

/// Decoded query parameters sorted by key (then value).
fn query_params(query: &str, plus_as_space: bool) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, plus_as_space), decode(v, plus_as_space))
        })
        .collect();
    params.sort();
    params
}

fn string_to_sign_v1_with(req: &SlsRequest, v: Variant) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(req.method);
    s.push('\n');
    s.push_str(req.header("content-md5").unwrap_or(""));
    s.push('\n');
    s.push_str(req.header("content-type").unwrap_or(""));
    s.push('\n');
    s.push_str(req.header("date").unwrap_or(""));
    s.push('\n');
    let headers = select_headers(req, |k| {
        (v.include_log_date || k != "x-log-date") && is_log_header(k, v.include_meta)
    });
    for (k, val) in headers {
        s.push_str(&k);
        s.push(':');
        s.push_str(val);
        s.push('\n');
    }
    s.push_str(&decode(req.path, false));
    let params = query_params(req.query, v.plus_as_space);
    for (i, (k, val)) in params.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(val);
    }
    s
}

/// The v1 string to sign of `req` as the SDKs build it (for diagnostics and tests).
pub fn string_to_sign_v1(req: &SlsRequest) -> String {
    string_to_sign_v1_with(req, SDK_VARIANT)
}

fn canonical_request_v4_with(req: &SlsRequest, v: Variant, body_sha256_hex: &str) -> String {
    let headers = select_headers(req, |k| {
        k == "content-type" || k == "host" || is_log_header(k, v.include_meta)
    });
    let mut s = String::with_capacity(512);
    s.push_str(req.method);
    s.push('\n');
    s.push_str(&decode(req.path, false));
    s.push('\n');
    let params = query_params(req.query, v.plus_as_space);
    for (i, (k, val)) in params.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k);
        if !val.is_empty() {
            s.push('=');
            s.push_str(&encode_rfc3986(val));
        }
    }
    s.push('\n');
    for (k, val) in &headers {
        s.push_str(k);
        s.push(':');
        s.push_str(val.trim());
        s.push('\n');
    }
    s.push('\n');
    let names: Vec<&str> = headers.keys().map(String::as_str).collect();
    s.push_str(&names.join(";"));
    s.push('\n');
    s.push_str(body_sha256_hex);
    s
}

/// The v4 canonical request of `req` as the SDKs build it, with the SHA-256 of `req.body`
/// (for diagnostics and tests).
pub fn canonical_request_v4(req: &SlsRequest) -> String {
    canonical_request_v4_with(req, SDK_VARIANT, &sha256_hex(req.body))
}

// ---------------------------------------------------------------------------------------------
// Cryptography

fn hmac_sha1_base64(secret: &str, msg: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(msg.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A v1 signature method, as `x-log-signaturemethod` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Method {
    /// `hmac-sha1` (the classic SDKs; also when the header is absent).
    HmacSha1,
    /// `hmac-sha256` (the OpenAPI SDKs).
    HmacSha256,
}

impl V1Method {
    /// The method `req` names; absent means `hmac-sha1`.
    pub fn of(req: &SlsRequest) -> Result<Self, SlsAuthError> {
        match req.header("x-log-signaturemethod").map(str::trim) {
            None => Ok(Self::HmacSha1),
            Some(m) if m.eq_ignore_ascii_case("hmac-sha1") => Ok(Self::HmacSha1),
            Some(m) if m.eq_ignore_ascii_case("hmac-sha256") => Ok(Self::HmacSha256),
            Some(m) => Err(SlsAuthError::UnsupportedSignatureMethod(
                m.chars().take(64).collect(),
            )),
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "hmac-sha1",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    /// base64 of the HMAC of `msg` under `secret`.
    fn sign(self, secret: &str, msg: &str) -> String {
        match self {
            Self::HmacSha1 => hmac_sha1_base64(secret, msg),
            Self::HmacSha256 => base64::engine::general_purpose::STANDARD
                .encode(hmac_sha256(secret.as_bytes(), msg.as_bytes())),
        }
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Upper-case hex MD5, the `Content-MD5` form every SLS SDK sends.
pub fn content_md5(body: &[u8]) -> String {
    hex::encode_upper(Md5::digest(body))
}

/// Lower-case hex SHA-256, the `x-log-content-sha256` form.
pub fn content_sha256(body: &[u8]) -> String {
    sha256_hex(body)
}

fn v4_signature(
    secret: &str,
    day: &str,
    region: &str,
    x_log_date: &str,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "{V4_ALGORITHM}\n{x_log_date}\n{day}/{region}/{V4_SERVICE}/{V4_TERMINATOR}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), day.as_bytes());
    key = hmac_sha256(&key, region.as_bytes());
    key = hmac_sha256(&key, V4_SERVICE.as_bytes());
    key = hmac_sha256(&key, V4_TERMINATOR.as_bytes());
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Formats unix seconds as an RFC 1123 date (`Sun, 22 Nov 2026 12:48:03 GMT`), the v1 `Date`.
pub fn http_date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Formats unix seconds as `YYYYMMDDTHHMMSSZ`, the v4 `x-log-date`.
pub fn v4_date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format(V4_DATE_FORMAT)
        .to_string()
}

fn parse_rfc1123(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.timestamp())
}

fn parse_v4_date(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), V4_DATE_FORMAT)
        .ok()
        .map(|d| d.and_utc().timestamp())
}

fn check_skew(request_unix: i64, server_unix: i64) -> Result<(), SlsAuthError> {
    if request_unix.abs_diff(server_unix) > MAX_SKEW_SECS as u64 {
        return Err(SlsAuthError::RequestTimeExpired {
            request_unix,
            server_unix,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Verification

enum Authorization<'a> {
    V1 {
        id: &'a str,
        signature: &'a str,
    },
    V4 {
        id: &'a str,
        day: &'a str,
        region: &'a str,
        signature: &'a str,
    },
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, SlsAuthError> {
    let value = value.trim();
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    let rest = rest.trim();
    match scheme {
        "LOG" => {
            let (id, signature) =
                rest.rsplit_once(':')
                    .ok_or(SlsAuthError::MalformedAuthorization(
                        "expected \"LOG <AccessKeyId>:<Signature>\"",
                    ))?;
            let (id, signature) = (id.trim(), signature.trim());
            if id.is_empty() {
                return Err(SlsAuthError::MissingAccessKeyId);
            }
            if signature.is_empty() {
                return Err(SlsAuthError::MalformedAuthorization(
                    "the v1 signature is empty",
                ));
            }
            Ok(Authorization::V1 { id, signature })
        }
        V4_ALGORITHM => {
            const SHAPE: &str = "expected \"SLS4-HMAC-SHA256 Credential=<AccessKeyId>/<yyyymmdd>/<region>/sls/aliyun_v4_request,Signature=<hex>\"";
            let mut credential = None;
            let mut signature = None;
            for part in rest.split(',') {
                let Some((k, v)) = part.split_once('=') else {
                    continue;
                };
                match k.trim() {
                    "Credential" => credential = Some(v.trim()),
                    "Signature" => signature = Some(v.trim()),
                    _ => {}
                }
            }
            let (Some(credential), Some(signature)) = (credential, signature) else {
                return Err(SlsAuthError::MalformedAuthorization(SHAPE));
            };
            let mut scope = credential.rsplitn(5, '/');
            let (Some(terminator), Some(service), Some(region), Some(day), Some(id)) = (
                scope.next(),
                scope.next(),
                scope.next(),
                scope.next(),
                scope.next(),
            ) else {
                return Err(SlsAuthError::MalformedAuthorization(SHAPE));
            };
            if terminator != V4_TERMINATOR
                || service != V4_SERVICE
                || day.len() != 8
                || !day.bytes().all(|b| b.is_ascii_digit())
                || signature.is_empty()
            {
                return Err(SlsAuthError::MalformedAuthorization(SHAPE));
            }
            if id.is_empty() {
                return Err(SlsAuthError::MissingAccessKeyId);
            }
            Ok(Authorization::V4 {
                id,
                day,
                region,
                signature,
            })
        }
        _ => Err(SlsAuthError::MalformedAuthorization(
            "unsupported scheme; expected \"LOG\" (v1) or \"SLS4-HMAC-SHA256\" (v4)",
        )),
    }
}

/// Verifies the signature of an SLS request at server time `now_unix` (unix seconds): the head
/// phase ([`verify_sls_head`]) and then the body phase ([`BodyCheck::verify_body`]) over
/// `req.body`.
pub fn verify_sls(
    req: &SlsRequest,
    keys: &dyn SecretLookup,
    now_unix: i64,
) -> Result<Principal, SlsAuthError> {
    verify_sls_head(req, keys, now_unix)?.verify_body(req, req.body, keys)
}

/// Verifies everything about an SLS request that does not need its body, at server time
/// `now_unix` (unix seconds); `req.body` is ignored (pass `&[]`). See "Two phases" in the module
/// documentation for what each signature version leaves to [`BodyCheck::verify_body`].
///
/// Order of checks: `Authorization` shape, date and clock skew, access key, then the signature
/// when the head covers it (v1; v4 with `x-log-content-sha256`).
pub fn verify_sls_head(
    req: &SlsRequest,
    keys: &dyn SecretLookup,
    now_unix: i64,
) -> Result<BodyCheck, SlsAuthError> {
    let value = req
        .header("authorization")
        .filter(|v| !v.trim().is_empty())
        .ok_or(SlsAuthError::MissingAuthorization)?;
    match parse_authorization(value)? {
        Authorization::V1 { id, signature } => head_v1(req, id, signature, keys, now_unix),
        Authorization::V4 {
            id,
            day,
            region,
            signature,
        } => head_v4(req, id, day, region, signature, keys, now_unix),
    }
}

/// What is left to check of an SLS request once its body has been read; made by
/// [`verify_sls_head`]. It holds no secret: [`verify_body`](Self::verify_body) looks the key up
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the request is not authenticated until verify_body passes"]
pub struct BodyCheck {
    access_key_id: String,
    pending: Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    /// v1: the signature covered `Content-MD5` (upper-cased here) and `x-log-content-sha256`
    /// (lower-cased here); the body must have each digest that was sent. Neither sent: the
    /// body is not signed.
    V1 {
        md5: Option<String>,
        sha256: Option<String>,
    },
    /// v4 with `x-log-content-sha256`: the signature covered that value (lower-cased here); the
    /// body must have that SHA-256.
    ContentSha256(String),
    /// v4 without `x-log-content-sha256`: the signature covers the SHA-256 of the body, so it is
    /// checked with the body.
    V4Signature {
        day: String,
        region: String,
        date: String,
        signature: String,
    },
}

impl BodyCheck {
    /// The access key id the request names. Authenticated already when
    /// [`signature_verified`](Self::signature_verified) is true; otherwise only known to exist.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether the head phase verified the signature (v1, and v4 with `x-log-content-sha256`),
    /// so that only the body digest is left to check.
    pub fn signature_verified(&self) -> bool {
        !matches!(self.pending, Pending::V4Signature { .. })
    }

    /// Finishes the verification with the body as received. `req` must be the request the head
    /// phase saw (its `body` field is ignored).
    ///
    /// v1: the body must have the MD5 of `Content-MD5` when that header is present, else
    /// `InvalidContentMD5`. v4 with `x-log-content-sha256`: the body must have that SHA-256, else
    /// `SignatureNotMatch`. v4 without it: the signature is checked over the body's SHA-256.
    pub fn verify_body(
        &self,
        req: &SlsRequest,
        body: &[u8],
        keys: &dyn SecretLookup,
    ) -> Result<Principal, SlsAuthError> {
        match &self.pending {
            Pending::V1 { md5, sha256 } => {
                if let Some(md5) = md5 {
                    if !constant_time_eq(md5.as_bytes(), content_md5(body).as_bytes()) {
                        return Err(SlsAuthError::ContentMd5Mismatch);
                    }
                }
                if let Some(claimed) = sha256 {
                    if !constant_time_eq(claimed.as_bytes(), sha256_hex(body).as_bytes()) {
                        return Err(SlsAuthError::ContentSha256Mismatch);
                    }
                }
            }
            Pending::ContentSha256(claimed) => {
                if !constant_time_eq(claimed.as_bytes(), sha256_hex(body).as_bytes()) {
                    return Err(SlsAuthError::ContentSha256Mismatch);
                }
            }
            Pending::V4Signature {
                day,
                region,
                date,
                signature,
            } => {
                let secret = lookup(keys, &self.access_key_id)?;
                let body_hash = sha256_hex(body);
                if !v4_matches(req, &secret, day, region, date, signature, &body_hash) {
                    return Err(SlsAuthError::SignatureNotMatch);
                }
            }
        }
        Ok(Principal {
            access_key_id: self.access_key_id.clone(),
        })
    }
}

fn lookup(keys: &dyn SecretLookup, id: &str) -> Result<String, SlsAuthError> {
    keys.secret(id)
        .ok_or_else(|| SlsAuthError::UnknownAccessKeyId(id.to_string()))
}

fn head_v1(
    req: &SlsRequest,
    id: &str,
    signature: &str,
    keys: &dyn SecretLookup,
    now_unix: i64,
) -> Result<BodyCheck, SlsAuthError> {
    // Only `Date` is signed (line 4 of the string to sign); `x-log-date` is not, so it cannot
    // be the time that is checked.
    let method = V1Method::of(req)?;
    let date = req.header("date").ok_or(SlsAuthError::MissingDate)?;
    let t = parse_rfc1123(date).ok_or_else(|| SlsAuthError::InvalidDate(date.to_string()))?;
    check_skew(t, now_unix)?;
    let secret = lookup(keys, id)?;
    let matched = variants(req).into_iter().any(|v| {
        let expected = method.sign(&secret, &string_to_sign_v1_with(req, v));
        constant_time_eq(expected.as_bytes(), signature.as_bytes())
    });
    if !matched {
        return Err(SlsAuthError::SignatureNotMatch);
    }
    // Both digests are signed (`Content-MD5` is line 2, `x-log-content-sha256` a log header);
    // an empty one (the OpenAPI SDK sends `Content-MD5:` without a body) claims nothing.
    let claimed = |name: &str| {
        req.header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(BodyCheck {
        access_key_id: id.to_string(),
        pending: Pending::V1 {
            md5: claimed("content-md5").map(|m| m.to_ascii_uppercase()),
            sha256: claimed("x-log-content-sha256").map(|h| h.to_ascii_lowercase()),
        },
    })
}

fn head_v4(
    req: &SlsRequest,
    id: &str,
    day: &str,
    region: &str,
    signature: &str,
    keys: &dyn SecretLookup,
    now_unix: i64,
) -> Result<BodyCheck, SlsAuthError> {
    let date = req.header("x-log-date").ok_or(SlsAuthError::MissingDate)?;
    let t = parse_v4_date(date).ok_or_else(|| SlsAuthError::InvalidDate(date.to_string()))?;
    check_skew(t, now_unix)?;
    let date = date.trim();
    if !date.starts_with(day) {
        return Err(SlsAuthError::MalformedAuthorization(
            "the credential date is not the date of x-log-date",
        ));
    }
    let secret = lookup(keys, id)?;
    let signature = signature.to_ascii_lowercase();
    let pending = match req.header("x-log-content-sha256") {
        Some(claimed) => {
            let claimed = claimed.trim().to_ascii_lowercase();
            if !v4_matches(req, &secret, day, region, date, &signature, &claimed) {
                return Err(SlsAuthError::SignatureNotMatch);
            }
            Pending::ContentSha256(claimed)
        }
        None => Pending::V4Signature {
            day: day.to_string(),
            region: region.to_string(),
            date: date.to_string(),
            signature,
        },
    };
    Ok(BodyCheck {
        access_key_id: id.to_string(),
        pending,
    })
}

/// Whether `signature` (lower-case hex) is the v4 signature of `req` with `body_sha256_hex` as
/// the last line of the canonical request, in any of the tolerated forms.
fn v4_matches(
    req: &SlsRequest,
    secret: &str,
    day: &str,
    region: &str,
    date: &str,
    signature: &str,
    body_sha256_hex: &str,
) -> bool {
    variants(req).into_iter().any(|v| {
        let creq = canonical_request_v4_with(req, v, body_sha256_hex);
        let expected = v4_signature(secret, day, region, date, &creq);
        constant_time_eq(expected.as_bytes(), signature.as_bytes())
    })
}

// ---------------------------------------------------------------------------------------------
// Signing

/// The v1 `Authorization` value for `req`, which must already carry every header it will be
/// sent with (`Date`, `Content-MD5` when there is a body, `Content-Type`, `x-log-*`), and the
/// path and query in the form they will have on the wire.
pub fn sign_v1(req: &SlsRequest, access_key_id: &str, secret: &str) -> String {
    let method = V1Method::of(req).unwrap_or(V1Method::HmacSha1);
    format!(
        "LOG {access_key_id}:{}",
        method.sign(secret, &string_to_sign_v1(req))
    )
}

/// The v4 `Authorization` value for `req`, which must already carry `Host`, `x-log-date`
/// (`YYYYMMDDTHHMMSSZ`; its first eight characters are the scope date) and every other signed
/// header it will be sent with. The body hash is computed from `req.body`.
pub fn sign_v4(req: &SlsRequest, access_key_id: &str, secret: &str, region: &str) -> String {
    let date = req.header("x-log-date").unwrap_or("").trim();
    let day = date.get(..8).unwrap_or("");
    let creq = canonical_request_v4(req);
    format!(
        "{V4_ALGORITHM} Credential={access_key_id}/{day}/{region}/{V4_SERVICE}/{V4_TERMINATOR},Signature={}",
        v4_signature(secret, day, region, date, &creq)
    )
}

/// Signature version of a [`Signer`].
#[derive(Clone, PartialEq, Eq)]
enum Version {
    V1,
    /// v1 as the OpenAPI SDK signs it: `hmac-sha256`, `Content-MD5` always sent (empty without
    /// a body), no `x-log-date`.
    V1Sha256,
    V4 {
        region: String,
    },
}

/// Signs requests the way the Python SDK does, for test suites and load generators.
///
/// The `Debug` output leaves out the secret.
#[derive(Clone)]
pub struct Signer {
    access_key_id: String,
    secret: String,
    version: Version,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = match &self.version {
            Version::V1 => "v1".to_string(),
            Version::V1Sha256 => "v1 (hmac-sha256)".to_string(),
            Version::V4 { region } => format!("v4 ({region})"),
        };
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("version", &version)
            .finish_non_exhaustive()
    }
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value));
}

impl Signer {
    /// A v1 (`LOG id:sig`) signer.
    pub fn v1(access_key_id: &str, secret: &str) -> Self {
        Self {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            version: Version::V1,
        }
    }

    /// A v1 signer that signs as the OpenAPI SDKs do: `x-log-signaturemethod: hmac-sha256`,
    /// `Content-MD5` always present (empty without a body), no `x-log-date`.
    pub fn v1_hmac_sha256(access_key_id: &str, secret: &str) -> Self {
        Self {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            version: Version::V1Sha256,
        }
    }

    /// A v4 (`SLS4-HMAC-SHA256`) signer for `region` (any string; the server does not check it).
    pub fn v4(access_key_id: &str, secret: &str, region: &str) -> Self {
        Self {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            version: Version::V4 {
                region: region.to_string(),
            },
        }
    }

    /// Adds the signing headers to `headers` for a request at time `now_unix`, replacing any
    /// earlier values of the same names.
    ///
    /// `path` and `query` are the wire forms (percent-encoded, query without `?`). `headers`
    /// must already hold what the request will be sent with that is signed: `Host` (v4),
    /// `Content-Type`, `x-log-apiversion`, `x-log-bodyrawsize`, `x-log-compresstype`, ….
    ///
    /// - v1 adds `x-log-signaturemethod`, `Date`, `Content-MD5` (non-empty body),
    ///   `Authorization`, then `x-log-date` (unsigned copy of `Date`);
    /// - v4 adds `x-log-content-sha256`, `x-log-date` and `Authorization`.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        headers: &mut Vec<(String, String)>,
        now_unix: i64,
    ) {
        match &self.version {
            Version::V1 => {
                let date = http_date(now_unix);
                set_header(
                    headers,
                    "x-log-signaturemethod",
                    V1Method::HmacSha1.as_str().into(),
                );
                set_header(headers, "Date", date.clone());
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-log-date"));
                if body.is_empty() {
                    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-md5"));
                } else {
                    set_header(headers, "Content-MD5", content_md5(body));
                }
                let auth = self.authorization(method, path, query, body, headers);
                set_header(headers, "Authorization", auth);
                set_header(headers, "x-log-date", date);
            }
            Version::V1Sha256 => {
                set_header(
                    headers,
                    "x-log-signaturemethod",
                    V1Method::HmacSha256.as_str().into(),
                );
                set_header(headers, "Date", http_date(now_unix));
                let md5 = if body.is_empty() {
                    String::new()
                } else {
                    content_md5(body)
                };
                set_header(headers, "Content-MD5", md5);
                let auth = self.authorization(method, path, query, body, headers);
                set_header(headers, "Authorization", auth);
            }
            Version::V4 { .. } => {
                set_header(headers, "x-log-content-sha256", content_sha256(body));
                set_header(headers, "x-log-date", v4_date(now_unix));
                let auth = self.authorization(method, path, query, body, headers);
                set_header(headers, "Authorization", auth);
            }
        }
    }

    fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        headers: &[(String, String)],
    ) -> String {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = SlsRequest {
            method,
            path,
            query,
            headers: &hs,
            body,
        };
        match &self.version {
            Version::V1 | Version::V1Sha256 => sign_v1(&req, &self.access_key_id, &self.secret),
            Version::V4 { region } => sign_v4(&req, &self.access_key_id, &self.secret, region),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(&'a str, &'a str)],
        body: &'a [u8],
    ) -> SlsRequest<'a> {
        SlsRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    #[test]
    fn v1_string_to_sign_shape() {
        let headers = [
            ("Date", "Sun, 22 Nov 2026 12:48:03 GMT"),
            ("Content-Type", "application/json"),
            ("X-Log-ApiVersion", "0.6.0"),
            ("x-log-signaturemethod", "hmac-sha1"),
            ("x-log-bodyrawsize", "0"),
            ("x-log-date", "Sun, 22 Nov 2026 12:48:03 GMT"),
            ("x-log-meta-a", "1"),
            ("x-acs-security-token", "tok"),
            ("User-Agent", "x"),
        ];
        let r = req(
            "GET",
            "/logstores/ls1/shards/0",
            "type=cursor&from=begin",
            &headers,
            b"",
        );
        assert_eq!(
            string_to_sign_v1(&r),
            "GET\n\napplication/json\nSun, 22 Nov 2026 12:48:03 GMT\n\
             x-acs-security-token:tok\nx-log-apiversion:0.6.0\nx-log-bodyrawsize:0\n\
             x-log-signaturemethod:hmac-sha1\n/logstores/ls1/shards/0?from=begin&type=cursor"
        );
        let with_meta = string_to_sign_v1_with(
            &r,
            Variant {
                include_meta: true,
                ..SDK_VARIANT
            },
        );
        assert!(with_meta.contains("x-log-meta-a:1\n"));
    }

    #[test]
    fn v1_resource_decodes_path_and_query() {
        let r = req(
            "GET",
            "/logstores/a%20b",
            "q=x+y%2Bz&empty=&bare&c=MTI%3D",
            &[],
            b"",
        );
        assert!(string_to_sign_v1(&r).ends_with("/logstores/a b?bare=&c=MTI=&empty=&q=x y+z"));
        let raw_plus = string_to_sign_v1_with(
            &r,
            Variant {
                plus_as_space: false,
                ..SDK_VARIANT
            },
        );
        assert!(raw_plus.ends_with("&q=x+y+z"));
    }

    #[test]
    fn v4_canonical_request_shape() {
        let headers = [
            ("Host", "p.example.com"),
            ("Content-Type", "application/json"),
            ("x-log-date", "20261122T124803Z"),
            ("x-log-apiversion", " 0.6.0 "),
            ("x-log-meta-a", "1"),
            ("Date", "not signed"),
        ];
        let r = req("POST", "/a%20b", "k=a b&e=&z=~*", &headers, b"{}");
        assert_eq!(
            canonical_request_v4(&r),
            format!(
                "POST\n/a b\ne&k=a%20b&z=~%2A\ncontent-type:application/json\nhost:p.example.com\n\
                 x-log-apiversion:0.6.0\nx-log-date:20261122T124803Z\n\n\
                 content-type;host;x-log-apiversion;x-log-date\n{}",
                sha256_hex(b"{}")
            )
        );
    }

    #[test]
    fn variants_are_only_tried_when_relevant() {
        let plain = req("GET", "/", "a=1", &[], b"");
        assert_eq!(variants(&plain), vec![SDK_VARIANT]);
        let headers = [("X-Log-Meta-k", "v")];
        let both = req("GET", "/", "a=1+2", &headers, b"");
        assert_eq!(variants(&both).len(), 4);
        assert_eq!(variants(&both)[0], SDK_VARIANT);
        let headers = [("x-log-date", "d")];
        let dated = req("GET", "/", "a=1", &headers, b"");
        assert_eq!(variants(&dated).len(), 2);
        assert_eq!(variants(&dated)[0], SDK_VARIANT);
        assert!(variants(&dated)[1].include_log_date);
    }

    #[test]
    fn authorization_parsing() {
        use SlsAuthError as E;
        let bad = |v: &str| match parse_authorization(v) {
            Err(e) => e,
            Ok(_) => panic!("{v} parsed"),
        };
        assert!(matches!(
            parse_authorization("LOG ak:c2ln"),
            Ok(Authorization::V1 {
                id: "ak",
                signature: "c2ln"
            })
        ));
        assert!(matches!(
            parse_authorization(
                "SLS4-HMAC-SHA256 Credential=ak/20261122/cn-hangzhou/sls/aliyun_v4_request, Signature=ab"
            ),
            Ok(Authorization::V4 {
                id: "ak",
                day: "20261122",
                region: "cn-hangzhou",
                signature: "ab"
            })
        ));
        assert!(matches!(bad("LOG :sig"), E::MissingAccessKeyId));
        assert!(matches!(bad("LOG aksig"), E::MalformedAuthorization(_)));
        assert!(matches!(bad("LOG ak:"), E::MalformedAuthorization(_)));
        assert!(matches!(bad("Basic YTpi"), E::MalformedAuthorization(_)));
        assert!(matches!(
            bad("SLS4-HMAC-SHA256 Credential=ak/20261122/r/sls/aliyun_v4_request"),
            E::MalformedAuthorization(_)
        ));
        assert!(matches!(
            bad("SLS4-HMAC-SHA256 Credential=ak/2026112/r/sls/aliyun_v4_request,Signature=ab"),
            E::MalformedAuthorization(_)
        ));
        assert!(matches!(
            bad("SLS4-HMAC-SHA256 Credential=ak/20261122/r/oss/aliyun_v4_request,Signature=ab"),
            E::MalformedAuthorization(_)
        ));
        assert!(matches!(
            bad("SLS4-HMAC-SHA256 Credential=/20261122/r/sls/aliyun_v4_request,Signature=ab"),
            E::MissingAccessKeyId
        ));
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(1_795_351_683), "Sun, 22 Nov 2026 12:48:03 GMT");
        assert_eq!(v4_date(1_795_351_683), "20261122T124803Z");
        assert_eq!(
            parse_rfc1123("Sun, 22 Nov 2026 12:48:03 GMT"),
            Some(1_795_351_683)
        );
        assert_eq!(parse_v4_date("20261122T124803Z"), Some(1_795_351_683));
        assert_eq!(parse_rfc1123("20261122T124803Z"), None);
        assert_eq!(parse_v4_date("Sun, 22 Nov 2026 12:48:03 GMT"), None);
        assert!(check_skew(1000, 1000 + MAX_SKEW_SECS).is_ok());
        assert!(check_skew(1000 + MAX_SKEW_SECS, 1000).is_ok());
        assert!(check_skew(1000, 1001 + MAX_SKEW_SECS).is_err());
        assert!(check_skew(1001 + MAX_SKEW_SECS, 1000).is_err());
    }

    #[test]
    fn error_codes_and_statuses() {
        use SlsAuthError as E;
        let table = [
            (E::MissingAuthorization, "Unauthorized", 401),
            (E::MalformedAuthorization("x"), "Unauthorized", 401),
            (E::MissingAccessKeyId, "InvalidAccessKeyId", 401),
            (E::UnknownAccessKeyId("k".into()), "InvalidAccessKeyId", 401),
            (E::SignatureNotMatch, "SignatureNotMatch", 401),
            (E::ContentSha256Mismatch, "SignatureNotMatch", 401),
            (E::ContentMd5Mismatch, "InvalidContentMD5", 400),
            (E::MissingDate, "MissingDate", 400),
            (E::InvalidDate("x".into()), "InvalidDateFormat", 400),
            (
                E::RequestTimeExpired {
                    request_unix: 0,
                    server_unix: 0,
                },
                "RequestTimeExpired",
                400,
            ),
        ];
        for (e, code, status) in table {
            assert_eq!((e.code(), e.http_status()), (code, status), "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    const AK: &str = "ak";
    const SECRET: &str = "sk";
    /// Sun, 22 Nov 2026 12:48:03 GMT.
    const NOW: i64 = 1_795_351_683;
    const YEAR: i64 = 365 * 86_400;

    fn keys() -> std::collections::HashMap<String, String> {
        std::collections::HashMap::from([(AK.to_string(), SECRET.to_string())])
    }

    /// `Signer` output for a request, as owned header pairs.
    fn signed(
        signer: &Signer,
        method: &str,
        path: &str,
        body: &[u8],
        mut headers: Vec<(String, String)>,
        at: i64,
    ) -> Vec<(String, String)> {
        signer.sign(method, path, "", body, &mut headers, at);
        headers
    }

    fn set(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
        set_header(headers, name, value.to_string());
    }

    fn with_req<T>(
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        f: impl FnOnce(&SlsRequest) -> T,
    ) -> T {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        f(&req(method, path, "", &hs, body))
    }

    fn verify_at(
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: i64,
    ) -> Result<Principal, SlsAuthError> {
        with_req(method, path, headers, body, |r| verify_sls(r, &keys(), now))
    }

    /// The head phase, with no body at all.
    fn head(
        method: &str,
        path: &str,
        headers: &[(String, String)],
        now: i64,
    ) -> Result<BodyCheck, SlsAuthError> {
        with_req(method, path, headers, b"", |r| {
            verify_sls_head(r, &keys(), now)
        })
    }

    fn body_phase(
        check: &BodyCheck,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Principal, SlsAuthError> {
        with_req(method, path, headers, b"", |r| {
            check.verify_body(r, body, &keys())
        })
    }

    fn principal() -> Principal {
        Principal {
            access_key_id: AK.into(),
        }
    }

    #[test]
    fn v1_time_is_the_signed_date_not_x_log_date() {
        let base = vec![("x-log-apiversion".to_string(), "0.6.0".to_string())];
        let path = "/logstores/ls1";
        // Signed a year ago, replayed now with a fresh (unsigned) x-log-date.
        let mut old = signed(
            &Signer::v1(AK, SECRET),
            "DELETE",
            path,
            b"",
            base.clone(),
            NOW - YEAR,
        );
        assert_eq!(
            verify_at("DELETE", path, &old, b"", NOW - YEAR),
            Ok(principal())
        );
        set(&mut old, "x-log-date", &http_date(NOW));
        assert_eq!(
            verify_at("DELETE", path, &old, b"", NOW),
            Err(SlsAuthError::RequestTimeExpired {
                request_unix: NOW - YEAR,
                server_unix: NOW,
            })
        );
        // The same request signed with a fresh Date is accepted, whatever x-log-date says.
        let mut fresh = signed(
            &Signer::v1(AK, SECRET),
            "DELETE",
            path,
            b"",
            base.clone(),
            NOW,
        );
        assert_eq!(verify_at("DELETE", path, &fresh, b"", NOW), Ok(principal()));
        set(&mut fresh, "x-log-date", &http_date(NOW - YEAR));
        assert_eq!(verify_at("DELETE", path, &fresh, b"", NOW), Ok(principal()));
        fresh.retain(|(k, _)| k != "x-log-date");
        assert_eq!(verify_at("DELETE", path, &fresh, b"", NOW), Ok(principal()));
        // No Date: no signed time, even with a fresh x-log-date.
        fresh.retain(|(k, _)| k != "Date");
        set(&mut fresh, "x-log-date", &http_date(NOW));
        assert_eq!(
            verify_at("DELETE", path, &fresh, b"", NOW),
            Err(SlsAuthError::MissingDate)
        );
        // x-log-date stays out of the v1 string to sign; other x-log-* headers are in it.
        let mut h = vec![("x-log-dated".to_string(), "1".to_string())];
        h = signed(&Signer::v1(AK, SECRET), "GET", "/", b"", h, NOW);
        let text = with_req("GET", "/", &h, b"", string_to_sign_v1);
        assert!(
            text.contains("x-log-dated:1\n") && !text.contains("x-log-date:"),
            "{text}"
        );
    }

    #[test]
    fn v1_two_phases() {
        let path = "/logstores";
        let body = br#"{"logstoreName":"ls1"}"#;
        let h = vec![("Content-Type".to_string(), "application/json".to_string())];
        let h = signed(&Signer::v1(AK, SECRET), "POST", path, body, h, NOW);
        // The signature covers Content-MD5: the head phase verifies it without the body.
        let check = head("POST", path, &h, NOW).unwrap();
        assert!(check.signature_verified());
        assert_eq!(check.access_key_id(), AK);
        assert_eq!(body_phase(&check, "POST", path, &h, body), Ok(principal()));
        // A body other than the one Content-MD5 names is refused in the body phase.
        assert_eq!(
            body_phase(&check, "POST", path, &h, b"{}"),
            Err(SlsAuthError::ContentMd5Mismatch)
        );
        // A Content-MD5 that is not the body's, correctly signed: the head passes, the body
        // phase refuses.
        let mut wrong = h.clone();
        set(&mut wrong, "Content-MD5", &content_md5(b"another body"));
        let auth = with_req("POST", path, &wrong, b"", |r| sign_v1(r, AK, SECRET));
        set(&mut wrong, "Authorization", &auth);
        let check = head("POST", path, &wrong, NOW).unwrap();
        assert_eq!(
            body_phase(&check, "POST", path, &wrong, body),
            Err(SlsAuthError::ContentMd5Mismatch)
        );
        // A wrong signature is refused in the head phase, with no body at all.
        let mut bad = h.clone();
        set(&mut bad, "x-log-apiversion", "0.6.1");
        assert_eq!(
            head("POST", path, &bad, NOW),
            Err(SlsAuthError::SignatureNotMatch)
        );
        let other = signed(
            &Signer::v1(AK, "not-the-secret"),
            "POST",
            path,
            body,
            vec![],
            NOW,
        );
        assert_eq!(
            head("POST", path, &other, NOW),
            Err(SlsAuthError::SignatureNotMatch)
        );
        // Without Content-MD5 the body is not signed: any body passes the body phase.
        let get = signed(&Signer::v1(AK, SECRET), "GET", "/", b"", vec![], NOW);
        let check = head("GET", "/", &get, NOW).unwrap();
        assert_eq!(
            body_phase(&check, "GET", "/", &get, b"anything"),
            Ok(principal())
        );
    }

    #[test]
    fn v4_with_content_sha256_two_phases() {
        let path = "/logstores";
        let body = br#"{"logstoreName":"ls1"}"#;
        let h = vec![
            ("Host".to_string(), "p1.example.com".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let h = signed(&Signer::v4(AK, SECRET, "r"), "POST", path, body, h, NOW);
        // The canonical request is built with x-log-content-sha256: the head verifies the
        // signature without the body.
        let check = head("POST", path, &h, NOW).unwrap();
        assert!(check.signature_verified());
        assert_eq!(body_phase(&check, "POST", path, &h, body), Ok(principal()));
        assert_eq!(
            body_phase(&check, "POST", path, &h, b"{}"),
            Err(SlsAuthError::ContentSha256Mismatch)
        );
        let mut bad = h.clone();
        set(&mut bad, "x-log-content-sha256", &content_sha256(b"{}"));
        assert_eq!(
            head("POST", path, &bad, NOW),
            Err(SlsAuthError::SignatureNotMatch)
        );
        let other = signed(
            &Signer::v4(AK, "nope", "r"),
            "POST",
            path,
            body,
            vec![],
            NOW,
        );
        assert_eq!(
            head("POST", path, &other, NOW),
            Err(SlsAuthError::SignatureNotMatch)
        );
        // v4 keeps using its signed x-log-date.
        assert!(matches!(
            head("POST", path, &h, NOW + MAX_SKEW_SECS + 1),
            Err(SlsAuthError::RequestTimeExpired { .. })
        ));
    }

    #[test]
    fn v4_without_content_sha256_verifies_the_signature_with_the_body() {
        let path = "/logstores";
        let body = br#"{"logstoreName":"ls1"}"#;
        let mut h = vec![
            ("Host".to_string(), "p1.example.com".to_string()),
            ("x-log-date".to_string(), v4_date(NOW)),
        ];
        let auth = with_req("POST", path, &h, body, |r| sign_v4(r, AK, SECRET, "r"));
        set(&mut h, "Authorization", &auth);
        assert_eq!(verify_at("POST", path, &h, body, NOW), Ok(principal()));
        // The head checks what it can but cannot know the signature yet.
        let check = head("POST", path, &h, NOW).unwrap();
        assert!(!check.signature_verified());
        assert_eq!(check.access_key_id(), AK);
        assert_eq!(body_phase(&check, "POST", path, &h, body), Ok(principal()));
        assert_eq!(
            body_phase(&check, "POST", path, &h, b"{}"),
            Err(SlsAuthError::SignatureNotMatch)
        );
        // A wrong signature passes the head and is refused with the body.
        let mut bad = h.clone();
        set(
            &mut bad,
            "Authorization",
            &auth.replace("Signature=", "Signature=0"),
        );
        let check = head("POST", path, &bad, NOW).unwrap();
        assert_eq!(
            body_phase(&check, "POST", path, &bad, body),
            Err(SlsAuthError::SignatureNotMatch)
        );
        // What the head can check, it does.
        assert!(matches!(
            head("POST", path, &h, NOW + MAX_SKEW_SECS + 1),
            Err(SlsAuthError::RequestTimeExpired { .. })
        ));
        let mut unknown = h.clone();
        set(
            &mut unknown,
            "Authorization",
            &auth.replace("=ak/", "=nobody/"),
        );
        assert_eq!(
            head("POST", path, &unknown, NOW),
            Err(SlsAuthError::UnknownAccessKeyId("nobody".into()))
        );
        let mut malformed = h.clone();
        set(
            &mut malformed,
            "Authorization",
            "SLS4-HMAC-SHA256 Signature=00",
        );
        assert!(matches!(
            head("POST", path, &malformed, NOW),
            Err(SlsAuthError::MalformedAuthorization(_))
        ));
        let mut undated = h.clone();
        undated.retain(|(k, _)| k != "x-log-date");
        assert_eq!(
            head("POST", path, &undated, NOW),
            Err(SlsAuthError::MissingDate)
        );
        // The body phase looks the secret up again: a key removed in between is refused.
        let check = head("POST", path, &h, NOW).unwrap();
        let none = std::collections::HashMap::<String, String>::new();
        assert_eq!(
            with_req("POST", path, &h, b"", |r| check.verify_body(r, body, &none)),
            Err(SlsAuthError::UnknownAccessKeyId(AK.into()))
        );
    }

    #[test]
    fn signer_debug_hides_the_secret() {
        let s = format!(
            "{:?} {:?}",
            Signer::v1("ak", "hunter2-secret"),
            Signer::v4("ak", "hunter2-secret", "r")
        );
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("ak"));
    }
}
