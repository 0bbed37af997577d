//! SLS wire errors: `{"errorCode": ..., "errorMessage": ...}` with the HTTP status of their
//! code (the table is `codes.rs`).

use axum::http::StatusCode;

use super::codes::SlsCode;
use crate::excerpt::bounded_message;
use crate::service::Error;

/// An error as the SLS API reports it: its code (and so its status) and message.
#[derive(Debug, Clone)]
pub struct SlsError {
    /// `errorCode`.
    pub code: SlsCode,
    /// `errorMessage`.
    pub message: String,
}

impl SlsError {
    /// An error with the given code (and its status); a message longer than a few KiB is cut
    /// ([`bounded_message`]).
    pub fn new(code: SlsCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: bounded_message(message.into()),
        }
    }

    /// The HTTP status: always the code's.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// `400 ParameterInvalid`.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(SlsCode::ParameterInvalid, message)
    }

    /// The JSON body.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "errorCode": self.code.as_str(),
            "errorMessage": self.message,
            "requestId": request_id,
        }))
        .expect("json")
    }
}

impl From<Error> for SlsError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::ProjectNotExist(_) => SlsCode::ProjectNotExist,
            Error::ProjectAlreadyExist(_) => SlsCode::ProjectAlreadyExist,
            Error::LogStoreNotExist(_) => SlsCode::LogStoreNotExist,
            Error::LogStoreAlreadyExist(_) => SlsCode::LogStoreAlreadyExist,
            Error::LogStoreIdNotExist(_) => SlsCode::LogStoreNotExist,
            Error::TrackingDisabled(_) => SlsCode::Unauthorized,
            Error::IndexAlreadyExist(_) => SlsCode::IndexAlreadyExist,
            Error::IndexConfigNotExist(_) => SlsCode::IndexConfigNotExist,
            Error::ShardNotExist(_) => SlsCode::ShardNotExist,
            Error::InvalidCursor(_) => SlsCode::InvalidCursor,
            Error::ParameterInvalid(_) => SlsCode::ParameterInvalid,
            Error::LogStoreInfoInvalid(_) => SlsCode::LogStoreInfoInvalid,
            Error::ProjectInfoInvalid(_) => SlsCode::ProjectInfoInvalid,
            Error::PostBodyInvalid(_) => SlsCode::PostBodyInvalid,
            Error::PostBodyTooLarge(_) => SlsCode::PostBodyTooLarge,
            Error::PostBodyUncompress(_) => SlsCode::PostBodyUncompressError,
            Error::ConsumerGroupNotExist(_) => SlsCode::ConsumerGroupNotExist,
            Error::ConsumerGroupAlreadyExist(_) => SlsCode::ConsumerGroupAlreadyExist,
            Error::ConsumerNotExist(_) => SlsCode::ConsumerNotExist,
            Error::ConsumerNotMatch(_) => SlsCode::ConsumerNotMatch,
            Error::CheckpointNotExist(_) => SlsCode::CheckpointNotExist,
            Error::RestoreJobNotExist(_) => SlsCode::RestoreJobNotExist,
            Error::TargetNotEmpty(_) => SlsCode::TargetNotEmpty,
            Error::QuotaExceed(_) => SlsCode::ExceedQuota,
            Error::QueryBudget(_) => SlsCode::QueryBudget,
            Error::DiskFull(_) => SlsCode::DiskFull,
            Error::ServerBusy(_) => SlsCode::ServerBusy,
            Error::Internal(_) => SlsCode::InternalServerError,
        };
        SlsError::new(code, e.to_string())
    }
}

impl From<&cairn_auth::SlsAuthError> for SlsCode {
    fn from(e: &cairn_auth::SlsAuthError) -> Self {
        use cairn_auth::SlsAuthError as A;
        match e {
            A::MissingAuthorization | A::MalformedAuthorization(_) => SlsCode::Unauthorized,
            A::MissingAccessKeyId | A::UnknownAccessKeyId(_) => SlsCode::InvalidAccessKeyId,
            A::SignatureNotMatch | A::ContentSha256Mismatch => SlsCode::SignatureNotMatch,
            A::ContentMd5Mismatch => SlsCode::InvalidContentMd5,
            A::MissingDate => SlsCode::MissingDate,
            A::InvalidDate(_) => SlsCode::InvalidDateFormat,
            A::RequestTimeExpired { .. } => SlsCode::RequestTimeExpired,
            A::UnsupportedSignatureMethod(_) => SlsCode::ParameterInvalid,
        }
    }
}
