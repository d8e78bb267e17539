//! Configuration: TOML in the platform config dir, merged over the defaults shipped in `assets/`.
//!
//! ```toml
//! [profiles.default]
//! tenant_id = "..."
//! client_id = "..."
//! vaults = ["https://contoso-automation.vault.azure.net"]
//! [[profiles.default.mappings]]
//! app = "<appId or object id>"
//! vault = "https://contoso-automation.vault.azure.net"
//! secret = "payroll-sync-client-secret"
//! ```
//! Unknown keys and bad values are errors that name the key, the file and the line.
use directories::ProjectDirs;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DEFAULTS_TOML: &str = include_str!("../assets/config.default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("profile {name:?} is not in {path} (profiles there: {available})")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error(
        "cannot find a home directory for keyturn's config and data; set HOME or XDG_CONFIG_HOME"
    )]
    NoHome,
}

/// How a profile signs in. `auto` tries the sources in the documented order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SignIn {
    #[default]
    Auto,
    Secret,
    Certificate,
    AzureCli,
    ManagedIdentity,
    WorkloadIdentity,
    DeviceCode,
}

/// An explicit "this app's secret lives in this vault secret" entry (docs/ARCHITECTURE.md section 4, first source).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// appId or application object id.
    #[serde(deserialize_with = "de::guid")]
    pub app: String,
    #[serde(deserialize_with = "de::https_url")]
    pub vault: String,
    #[serde(deserialize_with = "de::secret_name")]
    pub secret: String,
}

/// Settings of one profile; every field optional so a file can set only what differs from the defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, deserialize_with = "de::tenant")]
    pub tenant_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_guid")]
    pub client_id: Option<String>,
    pub sign_in: Option<SignIn>,
    pub certificate_path: Option<PathBuf>,
    #[serde(default, deserialize_with = "de::opt_https_url")]
    pub authority_host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_https_url")]
    pub graph_url: Option<String>,
    pub ca_cert: Option<PathBuf>,
    #[serde(default, deserialize_with = "de::days")]
    pub warn_days: Option<i64>,
    #[serde(default, deserialize_with = "de::days")]
    pub critical_days: Option<i64>,
    #[serde(default, deserialize_with = "de::lifetime_days")]
    pub lifetime_days: Option<i64>,
    /// A credential with no sign-in for this many days (and older than that) is "unused".
    #[serde(default, deserialize_with = "de::days")]
    pub unused_days: Option<i64>,
    /// Days a rotation keeps the old secret after the new one is proven (never past its own end); 0 removes it
    /// once proven.
    #[serde(default, deserialize_with = "de::keep_old_days")]
    pub keep_old_days: Option<i64>,
    /// How long a rotation waits for Entra to accept the new secret before it gives up proving it.
    #[serde(default, deserialize_with = "de::proof_timeout_secs")]
    pub proof_timeout_secs: Option<u64>,
    pub read_only: Option<bool>,
    pub service_principals: Option<bool>,
    pub operator: Option<String>,
    #[serde(default, deserialize_with = "de::vaults")]
    pub vaults: Option<Vec<String>>,
    pub mappings: Option<Vec<Mapping>>,
    /// The resource of Graph tokens (`https://graph.microsoft.us`), when neither the Graph URL's host nor the
    /// authority's cloud says it (a sovereign or private cloud behind a gateway).
    pub graph_scope: Option<String>,
    /// Vault hosts outside the Key Vault domains of the known clouds that may still receive secrets (a private
    /// endpoint name, a proxy): exact host names.
    pub allow_vault_hosts: Option<Vec<String>>,
    /// Where `keyturn audit` and the Changes view read changes: `graph` (built-in) or `office365`.
    pub audit_source: Option<crate::audit::Source>,
    /// A credential added to live longer than this many days is an audit finding (besides any tenant policy's cap).
    #[serde(default, deserialize_with = "de::lifetime_days")]
    pub audit_max_lifetime_days: Option<i64>,
}

