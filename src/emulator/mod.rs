//! The emulator: Entra token endpoint, Microsoft Graph v1.0 and Key Vault secrets, served over HTTPS on 127.0.0.1 with
//! a CA generated at start. It backs `keyturn demo`, `keyturn emulator`, keyturn's own tests and conformance tests run
//! with Microsoft's SDKs, so it speaks Microsoft's wire formats (`tests/fixtures/microsoft/`) exactly (error bodies,
//! paging links, audit records, the Key Vault challenge) rather than a convenient approximation.
//!
//! Layout: `token` (token endpoint) with `signin` (client credentials, the sign-in log), `device_code` and
//! `token_errors`; `graph` (directory routes) with `odata` (query options, filters, paging tokens) and `audit`
//! (records of credential changes); `vault` (Key Vault); `model` (the directory data); `seed` (demo and generated
//! tenants); `faults` (injected failures and knobs) with `conn` (dropping a connection: lost answers); `tls`;
//! `state` (the test-only state dump).
mod audit;
mod automations;
mod conn;
mod device_code;
mod faults;
mod graph;
mod http;
mod model;
mod odata;
mod office365;
mod patch;
mod permissions;
mod reports;
mod seed;
mod signin;
mod state;
mod tls;
mod token;
mod token_errors;
mod vault;

pub use faults::{
    DEFAULT_PROPAGATION_DELAY, DEFAULT_REPLICATION_LAG, DeviceCodeOutcome, Fault, FaultHandle,
    FaultKind, FaultParseError, Op, parse_duration,
};
pub use seed::SeedError;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Reply, lock};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Request bodies larger than this are refused (Graph and Key Vault payloads are a few KB).
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Which tenant the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TenantSource {
    /// The built-in demo tenant (`assets/demo_tenant.json`), dates relative to start-up.
    #[default]
    Demo,
    /// `apps` applications generated from `seed` (same seed, same tenant).
    Generated { apps: usize, seed: u64 },
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// 0 = any free port. The token endpoint and Graph share this port.
    pub port: u16,
    pub tenant: TenantSource,
    /// Number of vaults; each gets its own port and base URL `https://127.0.0.1:Q`.
    pub vaults: usize,
    /// Added to every request.
    pub latency: Duration,
    /// Every K-th authenticated Graph/Vault request gets 429 + Retry-After.
    pub throttle_every: Option<u32>,
    /// Serve `GET {graphUrl}/_emulator/state`.
    pub state_route: bool,
    /// How long a secret added through addPassword is refused by the token endpoint (see
    /// [`FaultHandle::set_propagation_delay`], which changes it at runtime).
    pub propagation_delay: Duration,
    /// How long a secret added through addPassword is missing from GETs and lists of its object (see
    /// [`FaultHandle::set_read_lag`]). Zero: off.
    pub read_lag: Duration,
    /// The tenant has Entra ID P1/P2: the beta sign-in activity reports answer (otherwise 403, as on Entra Free).
    pub entra_id_p1: bool,
    /// A tenant app management policy with a `passwordLifetime` restriction of this many days.
    pub password_lifetime_days: Option<i64>,
    /// Where to write `ca.pem`; `None` = a fresh temporary directory removed with the emulator.
    pub ca_dir: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            tenant: TenantSource::Demo,
            vaults: 1,
            latency: Duration::ZERO,
            throttle_every: None,
            state_route: false,
            propagation_delay: DEFAULT_PROPAGATION_DELAY,
            read_lag: Duration::ZERO,
            entra_id_p1: true,
            password_lifetime_days: None,
            ca_dir: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot generate the emulator's TLS certificates: {0}")]
    Tls(String),
    #[error(
        "cannot listen on 127.0.0.1:{port} for the {what}: {source} (is another emulator running on that port? use --port 0 for any free port)"
    )]
    Bind {
        what: &'static str,
        port: u16,
        source: std::io::Error,
    },
    #[error("cannot write the emulator CA certificate to {path}: {source}")]
    CaWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("emulator I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What the ready line prints (docs/ARCHITECTURE.md section 2): everything a client needs to sign in and call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReadyInfo {
    pub authority_host: String,
    pub graph_url: String,
    pub vault_urls: Vec<String>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub ca_cert: PathBuf,
}

