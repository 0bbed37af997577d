//! HTTP Digest verification against what real clients send.
//!
//! The `REQUESTS_*` headers were produced by python-requests 2.34 `HTTPDigestAuth` and `CURL_*`
//! by `curl 7.88 --digest`, each answering a challenge with a nonce of the form
//! `DigestAuthority::new(SECRET)` issues at `NOW` (see `scripts/digest_client_vectors.py`);
//! `REQUESTS_GET_QUERY` and `REQUESTS_POST` are one requests session (one nonce, nc 1 then 2).
//! The independent computation in [`rfc7616_header`] covers the remaining cases.

use cairn_auth::digest::{NONCE_TTL_SECS, REALM};
use cairn_auth::{DigestAuthority, DigestCredentials, DigestError, Principal};
use md5::{Digest, Md5};
use std::collections::HashMap;

const SECRET: &[u8] = b"cairn-digest-test-secret";
const NOW: i64 = 1_795_351_683;
const NONCE: &str = "1795351683:0123456789abcdef:89371b913b13709779e3be66ccc7e685";
const USER: &str = "pubkey1";
const PASSWORD: &str = "priv-key-1";

const CHECKPOINTS_URI: &str = "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5";
const REQUESTS_GET_QUERY: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:0123456789abcdef:89371b913b13709779e3be66ccc7e685", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5", response="ae5cfecb19421c48fec83239369a9230", algorithm="MD5", qop="auth", nc=00000001, cnonce="22a1668cb4bee0c8""#;
const RESTORE_URI: &str =
    "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/restoreJobs";
const REQUESTS_POST: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:0123456789abcdef:89371b913b13709779e3be66ccc7e685", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/restoreJobs", response="b8927fcec6c2126c99c85c9c2729d902", algorithm="MD5", qop="auth", nc=00000002, cnonce="5a39b6fd73595e32""#;
const REQUESTS_MD5_SESS: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:fedcba9876543210:8f334f88b53595e34195d8836a2d42df", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters", response="a3db0e5ea3cf80baa81e87e5823717ee", algorithm="MD5-sess", qop="auth", nc=00000001, cnonce="0cc71cc10ded2a59""#;
const CURL_URI: &str = "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=1&itemsPerPage=100";
const CURL_GET: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:5ca1ab1e0ddba115:7025f9766d98fed075efd101fc3ade0f", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=1&itemsPerPage=100", cnonce="ZmFhNjk4ZDkxYWVkN2M4ZTdiOGEzNjE2NDQwODFlNzM=", nc=00000001, qop=auth, response="92d4f55f153dd4552c9fa6cdeaf90d85", algorithm=MD5"#;

fn keys() -> HashMap<String, String> {
    HashMap::from([
        (USER.to_string(), PASSWORD.to_string()),
        ("pubkey2".to_string(), "another".to_string()),
    ])
}

fn authority() -> DigestAuthority {
    DigestAuthority::new(SECRET)
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The header RFC 7616 prescribes for MD5 / `qop=auth`, computed independently.
fn rfc7616_header(user: &str, password: &str, method: &str, uri: &str, nonce: &str) -> String {
    let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let (nc, cnonce) = ("00000002", "0a4f113b");
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
    )
}

fn ok() -> Result<Principal, DigestError> {
    Ok(Principal {
        access_key_id: USER.into(),
    })
}

#[test]
fn challenge_format_and_nonce() {
    let a = authority();
    let challenge = a.challenge(NOW, false);
    let prefix = "Digest realm=\"MMS Public API\", domain=\"\", nonce=\"";
    let suffix = "\", algorithm=MD5, qop=\"auth\", stale=false";
    assert!(
        challenge.starts_with(prefix) && challenge.ends_with(suffix),
        "{challenge}"
    );
    let nonce = &challenge[prefix.len()..challenge.len() - suffix.len()];
    // <time>:<16 hex>:<32 hex>, like the nonce the recorded clients answered.
    let parts: Vec<&str> = nonce.split(':').collect();
    assert_eq!(parts.len(), 3, "{nonce}");
    assert_eq!(parts[0], NOW.to_string());
    assert!(parts[1].len() == 16 && parts[2].len() == 32, "{nonce}");
    assert!(parts[1..]
        .iter()
        .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit())));
    assert_eq!(NONCE.len(), nonce.len());
    assert!(a.challenge(NOW, true).ends_with("stale=true"));
    // Every challenge has its own nonce, even within one second, and it verifies.
    assert_ne!(a.nonce(NOW), a.nonce(NOW));
    let h = rfc7616_header(USER, PASSWORD, "GET", "/", nonce);
    assert_eq!(a.verify("GET", &h, &keys(), NOW), ok());
    assert_eq!(
        DigestAuthority::new(b"other").verify("GET", &h, &keys(), NOW),
        Err(DigestError::InvalidNonce)
    );
}

