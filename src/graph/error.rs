//! Errors the UI and the `check` report can act on. Each says what happened and what to do next.
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(
        "Graph kept throttling after {attempts} attempts (last Retry-After {:.1} s); wait a minute and retry, or lower the request rate",
        retry_after.as_secs_f64()
    )]
    Throttled {
        retry_after: Duration,
        attempts: u32,
    },

    #[error(
        "Graph refused {operation}: this identity lacks {missing_permission} ({code}: {message}); grant it in Entra ID > App registrations > API permissions and give admin consent"
    )]
    Forbidden {
        operation: &'static str,
        missing_permission: &'static str,
        code: String,
        message: String,
    },

    #[error(
        "Graph rejected the access token ({code}: {message}); check the tenant, client id and secret (keyturn doctor)"
    )]
    Unauthorized { code: String, message: String },

    #[error("not found: {what} ({message})")]
    NotFound { what: String, message: String },

    #[error("Graph refused the request {operation} with {status} {code}: {message}")]
    BadRequest {
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
    },

    #[error(
        "Graph failed {operation} with HTTP {status} after {attempts} attempts ({code}: {message}); the service may be degraded, retry later"
    )]
    Server {
        operation: &'static str,
        status: u16,
        attempts: u32,
        code: String,
        message: String,
    },

    #[error(
        "Graph sent a malformed response to {operation} ({detail}); body starts with: {body_excerpt:?}; retry, and report it if it persists"
    )]
    Malformed {
        operation: &'static str,
        detail: String,
        body_excerpt: String,
    },

    #[error(
        "keyturn will not follow a link to {url:?} for {operation}: it calls only the Graph URL's origin (a paging or delta link elsewhere would carry the access token off)"
    )]
    ForeignLink {
        operation: &'static str,
        url: String,
    },

    #[error(
        "Graph's answer to {operation} is larger than keyturn reads ({limit} bytes); check that the Graph URL is Microsoft Graph (or a faithful proxy)"
    )]
    TooLarge {
        operation: &'static str,
        limit: usize,
    },

    #[error(
        "Graph kept sending more pages for {operation} after {limit}; check that the Graph URL is Microsoft Graph (or a faithful proxy), and report it if it is"
    )]
    TooManyPages { operation: &'static str, limit: u32 },

    #[error("cannot reach Graph for {operation}: {detail}")]
    Network {
        operation: &'static str,
        detail: String,
    },

    #[error("sign-in failed: {0}")]
    Auth(String),
}

impl GraphError {
    /// Short words for the status line.
    pub fn short(&self) -> &'static str {
        match self {
            GraphError::Throttled { .. } => "throttled",
            GraphError::Forbidden { .. } => "permission missing",
            GraphError::Unauthorized { .. } => "sign-in rejected",
            GraphError::NotFound { .. } => "not found",
            GraphError::BadRequest { .. } => "bad request",
            GraphError::Server { .. } => "service error",
            GraphError::Malformed { .. } => "malformed response",
            GraphError::TooLarge { .. } => "answer too large",
            GraphError::ForeignLink { .. } => "link off Graph",
            GraphError::TooManyPages { .. } => "too many pages",
            GraphError::Network { .. } => "network error",
            GraphError::Auth(_) => "sign-in failed",
        }
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{...}}}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// First `max` characters of a body, control characters replaced, for error messages.
pub(crate) fn excerpt(body: &str, max: usize) -> String {
    body.chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