/// A change to an application made behind the API's back (for delta tests and demos).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppChange {
    Rename(String),
    /// Delete the application and its service principal (delta reports both as `@removed`).
    Delete,
    /// Delete only the service principal: the app stays, but nothing can sign in as it (AADSTS7000229).
    DeleteServicePrincipal,
}

/// State shared by every listener task.
pub(crate) struct Shared {
    pub info: ReadyInfo,
    pub domain: String,
    pub tenant: Mutex<model::Tenant>,
    pub identity: Mutex<token::Identity>,
    pub vaults: Vec<Mutex<vault::Vault>>,
    pub faults: FaultHandle,
    pub latency: Duration,
    pub state_route: bool,
    /// Ties paging and delta tokens to this run.
    pub nonce: String,
    /// The user device-code sign-ins sign in as.
    pub operator: Uuid,
}

/// A directory removed when the emulator goes away (`tempfile` is only a dev-dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "keyturn-emulator-{}-{}",
            std::process::id(),
            &http::hex32()[..12]
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running emulator. Dropping it stops the listeners; [`Emulator::shutdown`] also waits for them.
pub struct Emulator {
    shared: Arc<Shared>,
    ca_pem: String,
    handles: Vec<axum_server::Handle>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    /// Background work that ends with the emulator (the demo's simulated automations).
    background: Mutex<Vec<JoinHandle<()>>>,
    _temp: Option<TempDir>,
}

/// TLS over a TCP stream that an "answer lost" fault can cut (see `conn`).
fn acceptor(
    tls: &axum_server::tls_rustls::RustlsConfig,
) -> axum_server::tls_rustls::RustlsAcceptor<conn::KillSwitchAcceptor> {
    axum_server::tls_rustls::RustlsAcceptor::new(tls.clone()).acceptor(conn::KillSwitchAcceptor)
}

/// Turn a reply into the response, or, for a reply that is to be lost, cut the connection it came on.
fn respond(reply: Reply, kill: Option<&conn::ConnKill>) -> Response {
    if reply.drop_connection
        && let Some(kill) = kill
    {
        kill.kill();
    }
    reply.into_response()
}

fn bind(port: u16, what: &'static str) -> Result<(TcpListener, u16), EmulatorError> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|source| EmulatorError::Bind { what, port, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| EmulatorError::Bind { what, port, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { what, port, source })?
        .port();
    Ok((listener, port))
}

