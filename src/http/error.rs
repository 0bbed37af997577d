//! SLS wire errors: `{"errorCode": ..., "errorMessage": ...}` with an HTTP status.

use axum::http::StatusCode;

use crate::excerpt::bounded_message;
use crate::service::Error;

/// An error as the SLS API reports it.
#[derive(Debug, Clone)]
pub struct SlsError {
    /// HTTP status.
    pub status: StatusCode,
    /// `errorCode`.
    pub code: &'static str,
    /// `errorMessage`.
    pub message: String,
}

impl SlsError {
    /// An error with the given status and code; a message longer than a few KiB is cut
    /// ([`bounded_message`]).
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: bounded_message(message.into()),
        }
    }

    /// `400 ParameterInvalid`.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(400, "ParameterInvalid", message)
    }

    /// The JSON body.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "errorCode": self.code,
            "errorMessage": self.message,
            "requestId": request_id,
        }))
        .expect("json")
    }
}

impl From<Error> for SlsError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::ProjectNotExist(_) => (404, "ProjectNotExist"),
            Error::ProjectAlreadyExist(_) => (400, "ProjectAlreadyExist"),
            Error::LogStoreNotExist(_) => (404, "LogStoreNotExist"),
            Error::LogStoreAlreadyExist(_) => (400, "LogStoreAlreadyExist"),
            Error::ShardNotExist(_) => (400, "ShardNotExist"),
            Error::InvalidCursor(_) => (400, "InvalidCursor"),
            Error::ParameterInvalid(_) => (400, "ParameterInvalid"),
            Error::LogStoreInfoInvalid(_) => (400, "LogStoreInfoInvalid"),
            Error::ProjectInfoInvalid(_) => (400, "ProjectInfoInvalid"),
            Error::PostBodyInvalid(_) => (400, "PostBodyInvalid"),
            Error::ConsumerGroupNotExist(_) => (404, "ConsumerGroupNotExist"),
            Error::ConsumerGroupAlreadyExist(_) => (400, "ConsumerGroupAlreadyExist"),
            Error::ConsumerNotExist(_) => (400, "ConsumerNotExist"),
            Error::ConsumerNotMatch(_) => (400, "ConsumerNotMatch"),
            Error::CheckpointNotExist(_) => (404, "CheckpointNotExist"),
            Error::RestoreJobNotExist(_) => (404, "RestoreJobNotExist"),
            Error::TargetNotEmpty(_) => (400, "ParameterInvalid"),
            Error::QuotaExceed(_) => (400, "ExceedQuota"),
            Error::DiskFull(_) => (507, "DiskFull"),
            Error::ServerBusy(_) => (503, "ServerBusy"),
            Error::Internal(_) => (500, "InternalServerError"),
        };
        SlsError::new(status, code, e.to_string())
    }
}
