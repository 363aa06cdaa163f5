//! API errors: an HTTP status, a stable machine-readable code and a human message, served as
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use machina_api::{ApiErrorBody, ErrorEnvelope};
use machina_types::ErrorCode;

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
}

pub use machina_api::error::codes;

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// An invalid path or query parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER, message)
    }

    /// Nothing found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// Not available here or yet.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, message)
    }
}

/// The HTTP status a transaction refusal maps to.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Duplicate => StatusCode::CONFLICT,
        ErrorCode::SenderLimit => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::MempoolFull | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Oversized => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(status_of(code), code.name(), code.message())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with content-type: application/json",
            ),
            JsonRejection::BytesRejection(_) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::BODY_TOO_LARGE,
                format!("the body exceeds {} bytes", super::BODY_LIMIT),
            ),
            other => Self::new(StatusCode::BAD_REQUEST, codes::MALFORMED_JSON, other.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ApiErrorBody { code: self.code.into(), message: self.message, call: None };
        (self.status, Json(ErrorEnvelope { error })).into_response()
    }
}
