//! In-memory Graph and Key Vault for unit tests of every transition, with scripted faults, including "answer
//! lost" (the fake applies the change, then reports an error).
use super::ports::{GraphApi, VaultApi};
use super::proof::{SignInApi, SignInOutcome};
use crate::graph::{
    AppId, Application, GraphError, KeyId, NewPasswordCredential, ObjectId, PasswordCredential,
};
use crate::keyvault::{
    KeyVaultError, NewVersion, SecretSummary, SecretTarget, VaultOp, VaultSecret, VersionInfo,
};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What a scripted fault does to the next matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Refuse; nothing happens (a 403-like answer).
    Refuse,
    /// Fail with a server error; nothing happens.
    ServerError,
    /// Apply, then fail as if the answer was lost.
    ApplyThenFail,
    /// (vault get) answer a different value than the stored one.
    Corrupt,
    /// (list passwords) answer without the credentials added through addPassword, as a replica that has not
    /// seen them yet does.
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeOp {
    AddPassword,
    RemovePassword,
    ListPasswords,
    VaultSet,
    VaultGet,
    VaultLatest,
}

#[derive(Default)]
struct Faults {
    list: Vec<(FakeOp, Behaviour, u32)>,
}

impl Faults {
    fn take(&mut self, op: FakeOp) -> Option<Behaviour> {
        let i = self.list.iter().position(|(o, _, n)| *o == op && *n > 0)?;
        self.list[i].2 -= 1;
        Some(self.list[i].1)
    }
}

#[derive(Debug, Clone)]
pub struct FakeCredential {
    pub cred: PasswordCredential,
    pub value: String,
}

#[derive(Default)]
struct GraphState {
    apps: HashMap<ObjectId, (Application, Vec<FakeCredential>)>,
    next: u32,
    removed: Vec<KeyId>,
}

/// How the fake token endpoint answers sign-ins with an app's secret.
#[derive(Default)]
struct SignInState {
    /// This many attempts are refused as "not propagated yet" (AADSTS7000215) before a valid secret works.
    not_yet: u32,
    /// A permanent refusal (no service principal, conditional access), as the token endpoint's body.
    refusal: Option<(u16, String)>,
    /// Last sign-in per keyId (the beta report).
    last_use: HashMap<String, DateTime<Utc>>,
    /// The last-use report answers 403 (no P1/P2 licence).
    last_use_forbidden: bool,
}

