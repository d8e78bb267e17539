//! What an app can do: the application permissions (app role assignments) granted to its service principal, named
//! by the resource service principal's `appRoles`, with the well-known high-privilege ones flagged.
use super::client::{GraphClient, Op, urlencode};
use super::error::GraphError;
use super::ids::{AppId, ObjectId};
use super::models::ServicePrincipal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Application permissions that let an app take over the tenant or read or change everyone's data, so that a leaked
/// secret of an app holding one is an incident of its own. Matched by the permission's value (its name), whatever
/// the resource: SharePoint's own `Sites.FullControl.All` is as strong as Graph's. The one place this list lives.
pub const PRIVILEGED_APPLICATION_PERMISSIONS: &[(&str, &str)] = &[
    (
        "Application.ReadWrite.All",
        "can add credentials to any app, then act as it",
    ),
    (
        "AppRoleAssignment.ReadWrite.All",
        "can grant itself any application permission",
    ),
    (
        "Directory.ReadWrite.All",
        "can change most directory objects",
    ),
    (
        "RoleManagement.ReadWrite.Directory",
        "can make any principal a Global Administrator",
    ),
    (
        "PrivilegedAccess.ReadWrite.AzureADGroup",
        "can make itself a member of privileged groups",
    ),
    (
        "ServicePrincipalEndpoint.ReadWrite.All",
        "can redirect service principals' endpoints",
    ),
    (
        "Policy.ReadWrite.ConditionalAccess",
        "can switch off Conditional Access",
    ),
    (
        "Policy.ReadWrite.AuthenticationMethod",
        "can change how everyone signs in",
    ),
    (
        "UserAuthenticationMethod.ReadWrite.All",
        "can add sign-in methods to any user",
    ),
    (
        "User.ReadWrite.All",
        "can change any user, including administrators",
    ),
    ("Group.ReadWrite.All", "can change any group's members"),
    (
        "GroupMember.ReadWrite.All",
        "can change any group's members",
    ),
    ("Domain.ReadWrite.All", "can add federated domains"),
    (
        "DelegatedPermissionGrant.ReadWrite.All",
        "can grant delegated permissions for everyone",
    ),
    ("Mail.ReadWrite", "can read and change every mailbox"),
    ("Mail.Send", "can send mail as anyone"),
    (
        "full_access_as_app",
        "Exchange: full access to every mailbox",
    ),
    ("Sites.FullControl.All", "full control of every site"),
    ("Sites.ReadWrite.All", "can read and change every site"),
    ("Files.ReadWrite.All", "can read and change every file"),
];

/// Whether an application permission is on the high-privilege list (exact value, as Entra spells it).
pub fn is_privileged(value: &str) -> bool {
    PRIVILEGED_APPLICATION_PERMISSIONS
        .iter()
        .any(|(v, _)| *v == value)
}

/// Why a permission is privileged, for the detail view.
pub fn privilege_reason(value: &str) -> Option<&'static str> {
    PRIVILEGED_APPLICATION_PERMISSIONS
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, why)| *why)
}

/// The app role id of an assignment without a specific role ("default access").
pub const DEFAULT_ACCESS_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

pub mod ops {
    use super::Op;
    pub const APP_ROLE_ASSIGNMENTS: Op = Op {
        name: "list the app's application permissions (appRoleAssignments)",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const RESOURCE_APP_ROLES: Op = Op {
        name: "read a resource's app roles",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const FIND_SERVICE_PRINCIPAL: Op = Op {
        name: "find the app's service principal",
        permission: "Application.Read.All",
        idempotent: true,
    };
}

/// One `appRoleAssignment` granted to a service principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: String,
    pub app_role_id: String,
    pub created_date_time: Option<DateTime<Utc>>,
    pub principal_display_name: Option<String>,
    pub principal_id: Option<ObjectId>,
    pub principal_type: Option<String>,
    pub resource_display_name: Option<String>,
    pub resource_id: ObjectId,
}

/// One of a resource's `appRoles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: String,
    pub value: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    pub is_enabled: Option<bool>,
}

/// The resource side of an assignment: a service principal with its app roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceServicePrincipal {
    pub id: ObjectId,
    pub app_id: Option<AppId>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
}

/// An application permission as the operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedPermission {
    /// The resource's display name, e.g. "Microsoft Graph".
    pub resource: String,
    /// The role's value, e.g. `Application.ReadWrite.All`; the role id when the resource does not name it.
    pub value: String,
    pub privileged: bool,
}

/// Name each assignment from its resource's app roles. Sorted privileged first, then by resource and value.
pub fn resolve_permissions(
    assignments: &[AppRoleAssignment],
    resources: &HashMap<ObjectId, ResourceServicePrincipal>,
) -> Vec<GrantedPermission> {
    let mut out: Vec<GrantedPermission> = assignments
        .iter()
        .map(|a| {
            let resource_sp = resources.get(&a.resource_id);
            let resource = a
                .resource_display_name
                .clone()
                .or_else(|| resource_sp.and_then(|r| r.display_name.clone()))
                .unwrap_or_else(|| a.resource_id.to_string());
            let value = if a.app_role_id == DEFAULT_ACCESS_ROLE_ID {
                "(default access)".to_string()
            } else {
                resource_sp
                    .and_then(|r| r.app_roles.iter().find(|role| role.id == a.app_role_id))
                    .and_then(|role| role.value.clone())
                    .unwrap_or_else(|| a.app_role_id.clone())
            };
            GrantedPermission {
                privileged: is_privileged(&value),
                resource,
                value,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.privileged
            .cmp(&a.privileged)
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.value.cmp(&b.value))
    });
    out.dedup();
    out
}

