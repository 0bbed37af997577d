//! HTTP Digest verification against what real clients send.
//!
//! The `REQUESTS_*` headers were produced by python-requests 2.34 `HTTPDigestAuth` and `CURL_*`
//! by `curl 7.88 --digest`, both answering the challenge of `DigestAuthority::new(SECRET)` at
//! `NOW` (see `scripts/digest_client_vectors.py`). The independent computation in
//! [`rfc7616_header`] covers the remaining cases.

use cairn_auth::digest::{NONCE_TTL_SECS, REALM};
use cairn_auth::{DigestAuthority, DigestCredentials, DigestError, Principal};
use md5::{Digest, Md5};
use std::collections::HashMap;

const SECRET: &[u8] = b"cairn-digest-test-secret";
const NOW: i64 = 1_795_351_683;
const NONCE: &str = "1795351683:cc9eff8ae4c3401e9c6ef4086931d0b5";
const USER: &str = "pubkey1";
const PASSWORD: &str = "priv-key-1";

const CHECKPOINTS_URI: &str = "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5";
const REQUESTS_GET_QUERY: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:cc9eff8ae4c3401e9c6ef4086931d0b5", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5", response="58c60fc64862a67a346322ad99bbc4b5", algorithm="MD5", qop="auth", nc=00000001, cnonce="ffca1f9ca7b1d575""#;
const RESTORE_URI: &str =
    "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/restoreJobs";
const REQUESTS_POST: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:cc9eff8ae4c3401e9c6ef4086931d0b5", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/restoreJobs", response="db929f9c36db72c53448d43a04cca976", algorithm="MD5", qop="auth", nc=00000001, cnonce="6435c85b744f8053""#;
const REQUESTS_MD5_SESS: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:cc9eff8ae4c3401e9c6ef4086931d0b5", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters", response="b76d3d65510666cd4a54e35c344474ad", algorithm="MD5-sess", qop="auth", nc=00000001, cnonce="9a8777b0c3b77f67""#;
const CURL_URI: &str = "/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=1&itemsPerPage=100";
const CURL_GET: &str = r#"Digest username="pubkey1", realm="MMS Public API", nonce="1795351683:cc9eff8ae4c3401e9c6ef4086931d0b5", uri="/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=1&itemsPerPage=100", cnonce="MTZhZDg5NTZmZjllNGU1ZTQ4ZWQzN2Q5YzFlNzFjMDQ=", nc=00000001, qop=auth, response="b23624789e5f1aa6025b6973b537d7b1", algorithm=MD5"#;

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
    assert_eq!(a.nonce(NOW), NONCE);
    assert_eq!(
        a.challenge(NOW, false),
        format!(
            "Digest realm=\"MMS Public API\", domain=\"\", nonce=\"{NONCE}\", algorithm=MD5, qop=\"auth\", stale=false"
        )
    );
    assert!(a.challenge(NOW, true).ends_with("stale=true"));
    assert_ne!(DigestAuthority::new(b"other").nonce(NOW), NONCE);
    assert_ne!(a.nonce(NOW + 1), NONCE);
}

#[test]
fn real_client_headers_verify() {
    let a = authority();
    for (method, header) in [
        ("GET", REQUESTS_GET_QUERY),
        ("POST", REQUESTS_POST),
        ("GET", REQUESTS_MD5_SESS),
        ("GET", CURL_GET),
    ] {
        assert_eq!(a.verify(method, header, &keys(), NOW + 5), ok(), "{header}");
    }
    assert_eq!(
        a.verify_for_target("GET", CHECKPOINTS_URI, REQUESTS_GET_QUERY, &keys(), NOW),
        ok()
    );
    assert_eq!(
        a.verify_for_target("POST", RESTORE_URI, REQUESTS_POST, &keys(), NOW),
        ok()
    );
    assert_eq!(
        a.verify_for_target("GET", CURL_URI, CURL_GET, &keys(), NOW),
        ok()
    );
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
    let h = REQUESTS_GET_QUERY.replace("58c60fc6", "58c60fc7");
    assert_eq!(
        a.verify("GET", &h, &keys(), NOW),
        Err(DigestError::BadResponse)
    );
    // Other fields that enter the response.
    for (from, to) in [
        ("cnonce=\"ffca1f9ca7b1d575\"", "cnonce=\"ffca1f9ca7b1d576\""),
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
    let a = authority();
    assert_eq!(
        a.verify("GET", REQUESTS_GET_QUERY, &keys(), NOW + NONCE_TTL_SECS),
        ok()
    );
    let e = a
        .verify("GET", REQUESTS_GET_QUERY, &keys(), NOW + NONCE_TTL_SECS + 1)
        .unwrap_err();
    assert_eq!(e, DigestError::StaleNonce);
    assert!(e.is_stale());
    // A nonce from the future (another node's clock) is accepted within a minute.
    assert_eq!(a.verify("GET", REQUESTS_GET_QUERY, &keys(), NOW - 60), ok());
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
    // Extending the nonce's time without its MAC.
    let later = format!("{}:cc9eff8ae4c3401e9c6ef4086931d0b5", NOW + 3600);
    let mac_flip = "1795351683:cc9eff8ae4c3401e9c6ef4086931d0b6".to_string();
    for nonce in [
        later,
        mac_flip,
        "1795351683".to_string(),
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
        REQUESTS_GET_QUERY.replace("cnonce=\"ffca1f9ca7b1d575\"", "cnonce=\"\""),
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
