//! Graph v1.0 resources as keyturn reads them. Field names follow Microsoft's wire format (camelCase); every model
//! is checked against Microsoft's published examples in `tests/fixtures/microsoft/` by the conformance tests.
use super::ids::{AppId, KeyId, ObjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
// Missing `Option` fields read as `None` without `#[serde(default)]`: only collections carry it.

/// Graph sends `null` for some collections in some shapes; Microsoft documents credentials as "Not nullable", but a
/// client that crashes on a `null` loses the whole inventory, so read `null` as empty.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A client secret (`passwordCredential`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: KeyId,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start_date_time: Option<DateTime<Utc>>,
    pub end_date_time: Option<DateTime<Utc>>,
    pub custom_key_identifier: Option<String>,
}

/// A certificate or other key (`keyCredential`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: KeyId,
    pub display_name: Option<String>,
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
    pub usage: Option<String>,
    pub start_date_time: Option<DateTime<Utc>>,
    pub end_date_time: Option<DateTime<Utc>>,
    /// Thumbprint (base64) by default; the Sign and Verify entries of one certificate share it.
    pub custom_key_identifier: Option<String>,
}

/// The answer of `addPassword`: the new credential with its value. The value is moved into a `SecretString` at once
/// and never serialised again; `Debug` does not print it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPasswordCredential {
    pub key_id: KeyId,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start_date_time: Option<DateTime<Utc>>,
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "secret_string")]
    pub secret_text: secrecy::SecretString,
}

fn secret_string<'de, D: Deserializer<'de>>(d: D) -> Result<secrecy::SecretString, D::Error> {
    let s = String::deserialize(d)?;
    Ok(secrecy::SecretString::from(s))
}

impl std::fmt::Debug for NewPasswordCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasswordCredential")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("end_date_time", &self.end_date_time)
            .field("secret_text", &"[REDACTED]")
            .finish()
    }
}

/// Whether a credential holder is an app registration or a service principal (enterprise app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectType {
    Application,
    ServicePrincipal,
}

impl ObjectType {
    /// The Graph collection segment, e.g. `applications`.
    pub fn collection(self) -> &'static str {
        match self {
            ObjectType::Application => "applications",
            ObjectType::ServicePrincipal => "servicePrincipals",
        }
    }
}

/// An application registration or a service principal: what keyturn needs of either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: ObjectId,
    pub app_id: AppId,
    pub display_name: Option<String>,
    pub created_date_time: Option<DateTime<Utc>>,
    pub sign_in_audience: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub key_credentials: Vec<KeyCredential>,
}

/// A service principal has the same credential shape; `servicePrincipalType` tells a managed identity from an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: ObjectId,
    pub app_id: AppId,
    pub display_name: Option<String>,
    pub service_principal_type: Option<String>,
    pub app_owner_organization_id: Option<String>,
    pub preferred_token_signing_key_end_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub key_credentials: Vec<KeyCredential>,
}

/// An owner of an application: a user or a service principal (`@odata.type` tells which).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "@odata.type")]
pub enum Owner {
    #[serde(rename = "#microsoft.graph.user", rename_all = "camelCase")]
    User {
        id: ObjectId,
        display_name: Option<String>,
        user_principal_name: Option<String>,
        mail: Option<String>,
    },
    #[serde(rename = "#microsoft.graph.servicePrincipal", rename_all = "camelCase")]
    ServicePrincipal {
        id: ObjectId,
        app_id: Option<AppId>,
        display_name: Option<String>,
    },
    /// Groups and other directory objects can own apps in some tenants; keep them visible rather than fail.
    Other,
}

