//! Source `graph`: `/auditLogs/directoryAudits` over the whole tenant, filtered server-side to the
//! ApplicationManagement category since a date, every page followed (the Graph client honours 429 `Retry-After`),
//! then decoded into [`AuditRow`]s. Credential records are decoded with the same `KeyDescription` decoder as the
//! detail view's audit pane.
use super::{Activity, AuditRow, CredentialState, Initiator, InitiatorType};
use crate::graph::audit::{
    CredentialChange, credential_changes, is_credential_activity, normalize_activity,
};
use crate::graph::client::{ops, urlencode};
use crate::graph::{AuditInitiator, DirectoryAudit, GraphClient, GraphError, ObjectType};
use chrono::{DateTime, SecondsFormat, Utc};

/// The page size asked for (directoryAudits serves up to 1,000 a page).
pub const PAGE_SIZE: u32 = 500;

/// The first page's URL: category and date filtered by the service, newest first.
pub fn first_url(graph: &GraphClient, since: DateTime<Utc>) -> String {
    let filter = format!(
        "category eq 'ApplicationManagement' and activityDateTime ge {}",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    graph.url(&format!(
        "auditLogs/directoryAudits?$filter={}&$top={PAGE_SIZE}",
        urlencode(&filter)
    ))
}

/// Every ApplicationManagement record since `since`.
pub async fn fetch(
    graph: &GraphClient,
    since: DateTime<Utc>,
) -> Result<Vec<DirectoryAudit>, GraphError> {
    graph
        .collect_all(first_url(graph, since), ops::LIST_AUDITS)
        .await
}

/// What an activity name means, or `None` for records outside the feed (renames, sign-in settings, ...).
pub fn classify(activity_display_name: &str) -> Option<Activity> {
    let n = normalize_activity(activity_display_name).to_ascii_lowercase();
    let a = match n.as_str() {
        "add owner to application" | "add owner to service principal" => Activity::OwnerAdded,
        "remove owner from application" | "remove owner from service principal" => {
            Activity::OwnerRemoved
        }
        "add app role assignment to service principal"
        | "add delegated permission grant"
        | "add app role assignment grant to user" => Activity::PermissionGranted,
        "consent to application" => Activity::Consent,
        "add service principal credentials" => Activity::CredentialAdded,
        "remove service principal credentials" => Activity::CredentialRemoved,
        _ if is_credential_activity(activity_display_name) => Activity::Other,
        _ => return None,
    };
    Some(a)
}

fn initiator(i: Option<&AuditInitiator>) -> Initiator {
    match i {
        Some(AuditInitiator { user: Some(u), .. }) => Initiator {
            kind: InitiatorType::User,
            id: u.id.clone(),
            name: u
                .user_principal_name
                .clone()
                .or_else(|| u.display_name.clone()),
            app_id: None,
            ip_address: u.ip_address.clone().filter(|s| !s.is_empty()),
        },
        Some(AuditInitiator { app: Some(a), .. }) => Initiator {
            kind: InitiatorType::App,
            id: a.service_principal_id.clone().or_else(|| a.app_id.clone()),
            name: a
                .display_name
                .clone()
                .or_else(|| a.service_principal_name.clone()),
            app_id: a.app_id.clone(),
            ip_address: None,
        },
        // Neither: the service itself ("Microsoft Graph", sync jobs). Count it as an app identity.
        _ => Initiator {
            kind: InitiatorType::App,
            id: None,
            name: None,
            app_id: None,
            ip_address: None,
        },
    }
}

fn object_type(t: Option<&str>) -> Option<ObjectType> {
    match t?.to_ascii_lowercase().as_str() {
        "application" => Some(ObjectType::Application),
        "serviceprincipal" => Some(ObjectType::ServicePrincipal),
        _ => None,
    }
}

/// The rows of a set of records. A record that changes credentials gives one row per credential added or removed;
/// the plain "Update application" record Entra writes beside it (same correlation id, no key change) is not part of
/// the feed.
pub fn rows(records: &[DirectoryAudit]) -> Vec<AuditRow> {
    let mut out = Vec::new();
    for r in records {
        let changes = credential_changes(r);
        let activity = match classify(&r.activity_display_name) {
            Some(a) => a,
            // Entra also records credential changes under a plain "Update application".
            None if !changes.is_empty() => Activity::Other,
            None => continue,
        };
        let target = r
            .target_resources
            .iter()
            .find(|t| object_type(t.resource_type.as_deref()).is_some())
            .or_else(|| r.target_resources.first());
        let base = AuditRow {
            activity_date_time: r.activity_date_time,
            activity,
            activity_display_name: normalize_activity(&r.activity_display_name),
            target_object_type: target.and_then(|t| object_type(t.resource_type.as_deref())),
            target_object_id: target.and_then(|t| t.id.clone()),
            target_app_id: None,
            target_display_name: target.and_then(|t| t.display_name.clone()),
            credential_type: None,
            key_id: None,
            credential_name: None,
            initiated_by: initiator(r.initiated_by.as_ref()),
            result: r.result.clone(),
            record_id: r.id.clone(),
            by_keyturn: false,
            findings: Vec::new(),
            privileged: None,
            credential_state: CredentialState::NotApplicable,
        };
        if changes.is_empty() {
            out.push(base);
            continue;
        }
        for c in changes {
            let (activity, d) = match c {
                CredentialChange::Added(d) => (Activity::CredentialAdded, d),
                CredentialChange::Removed(d) => (Activity::CredentialRemoved, d),
            };
            out.push(AuditRow {
                activity,
                credential_type: Some(d.kind()),
                key_id: Some(d.key_id.to_ascii_lowercase()),
                credential_name: Some(d.display_name.clone()).filter(|n| !n.is_empty()),
                ..base.clone()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_are_named_as_the_contract_says() {
        assert_eq!(
            classify("Update application \u{2013} Certificates and secrets management "),
            Some(Activity::Other),
            "decoded per credential; undecodable stays other"
        );
        assert_eq!(
            classify("Add owner to application"),
            Some(Activity::OwnerAdded)
        );
        assert_eq!(
            classify("Remove owner from service principal"),
            Some(Activity::OwnerRemoved)
        );
        assert_eq!(
            classify("Add app role assignment to service principal"),
            Some(Activity::PermissionGranted)
        );
        assert_eq!(classify("Consent to application"), Some(Activity::Consent));
        assert_eq!(classify("Update application"), None);
        assert_eq!(classify("Add application"), None);
    }
}
