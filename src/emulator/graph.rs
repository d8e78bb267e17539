//! Microsoft Graph v1.0 (and the same routes under /beta): applications, service principals, owners,
//! directoryAudits, addPassword/removePassword, delta, `$batch`. One dispatcher serves top-level requests and
//! `$batch` sub-requests alike, so both get the same auth, throttling, faults and error bodies.
use super::Shared;
use super::audit::AuditEvent;
use super::faults::{ErrorShape, Op, with_fault};
use super::http::{GRAPH_JSON, Obj, Reply, inner_error_date, lock, pct_decode, pct_encode_query};
use super::model::{
    Application, KeyCredential, Kind, NewPassword, Owner, PasswordCredential, RemoveError,
    ServicePrincipal, Tenant, graph_time,
};
use super::odata::{
    self, CmpOp, Coll, Filter, FilterError, Filterable, Prop, QueryOptions, Schema, StrItem, Ty,
    Val, decode_token, encode_token,
};
use super::token::{AuthContext, AuthError, authenticate};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::borrow::Cow;
use uuid::Uuid;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;
const MAX_AUDIT_PAGE: usize = 1000;
/// How long Entra keeps directory audit events: 30 days with Entra ID P1/P2, 7 days on Free.
pub(crate) const AUDIT_RETENTION_P1_DAYS: i64 = 30;
pub(crate) const AUDIT_RETENTION_FREE_DAYS: i64 = 7;
const MAX_BATCH: usize = 20;

/// Per-request context for error bodies and links.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub request_id: String,
    pub client_request_id: String,
    /// `{graphUrl}/v1.0` or `{graphUrl}/beta`.
    pub base: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(rename = "innerError")]
    inner_error: InnerError<'a>,
}

#[derive(Serialize)]
struct InnerError<'a> {
    date: String,
    #[serde(rename = "request-id")]
    request_id: &'a str,
    #[serde(rename = "client-request-id")]
    client_request_id: &'a str,
}

impl Ctx {
    /// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
    pub fn error(&self, status: u16, code: &str, message: &str) -> Reply {
        let body = ErrorBody {
            error: ErrorInner {
                code,
                message,
                inner_error: InnerError {
                    date: inner_error_date(),
                    request_id: &self.request_id,
                    client_request_id: &self.client_request_id,
                },
            },
        };
        Reply::json(status, GRAPH_JSON, &body)
    }

    fn not_found(&self, id: &str) -> Reply {
        self.error(
            404,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    fn forbidden(&self) -> Reply {
        self.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    fn bad_request(&self, message: &str) -> Reply {
        self.error(400, "Request_BadRequest", message)
    }

    fn method_not_allowed(&self) -> Reply {
        self.error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    fn filter_error(&self, e: &FilterError) -> Reply {
        self.error(400, e.graph_code(), &e.message())
    }
}

#[derive(Serialize)]
struct ThrottleBody<'a> {
    error: ThrottleInner<'a>,
}

#[derive(Serialize)]
struct ThrottleInner<'a> {
    code: &'static str,
    #[serde(rename = "innerError")]
    inner_error: ThrottleInnerError<'a>,
    message: &'static str,
}

#[derive(Serialize)]
struct ThrottleInnerError<'a> {
    code: &'static str,
    date: String,
    message: &'static str,
    #[serde(rename = "request-id")]
    request_id: &'a str,
    status: &'static str,
}

impl ErrorShape for Ctx {
    fn status(&self, status: u16) -> Reply {
        match status {
            400 => self.bad_request("One or more properties contains invalid values."),
            401 => self.error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
            403 => self.forbidden(),
            404 => self.not_found("00000000-0000-0000-0000-000000000000"),
            409 => self.error(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property keyId already exists.",
            ),
            429 => self.throttle_body(),
            500 => self.error(
                500,
                "Service_InternalServerError",
                "Encountered an internal server error.",
            ),
            502 => self.error(
                502,
                "BadGateway",
                "The service encountered an error with an upstream dependency.",
            ),
            503 => self.error(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Try again later.",
            ),
            504 => self.error(504, "GatewayTimeout", "The request timed out."),
            s => self.error(s, "UnknownError", "An unexpected error occurred."),
        }
    }

    fn throttled(&self, retry_after: &str) -> Reply {
        self.throttle_body()
            .with_header("Retry-After", retry_after)
            .with_header(
                "x-ms-throttle-scope",
                "Tenant_Application/ReadWrite/keyturn-emulator",
            )
            .with_header("x-ms-throttle-information", "ResourceUnitLimitExceeded")
    }

    fn content_type(&self) -> &'static str {
        GRAPH_JSON
    }
}