/// Graph tags every item of a directoryObject collection with `@odata.type`, but Microsoft's own List owners sample
/// (tests/fixtures/microsoft/graph/list_owners/) has items without it. An untagged item reads as [`Owner::Other`]
/// instead of failing the whole owners list.
impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = "@odata.type")]
        enum Tagged {
            #[serde(rename = "#microsoft.graph.user", rename_all = "camelCase")]
            User {
                id: ObjectId,
                #[serde(default)]
                display_name: Option<String>,
                #[serde(default)]
                user_principal_name: Option<String>,
                #[serde(default)]
                mail: Option<String>,
            },
            #[serde(rename = "#microsoft.graph.servicePrincipal", rename_all = "camelCase")]
            ServicePrincipal {
                id: ObjectId,
                #[serde(default)]
                app_id: Option<AppId>,
                #[serde(default)]
                display_name: Option<String>,
            },
            #[serde(other)]
            Other,
        }
        let value = serde_json::Value::deserialize(d)?;
        if value.get("@odata.type").is_none() {
            return Ok(Owner::Other);
        }
        Ok(
            match Tagged::deserialize(value).map_err(serde::de::Error::custom)? {
                Tagged::User {
                    id,
                    display_name,
                    user_principal_name,
                    mail,
                } => Owner::User {
                    id,
                    display_name,
                    user_principal_name,
                    mail,
                },
                Tagged::ServicePrincipal {
                    id,
                    app_id,
                    display_name,
                } => Owner::ServicePrincipal {
                    id,
                    app_id,
                    display_name,
                },
                Tagged::Other => Owner::Other,
            },
        )
    }
}

/// Graph returns a user owner as `@odata.type` and `id` alone (its other properties null) to an identity that may
/// read applications but not users: names need one of these (Microsoft Graph's List owners page).
pub const OWNER_NAMES_PERMISSIONS: &str = "User.Read.All or Directory.Read.All";

impl Owner {
    /// A user owner Graph sent without any name: the identity lacks [`OWNER_NAMES_PERMISSIONS`].
    pub fn is_unnamed_user(&self) -> bool {
        matches!(
            self,
            Owner::User {
                display_name: None,
                user_principal_name: None,
                mail: None,
                ..
            }
        )
    }

    pub fn display_name(&self) -> &str {
        if self.is_unnamed_user() {
            return "(name hidden)";
        }
        match self {
            Owner::User { display_name, .. } | Owner::ServicePrincipal { display_name, .. } => {
                display_name.as_deref().unwrap_or("(no name)")
            }
            Owner::Other => "(other directory object)",
        }
    }

    /// UPN for a user, "service principal" for an app owner; for a user without names, its id and the permissions
    /// that show them.
    pub fn detail(&self) -> String {
        match self {
            // Short enough for the detail pane of a 120-column terminal.
            Owner::User { id, .. } if self.is_unnamed_user() => {
                format!("{id}: names need {OWNER_NAMES_PERMISSIONS}")
            }
            Owner::User {
                user_principal_name,
                mail,
                ..
            } => user_principal_name
                .clone()
                .or_else(|| mail.clone())
                .unwrap_or_default(),
            Owner::ServicePrincipal { app_id, .. } => match app_id {
                Some(a) => format!("service principal {}", a.short()),
                None => "service principal".to_string(),
            },
            Owner::Other => String::new(),
        }
    }
}

/// One entry of `auditLogs/directoryAudits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryAudit {
    pub id: String,
    pub category: Option<String>,
    pub correlation_id: Option<String>,
    pub result: Option<String>,
    pub result_reason: Option<String>,
    pub activity_display_name: String,
    pub activity_date_time: DateTime<Utc>,
    pub logged_by_service: Option<String>,
    pub operation_type: Option<String>,
    pub initiated_by: Option<AuditInitiator>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub target_resources: Vec<TargetResource>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub additional_details: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditInitiator {
    pub user: Option<UserIdentity>,
    pub app: Option<AppIdentity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppIdentity {
    pub app_id: Option<String>,
    pub display_name: Option<String>,
    pub service_principal_id: Option<String>,
    pub service_principal_name: Option<String>,
}

/// Microsoft's own samples spell the target's type both `type` and `Type`: accept either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetResource {
    pub id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, rename = "type", alias = "Type")]
    pub resource_type: Option<String>,
    pub user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modified_properties: Vec<ModifiedProperty>,
}

/// `oldValue`/`newValue` are JSON text inside JSON (see `audit::decode_key_description`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModifiedProperty {
    pub display_name: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KeyValue {
    pub key: Option<String>,
    pub value: Option<String>,
}

