//! The Entra token endpoint: routing, the OIDC metadata and instance-discovery documents MSAL-based SDKs fetch
//! first, refresh tokens, issuing tokens and validating them for Graph and Key Vault. Client credentials are in
//! `signin`, the device-code flow in `device_code`, the AADSTS error bodies in `token_errors`.
//!
//! Tokens are JWT-shaped (header.payload.signature, base64url) with the claims real Entra v1 access tokens carry,
//! but the signature part is random: the emulator remembers every token it issued and validates by lookup, which
//! is all a resource server needs here and avoids a signing-key dependency.
use super::Shared;
use super::audit::Caller;
use super::device_code::{DeviceCode, RefreshGrant, device_authorization, poll_device_code};
use super::faults::{Op, with_fault};
use super::http::{ALNUM, PLAIN_JSON, Reply, lock, random_string};
use super::token_errors::{
    TokenErrors, aad_error, method_not_allowed, missing, token_headers, unknown_client,
    unknown_tenant,
};
use axum::http::{HeaderMap, Method};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
pub(crate) const VAULT_RESOURCE: &str = "https://vault.azure.net";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 3599;

/// The roles of the default client (printed in the ready line).
pub(crate) const DEFAULT_ROLES: [&str; 5] = [
    "Application.ReadWrite.All",
    "Application.Read.All",
    "AuditLog.Read.All",
    "Directory.Read.All",
    "Policy.Read.ApplicationConfiguration",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Graph,
    Vault,
    /// The Office 365 Management APIs (`https://manage.office.com`).
    Office365,
}

pub(crate) const OFFICE365_RESOURCE: &str = "https://manage.office.com";
const OFFICE365_APP_ID: &str = "c5393580-f805-4401-95e8-94b7a6ef2fc2";

/// Application permissions of the Office 365 Management APIs: carried only in tokens for that resource.
pub(crate) const OFFICE365_ROLES: [&str; 3] = [
    "ActivityFeed.Read",
    "ActivityFeed.ReadDlp",
    "ServiceHealth.Read",
];

fn is_office365_role(role: &str) -> bool {
    OFFICE365_ROLES.iter().any(|r| r.eq_ignore_ascii_case(role))
}

/// Key Vault data-plane roles (Azure RBAC). Real vaults keep these in role assignments, not in the token; the
/// emulator keeps them per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VaultRole {
    /// Key Vault Secrets Officer: get, list, set, update.
    Officer,
    /// Key Vault Secrets User: get only.
    User,
    /// Key Vault Reader: list metadata only.
    Reader,
}