impl Emulator {
    pub async fn start(cfg: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let seeded = match cfg.tenant {
            TenantSource::Demo => seed::demo()?,
            TenantSource::Generated { apps, seed } => seed::generated(apps, seed),
        };
        let material = tls::generate()?;

        let (main_listener, main_port) = bind(cfg.port, "token endpoint and Graph")?;
        let mut vault_listeners = Vec::new();
        for _ in 0..cfg.vaults {
            vault_listeners.push(bind(0, "Key Vault")?);
        }

        let (ca_dir, temp) = match &cfg.ca_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|source| EmulatorError::CaWrite {
                    path: d.clone(),
                    source,
                })?;
                (d.clone(), None)
            }
            None => {
                let t = TempDir::new()?;
                (t.0.clone(), Some(t))
            }
        };
        let ca_path = ca_dir.join("ca.pem");
        std::fs::write(&ca_path, &material.ca_pem).map_err(|source| EmulatorError::CaWrite {
            path: ca_path.clone(),
            source,
        })?;

        let base = format!("https://127.0.0.1:{main_port}");
        let vault_urls: Vec<String> = vault_listeners
            .iter()
            .map(|(_, p)| format!("https://127.0.0.1:{p}"))
            .collect();
        let client_secret = model::new_secret_text();
        let info = ReadyInfo {
            authority_host: base.clone(),
            graph_url: base,
            vault_urls: vault_urls.clone(),
            tenant_id: seeded.tenant.tenant_id.to_string(),
            client_id: seeded.client.app_id.to_string(),
            client_secret: client_secret.clone(),
            ca_cert: ca_path,
        };

        let mut identity = token::Identity::default();
        identity.add_client(token::ClientIdentity {
            client_id: seeded.client.app_id.to_string(),
            secret: client_secret,
            display_name: seeded.client.display_name.clone(),
            service_principal_id: seeded.client.service_principal_id,
            graph_roles: token::DEFAULT_ROLES
                .iter()
                .chain(&["ActivityFeed.Read"])
                .map(|r| r.to_string())
                .collect(),
            vault_role: Some(token::VaultRole::Officer),
        });
        let mut tenant = seeded.tenant;
        tenant.install_graph_resource();
        tenant.permissions.password_lifetime =
            cfg.password_lifetime_days.map(permissions::lifetime_policy);
        tenant.register_client(
            seeded.client.service_principal_id,
            seeded.client.app_id,
            &seeded.client.display_name,
        );

        let mut vaults: Vec<vault::Vault> =
            vault_urls.iter().cloned().map(vault::Vault::new).collect();
        if let Some(first) = vaults.first_mut() {
            for s in seeded.secrets {
                for v in s.versions {
                    first.set(
                        &s.name,
                        vault::SecretVersion {
                            version: http::hex32(),
                            value: v.value,
                            enabled: true,
                            nbf: v.nbf.map(|d| d.timestamp()),
                            exp: v.exp.map(|d| d.timestamp()),
                            created: v.created.timestamp(),
                            updated: v.created.timestamp(),
                            tags: v.tags.into_iter().collect(),
                            content_type: v.content_type,
                        },
                    );
                }
            }
        }

        let shared = Arc::new(Shared {
            domain: tenant.domain.clone(),
            info,
            tenant: Mutex::new(tenant),
            identity: Mutex::new(identity),
            vaults: vaults.into_iter().map(Mutex::new).collect(),
            faults: {
                let faults = FaultHandle::new(cfg.throttle_every);
                faults.set_propagation_delay(cfg.propagation_delay);
                faults.set_read_lag(cfg.read_lag);
                faults.set_entra_id_p1(cfg.entra_id_p1);
                faults
            },
            latency: cfg.latency,
            state_route: cfg.state_route,
            nonce: http::hex32()[..16].to_string(),
            operator: seeded.operator,
        });

        let tls_config = axum_server::tls_rustls::RustlsConfig::from_config(material.server_config);
        let mut handles = Vec::new();
        let mut tasks = Vec::new();
        let main_router = Router::new()
            .fallback(main_handler)
            .with_state(shared.clone());
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp(main_listener)
            .acceptor(acceptor(&tls_config))
            .handle(handle.clone());
        tasks.push(tokio::spawn(server.serve(main_router.into_make_service())));
        handles.push(handle);
        for (idx, (listener, _)) in vault_listeners.into_iter().enumerate() {
            let router = Router::new()
                .fallback(vault_handler)
                .with_state((shared.clone(), idx));
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp(listener)
                .acceptor(acceptor(&tls_config))
                .handle(handle.clone());
            tasks.push(tokio::spawn(server.serve(router.into_make_service())));
            handles.push(handle);
        }
        tracing::info!(graph = %shared.info.graph_url, vaults = ?shared.info.vault_urls, "emulator listening");
        Ok(Emulator {
            ca_pem: material.ca_pem,
            shared,
            handles,
            tasks,
            background: Mutex::new(Vec::new()),
            _temp: temp,
        })
    }

    pub fn info(&self) -> &ReadyInfo {
        &self.shared.info
    }

    /// Exactly one line of JSON with the docs/ARCHITECTURE.md section 2 fields, no trailing newline.
    pub fn ready_line(&self) -> String {
        serde_json::to_string(&self.shared.info).unwrap_or_default()
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn faults(&self) -> FaultHandle {
        self.shared.faults.clone()
    }

    /// The same JSON as `GET {graphUrl}/_emulator/state` (secret values included).
    pub fn state(&self) -> serde_json::Value {
        state::snapshot(&self.shared)
    }

    /// Another app identity that can sign in with client credentials. Its Graph tokens carry only the Graph roles
    /// among `roles` (names with a dot, e.g. `Application.ReadWrite.OwnedBy`); a Key Vault role name in `roles`
    /// ("Key Vault Secrets Officer", "Key Vault Secrets User", "Key Vault Reader") grants that vault access,
    /// otherwise vault calls get 403. Returns `(client_id, client_secret)`.
    pub fn add_client(&self, display_name: &str, roles: &[&str]) -> (String, String) {
        let client_id = Uuid::new_v4();
        let sp_id = Uuid::new_v4();
        let secret = model::new_secret_text();
        let vault_role = roles.iter().find_map(|r| token::VaultRole::parse(r));
        let graph_roles = roles
            .iter()
            .filter(|r| token::VaultRole::parse(r).is_none())
            .map(|r| r.to_string())
            .collect();
        lock(&self.shared.identity).add_client(token::ClientIdentity {
            client_id: client_id.to_string(),
            secret: secret.clone(),
            display_name: display_name.to_string(),
            service_principal_id: sp_id,
            graph_roles,
            vault_role,
        });
        lock(&self.shared.tenant).register_client(sp_id, client_id, display_name);
        (client_id.to_string(), secret)
    }

    /// The service principal object id of a client (the default one or one from [`Emulator::add_client`]).
    pub fn client_service_principal_id(&self, client_id: &str) -> Option<String> {
        lock(&self.shared.identity)
            .client(client_id)
            .map(|c| c.service_principal_id.to_string())
    }

    /// Make a principal an owner of an application. `owner` is a client id (its service principal becomes the
    /// owner, which is what Application.ReadWrite.OwnedBy checks), or a user or service principal object id.
    /// `app` is an object id or appId. False when either is unknown.
    pub fn add_owner(&self, app: &str, owner: &str) -> bool {
        let owner_id = match self.client_service_principal_id(owner) {
            Some(sp) => Uuid::parse_str(&sp).ok(),
            None => Uuid::parse_str(owner.trim()).ok(),
        };
        let mut tenant = lock(&self.shared.tenant);
        let (Some(idx), Some(owner_id)) = (tenant.find_app_any(app), owner_id) else {
            return false;
        };
        if tenant.principal(&owner_id).is_none() {
            return false;
        }
        tenant.add_owner(idx, owner_id);
        true
    }

    /// Rename or delete an application (object id or appId) as if done in the portal. False when unknown.
    pub fn mutate_app(&self, app: &str, change: AppChange) -> bool {
        let mut tenant = lock(&self.shared.tenant);
        let Some(idx) = tenant.find_app_any(app) else {
            return false;
        };
        match change {
            AppChange::Rename(name) => tenant.rename_app(idx, &name),
            AppChange::Delete => tenant.delete_app(idx),
            AppChange::DeleteServicePrincipal => tenant.delete_service_principal(idx),
        }
        true
    }

    /// Grant a Microsoft Graph application permission (e.g. `Mail.Read`) to an application's service principal
    /// (`app`: object id or appId). Its tokens issued from now on carry the role. False when either is unknown.
    pub fn grant_app_role(&self, app: &str, role: &str) -> bool {
        let mut tenant = lock(&self.shared.tenant);
        let Some(idx) = tenant.find_app_any(app) else {
            return false;
        };
        let app_id = tenant.apps[idx].app_id;
        let Some(sp) = tenant.find(model::Kind::ServicePrincipal, &app_id, true) else {
            return false;
        };
        let sp_id = tenant.sps[sp].id;
        tenant.grant_graph_role(sp_id, role)
    }

    /// Remove from the audit history every event whose modified properties mention `needle` (e.g. a keyId), with the
    /// events that share their correlation id, as if they had never been logged. Returns how many were removed.
    pub fn forget_audit_events_about(&self, needle: &str) -> usize {
        let mut tenant = lock(&self.shared.tenant);
        let needle = needle.to_ascii_lowercase();
        let mentions = |e: &audit::AuditEvent| {
            e.target.modified_properties.iter().any(|m| {
                [&m.old_value, &m.new_value].iter().any(|v| {
                    v.as_deref()
                        .is_some_and(|v| v.to_ascii_lowercase().contains(&needle))
                })
            })
        };
        let correlations: Vec<Uuid> = tenant
            .audits
            .iter()
            .filter(|e| mentions(e))
            .map(|e| e.correlation_id)
            .collect();
        let before = tenant.audits.len();
        tenant
            .audits
            .retain(|e| !correlations.contains(&e.correlation_id));
        before - tenant.audits.len()
    }

    /// Turn the tenant's `passwordLifetime` restriction on (max days) or off (`None`).
    pub fn set_password_lifetime_policy(&self, max_days: Option<i64>) {
        lock(&self.shared.tenant).permissions.password_lifetime =
            max_days.map(permissions::lifetime_policy);
    }

    /// Add a user to the directory (a possible owner). Returns its object id.
    pub fn add_user(&self, display_name: &str, user_principal_name: &str) -> String {
        let id = Uuid::new_v4();
        lock(&self.shared.tenant).push_user(model::User {
            id,
            display_name: display_name.to_string(),
            user_principal_name: user_principal_name.to_string(),
            mail: None,
        });
        id.to_string()
    }

    /// Register a new application (and service principal) without credentials. Returns `(object_id, app_id)`.
    pub fn create_app(&self, display_name: &str) -> (String, String) {
        let (id, app_id) = lock(&self.shared.tenant).create_app(display_name);
        (id.to_string(), app_id.to_string())
    }

    /// Start the demo's simulated automations (see `automations`): every `every`, each app whose secret is mapped
    /// in the first vault signs in with the vault's latest value, and one consumer keeps signing in with a
    /// hard-coded copy of the first mapped app's secret. They stop with the emulator.
    pub fn start_automations(&self, every: Duration) {
        let task = tokio::spawn(automations::run(Arc::downgrade(&self.shared), every));
        lock(&self.background).push(task);
    }

    /// Stop serving and wait for the listeners to finish (in-flight requests get half a second).
    pub async fn shutdown(mut self) {
        for t in lock(&self.background).drain(..) {
            t.abort();
        }
        for h in &self.handles {
            h.graceful_shutdown(Some(Duration::from_millis(500)));
        }
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for t in lock(&self.background).drain(..) {
            t.abort();
        }
        for h in &self.handles {
            h.shutdown();
        }
    }
}

