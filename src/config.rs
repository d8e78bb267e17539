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
    /// Where `keyturn notify` sends: any of `teams`, `slack`, `webhook`, `mail`. The webhook URLs and the SMTP
    /// password are secrets: environment or OS keyring (`keyturn notify --set-secret`), never this file.
    #[serde(default, deserialize_with = "de::notify_targets")]
    pub notify_targets: Option<Vec<NotifyTarget>>,
    /// Days after which `keyturn notify` repeats a message whose status did not change (built-in 7).
    #[serde(default, deserialize_with = "de::reminder_days")]
    pub notify_reminder_days: Option<i64>,
    /// The SMTP server for the `mail` target.
    #[serde(default, deserialize_with = "de::opt_host")]
    pub smtp_host: Option<String>,
    /// Built-in: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<SmtpTls>,
    /// Sign in to the SMTP server as this user (the password: `KEYTURN_SMTP_PASSWORD` or the OS keyring).
    pub smtp_username: Option<String>,
    /// The sender of notification mails (`keyturn <keyturn@contoso.com>`).
    pub mail_from: Option<String>,
    /// Who gets the mail about an app that has no owner with an address.
    pub mail_fallback: Option<String>,
}

/// A `keyturn notify` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyTarget {
    Teams,
    Slack,
    Webhook,
    Mail,
}

impl NotifyTarget {
    pub const ALL: [NotifyTarget; 4] = [
        NotifyTarget::Teams,
        NotifyTarget::Slack,
        NotifyTarget::Webhook,
        NotifyTarget::Mail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyTarget::Teams => "teams",
            NotifyTarget::Slack => "slack",
            NotifyTarget::Webhook => "webhook",
            NotifyTarget::Mail => "mail",
        }
    }
}

impl std::fmt::Display for NotifyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the `mail` target talks to its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine (loopback), such as a local MTA.
    None,
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
            notify_targets: self.notify_targets.or(b.notify_targets),
            notify_reminder_days: self.notify_reminder_days.or(b.notify_reminder_days),
            smtp_host: self.smtp_host.or(b.smtp_host),
            smtp_port: self.smtp_port.or(b.smtp_port),
            smtp_tls: self.smtp_tls.or(b.smtp_tls),
            smtp_username: self.smtp_username.or(b.smtp_username),
            mail_from: self.mail_from.or(b.mail_from),
            mail_fallback: self.mail_fallback.or(b.mail_fallback),
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
    // A webhook URL or SMTP password written into the file is a secret: say where it is, never echo the line.
    if let Some(hint) = secret_in_file(&detail) {
        return match e.span() {
            Some(span) => {
                let offset = span.start.min(text.len());
                let before = text.get(..offset).unwrap_or("");
                format!("line {}: {hint}", before.matches('\n').count() + 1)
            }
            None => hint,
        };
    }
    match e.span() {
        Some(span) => located(text, span.start, &detail),
        None => detail,
    }
}

/// The clear error for a notification secret put in the config file: an unknown key that names a webhook URL or a
/// password, or a URL given as a `notify_targets` entry.
fn secret_in_file(detail: &str) -> Option<String> {
    let field = detail
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_ascii_lowercase);
    let is_url = detail.starts_with(de::URL_IN_TARGETS);
    let webhook = field
        .as_deref()
        .is_some_and(|f| f.contains("webhook") || f.ends_with("_url") && f.contains("notify"));
    let password = field
        .as_deref()
        .is_some_and(|f| f.contains("smtp") && (f.contains("password") || f.contains("secret")));
    if webhook || is_url {
        Some(
            "a webhook URL is a secret and never goes in the config file (anyone who has it can post to the \
             channel): set KEYTURN_TEAMS_WEBHOOK_URL, KEYTURN_SLACK_WEBHOOK_URL or KEYTURN_WEBHOOK_URL, or store it \
             in the OS keyring with `keyturn notify --set-secret teams|slack|webhook`; list only the target names in \
             notify_targets = [\"teams\", \"slack\", \"webhook\", \"mail\"]"
                .to_string(),
        )
    } else if password {
        Some(
            "the SMTP password is a secret and never goes in the config file: set KEYTURN_SMTP_PASSWORD, or store it \
             in the OS keyring with `keyturn notify --set-secret smtp`; the file keeps smtp_username only"
                .to_string(),
        )
    } else {
        None
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

    /// The start of the error for a URL in `notify_targets` (see `secret_in_file`).
    pub const URL_IN_TARGETS: &str = "notify_targets holds a URL";

    pub fn notify_targets<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<super::NotifyTarget>>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut out = Vec::new();
        for n in names {
            let t = super::NotifyTarget::ALL
                .into_iter()
                .find(|t| t.as_str().eq_ignore_ascii_case(n.trim()));
            match t {
                Some(t) if !out.contains(&t) => out.push(t),
                Some(_) => {}
                None if n.contains("://") => return Err(D::Error::custom(URL_IN_TARGETS)),
                None => {
                    return Err(D::Error::custom(format!(
                        "notify_targets: {n:?} is not a target (teams, slack, webhook, mail)"
                    )));
                }
            }
        }
        Ok(Some(out))
    }

    pub fn reminder_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = i64::deserialize(d)?;
        if !(1..=365).contains(&v) {
            return Err(D::Error::custom(format!(
                "notify_reminder_days = {v}: must be 1 to 365 days"
            )));
        }
        Ok(Some(v))
    }

    /// A host name or IP address, without scheme or port.
    pub fn opt_host<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let v = String::deserialize(d)?;
        let t = v.trim();
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'))
        {
            return Err(D::Error::custom(format!(
                "{v:?} is not a host name: give the SMTP server's name only (smtp.office365.com), the port in smtp_port"
            )));
        }
        Ok(Some(t.to_string()))
    }

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

    #[test]
    fn notify_keys_merge_and_secrets_in_the_file_are_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[defaults]\nnotify_targets = [\"teams\", \"Mail\"]\nsmtp_host = \"smtp.contoso.com\"\n\
             [profiles.p]\nnotify_reminder_days = 3\nsmtp_tls = \"tls\"\nmail_fallback = \"ops@contoso.com\"\n",
        );
        let p = Config::load(Some(&path)).unwrap().profile("p").unwrap();
        assert_eq!(
            p.notify_targets,
            Some(vec![NotifyTarget::Teams, NotifyTarget::Mail])
        );
        assert_eq!(
            (p.notify_reminder_days, p.smtp_tls, p.smtp_host.as_deref()),
            (Some(3), Some(SmtpTls::Tls), Some("smtp.contoso.com"))
        );
        let secret = "https://prod-00.westeurope.logic.azure.com/workflows/abc?sig=SECRETSIG";
        for text in [
            format!("[profiles.p]\nteams_webhook_url = \"{secret}\"\n"),
            format!("[profiles.p]\nnotify_targets = [\"{secret}\"]\n"),
            "[profiles.p]\nsmtp_password = \"SECRETSIG\"\n".to_string(),
        ] {
            let e = parse(&text, Path::new("c.toml")).unwrap_err().to_string();
            assert!(e.contains("is a secret") && e.contains("line 2"), "{e}");
            assert!(e.contains("--set-secret"), "{e}");
            assert!(!e.contains("SECRETSIG"), "the secret is never echoed: {e}");
        }
        let e = parse(
            "[profiles.p]\nnotify_targets = [\"pager\"]\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"pager\" is not a target"), "{e}");
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
