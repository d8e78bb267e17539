//! Choosing how to sign in. A profile names a method, or `auto` tries, in order:
//!
//! 1. a client secret in `AZURE_CLIENT_SECRET`, or a certificate in `AZURE_CLIENT_CERTIFICATE_PATH` (or the
//!    profile's `certificate_path`);
//! 2. the client secret `keyturn login` stored in the OS secret store;
//! 3. the same in the 0600 fallback file in the config dir (with a warning);
//! 4. the Azure CLI, when `az` is on PATH;
//! 5. a managed identity, when the environment advertises an endpoint or the machine is an Azure VM;
//! 6. a workload identity, when `AZURE_FEDERATED_TOKEN_FILE` is set;
//! 7. a device code, when someone is there to type it (a terminal or the TUI).
//!
//! Steps 1 to 3 are decided before anything is sent: a secret or certificate that is there is the one meant, so if
//! the tenant rejects it that is an error to fix, not a reason to sign in as someone else. Steps 4 to 7 are tried
//! at the first token request, in order, and the first that works is kept for the rest of the run, so Graph and
//! Key Vault always see the same identity.
use super::device_code::{DeviceCodeCredential, DeviceCodeOptions, PromptHook, stderr_prompt};
use super::env::{
    AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, Env,
};
use super::store::{SecretKey, SecretOrigin, SecretStores};
use super::{AuthError, SignInTarget, certificate, client_options, client_secret_credential};
use crate::config::SignIn;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, Executor, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use secrecy::SecretString;
use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the profile and the global options say about signing in.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub method: SignIn,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority_host: String,
    /// A secret handed over by the command line layer (from `AZURE_CLIENT_SECRET`).
    pub client_secret: Option<SecretString>,
    /// The profile's `certificate_path`.
    pub certificate_path: Option<PathBuf>,
}

/// One way of signing in, as the operator should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInSource {
    ClientSecret(SecretOrigin),
    Certificate {
        path: PathBuf,
    },
    AzureCli,
    ManagedIdentity {
        user_assigned_client_id: Option<String>,
    },
    WorkloadIdentity {
        token_file: PathBuf,
    },
    DeviceCode,
}

impl std::fmt::Display for SignInSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInSource::ClientSecret(origin) => write!(f, "client secret from {origin}"),
            SignInSource::Certificate { path } => write!(f, "certificate {}", path.display()),
            SignInSource::AzureCli => write!(f, "Azure CLI (az login)"),
            SignInSource::ManagedIdentity {
                user_assigned_client_id: Some(id),
            } => write!(f, "managed identity {id}"),
            SignInSource::ManagedIdentity { .. } => write!(f, "managed identity"),
            SignInSource::WorkloadIdentity { token_file } => {
                write!(f, "workload identity ({})", token_file.display())
            }
            SignInSource::DeviceCode => write!(f, "device code"),
        }
    }
}

/// Which source produced the first token; `None` until then.
#[derive(Debug, Clone, Default)]
pub struct ChosenSource(Arc<Mutex<Option<SignInSource>>>);

impl ChosenSource {
    pub fn get(&self) -> Option<SignInSource> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, s: SignInSource) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(s);
        }
    }
}

/// A credential and how it was chosen.
#[derive(Clone)]
pub struct SignedIn {
    pub credential: Arc<dyn TokenCredential>,
    /// The sources that will be tried, in order (one, unless the method is `auto` and no secret was found).
    pub plan: Vec<SignInSource>,
    /// The one that worked, once a token was obtained.
    pub chosen: ChosenSource,
    /// Things the operator should know (no D-Bus, a secret read from a file, ...). Shown once, on stderr or in the
    /// status line; also in the log.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("plan", &self.plan)
            .field("chosen", &self.chosen.get())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// "client secret from the OS secret store (Secret Service)", or the plan while nothing was chosen yet.
    pub fn describe(&self) -> String {
        match self.chosen.get() {
            Some(s) => s.to_string(),
            None => self
                .plan
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", then "),
        }
    }
}

/// Builds the credential for a profile. Everything it reads from the machine can be replaced, for tests.
pub struct CredentialBuilder {
    config: SignInConfig,
    http: reqwest::Client,
    env: Option<Env>,
    stores: Option<Arc<SecretStores>>,
    prompt: PromptHook,
    interactive: Option<bool>,
    device_code_interval: Duration,
    az_timeout: Duration,
}

/// How long `az account get-access-token` may take before keyturn stops it: a cron `check` must never hang on a
/// sign-in (an `az` waiting for a prompt, a network that never answers).
pub const AZ_TIMEOUT: Duration = Duration::from_secs(30);

