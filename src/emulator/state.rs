//! The full state as JSON (`GET {graphUrl}/_emulator/state` and `Emulator::state()`): what tests assert on after
//! driving keyturn through a rotation. Includes what no real API shows: current secret values of credentials and
//! every vault version's value. Served only with `state_route` on, and never by `keyturn demo`.
//!
//! `signIns` lists every client-credentials attempt, oldest first: `{dateTime, appId, keyId, credentialType,
//! resource, success, errorCode, failureReason}` (`keyId`: the credential the secret matched, null when none did;
//! `failureReason`: wrongSecret, notYetPropagated, notYetValid, expired, noServicePrincipal, unknownClient,
//! noSecret, invalidScope). Each password and application carries `lastSignInDateTime` (last successful sign-in).
use super::Shared;
use super::http::lock;
use super::model::{KeyCredential, PasswordCredential, graph_time};
use super::signin::SignInLog;
use serde_json::{Value, json};

fn password(p: &PasswordCredential, sign_ins: &SignInLog) -> Value {
    json!({
        "lastSignInDateTime": sign_ins.last_for_key(&p.key_id).map(|l| graph_time(&l.time)),
        "keyId": p.key_id.to_string(),
        "displayName": p.display_name,
        "startDateTime": graph_time(&p.start),
        "endDateTime": graph_time(&p.end),
        "hint": p.hint(),
        "secretText": p.secret(),
    })
}

fn key(k: &KeyCredential) -> Value {
    json!({
        "keyId": k.key_id.to_string(),
        "displayName": k.display_name,
        "type": "AsymmetricX509Cert",
        "usage": k.usage.as_str(),
        "startDateTime": graph_time(&k.start),
        "endDateTime": graph_time(&k.end),
        "customKeyIdentifier": k.custom_key_identifier,
    })
}

pub(crate) fn snapshot(shared: &Shared) -> Value {
    let tenant = lock(&shared.tenant);
    let applications: Vec<Value> = tenant
        .apps
        .iter()
        .filter(|a| !a.deleted)
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "appId": a.app_id.to_string(),
                "displayName": a.display_name,
                "owners": a.owners.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
                "lastSignInDateTime": tenant.sign_ins.last_for_app(&a.app_id.to_string()).map(|l| graph_time(&l.time)),
                "passwordCredentials": a.password_credentials.iter().map(|p| password(p, &tenant.sign_ins)).collect::<Vec<_>>(),
                "keyCredentials": a.key_credentials.iter().map(key).collect::<Vec<_>>(),
            })
        })
        .collect();
    let service_principals: Vec<Value> = tenant
        .sps
        .iter()
        .filter(|s| !s.deleted)
        .map(|s| {
            json!({
                "id": s.id.to_string(),
                "appId": s.app_id.to_string(),
                "displayName": s.display_name,
                "passwordCredentials": s.password_credentials.iter().map(|p| password(p, &tenant.sign_ins)).collect::<Vec<_>>(),
                "keyCredentials": s.key_credentials.iter().map(key).collect::<Vec<_>>(),
            })
        })
        .collect();
    let audit_events: Vec<Value> = tenant
        .audits
        .iter()
        .map(|e| e.to_json().into_value())
        .collect();
    let sign_ins: Vec<Value> = tenant.sign_ins.attempts().map(|a| a.to_json()).collect();
    let tenant_id = tenant.tenant_id.to_string();
    drop(tenant);
    let vaults: Vec<Value> = shared
        .vaults
        .iter()
        .map(|v| {
            let v = lock(v);
            let secrets: Vec<Value> = v
                .secrets
                .values()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "versions": s.versions.iter().map(|x| json!({
                            "version": x.version,
                            "value": x.value,
                            "enabled": x.enabled,
                            "nbf": x.nbf,
                            "exp": x.exp,
                            "created": x.created,
                            "tags": x.tags,
                            "contentType": x.content_type,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let deleted: Vec<Value> = v
                .deleted
                .values()
                .map(|d| {
                    json!({
                        "name": d.secret.name,
                        "deletedDate": d.deleted_date,
                        "versions": d.secret.versions.len(),
                    })
                })
                .collect();
            json!({"url": v.url, "secrets": secrets, "deletedSecrets": deleted})
        })
        .collect();
    json!({
        "tenantId": tenant_id,
        "applications": applications,
        "servicePrincipals": service_principals,
        "auditEvents": audit_events,
        "signIns": sign_ins,
        "vaults": vaults,
    })
}
