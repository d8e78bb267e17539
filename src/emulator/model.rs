//! The emulated directory: applications, service principals, users, owners, audit events and the change counter
//! that drives delta queries. Kept as plain structs (ids as `Uuid`, dates as `DateTime<Utc>`) and rendered to JSON
//! per request, so a 50,000-app tenant costs a few tens of MB and no pre-rendered text.
use super::audit::{self, AuditEvent, Caller};
use super::permissions::{Permissions, graph_service_principal};
use super::seed::SplitMix64;
use super::signin::SignInLog;
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub(crate) struct PasswordCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The secret's value. `None` for seeded credentials: their value is derived from the keyId (see
    /// [`derived_secret`]), which keeps a generated tenant lean and lets the demo vault hold matching values.
    pub secret_text: Option<String>,
}

impl PasswordCredential {
    pub fn secret(&self) -> String {
        self.secret_text
            .clone()
            .unwrap_or_else(|| derived_secret(self.key_id))
    }
    pub fn hint(&self) -> String {
        self.secret().chars().take(3).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUsage {
    Verify,
    Sign,
}

impl KeyUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Verify => "Verify",
            KeyUsage::Sign => "Sign",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct KeyCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub usage: KeyUsage,
    /// Base64 of the certificate thumbprint; the Sign and Verify entries of one certificate share it.
    pub custom_key_identifier: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Application {
    pub id: Uuid,
    pub app_id: Uuid,
    pub display_name: String,
    pub created: DateTime<Utc>,
    pub sign_in_audience: &'static str,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub identifier_uris: Vec<String>,
    pub password_credentials: Vec<PasswordCredential>,
    pub key_credentials: Vec<KeyCredential>,
    /// Object ids of users or service principals.
    pub owners: Vec<Uuid>,
    /// Change sequence number of the last mutation (delta queries return what changed after a token's number).
    pub seq: u64,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ServicePrincipal {
    pub id: Uuid,
    pub app_id: Uuid,
    pub display_name: String,
    pub account_enabled: bool,
    /// The tenant that owns the application (ours, or a publisher's for a multi-tenant app).
    pub app_owner_organization_id: Uuid,
    pub sign_in_audience: &'static str,
    pub preferred_single_sign_on_mode: Option<&'static str>,
    pub preferred_token_signing_key_thumbprint: Option<String>,
    pub tags: Vec<String>,
    pub password_credentials: Vec<PasswordCredential>,
    pub key_credentials: Vec<KeyCredential>,
    pub owners: Vec<Uuid>,
    pub seq: u64,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: Uuid,
    pub display_name: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
}

pub(crate) const AUDIENCES: [&str; 4] = [
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

pub(crate) fn audience(s: Option<&str>) -> &'static str {
    s.and_then(|s| {
        AUDIENCES
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s))
            .copied()
    })
    .unwrap_or(AUDIENCES[0])
}

/// Which kind of directory object a credential operation targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Application,
    ServicePrincipal,
}

impl Kind {
    /// The entity-set name used in URLs and `@odata.context`.
    pub fn set_name(self) -> &'static str {
        match self {
            Kind::Application => "applications",
            Kind::ServicePrincipal => "servicePrincipals",
        }
    }
    pub fn odata_type(self) -> &'static str {
        match self {
            Kind::Application => "#microsoft.graph.application",
            Kind::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        }
    }
    /// The resource name Graph uses in directory error messages.
    pub fn resource_name(self) -> &'static str {
        match self {
            Kind::Application => "Application",
            Kind::ServicePrincipal => "ServicePrincipal",
        }
    }
}