/// `keyturn emulator`: start, arm the `--fault` faults before the first request can arrive, print the ready line
/// on stdout (flushed, so a parent process can read it), serve until SIGINT or SIGTERM.
pub async fn run_cli(cfg: EmulatorConfig, faults: Vec<Fault>) -> Result<(), EmulatorError> {
    let emulator = Emulator::start(cfg).await?;
    for fault in faults {
        emulator.faults().add(fault);
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", emulator.ready_line())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    emulator.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

async fn read_body(req: Request) -> Result<(axum::http::request::Parts, Vec<u8>), Reply> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => Ok((parts, b.to_vec())),
        Err(_) => Err(Reply::text(
            413,
            http::PLAIN_JSON,
            "{\"error\":{\"code\":\"RequestEntityTooLarge\",\"message\":\"The request body is too large.\"}}",
        )),
    }
}

async fn main_handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let (parts, body) = match read_body(req).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let kill = parts.extensions.get::<conn::ConnKill>().cloned();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    if path.trim_end_matches('/') == "/_emulator/state" {
        // Local-only test hook: absent unless the emulator was started with it (never in `keyturn demo`).
        if shared.state_route && parts.method == axum::http::Method::GET {
            return Reply::json(200, http::PLAIN_JSON, &state::snapshot(&shared)).into_response();
        }
        let request_id = Uuid::new_v4().to_string();
        let ctx = graph::Ctx {
            request_id: request_id.clone(),
            client_request_id: request_id,
            base: shared.info.graph_url.clone(),
        };
        return ctx
            .error(
                404,
                "Request_ResourceNotFound",
                "Resource '_emulator/state' does not exist.",
            )
            .into_response();
    }
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(http::pct_decode)
        .collect();
    let query = http::parse_query(&raw_query);
    if let Some(reply) =
        token::handle(&shared, &parts.method, &segs, &query, &parts.headers, &body).await
    {
        return respond(reply, kill.as_ref());
    }
    if let Some(reply) = office365::handle(&shared, &parts.method, &segs, &query, &parts.headers) {
        return respond(reply, kill.as_ref());
    }
    let reply = graph::handle(
        &shared,
        &parts.method,
        &path,
        &raw_query,
        &parts.headers,
        &body,
    )
    .await;
    respond(reply, kill.as_ref())
}

async fn vault_handler(
    State((shared, idx)): State<(Arc<Shared>, usize)>,
    req: Request,
) -> Response {
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let (parts, body) = match read_body(req).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let kill = parts.extensions.get::<conn::ConnKill>().cloned();
    let raw_query = parts.uri.query().unwrap_or("");
    let reply = vault::handle(
        &shared,
        idx,
        &parts.method,
        parts.uri.path(),
        raw_query,
        &parts.headers,
        &body,
    )
    .await;
    respond(reply, kill.as_ref())
}
