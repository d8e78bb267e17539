//! Device-code sign-in (OAuth 2.0 device authorization grant) as an azure_core `TokenCredential`: azure_identity
//! has none, and it is the one interactive sign-in that works over SSH on a jump host (no browser, no D-Bus).
//!
//! Wire format: tests/fixtures/microsoft/entra/device_code_flow/. The user code and URL are handed to a [`PromptHook`]:
//! the TUI shows a popup, the CLI faces print to stderr. Polling honours `interval`, `authorization_pending`,
//! `slow_down` (+5 s, RFC 8628), `authorization_declined` and `expired_token`.
//!
//! The first flow asks for `offline_access` too, so a token for a second resource (Key Vault after Graph) comes from
//! the refresh token instead of a second prompt.
use super::AuthError;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What the operator must do to sign in: open `verification_uri` and type `user_code` before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodePrompt {
    pub user_code: String,
    pub verification_uri: String,
    /// The service's own instructions (localised), e.g. "To sign in, use a web browser to open ...".
    pub message: String,
    pub expires_at: DateTime<Utc>,
}

impl DeviceCodePrompt {
    /// One line for stderr or a status line; keyturn's own words so it reads the same in every locale.
    pub fn instructions(&self) -> String {
        format!(
            "To sign in, open {} in a browser on any device and enter the code {} (valid until {} UTC).",
            self.verification_uri,
            self.user_code,
            self.expires_at.format("%H:%M")
        )
    }
}

/// What a device-code sign-in is doing, for whoever shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCodeEvent {
    /// Show this to the operator (open the popup).
    Prompt(DeviceCodePrompt),
    /// Signed in (close the popup).
    Completed,
    /// Gave up: declined, expired, or refused; the text says what to do (close the popup, show the error).
    Failed(String),
}

/// Receives device-code events. Called from the task that signs in; keep it quick (send on a channel).
pub type PromptHook = Arc<dyn Fn(DeviceCodeEvent) + Send + Sync>;

/// Print the prompt on stderr: for `check`, `doctor`, `rotate` and `login`, which have no screen of their own.
pub fn stderr_prompt() -> PromptHook {
    Arc::new(|event| match event {
        DeviceCodeEvent::Prompt(p) => {
            eprintln!("keyturn: {}", crate::safe_text::lines(&p.instructions()))
        }
        DeviceCodeEvent::Completed => eprintln!("keyturn: signed in."),
        DeviceCodeEvent::Failed(_) => {}
    })
}

/// A hook that publishes the current prompt on a `watch` channel: `Some` while the operator has to act, `None`
/// once the sign-in completed or failed. The TUI keeps the receiver and opens or closes its popup on change.
pub fn watch_prompt() -> (PromptHook, watch::Receiver<Option<DeviceCodePrompt>>) {
    let (tx, rx) = watch::channel(None);
    let hook: PromptHook = Arc::new(move |event| {
        let next = match event {
            DeviceCodeEvent::Prompt(p) => Some(p),
            DeviceCodeEvent::Completed | DeviceCodeEvent::Failed(_) => None,
        };
        let _ = tx.send(next);
    });
    (hook, rx)
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceCodeError {
    #[error(
        "device-code sign-in was declined at {verification_uri}; run keyturn again and approve the request (check that it shows the app you expect)"
    )]
    Declined { verification_uri: String },
    #[error(
        "device-code sign-in expired: code {user_code} was not entered at {verification_uri} in time; run keyturn again and enter the new code within {minutes} minutes"
    )]
    Expired {
        user_code: String,
        verification_uri: String,
        minutes: u64,
    },
    #[error("the sign-in service refused to start a device-code sign-in: {detail}{hint}")]
    Start { detail: String, hint: &'static str },
    #[error("device-code sign-in failed while waiting for approval: {0}")]
    Poll(String),
    #[error("cannot reach the sign-in service at {url}: {detail}")]
    Network { url: String, detail: String },
    #[error("the sign-in service sent a response keyturn cannot read ({0})")]
    Malformed(String),
}

/// The `/devicecode` answer.
#[derive(Debug, Deserialize)]
struct DeviceAuthorization {
    #[serde(deserialize_with = "secret")]
    device_code: SecretString,
    user_code: String,
    verification_uri: String,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "seconds")]
    interval: Option<u64>,
    #[serde(default)]
    message: String,
}

