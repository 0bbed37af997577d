//! SLS signature verification against requests signed by the OpenAPI SDK for SLS
//! (`alibabacloud-sls20201230` with its gateway `alibabacloud-gateway-sls`, unmodified).
//!
//! `vectors/openapi_sdk.json` is written by `scripts/openapi_sdk_vectors.py`: it calls real
//! client methods with the SDK's clock frozen at 2026-11-22T12:48:03Z and records each request
//! as it reached the wire (path and query still encoded, every header, the body) together with
//! the exact text the SDK signed (v1, `hmac-sha256`) or hashed (v4 canonical request). The SDK
//! signs v1 with `x-log-signaturemethod: hmac-sha256` and sends `Content-MD5` even without a
//! body, empty.

mod support;

use cairn_auth::sls::{content_sha256, string_to_sign_v1};
use cairn_auth::{sign_v1, Principal, Signer};
use serde_json::Value;
use support::{code, Req, AK, SECRET};

/// A request the SDK sent, with the text it signed.
#[derive(Clone, Debug)]
struct Vector {
    name: String,
    signed_text: String,
    req: Req,
}

impl std::ops::Deref for Vector {
    type Target = Req;
    fn deref(&self) -> &Req {
        &self.req
    }
}

impl std::ops::DerefMut for Vector {
    fn deref_mut(&mut self) -> &mut Req {
        &mut self.req
    }
}

/// Signs `r` again with the helpers (v1 as the OpenAPI SDK does) after a change.
fn resign(r: &mut Req) {
    r.remove("authorization");
    let auth = r.with(|q| sign_v1(q, AK, SECRET));
    r.set("Authorization", &auth);
}

fn vectors() -> Vec<Vector> {
    let doc: Value =
        serde_json::from_str(include_str!("vectors/openapi_sdk.json")).expect("vectors parse");
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().into(),
            signed_text: v["signed_text"].as_str().unwrap().into(),
            req: Req {
                method: v["method"].as_str().unwrap().into(),
                path: v["path"].as_str().unwrap().into(),
                query: v["query"].as_str().unwrap().into(),
                headers: v["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_string(),
                            h[1].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
                body: hex::decode(v["body_hex"].as_str().unwrap()).unwrap(),
            },
        })
        .collect()
}

fn v1_vectors() -> Vec<Vector> {
    vectors().into_iter().filter(|v| !v.is_v4()).collect()
}

#[test]
fn the_vectors_cover_both_versions_bodies_and_empty_content_md5() {
    let all = vectors();
    assert_eq!(all.len(), 20);
    let v1 = v1_vectors();
    assert_eq!(v1.len(), 10);
    assert!(v1
        .iter()
        .all(|r| r.header("x-log-signaturemethod") == Some("hmac-sha256")));
    assert!(v1
        .iter()
        .any(|r| r.body.is_empty() && r.header("content-md5") == Some("")));
    assert!(v1.iter().any(|r| !r.body.is_empty()));
}

#[test]
fn every_openapi_sdk_vector_verifies() {
    for r in vectors() {
        assert_eq!(
            r.verify(),
            Ok(Principal {
                access_key_id: AK.into()
            }),
            "{}",
            r.name
        );
    }
}

#[test]
fn canonical_text_is_byte_identical_to_the_openapi_sdk() {
    for r in vectors() {
        assert_eq!(r.canonical_text(), r.signed_text, "{}", r.name);
    }
}

#[test]
fn signing_helpers_reproduce_the_openapi_sdk_authorization() {
    for full in vectors() {
        let expected = full.header("authorization").unwrap().to_string();
        assert_eq!(full.helper_authorization(), expected, "{}", full.name);
        if full.is_v4() {
            continue;
        }
        // The Signer adds what the SDK adds when it signs v1.
        let added = [
            "authorization",
            "x-log-signaturemethod",
            "date",
            "content-md5",
        ];
        let signed = full.signed_by(&Signer::v1_hmac_sha256(AK, SECRET), &added);
        for name in added {
            assert_eq!(
                signed.header(name),
                full.header(name),
                "{} {name}",
                full.name
            );
        }
    }
}

