//! What the signature vector suites share: an editable request, the key ring and the clock the
//! vectors were recorded with.
#![allow(dead_code)]

use std::collections::HashMap;

use cairn_auth::sls::{canonical_request_v4, string_to_sign_v1};
use cairn_auth::{sign_v1, sign_v4, verify_sls, Principal, Signer, SlsAuthError, SlsRequest};

/// The access key id every vector was signed with.
pub const AK: &str = "LTAI5tCairnTestKey";
/// Its secret.
pub const SECRET: &str = "cairn-test-secret-2Qz";
/// 2026-11-22T12:48:03Z, the SDKs' frozen clock.
pub const NOW: i64 = 1_795_351_683;

/// The key ring: the vectors' key and one other.
pub fn keys() -> HashMap<String, String> {
    HashMap::from([
        (AK.to_string(), SECRET.to_string()),
        ("other-key".to_string(), "other-secret".to_string()),
    ])
}

/// An owned, editable copy of a request.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Runs `f` on the request as `cairn-auth` sees it.
    pub fn with<T>(&self, f: impl FnOnce(&SlsRequest) -> T) -> T {
        let hs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        f(&SlsRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &hs,
            body: &self.body,
        })
    }

    /// Verifies with `keys` at server time `now`.
    pub fn verify_with(
        &self,
        keys: &HashMap<String, String>,
        now: i64,
    ) -> Result<Principal, SlsAuthError> {
        self.with(|r| verify_sls(r, keys, now))
    }

    /// Verifies with the vectors' keys and clock.
    pub fn verify(&self) -> Result<Principal, SlsAuthError> {
        self.verify_with(&keys(), NOW)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces header `name`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.into(), value.into()));
    }

    /// Removes header `name`.
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Whether it carries a v4 signature.
    pub fn is_v4(&self) -> bool {
        self.header("authorization").unwrap().starts_with("SLS4-")
    }

    /// What its signature covers as `cairn-auth` builds it: the v4 canonical request, or the
    /// v1 string to sign.
    pub fn canonical_text(&self) -> String {
        if self.is_v4() {
            self.with(canonical_request_v4)
        } else {
            self.with(string_to_sign_v1)
        }
    }

    /// The `Authorization` the signing helpers give it (without its own), for its version.
    pub fn helper_authorization(&self) -> String {
        let mut bare = self.clone();
        bare.remove("authorization");
        if self.is_v4() {
            bare.with(|r| sign_v4(r, AK, SECRET, "cn-hangzhou"))
        } else {
            bare.with(|r| sign_v1(r, AK, SECRET))
        }
    }

    /// It signed again by `signer`, starting from its headers less `added` (those a signer
    /// adds), at the vectors' clock.
    pub fn signed_by(&self, signer: &Signer, added: &[&str]) -> Req {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| !added.contains(&k.to_ascii_lowercase().as_str()))
            .cloned()
            .collect();
        signer.sign(
            &self.method,
            &self.path,
            &self.query,
            &self.body,
            &mut headers,
            NOW,
        );
        Req {
            headers,
            ..self.clone()
        }
    }
}

/// The `errorCode` of a verification, or `ok`.
pub fn code(r: Result<Principal, SlsAuthError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}
