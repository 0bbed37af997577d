//! Adapts SLS requests to `cairn-auth`'s signature verification.

use axum::http::request::Parts;

use crate::excerpt::excerpt;
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::http::AppState;
use crate::keys::KeyRing;

impl cairn_auth::SecretLookup for KeyRing {
    fn secret(&self, access_key_id: &str) -> Option<String> {
        KeyRing::secret(self, access_key_id).map(str::to_string)
    }
}

/// The head phase: everything that can be checked before the body is read (see
/// `cairn_auth::sls`, "Two phases"). Finish with [`verify_body`].
pub fn verify_head(state: &AppState, parts: &Parts) -> Result<cairn_auth::BodyCheck, SlsError> {
    let now = chrono::Utc::now().timestamp();
    with_request(parts, |req| {
        cairn_auth::verify_sls_head(req, state.keys.as_ref(), now)
    })
    .map_err(to_sls_error)
}

/// The body phase of a request that passed [`verify_head`].
pub fn verify_body(
    state: &AppState,
    parts: &Parts,
    check: &cairn_auth::BodyCheck,
    body: &[u8],
) -> Result<(), SlsError> {
    with_request(parts, |req| {
        check.verify_body(req, body, state.keys.as_ref())
    })
    .map(|_| ())
    .map_err(to_sls_error)
}

/// Calls `f` with the request as `cairn-auth` sees it (an empty body). HTTP/2 and absolute-form
/// requests get a `host` from the URI authority when they have no `Host` header.
fn with_request<T>(parts: &Parts, f: impl FnOnce(&cairn_auth::SlsRequest) -> T) -> T {
    let mut headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let host_from_uri;
    if !parts.headers.contains_key("host") {
        if let Some(a) = parts.uri.authority() {
            host_from_uri = a.as_str().to_string();
            headers.push(("host", host_from_uri.as_str()));
        }
    }
    f(&cairn_auth::SlsRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &[],
    })
}

fn to_sls_error(e: cairn_auth::SlsAuthError) -> SlsError {
    // Messages may quote headers (key id, date): an excerpt of them.
    SlsError::new(SlsCode::from(&e), excerpt(&e.to_string()).to_string())
}