impl Ctx {
    /// The exact body of Microsoft's 429 sample (tests/fixtures/microsoft/graph/throttling/).
    fn throttle_body(&self) -> Reply {
        let body = ThrottleBody {
            error: ThrottleInner {
                code: "TooManyRequests",
                inner_error: ThrottleInnerError {
                    code: "429",
                    date: inner_error_date(),
                    message: "Please retry after",
                    request_id: &self.request_id,
                    status: "429",
                },
                message: "Please retry again later.",
            },
        };
        Reply::json(429, GRAPH_JSON, &body)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// entry points

/// A top-level Graph request (path starts with `/v1.0` or `/beta`).
pub(crate) async fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let request_id = Uuid::new_v4().to_string();
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    // `/v1.0/applications/` names the collection, like `/v1.0/applications`.
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(pct_decode)
        .collect();
    let version = segs.first().cloned().unwrap_or_default();
    let ctx = Ctx {
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
        base: format!("{}/{}", shared.info.graph_url, version),
    };
    let reply = if segs.len() == 2 && segs[1].eq_ignore_ascii_case("$batch") && is_version(&version)
    {
        if method == Method::POST {
            batch(shared, &ctx, &version, headers, body).await
        } else {
            ctx.method_not_allowed()
        }
    } else {
        dispatch(shared, &ctx, method, &segs, raw_query, headers, body).await
    };
    graph_headers(reply, &request_id, &client_request_id)
}

fn is_version(v: &str) -> bool {
    v == "v1.0" || v == "beta"
}

fn graph_headers(mut r: Reply, request_id: &str, client_request_id: &str) -> Reply {
    r.set_header("request-id", request_id);
    r.set_header("client-request-id", client_request_id);
    r.set_header(
        "x-ms-ags-diagnostic",
        r#"{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"keyturn-emulator"}}"#,
    );
    r.set_header("Cache-Control", "no-cache");
    r.set_header("Strict-Transport-Security", "max-age=31536000");
    if r.status < 300 && r.body.is_some() {
        r.set_header("OData-Version", "4.0");
        r.set_header("x-ms-resource-unit", "1");
    }
    r
}

/// Which route a path names.
enum Route {
    List(Kind),
    Count(Kind),
    Get(Kind, Key),
    Owners(Kind, Key),
    AddPassword(Kind, Key),
    RemovePassword(Kind, Key),
    Delta(Kind),
    Audits,
    Audit(String),
    AppRoleAssignments(Kind, Key),
    AppManagementPolicies(Kind, Key),
    DefaultAppManagementPolicy,
    /// `reports/appCredentialSignInActivities` (beta).
    CredentialSignIns,
    /// `reports/servicePrincipalSignInActivities` (beta).
    ServicePrincipalSignIns,
}

enum Key {
    Id(String),
    AppId(String),
}

impl Key {
    fn text(&self) -> &str {
        match self {
            Key::Id(s) | Key::AppId(s) => s,
        }
    }
}

/// `applications`, `applications(appId='..')`, `applications('..')` -> kind and optional key.
fn entity_segment(seg: &str) -> Option<(Kind, Option<Key>)> {
    let lower = seg.to_ascii_lowercase();
    let (kind, rest) = if let Some(r) = lower.strip_prefix("applications") {
        (Kind::Application, &seg[seg.len() - r.len()..])
    } else if let Some(r) = lower.strip_prefix("serviceprincipals") {
        (Kind::ServicePrincipal, &seg[seg.len() - r.len()..])
    } else {
        return None;
    };
    if rest.is_empty() {
        return Some((kind, None));
    }
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let unquote = |s: &str| s.trim().trim_matches('\'').to_string();
    match inner.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("appId") => {
            Some((kind, Some(Key::AppId(unquote(v)))))
        }
        Some(_) => None,
        None => Some((kind, Some(Key::Id(unquote(inner))))),
    }
}

fn is_fn(seg: &str, name: &str) -> bool {
    let s = seg.trim_end_matches("()");
    s.eq_ignore_ascii_case(name) || s.eq_ignore_ascii_case(&format!("microsoft.graph.{name}"))
}

fn route(segs: &[String]) -> Result<Route, String> {
    let Some(first) = segs.first() else {
        return Err(String::new());
    };
    if first.eq_ignore_ascii_case("auditLogs") {
        return match segs.get(1..) {
            Some([a]) if a.eq_ignore_ascii_case("directoryAudits") => Ok(Route::Audits),
            Some([a, id]) if a.eq_ignore_ascii_case("directoryAudits") => {
                Ok(Route::Audit(id.clone()))
            }
            Some([a, ..]) => Err(a.clone()),
            _ => Err(first.clone()),
        };
    }
    if first.eq_ignore_ascii_case("reports") {
        return match segs.get(1..) {
            Some([a]) if a.eq_ignore_ascii_case("appCredentialSignInActivities") => {
                Ok(Route::CredentialSignIns)
            }
            Some([a]) if a.eq_ignore_ascii_case("servicePrincipalSignInActivities") => {
                Ok(Route::ServicePrincipalSignIns)
            }
            Some([a, ..]) => Err(a.clone()),
            _ => Err(first.clone()),
        };
    }
    if first.eq_ignore_ascii_case("policies") {
        return match segs.get(1..) {
            Some([a]) if a.eq_ignore_ascii_case("defaultAppManagementPolicy") => {
                Ok(Route::DefaultAppManagementPolicy)
            }
            Some([a, ..]) => Err(a.clone()),
            _ => Err(first.clone()),
        };
    }
    let (kind, key) = entity_segment(first).ok_or_else(|| first.clone())?;
    let rest = &segs[1..];
    let (key, rest) = match (key, rest) {
        (Some(k), r) => (Some(k), r),
        (None, []) => return Ok(Route::List(kind)),
        (None, [c]) if c == "$count" => return Ok(Route::Count(kind)),
        (None, [d]) if is_fn(d, "delta") => return Ok(Route::Delta(kind)),
        (None, [id, r @ ..]) => (Some(Key::Id(id.clone())), r),
    };
    let Some(key) = key else {
        return Err(first.clone());
    };
    match rest {
        [] => Ok(Route::Get(kind, key)),
        [o] if o.eq_ignore_ascii_case("owners") => Ok(Route::Owners(kind, key)),
        [a] if is_fn(a, "addPassword") => Ok(Route::AddPassword(kind, key)),
        [a] if is_fn(a, "removePassword") => Ok(Route::RemovePassword(kind, key)),
        [a] if kind == Kind::ServicePrincipal && a.eq_ignore_ascii_case("appRoleAssignments") => {
            Ok(Route::AppRoleAssignments(kind, key))
        }
        [a] if kind == Kind::Application && a.eq_ignore_ascii_case("appManagementPolicies") => {
            Ok(Route::AppManagementPolicies(kind, key))
        }
        [other, ..] => Err(other.clone()),
    }
}

const READ_ROLES: [&str; 4] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

