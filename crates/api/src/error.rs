//! The error envelope: every failure is served as `{"error": {"code", "message"}}` with a
//! stable code, plus `call` for a transaction that failed in one of its calls.
//!
//! Transaction refusals use the chain's [`ErrorCode`](machina_types::ErrorCode) names; other
//! failures the codes in [`codes`].

use serde::{Deserialize, Serialize};

/// An error as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorBody {
    /// Stable code.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::error_code))]
    pub code: String,
    /// Human message.
    pub message: String,
    /// For failed transactions, the failing call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<u8>,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ApiErrorBody,
}

/// API codes that are not transaction error codes.
pub mod codes {
    /// The request body is not valid JSON of the expected shape.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// The request body exceeds the size limit.
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    /// The request needs a JSON body.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// A path or query parameter is invalid.
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// Nothing exists at this id.
    pub const NOT_FOUND: &str = "not_found";
    /// The node cannot answer yet (starting up, or the data is not available here). The
    /// same name as the transaction code [`machina_types::ErrorCode::Unavailable`].
    pub const UNAVAILABLE: &str = "unavailable";
    /// Every code above.
    pub const ALL: &[&str] = &[
        MALFORMED_JSON,
        BODY_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        INVALID_PARAMETER,
        NOT_FOUND,
        UNAVAILABLE,
    ];
}