/// A token endpoint success.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(deserialize_with = "secret")]
    access_token: SecretString,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "optional_secret")]
    refresh_token: Option<SecretString>,
}

/// A token endpoint error (`error`, `error_description`, `error_codes`, ...).
#[derive(Debug, Default, Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

// Tokens and codes go straight into `SecretString` (zeroised on drop, redacted in Debug).
fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

fn optional_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// Entra sends numbers; some proxies and old endpoints send them as strings.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// One poll's meaning.
#[derive(Debug)]
pub(crate) enum PollOutcome {
    Token(TokenResponse),
    Pending,
    SlowDown,
    Declined,
    Expired,
    Failed(String),
}

fn classify(status: u16, body: &str) -> PollOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_str::<TokenResponse>(body) {
            Ok(t) => PollOutcome::Token(t),
            Err(e) => PollOutcome::Failed(format!("unreadable token response: {e}")),
        };
    }
    let err: TokenError = serde_json::from_str(body).unwrap_or_default();
    match err.error.as_str() {
        "authorization_pending" => PollOutcome::Pending,
        "slow_down" => PollOutcome::SlowDown,
        "authorization_declined" | "access_denied" => PollOutcome::Declined,
        "expired_token" | "code_expired" => PollOutcome::Expired,
        "" => PollOutcome::Failed(format!("HTTP {status}: {}", excerpt(body))),
        code => PollOutcome::Failed(format!("{code}: {}", first_line(&err.error_description))),
    }
}

/// Longest device-code lifetime keyturn waits for (Entra says 900 s).
const MAX_EXPIRES_IN: u64 = 3600;
/// Poll interval bounds for what the service asks (Entra says 5 s): never hammer, never stall.
const MIN_INTERVAL: u64 = 1;
const MAX_INTERVAL: u64 = 60;
/// Longest access-token lifetime believed from a token answer (Entra's are 60 to 90 minutes).
const MAX_TOKEN_SECS: u64 = 86_400;

/// (poll interval, lifetime) of a device-code authorization, within bounds whatever numbers it carries.
fn poll_timing(auth: &DeviceAuthorization, default_interval: Duration) -> (Duration, Duration) {
    let interval = auth.interval.map_or(default_interval, |s| {
        Duration::from_secs(s.clamp(MIN_INTERVAL, MAX_INTERVAL))
    });
    let expires_in = Duration::from_secs(auth.expires_in.unwrap_or(900).min(MAX_EXPIRES_IN));
    (interval, expires_in)
}