impl Profile {
    /// `self` where set, else `base`.
    fn over(self, base: &Profile) -> Profile {
        let b = base.clone();
        Profile {
            tenant_id: self.tenant_id.or(b.tenant_id),
            client_id: self.client_id.or(b.client_id),
            sign_in: self.sign_in.or(b.sign_in),
            certificate_path: self.certificate_path.or(b.certificate_path),
            authority_host: self.authority_host.or(b.authority_host),
            graph_url: self.graph_url.or(b.graph_url),
            ca_cert: self.ca_cert.or(b.ca_cert),
            warn_days: self.warn_days.or(b.warn_days),
            critical_days: self.critical_days.or(b.critical_days),
            lifetime_days: self.lifetime_days.or(b.lifetime_days),
            unused_days: self.unused_days.or(b.unused_days),
            keep_old_days: self.keep_old_days.or(b.keep_old_days),
            proof_timeout_secs: self.proof_timeout_secs.or(b.proof_timeout_secs),
            read_only: self.read_only.or(b.read_only),
            service_principals: self.service_principals.or(b.service_principals),
            operator: self.operator.or(b.operator),
            vaults: self.vaults.or(b.vaults),
            mappings: self.mappings.or(b.mappings),
            graph_scope: self.graph_scope.or(b.graph_scope),
            allow_vault_hosts: self.allow_vault_hosts.or(b.allow_vault_hosts),
            audit_source: self.audit_source.or(b.audit_source),
            audit_max_lifetime_days: self.audit_max_lifetime_days.or(b.audit_max_lifetime_days),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    defaults: Option<Profile>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The resolved configuration: built-in defaults, the file's `[defaults]`, then the chosen profile.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub file_exists: bool,
    defaults: Profile,
    profiles: BTreeMap<String, Profile>,
}

impl Config {
    /// Load `path`, or the default location; a missing file is fine (built-in defaults), a broken one is an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => default_config_path()?,
        };
        let builtin = parse(DEFAULTS_TOML, Path::new("<built-in defaults>"))?;
        let builtin_defaults = builtin.defaults.unwrap_or_default();
        let (file, file_exists) = match std::fs::read_to_string(&path) {
            Ok(text) => (parse(&text, &path)?, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (FileConfig::default(), false),
            Err(source) => return Err(ConfigError::Unreadable { path, source }),
        };
        let defaults = file.defaults.unwrap_or_default().over(&builtin_defaults);
        Ok(Config {
            path,
            file_exists,
            defaults,
            profiles: file.profiles,
        })
    }

    /// The named profile merged over the defaults. `default` always exists (possibly empty).
    pub fn profile(&self, name: &str) -> Result<Profile, ConfigError> {
        match self.profiles.get(name) {
            Some(p) => Ok(p.clone().over(&self.defaults)),
            None if name == "default" => Ok(self.defaults.clone()),
            None => Err(ConfigError::UnknownProfile {
                name: name.to_string(),
                path: self.path.clone(),
                available: if self.profiles.is_empty() {
                    "none".to_string()
                } else {
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            }),
        }
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }
}

fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let cfg: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: toml_message(text, &e),
    })?;
    for (table, p) in cfg
        .defaults
        .iter()
        .map(|p| (vec!["defaults".to_string()], p))
        .chain(
            cfg.profiles
                .iter()
                .map(|(n, p)| (vec!["profiles".to_string(), n.clone()], p)),
        )
    {
        validate(text, &table, p).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
    }
    Ok(cfg)
}

/// "line 4, column 1: `tennant = "x"`: unknown field `tennant`, expected one of ...": where to look first, then the
/// line itself (so the key is named even when the parser's message does not name it), then what is wrong.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let detail = e.message().trim().to_string();
    match e.span() {
        Some(span) => located(text, span.start, &detail),
        None => detail,
    }
}

fn located(text: &str, offset: usize, detail: &str) -> String {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count() + 1)
        .unwrap_or(1);
    let source = text.lines().nth(line - 1).unwrap_or("").trim();
    if source.is_empty() {
        format!("line {line}, column {col}: {detail}")
    } else {
        format!("line {line}, column {col}: `{source}`: {detail}")
    }
}

/// Rules that involve two keys; each error points at the line of the key to change.
fn validate(text: &str, table: &[String], p: &Profile) -> Result<(), String> {
    let name = table.join(".");
    if let (Some(warn), Some(critical)) = (p.warn_days, p.critical_days)
        && critical > warn
    {
        let detail = format!(
            "[{name}] critical_days = {critical} is more than warn_days = {warn}: critical must be the shorter window"
        );
        return Err(match key_offset(text, table, "critical_days") {
            Some(offset) => located(text, offset, &detail),
            None => detail,
        });
    }
    Ok(())
}