impl GraphClient {
    /// The service principal of an app in this tenant, by appId (`None`: the app has none here, so it cannot sign
    /// in and holds no application permissions).
    pub async fn service_principal_of(
        &self,
        app_id: &AppId,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals(appId='{}')?$select=id,appId,displayName,servicePrincipalType",
            urlencode(&app_id.as_str().replace('\'', "''"))
        ));
        match self.get_json(&url, ops::FIND_SERVICE_PRINCIPAL).await {
            Ok(sp) => Ok(Some(sp)),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /servicePrincipals/{id}/appRoleAssignments`: the application permissions granted to it.
    pub async fn app_role_assignments(
        &self,
        service_principal: &ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}/appRoleAssignments?$top=999",
            urlencode(service_principal.as_str())
        ));
        self.collect_all(url, ops::APP_ROLE_ASSIGNMENTS).await
    }

    /// A resource service principal with its app roles.
    pub async fn resource_app_roles(
        &self,
        resource: &ObjectId,
    ) -> Result<ResourceServicePrincipal, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}?$select=id,appId,displayName,appRoles",
            urlencode(resource.as_str())
        ));
        self.get_json(&url, ops::RESOURCE_APP_ROLES).await
    }

    /// The application permissions of a service principal, named and flagged. Each resource is read once.
    pub async fn application_permissions(
        &self,
        service_principal: &ObjectId,
    ) -> Result<Vec<GrantedPermission>, GraphError> {
        let assignments = self.app_role_assignments(service_principal).await?;
        let mut resources = HashMap::new();
        for a in &assignments {
            if a.app_role_id == DEFAULT_ACCESS_ROLE_ID || resources.contains_key(&a.resource_id) {
                continue;
            }
            let r = self.resource_app_roles(&a.resource_id).await?;
            resources.insert(a.resource_id.clone(), r);
        }
        Ok(resolve_permissions(&assignments, &resources))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSIGNMENTS: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/app_role_assignments_and_app_management_policy/app-role-assignments.json"
    );

    #[derive(Deserialize)]
    struct Page {
        value: Vec<AppRoleAssignment>,
    }

    /// Microsoft Graph's service principal with two of its real application roles (ids from the Graph permissions
    /// reference: Application.ReadWrite.All, Directory.Read.All).
    fn graph_resource(id: &str) -> ResourceServicePrincipal {
        serde_json::from_value(serde_json::json!({
            "id": id, "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph",
            "appRoles": [
                {"id": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "value": "Application.ReadWrite.All",
                 "allowedMemberTypes": ["Application"], "isEnabled": true},
                {"id": "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "value": "Directory.Read.All",
                 "allowedMemberTypes": ["Application"], "isEnabled": true}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn microsofts_assignment_sample_parses() {
        let page: Page = serde_json::from_str(ASSIGNMENTS).unwrap();
        assert_eq!(page.value.len(), 1);
        let a = &page.value[0];
        assert_eq!(a.app_role_id, "e2a3a72e-5f79-4c64-b1b1-878b674786c9");
        assert_eq!(
            a.resource_id.as_str(),
            "fea94d6d-b5bf-44d2-a887-4f72a8d74f44"
        );
        assert_eq!(a.resource_display_name.as_deref(), Some("Microsoft Graph"));
        assert_eq!(a.principal_type.as_deref(), Some("ServicePrincipal"));
    }

    #[test]
    fn roles_are_named_from_the_resource_and_privileged_ones_flagged_first() {
        let resource = "fea94d6d-b5bf-44d2-a887-4f72a8d74f44";
        let mut assignments: Vec<AppRoleAssignment> =
            serde_json::from_str::<Page>(ASSIGNMENTS).unwrap().value;
        // The sample's role id is not one of the two roles: it stays visible by id, unflagged.
        let mut rw = assignments[0].clone();
        rw.app_role_id = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9".into();
        let mut read = assignments[0].clone();
        read.app_role_id = "7ab1d382-f21e-4acd-a863-ba3e13f7da61".into();
        assignments.extend([read, rw]);
        let resources = HashMap::from([(ObjectId::from(resource), graph_resource(resource))]);
        let got = resolve_permissions(&assignments, &resources);
        let values: Vec<(&str, bool)> = got
            .iter()
            .map(|p| (p.value.as_str(), p.privileged))
            .collect();
        assert_eq!(
            values,
            vec![
                ("Application.ReadWrite.All", true),
                ("Directory.Read.All", false),
                ("e2a3a72e-5f79-4c64-b1b1-878b674786c9", false),
            ]
        );
        assert!(got.iter().all(|p| p.resource == "Microsoft Graph"));
    }

    #[test]
    fn the_privileged_list() {
        for v in [
            "Application.ReadWrite.All",
            "Directory.ReadWrite.All",
            "RoleManagement.ReadWrite.Directory",
            "AppRoleAssignment.ReadWrite.All",
            "Mail.ReadWrite",
            "Sites.FullControl.All",
        ] {
            assert!(is_privileged(v), "{v}");
            assert!(privilege_reason(v).is_some());
        }
        assert!(!is_privileged("Directory.Read.All"));
        assert!(
            !is_privileged("application.readwrite.all"),
            "exact spelling"
        );
        let mut names: Vec<&str> = PRIVILEGED_APPLICATION_PERMISSIONS
            .iter()
            .map(|(v, _)| *v)
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PRIVILEGED_APPLICATION_PERMISSIONS.len());
    }
}
