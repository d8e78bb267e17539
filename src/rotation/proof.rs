//! The sign-in proof: after the vault read-back, keyturn signs in as the rotated app with the new secret
//! (client credentials at the profile's authority and tenant, for the cloud's Graph resource). Entra accepts a new
//! secret only after it has propagated (seconds to minutes, no published bound), so a refusal that means "not yet"
//! is retried with backoff up to `proof_timeout_secs`; a refusal that can never turn into a success (the app has
//! no service principal in the tenant, a conditional-access block) ends the proof at once.
//!
//! The token is thrown away unread: only the fact that Entra issued it matters. The secret value is sent to the
//! token endpoint only, in the form body, and never appears in an error text.
use crate::graph::AppId;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::future::Future;
use std::time::Duration;

/// What one sign-in attempt said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Entra issued a token: the new secret works.
    Accepted,
    /// Refused in a way propagation can explain (invalid_client while the secret replicates, a network error, a
    /// 5xx, throttling): try again until the timeout. The text is for the progress view and the final reason.
    NotYet(String),
    /// Refused in a way waiting cannot fix; the text is the reason in words.
    Refused(String),
}

/// A sign-in as an app with a client secret. The product's implementation is [`TokenEndpoint`]; unit tests use the
/// fake tenant.
pub trait SignInApi: Send + Sync {
    fn sign_in_as(
        &self,
        app_id: &AppId,
        secret: &SecretString,
    ) -> impl Future<Output = SignInOutcome> + Send;
}

/// How long and how often the proof is tried.
#[derive(Debug, Clone)]
pub struct ProofRetry {
    /// `proof_timeout_secs` of the profile (default 300).
    pub timeout: Duration,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// How often the progress view hears "still waiting" while the executor sleeps between attempts.
    pub tick: Duration,
}

pub const DEFAULT_PROOF_TIMEOUT_SECS: u64 = 300;

impl Default for ProofRetry {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(DEFAULT_PROOF_TIMEOUT_SECS),
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15),
            tick: Duration::from_secs(1),
        }
    }
}

/// The OAuth 2.0 token endpoint of the profile's authority and tenant.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub http: reqwest::Client,
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub url: String,
    /// The Graph resource's `.default` scope (from the session, never derived here).
    pub scope: String,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    pub fn new(http: reqwest::Client, authority_host: &str, tenant: &str, scope: String) -> Self {
        Self {
            http,
            url: format!(
                "{}/{}/oauth2/v2.0/token",
                authority_host.trim_end_matches('/'),
                tenant
            ),
            scope,
        }
    }
}

impl SignInApi for TokenEndpoint {
    async fn sign_in_as(&self, app_id: &AppId, secret: &SecretString) -> SignInOutcome {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", app_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("scope", self.scope.as_str()),
        ];
        let resp = match self
            .http
            .post(&self.url)
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
        {
            Ok(r) => r,
            // reqwest's error names the URL, never the body: no secret in it.
            Err(e) => {
                return SignInOutcome::NotYet(format!("the token endpoint did not answer: {e}"));
            }
        };
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        classify(status, &body)
    }
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// AADSTS7000229: "The client application is missing service principal in the tenant".
pub const AADSTS_NO_SERVICE_PRINCIPAL: u64 = 7000229;
/// AADSTS53003: blocked by Conditional Access.
pub const AADSTS_CONDITIONAL_ACCESS: u64 = 53003;

/// A token endpoint answer, in the words the journal and the summary keep.
pub fn classify(status: u16, body: &str) -> SignInOutcome {
    if (200..300).contains(&status) {
        return SignInOutcome::Accepted;
    }
    let parsed: Option<TokenError> = serde_json::from_str(body).ok();
    let (error, first_line, codes) = match &parsed {
        Some(t) => (
            t.error.as_str(),
            t.error_description.lines().next().unwrap_or("").trim(),
            t.error_codes.as_slice(),
        ),
        None => ("", "", &[][..]),
    };
    let has = |c: u64| codes.contains(&c) || first_line.starts_with(&format!("AADSTS{c}:"));
    if has(AADSTS_NO_SERVICE_PRINCIPAL) {
        return SignInOutcome::Refused(
            "AADSTS7000229: the app has no service principal in this tenant, so nothing can sign in with it (create one: az ad sp create --id <appId>, or an admin consent)".into(),
        );
    }
    if has(AADSTS_CONDITIONAL_ACCESS) || (status == 403 && error == "access_denied") {
        return SignInOutcome::Refused(format!(
            "a conditional-access policy blocks the app's sign-in ({}); the new secret cannot be proven from here",
            if first_line.is_empty() {
                "access_denied"
            } else {
                first_line
            }
        ));
    }
    let what = if first_line.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {first_line}")
    };
    SignInOutcome::NotYet(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, code: u64, msg: &str) -> String {
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {msg}\r\nTrace ID: t\r\nCorrelation ID: c"),
            "error_codes": [code],
        })
        .to_string()
    }

    #[test]
    fn classifies_the_token_endpoint_answers() {
        assert_eq!(classify(200, "{}"), SignInOutcome::Accepted);
        // A secret that has not propagated yet: invalid_client, retried.
        match classify(
            401,
            &body("invalid_client", 7000215, "Invalid client secret provided."),
        ) {
            SignInOutcome::NotYet(t) => {
                assert!(t.contains("AADSTS7000215"), "{t}");
                assert!(!t.contains("Trace ID"), "{t}");
            }
            other => panic!("{other:?}"),
        }
        match classify(
            400,
            &body(
                "unauthorized_client",
                7000229,
                "The client application is missing service principal in the tenant.",
            ),
        ) {
            SignInOutcome::Refused(t) => assert!(t.contains("no service principal"), "{t}"),
            other => panic!("{other:?}"),
        }
        match classify(
            403,
            &body(
                "access_denied",
                53003,
                "Access has been blocked by Conditional Access policies.",
            ),
        ) {
            SignInOutcome::Refused(t) => assert!(t.contains("conditional-access"), "{t}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            classify(503, "<html>"),
            SignInOutcome::NotYet("HTTP 503".into())
        );
    }
}
