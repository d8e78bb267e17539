//! Azure Key Vault: the secrets client keyturn writes rotated values with, and the mapping from an app's
//! credential to the vault secret that holds it (docs/ARCHITECTURE.md section 4).
pub mod client;
pub mod mapping;

pub use client::{
    DeletedSecretInfo, KeyVaultSecrets, NewVersion, SecretSummary, VaultOptions, VaultSecret,
    VersionInfo,
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
    /// The built-in role's name alone (for `az role assignment create --role`).
    pub fn role_name(self) -> &'static str {
        match self {
            VaultOp::Set => "Key Vault Secrets Officer",
            VaultOp::Get | VaultOp::List => "Key Vault Secrets User",
        }
    }

    /// The access-policy permission it needs.
    pub fn permission(self) -> &'static str {
        match self {
            VaultOp::Set => "set",
            VaultOp::Get => "get",
            VaultOp::List => "list",
        }
    }

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

/// Why a vault answered 403: each cause has its own fix, and a role assignment fixes only the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultDenial {
    /// An Azure RBAC vault without a role assignment that allows the action (`ForbiddenByRbac`).
    Rbac,
    /// The vault's firewall does not admit the client's address; permissions were not even looked at
    /// (`ForbiddenByFirewall`). The address as the vault saw it, when it said.
    Firewall { client_address: Option<String> },
    /// An access-policy vault without a policy that grants the permission (`AccessDenied`).
    AccessPolicy,
    /// The version asked for is disabled (`SecretDisabled`). The secret's name, once known.
    SecretDisabled { secret: Option<String> },
    /// A 403 without a known cause: a role is the likeliest fix.
    Other,
}

impl VaultDenial {
    /// From the error body's code, inner code and message (Microsoft's wording: the inner code where the service
    /// sends one, the message where it does not).
    pub fn classify(code: &str, inner: Option<&str>, message: &str) -> VaultDenial {
        let m = message.to_ascii_lowercase();
        match inner.unwrap_or(code) {
            "ForbiddenByRbac" => VaultDenial::Rbac,
            "ForbiddenByFirewall" => VaultDenial::Firewall {
                client_address: client_address(message),
            },
            "AccessDenied" => VaultDenial::AccessPolicy,
            "SecretDisabled" => VaultDenial::SecretDisabled { secret: None },
            _ if m.contains("client address is not authorized")
                || m.contains("public network access is disabled") =>
            {
                VaultDenial::Firewall {
                    client_address: client_address(message),
                }
            }
            _ if m.contains("does not have secrets") && m.contains("permission on key vault") => {
                VaultDenial::AccessPolicy
            }
            _ if m.contains("not allowed on a disabled secret") => {
                VaultDenial::SecretDisabled { secret: None }
            }
            _ if m.contains("caller is not authorized to perform action") => VaultDenial::Rbac,
            _ => VaultDenial::Other,
        }
    }

    /// What the refusal means, in words.
    pub fn cause(&self, op: VaultOp) -> String {
        match self {
            VaultDenial::Rbac | VaultDenial::Other => format!(
                "no Azure role assignment on the vault allows it (needs {})",
                op.role()
            ),
            VaultDenial::Firewall { client_address } => format!(
                "the vault's firewall does not admit this machine's address{}, so no permission was even checked",
                client_address
                    .as_deref()
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default()
            ),
            VaultDenial::AccessPolicy => format!(
                "the vault uses access policies (not Azure RBAC) and none gives this identity the secrets {} permission",
                op.permission()
            ),
            VaultDenial::SecretDisabled { .. } => {
                "the secret's current version is disabled in the vault".to_string()
            }
        }
    }