impl CredentialBuilder {
    pub fn new(config: SignInConfig, http: reqwest::Client) -> CredentialBuilder {
        CredentialBuilder {
            config,
            http,
            env: None,
            stores: None,
            prompt: stderr_prompt(),
            interactive: None,
            device_code_interval: Duration::from_secs(5),
            az_timeout: AZ_TIMEOUT,
        }
    }

    /// How long `az` may take (default [`AZ_TIMEOUT`]; tests use less).
    pub fn az_timeout(mut self, timeout: Duration) -> Self {
        self.az_timeout = timeout;
        self
    }

    /// The environment to read (default: the process environment). It also gives `az` its `PATH`.
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Where stored secrets are (default: the OS store picked by `KEYTURN_SECRET_STORE`, then
    /// `<config dir>/secrets`).
    pub fn stores(mut self, stores: Arc<SecretStores>) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Who shows a device code (default: stderr). The TUI passes [`super::watch_prompt`]'s hook.
    pub fn prompt(mut self, prompt: PromptHook) -> Self {
        self.prompt = prompt;
        self
    }

    /// Whether someone can type a device code (default: stderr is a terminal). `check` from cron is not.
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = Some(interactive);
        self
    }

    /// Poll interval when the service does not say (tests).
    pub fn device_code_interval(mut self, interval: Duration) -> Self {
        self.device_code_interval = interval;
        self
    }

    fn target(&self) -> Result<SignInTarget, AuthError> {
        Ok(SignInTarget {
            tenant_id: self.config.tenant_id.clone().ok_or(AuthError::NoTenant)?,
            client_id: self.config.client_id.clone().ok_or(AuthError::NoClientId)?,
            authority_host: self.config.authority_host.clone(),
        })
    }

