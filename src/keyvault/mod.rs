//! Azure Key Vault: the secrets client keyturn writes rotated values with, and the mapping from an app's
//! credential to the vault secret that holds it (docs/ARCHITECTURE.md section 4).
pub mod client;
pub mod mapping;

pub use client::{
    KeyVaultSecrets, NewVersion, SecretSummary, VaultOptions, VaultSecret, VersionInfo,
};
pub use mapping::{MappingEntry, MappingSource, ResolvedMapping, TagMatch};

use std::fmt;
use std::time::Duration;

/// Tag names shared with Microsoft's KeyVault-Secrets-Rotation-AADApp sample, so both tools read each other's
/// secrets.
pub const TAG_CREDENTIAL_ID: &str = "CredentialId";
pub const TAG_PROVIDER_ADDRESS: &str = "ProviderAddress";
pub const TAG_VALIDITY_PERIOD_DAYS: &str = "ValidityPeriodDays";

/// A secret in a vault: the vault's origin (`https://name.vault.azure.net`) and the secret's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretTarget {
    pub vault_url: String,
    pub name: String,
}

impl SecretTarget {
    /// Validate and normalise: an https origin without path, and a name Key Vault accepts.
    pub fn new(vault_url: &str, name: &str) -> Result<SecretTarget, KeyVaultError> {
        Ok(SecretTarget {
            vault_url: normalise_vault_url(vault_url)?,
            name: validate_secret_name(name)?,
        })
    }

    /// `https://vault/secrets/name`.
    pub fn id(&self) -> String {
        format!("{}/secrets/{}", self.vault_url, self.name)
    }

    /// `https://vault/secrets/name/version`.
    pub fn version_id(&self, version: &str) -> String {
        format!("{}/secrets/{}/{}", self.vault_url, self.name, version)
    }
}

impl fmt::Display for SecretTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/secrets/{}", self.vault_url, self.name)
    }
}

/// `https://myvault.vault.azure.net/` -> `https://myvault.vault.azure.net`. Only https: the SDK sends bearer
/// tokens, which must never travel in clear text.
pub fn normalise_vault_url(url: &str) -> Result<String, KeyVaultError> {
    let invalid = |reason: &str| KeyVaultError::InvalidVaultUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = url::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if parsed.scheme() != "https" {
        return Err(invalid("a vault URL must use https"));
    }
    let Some(host) = parsed.host_str() else {
        return Err(invalid("no host"));
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err(invalid(
            "expected only the vault's address, like https://myvault.vault.azure.net",
        ));
    }
    Ok(match parsed.port() {
        Some(p) => format!("https://{host}:{p}"),
        None => format!("https://{host}"),
    })
}

/// Key Vault object names: 1-127 characters of `0-9a-zA-Z-` (Microsoft's Key Vault naming rules).
pub fn validate_secret_name(name: &str) -> Result<String, KeyVaultError> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(KeyVaultError::InvalidSecretName {
            name: name.to_string(),
        })
    }
}

/// A Key Vault operation, for messages and permission hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultOp {
    Set,
    Get,
    List,
}

impl VaultOp {
    /// The data-plane role that allows it.
    pub fn role(self) -> &'static str {
        match self {
            VaultOp::Set => "Key Vault Secrets Officer (secrets/set)",
            VaultOp::Get => "Key Vault Secrets User or Officer (secrets/get)",
            VaultOp::List => "Key Vault Secrets User, Officer or Key Vault Reader (secrets/list)",
        }
    }
}

impl fmt::Display for VaultOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VaultOp::Set => "set secret",
            VaultOp::Get => "get secret",
            VaultOp::List => "list secrets",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyVaultError {
    #[error("{url:?} is not a usable vault URL: {reason}")]
    InvalidVaultUrl { url: String, reason: String },

    #[error(
        "{name:?} is not a valid Key Vault secret name: use 1 to 127 letters, digits and dashes"
    )]
    InvalidSecretName { name: String },

    /// Not on a Key Vault domain (nor loopback, nor allowed by the profile): never called.
    #[error(transparent)]
    VaultUrl(#[from] crate::cloud::VaultUrlError),

    #[error("{vault}: {operation}: not found ({message})")]
    NotFound {
        vault: String,
        operation: VaultOp,
        message: String,
    },

    #[error(
        "{vault} refused {operation}: this identity needs the role {role} on the vault ({code}: {message})",
        role = operation.role()
    )]
    Forbidden {
        vault: String,
        operation: VaultOp,
        code: String,
        message: String,
    },

    #[error(
        "{vault} rejected the access token for {operation} ({message}); check the tenant and the sign-in (keyturn doctor)"
    )]
    Unauthorized {
        vault: String,
        operation: VaultOp,
        message: String,
    },

    #[error("{vault} kept throttling {operation} (HTTP 429); wait a minute and retry")]
    Throttled { vault: String, operation: VaultOp },

    #[error("{vault} refused {operation} with HTTP {status} {code}: {message}")]
    Refused {
        vault: String,
        operation: VaultOp,
        status: u16,
        code: String,
        message: String,
    },

    #[error(
        "{vault} failed {operation} with HTTP {status} {code}: {message}; the vault may be degraded"
    )]
    Server {
        vault: String,
        operation: VaultOp,
        status: u16,
        code: String,
        message: String,
    },

    #[error("{vault} did not answer {operation} within {} s", after.as_secs())]
    Timeout {
        vault: String,
        operation: VaultOp,
        after: Duration,
    },

    #[error("cannot reach {vault} for {operation}: {detail}")]
    Network {
        vault: String,
        operation: VaultOp,
        detail: String,
        /// False when the request certainly never left (connection refused, DNS).
        sent: bool,
    },

    #[error("{vault} sent an answer to {operation} keyturn cannot read: {detail}")]
    Malformed {
        vault: String,
        operation: VaultOp,
        detail: String,
    },

    #[error("cannot get a token for Key Vault: {0}")]
    Auth(String),
}

