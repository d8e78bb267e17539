//! Key Vault secrets through the official SDK (`azure_security_keyvault_secrets::SecretClient`), one client per
//! vault, over keyturn's shared `reqwest::Client` so `--ca-cert` reaches it.
//!
//! Values cross this boundary only as `SecretString`: the SDK hands them over as plain `String`s, which are moved
//! into a `SecretString` at once.
use super::{KeyVaultError, SecretTarget, VaultOp};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_core::time::OffsetDateTime;
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SetSecretParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A soft-deleted secret: when it was deleted and when the vault purges it for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedSecretInfo {
    pub deleted_on: Option<DateTime<Utc>>,
    pub purge_on: Option<DateTime<Utc>>,
}

/// Retry and timeout knobs. The SDK's own default retry waits up to about a minute; an operator watching a
/// progress view, and the tests, want less.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    pub max_retries: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_total: Duration,
    /// Upper bound for one operation including its retries. When it fires on a write, the write may still have
    /// happened: the rotation then reads back rather than assuming failure.
    pub operation_timeout: Duration,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_total: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(45),
        }
    }
}

impl VaultOptions {
    /// Short retries and timeouts for tests against the emulator.
    pub fn fast() -> Self {
        Self {
            max_retries: 1,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_total: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(3),
        }
    }

    fn retry(&self) -> RetryOptions {
        let ms = |d: Duration| {
            azure_core::time::Duration::milliseconds(
                i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            )
        };
        RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: ms(self.initial_delay),
            max_retries: self.max_retries,
            max_total_elapsed: ms(self.max_total),
            max_delay: ms(self.max_delay),
        })
    }
}

/// One version of a secret without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// `https://vault/secrets/name/version`.
    pub id: String,
    pub name: String,
    pub version: String,
    pub tags: BTreeMap<String, String>,
    pub enabled: Option<bool>,
    pub not_before: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub content_type: Option<String>,
}

impl VersionInfo {
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
}

/// One version with its value. `Debug` shows no value (`SecretString` redacts itself).
#[derive(Debug, Clone)]
pub struct VaultSecret {
    pub info: VersionInfo,
    pub value: SecretString,
}

/// Attributes and tags of a version to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewVersion {
    pub not_before: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
    pub content_type: Option<String>,
}

/// A secret as the vault's list shows it: name and tags of its latest version, no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSummary {
    pub vault_url: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub enabled: Option<bool>,
    pub updated: Option<DateTime<Utc>>,
}

/// Secrets in any number of vaults, one SDK client per vault, created on first use.
#[derive(Clone)]
pub struct KeyVaultSecrets {
    credential: Arc<dyn TokenCredential>,
    http: reqwest::Client,
    options: VaultOptions,
    clients: Arc<Mutex<HashMap<String, Arc<SecretClient>>>>,
    /// Hosts besides the Key Vault domains and loopback that may be called (the profile's `allow_vault_hosts`).
    allowed_hosts: Arc<Vec<String>>,
}

