//! Key Vault secrets data plane (tests/fixtures/microsoft/keyvault/): set, get (latest or a version), list versions,
//! update attributes, list secrets; the 401 challenge SDKs need before they fetch a token; KeyVaultError bodies with
//! the lowercase `innererror` of the spec. Each vault is its own HTTPS listener, like `https://<name>.vault.azure.net`.
use super::Shared;
use super::faults::{Denial, ErrorShape, Op, with_fault};
use super::http::{Obj, PLAIN_JSON, Reply, hex32, lock, parse_query, pct_decode, pct_encode_query};
use super::odata::{decode_token, encode_token};
use super::token::{Audience, AuthError, VAULT_RESOURCE, authenticate};
use axum::http::{HeaderMap, Method};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// api-versions served. The four stable versions of the spec folder, plus 7.4 which older SDKs send.
/// (azure_security_keyvault_secrets 1.0.1, the Rust SDK keyturn uses, sends 2025-07-01.)
pub(crate) const API_VERSIONS: [&str; 5] = ["7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"];
const MAX_RESULTS: usize = 25;

#[derive(Debug, Clone)]
pub(crate) struct SecretVersion {
    pub version: String,
    pub value: String,
    pub enabled: bool,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    pub tags: BTreeMap<String, String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Secret {
    /// The name as first created (lookups are case-insensitive).
    pub name: String,
    /// Oldest first; the last is "latest".
    pub versions: Vec<SecretVersion>,
}

/// A soft-deleted secret: its name cannot be reused until it is recovered or purged.
#[derive(Debug, Clone)]
pub(crate) struct DeletedSecret {
    pub secret: Secret,
    pub deleted_date: i64,
    pub scheduled_purge_date: i64,
}

/// Days a deleted secret stays recoverable (the vault's soft-delete retention; 90 is the default).
const RECOVERABLE_DAYS: i64 = 90;

#[derive(Debug)]
pub(crate) struct Vault {
    pub url: String,
    /// Keyed by lowercase name.
    pub secrets: BTreeMap<String, Secret>,
    /// Soft-deleted secrets, keyed by lowercase name (every vault has soft delete on, as Azure enforces now).
    pub deleted: BTreeMap<String, DeletedSecret>,
}

impl Vault {
    pub fn new(url: String) -> Vault {
        Vault {
            url,
            secrets: BTreeMap::new(),
            deleted: BTreeMap::new(),
        }
    }

    /// DELETE: the secret moves to the deleted state (soft delete), all versions kept.
    pub fn soft_delete(&mut self, name: &str, now: i64) -> Option<&DeletedSecret> {
        let key = name.to_ascii_lowercase();
        let secret = self.secrets.remove(&key)?;
        self.deleted.insert(
            key.clone(),
            DeletedSecret {
                secret,
                deleted_date: now,
                scheduled_purge_date: now + RECOVERABLE_DAYS * 86_400,
            },
        );
        self.deleted.get(&key)
    }

    /// DeletedSecretBundle, without the value.
    fn deleted_bundle(&self, d: &DeletedSecret) -> Obj {
        let mut o = Obj::new().with(
            "recoveryId",
            format!("{}/deletedsecrets/{}", self.url, d.secret.name),
        );
        o.push("deletedDate", d.deleted_date);
        o.push("scheduledPurgeDate", d.scheduled_purge_date);
        if let Some(v) = d.secret.versions.last() {
            o.0.extend(self.bundle(&d.secret, v, false, None).0);
        }
        o
    }

    pub fn set(&mut self, name: &str, v: SecretVersion) -> &SecretVersion {
        let entry = self
            .secrets
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Secret {
                name: name.to_string(),
                versions: Vec::new(),
            });
        entry.versions.push(v);
        let last = entry.versions.len() - 1;
        &entry.versions[last]
    }

    fn secret_id(&self, name: &str, version: Option<&str>) -> String {
        match version {
            Some(v) => format!("{}/secrets/{name}/{v}", self.url),
            None => format!("{}/secrets/{name}", self.url),
        }
    }

    fn attributes(v: &SecretVersion) -> Obj {
        let mut a = Obj::new().with("enabled", v.enabled);
        if let Some(nbf) = v.nbf {
            a.push("nbf", nbf);
        }
        if let Some(exp) = v.exp {
            a.push("exp", exp);
        }
        a.with("created", v.created)
            .with("updated", v.updated)
            .with("recoveryLevel", "Recoverable+Purgeable")
            .with("recoverableDays", 90)
    }

