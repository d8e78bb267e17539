//! Graph JSON rendering of applications, service principals and credentials, with `$select`.
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// rendering

pub(crate) const APP_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "appId",
    "applicationTemplateId",
    "disabledByMicrosoftStatus",
    "createdDateTime",
    "displayName",
    "description",
    "groupMembershipClaims",
    "identifierUris",
    "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient",
    "notes",
    "publisherDomain",
    "serviceManagementReference",
    "signInAudience",
    "tags",
    "tokenEncryptionKeyId",
    "uniqueName",
    "defaultRedirectUri",
    "optionalClaims",
    "api",
    "appRoles",
    "info",
    "keyCredentials",
    "passwordCredentials",
    "publicClient",
    "requiredResourceAccess",
    "spa",
    "verifiedPublisher",
    "web",
];

pub(crate) const SP_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "alternativeNames",
    "appDisplayName",
    "appDescription",
    "appId",
    "applicationTemplateId",
    "appOwnerOrganizationId",
    "appRoleAssignmentRequired",
    "description",
    "disabledByMicrosoftStatus",
    "displayName",
    "homepage",
    "loginUrl",
    "logoutUrl",
    "notes",
    "notificationEmailAddresses",
    "preferredSingleSignOnMode",
    "preferredTokenSigningKeyEndDateTime",
    "preferredTokenSigningKeyThumbprint",
    "replyUrls",
    "servicePrincipalNames",
    "servicePrincipalType",
    "signInAudience",
    "tags",
    "tokenEncryptionKeyId",
    "info",
    "keyCredentials",
    "passwordCredentials",
    "appRoles",
    "oauth2PermissionScopes",
    "verifiedPublisher",
];

/// A passwordCredential. `secretText` is only ever non-null in the addPassword answer.
pub(crate) fn password_json(p: &PasswordCredential, ctx: Option<&Ctx>, with_secret: bool) -> Obj {
    let mut o = Obj::new();
    if let Some(ctx) = ctx {
        o.push(
            "@odata.context",
            format!("{}/$metadata#microsoft.graph.passwordCredential", ctx.base),
        );
    }
    o.with("customKeyIdentifier", Value::Null)
        .with("displayName", json!(p.display_name))
        .with("endDateTime", graph_time(&p.end))
        .with("hint", p.hint())
        .with("keyId", p.key_id.to_string())
        .with(
            "secretText",
            if with_secret {
                json!(p.secret())
            } else {
                Value::Null
            },
        )
        .with("startDateTime", graph_time(&p.start))
}

