//! Adapts SLS requests to `cairn-auth`'s signature verification.

use axum::http::request::Parts;

use super::error::SlsError;
use super::AppState;
use crate::excerpt::excerpt;
use crate::keys::KeyRing;

impl cairn_auth::SecretLookup for KeyRing {
    fn secret(&self, access_key_id: &str) -> Option<String> {
        KeyRing::secret(self, access_key_id).map(str::to_string)
    }
}

/// Verifies the SLS signature (v1 or v4) of a request.
pub fn verify(state: &AppState, parts: &Parts, body: &[u8]) -> Result<(), SlsError> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let host_from_uri;
    let mut headers = headers;
    if !parts.headers.contains_key("host") {
        if let Some(a) = parts.uri.authority() {
            host_from_uri = a.as_str().to_string();
            headers.push(("host", host_from_uri.as_str()));
        }
    }
    let req = cairn_auth::SlsRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let now = chrono::Utc::now().timestamp();
    cairn_auth::verify_sls(&req, state.keys.as_ref(), now)
        .map(|_| ())
        .map_err(|e| {
            // Messages may quote headers (key id, date): an excerpt of them.
            SlsError::new(
                e.http_status(),
                e.code(),
                excerpt(&e.to_string()).to_string(),
            )
        })
}
