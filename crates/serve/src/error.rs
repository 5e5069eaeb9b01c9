//! What a request can be answered with when it fails, in the shapes clients expect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can stop the service itself (not a request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading a model, its store or the shadow log failed.
    #[error(transparent)]
    Titlesim(#[from] titlesim::Error),
    /// Loading the canonical model (or its GT store) failed: the configuration names a model
    /// or a value the model cannot take.
    #[error("loading the [canonical] model {model}: {source}")]
    Load {
        /// The configuration's `model`.
        model: String,
        /// Why it failed.
        source: Box<titlesim::Error>,
    },
    /// The shadow scorer failed.
    #[error(transparent)]
    Shadow(#[from] titlesim_shadow::Error),
    /// The configuration asks for something the service cannot do.
    #[error("{0}")]
    Config(String),
    /// Listening or serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// A request that failed: its status, a kind for metrics and clients, and a message that says
/// what was wrong and where (the JSON path of the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `validation`, `empty`, `timeout`, `payload_too_large`, `overloaded`, `unhealthy`,
    /// `backend`, `not_found` or `method_not_allowed`.
    pub kind: &'static str,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    /// 422: a malformed body or field.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    /// 400: nothing to do (an empty list of inputs).
    pub fn empty(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "empty", message)
    }

    /// 408: the body did not arrive in time (`[serve] read_timeout_ms`).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "timeout", message)
    }

    /// 413: a body or a list over the limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 429: the queue is full.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", message)
    }

    /// 503: the models are not loaded yet, or the service is stopping.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unhealthy", message)
    }

    /// 404: no such endpoint.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: an endpoint asked with another method than it takes.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// 500: the backend failed on valid input.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "backend", message)
    }

    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    /// The error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
    pub fn openai(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "type": if self.status.is_server_error() { "server_error" } else { "invalid_request_error" },
                "param": null,
                "code": self.kind,
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// TEI's shape: `{"error": message, "error_type": kind}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "error_type": self.kind});
        (self.status, axum::Json(body)).into_response()
    }
}
