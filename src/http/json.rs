//! JSON pieces shared by the API families: responses, optional fields of request bodies, and the
//! time formats the wire records use.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// A `200` response with a JSON body.
pub fn response(v: &Value) -> Response<Body> {
    with_status(StatusCode::OK, serde_json::to_vec(v).expect("json"))
}

/// A response with `status` and the JSON bytes `body`.
pub fn with_status(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// A `200` response without a body.
pub fn empty() -> Response<Body> {
    Response::new(Body::empty())
}

/// A field of a request body that has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name.
    pub key: String,
    /// What it must be (`"a string"`, `"a non-negative integer"`, …).
    pub expected: &'static str,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} must be {}", self.key, self.expected)
    }
}

/// Typed access to the optional fields of a JSON object: a field that is absent or `null` is
/// `None`, one of another type is a [`FieldError`].
#[derive(Clone, Copy)]
pub struct Fields<'a>(pub &'a Value);

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn wrong(key: &str, expected: &'static str) -> FieldError {
        FieldError {
            key: key.to_string(),
            expected,
        }
    }

    /// A string field.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong(key, "a string")),
        }
    }

    /// A boolean field.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong(key, "a boolean")),
        }
    }

    /// An object field (kept whole).
    pub fn object(&self, key: &str) -> Result<Option<&'a Value>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(v)),
            Some(_) => Err(Self::wrong(key, "an object")),
        }
    }

    /// A non-negative integer field that fits in 32 bits.
    pub fn u32(&self, key: &str) -> Result<Option<u32>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Self::wrong(key, "a non-negative integer")),
        }
    }
}

/// Unix seconds as SLS writes times in JSON: `2026-11-22 12:48:03` (UTC).
pub fn sls_time(unix_secs: i64) -> String {
    format_utc(unix_secs.saturating_mul(1000), "%Y-%m-%d %H:%M:%S")
}

/// Unix milliseconds as the Atlas API writes times: ISO 8601 in UTC, `2026-11-22T12:48:03Z`.
pub fn iso_time(unix_ms: u64) -> String {
    format_utc(
        i64::try_from(unix_ms).unwrap_or(i64::MAX),
        "%Y-%m-%dT%H:%M:%SZ",
    )
}

fn format_utc(unix_ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_typed_and_optional() {
        let v = json!({"s": "x", "b": true, "n": 7, "null": null, "neg": -1, "big": 1u64 << 40});
        let f = Fields(&v);
        assert_eq!(f.str("s"), Ok(Some("x")));
        assert_eq!(f.bool("b"), Ok(Some(true)));
        assert_eq!(f.u32("n"), Ok(Some(7)));
        assert_eq!(f.str("null"), Ok(None));
        assert_eq!(f.str("absent"), Ok(None));
        assert_eq!(f.str("b").unwrap_err().to_string(), "b must be a string");
        assert!(f.u32("neg").is_err() && f.u32("big").is_err() && f.bool("n").is_err());
    }

    #[test]
    fn time_formats() {
        assert_eq!(sls_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(iso_time(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
