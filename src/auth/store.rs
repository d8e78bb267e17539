//! Where `keyturn login` keeps a profile's client secret, and where sign-in looks for it: the OS secret store
//! (keyring-core: Secret Service when a D-Bus session bus is there, the kernel keyutils store otherwise), then a
//! file readable only by its owner in the config dir.
//!
//! A store that fails is never fatal: it is reported as a warning and the next source is tried. The Secret Service
//! can block on an unlock prompt nobody sees (SSH, no desktop), so every store call runs on its own thread with a
//! deadline; it also keeps zbus' own runtime away from the caller's tokio runtime.
use super::AuthError;
use super::env::{Env, KEYTURN_SECRET_STORE};
use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The keyring service name under which every keyturn secret is filed.
pub const KEYRING_SERVICE: &str = "keyturn";

/// The entry read to see whether a store works; never written.
const PROBE_USER: &str = "keyturn-probe";

/// How long one OS store call may take before keyturn gives up on it and tries the next source.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

/// Which client's secret: secrets belong to an app registration in a tenant, not to a profile name, so two
/// profiles for the same app share one stored secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub tenant_id: String,
    pub client_id: String,
}

impl SecretKey {
    /// Both ids end up in a file name and a keyring entry name: only the characters tenant ids (GUIDs or domain
    /// names) and client ids (GUIDs) are made of.
    pub fn new(tenant_id: &str, client_id: &str) -> Result<SecretKey, AuthError> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !s.starts_with('.')
        };
        if !ok(tenant_id) {
            return Err(AuthError::InvalidId {
                what: "tenant id",
                value: tenant_id.to_string(),
            });
        }
        if !ok(client_id) {
            return Err(AuthError::InvalidId {
                what: "client id",
                value: client_id.to_string(),
            });
        }
        Ok(SecretKey {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
        })
    }

    /// The keyring entry's user name.
    pub fn keyring_user(&self) -> String {
        format!("{}@{}", self.client_id, self.tenant_id)
    }

    fn file_name(&self) -> String {
        format!("{}@{}.secret", self.client_id, self.tenant_id)
    }
}

/// Where a client secret came from (shown by `doctor` and in the log; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    /// `AZURE_CLIENT_SECRET`.
    Environment,
    /// An OS secret store, by name ("Secret Service", "kernel keyutils").
    OsStore(String),
    /// The 0600 fallback file.
    File(PathBuf),
}

impl std::fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretOrigin::Environment => write!(f, "AZURE_CLIENT_SECRET"),
            SecretOrigin::OsStore(name) => write!(f, "the OS secret store ({name})"),
            SecretOrigin::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

/// Which OS store to use (`KEYTURN_SECRET_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// Secret Service when a session bus is there, else kernel keyutils.
    Auto,
    SecretService,
    Keyutils,
    /// No OS store: the file only (containers, or hosts whose policy forbids the keyring).
    FileOnly,
}

impl StoreChoice {
    pub fn from_env(env: &Env) -> Result<StoreChoice, AuthError> {
        match env.var(KEYTURN_SECRET_STORE).as_deref() {
            None | Some("auto") => Ok(StoreChoice::Auto),
            Some("secret-service") => Ok(StoreChoice::SecretService),
            Some("keyutils") => Ok(StoreChoice::Keyutils),
            Some("file") => Ok(StoreChoice::FileOnly),
            Some(other) => Err(AuthError::BadSetting {
                name: KEYTURN_SECRET_STORE,
                value: other.to_string(),
                expected: "auto, secret-service, keyutils or file",
            }),
        }
    }
}

/// Opens one OS store. Injected so tests can stand in the mock store, or a store that fails like a missing D-Bus.
pub type StoreOpener = Arc<dyn Fn() -> keyring_core::Result<Arc<CredentialStore>> + Send + Sync>;

/// The result of a lookup: the secret if one was found, and what the operator should be told on the way.
#[derive(Debug, Default)]
pub struct Lookup {
    pub found: Option<(SecretString, SecretOrigin)>,
    pub warnings: Vec<String>,
}

/// Where `save` put the secret.
#[derive(Debug)]
pub struct Saved {
    pub origin: SecretOrigin,
    pub warnings: Vec<String>,
}

/// What `remove` found and removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub removed_from: Vec<SecretOrigin>,
    pub warnings: Vec<String>,
}

struct Opened {
    store: Option<(Arc<CredentialStore>, String)>,
    /// Why the store (or the preferred one) is not there; told once per process run, not at every lookup.
    warnings: Mutex<Vec<String>>,
}

/// The OS store (opened lazily, once) and the fallback file directory.
pub struct SecretStores {
    choice: StoreChoice,
    has_session_bus: bool,
    secret_service: StoreOpener,
    keyutils: StoreOpener,
    file_dir: Option<PathBuf>,
    opened: OnceLock<Opened>,
}