/// A directory object that can own an application.
pub(crate) enum Owner<'a> {
    User(&'a User),
    ServicePrincipal(&'a ServicePrincipal),
    /// The service principal of an emulator client (not listed under /servicePrincipals).
    Client {
        id: Uuid,
        app_id: Uuid,
        display_name: &'a str,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct NewPassword {
    pub display_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RemoveError {
    /// No such keyId, or it was added so recently that (as on a real tenant) it is not replicated yet.
    NoSuchKey,
}

#[derive(Debug)]
pub(crate) struct Tenant {
    pub tenant_id: Uuid,
    pub domain: String,
    pub apps: Vec<Application>,
    app_by_id: HashMap<Uuid, usize>,
    app_by_app_id: HashMap<Uuid, usize>,
    pub sps: Vec<ServicePrincipal>,
    sp_by_id: HashMap<Uuid, usize>,
    sp_by_app_id: HashMap<Uuid, usize>,
    pub users: Vec<User>,
    user_by_id: HashMap<Uuid, usize>,
    /// Oldest first; listed newest first.
    pub audits: Vec<AuditEvent>,
    /// Content types with an enabled Management Activity API subscription.
    pub office365_subscriptions: Vec<String>,
    /// The change counter: bumped by every mutation of an application or service principal.
    pub seq: u64,
    /// When each password added through the API was added: removePassword within the replication lag fails.
    recent_adds: HashMap<Uuid, Instant>,
    audit_rng: SplitMix64,
    /// Service principals of emulator clients: sp object id -> (appId, display name).
    clients: HashMap<Uuid, (Uuid, String)>,
    /// Client-credentials sign-in attempts and last use per credential.
    pub sign_ins: SignInLog,
    /// Application permissions granted, and the app management policy.
    pub permissions: Permissions,
}

impl Tenant {
    pub fn new(tenant_id: Uuid, domain: String) -> Tenant {
        Tenant {
            tenant_id,
            domain,
            apps: Vec::new(),
            app_by_id: HashMap::new(),
            app_by_app_id: HashMap::new(),
            sps: Vec::new(),
            sp_by_id: HashMap::new(),
            sp_by_app_id: HashMap::new(),
            users: Vec::new(),
            user_by_id: HashMap::new(),
            audits: Vec::new(),
            office365_subscriptions: Vec::new(),
            seq: 0,
            recent_adds: HashMap::new(),
            audit_rng: SplitMix64::new(tenant_id.as_u128() as u64),
            clients: HashMap::new(),
            sign_ins: SignInLog::default(),
            permissions: Permissions::default(),
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn push_app(&mut self, mut app: Application) {
        app.seq = self.next_seq();
        self.app_by_id.insert(app.id, self.apps.len());
        self.app_by_app_id.insert(app.app_id, self.apps.len());
        self.apps.push(app);
    }

    pub fn push_sp(&mut self, mut sp: ServicePrincipal) {
        sp.seq = self.next_seq();
        self.sp_by_id.insert(sp.id, self.sps.len());
        self.sp_by_app_id.insert(sp.app_id, self.sps.len());
        self.sps.push(sp);
    }

    pub fn push_user(&mut self, user: User) {
        self.user_by_id.insert(user.id, self.users.len());
        self.users.push(user);
    }

    pub fn reserve(&mut self, apps: usize) {
        self.apps.reserve(apps);
        self.sps.reserve(apps);
        self.app_by_id.reserve(apps);
        self.app_by_app_id.reserve(apps);
        self.sp_by_id.reserve(apps);
        self.sp_by_app_id.reserve(apps);
    }

    /// Index of a live (not deleted) object by object id or appId.
    pub fn find(&self, kind: Kind, id: &Uuid, by_app_id: bool) -> Option<usize> {
        let map = match (kind, by_app_id) {
            (Kind::Application, false) => &self.app_by_id,
            (Kind::Application, true) => &self.app_by_app_id,
            (Kind::ServicePrincipal, false) => &self.sp_by_id,
            (Kind::ServicePrincipal, true) => &self.sp_by_app_id,
        };
        let idx = *map.get(id)?;
        let live = match kind {
            Kind::Application => !self.apps[idx].deleted,
            Kind::ServicePrincipal => !self.sps[idx].deleted,
        };
        live.then_some(idx)
    }

    /// An application by object id or appId (admin hooks accept either).
    pub fn find_app_any(&self, id: &str) -> Option<usize> {
        let id = Uuid::parse_str(id.trim()).ok()?;
        self.find(Kind::Application, &id, false)
            .or_else(|| self.find(Kind::Application, &id, true))
    }

    pub fn principal(&self, id: &Uuid) -> Option<Owner<'_>> {
        if let Some(i) = self.user_by_id.get(id) {
            return Some(Owner::User(&self.users[*i]));
        }
        if let Some((app_id, name)) = self.clients.get(id) {
            return Some(Owner::Client {
                id: *id,
                app_id: *app_id,
                display_name: name,
            });
        }
        let i = self.find(Kind::ServicePrincipal, id, false)?;
        Some(Owner::ServicePrincipal(&self.sps[i]))
    }

    pub fn register_client(
        &mut self,
        service_principal_id: Uuid,
        app_id: Uuid,
        display_name: &str,
    ) {
        self.clients
            .insert(service_principal_id, (app_id, display_name.to_string()));
    }

    pub fn user(&self, id: &Uuid) -> Option<&User> {
        self.user_by_id.get(id).map(|i| &self.users[*i])
    }

    pub fn owners(&self, kind: Kind, idx: usize) -> &[Uuid] {
        match kind {
            Kind::Application => &self.apps[idx].owners,
            Kind::ServicePrincipal => &self.sps[idx].owners,
        }
    }

    pub fn display_name(&self, kind: Kind, idx: usize) -> &str {
        match kind {
            Kind::Application => &self.apps[idx].display_name,
            Kind::ServicePrincipal => &self.sps[idx].display_name,
        }
    }

    fn object_id(&self, kind: Kind, idx: usize) -> Uuid {
        match kind {
            Kind::Application => self.apps[idx].id,
            Kind::ServicePrincipal => self.sps[idx].id,
        }
    }

    fn creds_mut(
        &mut self,
        kind: Kind,
        idx: usize,
    ) -> (&mut Vec<PasswordCredential>, &mut Vec<KeyCredential>) {
        match kind {
            Kind::Application => {
                let a = &mut self.apps[idx];
                (&mut a.password_credentials, &mut a.key_credentials)
            }
            Kind::ServicePrincipal => {
                let s = &mut self.sps[idx];
                (&mut s.password_credentials, &mut s.key_credentials)
            }
        }
    }

    fn touch(&mut self, kind: Kind, idx: usize) {
        let seq = self.next_seq();
        match kind {
            Kind::Application => self.apps[idx].seq = seq,
            Kind::ServicePrincipal => self.sps[idx].seq = seq,
        }
    }

    /// KeyDescription entries for every credential of the object, the way the audit log lists them.
    fn key_descriptions(&mut self, kind: Kind, idx: usize) -> Vec<String> {
        let (pw, keys) = self.creds_mut(kind, idx);
        let mut out: Vec<String> = keys
            .iter()
            .map(|k| {
                audit::key_description(
                    k.key_id,
                    "AsymmetricX509Cert",
                    k.usage.as_str(),
                    k.display_name.as_deref(),
                )
            })
            .collect();
        out.extend(pw.iter().map(|p| {
            audit::key_description(p.key_id, "Password", "Verify", p.display_name.as_deref())
        }));
        out
    }

    /// addPassword: a new secret (40 characters, Entra's `xxx8Q~...` shape), default lifetime two years, plus the
    /// audit events the real service writes.
    pub fn add_password(
        &mut self,
        kind: Kind,
        idx: usize,
        req: NewPassword,
        caller: &Caller,
    ) -> PasswordCredential {
        let (start, end) = password_dates(&req);
        let cred = PasswordCredential {
            key_id: Uuid::new_v4(),
            display_name: req.display_name,
            start,
            end,
            secret_text: Some(new_secret_text()),
        };
        let before = self.key_descriptions(kind, idx);
        self.creds_mut(kind, idx).0.push(cred.clone());
        let after = self.key_descriptions(kind, idx);
        self.recent_adds.insert(cred.key_id, Instant::now());
        self.touch(kind, idx);
        self.record_credential_change(kind, idx, true, before, after, caller);
        cred
    }

    /// True for a password added through addPassword less than `age` ago (not propagated or replicated yet).
    pub fn added_less_than(&self, key_id: &Uuid, age: Duration) -> bool {
        self.recent_adds
            .get(key_id)
            .is_some_and(|added| added.elapsed() < age)
    }

    /// removePassword. A keyId added less than `lag` ago is "not replicated yet" and fails like an unknown one.
    pub fn remove_password(
        &mut self,
        kind: Kind,
        idx: usize,
        key_id: Uuid,
        lag: Duration,
        caller: &Caller,
    ) -> Result<(), RemoveError> {
        if let Some(added) = self.recent_adds.get(&key_id) {
            if added.elapsed() < lag {
                return Err(RemoveError::NoSuchKey);
            }
            self.recent_adds.remove(&key_id);
        }
        let pos = self
            .creds_mut(kind, idx)
            .0
            .iter()
            .position(|p| p.key_id == key_id)
            .ok_or(RemoveError::NoSuchKey)?;
        let before = self.key_descriptions(kind, idx);
        self.creds_mut(kind, idx).0.remove(pos);
        let after = self.key_descriptions(kind, idx);
        self.touch(kind, idx);
        self.record_credential_change(kind, idx, false, before, after, caller);
        Ok(())
    }

    /// Keep only the key credentials listed (a PATCH of `keyCredentials`); `Err(keyId)` names one the object does
    /// not have (nothing changes then).
    pub fn retain_key_credentials(
        &mut self,
        kind: Kind,
        idx: usize,
        keep: &[Uuid],
        caller: &Caller,
    ) -> Result<(), Uuid> {
        if let Some(unknown) = keep
            .iter()
            .find(|k| !self.creds_mut(kind, idx).1.iter().any(|c| c.key_id == **k))
        {
            return Err(*unknown);
        }
        let before = self.key_descriptions(kind, idx);
        self.creds_mut(kind, idx)
            .1
            .retain(|c| keep.contains(&c.key_id));
        let after = self.key_descriptions(kind, idx);
        if before != after {
            self.touch(kind, idx);
            self.record_credential_change(kind, idx, false, before, after, caller);
        }
        Ok(())
    }

    fn record_credential_change(
        &mut self,
        kind: Kind,
        idx: usize,
        added: bool,
        before: Vec<String>,
        after: Vec<String>,
        caller: &Caller,
    ) {
        let object_id = self.object_id(kind, idx);
        let name = self.display_name(kind, idx).to_string();
        let events = audit::credential_change(
            &mut self.audit_rng,
            graph_now(),
            kind,
            object_id,
            &name,
            added,
            &before,
            &after,
            caller,
        );
        self.audits.extend(events);
    }

    pub fn rename_app(&mut self, idx: usize, name: &str) {
        self.apps[idx].display_name = name.to_string();
        self.touch(Kind::Application, idx);
    }

    /// Delete an application and its service principal (delta then reports both as removed).
    pub fn delete_app(&mut self, idx: usize) {
        self.apps[idx].deleted = true;
        self.touch(Kind::Application, idx);
        let app_id = self.apps[idx].app_id;
        if let Some(sp) = self.find(Kind::ServicePrincipal, &app_id, true) {
            self.sps[sp].deleted = true;
            self.touch(Kind::ServicePrincipal, sp);
        }
    }

    /// Add Microsoft Graph's service principal (the resource of application permissions); returns its id.
    pub fn install_graph_resource(&mut self) -> Uuid {
        if let Some(id) = self.permissions.graph_sp {
            return id;
        }
        // Stable per tenant, so a demo's ids stay the same from run to run.
        let id =
            Uuid::from_u128(self.tenant_id.as_u128() ^ 0x4d53_4752_4150_4800_0000_0000_0000_0003);
        self.push_sp(graph_service_principal(id));
        self.permissions.graph_sp = Some(id);
        id
    }

    /// Grant a Microsoft Graph application permission to a service principal (by object id). False when unknown.
    pub fn grant_graph_role(&mut self, sp_id: Uuid, role: &str) -> bool {
        let Some(idx) = self.find(Kind::ServicePrincipal, &sp_id, false) else {
            return false;
        };
        let name = self.sps[idx].display_name.clone();
        self.permissions.grant(sp_id, &name, role, graph_now())
    }

    /// The Graph roles an app-only token of this service principal carries.
    pub fn granted_app_roles(&self, sp_id: Uuid) -> Vec<String> {
        self.permissions.granted_graph_roles(sp_id)
    }

    /// Delete an application's service principal (the application stays).
    pub fn delete_service_principal(&mut self, app_idx: usize) {
        let app_id = self.apps[app_idx].app_id;
        if let Some(sp) = self.find(Kind::ServicePrincipal, &app_id, true) {
            self.sps[sp].deleted = true;
            self.touch(Kind::ServicePrincipal, sp);
        }
    }

    pub fn add_owner(&mut self, idx: usize, owner: Uuid) {
        if !self.apps[idx].owners.contains(&owner) {
            self.apps[idx].owners.push(owner);
            self.touch(Kind::Application, idx);
        }
    }

    /// A new application (and its service principal) with no credentials.
    pub fn create_app(&mut self, display_name: &str) -> (Uuid, Uuid) {
        let now = graph_now();
        let app = Application {
            id: Uuid::new_v4(),
            app_id: Uuid::new_v4(),
            display_name: display_name.to_string(),
            created: now,
            sign_in_audience: AUDIENCES[0],
            notes: None,
            tags: Vec::new(),
            identifier_uris: Vec::new(),
            password_credentials: Vec::new(),
            key_credentials: Vec::new(),
            owners: Vec::new(),
            seq: 0,
            deleted: false,
        };
        let ids = (app.id, app.app_id);
        let sp = ServicePrincipal {
            id: Uuid::new_v4(),
            app_id: app.app_id,
            display_name: display_name.to_string(),
            account_enabled: true,
            app_owner_organization_id: self.tenant_id,
            sign_in_audience: AUDIENCES[0],
            preferred_single_sign_on_mode: None,
            preferred_token_signing_key_thumbprint: None,
            tags: Vec::new(),
            password_credentials: Vec::new(),
            key_credentials: Vec::new(),
            owners: Vec::new(),
            seq: 0,
            deleted: false,
        };
        self.push_app(app);
        self.push_sp(sp);
        ids
    }
}

/// The start and end an addPassword request gets: now and two years later unless it names them.
pub(crate) fn password_dates(req: &NewPassword) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = req.start.unwrap_or_else(graph_now);
    let end = req.end.unwrap_or_else(|| start + ChronoDuration::days(730));
    (start, end)
}

/// Now, at the 100 ns resolution Graph timestamps carry.
pub(crate) fn graph_now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(7)
}

/// RFC 3339 the way Graph writes it: `2021-09-09T19:50:29.3086381Z` (7 fractional digits) or, for whole
/// seconds, `2024-01-01T00:00:00Z`. Clients must accept 0 to 7 digits (docs/ARCHITECTURE.md section 2).
pub(crate) fn graph_time(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        let hundred_ns = t.timestamp_subsec_nanos() / 100;
        format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), hundred_ns)
    }
}