impl DirectoryAudit {
    /// "user@contoso.com" or "app Backup Daemon", for the detail view.
    pub fn initiator(&self) -> String {
        match &self.initiated_by {
            Some(AuditInitiator { user: Some(u), .. }) => u
                .user_principal_name
                .clone()
                .or_else(|| u.display_name.clone())
                .or_else(|| u.id.clone())
                .unwrap_or_else(|| "unknown user".into()),
            Some(AuditInitiator { app: Some(a), .. }) => format!(
                "app {}",
                a.display_name
                    .clone()
                    .or_else(|| a.app_id.clone())
                    .unwrap_or_else(|| "unknown".into())
            ),
            _ => "unknown".into(),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_user_owner_without_names_says_which_permission_shows_them() {
        let hidden: Owner = serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "11111111-2222-3333-4444-555555555555",
            "displayName": null,
            "userPrincipalName": null
        }))
        .unwrap();
        assert!(hidden.is_unnamed_user());
        assert_eq!(hidden.display_name(), "(name hidden)");
        assert_eq!(
            hidden.detail(),
            "11111111-2222-3333-4444-555555555555: names need User.Read.All or Directory.Read.All"
        );
        let named: Owner = serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "11111111-2222-3333-4444-555555555555",
            "userPrincipalName": "a@x.test"
        }))
        .unwrap();
        assert!(!named.is_unnamed_user());
        assert_eq!(named.detail(), "a@x.test");
    }

    use super::*;

    #[test]
    fn owners_read_by_type_and_untyped_items_do_not_fail_the_list() {
        let owners: Vec<Owner> = serde_json::from_str(
            r##"[{"@odata.type":"#microsoft.graph.user","id":"u1","userPrincipalName":"a@contoso.com"},
                 {"@odata.type":"#microsoft.graph.servicePrincipal","id":"s1","appId":"a1"},
                 {"@odata.type":"#microsoft.graph.group","id":"g1"},
                 {"id":"id-value"}]"##,
        )
        .unwrap();
        assert!(
            matches!(&owners[0], Owner::User { user_principal_name: Some(u), .. } if u == "a@contoso.com")
        );
        assert!(
            matches!(&owners[1], Owner::ServicePrincipal { app_id: Some(a), .. } if a.as_str() == "a1")
        );
        assert_eq!(owners[2], Owner::Other);
        assert_eq!(owners[3], Owner::Other);
    }
}

/// Property tests (issue 16 item 12): the models' JSON comes from Graph; any text is an error or a value, never a
/// panic, and what keyturn writes (the cache) reads back the same.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> impl Strategy<Value = PasswordCredential> {
        (
            "[0-9a-f]{8}",
            proptest::option::of(".*"),
            proptest::option::of(".*"),
            proptest::option::of(0i64..4_000_000_000),
        )
            .prop_map(|(k, name, hint, end)| PasswordCredential {
                key_id: KeyId::new(k),
                display_name: name,
                hint,
                start_date_time: None,
                end_date_time: end.and_then(|s| DateTime::from_timestamp(s, 0)),
                custom_key_identifier: None,
            })
    }

    proptest! {
        #[test]
        fn any_text_is_an_error_or_an_application(s in ".*") {
            let _ = serde_json::from_str::<Application>(&s);
            let _ = serde_json::from_str::<ServicePrincipal>(&s);
            let _ = serde_json::from_str::<Owner>(&s);
        }

        #[test]
        fn applications_round_trip(
            id in "[0-9a-f-]{1,36}",
            name in proptest::option::of(".*"),
            secrets in proptest::collection::vec(secret(), 0..4),
        ) {
            let app = Application {
                id: ObjectId::new(id.clone()),
                app_id: AppId::new(id),
                display_name: name,
                created_date_time: None,
                sign_in_audience: None,
                password_credentials: secrets,
                key_credentials: Vec::new(),
            };
            let json = serde_json::to_string(&app).unwrap();
            prop_assert_eq!(serde_json::from_str::<Application>(&json).unwrap(), app);
        }
    }
}