    /// SecretBundle (with value) or SecretItem (without).
    fn bundle(
        &self,
        s: &Secret,
        v: &SecretVersion,
        with_value: bool,
        value_override: Option<String>,
    ) -> Obj {
        let mut o = Obj::new();
        if with_value {
            o.push("value", value_override.unwrap_or_else(|| v.value.clone()));
        }
        if let Some(ct) = &v.content_type {
            o.push("contentType", ct.clone());
        }
        o.push("id", self.secret_id(&s.name, Some(&v.version)));
        o.push("attributes", Self::attributes(v).into_value());
        if !v.tags.is_empty() {
            o.push("tags", json!(v.tags));
        }
        o
    }
}

// ---------------------------------------------------------------------------------------------------------------
// errors

#[derive(Serialize)]
struct KvErrorBody<'a> {
    error: KvError<'a>,
}

#[derive(Serialize)]
struct KvError<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    innererror: Option<KvInner<'a>>,
}

#[derive(Serialize)]
struct KvInner<'a> {
    code: &'a str,
}

fn kv_error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Reply {
    let body = KvErrorBody {
        error: KvError {
            code,
            message,
            innererror: inner.map(|code| KvInner { code }),
        },
    };
    Reply::json(status, PLAIN_JSON, &body)
}

fn not_found(name: &str, version: Option<&str>) -> Reply {
    let id = match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_string(),
    };
    kv_error(
        404,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {id} was not found in this key vault. If you recently deleted this secret you \
             may be able to recover it using the correct recovery command. For help resolving this issue, please \
             see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        None,
    )
}

/// The answer to a write of a soft-deleted name (the wording `az keyvault secret set` prints from the service's
/// error; tests/fixtures/captured/keyvault/SOURCES.md names where it was read).
fn deleted_but_recoverable(name: &str) -> Reply {
    kv_error(
        409,
        "Conflict",
        &format!(
            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this \
             state, the secret can only be recovered or purged."
        ),
        Some("ObjectIsDeletedButRecoverable"),
    )
}

fn deleted_not_found(name: &str) -> Reply {
    kv_error(
        404,
        "SecretNotFound",
        &format!("Deleted Secret not found: {name}"),
        None,
    )
}

fn bad_parameter(message: &str) -> Reply {
    kv_error(400, "BadParameter", message, None)
}

struct KvErrors<'a> {
    challenge: &'a str,
    client: String,
    action: &'static str,
    url: String,
}

impl KvErrors<'_> {
    fn forbidden(&self) -> Reply {
        // The RBAC denial text of a real vault: caller, action, and the hint about propagation delay.
        kv_error(
            403,
            "Forbidden",
            &format!(
                "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or \
                 role definitions were changed recently, please observe propagation time.\r\nCaller: {}\r\nAction: \
                 'Microsoft.KeyVault/vaults/secrets/{}'\r\nResource: '{}'\r\nAssignment: (not found)\r\n\
                 DecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: keyturn-emulator;location=westeurope\r\n",
                self.client, self.action, self.url
            ),
            Some("ForbiddenByRbac"),
        )
    }
}

impl KvErrors<'_> {
    /// The vault's firewall refuses the client's address before any permission is looked at (the wording of a
    /// real refusal; tests/fixtures/captured/keyvault/SOURCES.md).
    fn firewall(&self) -> Reply {
        kv_error(
            403,
            "Forbidden",
            &format!(
                "Client address is not authorized and caller is not a trusted service.\r\nClient address: \
                 127.0.0.1\r\nCaller: {}\r\nVault: keyturn-emulator;location=westeurope",
                self.client
            ),
            Some("ForbiddenByFirewall"),
        )
    }

    /// An access-policy vault (not RBAC) without a policy that grants the permission.
    fn access_policy(&self) -> Reply {
        let permission = match self.action {
            "getSecret/action" => "get",
            "setSecret/action" => "set",
            "readMetadata/action" => "list",
            "deletedSecrets/recover/action" => "recover",
            "deletedSecrets/delete" => "purge",
            "delete" => "delete",
            _ => "list",
        };
        kv_error(
            403,
            "Forbidden",
            &format!(
                "The user, group or application '{}' does not have secrets {permission} permission on key vault \
                 'keyturn-emulator;location=westeurope'. For help resolving this issue, please see \
                 https://go.microsoft.com/fwlink/?linkid=2125287",
                self.client
            ),
            Some("AccessDenied"),
        )
    }
}