impl std::fmt::Debug for SecretStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStores")
            .field("choice", &self.choice)
            .field("has_session_bus", &self.has_session_bus)
            .field("file_dir", &self.file_dir)
            .finish_non_exhaustive()
    }
}

impl SecretStores {
    /// The stores of this machine: `KEYTURN_SECRET_STORE` picks the OS store; the fallback file lives in
    /// `file_dir` (`<config dir>/secrets`).
    pub fn from_env(env: &Env, file_dir: Option<PathBuf>) -> Result<SecretStores, AuthError> {
        Ok(SecretStores {
            choice: StoreChoice::from_env(env)?,
            has_session_bus: env.has_session_bus(),
            secret_service: Arc::new(open_secret_service),
            keyutils: Arc::new(open_keyutils),
            file_dir,
            opened: OnceLock::new(),
        })
    }

    /// One given store (tests: `keyring_core::mock::Store`), then the file.
    pub fn with_store(
        store: Arc<CredentialStore>,
        name: &str,
        file_dir: Option<PathBuf>,
    ) -> SecretStores {
        let opener: StoreOpener = Arc::new(move || Ok(store.clone()));
        SecretStores {
            choice: StoreChoice::SecretService,
            has_session_bus: true,
            secret_service: opener.clone(),
            keyutils: opener,
            file_dir,
            opened: OnceLock::new(),
        }
        .named(name)
    }

    /// Full control over the selection (tests: a machine without D-Bus).
    pub fn with_openers(
        choice: StoreChoice,
        has_session_bus: bool,
        secret_service: StoreOpener,
        keyutils: StoreOpener,
        file_dir: Option<PathBuf>,
    ) -> SecretStores {
        SecretStores {
            choice,
            has_session_bus,
            secret_service,
            keyutils,
            file_dir,
            opened: OnceLock::new(),
        }
    }

    /// No OS store and no file (a sign-in that must not look anywhere but the environment).
    pub fn none() -> SecretStores {
        SecretStores::with_openers(
            StoreChoice::FileOnly,
            false,
            Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
            Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
            None,
        )
    }

    fn named(self, name: &str) -> SecretStores {
        let opened = Opened {
            store: (self.secret_service)().ok().map(|s| (s, name.to_string())),
            warnings: Mutex::new(Vec::new()),
        };
        let _ = self.opened.set(opened);
        self
    }

    /// The fallback file for a key, if there is a config dir.
    pub fn file_path(&self, key: &SecretKey) -> Option<PathBuf> {
        self.file_dir.as_ref().map(|d| d.join(key.file_name()))
    }

    /// The OS store's name, if one could be opened (for `doctor`).
    pub fn os_store_name(&self) -> Option<String> {
        self.opened().store.as_ref().map(|(_, n)| n.clone())
    }

    fn opened(&self) -> &Opened {
        self.opened.get_or_init(|| self.open())
    }

