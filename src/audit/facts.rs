//! What the feed knows about each app a change concerns, read once per app: its appId and creation date, owners,
//! privileged application permissions, current credentials and the lifetime cap of its management policy. Anything
//! that cannot be read is `None` with one note, never a failure of the whole feed.
use super::AuditRow;
use crate::graph::client::{APPLICATION_SELECT, SERVICE_PRINCIPAL_SELECT, ops, urlencode};
use crate::graph::policy::password_lifetime_cap;
use crate::graph::{
    Application, GraphClient, GraphError, LifetimeCap, ObjectId, ObjectType, Owner,
    ServicePrincipal,
};
use crate::impact::Notes;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Where a credential of a row stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialState {
    /// Not a credential row.
    NotApplicable,
    /// Still on the object, ending then.
    Present { end: Option<DateTime<Utc>> },
    /// No longer on the object.
    Gone,
    /// The object or its credentials could not be read.
    Unknown,
}

impl CredentialState {
    pub fn label(&self) -> String {
        match self {
            CredentialState::NotApplicable => String::new(),
            CredentialState::Present { end: Some(e) } => {
                format!("present, ends {}", e.format("%Y-%m-%d"))
            }
            CredentialState::Present { end: None } => "present".into(),
            CredentialState::Gone => "no longer on the app".into(),
            CredentialState::Unknown => "state unknown".into(),
        }
    }
}

/// A credential on the object now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCredential {
    /// Lowercase.
    pub key_id: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetFacts {
    pub app_id: Option<String>,
    pub display_name: Option<String>,
    /// Lowercase object ids of the owners (users and service principals); `None`: unknown.
    pub owners: Option<Vec<String>>,
    /// Privileged application permissions held (values); `None`: unknown.
    pub privileged: Option<Vec<String>>,
    /// `None`: the object could not be read (deleted, or no permission).
    pub credentials: Option<Vec<CurrentCredential>>,
    pub lifetime_cap: Option<LifetimeCap>,
}

/// Facts by lowercase target object id.
pub type FactsByTarget = HashMap<String, TargetFacts>;

fn current(
    passwords: &[crate::graph::PasswordCredential],
    keys: &[crate::graph::KeyCredential],
) -> Vec<CurrentCredential> {
    passwords
        .iter()
        .map(|p| CurrentCredential {
            key_id: p.key_id.as_str().to_ascii_lowercase(),
            start: p.start_date_time,
            end: p.end_date_time,
        })
        .chain(keys.iter().map(|k| CurrentCredential {
            key_id: k.key_id.as_str().to_ascii_lowercase(),
            start: k.start_date_time,
            end: k.end_date_time,
        }))
        .collect()
}

fn owner_ids(owners: &[Owner]) -> Vec<String> {
    owners
        .iter()
        .filter_map(|o| match o {
            Owner::User { id, .. } | Owner::ServicePrincipal { id, .. } => {
                Some(id.as_str().to_ascii_lowercase())
            }
            Owner::Other => None,
        })
        .collect()
}

async fn privileged_of(
    graph: &GraphClient,
    sp: &ObjectId,
    notes: &mut Notes,
) -> Option<Vec<String>> {
    match graph.application_permissions(sp).await {
        Ok(p) => Some(
            p.into_iter()
                .filter(|p| p.privileged)
                .map(|p| p.value)
                .collect(),
        ),
        Err(e) => {
            notes.push(format!("permissions unknown: {e}"));
            None
        }
    }
}

