//! A signed-in session: everything the faces (TUI, `check`, `rotate`) need to talk to one tenant.
use crate::auth::{self, AuthError, SignInTarget};
use crate::clock::{self, SharedClock};
use crate::config::{Config, ConfigError, Mapping, Profile};
use crate::graph::{GraphClient, GraphError};
use crate::inventory::Thresholds;
use crate::net::{self, HttpOptions, NetError};
use azure_core::credentials::TokenCredential;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Global options from the command line and environment (DESIGN section 3); `None` means "from the profile".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub authority_host: Option<String>,
    pub graph_url: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
    pub read_only: bool,
}

/// Resolved settings: overrides win over the profile, the profile over the built-in defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile_name: String,
    pub profile: Profile,
    pub config_path: PathBuf,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub authority_host: String,
    pub graph_url: String,
    pub ca_cert: Option<PathBuf>,
    pub read_only: bool,
    pub thresholds: Thresholds,
    pub include_service_principals: bool,
    pub lifetime_days: i64,
    pub vaults: Vec<String>,
    pub mappings: Vec<Mapping>,
}

impl Settings {
    pub fn resolve(o: &Overrides) -> Result<Settings, SessionError> {
        let config = Config::load(o.config.as_deref())?;
        let profile_name = o.profile.clone().unwrap_or_else(|| "default".to_string());
        let profile = config.profile(&profile_name)?;
        let p = profile.clone();
        Ok(Settings {
            profile_name,
            config_path: config.path.clone(),
            tenant_id: o.tenant_id.clone().or(p.tenant_id),
            client_id: o.client_id.clone().or(p.client_id),
            client_secret: o.client_secret.clone(),
            authority_host: o
                .authority_host
                .clone()
                .or(p.authority_host)
                .unwrap_or_else(|| "https://login.microsoftonline.com".into()),
            graph_url: o
                .graph_url
                .clone()
                .or(p.graph_url)
                .unwrap_or_else(|| crate::graph::client::DEFAULT_GRAPH_URL.into()),
            ca_cert: o.ca_cert.clone().or(p.ca_cert),
            read_only: o.read_only || p.read_only.unwrap_or(false),
            thresholds: Thresholds {
                warn_days: p.warn_days.unwrap_or(30),
                critical_days: p.critical_days.unwrap_or(7),
            },
            include_service_principals: p.service_principals.unwrap_or(true),
            lifetime_days: p.lifetime_days.unwrap_or(180),
            vaults: p.vaults.unwrap_or_default(),
            mappings: p.mappings.unwrap_or_default(),
            profile,
        })
    }
}

/// A tenant to talk to.
#[derive(Clone)]
pub struct Session {
    pub graph: GraphClient,
    pub http: reqwest::Client,
    pub credential: Arc<dyn TokenCredential>,
    pub tenant_id: String,
    pub client_id: String,
    /// Who is signed in, for the header.
    pub identity: String,
    pub thresholds: Thresholds,
    pub clock: SharedClock,
    pub read_only: bool,
    pub log_file: Option<PathBuf>,
    pub include_service_principals: bool,
    pub settings: Settings,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tenant_id", &self.tenant_id)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Build the HTTP client and credential. Nothing is sent yet: the first Graph call signs in.
    pub fn connect(settings: Settings) -> Result<Session, SessionError> {
        let http = net::http_client(&HttpOptions {
            ca_cert: settings.ca_cert.clone(),
            timeout: None,
        })?;
        let tenant_id = settings.tenant_id.clone().ok_or(AuthError::NoTenant)?;
        let client_id = settings.client_id.clone().ok_or(AuthError::NoClientId)?;
        let target = SignInTarget {
            tenant_id: tenant_id.clone(),
            client_id: client_id.clone(),
            authority_host: settings.authority_host.clone(),
        };
        let secret = settings
            .client_secret
            .clone()
            .ok_or_else(|| AuthError::NoSecret {
                client_id: client_id.clone(),
            })?;
        let credential = auth::client_secret_credential(&target, &secret, &http)?;
        let graph = GraphClient::new(&settings.graph_url, http.clone(), credential.clone())?;
        Ok(Session {
            graph,
            http,
            credential,
            identity: format!("app {client_id}"),
            tenant_id,
            client_id,
            thresholds: settings.thresholds,
            clock: clock::from_env(),
            read_only: settings.read_only,
            log_file: None,
            include_service_principals: settings.include_service_principals,
            settings,
        })
    }
}