/// A keyCredential. `key` stays null: the emulator stores thumbprints, not certificate bodies.
fn key_json(k: &KeyCredential) -> Value {
    Obj::new()
        .with("customKeyIdentifier", json!(k.custom_key_identifier))
        .with("displayName", json!(k.display_name))
        .with("endDateTime", graph_time(&k.end))
        .with("key", Value::Null)
        .with("keyId", k.key_id.to_string())
        .with("startDateTime", graph_time(&k.start))
        .with("type", "AsymmetricX509Cert")
        .with("usage", k.usage.as_str())
        .into_value()
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

fn app_prop(a: &Application, name: &str, domain: &str) -> Value {
    match name {
        "id" => json!(a.id.to_string()),
        "appId" => json!(a.app_id.to_string()),
        "createdDateTime" => json!(graph_time(&a.created)),
        "displayName" => json!(a.display_name),
        "identifierUris" => strings(&a.identifier_uris),
        "notes" => json!(a.notes),
        "publisherDomain" => json!(domain),
        "signInAudience" => json!(a.sign_in_audience),
        "tags" => strings(&a.tags),
        "keyCredentials" => Value::Array(a.key_credentials.iter().map(key_json).collect()),
        "passwordCredentials" => Value::Array(
            a.password_credentials
                .iter()
                .map(|p| password_json(p, None, false).into_value())
                .collect(),
        ),
        "appRoles" | "requiredResourceAccess" => json!([]),
        "api" => {
            json!({"acceptMappedClaims": null, "knownClientApplications": [], "requestedAccessTokenVersion": null, "oauth2PermissionScopes": [], "preAuthorizedApplications": []})
        }
        "info" => {
            json!({"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null})
        }
        "publicClient" | "spa" => json!({"redirectUris": []}),
        "verifiedPublisher" => {
            json!({"displayName": null, "verifiedPublisherId": null, "addedDateTime": null})
        }
        "web" => {
            json!({"homePageUrl": null, "logoutUrl": null, "redirectUris": [], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}, "redirectUriSettings": []})
        }
        _ => Value::Null,
    }
}

pub(super) fn sp_signing_end(s: &ServicePrincipal) -> Option<DateTime<Utc>> {
    s.preferred_token_signing_key_thumbprint.as_ref()?;
    s.key_credentials
        .iter()
        .filter(|k| k.usage == super::model::KeyUsage::Sign)
        .map(|k| k.end)
        .max()
}

fn sp_prop(s: &ServicePrincipal, name: &str, app_display_name: Option<&str>) -> Value {
    match name {
        "id" => json!(s.id.to_string()),
        "accountEnabled" => json!(s.account_enabled),
        "alternativeNames"
        | "notificationEmailAddresses"
        | "replyUrls"
        | "appRoles"
        | "oauth2PermissionScopes" => json!([]),
        "appDisplayName" => json!(app_display_name.unwrap_or(&s.display_name)),
        "appId" => json!(s.app_id.to_string()),
        "appOwnerOrganizationId" => json!(s.app_owner_organization_id.to_string()),
        "appRoleAssignmentRequired" => json!(false),
        "displayName" => json!(s.display_name),
        "preferredSingleSignOnMode" => json!(s.preferred_single_sign_on_mode),
        "preferredTokenSigningKeyEndDateTime" => json!(sp_signing_end(s).map(|d| graph_time(&d))),
        "preferredTokenSigningKeyThumbprint" => json!(s.preferred_token_signing_key_thumbprint),
        "servicePrincipalNames" => json!([s.app_id.to_string()]),
        "servicePrincipalType" => json!("Application"),
        "signInAudience" => json!(s.sign_in_audience),
        "tags" => strings(&s.tags),
        "keyCredentials" => Value::Array(s.key_credentials.iter().map(key_json).collect()),
        "passwordCredentials" => Value::Array(
            s.password_credentials
                .iter()
                .map(|p| password_json(p, None, false).into_value())
                .collect(),
        ),
        "info" => {
            json!({"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null})
        }
        "verifiedPublisher" => {
            json!({"displayName": null, "verifiedPublisherId": null, "addedDateTime": null})
        }
        _ => Value::Null,
    }
}

/// An object as Graph shows it. With a read lag (a knob), passwords added through addPassword less than `read_lag`
/// ago are not listed yet, as a read served by a replica that has not caught up.
pub(super) fn render(
    tenant: &Tenant,
    kind: Kind,
    idx: usize,
    select: Option<&[&'static str]>,
    read_lag: std::time::Duration,
) -> Obj {
    let mut o = render_all(tenant, kind, idx, select);
    if read_lag.is_zero() {
        return o;
    }
    for (name, value) in &mut o.0 {
        if name == "passwordCredentials"
            && let Value::Array(items) = value
        {
            items.retain(|p| {
                p.get("keyId")
                    .and_then(Value::as_str)
                    .and_then(|k| Uuid::parse_str(k).ok())
                    .is_none_or(|k| !tenant.added_less_than(&k, read_lag))
            });
        }
    }
    o
}

fn render_all(tenant: &Tenant, kind: Kind, idx: usize, select: Option<&[&'static str]>) -> Obj {
    let mut o = Obj::new();
    match kind {
        Kind::Application => {
            let a = &tenant.apps[idx];
            for p in select.unwrap_or(APP_PROPS) {
                o.push(*p, app_prop(a, p, &tenant.domain));
            }
        }
        Kind::ServicePrincipal => {
            let s = &tenant.sps[idx];
            for p in select.unwrap_or(SP_PROPS) {
                let value = match (*p, super::reports::app_roles_of(tenant, s.id)) {
                    ("appRoles", Some(roles)) => roles,
                    _ => sp_prop(s, p, None),
                };
                o.push(*p, value);
            }
        }
    }
    o
}

pub(super) fn context(
    ctx: &Ctx,
    set: &str,
    select: Option<&[&'static str]>,
    entity: bool,
) -> String {
    let mut s = format!("{}/$metadata#{set}", ctx.base);
    if let Some(sel) = select {
        s.push('(');
        s.push_str(&sel.join(","));
        s.push(')');
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}
