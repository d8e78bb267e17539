//! The device-code flow: `/devicecode` hands out a user code, polling the token endpoint answers
//! `authorization_pending` until the (automatic) approval, then a delegated token for the tenant's operator, with
//! a refresh token and an id token when asked for.
use super::Shared;
use super::faults::DeviceCodeOutcome;
use super::http::{ALNUM, PLAIN_JSON, Reply, lock, random_string};
use super::token::{
    Audience, ClientIdentity, GRAPH_RESOURCE, OIDC_SCOPES, VAULT_RESOURCE, b64, delegated_audience,
    issue, resolve_tenant, success,
};
use super::token_errors::{aad_error, missing, unknown_client, unknown_tenant};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

/// A pending device-code sign-in.
#[derive(Debug)]
pub(crate) struct DeviceCode {
    pub client_id: String,
    pub scope: String,
    pub audience: Audience,
    pub polls: u32,
    pub outcome: DeviceCodeOutcome,
    pub issued: Instant,
    pub refresh: bool,
    pub id_token: bool,
}

/// What a refresh token may be redeemed for.
#[derive(Debug)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub user: Uuid,
}

pub(crate) fn device_authorization(
    shared: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    corr: Option<&str>,
) -> Reply {
    if resolve_tenant(shared, tenant, true).is_none() {
        return unknown_tenant(tenant);
    }
    let Some(client_id) = form.get("client_id") else {
        return missing("client_id", corr);
    };
    if lock(&shared.identity).client(client_id).is_none() {
        return unknown_client(client_id, &shared.domain, corr);
    }
    let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) else {
        return missing("scope", corr);
    };
    let audience = delegated_audience(scope, &shared.info.graph_url);
    let user_code = random_string(9, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
    let device_code = format!("DAQABIQEAAAD{}", random_string(120, ALNUM));
    let interval = shared.faults.device_code_interval();
    let verification_uri = format!("{}/devicelogin", shared.info.authority_host);
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    lock(&shared.identity).device_codes.insert(
        device_code.clone(),
        DeviceCode {
            client_id: client_id.clone(),
            scope: scopes
                .iter()
                .filter(|s| !OIDC_SCOPES.contains(s))
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            audience,
            polls: 0,
            outcome: shared.faults.device_code_outcome(),
            issued: Instant::now(),
            refresh: scopes.contains(&"offline_access"),
            id_token: scopes.contains(&"openid"),
        },
    );
    Reply::json(
        200,
        PLAIN_JSON,
        &json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": 900,
            "interval": interval,
            "message": format!(
                "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
            ),
        }),
    )
}

pub(crate) fn poll_device_code(
    shared: &Shared,
    client: &ClientIdentity,
    form: &HashMap<String, String>,
    corr: Option<&str>,
) -> Reply {
    let Some(code) = form.get("device_code") else {
        return missing("device_code", corr);
    };
    let mut identity = lock(&shared.identity);
    let Some(dc) = identity
        .device_codes
        .get_mut(code)
        .filter(|d| d.client_id.eq_ignore_ascii_case(&client.client_id))
    else {
        return aad_error(
            400,
            "bad_verification_code",
            70000,
            "The provided value for the 'device_code' is not valid.",
            corr,
        );
    };
    let expired = dc.issued.elapsed().as_secs() >= 900 || dc.outcome == DeviceCodeOutcome::Expire;
    if expired {
        identity.device_codes.remove(code);
        return aad_error(
            400,
            "expired_token",
            70019,
            "Verification code expired.",
            corr,
        );
    }
    if dc.outcome == DeviceCodeOutcome::Decline {
        identity.device_codes.remove(code);
        return aad_error(
            400,
            "authorization_declined",
            70000,
            "The user denied the authorization request.",
            corr,
        );
    }
    if dc.polls < 2 {
        dc.polls += 1;
        return aad_error(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            corr,
        );
    }
    let Some(dc) = identity.device_codes.remove(code) else {
        return aad_error(
            400,
            "bad_verification_code",
            70000,
            "The provided value for the 'device_code' is not valid.",
            corr,
        );
    };
    drop(identity);
    let aud = if dc.audience == Audience::Vault {
        VAULT_RESOURCE
    } else {
        GRAPH_RESOURCE
    };
    let (access, exp) = issue(shared, client, dc.audience, aud, Some(shared.operator));
    let refresh = dc.refresh.then(|| {
        let rt = format!("0.AAAA{}", random_string(200, ALNUM));
        lock(&shared.identity).refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                client_id: client.client_id.clone(),
                user: shared.operator,
            },
        );
        rt
    });
    let id_token = dc.id_token.then(|| {
        let tenant = lock(&shared.tenant);
        let user = tenant.user(&shared.operator);
        let claims = json!({
            "aud": client.client_id,
            "iss": format!("{}/{}/v2.0", shared.info.authority_host, shared.info.tenant_id),
            "iat": Utc::now().timestamp(),
            "nbf": Utc::now().timestamp(),
            "exp": exp.timestamp(),
            "name": user.map(|u| u.display_name.clone()),
            "oid": shared.operator.to_string(),
            "preferred_username": user.map(|u| u.user_principal_name.clone()),
            "sub": shared.operator.to_string(),
            "tid": shared.info.tenant_id,
            "ver": "2.0",
        });
        format!(
            "{}.{}.{}",
            b64(&json!({"typ": "JWT", "alg": "RS256"})),
            b64(&claims),
            URL_SAFE_NO_PAD.encode(super::http::random_bytes(32))
        )
    });
    success(
        &access,
        Some(&dc.scope),
        refresh.as_deref(),
        id_token.as_deref(),
    )
}
