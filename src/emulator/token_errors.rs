//! The token endpoint's error bodies: AADSTS errors exactly as Entra sends them (Microsoft's examples in
//! tests/fixtures/microsoft/entra/token_endpoint/) and the headers every token-endpoint answer carries.
use super::faults::ErrorShape;
use super::http::{PLAIN_JSON, Reply};
use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

#[derive(Serialize)]
struct AadError {
    error: &'static str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: String,
    trace_id: String,
    correlation_id: String,
    error_uri: String,
}

/// An AADSTS error exactly as Microsoft's examples show it (tests/fixtures/microsoft/entra/): the description carries
/// the Trace ID, Correlation ID and Timestamp lines joined by `\r\n`, and the same values appear as fields.
pub(crate) fn aad_error(
    status: u16,
    error: &'static str,
    code: u32,
    message: &str,
    correlation: Option<&str>,
) -> Reply {
    let trace = Uuid::new_v4().to_string();
    let corr = correlation
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let ts = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = AadError {
        error,
        error_description: format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        ),
        error_codes: [code],
        timestamp: ts.clone(),
        trace_id: trace.clone(),
        correlation_id: corr,
        // The documentation link of the real service; the emulator has no error pages of its own.
        error_uri: format!("https://login.microsoftonline.com/error?code={code}"),
    };
    token_headers(Reply::json(status, PLAIN_JSON, &body), &trace)
}

pub(crate) fn token_headers(r: Reply, request_id: &str) -> Reply {
    r.with_header("Cache-Control", "no-store, no-cache")
        .with_header("Pragma", "no-cache")
        .with_header("x-ms-request-id", request_id)
        .with_header("x-ms-ests-server", "2.1.emulator")
}

pub(crate) struct TokenErrors;

impl ErrorShape for TokenErrors {
    fn status(&self, code: u16) -> Reply {
        match code {
            400 => aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
                None,
            ),
            401 => aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                None,
            ),
            403 => aad_error(
                403,
                "access_denied",
                53003,
                "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
                None,
            ),
            429 => aad_error(
                429,
                "temporarily_unavailable",
                90055,
                "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.",
                None,
            ),
            503 | 504 => aad_error(
                code,
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again.",
                None,
            ),
            c => aad_error(
                c,
                "server_error",
                50000,
                "There was an error issuing a token or an issue with our sign-in service.",
                None,
            ),
        }
    }
    fn throttled(&self, retry_after: &str) -> Reply {
        self.status(429).with_header("Retry-After", retry_after)
    }
    fn content_type(&self) -> &'static str {
        PLAIN_JSON
    }
}

pub(crate) fn method_not_allowed() -> Reply {
    aad_error(
        405,
        "invalid_request",
        900561,
        "The endpoint only accepts POST requests.",
        None,
    )
}

pub(crate) fn unknown_tenant(tenant: &str) -> Reply {
    aad_error(
        400,
        "invalid_request",
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the \
             correct cloud. Check with your subscription administrator, this may happen if there are no active \
             subscriptions for the tenant."
        ),
        None,
    )
}

pub(crate) fn invalid_scope(scope: &str, corr: Option<&str>) -> Reply {
    aad_error(
        400,
        "invalid_scope",
        70011,
        &format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
        corr,
    )
}

pub(crate) fn missing(param: &str, corr: Option<&str>) -> Reply {
    aad_error(
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{param}'."),
        corr,
    )
}

pub(crate) fn unknown_client(client_id: &str, domain: &str, corr: Option<&str>) -> Reply {
    aad_error(
        400,
        "unauthorized_client",
        700016,
        &format!(
            "Application with identifier '{client_id}' was not found in the directory '{domain}'. This can happen if \
             the application has not been installed by the administrator of the tenant or consented to by any user \
             in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
        corr,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_error_shape() {
        let r = aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
            Some("c0rr"),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body.unwrap().0).unwrap();
        let d = v["error_description"].as_str().unwrap();
        assert!(d.starts_with("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: "));
        assert!(d.contains("\r\nCorrelation ID: c0rr\r\nTimestamp: "));
        assert_eq!(v["error_codes"][0], 7000215);
        assert_eq!(
            v["error_uri"],
            "https://login.microsoftonline.com/error?code=7000215"
        );
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
