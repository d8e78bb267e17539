//! A signed-in session: everything the faces (TUI, `check`, `rotate`) need to talk to one tenant.
use crate::auth::{
    self, AuthError, CredentialBuilder, Env, PromptHook, SecretStores, SignInConfig, SignedIn,
    TokenClaims,
};
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
    /// `--all-profiles` together with `--profile`, or several profiles where one is needed.
    #[error("{0}")]
    Profiles(String),
}

/// Global options from the command line and environment (docs/ARCHITECTURE.md section 2); `None` means "from the
/// profile".
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
    /// No sign-in for this many days (and older than that): "unused".
    pub unused_days: i64,
    /// `keep_old_days` (built-in 7).
    pub keep_old_days: i64,
    /// `proof_timeout_secs` (built-in 300).
    pub proof_timeout_secs: u64,
    pub vaults: Vec<String>,
    pub mappings: Vec<Mapping>,
    /// The scope of Graph tokens, from the cloud (see [`crate::cloud::graph_scope`]).
    pub graph_scope: String,
    /// Extra vault hosts allowed besides the Key Vault domains and loopback.
    pub allow_vault_hosts: Vec<String>,
}

impl Settings {
    pub fn resolve(o: &Overrides) -> Result<Settings, SessionError> {
        Self::resolve_with_env(o, &Env::from_process())
    }

    /// `resolve` reading `env` instead of the process environment (tests). Only `KEYTURN_READ_ONLY` is read here:
    /// the other global options arrive in `o`, already merged with their variables by the command line.
    pub fn resolve_with_env(o: &Overrides, env: &Env) -> Result<Settings, SessionError> {
        let config = Config::load(o.config.as_deref())?;
        let profile_name = o.profile.clone().unwrap_or_else(|| "default".to_string());
        let profile = config.profile(&profile_name)?;
        let p = profile.clone();
        let authority_host = o
            .authority_host
            .clone()
            .or(p.authority_host)
            .unwrap_or_else(|| "https://login.microsoftonline.com".into());
        let graph_url = o
            .graph_url
            .clone()
            .or(p.graph_url)
            .unwrap_or_else(|| crate::graph::client::DEFAULT_GRAPH_URL.into());
        // The config file already requires https; the flag and the environment variable must too: the bearer
        // token for the whole directory travels to this URL.
        if !graph_url.to_ascii_lowercase().starts_with("https://") {
            return Err(SessionError::Config(ConfigError::Invalid {
                path: config.path.clone(),
                message: format!(
                    "the Graph URL {:?} (--graph-url or KEYTURN_GRAPH_URL) is not https: keyturn sends its \
                     directory token there, so only https is accepted (https://graph.microsoft.com)",
                    crate::safe_text::terminal(&graph_url)
                ),
            }));
        }
        let graph_scope =
            crate::cloud::graph_scope(&authority_host, &graph_url, p.graph_scope.as_deref());
        Ok(Settings {
            profile_name,
            config_path: config.path.clone(),
            tenant_id: o.tenant_id.clone().or(p.tenant_id),
            client_id: o.client_id.clone().or(p.client_id),
            client_secret: o.client_secret.clone(),
            authority_host,
            graph_url,
            graph_scope,
            allow_vault_hosts: p.allow_vault_hosts.unwrap_or_default(),
            ca_cert: o.ca_cert.clone().or(p.ca_cert),
            // A safety latch: any one of flag, environment and profile turns it on, none can turn off another.
            read_only: o.read_only || env.flag("KEYTURN_READ_ONLY") || p.read_only.unwrap_or(false),
            thresholds: Thresholds {
                warn_days: p.warn_days.unwrap_or(30),
                critical_days: p.critical_days.unwrap_or(7),
            },
            include_service_principals: p.service_principals.unwrap_or(true),
            lifetime_days: p.lifetime_days.unwrap_or(180),
            unused_days: p.unused_days.unwrap_or(90),
            keep_old_days: p.keep_old_days.unwrap_or(7),
            proof_timeout_secs: p.proof_timeout_secs.unwrap_or(300),
            vaults: p.vaults.unwrap_or_default(),
            mappings: p.mappings.unwrap_or_default(),
            profile,
        })
    }
}