    /// What to do about it: `who` is the identity keyturn signs in as, `vault` the vault's URL.
    pub fn fix(&self, op: VaultOp, who: &str, vault: &str) -> String {
        let name = vault_name(vault).unwrap_or_else(|| "<vault name>".to_string());
        match self {
            VaultDenial::Rbac | VaultDenial::Other => format!(
                "assign {who} the role {} on the vault (its Access control (IAM) page, or az role assignment create --assignee <client id> --role \"{}\" --scope <the vault's resource id>)",
                op.role(),
                op.role_name()
            ),
            VaultDenial::Firewall { client_address } => format!(
                "admit this machine in the vault's firewall (Networking > Firewalls and virtual networks, or az keyvault network-rule add --name {name} --ip-address {}), or run keyturn from a network the vault allows (its private endpoint or an allowed virtual network)",
                client_address
                    .as_deref()
                    .unwrap_or("<this machine's public address>")
            ),
            VaultDenial::AccessPolicy => format!(
                "give {who} the secret permissions get, list and set in an access policy (the vault's Access policies page, or az keyvault set-policy --name {name} --spn <client id> --secret-permissions get list set)"
            ),
            VaultDenial::SecretDisabled { secret } => format!(
                "enable the secret's current version if the automations still read it (az keyvault secret set-attributes {} --enabled true), or map the credential to the secret they do read",
                az_secret_args(vault, secret.as_deref().unwrap_or("<secret name>"), false)
            ),
        }
    }
}

/// "Client address: 203.0.113.7" in a firewall refusal's message.
fn client_address(message: &str) -> Option<String> {
    let rest = message.split("Client address:").nth(1)?;
    let addr: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// The vault's name as `az` wants it: the first label of a Key Vault host (`None` for anything else, such as
/// the emulator on loopback).
pub fn vault_name(vault_url: &str) -> Option<String> {
    let host = url::Url::parse(vault_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))?;
    match host.split_once('.') {
        Some((first, rest)) if rest.starts_with("vault.") && !first.is_empty() => {
            Some(first.to_string())
        }
        _ => None,
    }
}

/// The `az keyvault secret` arguments naming a secret (`deleted`: in the deleted state): by vault and name on a
/// Key Vault host, by its full id elsewhere.
fn az_secret_args(vault_url: &str, secret: &str, deleted: bool) -> String {
    match vault_name(vault_url) {
        Some(name) => format!("--vault-name {name} --name {secret}"),
        None if deleted => format!("--id {vault_url}/deletedsecrets/{secret}"),
        None => format!("--id {vault_url}/secrets/{secret}"),
    }
}