impl ErrorShape for KvErrors<'_> {
    fn denied(&self, reason: Denial) -> Reply {
        match reason {
            Denial::Rbac => self.forbidden(),
            Denial::Firewall => self.firewall(),
            Denial::AccessPolicy => self.access_policy(),
        }
    }

    fn status(&self, status: u16) -> Reply {
        match status {
            400 => bad_parameter("The request is invalid (injected fault)."),
            401 => kv_error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                None,
            )
            .with_header("WWW-Authenticate", self.challenge),
            403 => self.forbidden(),
            404 => not_found("injected-fault", None),
            409 => deleted_but_recoverable("injected-fault"),
            429 => self.throttled("1"),
            503 => kv_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry later.",
                None,
            ),
            s => kv_error(
                s,
                "InternalServerError",
                "An unexpected error occurred while processing the request.",
                None,
            ),
        }
    }
    fn throttled(&self, retry_after: &str) -> Reply {
        kv_error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            None,
        )
        .with_header("Retry-After", retry_after)
    }
    fn content_type(&self) -> &'static str {
        PLAIN_JSON
    }
}

// ---------------------------------------------------------------------------------------------------------------
// requests

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AttributesIn {
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetIn {
    value: Option<String>,
    content_type: Option<String>,
    attributes: Option<AttributesIn>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateIn {
    value: Option<Value>,
    content_type: Option<String>,
    attributes: Option<AttributesIn>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize)]
struct PageToken {
    n: String,
    o: usize,
}

fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Headers every vault response carries (a real 401 recorded by the Azure SDK for JS tests).
fn vault_headers(mut r: Reply, request_id: &str, client_request_id: Option<&str>) -> Reply {
    r.set_header("Cache-Control", "no-cache");
    r.set_header("Pragma", "no-cache");
    r.set_header("Expires", "-1");
    r.set_header("x-ms-keyvault-region", "westeurope");
    r.set_header("x-ms-request-id", request_id);
    if let Some(c) = client_request_id {
        r.set_header("x-ms-client-request-id", c);
    }
    r.set_header("x-ms-keyvault-service-version", "1.9.2179.1");
    r.set_header(
        "x-ms-keyvault-network-info",
        "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;",
    );
    r.set_header(
        "Strict-Transport-Security",
        "max-age=31536000;includeSubDomains",
    );
    r.set_header("X-Content-Type-Options", "nosniff");
    r
}

/// Handle one request to vault `idx`.
pub(crate) async fn handle(
    shared: &Shared,
    idx: usize,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reply = handle_inner(shared, idx, method, path, raw_query, headers, body).await;
    vault_headers(reply, &request_id, client_request_id.as_deref())
}

async fn handle_inner(
    shared: &Shared,
    idx: usize,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let Some(vault_mutex) = shared.vaults.get(idx) else {
        return kv_error(500, "InternalServerError", "No such vault.", None);
    };
    let url = lock(vault_mutex).url.clone();
    // The challenge names THIS emulator's authority, not login.microsoftonline.com as a real vault does: SDKs
    // take the authorization URL (tenant, and for some SDKs the host) from the challenge and would otherwise go
    // to the real Entra ID for a token the emulator cannot validate.
    let challenge = format!(
        "Bearer authorization=\"{}/{}\", resource=\"{VAULT_RESOURCE}\"",
        shared.info.authority_host, shared.info.tenant_id
    );
    let unauthorized = |message: &str| {
        kv_error(401, "Unauthorized", message, None)
            .with_header("WWW-Authenticate", challenge.as_str())
    };
    let auth = match authenticate(shared, headers, Audience::Vault) {
        Ok(a) => a,
        Err(AuthError::Missing) => {
            return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
        }
        Err(AuthError::WrongAudience { .. }) => {
            return unauthorized(
                "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://graph.microsoft.com.",
            );
        }
        Err(AuthError::Expired) => return unauthorized("AKV10020: Token is expired."),
        Err(AuthError::Malformed | AuthError::Unknown) => {
            return unauthorized(
                "AKV10020: Invalid token: it was not issued by this emulator's authority.",
            );
        }
    };
    let shape_for = |action: &'static str| KvErrors {
        challenge: &challenge,
        client: format!(
            "appid={};oid={};iss=https://sts.windows.net/{}/",
            auth.client.client_id, auth.client.service_principal_id, shared.info.tenant_id
        ),
        action,
        url: url.clone(),
    };
    if let Some(retry_after) = shared.faults.tick() {
        return shape_for("").throttled(&retry_after);
    }

    let query = parse_query(raw_query);
    let api_version = query
        .iter()
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.clone());
    let Some(api_version) = api_version else {
        return bad_parameter(&format!(
            "The 'api-version' query parameter is missing. Key Vault has no default version: use one of {}.",
            API_VERSIONS.join(", ")
        ));
    };
    if !API_VERSIONS.contains(&api_version.as_str()) {
        return bad_parameter(&format!(
            "The specified version ({api_version}) is not recognized. Consider using one of {}.",
            API_VERSIONS.join(", ")
        ));
    }
    let maxresults = match query
        .iter()
        .find(|(k, _)| k == "maxresults")
        .map(|(_, v)| v.parse::<usize>())
    {
        None => MAX_RESULTS,
        Some(Ok(n)) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(_) => {
            return bad_parameter(
                "The value of the parameter 'maxresults' is invalid. It must be between 1 and 25.",
            );
        }
    };
    let skip = match query.iter().find(|(k, _)| k == "$skiptoken") {
        None => 0,
        Some((_, t)) => match decode_token::<PageToken>(t).filter(|p| p.n == shared.nonce) {
            Some(p) => p.o,
            None => {
                return bad_parameter(
                    "The $skiptoken is invalid or was issued by another vault session.",
                );
            }
        },
    };

    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(pct_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let role = auth.client.vault_role;
    let (op, action, allowed) = match (method.as_str(), segs.as_slice()) {
        ("GET", ["secrets"] | ["secrets", ""]) => (
            Op::VaultList,
            "readMetadata/action",
            role.is_some_and(|r| r.can_list()),
        ),
        ("PUT", ["secrets", _]) => (
            Op::VaultSet,
            "setSecret/action",
            role.is_some_and(|r| r.can_set()),
        ),
        ("GET", ["secrets", _, "versions"]) => (
            Op::VaultVersions,
            "readMetadata/action",
            role.is_some_and(|r| r.can_list()),
        ),
        ("GET", ["secrets", _] | ["secrets", _, _]) => (
            Op::VaultGet,
            "getSecret/action",
            role.is_some_and(|r| r.can_get()),
        ),
        ("PATCH", ["secrets", _, _] | ["secrets", _]) => (
            Op::VaultUpdate,
            "setSecret/action",
            role.is_some_and(|r| r.can_set()),
        ),
        ("DELETE", ["secrets", _]) => {
            (Op::VaultDelete, "delete", role.is_some_and(|r| r.can_set()))
        }
        ("GET", ["deletedsecrets", _]) => (
            Op::VaultGetDeleted,
            "deletedSecrets/read/action",
            role.is_some_and(|r| r.can_set()),
        ),
        ("POST", ["deletedsecrets", _, "recover"]) => (
            Op::VaultDelete,
            "deletedSecrets/recover/action",
            role.is_some_and(|r| r.can_set()),
        ),
        ("DELETE", ["deletedsecrets", _]) => (
            Op::VaultDelete,
            "deletedSecrets/delete",
            role.is_some_and(|r| r.can_set()),
        ),
        (_, ["secrets" | "deletedsecrets", ..]) => {
            return kv_error(
                405,
                "MethodNotAllowed",
                &format!("The {method} method is not supported for this resource."),
                None,
            );
        }
        _ => {
            return kv_error(
                404,
                "NotFound",
                &format!("The requested path '{path}' does not exist on this vault."),
                None,
            );
        }
    };
    let shape = shape_for(action);
    if let Some(name) = segs.get(1).filter(|n| !n.is_empty())
        && !valid_name(name)
    {
        return bad_parameter(&format!(
            "The request URI contains an invalid name: {name}. Secret names are 1-127 characters of 0-9, a-z, A-Z and -."
        ));
    }
    if !allowed {
        return shape.forbidden();
    }
    let base = format!("{url}/secrets");
    with_fault(&shared.faults, op, &shape, async |corrupt| {
        let mut vault = lock(vault_mutex);
        match op {
            Op::VaultList => list(&vault, &base, &api_version, skip, maxresults, &shared.nonce),
            Op::VaultVersions => versions(
                &vault,
                segs[1],
                &base,
                &api_version,
                skip,
                maxresults,
                &shared.nonce,
            ),
            Op::VaultGet => get(
                &vault,
                segs[1],
                segs.get(2).copied().filter(|v| !v.is_empty()),
                corrupt,
            ),
            Op::VaultSet => set(&mut vault, segs[1], body),
            Op::VaultGetDeleted => get_deleted(&vault, segs[1]),
            Op::VaultDelete => delete_or_recover(&mut vault, method, &segs),
            _ => update(
                &mut vault,
                segs[1],
                segs.get(2).copied().filter(|v| !v.is_empty()),
                body,
            ),
        }
    })
    .await
}

