//! Sign-in: turning a profile and the environment into an azure_core `TokenCredential`.
//!
//! Every credential shares keyturn's one `reqwest::Client` as its transport, so `--ca-cert` reaches the token
//! endpoint too, and a custom authority host (`--authority-host`, `AZURE_AUTHORITY_HOST`) goes through azure_core's
//! custom cloud configuration.
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no tenant: pass --tenant, set AZURE_TENANT_ID, or set tenant_id in the profile")]
    NoTenant,
    #[error("no client id: pass --client-id, set AZURE_CLIENT_ID, or set client_id in the profile")]
    NoClientId,
    #[error(
        "no client secret for client {client_id}: set AZURE_CLIENT_SECRET or run `keyturn login`"
    )]
    NoSecret { client_id: String },
    #[error("cannot set up sign-in: {0}")]
    Setup(String),
}

/// What a credential needs to know about where to sign in.
#[derive(Clone)]
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
