//! The environment variables sign-in reads, as a value: production takes a snapshot of the process environment,
//! tests pass their own map, so no test ever has to mutate the process environment (which is `unsafe` in
//! edition 2024 and races with parallel tests).
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
pub const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Which OS secret store to use: `auto` (default), `secret-service`, `keyutils`, or `file` (skip the OS store).
pub const KEYTURN_SECRET_STORE: &str = "KEYTURN_SECRET_STORE";

/// Variables that tell a managed-identity endpoint is there (App Service, Functions, Container Apps, Arc, Cloud
/// Shell, Service Fabric). Without one of them keyturn only tries IMDS on a machine that says it is an Azure VM.
const MANAGED_IDENTITY_VARS: &[&str] = &["IDENTITY_ENDPOINT", "MSI_ENDPOINT"];

#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, OsString>,
}

// Values can be secrets (AZURE_CLIENT_SECRET): list the names only.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// A snapshot of the process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v)))
                .collect(),
        }
    }

    /// An environment made of exactly these pairs (tests).
    pub fn from_pairs<K: Into<String>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// This environment with one variable set (tests build on a snapshot this way).
    pub fn with(mut self, name: &str, value: impl Into<OsString>) -> Env {
        self.vars.insert(name.to_string(), value.into());
        self
    }

    /// This environment without one variable.
    pub fn without(mut self, name: &str) -> Env {
        self.vars.remove(name);
        self
    }

    /// A variable's value; an empty value counts as unset, as the Azure SDKs treat it.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .and_then(|v| v.to_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn var_os(&self, name: &str) -> Option<&OsString> {
        self.vars.get(name).filter(|v| !v.is_empty())
    }

    /// A switch: on when set to anything but `0`, `false`, `no`, `off`, `n`, `f` (any case), as clap's falsey
    /// parser reads `KEYTURN_READ_ONLY`; unset or empty is off.
    pub fn flag(&self, name: &str) -> bool {
        self.var(name).is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "0" | "false" | "no" | "off" | "n" | "f"
            )
        })
    }

    /// The full path of `program` found on this environment's `PATH`, if any.
    pub fn find_on_path(&self, program: &str) -> Option<PathBuf> {
        let path = self.var_os("PATH")?;
        std::env::split_paths(path)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }

    /// Whether a managed-identity endpoint is advertised by the environment.
    pub fn managed_identity_endpoint(&self) -> bool {
        MANAGED_IDENTITY_VARS.iter().any(|v| self.var(v).is_some())
    }

    /// Whether a D-Bus session bus is reachable without connecting: the address variable, or the standard socket
    /// under `XDG_RUNTIME_DIR`. Over SSH and in CI neither is there.
    pub fn has_session_bus(&self) -> bool {
        if self.var("DBUS_SESSION_BUS_ADDRESS").is_some() {
            return true;
        }
        self.var_os("XDG_RUNTIME_DIR")
            .map(|dir| PathBuf::from(dir).join("bus").exists())
            .unwrap_or(false)
    }
}

#[cfg(unix)]
fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &std::path::Path) -> bool {
    p.is_file() || p.with_extension("cmd").is_file() || p.with_extension("exe").is_file()
}

/// Whether this machine says it is an Azure VM (DMI chassis asset tag Azure sets on every VM). Read from sysfs so
/// that deciding costs nothing: keyturn never probes the metadata address on a laptop or a jump host elsewhere.
pub fn is_azure_vm() -> bool {
    const AZURE_ASSET_TAG: &str = "7783-7084-3265-9085";
    std::fs::read_to_string("/sys/class/dmi/id/chassis_asset_tag")
        .map(|t| t.trim() == AZURE_ASSET_TAG)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_counts_as_unset_and_debug_hides_values() {
        let env = Env::from_pairs([("AZURE_CLIENT_SECRET", "s3cr3t-value"), ("EMPTY", "")]);
        assert_eq!(env.var("EMPTY"), None);
        assert_eq!(
            env.var("AZURE_CLIENT_SECRET").as_deref(),
            Some("s3cr3t-value")
        );
        let dbg = format!("{env:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("AZURE_CLIENT_SECRET"), "{dbg}");
    }

    #[test]
    fn flags() {
        let env = Env::from_pairs([
            ("A", "1"),
            ("B", "TRUE"),
            ("C", "0"),
            ("D", "No"),
            ("F", ""),
        ]);
        assert!(env.flag("A") && env.flag("B"));
        assert!(!env.flag("C") && !env.flag("D") && !env.flag("E") && !env.flag("F"));
    }

    #[test]
    fn session_bus_detection() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("XDG_RUNTIME_DIR", dir.path().as_os_str().to_owned())]);
        assert!(!env.has_session_bus());
        std::fs::write(dir.path().join("bus"), "").unwrap();
        assert!(env.has_session_bus());
        assert!(Env::from_pairs([("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x")]).has_session_bus());
    }
}