fn next_link(
    base: &str,
    api_version: &str,
    offset: usize,
    maxresults: usize,
    nonce: &str,
) -> String {
    let token = encode_token(&PageToken {
        n: nonce.to_string(),
        o: offset,
    });
    format!(
        "{base}?api-version={}&$skiptoken={}&maxresults={maxresults}",
        pct_encode_query(api_version),
        token
    )
}

fn list(
    vault: &Vault,
    base: &str,
    api_version: &str,
    skip: usize,
    max: usize,
    nonce: &str,
) -> Reply {
    let all: Vec<&Secret> = vault
        .secrets
        .values()
        .filter(|s| !s.versions.is_empty())
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(max)
        .filter_map(|s| {
            let latest = s.versions.last()?;
            let mut o = Obj::new();
            if let Some(ct) = &latest.content_type {
                o.push("contentType", ct.clone());
            }
            o.push("id", vault.secret_id(&s.name, None));
            o.push("attributes", Vault::attributes(latest).into_value());
            if !latest.tags.is_empty() {
                o.push("tags", json!(latest.tags));
            }
            Some(o.into_value())
        })
        .collect();
    let next =
        (skip + max < all.len()).then(|| next_link(base, api_version, skip + max, max, nonce));
    Reply::json(
        200,
        PLAIN_JSON,
        &Obj::new()
            .with("value", Value::Array(page))
            .with("nextLink", json!(next)),
    )
}