#[test]
fn real_client_headers_verify() {
    for (method, header) in [
        ("GET", REQUESTS_GET_QUERY),
        ("POST", REQUESTS_POST),
        ("GET", REQUESTS_MD5_SESS),
        ("GET", CURL_GET),
    ] {
        assert_eq!(
            authority().verify(method, header, &keys(), NOW + 5),
            ok(),
            "{header}"
        );
    }
    assert_eq!(
        authority().verify_for_target("GET", CURL_URI, CURL_GET, &keys(), NOW),
        ok()
    );
    // One requests session: the nonce is reused with nc 1, then 2.
    let a = authority();
    assert_eq!(
        a.verify_for_target("GET", CHECKPOINTS_URI, REQUESTS_GET_QUERY, &keys(), NOW),
        ok()
    );
    assert_eq!(
        a.verify_for_target("POST", RESTORE_URI, REQUESTS_POST, &keys(), NOW),
        ok()
    );
    // Either request again is a replay.
    for (method, target, header) in [
        ("GET", CHECKPOINTS_URI, REQUESTS_GET_QUERY),
        ("POST", RESTORE_URI, REQUESTS_POST),
    ] {
        let e = a
            .verify_for_target(method, target, header, &keys(), NOW)
            .unwrap_err();
        assert_eq!(e, DigestError::NonceCountReused, "{header}");
        assert!(e.is_stale());
    }
}

