//! The impact of changing an app's credentials, gathered in one place for `keyturn show`, the TUI's detail view and
//! the plan screen: each credential's status, last sign-in and vault locations, the app's owners and application
//! permissions (privileged ones flagged), recent audit events and keyturn's own rotations of it.
//!
//! Only the application itself is required; everything else is optional data: when it cannot be read the field is
//! empty or null and one note says why (`notes`), never a failure.
use crate::graph::client::{APPLICATION_SELECT, ops as graph_ops, urlencode};
use crate::graph::{
    AppId, Application, DirectoryAudit, GrantedPermission, GraphClient, GraphError, KeyId, LastUse,
    ObjectId, ObjectType, Owner, audit,
};
use crate::inventory::{self, CredentialType, Entry, Status, Thresholds};
use crate::keyvault::{KeyVaultSecrets, SecretTarget};
use crate::store::journal::JournalEntry;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};

/// The built-in `unused_days`: no sign-in for 90 days.
pub const DEFAULT_UNUSED_DAYS: i64 = 90;

/// How far back `show` reads audit events (Entra P1/P2 keeps 30 days).
pub const AUDIT_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error(
        "no application matches {0:?}: give its appId, its object id or its exact display name (keyturn check --all lists them)"
    )]
    NotFound(String),
    #[error("{count} applications are named {name:?}: give the appId instead ({candidates})")]
    Ambiguous {
        name: String,
        count: usize,
        candidates: String,
    },
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// The app the operator named.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRef {
    pub object_type: ObjectType,
    pub object_id: ObjectId,
    pub app_id: AppId,
    pub display_name: String,
    pub created: Option<DateTime<Utc>>,
}

/// One credential with what depends on it.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialImpact {
    pub key_id: KeyId,
    pub credential_type: CredentialType,
    pub credential_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub status: Status,
    /// `None` when unknown or never signed in (`last_use_known` tells which).
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Vault secrets that hold this credential's value.
    pub stored_in: Vec<SecretTarget>,
    pub unused: bool,
}

/// Whether last-use data could be read for this app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LastUseState {
    Known,
    /// The reason, starting with [`crate::graph::LAST_USE_UNKNOWN`] for a licence/permission refusal.
    Unknown(String),
}

/// One audit event, as the operator reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSummary {
    pub activity_date_time: DateTime<Utc>,
    pub activity_display_name: String,
    pub initiated_by: String,
    pub result: Option<String>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppImpact {
    pub app: AppRef,
    pub credentials: Vec<CredentialImpact>,
    pub owners: Vec<Owner>,
    pub permissions: Vec<GrantedPermission>,
    /// `Some(false)`: the app has no service principal here, so it cannot sign in and holds no permissions.
    pub has_service_principal: Option<bool>,
    pub audit_events: Vec<AuditSummary>,
    pub rotations: Vec<JournalEntry>,
    pub last_use: LastUseState,
    /// One line per kind of data that could not be read.
    pub notes: Vec<String>,
    pub unused_days: i64,
}

impl AppImpact {
    pub fn privileged(&self) -> bool {
        self.permissions.iter().any(|p| p.privileged)
    }

    /// The latest sign-in of any credential of the app.
    pub fn last_sign_in(&self) -> Option<DateTime<Utc>> {
        self.credentials.iter().filter_map(|c| c.last_sign_in).max()
    }
}

/// "Unused": last use is known, the credential is older than the window, and it has not signed in within it.
pub fn is_unused(
    start: Option<DateTime<Utc>>,
    last_sign_in: Option<DateTime<Utc>>,
    last_use_known: bool,
    now: DateTime<Utc>,
    window_days: i64,
) -> bool {
    let since = now - Duration::days(window_days);
    last_use_known && start.is_some_and(|s| s <= since) && last_sign_in.is_none_or(|t| t < since)
}

/// Where to look for vault locations: the profile's vaults plus those of its explicit mappings.
#[derive(Clone)]
pub struct VaultSource {
    pub secrets: KeyVaultSecrets,
    pub vault_urls: Vec<String>,
}

/// What `gather` reads besides Graph.
pub struct GatherOptions<'a> {
    pub now: DateTime<Utc>,
    pub thresholds: Thresholds,
    pub unused_days: i64,
    pub vaults: Option<VaultSource>,
    /// keyturn's rotations (all of them; those of this app are picked).
    pub journal: &'a [JournalEntry],
}

/// What the TUI loads lazily for the selected app: last use per credential and the application permissions.
/// Cached with the inventory (as JSON) so that a warm start shows them at once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImpactFacts {
    pub last_use: LastUseState,
    /// Latest sign-in per keyId (keys lowercase).
    pub last_sign_in: HashMap<KeyId, DateTime<Utc>>,
    pub permissions: Vec<GrantedPermission>,
    pub has_service_principal: Option<bool>,
    /// Why permissions are unknown, when they are.
    pub permissions_unknown: Option<String>,
    /// The profile's window for "unused".
    pub unused_days: i64,
}

