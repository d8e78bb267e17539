//! Directory audit events, shaped like the records Entra writes for credential changes
//! (tests/fixtures/microsoft/graph/directoryAudits/ and exact-strings.json):
//! the activity name with an EN DASH and a TRAILING SPACE, `modifiedProperties` values that are JSON inside JSON,
//! a companion "Update application" event, and `Directory_<guid>_<5 chars>_<number>` ids.
use super::http::Obj;
use super::model::{Kind, graph_time};
use super::odata::{Filterable, Val};
use super::seed::SplitMix64;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::borrow::Cow;
use uuid::Uuid;

/// Exactly what the service emits: U+2013 and a trailing space. Clients must normalise before matching.
pub(crate) const APP_CREDENTIALS_ACTIVITY: &str =
    "Update application \u{2013} Certificates and secrets management ";
pub(crate) const APP_UPDATE_ACTIVITY: &str = "Update application";
pub(crate) const SP_ADD_CREDENTIALS_ACTIVITY: &str = "Add service principal credentials";
pub(crate) const SP_REMOVE_CREDENTIALS_ACTIVITY: &str = "Remove service principal credentials";

/// Who made a change: an app (client credentials) or a signed-in user (device code).
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    App {
        app_id: String,
        display_name: String,
        service_principal_id: Uuid,
    },
    User {
        id: Uuid,
        display_name: String,
        user_principal_name: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ModifiedProperty {
    pub display_name: &'static str,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct TargetResource {
    pub id: Uuid,
    pub display_name: String,
    pub kind: &'static str,
    pub modified_properties: Vec<ModifiedProperty>,
}

#[derive(Debug, Clone)]
pub(crate) struct AuditEvent {
    pub id: String,
    pub category: &'static str,
    pub correlation_id: Uuid,
    pub activity_display_name: &'static str,
    pub activity_date_time: DateTime<Utc>,
    pub operation_type: &'static str,
    pub initiated_by: Caller,
    pub target: TargetResource,
}

/// One entry of a KeyDescription list: `[KeyIdentifier=<guid>,KeyType=Password,KeyUsage=Verify,DisplayName=<name>]`
/// (no spaces after commas, as in every captured sample).
pub(crate) fn key_description(
    key_id: Uuid,
    key_type: &str,
    usage: &str,
    display_name: Option<&str>,
) -> String {
    format!(
        "[KeyIdentifier={key_id},KeyType={key_type},KeyUsage={usage},DisplayName={}]",
        display_name.unwrap_or("")
    )
}

/// The events one addPassword/removePassword writes. `before`/`after` are the KeyDescription entries of all the
/// object's credentials before and after the change; they are serialized as a JSON array inside a JSON string.
#[allow(clippy::too_many_arguments)]
pub(crate) fn credential_change(
    rng: &mut SplitMix64,
    when: DateTime<Utc>,
    kind: Kind,
    object_id: Uuid,
    display_name: &str,
    added: bool,
    before: &[String],
    after: &[String],
    caller: &Caller,
) -> Vec<AuditEvent> {
    let correlation_id = rng.uuid();
    let encode = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".to_string());
    let modified = vec![
        ModifiedProperty {
            display_name: "KeyDescription",
            old_value: Some(encode(before)),
            new_value: Some(encode(after)),
        },
        ModifiedProperty {
            display_name: "Included Updated Properties",
            old_value: None,
            new_value: Some("\"KeyDescription\"".to_string()),
        },
    ];
    let target = |modified_properties: Vec<ModifiedProperty>| TargetResource {
        id: object_id,
        display_name: display_name.to_string(),
        kind: kind.resource_name(),
        modified_properties,
    };
    match kind {
        Kind::Application => vec![
            // The companion first, so that newest-first listings show the credential event on top.
            AuditEvent {
                id: event_id(rng, correlation_id),
                category: "ApplicationManagement",
                correlation_id,
                activity_display_name: APP_UPDATE_ACTIVITY,
                activity_date_time: when,
                operation_type: "Update",
                initiated_by: caller.clone(),
                target: target(Vec::new()),
            },
            AuditEvent {
                id: event_id(rng, correlation_id),
                category: "ApplicationManagement",
                correlation_id,
                activity_display_name: APP_CREDENTIALS_ACTIVITY,
                activity_date_time: when,
                operation_type: "Update",
                initiated_by: caller.clone(),
                target: target(modified),
            },
        ],
        Kind::ServicePrincipal => vec![AuditEvent {
            id: event_id(rng, correlation_id),
            category: "ApplicationManagement",
            correlation_id,
            activity_display_name: if added {
                SP_ADD_CREDENTIALS_ACTIVITY
            } else {
                SP_REMOVE_CREDENTIALS_ACTIVITY
            },
            activity_date_time: when,
            operation_type: if added { "Add" } else { "Delete" },
            initiated_by: caller.clone(),
            target: target(modified),
        }],
    }
}

/// `Directory_<correlation guid>_<5 chars>_<number>`, the shape of real Core Directory audit ids.
fn event_id(rng: &mut SplitMix64, correlation_id: Uuid) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tag: String = (0..5)
        .map(|_| CHARS[(rng.next_u64() % CHARS.len() as u64) as usize] as char)
        .collect();
    format!(
        "Directory_{correlation_id}_{tag}_{}",
        100_000_000 + rng.next_u64() % 900_000_000
    )
}

