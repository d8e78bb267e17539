//! Sign-in: turning a profile and the environment into an azure_core `TokenCredential`.
//!
//! Every credential shares keyturn's one `reqwest::Client` as its transport, so `--ca-cert` reaches the token
//! endpoint too, and a custom authority host (`--authority-host`, `AZURE_AUTHORITY_HOST`) goes through azure_core's
//! custom cloud configuration.
//!
//! Sources, in the order `sign_in = "auto"` tries them (see [`chain`]): `AZURE_CLIENT_SECRET`, a certificate
//! (`AZURE_CLIENT_CERTIFICATE_PATH` or the profile's `certificate_path`), the OS secret store, a 0600 file in the
//! config dir, the Azure CLI, a managed identity, a workload identity, and a device code.
pub mod certificate;
pub mod chain;
pub mod claims;
pub mod device_code;
pub mod env;
pub mod login;
pub mod store;

pub use chain::{ChosenSource, CredentialBuilder, SignInConfig, SignInSource, SignedIn};
pub use claims::TokenClaims;
pub use device_code::{
    DeviceCodeCredential, DeviceCodeEvent, DeviceCodeOptions, DeviceCodePrompt, PromptHook,
    stderr_prompt, watch_prompt,
};
pub use env::Env;
pub use store::{SecretKey, SecretOrigin, SecretStores, StoreChoice};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no tenant: pass --tenant, set AZURE_TENANT_ID, or set tenant_id in the profile")]
    NoTenant,
    #[error("no client id: pass --client-id, set AZURE_CLIENT_ID, or set client_id in the profile")]
    NoClientId,
    #[error(
        "no client secret for client {client_id}: run `keyturn login` to store one, or set AZURE_CLIENT_SECRET"
    )]
    NoSecret { client_id: String },
    #[error("no certificate: set AZURE_CLIENT_CERTIFICATE_PATH or certificate_path in the profile")]
    NoCertificate,
    #[error("cannot set up sign-in: {0}")]
    Setup(String),
    #[error("invalid {what} {value:?}: expected a GUID or a domain name")]
    InvalidId { what: &'static str, value: String },
    #[error("{name}={value:?} is not understood: use {expected}")]
    BadSetting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "nowhere to keep the client secret: no OS secret store and no config directory; set AZURE_CLIENT_SECRET instead"
    )]
    NoSecretStore,
    #[error("cannot use the secrets file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing the secrets file {path}: group or others can access it (mode {mode:03o}); run `chmod 600 {path}` if the secret is still safe, else rotate it"
    )]
    SecretFileTooOpen { path: PathBuf, mode: u32 },
    #[error("cannot use the certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("no way to sign in for this profile: {tried}")]
    NoSignIn { tried: String },
    #[error("sign-in failed: {0}")]
    Token(String),
}

/// What a credential needs to know about where to sign in.
#[derive(Clone, Debug)]
pub struct SignInTarget {
    pub tenant_id: String,
    pub client_id: String,
    pub authority_host: String,
}

/// azure_core client options that route through keyturn's HTTP client and authority host.
pub fn client_options(http: &reqwest::Client, authority_host: &str) -> ClientOptions {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = authority_host.trim_end_matches('/').to_string();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
        // azure_core retries for up to a minute by default; a wrong CA or a refused sign-in is not transient, and an
        // operator at a terminal should hear about it in seconds.
        retry: azure_core::http::RetryOptions::exponential(
            azure_core::http::ExponentialRetryOptions {
                max_retries: 3,
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_total_elapsed: azure_core::time::Duration::seconds(15),
                max_delay: azure_core::time::Duration::seconds(2),
            },
        ),
        ..Default::default()
    }
}

/// A client-secret credential (the secret is only held by the credential).
pub fn client_secret_credential(
    target: &SignInTarget,
    secret: &SecretString,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let options = ClientSecretCredentialOptions {
        client_options: client_options(http, &target.authority_host),
    };
    let cred = ClientSecretCredential::new(
        &target.tenant_id,
        target.client_id.clone(),
        secret.expose_secret().to_string().into(),
        Some(options),
    )
    .map_err(|e| AuthError::Setup(e.to_string()))?;
    Ok(cred)
}

/// Ask `credential` for a token for `scope` and read its claims: who signed in, in which tenant, with which
/// permissions. This is a real sign-in (it may show a device-code prompt).
pub async fn token_claims(
    credential: &dyn TokenCredential,
    scope: &str,
) -> Result<TokenClaims, AuthError> {
    let token = credential
        .get_token(&[scope], None)
        .await
        .map_err(|e| AuthError::Token(chain::describe_error(&e)))?;
    TokenClaims::from_jwt(token.token.secret()).map_err(|e| AuthError::Token(e.to_string()))
}