/// Byte offset of `key` inside the table at `path` (e.g. `["profiles", "prod"]`), from the parser's spans.
fn key_offset(text: &str, path: &[String], key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    for part in path {
        let (_, v) = table.get_key_value(part.as_str())?;
        table = v.get_ref().as_table()?;
    }
    let (k, _) = table.get_key_value(key)?;
    Some(k.span().start)
}

/// Field validators: an error raised while deserialising a value carries that value's span, so the message gets
/// its line number from the parser.
mod de {
    use serde::{Deserialize, Deserializer, de::Error};

    pub fn days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = i64::deserialize(d)?;
        let max = crate::inventory::MAX_THRESHOLD_DAYS;
        if !(0..=max).contains(&v) {
            return Err(D::Error::custom(format!("{v} days: must be 0 to {max}")));
        }
        Ok(Some(v))
    }

    pub fn lifetime_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = i64::deserialize(d)?;
        if !(1..=730).contains(&v) {
            return Err(D::Error::custom(format!(
                "lifetime_days = {v}: must be 1 to 730 days (Entra's maximum is 2 years; many tenants cap lower)"
            )));
        }
        Ok(Some(v))
    }

    pub fn keep_old_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = i64::deserialize(d)?;
        if !(0..=730).contains(&v) {
            return Err(D::Error::custom(format!(
                "keep_old_days = {v}: must be 0 to 730 days (the old secret is never kept past its own end anyway)"
            )));
        }
        Ok(Some(v))
    }

    pub fn proof_timeout_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let v = i64::deserialize(d)?;
        if !(1..=86_400).contains(&v) {
            return Err(D::Error::custom(format!(
                "proof_timeout_secs = {v}: must be 1 to 86400 seconds (Entra usually accepts a new secret within minutes)"
            )));
        }
        Ok(Some(v as u64))
    }

    fn check_https(u: &str) -> Result<(), String> {
        match url::Url::parse(u) {
            Ok(parsed) if parsed.scheme() == "https" && parsed.host_str().is_some() => Ok(()),
            Ok(_) => Err(format!("{u:?}: must be an https:// URL")),
            Err(e) => Err(format!("{u:?} is not a URL ({e})")),
        }
    }

    pub fn https_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = String::deserialize(d)?;
        check_https(&v).map_err(D::Error::custom)?;
        Ok(v)
    }

    pub fn opt_https_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        https_url(d).map(Some)
    }

    pub fn vaults<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        for u in &v {
            check_https(u).map_err(|e| D::Error::custom(format!("vault {e}")))?;
        }
        Ok(Some(v))
    }

    pub fn guid<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = String::deserialize(d)?;
        uuid::Uuid::parse_str(v.trim()).map_err(|_| {
            D::Error::custom(format!(
                "{v:?} is not a GUID (like 00000000-0000-0000-0000-000000000000)"
            ))
        })?;
        Ok(v.trim().to_string())
    }

    pub fn opt_guid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        guid(d).map(Some)
    }

    /// A tenant is a GUID or a domain name (`contoso.onmicrosoft.com`).
    pub fn tenant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let v = String::deserialize(d)?;
        let t = v.trim();
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(D::Error::custom(format!(
                "{v:?} is not a tenant id: use its GUID or a domain like contoso.onmicrosoft.com"
            )));
        }
        Ok(Some(t.to_string()))
    }

    /// Key Vault secret names: 1 to 127 letters, digits and dashes.
    pub fn secret_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = String::deserialize(d)?;
        if v.is_empty()
            || v.len() > 127
            || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(D::Error::custom(format!(
                "{v:?} is not a Key Vault secret name (1 to 127 letters, digits and dashes)"
            )));
        }
        Ok(v)
    }
}

fn project_dirs() -> Result<ProjectDirs, ConfigError> {
    ProjectDirs::from("", "", "keyturn").ok_or(ConfigError::NoHome)
}