impl AuditEvent {
    pub fn to_json(&self) -> Obj {
        let initiated_by = match &self.initiated_by {
            Caller::App {
                app_id,
                display_name,
                service_principal_id,
            } => json!({
                "app": {
                    "appId": app_id,
                    "displayName": display_name,
                    "servicePrincipalId": service_principal_id.to_string(),
                    "servicePrincipalName": display_name,
                },
                "user": null,
            }),
            Caller::User {
                id,
                display_name,
                user_principal_name,
            } => json!({
                "app": null,
                "user": {
                    "id": id.to_string(),
                    "displayName": display_name,
                    "userPrincipalName": user_principal_name,
                    "ipAddress": "127.0.0.1",
                    "userType": null,
                    "homeTenantId": null,
                    "homeTenantName": null,
                },
            }),
        };
        let modified: Vec<Value> = self
            .target
            .modified_properties
            .iter()
            .map(|m| json!({"displayName": m.display_name, "oldValue": m.old_value, "newValue": m.new_value}))
            .collect();
        let target = json!({
            "id": self.target.id.to_string(),
            "displayName": self.target.display_name,
            "type": self.target.kind,
            "userPrincipalName": null,
            "groupType": null,
            "modifiedProperties": modified,
        });
        Obj::new()
            .with("id", self.id.clone())
            .with("category", self.category)
            .with("correlationId", self.correlation_id.to_string())
            .with("result", "success")
            .with("resultReason", "")
            .with("activityDisplayName", self.activity_display_name)
            .with("activityDateTime", graph_time(&self.activity_date_time))
            .with("loggedByService", "Core Directory")
            .with("operationType", self.operation_type)
            .with("initiatedBy", initiated_by)
            .with("targetResources", Value::Array(vec![target]))
            .with("additionalDetails", Value::Array(Vec::new()))
    }
}

impl Filterable for AuditEvent {
    fn get(&self, path: &str) -> Val<'_> {
        let s = |v: &'_ str| Val::Str(Cow::Owned(v.to_string()));
        match (path, &self.initiated_by) {
            ("id", _) => Val::Str(Cow::Borrowed(&self.id)),
            ("category", _) => Val::Str(Cow::Borrowed(self.category)),
            ("correlationId", _) => s(&self.correlation_id.to_string()),
            ("result", _) => Val::Str(Cow::Borrowed("success")),
            ("activityDisplayName", _) => Val::Str(Cow::Borrowed(self.activity_display_name)),
            ("activityDateTime", _) => Val::Time(self.activity_date_time),
            ("loggedByService", _) => Val::Str(Cow::Borrowed("Core Directory")),
            ("operationType", _) => Val::Str(Cow::Borrowed(self.operation_type)),
            ("initiatedBy/app/appId", Caller::App { app_id, .. }) => {
                Val::Str(Cow::Borrowed(app_id))
            }
            ("initiatedBy/app/displayName", Caller::App { display_name, .. }) => {
                Val::Str(Cow::Borrowed(display_name))
            }
            (
                "initiatedBy/app/servicePrincipalId",
                Caller::App {
                    service_principal_id,
                    ..
                },
            ) => s(&service_principal_id.to_string()),
            ("initiatedBy/user/id", Caller::User { id, .. }) => s(&id.to_string()),
            ("initiatedBy/user/displayName", Caller::User { display_name, .. }) => {
                Val::Str(Cow::Borrowed(display_name))
            }
            (
                "initiatedBy/user/userPrincipalName",
                Caller::User {
                    user_principal_name,
                    ..
                },
            ) => Val::Str(Cow::Borrowed(user_principal_name)),
            _ => Val::Null,
        }
    }

    fn any(&self, collection: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        collection == "targetResources" && pred(&self.target)
    }
}

impl Filterable for TargetResource {
    fn get(&self, path: &str) -> Val<'_> {
        match path {
            "id" => Val::Str(Cow::Owned(self.id.to_string())),
            "displayName" => Val::Str(Cow::Borrowed(&self.display_name)),
            "type" => Val::Str(Cow::Borrowed(self.kind)),
            _ => Val::Null,
        }
    }
    fn any(&self, _: &str, _: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_name_has_en_dash_and_trailing_space() {
        assert!(APP_CREDENTIALS_ACTIVITY.contains('\u{2013}'));
        assert!(APP_CREDENTIALS_ACTIVITY.ends_with(' '));
    }

    #[test]
    fn key_description_is_double_encoded() {
        let k = Uuid::nil();
        let mut rng = SplitMix64::new(1);
        let caller = Caller::App {
            app_id: "a".into(),
            display_name: "d".into(),
            service_principal_id: Uuid::nil(),
        };
        let after = vec![key_description(k, "Password", "Verify", Some("n"))];
        let events = credential_change(
            &mut rng,
            Utc::now(),
            Kind::Application,
            k,
            "App",
            true,
            &[],
            &after,
            &caller,
        );
        assert_eq!(events.len(), 2);
        let v = serde_json::to_value(events[1].to_json()).unwrap();
        let kd = &v["targetResources"][0]["modifiedProperties"][0];
        assert_eq!(kd["oldValue"], "[]");
        assert_eq!(
            kd["newValue"],
            "[\"[KeyIdentifier=00000000-0000-0000-0000-000000000000,KeyType=Password,KeyUsage=Verify,DisplayName=n]\"]"
        );
        assert!(events[0].id.starts_with("Directory_"));
    }
}