impl VaultRole {
    pub fn parse(s: &str) -> Option<VaultRole> {
        match s.to_ascii_lowercase().as_str() {
            "key vault secrets officer" | "key vault administrator" => Some(VaultRole::Officer),
            "key vault secrets user" => Some(VaultRole::User),
            "key vault reader" => Some(VaultRole::Reader),
            _ => None,
        }
    }
    pub fn can_get(self) -> bool {
        matches!(self, VaultRole::Officer | VaultRole::User)
    }
    pub fn can_set(self) -> bool {
        self == VaultRole::Officer
    }
    pub fn can_list(self) -> bool {
        matches!(self, VaultRole::Officer | VaultRole::Reader)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ClientIdentity {
    pub client_id: String,
    pub secret: String,
    pub display_name: String,
    pub service_principal_id: Uuid,
    pub graph_roles: Vec<String>,
    pub vault_role: Option<VaultRole>,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub client_id: String,
    pub audience: Audience,
    pub expires: DateTime<Utc>,
    /// Set for delegated (device-code) tokens: the signed-in user.
    pub user: Option<Uuid>,
    /// For a tenant application's token (not an emulator client): who it speaks for, as at sign-in (a real
    /// token's roles are fixed when it is issued too).
    pub app: Option<ClientIdentity>,
}

/// Clients, issued tokens, pending device codes and refresh tokens.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub clients: HashMap<String, ClientIdentity>,
    tokens: HashMap<String, IssuedToken>,
    pub device_codes: HashMap<String, DeviceCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
}

impl Identity {
    pub fn add_client(&mut self, c: ClientIdentity) {
        self.clients.insert(c.client_id.to_ascii_lowercase(), c);
    }
    pub fn client(&self, client_id: &str) -> Option<&ClientIdentity> {
        self.clients.get(&client_id.to_ascii_lowercase())
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub(crate) struct AuthContext {
    pub client: ClientIdentity,
    pub caller: Caller,
    pub roles: Vec<String>,
}

impl AuthContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    Missing,
    /// Not JWT-shaped at all.
    Malformed,
    /// JWT-shaped but not issued by this emulator.
    Unknown,
    Expired,
    WrongAudience {
        found: Audience,
    },
}

/// Validate `Authorization: Bearer ...` for a resource.
pub(crate) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    expected: Audience,
) -> Result<AuthContext, AuthError> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => "",
    };
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed);
    }
    let identity = lock(&shared.identity);
    let issued = identity.tokens.get(token).ok_or(AuthError::Unknown)?;
    if issued.expires <= Utc::now() {
        return Err(AuthError::Expired);
    }
    if issued.audience != expected {
        return Err(AuthError::WrongAudience {
            found: issued.audience,
        });
    }
    let client = identity
        .client(&issued.client_id)
        .or(issued.app.as_ref())
        .cloned()
        .ok_or(AuthError::Unknown)?;
    let caller = match issued.user {
        Some(uid) => {
            let tenant = lock(&shared.tenant);
            match tenant.user(&uid) {
                Some(u) => Caller::User {
                    id: u.id,
                    display_name: u.display_name.clone(),
                    user_principal_name: u.user_principal_name.clone(),
                },
                None => return Err(AuthError::Unknown),
            }
        }
        None => Caller::App {
            app_id: client.client_id.clone(),
            display_name: client.display_name.clone(),
            service_principal_id: client.service_principal_id,
        },
    };
    Ok(AuthContext {
        roles: client.graph_roles.clone(),
        caller,
        client,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// endpoint

/// Handle a token-endpoint path, or `None` when the path is not one (then it is Graph's).
pub(crate) async fn handle(
    shared: &Shared,
    method: &Method,
    segs: &[String],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Reply> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let auth = &shared.info.authority_host;
    let reply = match l.as_slice() {
        ["common", "discovery", "instance"] => {
            let tenant = query
                .iter()
                .find(|(k, _)| k == "authorization_endpoint")
                .and_then(|(_, v)| v.split('/').nth(3).map(str::to_string))
                .unwrap_or_else(|| "common".to_string());
            let host = auth.trim_start_matches("https://");
            Reply::json(
                200,
                PLAIN_JSON,
                &json!({
                    "tenant_discovery_endpoint": format!("{auth}/{tenant}/v2.0/.well-known/openid-configuration"),
                    "api-version": "1.1",
                    "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
                }),
            )
        }
        [_, "v2.0", ".well-known", "openid-configuration"]
        | [_, ".well-known", "openid-configuration"] => {
            if method != Method::GET {
                return Some(method_not_allowed());
            }
            let tenant = &segs[0];
            let Some(tid) = resolve_tenant(shared, tenant, true) else {
                return Some(unknown_tenant(tenant));
            };
            let issuer_tid = if tid.is_some() {
                shared.info.tenant_id.clone()
            } else {
                "{tenantid}".to_string()
            };
            Reply::json(
                200,
                PLAIN_JSON,
                &openid_configuration(auth, tenant, &issuer_tid, &shared.info.graph_url),
            )
        }
        [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] => {
            Reply::json(200, PLAIN_JSON, &json!({"keys": []}))
        }
        ["devicelogin"] => Reply::text(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><title>keyturn emulator sign-in</title><p>keyturn emulator: device codes are approved \
             automatically after two polls; there is nothing to enter here.</p>",
        ),
        [_, "oauth2", "v2.0", "token"]
        | [_, "oauth2", "token"]
        | [_, "oauth2", "v2.0", "devicecode"] => {
            if method != Method::POST {
                return Some(method_not_allowed());
            }
            let v1 = l[2] == "token";
            let device = l[3 - usize::from(v1)] == "devicecode";
            let form: HashMap<String, String> = url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let corr = headers
                .get("client-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let tenant = segs[0].clone();
            with_fault(&shared.faults, Op::Token, &TokenErrors, async |_| {
                if device {
                    device_authorization(shared, &tenant, &form, corr.as_deref())
                } else {
                    token(shared, &tenant, &form, v1, corr.as_deref())
                }
            })
            .await
        }
        _ => return None,
    };
    Some(reply)
}

/// `Some(Some(id))` for this tenant (by id or domain), `Some(None)` for a multi-tenant alias when allowed.
pub(crate) fn resolve_tenant(
    shared: &Shared,
    tenant: &str,
    allow_common: bool,
) -> Option<Option<String>> {
    if tenant.eq_ignore_ascii_case(&shared.info.tenant_id)
        || tenant.eq_ignore_ascii_case(&shared.domain)
    {
        return Some(Some(shared.info.tenant_id.clone()));
    }
    if allow_common
        && ["common", "organizations"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant))
    {
        return Some(None);
    }
    None
}

fn openid_configuration(
    auth: &str,
    tenant: &str,
    issuer_tid: &str,
    graph: &str,
) -> serde_json::Value {
    json!({
        "token_endpoint": format!("{auth}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{auth}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{auth}/{issuer_tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{graph}/oidc/userinfo"),
        "authorization_endpoint": format!("{auth}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{auth}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{auth}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

/// Which resource a scope names: `https://graph.microsoft.com/.default`, this emulator's `{graphUrl}/.default`,
/// Graph's app id, or Key Vault's. Returns the audience and the `aud` claim.
pub(crate) fn resource_of(scope: &str, graph_url: &str) -> Option<(Audience, String)> {
    let res = scope.strip_suffix("/.default")?.trim_end_matches('/');
    if res.eq_ignore_ascii_case(GRAPH_RESOURCE) || res.eq_ignore_ascii_case(GRAPH_APP_ID) {
        Some((Audience::Graph, GRAPH_RESOURCE.to_string()))
    } else if res.eq_ignore_ascii_case(graph_url.trim_end_matches('/')) {
        Some((Audience::Graph, graph_url.trim_end_matches('/').to_string()))
    } else if res.eq_ignore_ascii_case(VAULT_RESOURCE) || res.eq_ignore_ascii_case(VAULT_APP_ID) {
        Some((Audience::Vault, VAULT_RESOURCE.to_string()))
    } else if res.eq_ignore_ascii_case(OFFICE365_RESOURCE)
        || res.eq_ignore_ascii_case(OFFICE365_APP_ID)
    {
        Some((Audience::Office365, OFFICE365_RESOURCE.to_string()))
    } else {
        None
    }
}

pub(crate) const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

fn token(
    shared: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    v1: bool,
    corr: Option<&str>,
) -> Reply {
    if resolve_tenant(shared, tenant, false).is_none() {
        // Device-code polling and refresh may use the multi-tenant aliases; client credentials may not.
        let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
        if grant == "client_credentials" || resolve_tenant(shared, tenant, true).is_none() {
            return unknown_tenant(tenant);
        }
    }
    let Some(grant) = form.get("grant_type") else {
        return missing("grant_type", corr);
    };
    let Some(client_id) = form.get("client_id") else {
        return missing("client_id", corr);
    };
    if grant == "client_credentials" {
        // The emulator's own clients and every application of the tenant (with its own secrets).
        return super::signin::client_credentials(shared, client_id, form, v1, corr);
    }
    let client = match lock(&shared.identity).client(client_id) {
        Some(c) => c.clone(),
        None => return unknown_client(client_id, &shared.domain, corr),
    };
    match grant.as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            poll_device_code(shared, &client, form, corr)
        }
        "refresh_token" => {
            let Some(rt) = form.get("refresh_token") else {
                return missing("refresh_token", corr);
            };
            let grant = lock(&shared.identity)
                .refresh_tokens
                .get(rt)
                .map(|g| (g.client_id.clone(), g.user));
            let Some((owner, user)) =
                grant.filter(|(c, _)| c.eq_ignore_ascii_case(&client.client_id))
            else {
                return aad_error(
                    400,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                    corr,
                );
            };
            let _ = owner;
            let scope = form.get("scope").cloned().unwrap_or_default();
            let audience = delegated_audience(&scope, &shared.info.graph_url);
            let aud = if audience == Audience::Vault {
                VAULT_RESOURCE
            } else {
                GRAPH_RESOURCE
            };
            let (access, _) = issue(shared, &client, audience, aud, Some(user));
            success(&access, Some(&scope), Some(rt), None)
        }
        other => aad_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
            corr,
        ),
    }
}

/// A v1-endpoint (`/oauth2/token`) success body, with the token endpoint's headers.
pub(crate) fn token_headers_v1(body: serde_json::Value) -> Reply {
    token_headers(
        Reply::json(200, PLAIN_JSON, &body),
        &Uuid::new_v4().to_string(),
    )
}

pub(crate) fn success(
    access: &str,
    scope: Option<&str>,
    refresh: Option<&str>,
    id_token: Option<&str>,
) -> Reply {
    #[derive(Serialize)]
    struct Ok<'a> {
        token_type: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<&'a str>,
        expires_in: i64,
        ext_expires_in: i64,
        access_token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id_token: Option<&'a str>,
    }
    let body = Ok {
        token_type: "Bearer",
        scope,
        expires_in: TOKEN_LIFETIME_SECS,
        ext_expires_in: TOKEN_LIFETIME_SECS,
        access_token: access,
        refresh_token: refresh,
        id_token,
    };
    token_headers(
        Reply::json(200, PLAIN_JSON, &body),
        &Uuid::new_v4().to_string(),
    )
}

pub(crate) fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default())
}