/// Which profiles a face works on: `--profile` (repeatable; `KEYTURN_PROFILE` gives one) or `--all-profiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileSelection {
    /// In the order given, duplicates dropped; empty means `default`.
    pub names: Vec<String>,
    /// Every profile of the config file, sorted by name.
    pub all: bool,
}

impl ProfileSelection {
    /// Several tenants at once: `--all-profiles` (even when the file has one profile, so a script sees the same
    /// shape whatever the file holds) or two profiles or more.
    pub fn is_several(&self) -> bool {
        self.all || self.names.len() > 1
    }
}

/// The options of [`Overrides`] that name one tenant's sign-in. With several profiles they do not apply (which
/// tenant would they be for?): each profile signs in with its own `tenant_id`, `client_id`, `authority_host`,
/// `graph_url` and its stored secret (`keyturn login --profile NAME`). The face prints these as one note.
pub fn ignored_with_several_profiles(o: &Overrides, env: &Env) -> Vec<&'static str> {
    let mut ignored = Vec::new();
    if o.tenant_id.is_some() {
        ignored.push("--tenant/AZURE_TENANT_ID");
    }
    if o.client_id.is_some() {
        ignored.push("--client-id/AZURE_CLIENT_ID");
    }
    if o.authority_host.is_some() {
        ignored.push("--authority-host/AZURE_AUTHORITY_HOST");
    }
    if o.graph_url.is_some() {
        ignored.push("--graph-url/KEYTURN_GRAPH_URL");
    }
    if o.client_secret.is_some() || env.var(auth::env::AZURE_CLIENT_SECRET).is_some() {
        ignored.push("AZURE_CLIENT_SECRET");
    }
    if env.var(auth::env::AZURE_CLIENT_CERTIFICATE_PATH).is_some() {
        ignored.push("AZURE_CLIENT_CERTIFICATE_PATH");
    }
    ignored
}

/// The settings of each selected profile, in the selection's order (`--all-profiles`: sorted by name).
///
/// One profile behaves exactly as [`Settings::resolve`]. Several: the per-tenant overrides are left out (see
/// [`ignored_with_several_profiles`]); `--config` and `--read-only` apply to all; `--ca-cert` is an extra trusted
/// root for the profiles that name none of their own. An unknown profile name is an error naming it.
pub fn resolve_profiles(
    o: &Overrides,
    selection: &ProfileSelection,
) -> Result<Vec<Settings>, SessionError> {
    resolve_profiles_with_env(o, selection, &Env::from_process())
}

/// [`resolve_profiles`] reading `env` instead of the process environment (tests).
pub fn resolve_profiles_with_env(
    o: &Overrides,
    selection: &ProfileSelection,
    env: &Env,
) -> Result<Vec<Settings>, SessionError> {
    if !selection.is_several() {
        let one = Overrides {
            profile: selection
                .names
                .first()
                .cloned()
                .or_else(|| o.profile.clone()),
            ..o.clone()
        };
        return Ok(vec![Settings::resolve_with_env(&one, env)?]);
    }
    let names = if selection.all {
        if !selection.names.is_empty() {
            return Err(SessionError::Profiles(
                "--all-profiles and --profile name the profiles twice: give one of them".into(),
            ));
        }
        let config = Config::load(o.config.as_deref())?;
        let names = config.profile_names();
        if names.is_empty() {
            return Err(SessionError::Profiles(format!(
                "--all-profiles: {} has no [profiles.NAME] section (it is {}); add one per tenant",
                config.path.display(),
                if config.file_exists {
                    "there"
                } else {
                    "missing"
                }
            )));
        }
        names
    } else {
        selection.names.clone()
    };
    names
        .into_iter()
        .map(|name| {
            let per_profile = Overrides {
                profile: Some(name),
                config: o.config.clone(),
                read_only: o.read_only,
                ..Overrides::default()
            };
            let mut s = Settings::resolve_with_env(&per_profile, env)?;
            if s.ca_cert.is_none() {
                s.ca_cert = o.ca_cert.clone();
            }
            Ok(s)
        })
        .collect()
}

/// How many tenants [`for_each_tenant`] talks to at once: enough to overlap their round trips, few enough that a
/// list of 40 customer tenants does not open 40 connections and 40 inventories at once.
pub const TENANTS_AT_ONCE: usize = 4;

/// One tenant's outcome, named by its profile.
#[derive(Debug)]
pub struct TenantOutcome<T, E> {
    pub profile: String,
    pub result: Result<T, E>,
}