/// Alphabet of Entra-generated client secrets.
const SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";

fn secret_from(bytes: impl Iterator<Item = u8>) -> String {
    // 40 characters shaped like current Entra secrets: three characters, "8Q~", then 34 more.
    let chars: Vec<char> = bytes
        .map(|b| SECRET_ALPHABET[b as usize % SECRET_ALPHABET.len()] as char)
        .collect();
    let mut s: String = chars[..3].iter().collect();
    s.push_str("8Q~");
    s.extend(chars[3..37].iter());
    s
}

pub(crate) fn new_secret_text() -> String {
    secret_from(super::http::random_bytes(37).into_iter())
}

/// The value of a seeded secret, derived from its keyId so it need not be stored (and so demo vault entries can
/// hold the same value as the credential they map).
pub(crate) fn derived_secret(key_id: Uuid) -> String {
    let mut rng = SplitMix64::new(
        (key_id.as_u128() >> 64) as u64 ^ key_id.as_u128() as u64 ^ 0x6b65_7974_7572_6e21,
    );
    secret_from((0..37).map(|_| rng.next_u64() as u8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn graph_time_digits() {
        let whole = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(graph_time(&whole), "2024-01-01T00:00:00Z");
        let frac = whole + ChronoDuration::nanoseconds(308_638_100);
        assert_eq!(graph_time(&frac), "2024-01-01T00:00:00.3086381Z");
    }

    #[test]
    fn secrets_have_entra_shape() {
        let s = new_secret_text();
        assert_eq!(s.len(), 40);
        assert_eq!(&s[3..6], "8Q~");
        let k = Uuid::new_v4();
        assert_eq!(derived_secret(k), derived_secret(k));
        assert_eq!(derived_secret(k).len(), 40);
    }
}