impl KeyVaultError {
    /// The vault answered with a refusal (or the request never left), so a write certainly did not happen. Any
    /// other error (timeout, 5xx, a cut connection, an unreadable 200) may hide a write that did.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            KeyVaultError::InvalidVaultUrl { .. }
            | KeyVaultError::VaultUrl(_)
            | KeyVaultError::InvalidSecretName { .. }
            | KeyVaultError::NotFound { .. }
            | KeyVaultError::Forbidden { .. }
            | KeyVaultError::Unauthorized { .. }
            | KeyVaultError::Throttled { .. }
            | KeyVaultError::Refused { .. }
            | KeyVaultError::Auth(_) => true,
            KeyVaultError::Network { sent, .. } => !sent,
            KeyVaultError::Server { .. }
            | KeyVaultError::Timeout { .. }
            | KeyVaultError::Malformed { .. } => false,
        }
    }

    /// Map an SDK error to something an operator can act on.
    pub fn from_sdk(vault: &str, operation: VaultOp, e: &azure_core::Error) -> KeyVaultError {
        use azure_core::error::ErrorKind;
        let vault = vault.to_string();
        let message = first_line(&e.to_string());
        match e.kind() {
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => {
                let status = u16::from(*status);
                let code = error_code.clone().unwrap_or_default();
                match status {
                    401 => KeyVaultError::Unauthorized {
                        vault,
                        operation,
                        message,
                    },
                    403 => KeyVaultError::Forbidden {
                        vault,
                        operation,
                        code,
                        message,
                    },
                    404 => KeyVaultError::NotFound {
                        vault,
                        operation,
                        message,
                    },
                    429 => KeyVaultError::Throttled { vault, operation },
                    408 | 500..=599 => KeyVaultError::Server {
                        vault,
                        operation,
                        status,
                        code,
                        message,
                    },
                    _ => KeyVaultError::Refused {
                        vault,
                        operation,
                        status,
                        code,
                        message,
                    },
                }
            }
            ErrorKind::Connection => KeyVaultError::Network {
                vault,
                operation,
                detail: root_cause(e),
                sent: false,
            },
            ErrorKind::Credential => KeyVaultError::Auth(message),
            ErrorKind::DataConversion => KeyVaultError::Malformed {
                vault,
                operation,
                detail: message,
            },
            _ => KeyVaultError::Network {
                vault,
                operation,
                detail: root_cause(e),
                sent: true,
            },
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

/// The innermost error text: the TLS or IO reason an admin needs is usually there.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut text = first_line(&e.to_string());
    while let Some(next) = cur.source() {
        cur = next;
        text = first_line(&cur.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_urls_are_normalised_and_https_only() {
        assert_eq!(
            normalise_vault_url("https://MyVault.vault.azure.net/").unwrap(),
            "https://myvault.vault.azure.net"
        );
        assert_eq!(
            normalise_vault_url("https://127.0.0.1:8443").unwrap(),
            "https://127.0.0.1:8443"
        );
        assert!(normalise_vault_url("http://kv.vault.azure.net").is_err());
        assert!(normalise_vault_url("https://kv.vault.azure.net/secrets/x").is_err());
        assert!(normalise_vault_url("kv").is_err());
    }

    #[test]
    fn secret_names() {
        assert!(validate_secret_name("payroll-client-secret").is_ok());
        assert!(validate_secret_name("").is_err());
        assert!(validate_secret_name("a/b").is_err());
        assert!(validate_secret_name("under_score").is_err());
        assert!(validate_secret_name(&"a".repeat(128)).is_err());
        let t = SecretTarget::new("https://kv.vault.azure.net/", "s1").unwrap();
        assert_eq!(
            t.version_id("abc"),
            "https://kv.vault.azure.net/secrets/s1/abc"
        );
    }

    #[test]
    fn which_errors_prove_nothing_was_written() {
        let v = || "https://kv".to_string();
        assert!(
            KeyVaultError::Forbidden {
                vault: v(),
                operation: VaultOp::Set,
                code: "Forbidden".into(),
                message: String::new()
            }
            .certainly_not_applied()
        );
        assert!(
            !KeyVaultError::Timeout {
                vault: v(),
                operation: VaultOp::Set,
                after: Duration::from_secs(3)
            }
            .certainly_not_applied()
        );
        assert!(
            !KeyVaultError::Server {
                vault: v(),
                operation: VaultOp::Set,
                status: 500,
                code: String::new(),
                message: String::new()
            }
            .certainly_not_applied()
        );
        let e = KeyVaultError::Forbidden {
            vault: v(),
            operation: VaultOp::Set,
            code: "ForbiddenByRbac".into(),
            message: "no".into(),
        };
        assert!(e.to_string().contains("Key Vault Secrets Officer"), "{e}");
    }
}