async fn dispatch(
    shared: &Shared,
    ctx: &Ctx,
    method: &Method,
    segs: &[String],
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let version = segs.first().map(String::as_str).unwrap_or("");
    if !is_version(version) {
        return ctx.error(400, "BadRequest", &format!("Invalid version: {version}"));
    }
    let auth = match authenticate(shared, headers, super::token::Audience::Graph) {
        Ok(a) => a,
        Err(e) => {
            let message = match e {
                AuthError::Missing => "Access token is empty.",
                AuthError::Malformed => "CompactToken parsing failed with error code: 80049217",
                AuthError::Unknown => "Access token validation failure.",
                AuthError::Expired => "Lifetime validation failed, the token is expired.",
                AuthError::WrongAudience { .. } => {
                    "Access token validation failure. Invalid audience."
                }
            };
            return ctx.error(401, "InvalidAuthenticationToken", message).with_header(
                "WWW-Authenticate",
                format!(
                    "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                    shared.info.authority_host
                ),
            );
        }
    };
    if let Some(retry_after) = shared.faults.tick() {
        return ctx.throttled(&retry_after);
    }
    let route = match route(&segs[1..]) {
        Ok(r) => r,
        Err(seg) => {
            return ctx.error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{seg}'."),
            );
        }
    };
    let pairs = super::http::parse_query(raw_query);
    let q = match QueryOptions::parse(&pairs) {
        Ok(q) => q,
        Err(dup) => return ctx.error(400, "BadRequest", &format!("Query option '{dup}' was specified more than once but it must be specified at most once.")),
    };
    let advanced = headers
        .get("ConsistencyLevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let read = READ_ROLES.iter().any(|r| auth.has_role(r));
    let is_get = *method == Method::GET;
    let is_post = *method == Method::POST;
    match route {
        Route::List(kind) if is_get => {
            if !read {
                return ctx.forbidden();
            }
            let op = if kind == Kind::Application {
                Op::ListApplications
            } else {
                Op::ListServicePrincipals
            };
            with_fault(&shared.faults, op, ctx, async |_| {
                list(shared, ctx, kind, &q, advanced)
            })
            .await
        }
        Route::Count(kind) if is_get => {
            if !read {
                return ctx.forbidden();
            }
            if !advanced {
                return ctx.bad_request(
                    "$count is only supported with the ConsistencyLevel header set to eventual.",
                );
            }
            let tenant = lock(&shared.tenant);
            let n = match kind {
                Kind::Application => tenant.apps.iter().filter(|a| !a.deleted).count(),
                Kind::ServicePrincipal => tenant.sps.iter().filter(|s| !s.deleted).count(),
            };
            Reply::text(200, "text/plain", n.to_string())
        }
        Route::Get(kind, key) if *method == Method::PATCH => {
            let idx = match writable(shared, ctx, &auth, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            super::patch::patch_key_credentials(shared, ctx, kind, idx, body, &auth.caller)
        }
        Route::Get(kind, key) if is_get => {
            let op = if kind == Kind::Application {
                Op::GetApplication
            } else {
                Op::GetServicePrincipal
            };
            let idx = match find(shared, ctx, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            if !read && !owns(shared, &auth, kind, idx) {
                return ctx.forbidden();
            }
            with_fault(&shared.faults, op, ctx, async |_| {
                get(shared, ctx, kind, idx, &q)
            })
            .await
        }
        Route::Owners(kind, key) if is_get => {
            let idx = match find(shared, ctx, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            if !read && !auth.has_role("Application.ReadWrite.OwnedBy") {
                return ctx.forbidden();
            }
            with_fault(&shared.faults, Op::ListOwners, ctx, async |_| {
                owners(shared, ctx, kind, idx)
            })
            .await
        }
        Route::AddPassword(kind, key) if is_post => {
            let idx = match writable(shared, ctx, &auth, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            let req = match parse_add_password(ctx, body) {
                Ok(r) => r,
                Err(r) => return r,
            };
            let (start, end) = super::model::password_dates(&req);
            if let Some(refusal) =
                super::reports::lifetime_refusal(&lock(&shared.tenant), kind, idx, start, end, ctx)
            {
                return refusal;
            }
            with_fault(&shared.faults, Op::AddPassword, ctx, async |_| {
                let cred = lock(&shared.tenant).add_password(kind, idx, req, &auth.caller);
                Reply::json(200, GRAPH_JSON, &password_json(&cred, Some(ctx), true))
            })
            .await
        }
        Route::RemovePassword(kind, key) if is_post => {
            let idx = match writable(shared, ctx, &auth, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            let key_id = match parse_remove_password(ctx, kind, body) {
                Ok(k) => k,
                Err(r) => return r,
            };
            let lag = shared.faults.replication_lag();
            with_fault(&shared.faults, Op::RemovePassword, ctx, async |_| {
                match lock(&shared.tenant).remove_password(kind, idx, key_id, lag, &auth.caller) {
                    Ok(()) => Reply::empty(204),
                    // An unknown keyId and one added too recently to be replicated answer alike, as on a
                    // real tenant (a third-party capture, tests/fixtures/microsoft/graph/directoryAudits/).
                    Err(RemoveError::NoSuchKey) => ctx.bad_request(&format!(
                        "Invalid value specified for property 'keyId' of resource '{}'.",
                        kind.resource_name()
                    )),
                }
            })
            .await
        }
        Route::Delta(kind) if is_get => {
            if !read {
                return ctx.forbidden();
            }
            with_fault(&shared.faults, Op::Delta, ctx, async |_| {
                delta(shared, ctx, kind, &q)
            })
            .await
        }
        Route::Audits if is_get => {
            let audit_ok = auth.has_role("AuditLog.Read.All")
                && (auth.has_role("Directory.Read.All")
                    || auth.has_role("Directory.ReadWrite.All"));
            if !audit_ok {
                return ctx.forbidden();
            }
            with_fault(&shared.faults, Op::ListAudits, ctx, async |_| {
                audits(shared, ctx, &q)
            })
            .await
        }
        Route::CredentialSignIns | Route::ServicePrincipalSignIns
            if is_get && !version.eq_ignore_ascii_case("beta") =>
        {
            let seg = if matches!(route, Route::CredentialSignIns) {
                "appCredentialSignInActivities"
            } else {
                "servicePrincipalSignInActivities"
            };
            ctx.error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{seg}'."),
            )
        }
        Route::CredentialSignIns | Route::ServicePrincipalSignIns if is_get => {
            if !auth.has_role("AuditLog.Read.All") {
                return ctx.forbidden();
            }
            if !shared.faults.entra_id_p1() {
                return super::reports::not_premium(ctx);
            }
            let top = match q
                .top
                .as_deref()
                .map(|t| parse_top(ctx, Some(t), 1000, 1000))
            {
                Some(Ok(t)) => Some(t),
                Some(Err(r)) => return r,
                None => None,
            };
            with_fault(&shared.faults, Op::ListSignInActivities, ctx, async |_| {
                if matches!(route, Route::CredentialSignIns) {
                    super::reports::app_credential_sign_in_activities(
                        shared,
                        ctx,
                        q.filter.as_deref(),
                        top,
                    )
                } else {
                    super::reports::service_principal_sign_in_activities(
                        shared,
                        ctx,
                        q.filter.as_deref(),
                        top,
                    )
                }
            })
            .await
        }
        Route::AppRoleAssignments(kind, key) if is_get => {
            let idx = match find(shared, ctx, kind, &key) {
                Ok(i) => i,
                Err(r) => return r,
            };
            if !read {
                return ctx.forbidden();
            }
            with_fault(
                &shared.faults,
                Op::ListAppRoleAssignments,
                ctx,
                async |_| super::reports::app_role_assignments(shared, ctx, idx),
            )
            .await
        }
        Route::AppManagementPolicies(kind, key) if is_get => {
            if let Err(r) = find(shared, ctx, kind, &key) {
                return r;
            }
            if !read {
                return ctx.forbidden();
            }
            super::reports::app_management_policies(ctx)
        }
        Route::DefaultAppManagementPolicy if is_get => {
            let policy_read = [
                "Policy.Read.ApplicationConfiguration",
                "Policy.ReadWrite.ApplicationConfiguration",
                "Policy.Read.All",
            ];
            if !policy_read.iter().any(|r| auth.has_role(r)) {
                return ctx.forbidden();
            }
            with_fault(
                &shared.faults,
                Op::GetAppManagementPolicy,
                ctx,
                async |_| super::reports::default_app_management_policy(shared, ctx),
            )
            .await
        }
        Route::Audit(id) if is_get => {
            if !(auth.has_role("AuditLog.Read.All") && auth.has_role("Directory.Read.All")) {
                return ctx.forbidden();
            }
            let tenant = lock(&shared.tenant);
            match tenant.audits.iter().find(|e| e.id == id) {
                Some(e) => {
                    let mut o = Obj::new().with(
                        "@odata.context",
                        format!("{}/$metadata#auditLogs/directoryAudits/$entity", ctx.base),
                    );
                    o.0.extend(e.to_json().0);
                    Reply::json(200, GRAPH_JSON, &o)
                }
                None => ctx.not_found(&id),
            }
        }
        _ => ctx.method_not_allowed(),
    }
}

/// The object a credential write targets, if the caller may write it: Application.ReadWrite.All, or
/// Application.ReadWrite.OwnedBy on an object the caller owns.
fn writable(
    shared: &Shared,
    ctx: &Ctx,
    auth: &AuthContext,
    kind: Kind,
    key: &Key,
) -> Result<usize, Reply> {
    let idx = find(shared, ctx, kind, key)?;
    let may_write = auth.has_role("Application.ReadWrite.All")
        || (auth.has_role("Application.ReadWrite.OwnedBy") && owns(shared, auth, kind, idx));
    if may_write {
        Ok(idx)
    } else {
        Err(ctx.forbidden())
    }
}

fn find(shared: &Shared, ctx: &Ctx, kind: Kind, key: &Key) -> Result<usize, Reply> {
    let tenant = lock(&shared.tenant);
    match key {
        Key::Id(id) => {
            let uuid = Uuid::parse_str(id)
                .map_err(|_| ctx.bad_request(&format!("Invalid object identifier '{id}'.")))?;
            tenant
                .find(kind, &uuid, false)
                .ok_or_else(|| ctx.not_found(id))
        }
        Key::AppId(app_id) => Uuid::parse_str(app_id)
            .ok()
            .and_then(|u| tenant.find(kind, &u, true))
            .ok_or_else(|| ctx.not_found(key.text())),
    }
}

/// True when the caller's service principal (or signed-in user) is an owner of the object.
fn owns(shared: &Shared, auth: &AuthContext, kind: Kind, idx: usize) -> bool {
    let me = match &auth.caller {
        super::audit::Caller::App {
            service_principal_id,
            ..
        } => *service_principal_id,
        super::audit::Caller::User { id, .. } => *id,
    };
    lock(&shared.tenant).owners(kind, idx).contains(&me)
}

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

fn sp_signing_end(s: &ServicePrincipal) -> Option<DateTime<Utc>> {
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
fn render(
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

fn context(ctx: &Ctx, set: &str, select: Option<&[&'static str]>, entity: bool) -> String {
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

// ---------------------------------------------------------------------------------------------------------------
// filters

struct AppView<'a>(&'a Application, &'a str);
struct SpView<'a>(&'a ServicePrincipal);

impl Filterable for AppView<'_> {
    fn get(&self, path: &str) -> Val<'_> {
        let a = self.0;
        match path {
            "id" => Val::Str(Cow::Owned(a.id.to_string())),
            "appId" => Val::Str(Cow::Owned(a.app_id.to_string())),
            "displayName" => Val::Str(Cow::Borrowed(&a.display_name)),
            "publisherDomain" => Val::Str(Cow::Borrowed(self.1)),
            "signInAudience" => Val::Str(Cow::Borrowed(a.sign_in_audience)),
            "createdDateTime" => Val::Time(a.created),
            "notes" => a
                .notes
                .as_deref()
                .map(|n| Val::Str(Cow::Borrowed(n)))
                .unwrap_or(Val::Null),
            _ => Val::Null,
        }
    }
    fn any(&self, coll: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        let items = match coll {
            "identifierUris" => &self.0.identifier_uris,
            "tags" => &self.0.tags,
            _ => return false,
        };
        items.iter().any(|s| pred(&StrItem(s)))
    }
}

impl Filterable for SpView<'_> {
    fn get(&self, path: &str) -> Val<'_> {
        let s = self.0;
        match path {
            "id" => Val::Str(Cow::Owned(s.id.to_string())),
            "appId" => Val::Str(Cow::Owned(s.app_id.to_string())),
            "displayName" => Val::Str(Cow::Borrowed(&s.display_name)),
            "servicePrincipalType" => Val::Str(Cow::Borrowed("Application")),
            "accountEnabled" => Val::Bool(s.account_enabled),
            "appOwnerOrganizationId" => {
                Val::Str(Cow::Owned(s.app_owner_organization_id.to_string()))
            }
            "preferredSingleSignOnMode" => s
                .preferred_single_sign_on_mode
                .map(|m| Val::Str(Cow::Borrowed(m)))
                .unwrap_or(Val::Null),
            "preferredTokenSigningKeyEndDateTime" => {
                sp_signing_end(s).map(Val::Time).unwrap_or(Val::Null)
            }
            _ => Val::Null,
        }
    }
    fn any(&self, coll: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        match coll {
            "tags" => self.0.tags.iter().any(|s| pred(&StrItem(s))),
            "servicePrincipalNames" => pred(&StrItem(&self.0.app_id.to_string())),
            _ => false,
        }
    }
}

const EQ: &[CmpOp] = &[CmpOp::Eq, CmpOp::In, CmpOp::Ne];
const EQ_SW: &[CmpOp] = &[CmpOp::Eq, CmpOp::In, CmpOp::Ne, CmpOp::StartsWith];
const RANGE: &[CmpOp] = &[CmpOp::Ge, CmpOp::Le, CmpOp::Eq, CmpOp::Gt, CmpOp::Lt];
const STR_ITEMS: &[Prop] = &[Prop {
    path: "",
    ty: Ty::Str,
    ops: EQ_SW,
}];

/// Default + advanced filters from Microsoft's "advanced query capabilities" table of directory objects.
static APP_SCHEMA: Schema = Schema {
    resource: "Application",
    props: &[
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "appId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "displayName",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "publisherDomain",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "signInAudience",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "createdDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
        Prop {
            path: "notes",
            ty: Ty::Str,
            ops: EQ_SW,
        },
    ],
    colls: &[
        Coll {
            path: "identifierUris",
            items: STR_ITEMS,
        },
        Coll {
            path: "tags",
            items: STR_ITEMS,
        },
    ],
    complex_unsupported: &["passwordCredentials", "keyCredentials"],
    advanced_only: &[CmpOp::Ne],
};

static SP_SCHEMA: Schema = Schema {
    resource: "ServicePrincipal",
    props: &[
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "appId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "displayName",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "servicePrincipalType",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "accountEnabled",
            ty: Ty::Bool,
            ops: EQ,
        },
        Prop {
            path: "appOwnerOrganizationId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "preferredSingleSignOnMode",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "preferredTokenSigningKeyEndDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
    ],
    colls: &[
        Coll {
            path: "tags",
            items: STR_ITEMS,
        },
        Coll {
            path: "servicePrincipalNames",
            items: STR_ITEMS,
        },
    ],
    complex_unsupported: &["passwordCredentials", "keyCredentials"],
    advanced_only: &[CmpOp::Ne],
};

const AUDIT_STR: &[CmpOp] = &[CmpOp::Eq, CmpOp::StartsWith];
const AUDIT_EQ: &[CmpOp] = &[CmpOp::Eq];

/// directoryAudit filters (the filter table of Microsoft's directoryAudit resource page), plus `category eq` which
/// clients use.
static AUDIT_SCHEMA: Schema = Schema {
    resource: "directoryAudit",
    props: &[
        Prop {
            path: "activityDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
        Prop {
            path: "activityDisplayName",
            ty: Ty::Str,
            ops: AUDIT_STR,
        },
        Prop {
            path: "loggedByService",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "category",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "correlationId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "operationType",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "result",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/id",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/displayName",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/userPrincipalName",
            ty: Ty::Str,
            ops: AUDIT_STR,
        },
        Prop {
            path: "initiatedBy/app/appId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/app/displayName",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/app/servicePrincipalId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
    ],
    colls: &[Coll {
        path: "targetResources",
        items: &[
            Prop {
                path: "id",
                ty: Ty::Str,
                ops: AUDIT_EQ,
            },
            Prop {
                path: "displayName",
                ty: Ty::Str,
                ops: AUDIT_STR,
            },
            Prop {
                path: "type",
                ty: Ty::Str,
                ops: AUDIT_EQ,
            },
        ],
    }],
    complex_unsupported: &[],
    advanced_only: &[],
};

pub(super) fn schema(kind: Kind) -> &'static Schema {
    match kind {
        Kind::Application => &APP_SCHEMA,
        Kind::ServicePrincipal => &SP_SCHEMA,
    }
}

fn matches(tenant: &Tenant, kind: Kind, idx: usize, filter: Option<&Filter>) -> bool {
    let Some(f) = filter else { return true };
    match kind {
        Kind::Application => odata::eval(f, &AppView(&tenant.apps[idx], &tenant.domain)),
        Kind::ServicePrincipal => odata::eval(f, &SpView(&tenant.sps[idx])),
    }
}

fn parse_top(ctx: &Ctx, top: Option<&str>, default: usize, max: usize) -> Result<usize, Reply> {
    let Some(t) = top else { return Ok(default) };
    match t.trim().parse::<i64>() {
        Ok(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Ok(_) => Err(ctx.bad_request(&format!(
            "Invalid page size specified: '{t}'. Must be between 1 and {max} inclusive."
        ))),
        Err(_) => Err(ctx.error(
            400,
            "BadRequest",
            &format!("Invalid value '{t}' for query option '$top': it must be a positive integer."),
        )),
    }
}

fn parse_select(
    ctx: &Ctx,
    kind: Kind,
    raw: Option<&str>,
) -> Result<Option<Vec<&'static str>>, Reply> {
    let Some(raw) = raw else { return Ok(None) };
    let props = if kind == Kind::Application {
        APP_PROPS
    } else {
        SP_PROPS
    };
    let type_name = if kind == Kind::Application {
        "application"
    } else {
        "servicePrincipal"
    };
    odata::parse_select(raw, props).map(Some).map_err(|name| {
        ctx.error(
            400,
            "Request_BadRequest",
            &format!(
                "Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'."
            ),
        )
    })
}

fn expired_token(ctx: &Ctx) -> Reply {
    ctx.error(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

// ---------------------------------------------------------------------------------------------------------------
// list / get / owners

/// Position in a listing; tied to this emulator run by the nonce.
#[derive(Serialize, Deserialize)]
struct PageToken {
    n: String,
    k: char,
    o: usize,
}

fn kind_char(kind: Kind) -> char {
    if kind == Kind::Application { 'a' } else { 's' }
}

fn list(shared: &Shared, ctx: &Ctx, kind: Kind, q: &QueryOptions, advanced: bool) -> Reply {
    let read_lag = shared.faults.read_lag();
    let top = match parse_top(ctx, q.top.as_deref(), DEFAULT_PAGE, MAX_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let select = match parse_select(ctx, kind, q.select.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let advanced = advanced && q.count_requested();
    let filter = match q
        .filter
        .as_deref()
        .map(|f| odata::compile(f, schema(kind), advanced))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let start = match q.skiptoken.as_deref() {
        None => 0,
        Some(t) => match decode_token::<PageToken>(t)
            .filter(|p| p.n == shared.nonce && p.k == kind_char(kind))
        {
            Some(p) => p.o,
            None => return expired_token(ctx),
        },
    };
    let tenant = lock(&shared.tenant);
    let len = match kind {
        Kind::Application => tenant.apps.len(),
        Kind::ServicePrincipal => tenant.sps.len(),
    };
    let live = |i: usize| match kind {
        Kind::Application => !tenant.apps[i].deleted,
        Kind::ServicePrincipal => !tenant.sps[i].deleted,
    };
    let mut value = Vec::with_capacity(top.min(len));
    let mut next = None;
    for i in start..len {
        if !live(i) || !matches(&tenant, kind, i, filter.as_ref()) {
            continue;
        }
        if value.len() == top {
            // Only hand out a nextLink when another match exists: no empty last page.
            next = Some(i);
            break;
        }
        value.push(render(&tenant, kind, i, select.as_deref(), read_lag));
    }
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), false),
    );
    if advanced {
        let count = (0..len)
            .filter(|i| live(*i) && matches(&tenant, kind, *i, filter.as_ref()))
            .count();
        o.push("@odata.count", count);
    }
    if let Some(next) = next {
        let token = encode_token(&PageToken {
            n: shared.nonce.clone(),
            k: kind_char(kind),
            o: next,
        });
        let mut link = format!("{}/{}?", ctx.base, kind.set_name());
        for (name, v) in [
            ("$top", &q.top),
            ("$select", &q.select),
            ("$filter", &q.filter),
            ("$count", &q.count),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("{name}={}&", pct_encode_query(v)));
            }
        }
        link.push_str(&format!("$skiptoken={token}"));
        o.push("@odata.nextLink", link);
    }
    o.push(
        "value",
        Value::Array(value.into_iter().map(Obj::into_value).collect()),
    );
    Reply::json(200, GRAPH_JSON, &o)
}

fn get(shared: &Shared, ctx: &Ctx, kind: Kind, idx: usize, q: &QueryOptions) -> Reply {
    let select = match parse_select(ctx, kind, q.select.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tenant = lock(&shared.tenant);
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), true),
    );
    let read_lag = shared.faults.read_lag();
    o.0.extend(render(&tenant, kind, idx, select.as_deref(), read_lag).0);
    Reply::json(200, GRAPH_JSON, &o)
}

fn owners(shared: &Shared, ctx: &Ctx, kind: Kind, idx: usize) -> Reply {
    let tenant = lock(&shared.tenant);
    let value: Vec<Value> = tenant
        .owners(kind, idx)
        .iter()
        .filter_map(|id| tenant.principal(id))
        .map(|p| match p {
            Owner::User(u) => json!({
                "@odata.type": "#microsoft.graph.user",
                "id": u.id.to_string(),
                "businessPhones": [],
                "displayName": u.display_name,
                "givenName": null,
                "jobTitle": null,
                "mail": u.mail,
                "mobilePhone": null,
                "officeLocation": null,
                "preferredLanguage": null,
                "surname": null,
                "userPrincipalName": u.user_principal_name,
            }),
            Owner::ServicePrincipal(s) => sp_owner_json(s.id, s.app_id, &s.display_name),
            Owner::Client {
                id,
                app_id,
                display_name,
            } => sp_owner_json(id, app_id, display_name),
        })
        .collect();
    let o = Obj::new()
        .with(
            "@odata.context",
            format!("{}/$metadata#directoryObjects", ctx.base),
        )
        .with("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}

fn sp_owner_json(id: Uuid, app_id: Uuid, display_name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": id.to_string(),
        "accountEnabled": true,
        "appDisplayName": display_name,
        "appId": app_id.to_string(),
        "displayName": display_name,
        "servicePrincipalType": "Application",
    })
}

// ---------------------------------------------------------------------------------------------------------------
// addPassword / removePassword bodies

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AddPasswordBody {
    password_credential: Option<PasswordCredentialIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PasswordCredentialIn {
    display_name: Option<String>,
    start_date_time: Option<String>,
    end_date_time: Option<String>,
}

fn bad_json(ctx: &Ctx) -> Reply {
    ctx.error(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
    )
}

fn parse_add_password(ctx: &Ctx, body: &[u8]) -> Result<NewPassword, Reply> {
    let parsed: AddPasswordBody = if body.iter().all(u8::is_ascii_whitespace) {
        AddPasswordBody::default()
    } else {
        serde_json::from_slice(body).map_err(|_| bad_json(ctx))?
    };
    let pc = parsed.password_credential.unwrap_or_default();
    let date = |v: Option<String>, name: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match v {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s).map(|d| Some(d.with_timezone(&Utc))).map_err(|_| {
                ctx.bad_request(&format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))
            }),
        }
    };
    let start = date(pc.start_date_time, "startDateTime")?;
    let end = date(pc.end_date_time, "endDateTime")?;
    if let (Some(s), Some(e)) = (start.or(Some(Utc::now())), end)
        && e <= s
    {
        return Err(ctx.bad_request(
            "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
        ));
    }
    Ok(NewPassword {
        display_name: pc.display_name,
        start,
        end,
    })
}