/// The sign-in options for one of several profiles: the process (or given) environment without the variables
/// that name one tenant's credential (`AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH` and its password),
/// so each profile uses its own stored secret or certificate.
pub fn sign_in_for_several(options: &SignInOptions) -> SignInOptions {
    let env = options
        .env
        .clone()
        .unwrap_or_else(Env::from_process)
        .without(auth::env::AZURE_CLIENT_SECRET)
        .without(auth::env::AZURE_CLIENT_CERTIFICATE_PATH)
        .without(auth::env::AZURE_CLIENT_CERTIFICATE_PASSWORD);
    SignInOptions {
        env: Some(env),
        ..options.clone()
    }
}

/// Connect to each profile's tenant (nothing is sent yet) and run `work` on the sessions, at most
/// [`TENANTS_AT_ONCE`] at a time; the outcomes come back in the order of `settings`, one per profile, a failed
/// connect or a failed `work` as that profile's `Err` (the others still run). With more than one profile, sign-in
/// ignores the environment's per-tenant credential (see [`sign_in_for_several`]).
pub async fn for_each_tenant<T, E, F, Fut>(
    settings: Vec<Settings>,
    options: SignInOptions,
    work: F,
) -> Vec<TenantOutcome<T, E>>
where
    F: Fn(Session) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<SessionError>,
{
    use futures::StreamExt;
    let options = if settings.len() > 1 {
        sign_in_for_several(&options)
    } else {
        options
    };
    let work = &work;
    let options = &options;
    futures::stream::iter(settings)
        .map(|s| async move {
            let profile = s.profile_name.clone();
            let result = match Session::connect_with(s, options.clone()) {
                Ok(session) => work(session).await,
                Err(e) => Err(E::from(e)),
            };
            TenantOutcome { profile, result }
        })
        .buffered(TENANTS_AT_ONCE)
        .collect()
        .await
}

/// A tenant to talk to.
#[derive(Clone)]
pub struct Session {
    pub graph: GraphClient,
    pub http: reqwest::Client,
    pub credential: Arc<dyn TokenCredential>,
    /// The tenant from the settings; empty when signing in through the Azure CLI or a managed identity without
    /// one (then the token says which: see [`Session::whoami`]).
    pub tenant_id: String,
    /// Empty in the same cases as `tenant_id`.
    pub client_id: String,
    /// Who is signed in, for the header.
    pub identity: String,
    pub thresholds: Thresholds,
    pub clock: SharedClock,
    pub read_only: bool,
    pub log_file: Option<PathBuf>,
    pub include_service_principals: bool,
    pub settings: Settings,
    /// How sign-in was set up: its plan, the source that worked, and warnings to show once.
    pub sign_in: SignedIn,
    /// The inventory cache file the TUI starts from (warm start + delta); `None` turns the cache off (the demo).
    pub inventory_cache: Option<PathBuf>,
    /// The rotation journal (the data dir's, or the demo's own).
    pub journal_path: Option<PathBuf>,
}

