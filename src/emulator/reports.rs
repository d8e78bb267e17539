//! Graph routes about what an app uses and may do: the beta sign-in activity reports
//! (`/beta/reports/appCredentialSignInActivities`, `/beta/reports/servicePrincipalSignInActivities`, fed by the
//! token endpoint's sign-ins), `/servicePrincipals/{id}/appRoleAssignments`, `/policies/defaultAppManagementPolicy`
//! and `/applications/{id}/appManagementPolicies`.
//!
//! The reports follow Microsoft's resource definitions where the published examples disagree with them
//! (`expirationDateTime`, `keyType: clientSecret`, UTC timestamps, always a collection).
use super::Shared;
use super::graph::Ctx;
use super::http::{GRAPH_JSON, Obj, Reply, lock};
use super::model::{Kind, PasswordCredential, Tenant, graph_time};
use super::permissions::{default_policy_json, graph_app_roles_json};
use super::signin::LastUse;
use super::token::GRAPH_RESOURCE;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use uuid::Uuid;

/// The 403 a tenant without Entra ID P1/P2 gets from the sign-in activity reports.
pub(crate) fn not_premium(ctx: &Ctx) -> Reply {
    ctx.error(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
    )
}

/// The one filter clause the reports support here: `appId eq '..'` or `keyId eq '..'` (or none).
enum ReportFilter {
    All,
    AppId(String),
    KeyId(String),
}

fn parse_filter(ctx: &Ctx, filter: Option<&str>, allow_key: bool) -> Result<ReportFilter, Reply> {
    let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(ReportFilter::All);
    };
    let invalid = || {
        ctx.error(
            400,
            "Request_UnsupportedQuery",
            &format!("Invalid filter clause: {f}"),
        )
    };
    let mut parts = f.splitn(3, ' ');
    let (Some(prop), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let value = value
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(invalid)?
        .to_ascii_lowercase();
    if !op.eq_ignore_ascii_case("eq") {
        return Err(invalid());
    }
    if prop.eq_ignore_ascii_case("appId") {
        Ok(ReportFilter::AppId(value))
    } else if allow_key && prop.eq_ignore_ascii_case("keyId") {
        Ok(ReportFilter::KeyId(value))
    } else {
        Err(invalid())
    }
}

fn activity(last: Option<&LastUse>) -> Value {
    json!({
        "lastSignInDateTime": last.map(|l| graph_time(&l.time)),
        "lastSignInRequestId": last.map(|l| l.request_id.to_string()),
    })
}

fn collection(ctx: &Ctx, set: &str, rows: Vec<Value>, top: Option<usize>) -> Reply {
    let rows: Vec<Value> = rows.into_iter().take(top.unwrap_or(usize::MAX)).collect();
    let o = Obj::new()
        .with(
            "@odata.context",
            format!("{}/$metadata#reports/{set}", ctx.base),
        )
        .with("value", Value::Array(rows));
    Reply::json(200, GRAPH_JSON, &o)
}

fn credential_row(
    tenant: &Tenant,
    p: &PasswordCredential,
    origin: &str,
    app_id: Uuid,
    sp_id: Option<Uuid>,
    last: &LastUse,
) -> Value {
    let app_object = tenant
        .find(Kind::Application, &app_id, true)
        .map(|i| tenant.apps[i].id.to_string());
    let resource = last.resource.as_deref().and_then(|r| {
        r.eq_ignore_ascii_case(GRAPH_RESOURCE)
            .then(|| tenant.permissions.graph_sp.map(|g| g.to_string()))
            .flatten()
    });
    json!({
        "id": STANDARD.encode(format!("{}|{origin}", p.key_id)),
        "appId": app_id.to_string(),
        "appObjectId": app_object,
        "createdDateTime": graph_time(&p.start),
        "credentialOrigin": origin,
        "expirationDateTime": graph_time(&p.end),
        "keyId": p.key_id.to_string(),
        "keyType": "clientSecret",
        "keyUsage": "verify",
        "resourceId": resource,
        "servicePrincipalObjectId": sp_id.map(|s| s.to_string()),
        "signInActivity": activity(Some(last)),
    })
}

/// `GET /beta/reports/appCredentialSignInActivities`: one row per credential that has signed in.
pub(crate) fn app_credential_sign_in_activities(
    shared: &Shared,
    ctx: &Ctx,
    filter: Option<&str>,
    top: Option<usize>,
) -> Reply {
    let filter = match parse_filter(ctx, filter, true) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let tenant = lock(&shared.tenant);
    let wanted_app = |app_id: &Uuid| match &filter {
        ReportFilter::AppId(a) => app_id.to_string() == *a,
        _ => true,
    };
    let wanted_key = |key_id: &Uuid| match &filter {
        ReportFilter::KeyId(k) => key_id.to_string() == *k,
        _ => true,
    };
    let mut rows = Vec::new();
    for app in tenant
        .apps
        .iter()
        .filter(|a| !a.deleted && wanted_app(&a.app_id))
    {
        let sp = tenant
            .find(Kind::ServicePrincipal, &app.app_id, true)
            .map(|i| &tenant.sps[i]);
        let owned = app
            .password_credentials
            .iter()
            .map(|p| (p, "application"))
            .chain(sp.into_iter().flat_map(|s| {
                s.password_credentials
                    .iter()
                    .map(|p| (p, "servicePrincipal"))
            }));
        for (p, origin) in owned.filter(|(p, _)| wanted_key(&p.key_id)) {
            if let Some(last) = tenant.sign_ins.last_for_key(&p.key_id) {
                rows.push(credential_row(
                    &tenant,
                    p,
                    origin,
                    app.app_id,
                    sp.map(|s| s.id),
                    last,
                ));
            }
        }
    }
    collection(ctx, "appCredentialSignInActivities", rows, top)
}