/// Issue and remember an access token.
pub(crate) fn issue(
    shared: &Shared,
    client: &ClientIdentity,
    audience: Audience,
    aud: &str,
    user: Option<Uuid>,
) -> (String, DateTime<Utc>) {
    let now = Utc::now();
    let exp = now + ChronoDuration::seconds(TOKEN_LIFETIME_SECS);
    let tid = &shared.info.tenant_id;
    let mut claims = json!({
        "aud": aud,
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": exp.timestamp(),
        "appid": client.client_id,
        "app_displayname": client.display_name,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{tid}/"),
        "tid": tid,
        "uti": random_string(22, ALNUM),
        "ver": "1.0",
    });
    // Each resource's token carries that resource's application permissions only.
    let roles: Vec<&String> = client
        .graph_roles
        .iter()
        .filter(|r| is_office365_role(r) == (audience == Audience::Office365))
        .collect();
    match user.and_then(|u| lock(&shared.tenant).user(&u).cloned()) {
        Some(u) => {
            claims["idtyp"] = json!("user");
            claims["oid"] = json!(u.id.to_string());
            claims["sub"] = json!(u.id.to_string());
            claims["upn"] = json!(u.user_principal_name);
            claims["name"] = json!(u.display_name);
            if audience == Audience::Graph {
                claims["scp"] = json!(
                    roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        None => {
            claims["idtyp"] = json!("app");
            claims["oid"] = json!(client.service_principal_id.to_string());
            claims["sub"] = json!(client.service_principal_id.to_string());
            // Key Vault authorizes with Azure RBAC, not token roles: Graph and Office 365 tokens carry app roles.
            if audience != Audience::Vault {
                claims["roles"] = json!(roles);
            }
        }
    }
    let header =
        json!({"typ": "JWT", "alg": "RS256", "x5t": "keyturn-emulator", "kid": "keyturn-emulator"});
    let signature = URL_SAFE_NO_PAD.encode(super::http::random_bytes(64));
    let token = format!("{}.{}.{}", b64(&header), b64(&claims), signature);
    let mut identity = lock(&shared.identity);
    let app = identity
        .client(&client.client_id)
        .is_none()
        .then(|| client.clone());
    // A long-running emulator (a demo left open, a soak test) would otherwise keep every token ever issued.
    if identity.tokens.len() >= 10_000 {
        identity.tokens.retain(|_, t| t.expires > now);
    }
    identity.tokens.insert(
        token.clone(),
        IssuedToken {
            client_id: client.client_id.clone(),
            audience,
            expires: exp,
            user,
            app,
        },
    );
    (token, exp)
}

/// Delegated scopes name a resource either with `/.default` or as `https://vault.azure.net/user_impersonation`;
/// bare permission names (`Application.Read.All`) are Graph's.
pub(crate) fn delegated_audience(scope: &str, graph_url: &str) -> Audience {
    let vault = scope.split_whitespace().any(|s| {
        resource_of(s, graph_url).map(|r| r.0) == Some(Audience::Vault)
            || s.to_ascii_lowercase().starts_with(VAULT_RESOURCE)
    });
    if vault {
        Audience::Vault
    } else {
        Audience::Graph
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_map_to_resources() {
        let g = "https://127.0.0.1:4443";
        assert_eq!(
            resource_of("https://graph.microsoft.com/.default", g)
                .unwrap()
                .0,
            Audience::Graph
        );
        assert_eq!(
            resource_of("https://127.0.0.1:4443/.default", g).unwrap(),
            (Audience::Graph, g.to_string())
        );
        assert_eq!(
            resource_of("https://vault.azure.net/.default", g)
                .unwrap()
                .0,
            Audience::Vault
        );
        assert_eq!(
            resource_of("https://management.azure.com/.default", g),
            None
        );
        assert_eq!(resource_of("User.Read", g), None);
        assert_eq!(
            delegated_audience(
                "https://vault.azure.net/user_impersonation offline_access",
                g
            ),
            Audience::Vault
        );
        assert_eq!(
            delegated_audience("Application.Read.All openid", g),
            Audience::Graph
        );
    }
}