fn parse_remove_password(ctx: &Ctx, kind: Kind, body: &[u8]) -> Result<Uuid, Reply> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RemoveBody {
        key_id: Option<String>,
    }
    let parsed: RemoveBody = serde_json::from_slice(body).map_err(|_| bad_json(ctx))?;
    parsed
        .key_id
        .and_then(|k| Uuid::parse_str(&k).ok())
        .ok_or_else(|| {
            ctx.bad_request(&format!(
                "Invalid value specified for property 'keyId' of resource '{}'.",
                kind.resource_name()
            ))
        })
}

// ---------------------------------------------------------------------------------------------------------------
// delta

/// Delta state inside `$skiptoken` (mid-round) and `$deltatoken` (between rounds). Like Graph, the query options
/// of the first request (`$select`, `$filter`, `$top`) live inside the token, so follow-up links carry nothing else.
#[derive(Serialize, Deserialize, Clone)]
struct DeltaToken {
    n: String,
    k: char,
    /// Changes after this sequence number (0 = initial round: everything live).
    s: u64,
    /// Round snapshot: changes up to this number belong to this round.
    u: u64,
    /// Next index to scan (mid-round only).
    o: usize,
    sel: Option<String>,
    f: Option<String>,
    t: Option<String>,
}

fn delta(shared: &Shared, ctx: &Ctx, kind: Kind, q: &QueryOptions) -> Reply {
    let read_lag = shared.faults.read_lag();
    // An unknown, foreign or future token: 400 Request_BadRequest. The directory family of errors
    // (tests/fixtures/microsoft/graph/graph_errors/) rather than OneDrive's `resyncRequired`/410, because
    // applications and service principals are directory objects; third-party evidence says "HTTP 400"
    // (reports on real tenants).
    let invalid = || {
        ctx.bad_request(
            "The delta token is invalid or has expired. Start a new delta round without a token.",
        )
    };
    let current = lock(&shared.tenant).seq;
    let mut state = if let Some(t) = q.skiptoken.as_deref() {
        match decode_token::<DeltaToken>(t)
            .filter(|d| d.n == shared.nonce && d.k == kind_char(kind) && d.u <= current)
        {
            Some(d) => d,
            None => return invalid(),
        }
    } else if let Some(t) = q.deltatoken.as_deref() {
        if t.eq_ignore_ascii_case("latest") {
            let token = DeltaToken {
                n: shared.nonce.clone(),
                k: kind_char(kind),
                s: current,
                u: current,
                o: 0,
                sel: q.select.clone(),
                f: q.filter.clone(),
                t: q.top.clone(),
            };
            let o = Obj::new()
                .with("@odata.context", context(ctx, kind.set_name(), None, false))
                .with(
                    "@odata.deltaLink",
                    format!(
                        "{}/{}/delta?$deltatoken={}",
                        ctx.base,
                        kind.set_name(),
                        encode_token(&token)
                    ),
                )
                .with("value", json!([]));
            return Reply::json(200, GRAPH_JSON, &o);
        }
        match decode_token::<DeltaToken>(t)
            .filter(|d| d.n == shared.nonce && d.k == kind_char(kind) && d.s <= current)
        {
            Some(d) => DeltaToken {
                u: current,
                o: 0,
                ..d
            },
            None => return invalid(),
        }
    } else {
        DeltaToken {
            n: shared.nonce.clone(),
            k: kind_char(kind),
            s: 0,
            u: current,
            o: 0,
            sel: q.select.clone(),
            f: q.filter.clone(),
            t: q.top.clone(),
        }
    };
    let top = match parse_top(ctx, state.t.as_deref(), DEFAULT_PAGE, MAX_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut select = match parse_select(ctx, kind, state.sel.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Delta always returns the id.
    if let Some(sel) = select.as_mut()
        && !sel.contains(&"id")
    {
        sel.insert(0, "id");
    }
    let filter = match state
        .f
        .as_deref()
        .map(|f| odata::compile(f, schema(kind), false))
        .transpose()
    {
        Ok(Some(f)) if !odata::is_id_filter(&f) => {
            return ctx.error(
                400,
                "Request_UnsupportedQuery",
                "The only supported $filter expression for delta is 'id eq'.",
            );
        }
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let tenant = lock(&shared.tenant);
    let len = match kind {
        Kind::Application => tenant.apps.len(),
        Kind::ServicePrincipal => tenant.sps.len(),
    };
    let mut value = Vec::new();
    let mut next = None;
    for i in state.o..len {
        let (seq, deleted, id) = match kind {
            Kind::Application => (
                tenant.apps[i].seq,
                tenant.apps[i].deleted,
                tenant.apps[i].id,
            ),
            Kind::ServicePrincipal => (tenant.sps[i].seq, tenant.sps[i].deleted, tenant.sps[i].id),
        };
        let in_round = if state.s == 0 {
            !deleted && seq <= state.u
        } else {
            seq > state.s && seq <= state.u
        };
        if !in_round || !matches(&tenant, kind, i, filter.as_ref()) {
            continue;
        }
        if value.len() == top {
            next = Some(i);
            break;
        }
        if deleted {
            value.push(json!({"@odata.type": kind.odata_type(), "id": id.to_string(), "@removed": {"reason": "deleted"}}));
        } else {
            value.push(render(&tenant, kind, i, select.as_deref(), read_lag).into_value());
        }
    }
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), false),
    );
    match next {
        Some(i) => {
            state.o = i;
            o.push(
                "@odata.nextLink",
                format!(
                    "{}/{}/delta?$skiptoken={}",
                    ctx.base,
                    kind.set_name(),
                    encode_token(&state)
                ),
            );
        }
        None => {
            let link = DeltaToken {
                s: state.u,
                o: 0,
                ..state
            };
            o.push(
                "@odata.deltaLink",
                format!(
                    "{}/{}/delta?$deltatoken={}",
                    ctx.base,
                    kind.set_name(),
                    encode_token(&link)
                ),
            );
        }
    }
    o.push("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}

// ---------------------------------------------------------------------------------------------------------------
// directoryAudits

#[derive(Serialize, Deserialize)]
struct AuditToken {
    n: String,
    /// Ascending: next index to read. Descending: exclusive upper bound.
    o: usize,
}

fn audits(shared: &Shared, ctx: &Ctx, q: &QueryOptions) -> Reply {
    let top = match parse_top(ctx, q.top.as_deref(), DEFAULT_PAGE, MAX_AUDIT_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let filter = match q
        .filter
        .as_deref()
        .map(|f| odata::compile(f, &AUDIT_SCHEMA, false))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let ascending = match q.orderby.as_deref().map(|o| o.trim().to_ascii_lowercase()) {
        None => false,
        Some(o) if o == "activitydatetime desc" => false,
        Some(o) if o == "activitydatetime asc" || o == "activitydatetime" => true,
        Some(o) => {
            return ctx.error(
                400,
                "BadRequest",
                &format!("$orderby is only supported on activityDateTime, not '{o}'."),
            );
        }
    };
    let tenant = lock(&shared.tenant);
    let len = tenant.audits.len();
    let start = match q.skiptoken.as_deref() {
        None if ascending => 0,
        None => len,
        Some(t) => {
            match decode_token::<AuditToken>(t).filter(|a| a.n == shared.nonce && a.o <= len) {
                Some(a) => a.o,
                None => return expired_token(ctx),
            }
        }
    };
    // Entra keeps directory audits 30 days with P1/P2 and 7 days on Free: older events are gone.
    let retention_days = if shared.faults.entra_id_p1() {
        AUDIT_RETENTION_P1_DAYS
    } else {
        AUDIT_RETENTION_FREE_DAYS
    };
    let oldest = super::model::graph_now() - chrono::Duration::days(retention_days);
    let keep = |e: &AuditEvent| {
        e.activity_date_time >= oldest && filter.as_ref().is_none_or(|f| odata::eval(f, e))
    };
    let order: Box<dyn Iterator<Item = usize>> = if ascending {
        Box::new(start..len)
    } else {
        Box::new((0..start).rev())
    };
    let mut value = Vec::new();
    let mut next = None;
    for i in order {
        if !keep(&tenant.audits[i]) {
            continue;
        }
        if value.len() == top {
            next = Some(if ascending { i } else { i + 1 });
            break;
        }
        value.push(tenant.audits[i].to_json().into_value());
    }
    let mut o = Obj::new().with(
        "@odata.context",
        format!("{}/$metadata#auditLogs/directoryAudits", ctx.base),
    );
    if let Some(n) = next {
        let mut link = format!("{}/auditLogs/directoryAudits?", ctx.base);
        for (name, v) in [
            ("$top", &q.top),
            ("$filter", &q.filter),
            ("$orderby", &q.orderby),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("{name}={}&", pct_encode_query(v)));
            }
        }
        link.push_str(&format!(
            "$skiptoken={}",
            encode_token(&AuditToken {
                n: shared.nonce.clone(),
                o: n
            })
        ));
        o.push("@odata.nextLink", link);
    }
    o.push("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}

// ---------------------------------------------------------------------------------------------------------------
// $batch

#[derive(Deserialize)]
struct BatchIn {
    requests: Vec<BatchRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// JSON batching (tests/fixtures/microsoft/graph/json_batching/): at most 20 requests with unique ids, run in order
/// (which satisfies any dependsOn), each answered as `{id, status, headers, body}`; a failed dependency gives 424.
async fn batch(
    shared: &Shared,
    ctx: &Ctx,
    version: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let parsed: BatchIn = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return ctx.error(400, "BadRequest", "Invalid batch payload format."),
    };
    if parsed.requests.is_empty() || parsed.requests.len() > MAX_BATCH {
        return ctx.error(
            400,
            "BadRequest",
            "A batch must contain between 1 and 20 requests.",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for r in &parsed.requests {
        if !seen.insert(r.id.to_ascii_lowercase()) {
            return ctx.error(
                400,
                "BadRequest",
                &format!(
                    "Batch request ids must be unique; '{}' is used more than once.",
                    r.id
                ),
            );
        }
    }
    if let Err(e) = authenticate(shared, headers, super::token::Audience::Graph) {
        let message = if e == AuthError::Missing {
            "Access token is empty."
        } else {
            "Access token validation failure."
        };
        return ctx.error(401, "InvalidAuthenticationToken", message);
    }
    let mut statuses: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    let mut responses = Vec::new();
    for r in parsed.requests {
        let sub_ctx = Ctx {
            request_id: Uuid::new_v4().to_string(),
            client_request_id: r
                .headers
                .get("client-request-id")
                .cloned()
                .unwrap_or_else(|| ctx.client_request_id.clone()),
            base: ctx.base.clone(),
        };
        let failed_dep = r.depends_on.iter().any(|d| {
            statuses
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| *s >= 400)
        });
        let reply = if failed_dep {
            sub_ctx.error(
                424,
                "FailedDependency",
                "The request depends on a request that failed or was not in this batch.",
            )
        } else {
            let url = r.url.trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let mut segs: Vec<String> = vec![version.to_string()];
            segs.extend(path.split('/').map(pct_decode));
            let mut sub_headers = HeaderMap::new();
            if let Some(a) = headers.get(axum::http::header::AUTHORIZATION) {
                sub_headers.insert(axum::http::header::AUTHORIZATION, a.clone());
            }
            for (k, v) in &r.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    sub_headers.insert(n, v);
                }
            }
            let sub_body = r
                .body
                .as_ref()
                .map(|b| serde_json::to_vec(b).unwrap_or_default())
                .unwrap_or_default();
            match Method::from_bytes(r.method.to_ascii_uppercase().as_bytes()) {
                Ok(m)
                    if segs
                        .get(1)
                        .is_some_and(|s| s.eq_ignore_ascii_case("$batch")) =>
                {
                    let _ = m;
                    sub_ctx.error(
                        400,
                        "BadRequest",
                        "Nested $batch requests are not supported.",
                    )
                }
                Ok(m) => {
                    Box::pin(dispatch(
                        shared,
                        &sub_ctx,
                        &m,
                        &segs,
                        query,
                        &sub_headers,
                        &sub_body,
                    ))
                    .await
                }
                Err(_) => sub_ctx.method_not_allowed(),
            }
        };
        if reply.drop_connection {
            // A lost answer loses the whole batch response: it travels on the same connection.
            return Reply::dropped();
        }
        statuses.insert(r.id.to_ascii_lowercase(), reply.status);
        let mut h = serde_json::Map::new();
        h.insert("Cache-Control".into(), json!("no-cache"));
        h.insert("x-ms-resource-unit".into(), json!("1"));
        if let Some((_, ct)) = &reply.body {
            h.insert("Content-Type".into(), json!(ct));
            // Like Microsoft's sample (tests/fixtures/microsoft/graph/json_batching/): a sub-response with a body says
            // its OData version, as a top-level response does.
            if reply.status < 300 {
                h.insert("OData-Version".into(), json!("4.0"));
            }
        }
        if let Some(ra) = reply.header("Retry-After") {
            h.insert("Retry-After".into(), json!(ra));
        }
        let body = reply.body.as_ref().map(|(b, _)| {
            serde_json::from_slice::<Value>(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        });
        let mut item = Obj::new()
            .with("id", r.id)
            .with("status", reply.status)
            .with("headers", Value::Object(h));
        if let Some(b) = body {
            item.push("body", b);
        }
        responses.push(item.into_value());
    }
    Reply::json(
        200,
        GRAPH_JSON,
        &Obj::new().with("responses", Value::Array(responses)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| route(&p.split('/').map(str::to_string).collect::<Vec<_>>());
        assert!(matches!(
            r("applications"),
            Ok(Route::List(Kind::Application))
        ));
        assert!(matches!(
            r("servicePrincipals/delta"),
            Ok(Route::Delta(Kind::ServicePrincipal))
        ));
        assert!(matches!(
            r("applications/microsoft.graph.delta()"),
            Ok(Route::Delta(Kind::Application))
        ));
        assert!(
            matches!(r("applications(appId='abc')"), Ok(Route::Get(Kind::Application, Key::AppId(a))) if a == "abc")
        );
        assert!(matches!(
            r("applications(appId='abc')/addPassword"),
            Ok(Route::AddPassword(_, _))
        ));
        assert!(matches!(
            r("applications/x/removePassword"),
            Ok(Route::RemovePassword(_, Key::Id(_)))
        ));
        assert!(matches!(
            r("applications/x/owners"),
            Ok(Route::Owners(_, _))
        ));
        assert!(matches!(r("auditLogs/directoryAudits"), Ok(Route::Audits)));
        assert!(matches!(r("users"), Err(s) if s == "users"));
        assert!(matches!(r("applications/x/frobnicate"), Err(s) if s == "frobnicate"));
    }
}