fn versions(
    vault: &Vault,
    name: &str,
    base: &str,
    api_version: &str,
    skip: usize,
    max: usize,
    nonce: &str,
) -> Reply {
    let Some(s) = vault.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name, None);
    };
    let page: Vec<Value> = s
        .versions
        .iter()
        .skip(skip)
        .take(max)
        .map(|v| vault.bundle(s, v, false, None).into_value())
        .collect();
    let next = (skip + max < s.versions.len()).then(|| {
        next_link(
            &format!("{base}/{}/versions", s.name),
            api_version,
            skip + max,
            max,
            nonce,
        )
    });
    Reply::json(
        200,
        PLAIN_JSON,
        &Obj::new()
            .with("value", Value::Array(page))
            .with("nextLink", json!(next)),
    )
}

fn get(vault: &Vault, name: &str, version: Option<&str>, corrupt: bool) -> Reply {
    let Some(s) = vault.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name, version);
    };
    let v = match version {
        Some(ver) => s
            .versions
            .iter()
            .find(|v| v.version.eq_ignore_ascii_case(ver)),
        None => s.versions.last(),
    };
    let Some(v) = v else {
        return not_found(name, version);
    };
    if !v.enabled {
        return kv_error(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        );
    }
    // A corrupted read-back differs in its last character only: same length, so only a real comparison notices.
    let corrupted = corrupt.then(|| {
        let mut chars: Vec<char> = v.value.chars().collect();
        match chars.last_mut() {
            Some(c) => *c = if *c == 'x' { 'y' } else { 'x' },
            None => chars.push('x'),
        }
        chars.into_iter().collect()
    });
    Reply::json(200, PLAIN_JSON, &vault.bundle(s, v, true, corrupted))
}

fn get_deleted(vault: &Vault, name: &str) -> Reply {
    match vault.deleted.get(&name.to_ascii_lowercase()) {
        Some(d) => Reply::json(200, PLAIN_JSON, &vault.deleted_bundle(d)),
        None => deleted_not_found(name),
    }
}

