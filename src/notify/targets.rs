//! The secrets of the notification targets (webhook URLs, the SMTP password) and the HTTP post of the webhook
//! targets. A webhook URL is a credential (whoever has it can post to the channel): it comes from an environment
//! variable or the OS keyring (`keyturn notify --set-secret`), never from the config file, and is never written to
//! a log, an error or the terminal.
use crate::auth::Env;
use crate::auth::store::{SecretKey, SecretOrigin, SecretStores};
use crate::config::NotifyTarget;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// A secret `keyturn notify` needs, by the name `--set-secret` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretName {
    /// The Teams Workflows webhook URL.
    Teams,
    /// The Slack incoming webhook URL.
    Slack,
    /// The generic JSON webhook URL.
    Webhook,
    /// The SMTP password of `smtp_username`.
    Smtp,
}

impl SecretName {
    pub fn env_var(self) -> &'static str {
        match self {
            SecretName::Teams => "KEYTURN_TEAMS_WEBHOOK_URL",
            SecretName::Slack => "KEYTURN_SLACK_WEBHOOK_URL",
            SecretName::Webhook => "KEYTURN_WEBHOOK_URL",
            SecretName::Smtp => "KEYTURN_SMTP_PASSWORD",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::Teams => "teams",
            SecretName::Slack => "slack",
            SecretName::Webhook => "webhook",
            SecretName::Smtp => "smtp",
        }
    }

    /// "the Teams webhook URL", for messages.
    pub fn words(self) -> &'static str {
        match self {
            SecretName::Teams => "the Teams webhook URL",
            SecretName::Slack => "the Slack webhook URL",
            SecretName::Webhook => "the webhook URL",
            SecretName::Smtp => "the SMTP password",
        }
    }

    pub fn is_url(self) -> bool {
        self != SecretName::Smtp
    }

    /// The secret of a webhook target; `mail` has none of its own (its password is `Smtp`).
    pub fn of_target(t: NotifyTarget) -> Option<SecretName> {
        match t {
            NotifyTarget::Teams => Some(SecretName::Teams),
            NotifyTarget::Slack => Some(SecretName::Slack),
            NotifyTarget::Webhook => Some(SecretName::Webhook),
            NotifyTarget::Mail => None,
        }
    }

    /// The keyring entry: the store files secrets by tenant and client; a notification secret belongs to the
    /// tenant, under the client slot `notify-<name>` ("notify-teams@contoso.onmicrosoft.com").
    pub fn key(self, tenant: &str) -> Result<SecretKey, String> {
        SecretKey::new(tenant, &format!("notify-{}", self.as_str())).map_err(|e| e.to_string())
    }
}

/// A secret and where it came from (the origin is shown; the value never is).
pub struct Found {
    pub value: SecretString,
    pub origin: String,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The environment variable, then the OS store (or the 0600 file) for `tenant`. Warnings (a store that is not
/// there) go to `warnings`; `None` when neither has it.
pub fn lookup(
    name: SecretName,
    tenant: Option<&str>,
    env: &Env,
    stores: &SecretStores,
    warnings: &mut Vec<String>,
) -> Option<Found> {
    if let Some(v) = env.var(name.env_var()).filter(|v| !v.trim().is_empty()) {
        return Some(Found {
            value: SecretString::from(v.trim().to_string()),
            origin: name.env_var().to_string(),
        });
    }
    let key = name.key(tenant?).ok()?;
    let found = stores.lookup(&key);
    // The store's warnings speak of "the client secret": say which secret this is.
    warnings.extend(
        found
            .warnings
            .into_iter()
            .map(|w| format!("{}: {}", name.words(), w.replace("the client secret", "it"))),
    );
    found.found.map(|(value, origin)| Found {
        value,
        origin: match origin {
            SecretOrigin::File(p) => format!("the file {}", p.display()),
            other => other.to_string(),
        },
    })
}

/// Check a webhook URL without ever showing it: https, or http to a receiver on this machine (loopback).
pub fn check_webhook_url(name: SecretName, value: &SecretString) -> Result<(), String> {
    let url = url::Url::parse(value.expose_secret().trim())
        .map_err(|_| format!("{} is not a URL", name.words()))?;
    let loopback = url.host_str().is_some_and(crate::net::is_loopback_host);
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{} must be an https:// URL (plain http only to a receiver on this machine: 127.0.0.1, ::1, localhost)",
            name.words()
        )),
    }
}

