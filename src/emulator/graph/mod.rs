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
use super::{model, reports, token};
use audits::audits;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use batch::batch;
use chrono::{DateTime, Utc};
use collections::{get, list, owners, parse_add_password, parse_remove_password};
use delta::delta;
use filters::parse_top;
pub(super) use filters::schema;
use render::password_json;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::borrow::Cow;
use uuid::Uuid;

mod audits;
mod batch;
mod collections;
mod delta;
mod filters;
mod render;

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
            // Users' properties need a permission to read users; without one Graph sends only their type and id.
            let user_names = [
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ]
            .iter()
            .any(|r| auth.has_role(r));
            with_fault(&shared.faults, Op::ListOwners, ctx, async |_| {
                owners(shared, ctx, kind, idx, user_names)
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