#[test]
fn method_and_uri_are_covered() {
    let a = authority();
    assert_eq!(
        a.verify("POST", REQUESTS_GET_QUERY, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    assert_eq!(
        a.verify("GET", REQUESTS_POST, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // Another query string in the uri field breaks the response.
    let other_page = REQUESTS_GET_QUERY.replace("pageNum=2", "pageNum=3");
    assert_eq!(
        a.verify("GET", &other_page, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // Valid credentials replayed against another request target.
    assert_eq!(
        a.verify_for_target(
            "GET",
            "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=3&itemsPerPage=5",
            REQUESTS_GET_QUERY,
            &keys(),
            NOW
        ),
        Err(DigestError::UriMismatch)
    );
    // Absolute-form uri with a query.
    let uri = format!("http://127.0.0.1:8080{CHECKPOINTS_URI}");
    let h = rfc7616_header(USER, PASSWORD, "GET", &uri, NONCE);
    assert_eq!(
        a.verify_for_target("GET", CHECKPOINTS_URI, &h, &keys(), NOW),
        ok()
    );
}

#[test]
fn independent_rfc_computation_verifies() {
    let a = authority();
    let nonce = a.nonce(NOW - 100);
    let h = rfc7616_header(
        USER,
        PASSWORD,
        "DELETE",
        "/api/atlas/v1.0/x?y=1&z=%20",
        &nonce,
    );
    assert_eq!(a.verify("DELETE", &h, &keys(), NOW), ok());
    let c = DigestCredentials::parse(&h).unwrap();
    assert_eq!(c.uri, "/api/atlas/v1.0/x?y=1&z=%20");
    assert_eq!(c.username, USER);
}

#[test]
fn wrong_password_and_unknown_user() {
    let a = authority();
    let h = rfc7616_header(USER, "wrong", "GET", CHECKPOINTS_URI, NONCE);
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // The right password of another user.
    let h = rfc7616_header(USER, "another", "GET", CHECKPOINTS_URI, NONCE);
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    let h = rfc7616_header("nobody", PASSWORD, "GET", CHECKPOINTS_URI, NONCE);
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::UnknownUser("nobody".into()))
    );
    // Changing the user name in a valid header.
    let h = REQUESTS_GET_QUERY.replace("pubkey1", "pubkey2");
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // One flipped response digit.
    let h = REQUESTS_GET_QUERY.replace("ae5cfecb", "ae5cfecc");
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // Other fields that enter the response.
    for (from, to) in [
        ("cnonce=\"22a1668cb4bee0c8\"", "cnonce=\"22a1668cb4bee0c9\""),
        ("nc=00000001", "nc=00000002"),
        ("realm=\"MMS Public API\"", "realm=\"Other\""),
    ] {
        let h = REQUESTS_GET_QUERY.replace(from, to);
        assert_ne!(h, REQUESTS_GET_QUERY);
        assert_eq!(
            a.verify("GET", &h, &keys(), NOW),
            Err(DigestError::BadResponse),
            "{from}"
        );
    }
    // A response that is right for another realm.
    let h = rfc7616_header(USER, PASSWORD, "GET", "/", NONCE).replace(REALM, "Other");
    let other_realm = {
        let ha1 = md5_hex(&format!("{USER}:Other:{PASSWORD}"));
        let ha2 = md5_hex("GET:/");
        md5_hex(&format!("{ha1}:{NONCE}:00000002:0a4f113b:auth:{ha2}"))
    };
    let c = DigestCredentials::parse(&h).unwrap();
    let h = h.replace(&c.response, &other_realm);
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    let shown = format!(
        "{:?} {}",
        a.verify("GET", &h_wrong(), &keys(), NOW),
        DigestError::BadResponse
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
}

fn h_wrong() -> String {
    rfc7616_header(USER, "wrong", "GET", "/", NONCE)
}

#[test]
fn nonce_lifetime() {
    // A fresh authority per accepted check: each one records the nonce count.
    assert_eq!(
        authority().verify("GET", REQUESTS_GET_QUERY, &keys(), NOW + NONCE_TTL_SECS),
        ok()
    );
    let a = authority();
    let e = a
        .verify("GET", REQUESTS_GET_QUERY, &keys(), NOW + NONCE_TTL_SECS + 1)
        .unwrap_err();
    assert_eq!(e, DigestError::StaleNonce);
    assert!(e.is_stale());
    // A nonce from the future (another node's clock) is accepted within a minute.
    assert_eq!(
        authority().verify("GET", REQUESTS_GET_QUERY, &keys(), NOW - 60),
        ok()
    );
    assert_eq!(
        a.verify("GET", REQUESTS_GET_QUERY, &keys(), NOW - 61),
        Err(DigestError::StaleNonce)
    );
    // An expired nonce with a wrong password is a bad response, not a stale nonce.
    let h = rfc7616_header(USER, "wrong", "GET", "/", NONCE);
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW + 3600),
        Err(DigestError::BadResponse)
    );
    // A shorter lifetime.
    let short = authority().with_nonce_ttl(10);
    assert_eq!(
        short.verify("GET", REQUESTS_GET_QUERY, &keys(), NOW + 11),
        Err(DigestError::StaleNonce)
    );
}

#[test]
fn tampered_nonces_are_rejected() {
    let a = authority();
    let (time, rest) = NONCE.split_once(':').unwrap();
    let (salt, mac) = rest.split_once(':').unwrap();
    assert_eq!(time, NOW.to_string());
    for nonce in [
        // Extending the nonce's time without its MAC.
        format!("{}:{salt}:{mac}", NOW + 3600),
        // The same time written another way.
        format!("0{time}:{salt}:{mac}"),
        // Another random part, or MAC.
        format!("{time}:0123456789abcdee:{mac}"),
        format!("{time}:{salt}:{}", mac.replace('9', "8")),
        format!("{time}:{}:{mac}", salt.to_ascii_uppercase()),
        // The two-part form (time and MAC) and other shapes.
        format!("{time}:{mac}"),
        format!("{NONCE}:x"),
        time.to_string(),
        "abc:def".to_string(),
        String::new(),
    ] {
        // The client computes a correct response over the forged nonce.
        let h = rfc7616_header(USER, PASSWORD, "GET", "/", &nonce);
        let e = a.verify("GET", &h, &keys(), NOW).unwrap_err();
        assert_eq!(e, DigestError::InvalidNonce, "{nonce:?}");
        assert!(!e.is_stale());
    }
    // Nonces of another server secret.
    assert_eq!(
        DigestAuthority::new(b"another secret").verify("GET", REQUESTS_GET_QUERY, &keys(), NOW),
        Err(DigestError::InvalidNonce)
    );
}

#[test]
fn malformed_and_missing() {
    let a = authority();
    for header in ["", "Basic cHViOnByaXY=", "Bearer x"] {
        assert_eq!(
            a.verify("GET", header, &keys(), NOW),
            Err(DigestError::Missing),
            "{header:?}"
        );
    }
    for header in [
        "Digest username=\"pubkey1\"".to_string(),
        "Digest username=\"pubkey1\", realm=\"MMS Public API\", nonce=\"x".to_string(),
        REQUESTS_GET_QUERY.replace("algorithm=\"MD5\"", "algorithm=\"SHA-256\""),
        REQUESTS_GET_QUERY.replace("qop=\"auth\"", "qop=\"auth-int\""),
        REQUESTS_GET_QUERY.replace(", qop=\"auth\"", ""),
        REQUESTS_GET_QUERY.replace("nc=00000001", "nc=1"),
        REQUESTS_GET_QUERY.replace("cnonce=\"22a1668cb4bee0c8\"", "cnonce=\"\""),
    ] {
        assert!(
            matches!(
                a.verify("GET", &header, &keys(), NOW),
                Err(DigestError::Malformed(_))
            ),
            "{header}"
        );
    }
    // The scheme name is case-insensitive.
    let lower = REQUESTS_GET_QUERY.replacen("Digest", "digest", 1);
    assert_eq!(a.verify("GET", &lower, &keys(), NOW), ok());
}

#[test]
fn random_authorities_differ_and_roundtrip() {
    let (a, b) = (DigestAuthority::random(), DigestAuthority::random());
    let nonce = a.nonce(NOW);
    assert_ne!(nonce, b.nonce(NOW));
    let h = rfc7616_header(USER, PASSWORD, "GET", "/", &nonce);
    assert_eq!(a.verify("GET", &h, &keys(), NOW), ok());
    assert_eq!(
        b.verify("GET", &h, &keys(), NOW),
        Err(DigestError::InvalidNonce)
    );
}