/// `GET /beta/reports/servicePrincipalSignInActivities`: one row per service principal with sign-in activity,
/// as a client (app-only tokens it obtained) or as a resource (tokens issued for it, e.g. Microsoft Graph).
pub(crate) fn service_principal_sign_in_activities(
    shared: &Shared,
    ctx: &Ctx,
    filter: Option<&str>,
    top: Option<usize>,
) -> Reply {
    let filter = match parse_filter(ctx, filter, false) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let tenant = lock(&shared.tenant);
    let none = activity(None);
    let mut rows = Vec::new();
    for sp in tenant.sps.iter().filter(|s| !s.deleted) {
        let app_id = sp.app_id.to_string();
        if let ReportFilter::AppId(a) = &filter
            && *a != app_id
        {
            continue;
        }
        let client = tenant.sign_ins.last_for_app(&app_id);
        let resource = (Some(sp.id) == tenant.permissions.graph_sp)
            .then(|| tenant.sign_ins.last_for_resource(GRAPH_RESOURCE))
            .flatten();
        let last = match (client, resource) {
            (Some(c), Some(r)) => Some(if c.time >= r.time { c } else { r }),
            (c, r) => c.or(r),
        };
        if last.is_none() {
            continue;
        }
        rows.push(json!({
            "id": STANDARD.encode(&app_id),
            "appId": app_id,
            "applicationAuthenticationClientSignInActivity": activity(client),
            "applicationAuthenticationResourceSignInActivity": activity(resource),
            "delegatedClientSignInActivity": none,
            "delegatedResourceSignInActivity": none,
            "lastSignInActivity": activity(last),
        }));
    }
    collection(ctx, "servicePrincipalSignInActivities", rows, top)
}

/// `GET /servicePrincipals/{id}/appRoleAssignments`.
pub(crate) fn app_role_assignments(shared: &Shared, ctx: &Ctx, sp_idx: usize) -> Reply {
    let tenant = lock(&shared.tenant);
    let sp_id = tenant.sps[sp_idx].id;
    let value: Vec<Value> = tenant
        .permissions
        .assignments_of(sp_id)
        .map(|a| a.to_json())
        .collect();
    let o = Obj::new()
        .with(
            "@odata.context",
            format!("{}/$metadata#appRoleAssignments", ctx.base),
        )
        .with("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}

/// `GET /policies/defaultAppManagementPolicy`.
pub(crate) fn default_app_management_policy(shared: &Shared, ctx: &Ctx) -> Reply {
    let tenant = lock(&shared.tenant);
    let mut o = Obj::new()
        .with(
            "@odata.context",
            format!(
                "{}/$metadata#policies/defaultAppManagementPolicy/$entity",
                ctx.base
            ),
        )
        .with(
            "@odata.id",
            format!(
                "{}/v2/{}/defaultAppManagementPolicy/{}",
                shared.info.graph_url,
                tenant.tenant_id,
                super::permissions::DEFAULT_POLICY_ID
            ),
        );
    if let Value::Object(m) = default_policy_json(tenant.permissions.password_lifetime.as_ref()) {
        o.0.extend(m);
    }
    Reply::json(200, GRAPH_JSON, &o)
}

/// `GET /applications/{id}/appManagementPolicies`: the emulator assigns no per-app policies (the tenant default
/// policy applies to every app).
pub(crate) fn app_management_policies(ctx: &Ctx) -> Reply {
    let o = Obj::new()
        .with(
            "@odata.context",
            format!("{}/$metadata#appManagementPolicies", ctx.base),
        )
        .with("value", json!([]));
    Reply::json(200, GRAPH_JSON, &o)
}

/// Microsoft Graph's service principal lists its application permissions as `appRoles`.
pub(crate) fn app_roles_of(tenant: &Tenant, sp_id: Uuid) -> Option<Value> {
    (Some(sp_id) == tenant.permissions.graph_sp).then(graph_app_roles_json)
}

/// addPassword under a `passwordLifetime` restriction: the 400 the real service answers when the requested (or
/// default two-year) lifetime exceeds it.
pub(crate) fn lifetime_refusal(
    tenant: &Tenant,
    kind: Kind,
    idx: usize,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    ctx: &Ctx,
) -> Option<Reply> {
    if kind != Kind::Application {
        return None;
    }
    let max_days = tenant
        .permissions
        .max_password_days(tenant.apps[idx].created)?;
    ((end - start) > chrono::Duration::days(max_days)).then(|| {
        ctx.error(
            400,
            "Request_BadRequest",
            &format!(
                "Credential lifetime exceeds the max value allowed as per assigned policy {}",
                super::permissions::DEFAULT_POLICY_ID
            ),
        )
    })
}
