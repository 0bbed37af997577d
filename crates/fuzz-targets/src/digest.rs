//! The HTTP Digest `Authorization` parser and verifier of the Atlas API.

use std::collections::HashMap;

use cairn_auth::digest::{NONCE_TTL_SECS, REALM};
use cairn_auth::{DigestAuthority, DigestCredentials, DigestError};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::first_line;

/// The server secret, clock and keys of `crates/auth/tests/digest_clients.rs`, under which the
/// recorded curl and python-requests headers of the seed corpus verify.
const SERVER_SECRET: &[u8] = b"cairn-digest-test-secret";
const NOW: i64 = 1_795_351_683;
const USER: &str = "pubkey1";
const PASSWORD: &str = "priv-key-1";

fn keys() -> HashMap<String, String> {
    HashMap::from([
        (USER.to_string(), PASSWORD.to_string()),
        ("pubkey2".to_string(), "another".to_string()),
    ])
}

/// `data` = `METHOD request-target` ‖ `\n` ‖ the `Authorization` value.
pub fn digest(data: &[u8]) {
    let (line, rest) = first_line(data);
    let (method, target) = line.split_once(' ').unwrap_or((&line, "/"));
    let header = String::from_utf8_lossy(rest);
    let keys = keys();

    let authority = DigestAuthority::new(SERVER_SECRET);
    let r = authority.verify_for_target(method, target, &header, &keys, NOW);
    if let Err(e) = &r {
        if !header.contains(PASSWORD) {
            assert!(
                !format!("{e} {e:?}").contains(PASSWORD),
                "{e:?} shows the password"
            );
        }
    }
    let Ok(c) = DigestCredentials::parse(&header) else {
        assert!(r.is_err(), "verified credentials that do not parse");
        return;
    };
    assert_eq!(
        DigestCredentials::parse(&print(&c)),
        Ok(c.clone()),
        "{header:?}"
    );
    if r.is_ok() {
        assert!(
            uri_names(&c.uri, target),
            "{:?} accepted for {target:?}",
            c.uri
        );
        assert_eq!(
            authority.verify_for_target(method, target, &header, &keys, NOW),
            Err(DigestError::NonceCountReused),
            "a replay was accepted"
        );
    }

    // The same credentials with the response computed independently (RFC 7616), printed anew.
    let Some(password) = keys.get(&c.username) else {
        return;
    };
    let mut signed = c.clone();
    signed.response = response(&c, method, password);
    let authority = DigestAuthority::new(SERVER_SECRET);
    let r = authority.verify_for_target(method, target, &print(&signed), &keys, NOW);
    let allowed = allowed(&c, target);
    match (&r, allowed) {
        (Ok(p), Ok(())) => assert_eq!(p.access_key_id, c.username),
        (Err(DigestError::Malformed(_)), Err(DigestError::Malformed(_))) => {}
        (Err(e), Err(want)) => assert_eq!(*e, want, "{signed:?}"),
        (got, want) => panic!("{signed:?} for {method} {target}: got {got:?}, want {want:?}"),
    }
    if r.is_ok() {
        let replay = authority.verify_for_target(method, target, &print(&signed), &keys, NOW);
        assert_eq!(replay, Err(DigestError::NonceCountReused));
        let nc = u32::from_str_radix(signed.nc.as_deref().unwrap_or(""), 16).unwrap_or(0);
        if let Some(next) = nc.checked_add(1) {
            let mut again = signed.clone();
            again.nc = Some(format!("{next:08x}"));
            again.response = response(&again, method, password);
            assert!(authority
                .verify_for_target(method, target, &print(&again), &keys, NOW)
                .is_ok());
        }
        let late = DigestAuthority::new(SERVER_SECRET).verify_for_target(
            method,
            target,
            &print(&signed),
            &keys,
            NOW + NONCE_TTL_SECS + 1,
        );
        assert_eq!(late, Err(DigestError::StaleNonce));
    }
}

/// What the verifier must answer for credentials `c` with a right response, by the rules in
/// `cairn_auth::digest`'s documentation (the nonce's MAC is left to the verifier: only the
/// recorded nonces, issued at `NOW`, are genuine here).
fn allowed(c: &DigestCredentials, target: &str) -> Result<(), DigestError> {
    let malformed = || Err(DigestError::Malformed(String::new()));
    match c.algorithm.as_deref() {
        None => {}
        Some(a) if a.eq_ignore_ascii_case("MD5") || a.eq_ignore_ascii_case("MD5-sess") => {}
        Some(_) => return malformed(),
    }
    if !c
        .qop
        .as_deref()
        .is_some_and(|q| q.eq_ignore_ascii_case("auth"))
    {
        return malformed();
    }
    let nc_ok =
        c.nc.as_deref()
            .is_some_and(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_hexdigit()));
    if !nc_ok || c.cnonce.as_deref().is_none_or(str::is_empty) {
        return malformed();
    }
    let Some(issued) = genuine_nonce(&c.nonce) else {
        return Err(DigestError::InvalidNonce);
    };
    if c.realm != REALM {
        return Err(DigestError::BadResponse);
    }
    if NOW - issued > NONCE_TTL_SECS || issued - NOW > 60 {
        return Err(DigestError::StaleNonce);
    }
    if !uri_names(&c.uri, target) {
        return Err(DigestError::UriMismatch);
    }
    Ok(())
}

/// The issue time of `nonce` if the server made it: `<time>:<16 hex digits>:<MAC>`, the MAC
/// being the first 16 bytes of HMAC-SHA256(server secret, `<time>:<salt>`) in hex.
fn genuine_nonce(nonce: &str) -> Option<i64> {
    let mut parts = nonce.split(':');
    let (Some(t), Some(salt), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let mut m = Hmac::<Sha256>::new_from_slice(SERVER_SECRET).expect("any key");
    m.update(format!("{t}:{salt}").as_bytes());
    if hex::encode(&m.finalize().into_bytes()[..16]) != mac {
        return None;
    }
    if salt.len() != 16 || !salt.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    t.parse().ok()
}

/// RFC 7616 §3.4.1 (MD5, MD5-sess; `qop=auth`), over the fields as sent.
fn response(c: &DigestCredentials, method: &str, password: &str) -> String {
    let md5 = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let cnonce = c.cnonce.as_deref().unwrap_or("");
    let mut ha1 = md5(format!("{}:{}:{password}", c.username, c.realm));
    if c.algorithm
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("MD5-sess"))
    {
        ha1 = md5(format!("{ha1}:{}:{cnonce}", c.nonce));
    }
    let ha2 = md5(format!("{method}:{}", c.uri));
    md5(format!(
        "{ha1}:{}:{}:{cnonce}:{}:{ha2}",
        c.nonce,
        c.nc.as_deref().unwrap_or(""),
        c.qop.as_deref().unwrap_or("")
    ))
}

/// The `uri` names the request target: the same string, or an absolute URI with that path and
/// query.
fn uri_names(uri: &str, target: &str) -> bool {
    uri == target
        || uri
            .split_once("://")
            .is_some_and(|(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]) == target)
}

/// `c` as a header value, every field quoted.
fn print(c: &DigestCredentials) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}",
        q(&c.username),
        q(&c.realm),
        q(&c.nonce),
        q(&c.uri),
        q(&c.response)
    );
    for (name, v) in [
        ("algorithm", &c.algorithm),
        ("qop", &c.qop),
        ("nc", &c.nc),
        ("cnonce", &c.cnonce),
        ("opaque", &c.opaque),
    ] {
        if let Some(v) = v {
            out.push_str(&format!(", {name}={}", q(v)));
        }
    }
    out
}