impl Session {
    /// The Key Vault client of this session: it calls only Key Vault domains, loopback and the profile's
    /// `allow_vault_hosts`.
    pub fn vault_secrets(
        &self,
        options: crate::keyvault::client::VaultOptions,
    ) -> crate::keyvault::KeyVaultSecrets {
        crate::keyvault::KeyVaultSecrets::new(self.credential.clone(), self.http.clone(), options)
            .with_allowed_hosts(self.settings.allow_vault_hosts.clone())
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tenant_id", &self.tenant_id)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// How the face that connects wants sign-in to behave. The defaults suit the CLI faces: device codes on stderr,
/// offered only when stderr is a terminal.
#[derive(Clone, Default)]
pub struct SignInOptions {
    /// Who shows a device code; the TUI passes the hook from [`auth::watch_prompt`] and opens a popup.
    pub prompt: Option<PromptHook>,
    /// Whether someone is there to enter a device code; `None`: stderr is a terminal.
    pub interactive: Option<bool>,
    /// Environment to read instead of the process's (tests).
    pub env: Option<Env>,
    /// Secret stores to use instead of the OS store and config dir (tests).
    pub stores: Option<Arc<SecretStores>>,
}

impl Session {
    /// Build the HTTP client and credential. Nothing is sent yet: the first Graph call signs in.
    pub fn connect(settings: Settings) -> Result<Session, SessionError> {
        Self::connect_with(settings, SignInOptions::default())
    }

    /// `connect` with control over the device-code prompt and the secret stores.
    pub fn connect_with(
        settings: Settings,
        options: SignInOptions,
    ) -> Result<Session, SessionError> {
        let http = net::http_client(&HttpOptions {
            ca_cert: settings.ca_cert.clone(),
            timeout: None,
        })?;
        let config = SignInConfig {
            method: settings.profile.sign_in.unwrap_or_default(),
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.client_id.clone(),
            authority_host: settings.authority_host.clone(),
            client_secret: settings.client_secret.clone(),
            certificate_path: settings.profile.certificate_path.clone(),
        };
        let mut builder = CredentialBuilder::new(config, http.clone());
        if let Some(p) = options.prompt {
            builder = builder.prompt(p);
        }
        if let Some(i) = options.interactive {
            builder = builder.interactive(i);
        }
        if let Some(e) = options.env {
            builder = builder.env(e);
        }
        if let Some(s) = options.stores {
            builder = builder.stores(s);
        }
        let sign_in = builder.build()?;
        let credential = sign_in.credential.clone();
        let graph = GraphClient::new(&settings.graph_url, http.clone(), credential.clone())?
            .with_scope(settings.graph_scope.clone());
        let tenant_id = settings.tenant_id.clone().unwrap_or_default();
        let client_id = settings.client_id.clone().unwrap_or_default();
        let identity = if client_id.is_empty() {
            sign_in.describe()
        } else {
            format!("app {client_id}")
        };
        Ok(Session {
            graph,
            http,
            credential,
            identity,
            tenant_id,
            client_id,
            thresholds: settings.thresholds,
            clock: clock::from_env(),
            read_only: settings.read_only,
            log_file: None,
            include_service_principals: settings.include_service_principals,
            settings,
            sign_in,
            inventory_cache: crate::store::cache::InventoryCache::default_path(),
            journal_path: crate::store::Journal::default_path().ok(),
        })
    }

    /// The person at the keyboard, recorded as operator, approver and reviewer: the profile's `operator`, else the
    /// OS user and host ("alice@ops-host"). Never the app keyturn signs in as: that is [`Session::identity`].
    pub fn person(&self) -> String {
        self.settings
            .profile
            .operator
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(os_user_at_host)
    }

    /// Open this session's rotation journal.
    pub fn open_journal(&self) -> Result<crate::store::Journal, crate::store::JournalError> {
        match &self.journal_path {
            Some(p) => crate::store::Journal::open(p),
            None => crate::store::Journal::open_default(),
        }
    }

    /// Sign in (if not yet) and read the Graph token's claims: who this is, in which tenant, with which
    /// permissions. Fills `tenant_id` when the settings had none.
    pub async fn whoami(&mut self) -> Result<TokenClaims, AuthError> {
        let claims =
            auth::token_claims(self.credential.as_ref(), &self.settings.graph_scope).await?;
        if self.tenant_id.is_empty()
            && let Some(tid) = &claims.tid
        {
            self.tenant_id = tid.clone();
        }
        self.identity = claims.describe();
        Ok(claims)
    }
}

/// "alice@host": the OS user and the host name.
pub fn os_user_at_host() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(dir: &std::path::Path, text: &str, read_only_flag: bool) -> Overrides {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        Overrides {
            config: Some(path),
            profile: Some("p".into()),
            read_only: read_only_flag,
            ..Overrides::default()
        }
    }

    #[test]
    fn read_only_from_flag_env_or_profile() {
        let dir = tempfile::tempdir().unwrap();
        let off = "[profiles.p]\n";
        let on = "[profiles.p]\nread_only = true\n";
        let quiet = Env::from_pairs(Vec::<(String, String)>::new());
        let env_on = Env::from_pairs([("KEYTURN_READ_ONLY", "1")]);
        let env_off = Env::from_pairs([("KEYTURN_READ_ONLY", "0")]);
        let ro = |text: &str, flag: bool, env: &Env| {
            Settings::resolve_with_env(&overrides(dir.path(), text, flag), env)
                .unwrap()
                .read_only
        };
        assert!(!ro(off, false, &quiet));
        assert!(ro(off, true, &quiet), "--read-only");
        assert!(ro(off, false, &env_on), "KEYTURN_READ_ONLY=1");
        assert!(!ro(off, false, &env_off), "KEYTURN_READ_ONLY=0");
        assert!(ro(on, false, &quiet), "read_only = true");
        // Nothing turns the latch off once one source turned it on.
        assert!(ro(on, false, &env_off));
    }

    #[test]
    fn defaults_read_only_applies_to_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[defaults]\nread_only = true\n[profiles.p]\ntenant_id = \"t\"\n";
        let s = Settings::resolve_with_env(
            &overrides(dir.path(), text, false),
            &Env::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap();
        assert!(s.read_only);
    }

    #[test]
    fn graph_scope_comes_from_the_cloud_and_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let quiet = Env::from_pairs(Vec::<(String, String)>::new());
        let mut o = overrides(dir.path(), "[profiles.p]\n", false);
        o.graph_url = Some("https://127.0.0.1:8443".into());
        o.authority_host = Some("https://127.0.0.1:8443".into());
        let s = Settings::resolve_with_env(&o, &quiet).unwrap();
        assert_eq!(s.graph_scope, "https://graph.microsoft.com/.default");
        let mut o = overrides(
            dir.path(),
            "[profiles.p]\ngraph_scope = \"https://graph.microsoft.us\"\n",
            false,
        );
        o.graph_url = Some("https://127.0.0.1:8443".into());
        let s = Settings::resolve_with_env(&o, &quiet).unwrap();
        assert_eq!(s.graph_scope, "https://graph.microsoft.us/.default");
    }

