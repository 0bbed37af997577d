//! SLS signature verification, v1 and v4: `Authorization` parsing, canonicalisation of arbitrary
//! methods, paths, queries and headers, the two phases.

use std::collections::HashMap;

use cairn_auth::sls::MAX_SKEW_SECS;
use cairn_auth::{verify_sls, verify_sls_head, Signer, SlsAuthError, SlsRequest};

use crate::first_line;

/// The key ring of `crates/auth/tests/sls_sdk_vectors.rs`, whose requests make the seed corpus.
const AK: &str = "LTAI5tCairnTestKey";
const SECRET: &str = "cairn-test-secret-2Qz";
const OTHER: (&str, &str) = ("other-key", "other-secret");
/// The vectors' clock, 2026-11-22T12:48:03Z: the server time when the input names none.
const NOW: i64 = 1_795_351_683;
/// Server times are taken modulo this (2100-01-01), where dates format and parse.
const MAX_NOW: i64 = 4_102_444_800;

fn keys(secret: &str) -> HashMap<String, String> {
    HashMap::from([
        (AK.to_string(), secret.to_string()),
        (OTHER.0.to_string(), OTHER.1.to_string()),
    ])
}

/// `data` is a request as text: `METHOD target [unix-time]`, header lines `Name: value`, an
/// empty line, the body (bytes). The target is the path and query as on the wire.
pub fn sls_signature(data: &[u8]) {
    let (line, rest) = first_line(data);
    let mut words = line.split(' ');
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let now = words
        .next()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .map_or(NOW, |t| t.rem_euclid(MAX_NOW));
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let headers: Vec<(String, String)> = head
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            (k.to_string(), v.trim_matches([' ', '\t']).to_string())
        })
        .collect();

    // As received.
    let input_has_secret = head.contains(SECRET) || String::from_utf8_lossy(body).contains(SECRET);
    let r = verify(&method, path, query, &headers, body, &keys(SECRET), now);
    if let Err(e) = &r {
        assert!(matches!(e.http_status(), 400 | 401), "{e:?}");
        assert!(!e.code().is_empty());
        if !input_has_secret {
            assert!(
                !format!("{e} {e:?}").contains(SECRET),
                "{e:?} shows the secret"
            );
        }
    }
    if let Ok(p) = &r {
        assert!(p.access_key_id == AK || p.access_key_id == OTHER.0);
        if p.access_key_id == AK {
            let wrong = verify(&method, path, query, &headers, body, &keys("not-it"), now);
            assert_eq!(
                wrong,
                Err(SlsAuthError::SignatureNotMatch),
                "verified with a wrong secret"
            );
        }
    }

    // Re-signed by the SDK-compatible signer, as v1 and v4.
    let unsigned: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .cloned()
        .collect();
    for (signer, v4) in [
        (Signer::v1(AK, SECRET), false),
        (Signer::v1_hmac_sha256(AK, SECRET), false),
        (Signer::v4(AK, SECRET, "cn-hangzhou"), true),
    ] {
        let mut signed = unsigned.clone();
        // A v1 signer leaves x-log-content-sha256 as it is, and one that is not the body's
        // digest is refused, as it must be: the signer's requests carry none.
        if !v4 {
            signed.retain(|(k, _)| !k.eq_ignore_ascii_case("x-log-content-sha256"));
        }
        signer.sign(&method, path, query, body, &mut signed, now);
        let ok = |t: i64| verify(&method, path, query, &signed, body, &keys(SECRET), t);
        assert!(
            ok(now).is_ok(),
            "{signer:?}: {:?} for {method} {path}?{query} {signed:?}",
            ok(now)
        );
        assert!(ok(now + MAX_SKEW_SECS).is_ok() && ok(now - MAX_SKEW_SECS).is_ok());
        for t in [now + MAX_SKEW_SECS + 1, now - MAX_SKEW_SECS - 1] {
            assert!(
                matches!(ok(t), Err(SlsAuthError::RequestTimeExpired { .. })),
                "{signer:?} at {t}: {:?}",
                ok(t)
            );
        }
        let wrong = verify(&method, path, query, &signed, body, &keys("not-it"), now);
        assert_eq!(
            wrong,
            Err(SlsAuthError::SignatureNotMatch),
            "{signer:?}: a wrong secret"
        );
    }
}

/// Verifies in one call and in two phases, checks they agree and that the head phase does not
/// read the body, and returns the answer.
fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    keys: &HashMap<String, String>,
    now: i64,
) -> Result<cairn_auth::Principal, SlsAuthError> {
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
    let one = verify_sls(&req, keys, now);
    let head = verify_sls_head(&req, keys, now);
    let without_body = verify_sls_head(&SlsRequest { body: &[], ..req }, keys, now);
    assert_eq!(head, without_body, "the head phase read the body");
    let two = head.and_then(|check| check.verify_body(&req, body, keys));
    assert_eq!(one, two, "one call and two phases disagree");
    one
}