    pub fn build(self) -> Result<SignedIn, AuthError> {
        let env = self.env.clone().unwrap_or_else(Env::from_process);
        let interactive = self
            .interactive
            .unwrap_or_else(|| std::io::stderr().is_terminal());
        let mut warnings = Vec::new();
        let stores = match &self.stores {
            Some(s) => Some(s.clone()),
            None => match crate::config::secrets_dir() {
                Ok(dir) => Some(Arc::new(SecretStores::from_env(&env, Some(dir))?)),
                Err(e) => {
                    warnings.push(format!("no config directory for stored secrets: {e}"));
                    None
                }
            },
        };
        let env_secret = self
            .config
            .client_secret
            .clone()
            .or_else(|| env.var(AZURE_CLIENT_SECRET).map(SecretString::from));
        let cert_path = env
            .var(AZURE_CLIENT_CERTIFICATE_PATH)
            .map(PathBuf::from)
            .or_else(|| self.config.certificate_path.clone());

        let single =
            |source: SignInSource, credential: Arc<dyn TokenCredential>, warnings: Vec<String>| {
                let chosen = ChosenSource::default();
                chosen.set(source.clone());
                Ok(SignedIn {
                    credential,
                    plan: vec![source],
                    chosen,
                    warnings,
                })
            };

        match self.config.method {
            SignIn::Secret => {
                let target = self.target()?;
                let (secret, origin) = match env_secret {
                    Some(s) => (s, SecretOrigin::Environment),
                    None => {
                        let found = stored_secret(stores.as_deref(), &target, &mut warnings)?;
                        found.ok_or_else(|| AuthError::NoSecret {
                            client_id: target.client_id.clone(),
                        })?
                    }
                };
                let cred = client_secret_credential(&target, &secret, &self.http)?;
                single(SignInSource::ClientSecret(origin), cred, warnings)
            }
            SignIn::Certificate => {
                let target = self.target()?;
                let path = cert_path.ok_or(AuthError::NoCertificate)?;
                let cred = certificate::certificate_credential(&target, &path, &self.http)?;
                single(SignInSource::Certificate { path }, cred, warnings)
            }
            SignIn::AzureCli => {
                let (source, cred) = self.azure_cli(&env)?;
                single(source, cred, warnings)
            }
            SignIn::ManagedIdentity => {
                let (source, cred) = self.managed_identity(self.config.client_id.clone())?;
                single(source, cred, warnings)
            }
            SignIn::WorkloadIdentity => {
                let (source, cred) = self.workload_identity(&env)?.ok_or_else(|| {
                    AuthError::Setup(format!(
                        "workload identity needs {AZURE_FEDERATED_TOKEN_FILE} (set by the AKS workload identity webhook)"
                    ))
                })?;
                single(source, cred, warnings)
            }
            SignIn::DeviceCode => {
                let (source, cred) = self.device_code()?;
                single(source, cred, warnings)
            }
            SignIn::Auto => {
                // 1. Environment: secret, then certificate.
                if let Some(secret) = env_secret {
                    let target = self.target()?;
                    let cred = client_secret_credential(&target, &secret, &self.http)?;
                    return single(
                        SignInSource::ClientSecret(SecretOrigin::Environment),
                        cred,
                        warnings,
                    );
                }
                if let Some(path) = cert_path {
                    let target = self.target()?;
                    let cred = certificate::certificate_credential(&target, &path, &self.http)?;
                    return single(SignInSource::Certificate { path }, cred, warnings);
                }
                // 2, 3. A stored secret, when we know whose.
                if let Ok(target) = self.target()
                    && let Some((secret, origin)) =
                        stored_secret(stores.as_deref(), &target, &mut warnings)?
                {
                    let cred = client_secret_credential(&target, &secret, &self.http)?;
                    return single(SignInSource::ClientSecret(origin), cred, warnings);
                }
                // 4 to 7: tried in order at the first token request.
                let mut candidates: Vec<Candidate> = Vec::new();
                let mut skipped: Vec<String> = Vec::new();
                if env.find_on_path("az").is_some() {
                    candidates.push(self.azure_cli(&env)?);
                } else {
                    skipped.push("Azure CLI: `az` is not on PATH".into());
                }
                if env.managed_identity_endpoint() || super::env::is_azure_vm() {
                    // In auto mode the profile's client id names the app registration, not a user-assigned identity.
                    candidates.push(self.managed_identity(None)?);
                } else {
                    skipped.push("managed identity: not an Azure host".into());
                }
                match self.workload_identity(&env) {
                    Ok(Some(c)) => candidates.push(c),
                    Ok(None) => skipped.push(format!(
                        "workload identity: {AZURE_FEDERATED_TOKEN_FILE} is not set"
                    )),
                    Err(e) => skipped.push(format!("workload identity: {e}")),
                }
                if !interactive {
                    skipped.push("device code: nobody at a terminal to enter it".into());
                } else if self.config.client_id.is_none() {
                    skipped.push(
                        "device code: no client id (an app registration with public client flows enabled)".into(),
                    );
                } else {
                    candidates.push(self.device_code()?);
                }
                if candidates.is_empty() {
                    let mut tried = Vec::new();
                    if self.target().is_err() {
                        tried.push(
                            "client secret: no tenant and client id to look one up for (set tenant_id and client_id \
                             in the profile)"
                                .to_string(),
                        );
                    } else {
                        tried.push(
                            "client secret: none in AZURE_CLIENT_SECRET, the OS secret store or the secrets file \
                             (run `keyturn login`)"
                                .to_string(),
                        );
                    }
                    tried.extend(skipped);
                    return Err(AuthError::NoSignIn {
                        tried: tried.join("; "),
                    });
                }
                let plan: Vec<SignInSource> = candidates.iter().map(|(s, _)| s.clone()).collect();
                let chosen = ChosenSource::default();
                let credential: Arc<dyn TokenCredential> = Arc::new(ChainCredential {
                    candidates,
                    chosen: chosen.clone(),
                    pinned: tokio::sync::Mutex::new(None),
                });
                Ok(SignedIn {
                    credential,
                    plan,
                    chosen,
                    warnings,
                })
            }
        }
    }

    fn azure_cli(&self, env: &Env) -> Result<Candidate, AuthError> {
        let cred = AzureCliCredential::new(Some(AzureCliCredentialOptions {
            tenant_id: self.config.tenant_id.clone(),
            executor: Some(Arc::new(PathExecutor {
                path: env.var_os("PATH").cloned(),
                timeout: self.az_timeout,
            })),
            ..Default::default()
        }))
        .map_err(|e| AuthError::Setup(e.to_string()))?;
        Ok((SignInSource::AzureCli, cred))
    }