    fn open(&self) -> Opened {
        let mut warnings = Vec::new();
        let try_open = |opener: &StoreOpener, name: &str| -> Result<Arc<CredentialStore>, String> {
            let opener = opener.clone();
            // Opening a store proves little (keyutils opens even where the kernel denies access): read an entry
            // that does not exist, so a store that cannot work is known now, not at the first save.
            with_deadline(move || {
                let store = opener()?;
                match Entry::new_in_store(&store, KEYRING_SERVICE, PROBE_USER)
                    .and_then(|e| e.get_password())
                {
                    Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(store),
                    Err(e) => Err(e),
                }
            })
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| format!("the {name} store is not available: {e}"))
        };
        let store = match self.choice {
            StoreChoice::FileOnly => None,
            StoreChoice::SecretService => match try_open(&self.secret_service, SECRET_SERVICE) {
                Ok(s) => Some((s, SECRET_SERVICE.to_string())),
                Err(e) => {
                    warnings.push(format!("{e}; using the secrets file instead"));
                    None
                }
            },
            StoreChoice::Keyutils => match try_open(&self.keyutils, KEYUTILS) {
                Ok(s) => Some((s, KEYUTILS.to_string())),
                Err(e) => {
                    warnings.push(format!("{e}; using the secrets file instead"));
                    None
                }
            },
            StoreChoice::Auto => {
                let secret_service = if self.has_session_bus {
                    try_open(&self.secret_service, SECRET_SERVICE)
                } else {
                    Err("no D-Bus session bus (usual over SSH)".to_string())
                };
                match secret_service {
                    Ok(s) => Some((s, SECRET_SERVICE.to_string())),
                    Err(why) => match try_open(&self.keyutils, KEYUTILS) {
                        // One warning: the operator learns where secrets go and that they do not survive a reboot.
                        Ok(s) => {
                            warnings.push(format!(
                                "Secret Service unavailable ({why}): using the kernel keyutils store, which forgets \
                                 secrets at reboot; run `keyturn login` again after one"
                            ));
                            Some((s, KEYUTILS.to_string()))
                        }
                        Err(e) => {
                            warnings.push(format!(
                                "no OS secret store: Secret Service unavailable ({why}) and {e}; using the secrets file"
                            ));
                            None
                        }
                    },
                }
            }
        };
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Opened {
            store,
            warnings: Mutex::new(warnings),
        }
    }

    /// Warnings from opening the store, handed out once.
    fn take_open_warnings(&self) -> Vec<String> {
        match self.opened().warnings.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => Vec::new(),
        }
    }

    /// Look in the OS store, then the file. Errors become warnings and the next source.
    pub fn lookup(&self, key: &SecretKey) -> Lookup {
        let mut out = Lookup {
            warnings: self.take_open_warnings(),
            ..Lookup::default()
        };
        if let Some((store, name)) = &self.opened().store {
            let (store, user) = (store.clone(), key.keyring_user());
            let got = with_deadline(move || {
                Entry::new_in_store(&store, KEYRING_SERVICE, &user)
                    .and_then(|e| e.get_password())
                    .map(SecretString::from)
            });
            match got {
                Ok(Ok(secret)) => {
                    out.found = Some((secret, SecretOrigin::OsStore(name.clone())));
                    return out;
                }
                Ok(Err(keyring_core::Error::NoEntry)) => {}
                Ok(Err(e)) => out.warnings.push(format!(
                    "could not read the client secret from {name}: {e}; trying the next source"
                )),
                Err(e) => out.warnings.push(format!(
                    "could not read the client secret from {name}: {e}; trying the next source"
                )),
            }
        }
        if let Some(path) = self.file_path(key) {
            match read_secret_file(&path) {
                Ok(Some(secret)) => {
                    out.warnings.push(format!(
                        "using the client secret in {} (protected only by its file permissions); store it in the \
                         OS keyring with `keyturn login` on a machine that has one",
                        path.display()
                    ));
                    out.found = Some((secret, SecretOrigin::File(path)));
                }
                Ok(None) => {}
                Err(e) => out.warnings.push(format!("{e}; trying the next source")),
            }
        }
        for w in &out.warnings {
            tracing::warn!("{w}");
        }
        out
    }

    /// Store a secret: the OS store when it works, the file otherwise (with a warning).
    pub fn save(&self, key: &SecretKey, secret: &SecretString) -> Result<Saved, AuthError> {
        let mut warnings = self.take_open_warnings();
        if let Some((store, name)) = &self.opened().store {
            let (store, user) = (store.clone(), key.keyring_user());
            let value = secret.clone();
            let res = with_deadline(move || {
                Entry::new_in_store(&store, KEYRING_SERVICE, &user)
                    .and_then(|e| e.set_password(value.expose_secret()))
            });
            match res.and_then(|r| r.map_err(|e| e.to_string())) {
                Ok(()) => {
                    // A stale file copy would win over nothing but confuse `doctor`: remove it.
                    if let Some(path) = self.file_path(key) {
                        let _ = std::fs::remove_file(path);
                    }
                    return Ok(Saved {
                        origin: SecretOrigin::OsStore(name.clone()),
                        warnings,
                    });
                }
                Err(e) => warnings.push(format!(
                    "could not save the client secret in {name}: {e}; saving it in a file instead"
                )),
            }
        }
        let path = self.file_path(key).ok_or(AuthError::NoSecretStore)?;
        write_secret_file(&path, secret)?;
        warnings.push(format!(
            "the client secret is in {} (mode 0600), protected only by its file permissions",
            path.display()
        ));
        Ok(Saved {
            origin: SecretOrigin::File(path),
            warnings,
        })
    }

    /// Remove a secret from the OS store and the file. Removing nothing is not an error (`removed_from` is empty).
    pub fn remove(&self, key: &SecretKey) -> Result<Removed, AuthError> {
        let mut out = Removed {
            warnings: self.take_open_warnings(),
            ..Removed::default()
        };
        if let Some((store, name)) = &self.opened().store {
            let (store, user) = (store.clone(), key.keyring_user());
            let res = with_deadline(move || {
                Entry::new_in_store(&store, KEYRING_SERVICE, &user)
                    .and_then(|e| e.delete_credential())
            });
            match res {
                Ok(Ok(())) => out.removed_from.push(SecretOrigin::OsStore(name.clone())),
                Ok(Err(keyring_core::Error::NoEntry)) => {}
                // Denied now does not prove empty: another login session may have stored one there.
                Ok(Err(e @ keyring_core::Error::NoStorageAccess(_))) => out.warnings.push(format!(
                    "could not look in {name} ({e}); if a secret was stored there from another session, remove \
                     the entry {KEYRING_SERVICE}/{} with the store's own tool",
                    key.keyring_user()
                )),
                Ok(Err(e)) => out.warnings.push(format!(
                    "could not remove the client secret from {name}: {e}; remove the entry \
                     {KEYRING_SERVICE}/{} with the store's own tool",
                    key.keyring_user()
                )),
                Err(e) => out
                    .warnings
                    .push(format!("could not remove the client secret from {name}: {e}")),
            }
        }
        if let Some(path) = self.file_path(key) {
            match std::fs::remove_file(&path) {
                Ok(()) => out.removed_from.push(SecretOrigin::File(path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(AuthError::SecretFile { path, source }),
            }
        }
        Ok(out)
    }
}

const SECRET_SERVICE: &str = "Secret Service";
const KEYUTILS: &str = "kernel keyutils";

#[cfg(target_os = "linux")]
fn open_secret_service() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "linux")]
fn open_keyutils() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()?;
    Ok(store)
}

