//! Atlas wire errors: `{detail, error, errorCode, parameters, reason}` with the HTTP status of
//! their code (the table is `codes.rs`).

use axum::http::StatusCode;
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

    /// The HTTP status: always the code's.
    pub fn status(&self) -> StatusCode {
        self.code.status()
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

/// What the request's path names, quoted in the details of the errors about it: the group as
/// the path gives it (an id or a name) and the cluster's name.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The path's group.
    pub group: Option<&'a str>,
    /// The path's cluster.
    pub cluster: Option<&'a str>,
}

impl AtlasError {
    /// The one wire error of each service error, its details naming what `scope` names.
    pub(crate) fn service(e: Error, scope: Scope<'_>) -> Self {
        let in_group = scope
            .group
            .map(|g| format!(" in group {}", excerpt(g)))
            .unwrap_or_default();
        let for_cluster = scope
            .cluster
            .map(|c| format!(" for cluster {}", excerpt(c)))
            .unwrap_or_default();
        let with = |first: String, then: Option<&str>| {
            let mut v = vec![first];
            v.extend(then.map(str::to_string));
            v
        };
        match e {
            Error::ProjectNotExist(g) => Self::new(
                AtlasCode::GroupNotFound,
                format!("No group with ID {} exists.", excerpt(&g)),
                vec![g],
            ),
            Error::LogStoreNotExist(c) => Self::new(
                AtlasCode::ClusterNameNotFound,
                format!("No cluster with name \"{}\" exists{in_group}.", excerpt(&c)),
                with(c, scope.group),
            ),
            Error::LogStoreIdNotExist(id) => Self::new(
                AtlasCode::ClusterNotFound,
                format!(
                    "No cluster with ID {} exists in the target group.",
                    excerpt(&id)
                ),
                vec![id],
            ),
            Error::CheckpointNotExist(id) => Self::new(
                AtlasCode::CheckpointNotFound,
                format!(
                    "No checkpoint with ID {} exists{for_cluster}.",
                    excerpt(&id)
                ),
                with(id, scope.cluster),
            ),
            Error::RestoreJobNotExist(id) => Self::new(
                AtlasCode::RestoreJobNotFound,
                format!(
                    "No restore job with ID {} exists{for_cluster}.",
                    excerpt(&id)
                ),
                with(id, scope.cluster),
            ),
            Error::TargetNotEmpty(t) | Error::LogStoreAlreadyExist(t) => Self::new(
                AtlasCode::CannotRestoreToTarget,
                format!(
                    "Cannot restore to {}: the target cluster already holds data.",
                    excerpt(&t)
                ),
                vec![t],
            ),
            e @ (Error::ShardNotExist(_)
            | Error::ConsumerGroupNotExist(_)
            | Error::ConsumerNotExist(_)) => {
                Self::new(AtlasCode::ResourceNotFound, e.to_string(), vec![])
            }
            e @ (Error::ParameterInvalid(_)
            | Error::InvalidCursor(_)
            | Error::LogStoreInfoInvalid(_)
            | Error::ProjectInfoInvalid(_)
            | Error::PostBodyInvalid(_)
            | Error::PostBodyTooLarge(_)
            | Error::PostBodyUncompress(_)
            | Error::ProjectAlreadyExist(_)
            | Error::ConsumerGroupAlreadyExist(_)
            | Error::ConsumerNotMatch(_)
            | Error::TrackingDisabled(_)
            | Error::IndexAlreadyExist(_)
            | Error::IndexConfigNotExist(_)
            | Error::QuotaExceed(_)
            | Error::QueryBudget(_)) => {
                Self::new(AtlasCode::InvalidAttribute, e.to_string(), vec![])
            }
            e @ Error::DiskFull(_) => {
                Self::new(AtlasCode::InsufficientDiskSpace, e.to_string(), vec![])
            }
            e @ Error::ServerBusy(_) => Self::new(AtlasCode::ServerBusy, e.to_string(), vec![]),
            Error::Internal(m) => Self::new(AtlasCode::UnexpectedError, m, vec![]),
        }
    }
}

impl From<Error> for AtlasError {
    fn from(e: Error) -> Self {
        Self::service(e, Scope::default())
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
            (
                Error::LogStoreIdNotExist("i".into()),
                AtlasCode::ClusterNotFound,
            ),
            (
                Error::RestoreJobNotExist("j".into()),
                AtlasCode::RestoreJobNotFound,
            ),
            (Error::ShardNotExist(3), AtlasCode::ResourceNotFound),
        ];
        for (e, code) in cases {
            let shown = format!("{e:?}");
            let a = AtlasError::from(e);
            assert_eq!(a.atlas_code(), code, "{shown}");
            assert_eq!(a.body()["error"], code.status().as_u16(), "{shown}");
        }
    }

    #[test]
    fn details_name_what_the_path_names() {
        let scope = Scope {
            group: Some("g1"),
            cluster: Some("c1"),
        };
        let a = AtlasError::service(Error::CheckpointNotExist("k".into()), scope);
        assert_eq!(a.detail(), "No checkpoint with ID k exists for cluster c1.");
        assert_eq!(a.body()["parameters"], serde_json::json!(["k", "c1"]));
        let a = AtlasError::service(Error::LogStoreNotExist("c2".into()), scope);
        assert_eq!(
            a.detail(),
            "No cluster with name \"c2\" exists in group g1."
        );
        assert_eq!(a.body()["parameters"], serde_json::json!(["c2", "g1"]));
    }
}