/// A tenant of app registrations with their secrets' values, and a token endpoint that accepts them.
#[derive(Clone, Default)]
pub struct FakeGraph {
    state: Arc<Mutex<GraphState>>,
    faults: Arc<Mutex<Faults>>,
    lifetime_cap: Arc<Mutex<Option<crate::graph::LifetimeCap>>>,
    sign_in: Arc<Mutex<SignInState>>,
    /// `addPassword <key>`, `removePassword <key>`, `signIn <key>`, in the order they took effect.
    log: Arc<Mutex<Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl FakeGraph {
    pub fn add_app(
        &self,
        object_id: &str,
        app_id: &str,
        name: &str,
        secrets: &[(&str, &str, DateTime<Utc>)],
    ) {
        let creds: Vec<FakeCredential> = secrets
            .iter()
            .map(|(key, value, end)| FakeCredential {
                cred: PasswordCredential {
                    key_id: KeyId::new(*key),
                    display_name: Some(format!("secret {key}")),
                    hint: Some(value.chars().take(3).collect()),
                    start_date_time: None,
                    end_date_time: Some(*end),
                    custom_key_identifier: None,
                },
                value: value.to_string(),
            })
            .collect();
        let app = Application {
            id: ObjectId::new(object_id),
            app_id: AppId::new(app_id),
            display_name: Some(name.to_string()),
            created_date_time: None,
            sign_in_audience: None,
            password_credentials: creds.iter().map(|c| c.cred.clone()).collect(),
            key_credentials: Vec::new(),
        };
        lock(&self.state)
            .apps
            .insert(ObjectId::new(object_id), (app, creds));
    }

    /// The tenant's app management policy caps new secrets at this lifetime.
    pub fn set_lifetime_cap(&self, cap: crate::graph::LifetimeCap) {
        *lock(&self.lifetime_cap) = Some(cap);
    }

    pub fn fault(&self, op: FakeOp, b: Behaviour, times: u32) {
        lock(&self.faults).list.push((op, b, times));
    }

    pub fn credentials(&self, app: &str) -> Vec<FakeCredential> {
        lock(&self.state)
            .apps
            .get(&ObjectId::new(app))
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    pub fn removed(&self) -> Vec<KeyId> {
        lock(&self.state).removed.clone()
    }

    /// What took effect, in order (`addPassword k`, `removePassword k`, `signIn k`).
    pub fn log(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// The next `n` sign-ins with a valid secret are refused as not propagated yet.
    pub fn propagation_attempts(&self, n: u32) {
        lock(&self.sign_in).not_yet = n;
    }

    /// Every sign-in is refused with this token-endpoint answer.
    pub fn refuse_sign_in(&self, status: u16, body: &str) {
        lock(&self.sign_in).refusal = Some((status, body.to_string()));
    }

    /// Sign-ins work again (the cause of a refusal was fixed).
    pub fn accept_sign_in(&self) {
        let mut si = lock(&self.sign_in);
        si.refusal = None;
        si.not_yet = 0;
    }

    /// Remove a credential behind keyturn's back (someone in the portal).
    pub fn delete_credential(&self, app: &str, key: &str) {
        if let Some((_, creds)) = lock(&self.state).apps.get_mut(&ObjectId::new(app)) {
            creds.retain(|c| c.cred.key_id.as_str() != key);
        }
    }

    pub fn set_last_use(&self, key: &str, at: DateTime<Utc>) {
        lock(&self.sign_in).last_use.insert(key.to_string(), at);
    }

    pub fn forbid_last_use(&self) {
        lock(&self.sign_in).last_use_forbidden = true;
    }

    fn err(op: &'static str, b: Behaviour) -> GraphError {
        match b {
            Behaviour::Refuse => GraphError::Forbidden {
                operation: op,
                missing_permission: "Application.ReadWrite.All",
                code: "Authorization_RequestDenied".into(),
                message: "no".into(),
            },
            _ => GraphError::Server {
                operation: op,
                status: 500,
                attempts: 1,
                code: "InternalServerError".into(),
                message: "boom".into(),
            },
        }
    }
}

impl GraphApi for FakeGraph {
    async fn password_lifetime_cap(
        &self,
        _app: &ObjectId,
        _created: Option<DateTime<Utc>>,
    ) -> Option<crate::graph::LifetimeCap> {
        lock(&self.lifetime_cap).clone()
    }

    async fn find_application(&self, id_or_app_id: &str) -> Result<Application, GraphError> {
        let s = lock(&self.state);
        s.apps
            .values()
            .find(|(a, _)| a.id.as_str() == id_or_app_id || a.app_id.as_str() == id_or_app_id)
            .map(|(a, c)| {
                let mut a = a.clone();
                a.password_credentials = c.iter().map(|c| c.cred.clone()).collect();
                a
            })
            .ok_or_else(|| GraphError::NotFound {
                what: id_or_app_id.to_string(),
                message: "no such app".into(),
            })
    }

    async fn password_credentials(
        &self,
        app: &ObjectId,
    ) -> Result<Vec<PasswordCredential>, GraphError> {
        let fault = lock(&self.faults).take(FakeOp::ListPasswords);
        if let Some(b) = fault
            && b != Behaviour::Stale
        {
            return Err(Self::err("read application", b));
        }
        let s = lock(&self.state);
        let (_, creds) = s.apps.get(app).ok_or_else(|| GraphError::NotFound {
            what: app.to_string(),
            message: "no such app".into(),
        })?;
        Ok(creds
            .iter()
            .filter(|c| {
                fault != Some(Behaviour::Stale) || !c.cred.key_id.as_str().starts_with("new-key-")
            })
            .map(|c| c.cred.clone())
            .collect())
    }

    async fn add_password(
        &self,
        app: &ObjectId,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPasswordCredential, GraphError> {
        let fault = lock(&self.faults).take(FakeOp::AddPassword);
        if let Some(b) = fault
            && b != Behaviour::ApplyThenFail
        {
            return Err(Self::err("addPassword", b));
        }
        let mut s = lock(&self.state);
        s.next += 1;
        let n = s.next;
        let key = KeyId::new(format!("new-key-{n}"));
        let value = format!("NEW~value~{n}~abcdefghijklmnop");
        let cred = PasswordCredential {
            key_id: key.clone(),
            display_name: Some(display_name.to_string()),
            hint: Some(value.chars().take(3).collect()),
            start_date_time: None,
            end_date_time: Some(end),
            custom_key_identifier: None,
        };
        let (_, creds) = s.apps.get_mut(app).ok_or_else(|| GraphError::NotFound {
            what: app.to_string(),
            message: "no such app".into(),
        })?;
        creds.push(FakeCredential {
            cred: cred.clone(),
            value: value.clone(),
        });
        lock(&self.log).push(format!("addPassword {key}"));
        if fault == Some(Behaviour::ApplyThenFail) {
            return Err(Self::err("addPassword", Behaviour::ServerError));
        }
        Ok(NewPasswordCredential {
            key_id: key,
            display_name: cred.display_name,
            hint: cred.hint,
            start_date_time: None,
            end_date_time: Some(end),
            secret_text: SecretString::from(value),
        })
    }

    async fn credential_last_sign_in(
        &self,
        _app_id: &AppId,
        key_id: &KeyId,
    ) -> Result<crate::graph::LastUse<Option<DateTime<Utc>>>, GraphError> {
        let si = lock(&self.sign_in);
        if si.last_use_forbidden {
            return Ok(crate::graph::LastUse::Unavailable {
                reason: format!("{}: no licence", crate::graph::LAST_USE_UNKNOWN),
            });
        }
        Ok(crate::graph::LastUse::Known(
            si.last_use.get(key_id.as_str()).copied(),
        ))
    }

    async fn remove_password(&self, app: &ObjectId, key_id: &KeyId) -> Result<(), GraphError> {
        let fault = lock(&self.faults).take(FakeOp::RemovePassword);
        if let Some(b) = fault
            && b != Behaviour::ApplyThenFail
        {
            return Err(Self::err("removePassword", b));
        }
        let mut s = lock(&self.state);
        let (_, creds) = s.apps.get_mut(app).ok_or_else(|| GraphError::NotFound {
            what: app.to_string(),
            message: "no such app".into(),
        })?;
        let before = creds.len();
        creds.retain(|c| &c.cred.key_id != key_id);
        if creds.len() == before {
            return Err(GraphError::BadRequest {
                operation: "removePassword",
                status: 400,
                code: "InvalidKeyId".into(),
                message: "no such key".into(),
            });
        }
        s.removed.push(key_id.clone());
        lock(&self.log).push(format!("removePassword {key_id}"));
        if fault == Some(Behaviour::ApplyThenFail) {
            return Err(Self::err("removePassword", Behaviour::ServerError));
        }
        Ok(())
    }
}

impl SignInApi for FakeGraph {
    async fn sign_in_as(&self, app_id: &AppId, secret: &SecretString) -> SignInOutcome {
        let key = {
            let s = lock(&self.state);
            s.apps
                .values()
                .find(|(a, _)| &a.app_id == app_id)
                .and_then(|(_, creds)| {
                    creds
                        .iter()
                        .find(|c| c.value == secret.expose_secret())
                        .map(|c| c.cred.key_id.clone())
                })
        };
        let mut si = lock(&self.sign_in);
        if let Some((status, body)) = &si.refusal {
            return super::proof::classify(*status, body);
        }
        let Some(key) = key else {
            return SignInOutcome::NotYet(
                "HTTP 401: AADSTS7000215: Invalid client secret provided.".into(),
            );
        };
        if si.not_yet > 0 {
            si.not_yet -= 1;
            return SignInOutcome::NotYet(
                "HTTP 401: AADSTS7000215: Invalid client secret provided.".into(),
            );
        }
        lock(&self.log).push(format!("signIn {key}"));
        SignInOutcome::Accepted
    }
}

#[derive(Debug, Clone)]
pub struct FakeVersion {
    pub version: String,
    pub value: String,
    pub new: NewVersion,
}

#[derive(Default)]
struct VaultState {
    secrets: HashMap<(String, String), Vec<FakeVersion>>,
    next: u32,
}

/// Vaults of versioned secrets.
#[derive(Clone, Default)]
pub struct FakeVault {
    state: Arc<Mutex<VaultState>>,
    faults: Arc<Mutex<Faults>>,
}

impl FakeVault {
    pub fn put(&self, target: &SecretTarget, value: &str, tags: &[(&str, &str)]) -> String {
        let new = NewVersion {
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        self.store(target, value, &new)
    }

    fn store(&self, target: &SecretTarget, value: &str, new: &NewVersion) -> String {
        let mut s = lock(&self.state);
        s.next += 1;
        let version = format!("v{:02}", s.next);
        s.secrets
            .entry((target.vault_url.clone(), target.name.clone()))
            .or_default()
            .push(FakeVersion {
                version: version.clone(),
                value: value.to_string(),
                new: new.clone(),
            });
        version
    }

    pub fn versions(&self, target: &SecretTarget) -> Vec<FakeVersion> {
        lock(&self.state)
            .secrets
            .get(&(target.vault_url.clone(), target.name.clone()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn fault(&self, op: FakeOp, b: Behaviour, times: u32) {
        lock(&self.faults).list.push((op, b, times));
    }

    fn info(target: &SecretTarget, v: &FakeVersion) -> VersionInfo {
        VersionInfo {
            id: target.version_id(&v.version),
            name: target.name.clone(),
            version: v.version.clone(),
            tags: v.new.tags.clone(),
            enabled: Some(true),
            not_before: v.new.not_before,
            expires: v.new.expires,
            created: None,
            updated: None,
            content_type: v.new.content_type.clone(),
        }
    }

    fn err(target: &SecretTarget, op: VaultOp, b: Behaviour) -> KeyVaultError {
        match b {
            Behaviour::Refuse => KeyVaultError::Forbidden {
                vault: target.vault_url.clone(),
                operation: op,
                code: "Forbidden".into(),
                message: "no".into(),
                denial: crate::keyvault::VaultDenial::Other,
            },
            _ => KeyVaultError::Timeout {
                vault: target.vault_url.clone(),
                operation: op,
                after: std::time::Duration::from_secs(3),
            },
        }
    }

    fn find(
        &self,
        target: &SecretTarget,
        version: Option<&str>,
    ) -> Result<FakeVersion, KeyVaultError> {
        let versions = self.versions(target);
        let found = match version {
            None => versions.last().cloned(),
            Some(v) => versions.iter().find(|x| x.version == v).cloned(),
        };
        found.ok_or_else(|| KeyVaultError::NotFound {
            vault: target.vault_url.clone(),
            operation: VaultOp::Get,
            message: "SecretNotFound".into(),
        })
    }
}

impl VaultApi for FakeVault {
    async fn set_secret(
        &self,
        target: &SecretTarget,
        value: &SecretString,
        new: &NewVersion,
    ) -> Result<VersionInfo, KeyVaultError> {
        let fault = lock(&self.faults).take(FakeOp::VaultSet);
        if let Some(b) = fault
            && b != Behaviour::ApplyThenFail
        {
            return Err(Self::err(target, VaultOp::Set, b));
        }
        let version = self.store(target, value.expose_secret(), new);
        if fault == Some(Behaviour::ApplyThenFail) {
            return Err(Self::err(target, VaultOp::Set, Behaviour::ServerError));
        }
        Ok(Self::info(target, &self.find(target, Some(&version))?))
    }

    async fn get_secret(
        &self,
        target: &SecretTarget,
        version: Option<&str>,
    ) -> Result<VaultSecret, KeyVaultError> {
        if let Some(b) = lock(&self.faults).take(FakeOp::VaultGet) {
            if b == Behaviour::Corrupt {
                let v = self.find(target, version)?;
                return Ok(VaultSecret {
                    info: Self::info(target, &v),
                    value: SecretString::from(format!("{}-corrupted", v.value)),
                });
            }
            return Err(Self::err(target, VaultOp::Get, b));
        }
        let v = self.find(target, version)?;
        Ok(VaultSecret {
            info: Self::info(target, &v),
            value: SecretString::from(v.value.clone()),
        })
    }

    async fn latest(&self, target: &SecretTarget) -> Result<Option<VersionInfo>, KeyVaultError> {
        if let Some(b) = lock(&self.faults).take(FakeOp::VaultLatest) {
            return Err(Self::err(target, VaultOp::Get, b));
        }
        Ok(self.versions(target).last().map(|v| Self::info(target, v)))
    }

    async fn list_secrets(&self, vault_url: &str) -> Result<Vec<SecretSummary>, KeyVaultError> {
        let s = lock(&self.state);
        Ok(s.secrets
            .iter()
            .filter(|((v, _), _)| v == vault_url)
            .filter_map(|((v, name), versions)| {
                versions.last().map(|last| SecretSummary {
                    vault_url: v.clone(),
                    name: name.clone(),
                    tags: last.new.tags.clone(),
                    enabled: Some(true),
                    updated: None,
                })
            })
            .collect())
    }
}

/// Tags of the latest version, for assertions.
pub fn latest_tags(vault: &FakeVault, target: &SecretTarget) -> BTreeMap<String, String> {
    vault
        .versions(target)
        .last()
        .map(|v| v.new.tags.clone())
        .unwrap_or_default()
}