#[test]
fn a_changed_request_or_a_sha1_signature_does_not_pass_as_sha256() {
    for r in v1_vectors() {
        let mut changed = r.clone();
        changed.path.push('x');
        assert_eq!(code(changed.verify()), "SignatureNotMatch", "{}", r.name);
        // The same text signed with HMAC-SHA1 is not an HMAC-SHA256 signature.
        let mut sha1 = r.clone();
        sha1.set("x-log-signaturemethod", "hmac-sha1");
        let sha1_sig = sha1.with(|q| sign_v1(q, AK, SECRET));
        let mut claimed = r.clone();
        claimed.set("Authorization", &sha1_sig);
        assert_eq!(code(claimed.verify()), "SignatureNotMatch", "{}", r.name);
        // The method header is signed: naming sha1 over a sha256 signature fails.
        assert_eq!(code(sha1.verify()), "SignatureNotMatch", "{}", r.name);
    }
}

#[test]
fn an_unknown_signature_method_is_a_clear_400() {
    let mut r = v1_vectors().remove(0);
    r.set("x-log-signaturemethod", "hmac-md5");
    let e = r.verify().unwrap_err();
    assert_eq!(e.code(), "ParameterInvalid");
    assert_eq!(e.http_status(), 400);
    assert!(e.to_string().contains("hmac-md5"), "{e}");
    assert!(e.to_string().contains("hmac-sha256"), "{e}");
}

#[test]
fn content_md5_empty_absent_or_wrong() {
    for r in v1_vectors() {
        if r.body.is_empty() {
            // Sent empty (the SDK) or not at all (the classic SDKs): both sign an empty line 2.
            let mut absent = r.clone();
            absent.remove("content-md5");
            assert_eq!(code(absent.verify()), "ok", "{}", r.name);
        } else {
            // A body that is not the one whose MD5 was signed.
            let mut other = r.clone();
            other.body.push(b' ');
            assert_eq!(code(other.verify()), "InvalidContentMD5", "{}", r.name);
        }
    }
}

#[test]
fn x_log_content_sha256_is_checked_against_the_body_in_v1() {
    let with_body = v1_vectors()
        .into_iter()
        .find(|r| !r.body.is_empty())
        .unwrap();
    // A v1 client that also sends the body's SHA-256 (signed as an x-log-* header).
    let mut right = with_body.clone();
    let digest = content_sha256(&right.body);
    right.set("x-log-content-sha256", &digest);
    resign(&mut right);
    assert_eq!(code(right.verify()), "ok");
    let mut wrong = with_body.clone();
    wrong.set("x-log-content-sha256", &content_sha256(b"another body"));
    resign(&mut wrong);
    assert_eq!(code(wrong.verify()), "SignatureNotMatch");
    // ... also when no Content-MD5 covers the body.
    let mut only_sha = wrong.clone();
    only_sha.set("Content-MD5", "");
    resign(&mut only_sha);
    assert_eq!(code(only_sha.verify()), "SignatureNotMatch");
}

#[test]
fn a_v1_client_that_signs_x_log_date_is_accepted() {
    // A v1 client that signs every x-log-* header it sends, x-log-date included.
    let mut r = v1_vectors().remove(0);
    let date = r.header("date").unwrap().to_string();
    r.set("x-log-date", &date);
    r.resign_including_log_date();
    assert_eq!(code(r.verify()), "ok");
}

impl Req {
    /// Signs as a client that includes `x-log-date` in the canonical headers.
    fn resign_including_log_date(&mut self) {
        use base64::Engine as _;
        use hmac::Mac as _;
        self.remove("authorization");
        let text = self.with(string_to_sign_v1);
        // string_to_sign_v1 leaves x-log-date out; put it where the sorted headers have it.
        let date = self.header("x-log-date").unwrap().to_string();
        let line = format!("x-log-date:{date}\n");
        let at = text
            .find("x-log-signaturemethod:")
            .or_else(|| text.find("x-log-"))
            .unwrap();
        let mut with_date = text.clone();
        // x-log-date sorts after x-log-bodyrawsize/x-log-compresstype and before
        // x-log-signaturemethod.
        with_date.insert_str(at, &line);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(with_date.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        self.set("Authorization", &format!("LOG {AK}:{sig}"));
    }
}