// No OS store is wired on other systems yet: sign-in falls back to the file (and says so).
#[cfg(not(target_os = "linux"))]
fn open_secret_service() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "keyturn has no OS secret store for this system yet".into(),
    ))
}

#[cfg(not(target_os = "linux"))]
fn open_keyutils() -> keyring_core::Result<Arc<CredentialStore>> {
    open_secret_service()
}

/// Run a store call on its own thread; give up after `STORE_DEADLINE` (the thread is left to finish or hang
/// alone: a locked Secret Service can wait forever on a prompt nobody will answer).
fn with_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("keyturn-secret-store".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread for the secret store: {e}"));
    }
    rx.recv_timeout(STORE_DEADLINE).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => format!(
            "no answer within {} s (a locked keyring waiting for an unlock prompt?)",
            STORE_DEADLINE.as_secs()
        ),
        mpsc::RecvTimeoutError::Disconnected => "the secret store call crashed".to_string(),
    })
}

/// Read the fallback file. `Ok(None)` when there is none; an error (the caller warns and moves on) when it is
/// readable by group or others, since a secret anyone on the jump host can read must not be trusted silently.
pub fn read_secret_file(path: &Path) -> Result<Option<SecretString>, AuthError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::SecretFile {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    check_private(path, &meta)?;
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::SecretFile {
        path: path.to_path_buf(),
        source,
    })?;
    let secret = SecretString::from(text.trim_end_matches(['\r', '\n']).to_string());
    drop(zeroize::Zeroizing::new(text));
    if secret.expose_secret().is_empty() {
        return Ok(None);
    }
    Ok(Some(secret))
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuthError::SecretFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), AuthError> {
    Ok(())
}

/// Write the fallback file with mode 0600 in a 0700 directory, replacing any previous one atomically.
pub fn write_secret_file(path: &Path, secret: &SecretString) -> Result<(), AuthError> {
    use std::io::Write;
    let err = |source| AuthError::SecretFile {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(err)?;
    let tmp = path.with_extension("secret.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(secret.expose_secret().as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new(
            "contoso.onmicrosoft.com",
            "11111111-2222-3333-4444-555555555555",
        )
        .unwrap()
    }

    #[test]
    fn key_rejects_path_characters() {
        assert!(SecretKey::new("../etc", "x").is_err());
        assert!(SecretKey::new("t", "a/b").is_err());
        assert!(SecretKey::new("", "x").is_err());
    }

    #[test]
    fn mock_store_round_trip_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let stores = SecretStores::with_store(
            keyring_core::mock::Store::new().unwrap(),
            "mock",
            Some(dir.path().to_path_buf()),
        );
        assert!(stores.lookup(&key()).found.is_none());
        let saved = stores
            .save(&key(), &SecretString::from("s3cret".to_string()))
            .unwrap();
        assert_eq!(saved.origin, SecretOrigin::OsStore("mock".into()));
        let (value, origin) = stores.lookup(&key()).found.unwrap();
        assert_eq!(value.expose_secret(), "s3cret");
        assert_eq!(origin, SecretOrigin::OsStore("mock".into()));
        let removed = stores.remove(&key()).unwrap();
        assert_eq!(
            removed.removed_from,
            vec![SecretOrigin::OsStore("mock".into())]
        );
        assert!(stores.lookup(&key()).found.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_in_0700_dir_and_too_open_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("x.secret");
        write_secret_file(&path, &SecretString::from("v".to_string())).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(
            read_secret_file(&path).unwrap().unwrap().expose_secret(),
            "v"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_secret_file(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