/// `<config dir>/config.toml` (`~/.config/keyturn/config.toml` on Linux, honouring `XDG_CONFIG_HOME`).
pub fn default_config_path() -> Result<PathBuf, ConfigError> {
    Ok(project_dirs()?.config_dir().join("config.toml"))
}

/// `<config dir>/secrets`: the fallback for client secrets when no OS secret store works (files mode 0600).
pub fn secrets_dir() -> Result<PathBuf, ConfigError> {
    Ok(project_dirs()?.config_dir().join("secrets"))
}

/// Where the journal and cache live (`XDG_DATA_HOME`).
pub fn data_dir() -> Result<PathBuf, ConfigError> {
    Ok(project_dirs()?.data_dir().to_path_buf())
}

/// Where logs go (`XDG_STATE_HOME` on Linux; the local data dir elsewhere).
pub fn state_dir() -> Result<PathBuf, ConfigError> {
    let d = project_dirs()?;
    Ok(d.state_dir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| d.data_local_dir().to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn missing_file_gives_builtin_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(Some(&dir.path().join("none.toml"))).unwrap();
        assert!(!c.file_exists);
        let p = c.profile("default").unwrap();
        assert_eq!(p.warn_days, Some(30));
        assert_eq!(p.graph_url.as_deref(), Some("https://graph.microsoft.com"));
    }

    #[test]
    fn profile_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[defaults]\nwarn_days = 45\n[profiles.prod]\ntenant_id = \"t\"\ncritical_days = 3\n",
        );
        let c = Config::load(Some(&path)).unwrap();
        let p = c.profile("prod").unwrap();
        assert_eq!(
            (p.warn_days, p.critical_days, p.tenant_id.as_deref()),
            (Some(45), Some(3), Some("t"))
        );
        assert!(matches!(
            c.profile("nope"),
            Err(ConfigError::UnknownProfile { .. })
        ));
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[profiles.prod]\ntenant_id = \"t\"\ntennant = \"x\"\n",
        );
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("tennant"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("config.toml"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[profiles.p]\nlifetime_days = 9000\n");
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("lifetime_days"), "{e}");
        let path = write(dir.path(), "[profiles.p]\nwarn_days = \"soon\"\n");
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn value_errors_name_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[profiles.p]\n\ngraph_url = \"http://graph\"\n",
                "graph_url",
                "line 3",
            ),
            (
                "[profiles.p]\nclient_id = \"payroll\"\n",
                "client_id",
                "line 2",
            ),
            (
                "[profiles.p]\nvaults = [\"https://a.vault.azure.net\", \"ftp://b\"]\n",
                "vaults",
                "line 2",
            ),
            (
                "[profiles.p]\nsign_in = \"password\"\n",
                "sign_in",
                "line 2",
            ),
            (
                "[profiles.p]\nwarn_days = 10\ncritical_days = 20\n",
                "critical_days",
                "line 3",
            ),
            (
                "[[profiles.p.mappings]]\napp = \"00000000-0000-0000-0000-000000000001\"\nvault = \"https://v\"\nsecret = \"a_b\"\n",
                "secret",
                "line 4",
            ),
        ];
        for (text, key, line) in cases {
            let path = write(dir.path(), text);
            let e = Config::load(Some(&path)).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
            assert!(e.contains(line), "{key}: {e}");
            assert!(e.contains("config.toml"), "{key}: {e}");
        }
    }

    #[test]
    fn shipped_example_is_valid() {
        let example = include_str!("../assets/config.example.toml");
        let cfg = parse(example, Path::new("config.example.toml")).unwrap();
        assert!(!cfg.profiles.is_empty());
    }
}

/// Property tests (issue 16 item 12): a config file is text from anywhere; parsing never panics, and the day
/// bounds hold for every number.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panic(s in ".*") {
            let _ = parse(&s, Path::new("fuzz.toml"));
        }

        #[test]
        fn warn_days_accepted_exactly_in_range(n in any::<i64>()) {
            let text = format!("[profiles.p]\nwarn_days = {n}\ncritical_days = 0\n");
            let ok = parse(&text, Path::new("fuzz.toml")).is_ok();
            prop_assert_eq!(ok, (0..=crate::inventory::MAX_THRESHOLD_DAYS).contains(&n), "{}", n);
        }
    }
}
