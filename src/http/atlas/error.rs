//! Atlas wire errors: `{detail, error, errorCode, parameters, reason}` with the HTTP status of
//! their code (the table is `codes.rs`).

use serde_json::{json, Value};

use crate::excerpt::{bounded_message, excerpt};
use crate::http::codes::AtlasCode;
use crate::service::Error;

/// An Atlas error: its code (and so its status), `detail` and `parameters`.
#[derive(Debug)]
pub struct AtlasError {
    code: AtlasCode,
    detail: String,
    params: Vec<String>,
}

impl AtlasError {
    /// An error with `code`; `params` quote client input and are cut like every quote of it.
    pub(crate) fn new(code: AtlasCode, detail: impl Into<String>, params: Vec<String>) -> Self {
        Self {
            code,
            detail: bounded_message(detail.into()),
            params: params
                .into_iter()
                .map(|p| excerpt(&p).to_string())
                .collect(),
        }
    }

    /// `INVALID_ATTRIBUTE` naming `attr`.
    pub(crate) fn invalid(attr: &str, detail: impl Into<String>) -> Self {
        Self::new(AtlasCode::InvalidAttribute, detail, vec![attr.to_string()])
    }

    /// `MISSING_ATTRIBUTE` naming `attr`.
    pub(crate) fn missing(attr: &str) -> Self {
        Self::new(
            AtlasCode::MissingAttribute,
            format!("The required attribute {attr} was not specified."),
            vec![attr.into()],
        )
    }

    /// `INVALID_QUERY_PARAMETER` for `key`.
    pub(crate) fn query(key: &str, detail: impl Into<String>, value: Option<&str>) -> Self {
        let mut params = vec![key.to_string()];
        params.extend(value.map(str::to_string));
        Self::new(AtlasCode::InvalidQueryParameter, detail, params)
    }

    /// The code.
    pub fn atlas_code(&self) -> AtlasCode {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status().as_u16()
    }

    /// The `errorCode`.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The `detail`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> Value {
        let status = self.code.status();
        json!({
            "detail": self.detail,
            "error": status.as_u16(),
            "errorCode": self.code.as_str(),
            "parameters": self.params,
            "reason": status.canonical_reason().unwrap_or(""),
        })
    }
}

impl From<Error> for AtlasError {
    fn from(e: Error) -> Self {
        match e {
            Error::ProjectNotExist(g) => AtlasError::new(
                AtlasCode::GroupNotFound,
                format!("No group with ID {} exists.", excerpt(&g)),
                vec![g],
            ),
            Error::LogStoreNotExist(c) => AtlasError::new(
                AtlasCode::ClusterNameNotFound,
                format!("No cluster with name \"{}\" exists.", excerpt(&c)),
                vec![c],
            ),
            Error::CheckpointNotExist(id) => AtlasError::new(
                AtlasCode::CheckpointNotFound,
                format!("No checkpoint with ID {} exists.", excerpt(&id)),
                vec![id],
            ),
            Error::RestoreJobNotExist(id) => AtlasError::new(
                AtlasCode::RestoreJobNotFound,
                format!("No restore job with ID {} exists.", excerpt(&id)),
                vec![id],
            ),
            Error::TargetNotEmpty(t) => AtlasError::new(
                AtlasCode::CannotRestoreToTarget,
                format!(
                    "Cannot restore to {}: the target cluster already holds data.",
                    excerpt(&t)
                ),
                vec![t],
            ),
            e @ Error::DiskFull(_) => {
                AtlasError::new(AtlasCode::InsufficientDiskSpace, e.to_string(), vec![])
            }
            e @ Error::ServerBusy(_) => {
                AtlasError::new(AtlasCode::ServerBusy, e.to_string(), vec![])
            }
            Error::Internal(m) => AtlasError::new(AtlasCode::UnexpectedError, m, vec![]),
            other => AtlasError::new(AtlasCode::InvalidAttribute, other.to_string(), vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_error_maps_to_its_own_wire_error() {
        let cases = [
            (Error::Internal("x".into()), AtlasCode::UnexpectedError),
            (
                Error::DiskFull("x".into()),
                AtlasCode::InsufficientDiskSpace,
            ),
            (Error::ServerBusy("x".into()), AtlasCode::ServerBusy),
            (
                Error::LogStoreNotExist("c".into()),
                AtlasCode::ClusterNameNotFound,
            ),
            (Error::ProjectNotExist("g".into()), AtlasCode::GroupNotFound),
            (
                Error::CheckpointNotExist("k".into()),
                AtlasCode::CheckpointNotFound,
            ),
            (
                Error::TargetNotEmpty("t".into()),
                AtlasCode::CannotRestoreToTarget,
            ),
            (
                Error::ParameterInvalid("p".into()),
                AtlasCode::InvalidAttribute,
            ),
        ];
        for (e, code) in cases {
            let shown = format!("{e:?}");
            let a = AtlasError::from(e);
            assert_eq!(a.atlas_code(), code, "{shown}");
            assert_eq!(a.body()["error"], code.status().as_u16(), "{shown}");
        }
    }
}
