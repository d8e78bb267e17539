//! Application permissions: the Microsoft Graph resource service principal with its `appRoles`, the app role
//! assignments granted to the tenant's service principals, and the tenant app management policy (a
//! `passwordLifetime` restriction that addPassword enforces).
//!
//! A tenant application's token carries the roles granted to its service principal, as a real app-only token does.
use super::model::{ServicePrincipal, graph_time};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// Microsoft Graph's appId (the same in every tenant).
pub(crate) const GRAPH_APP_ID: Uuid = Uuid::from_u128(0x00000003_0000_0000_c000_000000000000);
/// Microsoft's own tenant, which owns the Microsoft Graph application.
const MICROSOFT_TENANT: Uuid = Uuid::from_u128(0xf8cdef31_a31e_4b4a_93e4_5f571e91255a);

/// Microsoft Graph application permissions the emulator knows: (id, value, displayName). The ids are the same in
/// every tenant (Microsoft Graph permissions reference).
pub(crate) const GRAPH_APP_ROLES: &[(&str, &str, &str)] = &[
    (
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Application.ReadWrite.All",
        "Read and write all applications",
    ),
    (
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "Application.Read.All",
        "Read all applications",
    ),
    (
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
        "Application.ReadWrite.OwnedBy",
        "Manage apps that this app creates or owns",
    ),
    (
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "Directory.Read.All",
        "Read directory data",
    ),
    (
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Directory.ReadWrite.All",
        "Read and write directory data",
    ),
    (
        "b0afded3-3588-46d8-8b3d-9842eff778da",
        "AuditLog.Read.All",
        "Read all audit log data",
    ),
    (
        "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
        "Mail.Read",
        "Read mail in all mailboxes",
    ),
    (
        "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
        "Mail.ReadWrite",
        "Read and write mail in all mailboxes",
    ),
    (
        "df021288-bdef-4463-88db-98f22de89214",
        "User.Read.All",
        "Read all users' full profiles",
    ),
    (
        "a82116e5-55eb-4c41-a434-62fe8a61c773",
        "Sites.FullControl.All",
        "Have full control of all site collections",
    ),
    (
        "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
        "RoleManagement.ReadWrite.Directory",
        "Read and write all directory RBAC settings",
    ),
    (
        "37730810-e9ba-4e46-b07e-8ca78d182097",
        "Policy.Read.ApplicationConfiguration",
        "Read your organization's application configuration policies",
    ),
];

/// The id of the default tenant app management policy (the same in every tenant).
pub(crate) const DEFAULT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000000";

/// One application permission granted to a service principal.
#[derive(Debug, Clone)]
pub(crate) struct AppRoleAssignment {
    pub id: String,
    pub created: DateTime<Utc>,
    pub app_role_id: Uuid,
    pub principal_id: Uuid,
    pub principal_display_name: String,
    pub resource_id: Uuid,
}

/// The tenant's `passwordLifetime` restriction (defaultAppManagementPolicy.applicationRestrictions).
#[derive(Debug, Clone)]
pub(crate) struct PasswordLifetimePolicy {
    pub max_lifetime_days: i64,
    /// Applies to applications created after this date.
    pub restrict_for_apps_created_after: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct Permissions {
    /// The object id of the Microsoft Graph service principal in this tenant.
    pub graph_sp: Option<Uuid>,
    pub assignments: Vec<AppRoleAssignment>,
    pub password_lifetime: Option<PasswordLifetimePolicy>,
}

/// Microsoft Graph's service principal in a tenant (every tenant has one).
pub(crate) fn graph_service_principal(id: Uuid) -> ServicePrincipal {
    ServicePrincipal {
        id,
        app_id: GRAPH_APP_ID,
        display_name: "Microsoft Graph".to_string(),
        account_enabled: true,
        app_owner_organization_id: MICROSOFT_TENANT,
        sign_in_audience: "AzureADMultipleOrgs",
        preferred_single_sign_on_mode: None,
        preferred_token_signing_key_thumbprint: None,
        tags: Vec::new(),
        password_credentials: Vec::new(),
        key_credentials: Vec::new(),
        owners: Vec::new(),
        seq: 0,
        deleted: false,
    }
}

pub(crate) fn graph_role_id(value: &str) -> Option<Uuid> {
    GRAPH_APP_ROLES
        .iter()
        .find(|(_, v, _)| v.eq_ignore_ascii_case(value))
        .and_then(|(id, _, _)| Uuid::parse_str(id).ok())
}

fn graph_role_value(id: &Uuid) -> Option<&'static str> {
    GRAPH_APP_ROLES
        .iter()
        .find(|(i, _, _)| Uuid::parse_str(i).ok().as_ref() == Some(id))
        .map(|(_, v, _)| *v)
}

/// The `appRoles` of Microsoft Graph's service principal.
pub(crate) fn graph_app_roles_json() -> Value {
    Value::Array(
        GRAPH_APP_ROLES
            .iter()
            .map(|(id, value, name)| {
                json!({
                    "allowedMemberTypes": ["Application"],
                    "description": format!("Allows the app to {} without a signed-in user.", name.to_lowercase()),
                    "displayName": name,
                    "id": id,
                    "isEnabled": true,
                    "origin": "Application",
                    "value": value,
                })
            })
            .collect(),
    )
}