impl ImpactFacts {
    pub fn privileged(&self) -> bool {
        self.permissions.iter().any(|p| p.privileged)
    }

    /// The privileged permissions' names, made safe for a terminal, comma-separated ("" when none).
    pub fn privileged_names(&self) -> String {
        self.permissions
            .iter()
            .filter(|p| p.privileged)
            .map(|p| crate::safe_text::terminal(&p.value).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The latest sign-in of a credential (`None`: never, or unknown: see `last_use`).
    pub fn last_sign_in_of(&self, key: &KeyId) -> Option<DateTime<Utc>> {
        self.last_sign_in
            .get(&KeyId::new(key.as_str().to_ascii_lowercase()))
            .copied()
    }

    pub fn last_use_known(&self) -> bool {
        self.last_use == LastUseState::Known
    }

    /// Whether a credential that started at `start` counts as unused now.
    pub fn is_unused(&self, key: &KeyId, start: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        is_unused(
            start,
            self.last_sign_in_of(key),
            self.last_use_known(),
            now,
            self.unused_days,
        )
    }
}

/// Last use and permissions of one app. Never fails: what cannot be read is said in the result.
pub async fn facts(graph: &GraphClient, app_id: &AppId, unused_days: i64) -> ImpactFacts {
    let (sign_ins, sp) = tokio::join!(
        graph.credential_sign_ins(app_id),
        graph.service_principal_of(app_id)
    );
    let (last_use, last_sign_in) = match sign_ins {
        Ok(LastUse::Known(report)) => (
            LastUseState::Known,
            crate::graph::signins::last_sign_in_by_key(&report)
                .into_iter()
                .map(|(k, t)| (KeyId::new(k.as_str().to_ascii_lowercase()), t))
                .collect(),
        ),
        Ok(LastUse::Unavailable { reason }) => (LastUseState::Unknown(reason), HashMap::new()),
        Err(e) => (
            LastUseState::Unknown(format!("last use unknown: {e}")),
            HashMap::new(),
        ),
    };
    let (permissions, has_service_principal, permissions_unknown) = match sp {
        Ok(Some(sp)) => match graph.application_permissions(&sp.id).await {
            Ok(p) => (p, Some(true), None),
            Err(e) => (
                Vec::new(),
                Some(true),
                Some(format!("permissions unknown: {e}")),
            ),
        },
        Ok(None) => (Vec::new(), Some(false), None),
        Err(e) => (Vec::new(), None, Some(format!("permissions unknown: {e}"))),
    };
    ImpactFacts {
        last_use,
        last_sign_in,
        permissions,
        has_service_principal,
        permissions_unknown,
        unused_days,
    }
}

/// Find an application by appId, object id or exact display name.
pub async fn resolve_app(graph: &GraphClient, app: &str) -> Result<Application, ImpactError> {
    let app = app.trim();
    if uuid::Uuid::parse_str(app).is_ok() {
        return match graph.find_application(app).await {
            Ok(a) => Ok(a),
            Err(GraphError::NotFound { .. }) => Err(ImpactError::NotFound(app.to_string())),
            Err(e) => Err(e.into()),
        };
    }
    let filter = format!("displayName eq '{}'", app.replace('\'', "''"));
    let url = graph.url(&format!(
        "applications?$filter={}&$select={APPLICATION_SELECT}&$top=10",
        urlencode(&filter)
    ));
    let found: Vec<Application> = graph.collect_all(url, graph_ops::LIST_APPLICATIONS).await?;
    match found.len() {
        0 => Err(ImpactError::NotFound(app.to_string())),
        1 => Ok(found
            .into_iter()
            .next()
            .ok_or_else(|| ImpactError::NotFound(app.to_string()))?),
        n => Err(ImpactError::Ambiguous {
            name: app.to_string(),
            count: n,
            candidates: found
                .iter()
                .map(|a| a.app_id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// keyId -> vault secrets holding it, from the `CredentialId` tags of the listed vaults' secrets.
pub async fn vault_locations(
    vaults: &VaultSource,
    notes: &mut Notes,
) -> HashMap<KeyId, Vec<SecretTarget>> {
    let mut found = Vec::new();
    for url in &vaults.vault_urls {
        match vaults.secrets.list_secrets(url).await {
            Ok(list) => found.extend(list),
            Err(e) => notes.push(format!("vault locations from {url} unknown: {e}")),
        }
    }
    let mut by_key: HashMap<KeyId, Vec<SecretTarget>> = HashMap::new();
    for (key, target) in crate::keyvault::mapping::stored_in_index(&found) {
        by_key.entry(key).or_default().push(target);
    }
    by_key
}

/// Notes without repeats, in the order they arose.
#[derive(Debug, Default)]
pub struct Notes(Vec<String>);

impl Notes {
    pub fn push(&mut self, note: String) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Everything about one application. Fails only when the application cannot be read.
pub async fn gather(
    graph: &GraphClient,
    app: Application,
    opts: GatherOptions<'_>,
) -> Result<AppImpact, ImpactError> {
    let mut notes = Notes::default();
    let app_ref = AppRef {
        object_type: ObjectType::Application,
        object_id: app.id.clone(),
        app_id: app.app_id.clone(),
        display_name: app.display_name.clone().unwrap_or_default(),
        created: app.created_date_time,
    };
    let entry = Entry::from_application(app);
    let since = opts.now - Duration::days(AUDIT_DAYS);
    let (facts, owners, audits, locations) = tokio::join!(
        facts(graph, &app_ref.app_id, opts.unused_days),
        graph.owners(ObjectType::Application, &app_ref.object_id),
        graph.audit_events(&app_ref.object_id, since),
        async {
            let mut n = Notes::default();
            let l = match &opts.vaults {
                Some(v) => vault_locations(v, &mut n).await,
                None => HashMap::new(),
            };
            (l, n)
        }
    );
    let (locations, vault_notes) = locations;
    for n in vault_notes.into_vec() {
        notes.push(n);
    }
    if let LastUseState::Unknown(reason) = &facts.last_use {
        notes.push(reason.clone());
    }
    let known = facts.last_use_known();
    let credentials =
        inventory::credential_rows(std::slice::from_ref(&entry), opts.now, opts.thresholds)
            .into_iter()
            .map(|row| {
                let last_sign_in = facts.last_sign_in_of(row.key_id);
                let lower = KeyId::new(row.key_id.as_str().to_ascii_lowercase());
                CredentialImpact {
                    unused: is_unused(
                        row.start_date_time,
                        last_sign_in,
                        known,
                        opts.now,
                        opts.unused_days,
                    ),
                    stored_in: locations.get(&lower).cloned().unwrap_or_default(),
                    key_id: row.key_id.clone(),
                    credential_type: row.credential_type,
                    credential_name: row.credential_name.map(str::to_owned),
                    start: row.start_date_time,
                    end: row.end_date_time,
                    days_left: row.days_left,
                    status: row.status,
                    last_sign_in,
                }
            })
            .collect();

    let owners = owners.unwrap_or_else(|e| {
        notes.push(format!("owners unknown: {e}"));
        Vec::new()
    });
    // Once per app, not once per owner.
    let hidden = owners.iter().filter(|o| o.is_unnamed_user()).count();
    if hidden > 0 {
        notes.push(format!(
            "{hidden} owner(s) shown without names: Graph returns users' names only to an identity with {}; grant one to see who they are",
            crate::graph::models::OWNER_NAMES_PERMISSIONS
        ));
    }
    if let Some(n) = &facts.permissions_unknown {
        notes.push(n.clone());
    }

    let audit_events = match audits {
        Ok(events) => events.iter().map(summarise_audit).collect(),
        Err(e) => {
            notes.push(format!("audit events unknown: {e}"));
            Vec::new()
        }
    };

    let mut rotations: Vec<JournalEntry> = opts
        .journal
        .iter()
        .filter(|r| r.app_object_id == app_ref.object_id)
        .cloned()
        .collect();
    rotations.sort_by_key(|r| std::cmp::Reverse(r.created_at));

    Ok(AppImpact {
        app: app_ref,
        credentials,
        owners,
        permissions: facts.permissions,
        has_service_principal: facts.has_service_principal,
        audit_events,
        rotations,
        last_use: facts.last_use,
        notes: notes.into_vec(),
        unused_days: opts.unused_days,
    })
}

fn summarise_audit(e: &DirectoryAudit) -> AuditSummary {
    let changes: Vec<String> = audit::credential_changes(e)
        .iter()
        .map(ToString::to_string)
        .collect();
    let summary = if changes.is_empty() {
        let targets: BTreeSet<String> = e
            .target_resources
            .iter()
            .filter_map(|t| t.display_name.clone())
            .collect();
        targets.into_iter().collect::<Vec<_>>().join(", ")
    } else {
        changes.join("; ")
    };
    AuditSummary {
        activity_date_time: e.activity_date_time,
        activity_display_name: audit::normalize_activity(&e.activity_display_name),
        initiated_by: e.initiator(),
        result: e.result.clone(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn unused_needs_known_last_use_an_old_credential_and_no_recent_sign_in() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let old = Some(now - Duration::days(200));
        let young = Some(now - Duration::days(10));
        let recent = Some(now - Duration::days(5));
        let stale = Some(now - Duration::days(91));
        assert!(is_unused(old, None, true, now, 90), "never signed in");
        assert!(
            is_unused(old, stale, true, now, 90),
            "last sign-in 91 days ago"
        );
        assert!(!is_unused(old, recent, true, now, 90));
        assert!(!is_unused(young, None, true, now, 90), "too new to judge");
        assert!(!is_unused(old, None, false, now, 90), "last use unknown");
        assert!(!is_unused(None, None, true, now, 90), "no start date");
        // The window is the profile's.
        assert!(!is_unused(old, stale, true, now, 120));
    }

    #[test]
    fn notes_are_said_once() {
        let mut n = Notes::default();
        n.push("a".into());
        n.push("b".into());
        n.push("a".into());
        assert_eq!(n.into_vec(), vec!["a".to_string(), "b".to_string()]);
    }
}