/// A refused write of a soft-deleted name (409 `ObjectIsDeletedButRecoverable`), and what to do.
pub fn soft_deleted_advice(vault_url: &str, secret: &str) -> String {
    let args = az_secret_args(vault_url, secret, true);
    format!(
        "recover it (az keyvault secret recover {args}: its old versions come back, then rotate again) or, if nothing needs it, purge it (az keyvault secret purge {args}: gone for good; needs the purge permission)"
    )
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
        "{vault} refused {operation}: {cause}; to fix: {fix} ({code}: {message})",
        cause = denial.cause(*operation),
        fix = denial.fix(*operation, "this identity", vault)
    )]
    Forbidden {
        vault: String,
        operation: VaultOp,
        /// The inner error code when there is one (`ForbiddenByFirewall`), else the error code.
        code: String,
        message: String,
        denial: VaultDenial,
    },

    /// The name is soft-deleted: Key Vault refuses to write it until it is recovered or purged.
    #[error(
        "{vault} refused to {operation} {secret}: a deleted secret of that name is kept recoverable (409 Conflict, ObjectIsDeletedButRecoverable), and its name cannot be reused until then; {advice}",
        advice = soft_deleted_advice(vault, secret)
    )]
    SoftDeleted {
        vault: String,
        operation: VaultOp,
        secret: String,
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
            | KeyVaultError::SoftDeleted { .. }
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

    /// The secret the failed call was about (for the fix a refusal names).
    pub fn for_secret(mut self, name: &str) -> KeyVaultError {
        match &mut self {
            KeyVaultError::Forbidden {
                denial: VaultDenial::SecretDisabled { secret },
                ..
            } => *secret = Some(name.to_string()),
            KeyVaultError::SoftDeleted { secret, .. } => *secret = name.to_string(),
            _ => {}
        }
        self
    }

    /// Map an SDK error to something an operator can act on.
    pub fn from_sdk(vault: &str, operation: VaultOp, e: &azure_core::Error) -> KeyVaultError {
        use azure_core::error::ErrorKind;
        let vault = vault.to_string();
        let message = first_line(&e.to_string());
        match e.kind() {
            ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } => {
                let status = u16::from(*status);
                let code = error_code.clone().unwrap_or_default();
                let body = raw_response
                    .as_ref()
                    .map(|r| ErrorBody::parse(r.body().as_ref()))
                    .unwrap_or_default();
                match status {
                    403 => {
                        let full = body.message.as_deref().unwrap_or(&message);
                        let denial = VaultDenial::classify(&code, body.inner.as_deref(), full);
                        return KeyVaultError::Forbidden {
                            vault,
                            operation,
                            code: body.inner.unwrap_or(code),
                            message,
                            denial,
                        };
                    }
                    409 if body.inner.as_deref() == Some("ObjectIsDeletedButRecoverable") => {
                        return KeyVaultError::SoftDeleted {
                            vault,
                            operation,
                            secret: String::new(),
                        };
                    }
                    _ => {}
                }
                match status {
                    401 => KeyVaultError::Unauthorized {
                        vault,
                        operation,
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

/// The parts of a KeyVaultError body the SDK's error does not keep: the inner code and the whole message.
#[derive(Debug, Default)]
struct ErrorBody {
    inner: Option<String>,
    message: Option<String>,
}

impl ErrorBody {
    fn parse(bytes: &[u8]) -> ErrorBody {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let e = &v["error"];
        ErrorBody {
            inner: e["innererror"]["code"].as_str().map(str::to_string),
            message: e["message"].as_str().map(str::to_string),
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
                message: String::new(),
                denial: VaultDenial::Firewall {
                    client_address: None
                },
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
            denial: VaultDenial::Rbac,
        };
        assert!(e.to_string().contains("Key Vault Secrets Officer"), "{e}");
        assert!(
            KeyVaultError::SoftDeleted {
                vault: v(),
                operation: VaultOp::Set,
                secret: "s".into()
            }
            .certainly_not_applied()
        );
    }

    /// The four 403s of a real vault (bodies from the public captures in tests/fixtures/captured/keyvault/) each
    /// get their own cause and fix.
    #[test]
    fn each_kind_of_403_names_its_cause_and_fix() {
        let vault = "https://kv-prod.vault.azure.net";
        let cases = [
            (
                "Forbidden",
                Some("ForbiddenByRbac"),
                "Caller is not authorized to perform action on resource.\r\nIf role assignments...",
                VaultDenial::Rbac,
                "az role assignment create",
            ),
            (
                "Forbidden",
                Some("ForbiddenByFirewall"),
                "Client address is not authorized and caller is not a trusted service.\r\nClient address: 20.126.176.160\r\nCaller: appid=x",
                VaultDenial::Firewall {
                    client_address: Some("20.126.176.160".into()),
                },
                "az keyvault network-rule add --name kv-prod --ip-address 20.126.176.160",
            ),
            (
                "Forbidden",
                Some("AccessDenied"),
                "The user, group or application 'appid=x;oid=y' does not have secrets get permission on key vault 'kv-prod;location=westus'.",
                VaultDenial::AccessPolicy,
                "az keyvault set-policy --name kv-prod",
            ),
            (
                "Forbidden",
                Some("SecretDisabled"),
                "Operation get is not allowed on a disabled secret.",
                VaultDenial::SecretDisabled { secret: None },
                "az keyvault secret set-attributes --vault-name kv-prod --name <secret name> --enabled true",
            ),
        ];
        for (code, inner, message, want, fix) in cases {
            let got = VaultDenial::classify(code, inner, message);
            assert_eq!(got, want, "{message}");
            // The message alone (an older vault, a proxy that drops the inner code) says the same.
            assert_eq!(
                VaultDenial::classify(code, None, message),
                want,
                "{message}"
            );
            let text = got.fix(VaultOp::Get, "app x", vault);
            assert!(text.contains(fix), "{text}");
        }
        assert_eq!(
            VaultDenial::classify("Forbidden", None, "something else"),
            VaultDenial::Other
        );
        assert_eq!(vault_name("https://127.0.0.1:8443"), None);
        assert!(
            soft_deleted_advice("https://127.0.0.1:8443", "db").contains(
                "az keyvault secret recover --id https://127.0.0.1:8443/deletedsecrets/db"
            )
        );
        assert!(
            soft_deleted_advice("https://kv-prod.vault.azure.net", "db")
                .contains("az keyvault secret purge --vault-name kv-prod --name db")
        );
    }
}
