//! `keyturn login` and `keyturn logout`: keep a profile's client secret in the OS secret store (or the 0600 file
//! where there is none), so that nobody has to export it in a shell whose history and environment others can read.
//!
//! Login checks the secret with the token endpoint before storing it: the commonest mistake (pasting the secret's
//! ID instead of its value) is caught at once instead of at 3 a.m.
use super::env::{AZURE_CLIENT_SECRET, Env};
use super::store::{SecretKey, SecretOrigin, SecretStores};
use super::{AuthError, SignInTarget, client_secret_credential};
use crate::session::{Overrides, SessionError, Settings};
use secrecy::{ExposeSecret, SecretString};
use std::io::IsTerminal;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Settings(#[from] SessionError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(
        "login needs to know whose secret this is: set tenant_id and client_id in the profile, or pass --tenant and --client-id"
    )]
    NoTarget,
    #[error("--from-env was given but AZURE_CLIENT_SECRET is empty or not set")]
    NoEnvSecret,
    #[error(
        "standard input is not a terminal, so the secret cannot be typed without echo; for scripts use `AZURE_CLIENT_SECRET=... keyturn login --from-env`"
    )]
    NotATerminal,
    #[error("no secret entered; nothing was stored")]
    Empty,
    #[error("cancelled; nothing was stored")]
    Cancelled,
    #[error("cannot read the secret from the terminal: {0}")]
    Terminal(String),
    #[error(
        "the tenant rejected this secret for client {client_id}, so it was not stored: {detail}. Copy the secret's Value (not its Secret ID) from Entra ID > App registrations > Certificates & secrets, or pass --no-verify to store it anyway"
    )]
    Rejected { client_id: String, detail: String },
}

/// What `login` did, for the command to print.
#[derive(Debug)]
pub struct LoginOutcome {
    pub key: SecretKey,
    pub stored_in: SecretOrigin,
    pub verified: bool,
    pub warnings: Vec<String>,
}

/// What `logout` did.
#[derive(Debug)]
pub struct LogoutOutcome {
    pub key: SecretKey,
    pub removed_from: Vec<SecretOrigin>,
    pub warnings: Vec<String>,
}

/// How login gets its secret.
pub enum SecretInput {
    /// `AZURE_CLIENT_SECRET` (`--from-env`).
    Environment,
    /// Typed at the terminal without echo.
    Prompt,
    /// Given by the caller (tests).
    Given(SecretString),
}

fn key_for(settings: &Settings) -> Result<SecretKey, LoginError> {
    let (Some(tenant), Some(client)) = (&settings.tenant_id, &settings.client_id) else {
        return Err(LoginError::NoTarget);
    };
    Ok(SecretKey::new(tenant, client)?)
}

fn default_stores(env: &Env) -> Result<Arc<SecretStores>, LoginError> {
    let dir = crate::config::secrets_dir().ok();
    Ok(Arc::new(SecretStores::from_env(env, dir)?))
}

/// Store the secret for the profile the overrides select. `stores: None` = the machine's stores.
pub async fn login(
    overrides: &Overrides,
    input: SecretInput,
    verify: bool,
    env: &Env,
    stores: Option<Arc<SecretStores>>,
) -> Result<LoginOutcome, LoginError> {
    let settings = Settings::resolve_with_env(overrides, env)?;
    let key = key_for(&settings)?;
    let secret = match input {
        SecretInput::Given(s) => s,
        SecretInput::Environment => env
            .var(AZURE_CLIENT_SECRET)
            .map(SecretString::from)
            .ok_or(LoginError::NoEnvSecret)?,
        SecretInput::Prompt => prompt_secret(&format!(
            "Client secret for app {} in tenant {} (typing is hidden): ",
            key.client_id, key.tenant_id
        ))?,
    };
    if secret.expose_secret().trim().is_empty() {
        return Err(LoginError::Empty);
    }
    if verify {
        let http = crate::net::http_client(&crate::net::HttpOptions {
            ca_cert: settings.ca_cert.clone(),
            timeout: Some(std::time::Duration::from_secs(30)),
        })
        .map_err(|e| AuthError::Setup(e.to_string()))?;
        let target = SignInTarget {
            tenant_id: key.tenant_id.clone(),
            client_id: key.client_id.clone(),
            authority_host: settings.authority_host.clone(),
        };
        let cred = client_secret_credential(&target, &secret, &http)?;
        if let Err(e) = cred.get_token(&[settings.graph_scope.as_str()], None).await {
            return Err(LoginError::Rejected {
                client_id: key.client_id.clone(),
                detail: super::chain::describe_error(&e),
            });
        }
    }
    let stores = match stores {
        Some(s) => s,
        None => default_stores(env)?,
    };
    let saved = stores.save(&key, &secret)?;
    Ok(LoginOutcome {
        key,
        stored_in: saved.origin,
        verified: verify,
        warnings: saved.warnings,
    })
}

/// Remove the stored secret of the selected profile from the OS store and the file.
pub fn logout(
    overrides: &Overrides,
    env: &Env,
    stores: Option<Arc<SecretStores>>,
) -> Result<LogoutOutcome, LoginError> {
    let settings = Settings::resolve_with_env(overrides, env)?;
    let key = key_for(&settings)?;
    let stores = match stores {
        Some(s) => s,
        None => default_stores(env)?,
    };
    let removed = stores.remove(&key)?;
    Ok(LogoutOutcome {
        key,
        removed_from: removed.removed_from,
        warnings: removed.warnings,
    })
}

/// Read one line from the terminal without echo. Raw mode is undone on every path, including errors. (Also
/// `keyturn notify --set-secret`.)
pub(crate) fn prompt_secret(prompt: &str) -> Result<SecretString, LoginError> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use std::io::Write;

    if !std::io::stdin().is_terminal() {
        return Err(LoginError::NotATerminal);
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();

    struct RawGuard;
    impl Drop for RawGuard {
        fn drop(&mut self) {
            let _ = crossterm::terminal::disable_raw_mode();
            eprintln!();
        }
    }
    crossterm::terminal::enable_raw_mode().map_err(|e| LoginError::Terminal(e.to_string()))?;
    let _guard = RawGuard;
    let mut buf = zeroize::Zeroizing::new(String::new());
    loop {
        let ev = event::read().map_err(|e| LoginError::Terminal(e.to_string()))?;
        let Event::Key(k) = ev else {
            // A paste arrives as Event::Paste only when bracketed paste is on; it is off here, so pasted text comes
            // key by key like typing.
            continue;
        };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        match k.code {
            KeyCode::Enter => break,
            KeyCode::Esc => return Err(LoginError::Cancelled),
            KeyCode::Char('c') | KeyCode::Char('d')
                if k.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                return Err(LoginError::Cancelled);
            }
            KeyCode::Backspace => {
                buf.pop();
            }
            KeyCode::Char(c) => buf.push(c),
            _ => {}
        }
    }
    Ok(SecretString::from(buf.as_str().to_string()))
}