/// Poll until a token, a refusal, or the deadline. `poll` does one request; `sleep` waits (injected so tests do not
/// wait for real). The first poll happens after one interval, as RFC 8628 asks.
pub(crate) async fn poll_until_done<P, PF, S, SF>(
    mut interval: Duration,
    expires_in: Duration,
    mut poll: P,
    sleep: S,
) -> Result<TokenResponse, PollEnd>
where
    P: FnMut() -> PF,
    PF: Future<Output = PollOutcome>,
    S: Fn(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut waited = Duration::ZERO;
    let started = Instant::now();
    loop {
        // Both the time slept and the wall clock count: whichever says "expired" first wins.
        // Saturating: no interval or lifetime, however large, overflows.
        if waited.saturating_add(interval) > expires_in
            || started.elapsed().saturating_add(interval) > expires_in
        {
            return Err(PollEnd::Expired);
        }
        sleep(interval).await;
        waited = waited.saturating_add(interval);
        match poll().await {
            PollOutcome::Token(t) => return Ok(t),
            PollOutcome::Pending => {}
            PollOutcome::SlowDown => interval = interval.saturating_add(Duration::from_secs(5)),
            PollOutcome::Declined => return Err(PollEnd::Declined),
            PollOutcome::Expired => return Err(PollEnd::Expired),
            PollOutcome::Failed(e) => return Err(PollEnd::Failed(e)),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollEnd {
    Declined,
    Expired,
    Failed(String),
}

#[derive(Default)]
struct Cache {
    tokens: HashMap<String, AccessToken>,
    refresh_token: Option<SecretString>,
}

/// Options for [`DeviceCodeCredential`].
#[derive(Clone)]
pub struct DeviceCodeOptions {
    pub prompt: PromptHook,
    /// Seconds to wait between polls when the service does not say (RFC 8628: 5).
    pub default_interval: Duration,
}

impl Default for DeviceCodeOptions {
    fn default() -> Self {
        Self {
            prompt: stderr_prompt(),
            default_interval: Duration::from_secs(5),
        }
    }
}

pub struct DeviceCodeCredential {
    http: reqwest::Client,
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/`
    endpoint: String,
    client_id: String,
    options: DeviceCodeOptions,
    // A tokio mutex: concurrent first calls (Graph and Key Vault) wait for one prompt instead of showing two.
    cache: tokio::sync::Mutex<Cache>,
}

impl std::fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeCredential {
    pub fn new(
        http: reqwest::Client,
        authority_host: &str,
        tenant_id: &str,
        client_id: &str,
        options: DeviceCodeOptions,
    ) -> Result<Arc<DeviceCodeCredential>, AuthError> {
        let host = authority_host.trim_end_matches('/');
        if !host.starts_with("https://") {
            return Err(AuthError::Setup(format!(
                "authority host {host:?} must be an https:// URL"
            )));
        }
        Ok(Arc::new(DeviceCodeCredential {
            http,
            endpoint: format!("{host}/{tenant_id}/oauth2/v2.0/"),
            client_id: client_id.to_string(),
            options,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }))
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, String), DeviceCodeError> {
        let url = format!("{}{path}", self.endpoint);
        let resp =
            self.http
                .post(&url)
                .form(form)
                .send()
                .await
                .map_err(|e| DeviceCodeError::Network {
                    url: url.clone(),
                    detail: e.to_string(),
                })?;
        let status = resp.status().as_u16();
        let body = crate::net::read_body(resp, crate::net::MAX_BODY_BYTES)
            .await
            .map_err(|e| DeviceCodeError::Network {
                url,
                detail: e.to_string(),
            })?;
        Ok((status, body))
    }

    async fn refresh(&self, refresh_token: &SecretString, scope: &str) -> Option<TokenResponse> {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", scope),
        ];
        match self.post("token", &form).await {
            Ok((status, body)) => match classify(status, &body) {
                PollOutcome::Token(t) => Some(t),
                other => {
                    tracing::info!(
                        "refresh token not accepted ({other:?}); asking for a new device code"
                    );
                    None
                }
            },
            Err(e) => {
                tracing::info!("refresh failed ({e}); asking for a new device code");
                None
            }
        }
    }

    async fn device_flow(&self, scope: &str) -> Result<TokenResponse, DeviceCodeError> {
        let (status, body) = self
            .post(
                "devicecode",
                &[("client_id", self.client_id.as_str()), ("scope", scope)],
            )
            .await?;
        if !(200..300).contains(&status) {
            let err: TokenError = serde_json::from_str(&body).unwrap_or_default();
            let detail = if err.error.is_empty() {
                format!("HTTP {status}: {}", excerpt(&body))
            } else {
                format!("{}: {}", err.error, first_line(&err.error_description))
            };
            return Err(DeviceCodeError::Start {
                hint: start_hint(&detail),
                detail,
            });
        }
        let auth: DeviceAuthorization = serde_json::from_str(&body)
            .map_err(|e| DeviceCodeError::Malformed(format!("devicecode: {e}")))?;
        let (interval, expires_in) = poll_timing(&auth, self.options.default_interval);
        let prompt = DeviceCodePrompt {
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.clone(),
            message: auth.message.clone(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::minutes(15)),
        };
        tracing::info!(
            "device-code sign-in started: code {} at {}",
            prompt.user_code,
            prompt.verification_uri
        );
        (self.options.prompt)(DeviceCodeEvent::Prompt(prompt));

        let device_code = auth.device_code;
        let client_id = self.client_id.clone();
        let result = poll_until_done(
            interval,
            expires_in,
            || {
                let form = [
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("client_id", client_id.as_str()),
                    ("device_code", device_code.expose_secret()),
                ];
                async move {
                    match self.post("token", &form).await {
                        Ok((status, body)) => classify(status, &body),
                        Err(e) => PollOutcome::Failed(e.to_string()),
                    }
                }
            },
            tokio::time::sleep,
        )
        .await;
        let result = result.map_err(|end| match end {
            PollEnd::Declined => DeviceCodeError::Declined {
                verification_uri: auth.verification_uri.clone(),
            },
            PollEnd::Expired => DeviceCodeError::Expired {
                user_code: auth.user_code.clone(),
                verification_uri: auth.verification_uri.clone(),
                minutes: expires_in.as_secs().div_ceil(60),
            },
            PollEnd::Failed(e) => DeviceCodeError::Poll(e),
        });
        match &result {
            Ok(_) => (self.options.prompt)(DeviceCodeEvent::Completed),
            Err(e) => (self.options.prompt)(DeviceCodeEvent::Failed(e.to_string())),
        }
        result
    }
}

/// The commonest reason a tenant refuses: the app registration is not a public client.
fn start_hint(detail: &str) -> &'static str {
    if detail.contains("7000218")
        || detail.contains("client_assertion")
        || detail.contains("unauthorized_client")
    {
        "; enable \"Allow public client flows\" on the app registration (Entra ID > App registrations > Authentication)"
    } else {
        ""
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn excerpt(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn to_access_token(t: &TokenResponse) -> AccessToken {
    let secs = i64::try_from(t.expires_in.unwrap_or(3599).min(MAX_TOKEN_SECS)).unwrap_or(3599);
    AccessToken::new(
        t.access_token.expose_secret().to_string(),
        azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::seconds(secs),
    )
}

#[async_trait::async_trait]
impl TokenCredential for DeviceCodeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let key = scopes.join(" ");
        let mut cache = self.cache.lock().await;
        let fresh_until =
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::minutes(5);
        if let Some(t) = cache.tokens.get(&key)
            && t.expires_on > fresh_until
        {
            return Ok(t.clone());
        }
        let scope = format!("{key} offline_access");
        let refreshed = match cache.refresh_token.clone() {
            Some(rt) => self.refresh(&rt, &scope).await,
            None => None,
        };
        let response = match refreshed {
            Some(t) => t,
            None => self.device_flow(&scope).await.map_err(|e| {
                azure_core::Error::with_message(ErrorKind::Credential, e.to_string())
            })?,
        };
        if let Some(rt) = &response.refresh_token {
            cache.refresh_token = Some(rt.clone());
        }
        let token = to_access_token(&response);
        cache.tokens.insert(key, token.clone());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn authorization(interval: Option<u64>, expires_in: Option<u64>) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: SecretString::from("dc".to_string()),
            user_code: "ABC".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            expires_in,
            interval,
            message: String::new(),
        }
    }

    #[test]
    fn hostile_interval_and_lifetime_are_bounded() {
        let d = Duration::from_secs(5);
        let s = Duration::from_secs;
        for (interval, expires, want) in [
            (Some(5), Some(900), (s(5), s(900))),
            (None, None, (d, s(900))),
            (Some(0), Some(0), (s(1), s(0))),
            (Some(u64::MAX), Some(u64::MAX), (s(60), s(3600))),
            (Some(1), Some(10_000_000), (s(1), s(3600))),
        ] {
            assert_eq!(
                poll_timing(&authorization(interval, expires), d),
                want,
                "{interval:?} {expires:?}"
            );
        }
    }

    /// Whatever durations reach the poll loop, the additions saturate and the loop ends: the poll answers
    /// `slow_down` a bounded number of times, then fails, and a counter proves the loop stopped there.
    #[tokio::test]
    async fn hostile_durations_never_overflow_the_poll_loop() {
        for (interval, expires) in [
            (Duration::MAX, Duration::MAX),
            (Duration::MAX - Duration::from_secs(1), Duration::MAX),
            (Duration::ZERO, Duration::MAX),
        ] {
            let polls = Mutex::new(0u32);
            let end = poll_until_done(
                interval,
                expires,
                || {
                    let n = {
                        let mut p = polls.lock().unwrap();
                        *p += 1;
                        *p
                    };
                    async move {
                        if n < 10 {
                            PollOutcome::SlowDown
                        } else {
                            PollOutcome::Failed("stop".into())
                        }
                    }
                },
                |_| async {},
            )
            .await;
            let n = *polls.lock().unwrap();
            assert!(n <= 10, "{interval:?}: {n} polls");
            assert!(end.is_err(), "{interval:?}");
        }
    }

    #[test]
    fn a_huge_token_lifetime_is_capped() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a.b.c","expires_in":18446744073709551615}"#)
                .unwrap();
        let at = to_access_token(&t);
        let left = at.expires_on - azure_core::time::OffsetDateTime::now_utc();
        assert!(
            left <= azure_core::time::Duration::seconds(86_400),
            "{left}"
        );
    }

    fn token() -> PollOutcome {
        classify(
            200,
            r#"{"access_token":"a.b.c","expires_in":3599,"token_type":"Bearer"}"#,
        )
    }

    async fn run(
        outcomes: Vec<PollOutcome>,
        interval: u64,
        expires: u64,
    ) -> (Result<String, PollEnd>, Vec<u64>) {
        let outcomes = Mutex::new(outcomes.into_iter());
        let sleeps = Mutex::new(Vec::new());
        let r = poll_until_done(
            Duration::from_secs(interval),
            Duration::from_secs(expires),
            || {
                let next = outcomes
                    .lock()
                    .unwrap()
                    .next()
                    .expect("polled past the script");
                async move { next }
            },
            |d| {
                sleeps.lock().unwrap().push(d.as_secs());
                async {}
            },
        )
        .await;
        (
            r.map(|t| t.access_token.expose_secret().to_string()),
            sleeps.into_inner().unwrap(),
        )
    }

    #[test]
    fn classify_errors() {
        let body = |e: &str| {
            format!(
                r#"{{"error":"{e}","error_description":"AADSTS70016: pending\r\nTrace ID: x"}}"#
            )
        };
        assert!(matches!(
            classify(400, &body("authorization_pending")),
            PollOutcome::Pending
        ));
        assert!(matches!(
            classify(400, &body("slow_down")),
            PollOutcome::SlowDown
        ));
        assert!(matches!(
            classify(400, &body("authorization_declined")),
            PollOutcome::Declined
        ));
        assert!(matches!(
            classify(400, &body("expired_token")),
            PollOutcome::Expired
        ));
        match classify(400, &body("bad_verification_code")) {
            PollOutcome::Failed(m) => assert_eq!(m, "bad_verification_code: AADSTS70016: pending"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(502, "<html>"), PollOutcome::Failed(_)));
        assert!(matches!(token(), PollOutcome::Token(_)));
    }

    #[tokio::test]
    async fn pending_then_token_waits_the_interval() {
        let (r, sleeps) = run(
            vec![PollOutcome::Pending, PollOutcome::Pending, token()],
            2,
            900,
        )
        .await;
        assert_eq!(r.unwrap(), "a.b.c");
        assert_eq!(sleeps, vec![2, 2, 2]);
    }

    #[tokio::test]
    async fn slow_down_adds_five_seconds() {
        let (r, sleeps) = run(
            vec![PollOutcome::SlowDown, PollOutcome::Pending, token()],
            1,
            900,
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(sleeps, vec![1, 6, 6]);
    }

    #[tokio::test]
    async fn declined_and_expired_stop() {
        let (r, _) = run(vec![PollOutcome::Pending, PollOutcome::Declined], 1, 900).await;
        assert_eq!(r.unwrap_err(), PollEnd::Declined);
        let (r, _) = run(vec![PollOutcome::Expired], 1, 900).await;
        assert_eq!(r.unwrap_err(), PollEnd::Expired);
    }

    #[tokio::test]
    async fn client_side_deadline() {
        // 3 s to live, 2 s interval: one poll, then the next would land past the deadline.
        let (r, sleeps) = run(vec![PollOutcome::Pending], 2, 3).await;
        assert_eq!(r.unwrap_err(), PollEnd::Expired);
        assert_eq!(sleeps, vec![2]);
    }

    #[test]
    fn watch_hook_opens_and_closes() {
        let (hook, rx) = watch_prompt();
        let p = DeviceCodePrompt {
            user_code: "ABCD".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            message: String::new(),
            expires_at: Utc::now(),
        };
        hook(DeviceCodeEvent::Prompt(p.clone()));
        assert_eq!(rx.borrow().as_ref(), Some(&p));
        hook(DeviceCodeEvent::Completed);
        assert!(rx.borrow().is_none());
    }
}