impl std::fmt::Debug for KeyVaultSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultSecrets")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSecrets {
    pub fn new(
        credential: Arc<dyn TokenCredential>,
        http: reqwest::Client,
        options: VaultOptions,
    ) -> Self {
        Self {
            credential,
            http,
            options,
            clients: Arc::new(Mutex::new(HashMap::new())),
            allowed_hosts: Arc::new(Vec::new()),
        }
    }

    /// Allow these vault hosts besides the Key Vault domains of the known clouds and loopback.
    pub fn with_allowed_hosts(mut self, hosts: Vec<String>) -> Self {
        self.allowed_hosts = Arc::new(hosts);
        self
    }

    pub fn options(&self) -> &VaultOptions {
        &self.options
    }

    fn client(&self, vault_url: &str) -> Result<Arc<SecretClient>, KeyVaultError> {
        let mut map = match self.clients.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(c) = map.get(vault_url) {
            return Ok(c.clone());
        }
        // No request, and so no token and no secret, goes to a host that is not a vault.
        crate::cloud::check_vault_url(vault_url, &self.allowed_hosts)?;
        let host = url::Url::parse(vault_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let options = SecretClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(self.http.clone()))),
                retry: self.options.retry(),
                ..Default::default()
            },
            // The SDK checks that the challenge's resource matches the vault's domain, which a vault on 127.0.0.1
            // (the emulator) cannot satisfy. The check stays on for every real vault.
            verify_challenge_resource: Some(!crate::net::is_loopback_host(&host)),
            ..Default::default()
        };
        let client =
            SecretClient::new(vault_url, self.credential.clone(), Some(options)).map_err(|e| {
                KeyVaultError::InvalidVaultUrl {
                    url: vault_url.to_string(),
                    reason: e.to_string(),
                }
            })?;
        let client = Arc::new(client);
        map.insert(vault_url.to_string(), client.clone());
        Ok(client)
    }

    async fn timed<T>(
        &self,
        target_vault: &str,
        op: VaultOp,
        fut: impl Future<Output = azure_core::Result<T>>,
    ) -> Result<T, KeyVaultError> {
        match tokio::time::timeout(self.options.operation_timeout, fut).await {
            Err(_) => Err(KeyVaultError::Timeout {
                vault: target_vault.to_string(),
                operation: op,
                after: self.options.operation_timeout,
            }),
            Ok(Err(e)) => Err(KeyVaultError::from_sdk(target_vault, op, &e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// A soft-deleted secret of this name (`GET /deletedsecrets/{name}`), `None` when there is none. Reads only:
    /// how a plan learns, before anything is written, that Key Vault would refuse the name (409).
    pub async fn deleted(
        &self,
        target: &SecretTarget,
    ) -> Result<Option<DeletedSecretInfo>, KeyVaultError> {
        let client = self.client(&target.vault_url)?;
        let answer = self
            .timed(
                &target.vault_url,
                VaultOp::Get,
                client.get_deleted_secret(&target.name, None),
            )
            .await;
        let response = match answer {
            Ok(r) => r,
            Err(KeyVaultError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.for_secret(&target.name)),
        };
        let d = response
            .into_model()
            .map_err(|e| KeyVaultError::from_sdk(&target.vault_url, VaultOp::Get, &e))?;
        Ok(Some(DeletedSecretInfo {
            deleted_on: d.deleted_date.and_then(to_chrono),
            purge_on: d.scheduled_purge_date.and_then(to_chrono),
        }))
    }

    /// Write `value` as a new version of the secret; returns the new version's properties.
    pub async fn set_secret(
        &self,
        target: &SecretTarget,
        value: &SecretString,
        new: &NewVersion,
    ) -> Result<VersionInfo, KeyVaultError> {
        let client = self.client(&target.vault_url)?;
        let params = SetSecretParameters {
            value: Some(value.expose_secret().to_string()),
            content_type: new.content_type.clone(),
            secret_attributes: Some(attributes(new)),
            tags: Some(new.tags.clone().into_iter().collect()),
        };
        let body = params
            .try_into()
            .map_err(|e: azure_core::Error| KeyVaultError::Malformed {
                vault: target.vault_url.clone(),
                operation: VaultOp::Set,
                detail: e.to_string(),
            })?;
        let response = self
            .timed(
                &target.vault_url,
                VaultOp::Set,
                client.set_secret(&target.name, body, None),
            )
            .await
            .map_err(|e| e.for_secret(&target.name))?;
        let secret = response
            .into_model()
            .map_err(|e| KeyVaultError::from_sdk(&target.vault_url, VaultOp::Set, &e))?;
        // The answer echoes the value; only the properties are kept.
        let (info, _value) = split(&target.vault_url, VaultOp::Set, secret)?;
        Ok(info)
    }

    /// A version with its value; `version: None` is the latest.
    pub async fn get_secret(
        &self,
        target: &SecretTarget,
        version: Option<&str>,
    ) -> Result<VaultSecret, KeyVaultError> {
        let client = self.client(&target.vault_url)?;
        let options = SecretClientGetSecretOptions {
            secret_version: version.map(str::to_string),
            ..Default::default()
        };
        let response = self
            .timed(
                &target.vault_url,
                VaultOp::Get,
                client.get_secret(&target.name, Some(options)),
            )
            .await
            .map_err(|e| e.for_secret(&target.name))?;
        let secret = response
            .into_model()
            .map_err(|e| KeyVaultError::from_sdk(&target.vault_url, VaultOp::Get, &e))?;
        let (info, value) = split(&target.vault_url, VaultOp::Get, secret)?;
        let value = value.ok_or_else(|| KeyVaultError::Malformed {
            vault: target.vault_url.clone(),
            operation: VaultOp::Get,
            detail: format!(
                "version {} of {} came without a value",
                info.version, target.name
            ),
        })?;
        Ok(VaultSecret { info, value })
    }

    /// Properties of the latest version, or `None` when the secret does not exist yet.
    pub async fn latest(
        &self,
        target: &SecretTarget,
    ) -> Result<Option<VersionInfo>, KeyVaultError> {
        // Key Vault has no "latest properties" call; a get without version is the one answer that is certainly
        // the current version (version lists are unordered and `created` has second resolution). The value it
        // brings is dropped here.
        match self.get_secret(target, None).await {
            Ok(s) => Ok(Some(s.info)),
            Err(KeyVaultError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every secret in a vault with the tags of its latest version (for the tag-based mapping).
    pub async fn list_secrets(&self, vault_url: &str) -> Result<Vec<SecretSummary>, KeyVaultError> {
        let client = self.client(vault_url)?;
        let mut pager = client
            .list_secret_properties(None)
            .map_err(|e| KeyVaultError::from_sdk(vault_url, VaultOp::List, &e))?;
        let collect = async {
            let mut out = Vec::new();
            while let Some(p) = pager.try_next().await? {
                let name = match p.resource_id() {
                    Ok(r) => r.name,
                    Err(_) => continue,
                };
                let attrs = p.attributes.as_ref();
                out.push(SecretSummary {
                    vault_url: vault_url.to_string(),
                    name,
                    tags: p.tags.clone().unwrap_or_default().into_iter().collect(),
                    enabled: attrs.and_then(|a| a.enabled),
                    updated: attrs.and_then(|a| a.updated).and_then(to_chrono),
                });
            }
            Ok(out)
        };
        self.timed(vault_url, VaultOp::List, collect).await
    }
}

fn attributes(new: &NewVersion) -> SecretAttributes {
    SecretAttributes {
        enabled: Some(true),
        not_before: new.not_before.and_then(to_offset),
        expires: new.expires.and_then(to_offset),
        ..Default::default()
    }
}

fn to_offset(d: DateTime<Utc>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(d.timestamp()).ok()
}

fn to_chrono(d: OffsetDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(d.unix_timestamp(), 0)
}

/// Properties and value of an SDK `Secret`; the value goes straight into a `SecretString`.
fn split(
    vault: &str,
    op: VaultOp,
    secret: azure_security_keyvault_secrets::models::Secret,
) -> Result<(VersionInfo, Option<SecretString>), KeyVaultError> {
    let rid = secret.resource_id().map_err(|e| KeyVaultError::Malformed {
        vault: vault.to_string(),
        operation: op,
        detail: format!("the answer's secret id is unusable: {e}"),
    })?;
    let version = rid.version.clone().unwrap_or_default();
    let attrs = secret.attributes.as_ref();
    let info = VersionInfo {
        id: rid.source_id.clone(),
        name: rid.name.clone(),
        version,
        tags: secret
            .tags
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        enabled: attrs.and_then(|a| a.enabled),
        not_before: attrs.and_then(|a| a.not_before).and_then(to_chrono),
        expires: attrs.and_then(|a| a.expires).and_then(to_chrono),
        created: attrs.and_then(|a| a.created).and_then(to_chrono),
        updated: attrs.and_then(|a| a.updated).and_then(to_chrono),
        content_type: secret.content_type.clone(),
    };
    Ok((info, secret.value.map(SecretString::from)))
}