    fn several(dir: &std::path::Path, text: &str) -> Overrides {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        Overrides {
            config: Some(path),
            ..Overrides::default()
        }
    }

    fn quiet() -> Env {
        Env::from_pairs(Vec::<(String, String)>::new())
    }

    const TWO: &str = "[profiles.zeta]\ntenant_id = \"00000000-0000-0000-0000-0000000000f1\"\nclient_id = \"00000000-0000-0000-0000-0000000000c1\"\n\
        [profiles.alpha]\ntenant_id = \"00000000-0000-0000-0000-0000000000f2\"\nclient_id = \"00000000-0000-0000-0000-0000000000c2\"\nca_cert = \"/a.pem\"\n\
        graph_url = \"https://graph.a.example\"\n";

    #[test]
    fn several_profiles_keep_their_own_tenant_and_ignore_the_per_tenant_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = several(dir.path(), TWO);
        o.tenant_id = Some("flag-tenant".into());
        o.client_id = Some("flag-client".into());
        o.graph_url = Some("https://flag.example".into());
        o.authority_host = Some("https://login.flag.example".into());
        o.client_secret = Some(SecretString::from("s"));
        o.ca_cert = Some("/flag.pem".into());
        o.read_only = true;
        let sel = ProfileSelection {
            names: vec!["zeta".into(), "alpha".into()],
            all: false,
        };
        let got = resolve_profiles_with_env(&o, &sel, &quiet()).unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|s| {
                (
                    s.profile_name.as_str(),
                    s.tenant_id.as_deref(),
                    s.client_id.as_deref(),
                    s.graph_url.as_str(),
                    s.authority_host.as_str(),
                    s.ca_cert.as_ref().and_then(|p| p.to_str()),
                    s.client_secret.is_some(),
                    s.read_only,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "zeta",
                    Some("00000000-0000-0000-0000-0000000000f1"),
                    Some("00000000-0000-0000-0000-0000000000c1"),
                    "https://graph.microsoft.com",
                    "https://login.microsoftonline.com",
                    Some("/flag.pem"),
                    false,
                    true
                ),
                (
                    "alpha",
                    Some("00000000-0000-0000-0000-0000000000f2"),
                    Some("00000000-0000-0000-0000-0000000000c2"),
                    "https://graph.a.example",
                    "https://login.microsoftonline.com",
                    Some("/a.pem"),
                    false,
                    true
                ),
            ],
            "given order; the profile's own values; --ca-cert only where the profile names none"
        );
        let env = Env::from_pairs([("AZURE_CLIENT_SECRET", "x")]);
        assert_eq!(
            ignored_with_several_profiles(&o, &env),
            vec![
                "--tenant/AZURE_TENANT_ID",
                "--client-id/AZURE_CLIENT_ID",
                "--authority-host/AZURE_AUTHORITY_HOST",
                "--graph-url/KEYTURN_GRAPH_URL",
                "AZURE_CLIENT_SECRET",
            ]
        );
        assert!(ignored_with_several_profiles(&Overrides::default(), &quiet()).is_empty());
    }

    #[test]
    fn all_profiles_are_sorted_and_one_profile_resolves_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = several(dir.path(), TWO);
        let all = ProfileSelection {
            names: vec![],
            all: true,
        };
        let names: Vec<_> = resolve_profiles_with_env(&o, &all, &quiet())
            .unwrap()
            .into_iter()
            .map(|s| s.profile_name)
            .collect();
        assert_eq!(names, ["alpha", "zeta"]);
        // One profile: the overrides win, exactly as Settings::resolve.
        o.tenant_id = Some("flag-tenant".into());
        let one = ProfileSelection {
            names: vec!["zeta".into()],
            all: false,
        };
        assert!(!one.is_several());
        let got = resolve_profiles_with_env(&o, &one, &quiet()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].tenant_id.as_deref(), Some("flag-tenant"));
        // --all-profiles is several even over a file with one profile.
        assert!(all.is_several());
        let both = ProfileSelection {
            names: vec!["zeta".into()],
            all: true,
        };
        let e = resolve_profiles_with_env(&o, &both, &quiet()).unwrap_err();
        assert!(
            e.to_string().contains("--all-profiles and --profile"),
            "{e}"
        );
        let unknown = ProfileSelection {
            names: vec!["zeta".into(), "nope".into()],
            all: false,
        };
        let e = resolve_profiles_with_env(&o, &unknown, &quiet()).unwrap_err();
        assert!(e.to_string().contains("\"nope\""), "{e}");
        let empty = several(dir.path(), "[defaults]\nwarn_days = 3\n");
        let e = resolve_profiles_with_env(&empty, &all, &quiet()).unwrap_err();
        assert!(e.to_string().contains("no [profiles.NAME]"), "{e}");
    }

    #[tokio::test]
    async fn for_each_tenant_keeps_the_order_bounds_the_concurrency_and_reports_each_failure() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..7 {
            // p3 signs in with a secret nobody stored: its connect fails, the others still run.
            let method = if i == 3 { "secret" } else { "azure-cli" };
            text.push_str(&format!(
                "[profiles.p{i}]\ntenant_id = \"00000000-0000-0000-0000-00000000000{i}\"\n\
                 client_id = \"00000000-0000-0000-0000-0000000000c{i}\"\nsign_in = \"{method}\"\n"
            ));
        }
        let o = several(dir.path(), &text);
        let all = ProfileSelection {
            names: vec![],
            all: true,
        };
        let settings = resolve_profiles_with_env(&o, &all, &quiet()).unwrap();
        let options = SignInOptions {
            env: Some(Env::from_pairs([("AZURE_CLIENT_SECRET", "from-env")])),
            stores: Some(Arc::new(auth::SecretStores::none())),
            interactive: Some(false),
            prompt: None,
        };
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let outcomes = for_each_tenant(settings, options, |session: Session| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, SessionError>(session.tenant_id.chars().last())
            }
        })
        .await;
        let got: Vec<_> = outcomes
            .iter()
            .map(|o| {
                (
                    o.profile.as_str(),
                    o.result.as_ref().ok().copied().flatten(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("p0", Some('0')),
                ("p1", Some('1')),
                ("p2", Some('2')),
                ("p3", None),
                ("p4", Some('4')),
                ("p5", Some('5')),
                ("p6", Some('6')),
            ],
            "one outcome per profile in order; p3 fails although AZURE_CLIENT_SECRET is set: several profiles never \
             use the environment's secret"
        );
        let most = most.load(Ordering::SeqCst);
        assert!((2..=TENANTS_AT_ONCE).contains(&most), "{most} at once");
    }

    #[test]
    fn a_plain_http_graph_url_from_the_flag_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = overrides(dir.path(), "[profiles.p]\n", false);
        o.graph_url = Some("http://graph.example".into());
        let e = Settings::resolve_with_env(&o, &Env::from_pairs(Vec::<(String, String)>::new()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not https"), "{e}");
    }
}