/// DELETE a secret (soft delete), recover a deleted one, or purge it.
fn delete_or_recover(vault: &mut Vault, method: &Method, segs: &[&str]) -> Reply {
    let name = segs[1];
    let key = name.to_ascii_lowercase();
    match (method.as_str(), segs[0]) {
        ("DELETE", "secrets") => {
            let now = Utc::now().timestamp();
            match vault.soft_delete(name, now).cloned() {
                Some(d) => Reply::json(200, PLAIN_JSON, &vault.deleted_bundle(&d)),
                None => not_found(name, None),
            }
        }
        ("DELETE", _) => match vault.deleted.remove(&key) {
            Some(_) => Reply::empty(204),
            None => deleted_not_found(name),
        },
        _ => match vault.deleted.remove(&key) {
            Some(d) => {
                let secret = d.secret;
                let reply = match secret.versions.last() {
                    Some(v) => Reply::json(200, PLAIN_JSON, &vault.bundle(&secret, v, false, None)),
                    None => deleted_not_found(name),
                };
                vault.secrets.insert(key, secret);
                reply
            }
            None => deleted_not_found(name),
        },
    }
}

fn set(vault: &mut Vault, name: &str, body: &[u8]) -> Reply {
    let input: SetIn = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => return bad_parameter(&format!("The request body is not valid JSON: {e}")),
    };
    let Some(value) = input.value else {
        return bad_parameter("Property 'value' is required: a secret version needs a value.");
    };
    if value.len() > 25 * 1024 {
        return bad_parameter("The secret value exceeds the maximum size of 25 KB.");
    }
    if let Some(d) = vault.deleted.get(&name.to_ascii_lowercase()) {
        return deleted_but_recoverable(&d.secret.name);
    }
    let attrs = input.attributes.unwrap_or_default();
    let now = Utc::now().timestamp();
    let v = SecretVersion {
        version: hex32(),
        value,
        enabled: attrs.enabled.unwrap_or(true),
        nbf: attrs.nbf,
        exp: attrs.exp,
        created: now,
        updated: now,
        tags: input.tags.unwrap_or_default(),
        content_type: input.content_type,
    };
    let stored = vault.set(name, v).clone();
    let Some(s) = vault.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name, None);
    };
    Reply::json(200, PLAIN_JSON, &vault.bundle(s, &stored, true, None))
}

fn update(vault: &mut Vault, name: &str, version: Option<&str>, body: &[u8]) -> Reply {
    let input: UpdateIn = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => return bad_parameter(&format!("The request body is not valid JSON: {e}")),
    };
    if input.value.is_some() {
        return bad_parameter(
            "The value of a secret cannot be changed by an update: set a new version instead.",
        );
    }
    let Some(s) = vault.secrets.get_mut(&name.to_ascii_lowercase()) else {
        return not_found(name, version);
    };
    let v = match version {
        Some(ver) => s
            .versions
            .iter_mut()
            .find(|v| v.version.eq_ignore_ascii_case(ver)),
        None => s.versions.last_mut(),
    };
    let Some(v) = v else {
        return not_found(name, version);
    };
    if let Some(a) = input.attributes {
        if let Some(e) = a.enabled {
            v.enabled = e;
        }
        if a.nbf.is_some() {
            v.nbf = a.nbf;
        }
        if a.exp.is_some() {
            v.exp = a.exp;
        }
    }
    if let Some(ct) = input.content_type {
        v.content_type = Some(ct);
    }
    if let Some(tags) = input.tags {
        v.tags = tags;
    }
    v.updated = Utc::now().timestamp();
    let v = v.clone();
    let Some(s) = vault.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name, version);
    };
    Reply::json(200, PLAIN_JSON, &vault.bundle(s, &v, false, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("payroll-sync-01"));
        assert!(!valid_name("has_underscore"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(128)));
    }

    #[test]
    fn unauthorized_body_is_byte_exact() {
        let r = kv_error(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            None,
        );
        let (body, ct) = r.body.unwrap();
        assert_eq!(ct, "application/json; charset=utf-8");
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#
        );
        assert_eq!(
            body.len(),
            97,
            "the Content-Length of the recorded real response"
        );
    }
}