impl Permissions {
    /// Grant a Microsoft Graph application permission (by value) to a service principal. False when the value is
    /// not one the emulator knows or there is no Graph service principal.
    pub fn grant(
        &mut self,
        principal_id: Uuid,
        principal_display_name: &str,
        value: &str,
        created: DateTime<Utc>,
    ) -> bool {
        let (Some(resource_id), Some(app_role_id)) = (self.graph_sp, graph_role_id(value)) else {
            return false;
        };
        if self
            .assignments
            .iter()
            .any(|a| a.principal_id == principal_id && a.app_role_id == app_role_id)
        {
            return true;
        }
        // Graph's assignment ids: base64url of the principal's id (little-endian GUID bytes) and 16 more bytes.
        let mut raw = principal_id.to_bytes_le().to_vec();
        raw.extend_from_slice(&Uuid::new_v4().to_bytes_le());
        self.assignments.push(AppRoleAssignment {
            id: URL_SAFE_NO_PAD.encode(raw),
            created,
            app_role_id,
            principal_id,
            principal_display_name: principal_display_name.to_string(),
            resource_id,
        });
        true
    }

    /// The Graph roles (values) granted to a service principal: what its app-only tokens carry.
    pub fn granted_graph_roles(&self, principal_id: Uuid) -> Vec<String> {
        self.assignments
            .iter()
            .filter(|a| a.principal_id == principal_id && Some(a.resource_id) == self.graph_sp)
            .filter_map(|a| graph_role_value(&a.app_role_id).map(str::to_string))
            .collect()
    }

    pub fn assignments_of(&self, principal_id: Uuid) -> impl Iterator<Item = &AppRoleAssignment> {
        self.assignments
            .iter()
            .filter(move |a| a.principal_id == principal_id)
    }

    /// The longest lifetime (days) the policy allows a new secret of an app created at `app_created`.
    pub fn max_password_days(&self, app_created: DateTime<Utc>) -> Option<i64> {
        self.password_lifetime
            .as_ref()
            .filter(|p| app_created > p.restrict_for_apps_created_after)
            .map(|p| p.max_lifetime_days)
    }
}

impl AppRoleAssignment {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "deletedDateTime": null,
            "appRoleId": self.app_role_id.to_string(),
            "createdDateTime": graph_time(&self.created),
            "principalDisplayName": self.principal_display_name,
            "principalId": self.principal_id.to_string(),
            "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": self.resource_id.to_string(),
        })
    }
}

/// `GET /policies/defaultAppManagementPolicy`'s entity (without the `@odata` annotations).
pub(crate) fn default_policy_json(policy: Option<&PasswordLifetimePolicy>) -> Value {
    let password_credentials: Vec<Value> = policy
        .map(|p| {
            json!({
                "restrictionType": "passwordLifetime",
                "state": "enabled",
                "maxLifetime": format!("P{}D", p.max_lifetime_days),
                "restrictForAppsCreatedAfterDateTime": graph_time(&p.restrict_for_apps_created_after),
                "excludeActors": null,
            })
        })
        .into_iter()
        .collect();
    json!({
        "id": DEFAULT_POLICY_ID,
        "displayName": "Default app management tenant policy",
        "description": "Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.",
        "isEnabled": policy.is_some(),
        "applicationRestrictions": {
            "passwordCredentials": password_credentials,
            "keyCredentials": [],
        },
        "servicePrincipalRestrictions": {
            "passwordCredentials": [],
            "keyCredentials": [],
        },
    })
}

/// A lifetime policy that applies to every application of a seeded tenant (they were all created after 2019).
pub(crate) fn lifetime_policy(days: i64) -> PasswordLifetimePolicy {
    PasswordLifetimePolicy {
        max_lifetime_days: days,
        // 2019-01-01, the date Graph assumes for objects created before it kept creation dates.
        restrict_for_apps_created_after: DateTime::from_timestamp(1_546_300_800, 0)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_resolve_to_role_values_and_ids_start_with_the_principal() {
        let mut p = Permissions {
            graph_sp: Some(Uuid::new_v4()),
            ..Default::default()
        };
        let sp = Uuid::new_v4();
        assert!(p.grant(sp, "App", "Application.ReadWrite.All", Utc::now()));
        assert!(p.grant(sp, "App", "mail.read", Utc::now()));
        assert!(
            p.grant(sp, "App", "Mail.Read", Utc::now()),
            "granting twice is a no-op"
        );
        assert!(!p.grant(sp, "App", "Not.A.Permission", Utc::now()));
        assert_eq!(
            p.granted_graph_roles(sp),
            vec!["Application.ReadWrite.All", "Mail.Read"]
        );
        let a = &p.assignments[0];
        assert_eq!(
            a.app_role_id.to_string(),
            "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
        );
        let raw = URL_SAFE_NO_PAD.decode(&a.id).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(&raw[..16], &sp.to_bytes_le());
        // The documentation's example id decodes to its principalId the same way.
        let doc = URL_SAFE_NO_PAD
            .decode("UxOIjjUXr0WvIe4TRFgqTY4z9Wu5KxpBtlEpoTGjw-A")
            .unwrap();
        assert_eq!(
            Uuid::from_bytes_le(doc[..16].try_into().unwrap()).to_string(),
            "8e881353-1735-45af-af21-ee1344582a4d"
        );
    }

    #[test]
    fn the_lifetime_policy_applies_to_apps_created_after_its_date() {
        let p = Permissions {
            password_lifetime: Some(lifetime_policy(180)),
            ..Default::default()
        };
        assert_eq!(p.max_password_days(Utc::now()), Some(180));
        assert_eq!(
            p.max_password_days(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(365)),
            None
        );
        let v = default_policy_json(p.password_lifetime.as_ref());
        assert_eq!(v["isEnabled"], true);
        assert_eq!(
            v["applicationRestrictions"]["passwordCredentials"][0]["maxLifetime"],
            "P180D"
        );
        assert_eq!(default_policy_json(None)["isEnabled"], false);
    }
}