    fn managed_identity(&self, user_assigned: Option<String>) -> Result<Candidate, AuthError> {
        let cred = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: user_assigned.clone().map(UserAssignedId::ClientId),
            client_options: client_options(&self.http, &self.config.authority_host),
        }))
        .map_err(|e| AuthError::Setup(e.to_string()))?;
        Ok((
            SignInSource::ManagedIdentity {
                user_assigned_client_id: user_assigned,
            },
            cred,
        ))
    }

    /// `None` when the environment has no federated token file.
    fn workload_identity(&self, env: &Env) -> Result<Option<Candidate>, AuthError> {
        let Some(token_file) = env.var(AZURE_FEDERATED_TOKEN_FILE).map(PathBuf::from) else {
            return Ok(None);
        };
        let tenant_id = self.config.tenant_id.clone().ok_or(AuthError::NoTenant)?;
        let client_id = self.config.client_id.clone().ok_or(AuthError::NoClientId)?;
        let mut options = WorkloadIdentityCredentialOptions {
            client_id: Some(client_id),
            tenant_id: Some(tenant_id),
            token_file_path: Some(token_file.clone()),
            ..Default::default()
        };
        options.credential_options.client_options =
            client_options(&self.http, &self.config.authority_host);
        let cred = WorkloadIdentityCredential::new(Some(options))
            .map_err(|e| AuthError::Setup(e.to_string()))?;
        Ok(Some((SignInSource::WorkloadIdentity { token_file }, cred)))
    }

    fn device_code(&self) -> Result<Candidate, AuthError> {
        let client_id = self.config.client_id.clone().ok_or(AuthError::NoClientId)?;
        // Without a tenant the user's home tenant is used ("organizations": work or school accounts).
        let tenant = self
            .config
            .tenant_id
            .clone()
            .unwrap_or_else(|| "organizations".to_string());
        let cred = DeviceCodeCredential::new(
            self.http.clone(),
            &self.config.authority_host,
            &tenant,
            &client_id,
            DeviceCodeOptions {
                prompt: self.prompt.clone(),
                default_interval: self.device_code_interval,
            },
        )?;
        Ok((SignInSource::DeviceCode, cred))
    }
}

/// The stored secret for a target, or `None`; store trouble becomes warnings (a store error means "try the next
/// source").
fn stored_secret(
    stores: Option<&SecretStores>,
    target: &SignInTarget,
    warnings: &mut Vec<String>,
) -> Result<Option<(SecretString, SecretOrigin)>, AuthError> {
    let Some(stores) = stores else {
        return Ok(None);
    };
    let key = SecretKey::new(&target.tenant_id, &target.client_id)?;
    let lookup = stores.lookup(&key);
    warnings.extend(lookup.warnings);
    Ok(lookup.found)
}

/// Runs `az` with the `PATH` of the builder's environment (the process's own, unless a test supplied one), in a
/// process group of its own, and kills that whole group (`az` is a shell script that starts Python) when it has
/// not answered within the timeout.
#[derive(Debug)]
struct PathExecutor {
    path: Option<std::ffi::OsString>,
    timeout: Duration,
}

#[async_trait::async_trait]
impl Executor for PathExecutor {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> std::io::Result<std::process::Output> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        let child = cmd.spawn()?;
        let pid = child.id();
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(output) => output,
            Err(_) => {
                #[cfg(unix)]
                if let Some(pid) = pid
                    .and_then(|p| i32::try_from(p).ok())
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                #[cfg(not(unix))]
                let _ = pid;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{} did not answer within {} s and was stopped",
                        Path::new(program).display(),
                        self.timeout.as_secs_f64()
                    ),
                ))
            }
        }
    }
}

/// One way to sign in, ready to ask for tokens.
type Candidate = (SignInSource, Arc<dyn TokenCredential>);

/// Tries each candidate until one gives a token, then sticks to it.
struct ChainCredential {
    candidates: Vec<Candidate>,
    chosen: ChosenSource,
    // Held while choosing, so that two first requests (Graph and Key Vault) do not run two device-code prompts.
    pinned: tokio::sync::Mutex<Option<usize>>,
}

impl std::fmt::Debug for ChainCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainCredential")
            .field(
                "candidates",
                &self.candidates.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut pinned = self.pinned.lock().await;
        if let Some(i) = *pinned {
            drop(pinned);
            return self.candidates[i].1.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, (source, cred)) in self.candidates.iter().enumerate() {
            match cred.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::info!("signed in with {source}");
                    *pinned = Some(i);
                    self.chosen.set(source.clone());
                    return Ok(token);
                }
                Err(e) => {
                    let why = describe_error(&e);
                    tracing::info!("sign-in with {source} did not work: {why}");
                    failures.push(format!("{source}: {why}"));
                }
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no sign-in method worked ({}); run `keyturn doctor` for what to fix",
                failures.join("; ")
            ),
        ))
    }
}

/// An azure_core error as one readable line: the SDK's message without its troubleshooting-link tail, and the
/// AADSTS description when the token endpoint sent one.
pub fn describe_error(e: &azure_core::Error) -> String {
    let text = e.to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("To troubleshoot"));
    let first = lines.next().unwrap_or("unknown error").to_string();
    let mut out = first;
    for l in lines.take(2) {
        if l.starts_with("Trace ID")
            || l.starts_with("Correlation ID")
            || l.starts_with("Timestamp")
        {
            continue;
        }
        out.push(' ');
        out.push_str(l);
    }
    out
}