async fn application_facts(
    graph: &GraphClient,
    id: &str,
    tenant_policy: Option<&crate::graph::policy::TenantAppManagementPolicy>,
    notes: &mut Notes,
) -> TargetFacts {
    let url = graph.url(&format!(
        "applications/{}?$select={APPLICATION_SELECT}",
        urlencode(id)
    ));
    let app: Application = match graph.get_json(&url, ops::GET_APPLICATION).await {
        Ok(a) => a,
        Err(GraphError::NotFound { .. }) => return TargetFacts::default(),
        Err(e) => {
            notes.push(format!("some apps could not be read: {e}"));
            return TargetFacts::default();
        }
    };
    let object = ObjectId::new(id.to_string());
    let owners = match graph.owners(ObjectType::Application, &object).await {
        Ok(o) => Some(owner_ids(&o)),
        Err(e) => {
            notes.push(format!("owners unknown: {e}"));
            None
        }
    };
    let privileged = match graph.service_principal_of(&app.app_id).await {
        Ok(Some(sp)) => privileged_of(graph, &sp.id, notes).await,
        Ok(None) => Some(Vec::new()),
        Err(e) => {
            notes.push(format!("permissions unknown: {e}"));
            None
        }
    };
    let app_policies = graph
        .app_management_policies(&object)
        .await
        .unwrap_or_default();
    TargetFacts {
        app_id: Some(app.app_id.to_string()),
        display_name: app.display_name.clone(),
        owners,
        privileged,
        credentials: Some(current(&app.password_credentials, &app.key_credentials)),
        lifetime_cap: password_lifetime_cap(tenant_policy, &app_policies, app.created_date_time),
    }
}

async fn service_principal_facts(graph: &GraphClient, id: &str, notes: &mut Notes) -> TargetFacts {
    let url = graph.url(&format!(
        "servicePrincipals/{}?$select={SERVICE_PRINCIPAL_SELECT}",
        urlencode(id)
    ));
    let sp: ServicePrincipal = match graph.get_json(&url, ops::LIST_SERVICE_PRINCIPALS).await {
        Ok(s) => s,
        Err(GraphError::NotFound { .. }) => return TargetFacts::default(),
        Err(e) => {
            notes.push(format!("some service principals could not be read: {e}"));
            return TargetFacts::default();
        }
    };
    let owners = match graph.owners(ObjectType::ServicePrincipal, &sp.id).await {
        Ok(o) => Some(owner_ids(&o)),
        Err(e) => {
            notes.push(format!("owners unknown: {e}"));
            None
        }
    };
    TargetFacts {
        app_id: Some(sp.app_id.to_string()),
        display_name: sp.display_name.clone(),
        owners,
        privileged: privileged_of(graph, &sp.id, notes).await,
        credentials: Some(current(&sp.password_credentials, &sp.key_credentials)),
        lifetime_cap: None,
    }
}

/// Read every target of `rows` once, then fill each row's appId, privilege and credential state.
pub async fn gather_facts(
    graph: &GraphClient,
    rows: &mut [AuditRow],
    notes: &mut Notes,
) -> FactsByTarget {
    let mut targets: Vec<(ObjectType, String)> = rows
        .iter()
        .filter_map(|r| Some((r.target_object_type?, r.target_object_id.clone()?)))
        .map(|(t, id)| (t, id.to_ascii_lowercase()))
        .collect();
    targets.sort();
    targets.dedup();
    let tenant_policy = if targets.iter().any(|(t, _)| *t == ObjectType::Application) {
        graph.default_app_management_policy().await.ok()
    } else {
        None
    };
    let mut facts = FactsByTarget::new();
    for (kind, id) in targets {
        let f = match kind {
            ObjectType::Application => {
                application_facts(graph, &id, tenant_policy.as_ref(), notes).await
            }
            ObjectType::ServicePrincipal => service_principal_facts(graph, &id, notes).await,
        };
        facts.insert(id, f);
    }
    for r in rows.iter_mut() {
        let Some(f) = r
            .target_object_id
            .as_deref()
            .and_then(|id| facts.get(&id.to_ascii_lowercase()))
        else {
            if r.key_id.is_some() {
                r.credential_state = CredentialState::Unknown;
            }
            continue;
        };
        r.target_app_id = f.app_id.clone();
        r.privileged = f.privileged.clone();
        if let Some(key) = &r.key_id {
            r.credential_state = match &f.credentials {
                Some(creds) => match creds.iter().find(|c| &c.key_id == key) {
                    Some(c) => CredentialState::Present { end: c.end },
                    None => CredentialState::Gone,
                },
                None => CredentialState::Unknown,
            };
        }
    }
    facts
}