/// Store a secret for `tenant` (`keyturn notify --set-secret`); returns where it went and the store's warnings.
pub fn store(
    name: SecretName,
    tenant: &str,
    value: &SecretString,
    stores: &SecretStores,
) -> Result<(String, Vec<String>), String> {
    if value.expose_secret().trim().is_empty() {
        return Err(format!("{} is empty; nothing was stored", name.words()));
    }
    if name.is_url() {
        check_webhook_url(name, value)?;
    }
    let key = name.key(tenant)?;
    let trimmed = SecretString::from(value.expose_secret().trim().to_string());
    let saved = stores.save(&key, &trimmed).map_err(|e| e.to_string())?;
    let warnings = saved
        .warnings
        .into_iter()
        .map(|w| w.replace("the client secret", name.words()))
        .collect();
    Ok((saved.origin.to_string(), warnings))
}

/// POST a JSON body to a webhook. Success is any 2xx (Teams Workflows answers 202, Slack 200 `ok`), except the
/// 200 that Teams connectors send with "HTTP error 429" in the body when throttled. A 429 is tried once more after
/// its `Retry-After` (at most a minute); any other failure is left to the next run. The error never holds the URL.
pub async fn post_json(
    http: &reqwest::Client,
    url: &SecretString,
    body: String,
) -> Result<(), String> {
    let mut retried = false;
    loop {
        let resp = http
            .post(url.expose_secret().trim())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| describe(e.without_url()))?;
        let status = resp.status();
        let wait = retry_after(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        let excerpt: String = text.trim().chars().take(200).collect();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS && !retried {
            retried = true;
            tokio::time::sleep(wait).await;
            continue;
        }
        if !status.is_success() {
            return Err(format!("the receiver answered HTTP {status}: {excerpt}"));
        }
        if text.contains("HTTP error 429") {
            return Err(format!("the receiver is throttling: {excerpt}"));
        }
        return Ok(());
    }
}

/// `Retry-After` in seconds (possibly decimal), capped at a minute; 5 s when absent or unreadable.
fn retry_after(h: &reqwest::header::HeaderMap) -> Duration {
    h.get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(60.0)))
        .unwrap_or(Duration::from_secs(5))
}

/// A transport error with its causes (the URL already removed).
fn describe(e: reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_capped_at_a_minute() {
        let h = |v: &str| {
            let mut m = reqwest::header::HeaderMap::new();
            m.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            retry_after(&m)
        };
        assert_eq!(h("2.5"), Duration::from_millis(2500));
        assert_eq!(h("3600"), Duration::from_secs(60));
        assert_eq!(h("Wed, 21 Oct 2015 07:28:00 GMT"), Duration::from_secs(5));
        assert_eq!(
            retry_after(&reqwest::header::HeaderMap::new()),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn webhook_urls_are_https_or_loopback_and_never_echoed() {
        let ok = |u: &str| check_webhook_url(SecretName::Teams, &SecretString::from(u.to_string()));
        assert!(ok("https://prod-00.westeurope.logic.azure.com/workflows/x?sig=s").is_ok());
        assert!(ok("http://127.0.0.1:8080/teams").is_ok());
        assert!(ok("http://[::1]:8080/teams").is_ok());
        assert!(ok("http://localhost/teams").is_ok());
        let e = ok("http://hooks.example.com/SECRET").unwrap_err();
        assert!(e.contains("https://") && !e.contains("SECRET"), "{e}");
        let e = ok("not a url SECRET").unwrap_err();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn environment_first_then_the_store_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let stores = SecretStores::with_openers(
            crate::auth::store::StoreChoice::FileOnly,
            false,
            std::sync::Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
            std::sync::Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
            Some(dir.path().to_path_buf()),
        );
        let quiet = Env::from_pairs(Vec::<(String, String)>::new());
        let mut w = Vec::new();
        assert!(lookup(SecretName::Slack, Some("t1"), &quiet, &stores, &mut w).is_none());
        let url = SecretString::from("https://hooks.slack.com/services/T/B/X".to_string());
        let (origin, _) = store(SecretName::Slack, "t1", &url, &stores).unwrap();
        assert!(origin.contains("notify-slack@t1"), "{origin}");
        let found = lookup(SecretName::Slack, Some("t1"), &quiet, &stores, &mut w).unwrap();
        assert_eq!(found.value.expose_secret(), url.expose_secret());
        assert!(lookup(SecretName::Slack, Some("t2"), &quiet, &stores, &mut w).is_none());
        let env = Env::from_pairs([("KEYTURN_SLACK_WEBHOOK_URL", "https://env.example/x")]);
        let found = lookup(SecretName::Slack, Some("t1"), &env, &stores, &mut w).unwrap();
        assert_eq!(found.origin, "KEYTURN_SLACK_WEBHOOK_URL");
        assert!(
            store(
                SecretName::Teams,
                "t1",
                &SecretString::from("http://example.com/x".to_string()),
                &stores
            )
            .is_err()
        );
    }
}
