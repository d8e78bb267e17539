//! Client-credentials sign-in, and the record of every attempt.
//!
//! Two kinds of caller sign in with a client secret: the emulator's own clients (the ready line's client and those
//! of `Emulator::add_client`), and any application of the tenant with one of its own passwordCredentials. For an
//! application the real service's rules apply, including the ones that hurt:
//! - a secret added through addPassword is refused as unknown (AADSTS7000215) until it has propagated (the
//!   `propagation_delay` knob);
//! - an expired secret: AADSTS7000222; an app without a service principal in the tenant: AADSTS7000229.
//!
//! Every attempt is recorded (time, appId, keyId, outcome) for the state route and the sign-in reports.
use super::Shared;
use super::http::{Reply, lock};
use super::model::{Kind, graph_now, graph_time};
use super::token::{
    ClientIdentity, OIDC_SCOPES, TOKEN_LIFETIME_SECS, constant_time_eq, issue, resource_of,
    success, token_headers_v1,
};
use super::token_errors::{aad_error, invalid_scope, missing, unknown_client};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// Attempts kept for the state route; older ones are dropped (the last-use maps keep their dates).
const MAX_ATTEMPTS: usize = 10_000;

/// Why an attempt failed, in the state route's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No client_secret in the request.
    NoSecret,
    /// The secret matches none of the app's credentials.
    WrongSecret,
    /// The secret matches a credential added less than the propagation delay ago.
    NotYetPropagated,
    /// The secret matches a credential whose startDateTime is still ahead.
    NotYetValid,
    Expired,
    NoServicePrincipal,
    UnknownClient,
    InvalidScope,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NoSecret => "noSecret",
            Failure::WrongSecret => "wrongSecret",
            Failure::NotYetPropagated => "notYetPropagated",
            Failure::NotYetValid => "notYetValid",
            Failure::Expired => "expired",
            Failure::NoServicePrincipal => "noServicePrincipal",
            Failure::UnknownClient => "unknownClient",
            Failure::InvalidScope => "invalidScope",
        }
    }
}

/// One client-credentials sign-in attempt.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub time: DateTime<Utc>,
    /// As sent (lower-cased when it names a known app).
    pub app_id: String,
    /// The credential the secret matched, when it matched one (also for refused attempts: a secret that has not
    /// propagated yet, or an expired one).
    pub key_id: Option<Uuid>,
    /// The token's audience when a token was issued or the scope was valid.
    pub resource: Option<String>,
    /// `None` on success.
    pub failure: Option<(Failure, u32)>,
    /// The sign-in's request id (the reports' `lastSignInRequestId`).
    pub request_id: Uuid,
}

/// The last successful sign-in of a credential, an app, or to a resource.
#[derive(Debug, Clone)]
pub(crate) struct LastUse {
    pub time: DateTime<Utc>,
    pub request_id: Uuid,
    /// The token's audience (`https://graph.microsoft.com`, `https://vault.azure.net`, ...).
    pub resource: Option<String>,
}

impl SignIn {
    pub fn to_json(&self) -> Value {
        json!({
            "dateTime": graph_time(&self.time),
            "appId": self.app_id,
            "keyId": self.key_id.map(|k| k.to_string()),
            "credentialType": "clientSecret",
            "resource": self.resource,
            "success": self.failure.is_none(),
            "errorCode": self.failure.map(|(_, code)| code),
            "failureReason": self.failure.map(|(f, _)| f.as_str()),
        })
    }
}

/// Every attempt (the newest [`MAX_ATTEMPTS`]), and the last successful sign-in per keyId, per appId and per
/// resource.
#[derive(Debug, Default)]
pub(crate) struct SignInLog {
    attempts: VecDeque<SignIn>,
    last_by_key: HashMap<Uuid, LastUse>,
    last_by_app: HashMap<String, LastUse>,
    last_by_resource: HashMap<String, LastUse>,
}

impl SignInLog {
    pub fn record(&mut self, attempt: SignIn) {
        if attempt.failure.is_none() {
            let last = LastUse {
                time: attempt.time,
                request_id: attempt.request_id,
                resource: attempt.resource.clone(),
            };
            if let Some(k) = attempt.key_id {
                self.last_by_key.insert(k, last.clone());
            }
            if let Some(r) = &attempt.resource {
                self.last_by_resource
                    .insert(r.to_ascii_lowercase(), last.clone());
            }
            self.last_by_app
                .insert(attempt.app_id.to_ascii_lowercase(), last);
        }
        if self.attempts.len() >= MAX_ATTEMPTS {
            self.attempts.pop_front();
        }
        self.attempts.push_back(attempt);
    }

    /// Oldest first.
    pub fn attempts(&self) -> impl Iterator<Item = &SignIn> {
        self.attempts.iter()
    }

    /// The last successful sign-in with this credential.
    pub fn last_for_key(&self, key_id: &Uuid) -> Option<&LastUse> {
        self.last_by_key.get(key_id)
    }

    /// The last successful sign-in of this app (any credential).
    pub fn last_for_app(&self, app_id: &str) -> Option<&LastUse> {
        self.last_by_app.get(&app_id.to_ascii_lowercase())
    }

    /// The last successful sign-in for a token to this resource.
    pub fn last_for_resource(&self, resource: &str) -> Option<&LastUse> {
        self.last_by_resource.get(&resource.to_ascii_lowercase())
    }
}

/// `grant_type=client_credentials`: check the secret, record the attempt, answer a token or the AADSTS error.
pub(crate) fn client_credentials(
    shared: &Shared,
    client_id: &str,
    form: &HashMap<String, String>,
    v1: bool,
    corr: Option<&str>,
) -> Reply {
    let mut attempt = SignIn {
        time: graph_now(),
        app_id: client_id.to_string(),
        key_id: None,
        resource: None,
        failure: None,
        request_id: Uuid::new_v4(),
    };
    let reply = sign_in(shared, client_id, form, v1, corr, &mut attempt);
    lock(&shared.tenant).sign_ins.record(attempt);
    reply
}

fn sign_in(
    shared: &Shared,
    client_id: &str,
    form: &HashMap<String, String>,
    v1: bool,
    corr: Option<&str>,
    attempt: &mut SignIn,
) -> Reply {
    let Some(secret) = form.get("client_secret") else {
        attempt.failure = Some((Failure::NoSecret, 7000218));
        return aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            corr,
        );
    };
    let known = lock(&shared.identity).client(client_id).cloned();
    let client = match known {
        Some(c) => {
            if !constant_time_eq(secret.as_bytes(), c.secret.as_bytes()) {
                attempt.failure = Some((Failure::WrongSecret, 7000215));
                return invalid_secret(&c.client_id, corr);
            }
            c
        }
        None => match tenant_app(shared, client_id, secret, attempt) {
            Ok(c) => c,
            Err(refusal) => {
                attempt.failure = Some((refusal.failure(), refusal.code()));
                return refusal.reply(client_id, &shared.info.tenant_id, &shared.domain, corr);
            }
        },
    };
    attempt.app_id = client.client_id.to_ascii_lowercase();
    let scope = if v1 {
        match form.get("resource") {
            Some(r) => format!("{}/.default", r.trim_end_matches('/')),
            None => {
                attempt.failure = Some((Failure::InvalidScope, 900144));
                return missing("resource", corr);
            }
        }
    } else {
        match form.get("scope") {
            Some(s) => s.clone(),
            None => {
                attempt.failure = Some((Failure::InvalidScope, 900144));
                return missing("scope", corr);
            }
        }
    };
    let scopes: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    let resource = match scopes.as_slice() {
        [one] => resource_of(one, &shared.info.graph_url).ok_or(*one),
        _ => Err(scope.as_str()),
    };
    let (audience, aud) = match resource {
        Ok(r) => r,
        Err(bad) => {
            attempt.failure = Some((Failure::InvalidScope, 70011));
            return invalid_scope(bad, corr);
        }
    };
    attempt.resource = Some(aud.clone());
    let (access, expires) = issue(shared, &client, audience, &aud, None);
    if v1 {
        let now = Utc::now().timestamp();
        return token_headers_v1(json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "expires_on": expires.timestamp().to_string(),
            "not_before": now.to_string(),
            "resource": aud,
            "access_token": access,
        }));
    }
    success(&access, None, None, None)
}

/// A client-credentials sign-in for Microsoft Graph made inside the emulator (the demo's simulated automations),
/// judged and recorded exactly like one at the token endpoint. True when it succeeded.
pub(crate) fn sign_in_internally(shared: &Shared, app_id: &str, secret: &str) -> bool {
    let mut attempt = SignIn {
        time: graph_now(),
        app_id: app_id.to_ascii_lowercase(),
        key_id: None,
        resource: None,
        failure: None,
        request_id: Uuid::new_v4(),
    };
    let ok = match tenant_app(shared, app_id, secret, &mut attempt) {
        Ok(_) => {
            attempt.resource = Some(super::token::GRAPH_RESOURCE.to_string());
            true
        }
        Err(refusal) => {
            attempt.failure = Some((refusal.failure(), refusal.code()));
            false
        }
    };
    lock(&shared.tenant).sign_ins.record(attempt);
    ok
}

/// Why an application's sign-in is refused.
enum Refusal {
    UnknownClient,
    WrongSecret,
    NotYetPropagated,
    NotYetValid,
    Expired,
    NoServicePrincipal,
}

impl Refusal {
    fn failure(&self) -> Failure {
        match self {
            Refusal::UnknownClient => Failure::UnknownClient,
            Refusal::WrongSecret => Failure::WrongSecret,
            Refusal::NotYetPropagated => Failure::NotYetPropagated,
            Refusal::NotYetValid => Failure::NotYetValid,
            Refusal::Expired => Failure::Expired,
            Refusal::NoServicePrincipal => Failure::NoServicePrincipal,
        }
    }

    fn code(&self) -> u32 {
        match self {
            Refusal::UnknownClient => 700016,
            Refusal::WrongSecret | Refusal::NotYetPropagated | Refusal::NotYetValid => 7000215,
            Refusal::Expired => 7000222,
            Refusal::NoServicePrincipal => 7000229,
        }
    }

    fn reply(&self, app_id: &str, tenant_id: &str, domain: &str, corr: Option<&str>) -> Reply {
        match self {
            Refusal::UnknownClient => unknown_client(app_id, domain, corr),
            // A secret that has not propagated yet is, to the token endpoint, a secret it does not know.
            Refusal::WrongSecret | Refusal::NotYetPropagated | Refusal::NotYetValid => {
                invalid_secret(app_id, corr)
            }
            Refusal::Expired => aad_error(
                401,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to \
                     create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate \
                     credentials for added security: https://aka.ms/certCreds."
                ),
                corr,
            ),
            Refusal::NoServicePrincipal => aad_error(
                401,
                "invalid_client",
                7000229,
                &format!(
                    "The client application {app_id} is missing service principal in the tenant {tenant_id}. See \
                     instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"
                ),
                corr,
            ),
        }
    }
}

fn invalid_secret(app_id: &str, corr: Option<&str>) -> Reply {
    aad_error(
        401,
        "invalid_client",
        7000215,
        &format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
             value, not the client secret ID, for a secret added to app '{app_id}'."
        ),
        corr,
    )
}

/// An application of the tenant signing in with one of its own secrets: the identity its token speaks for.
fn tenant_app(
    shared: &Shared,
    client_id: &str,
    secret: &str,
    attempt: &mut SignIn,
) -> Result<ClientIdentity, Refusal> {
    let propagation = shared.faults.propagation_delay();
    let tenant = lock(&shared.tenant);
    let idx = Uuid::parse_str(client_id.trim())
        .ok()
        .and_then(|id| tenant.find(Kind::Application, &id, true))
        .ok_or(Refusal::UnknownClient)?;
    let app = &tenant.apps[idx];
    let sp = tenant.find(Kind::ServicePrincipal, &app.app_id, true);
    // The app's own secrets, and those added to its service principal.
    let sp_passwords = sp.map(|i| tenant.sps[i].password_credentials.as_slice());
    let cred = app
        .password_credentials
        .iter()
        .chain(sp_passwords.unwrap_or_default())
        .find(|p| constant_time_eq(p.secret().as_bytes(), secret.as_bytes()))
        .ok_or(Refusal::WrongSecret)?;
    attempt.key_id = Some(cred.key_id);
    if tenant.added_less_than(&cred.key_id, propagation) {
        return Err(Refusal::NotYetPropagated);
    }
    let now = Utc::now();
    if cred.end <= now {
        return Err(Refusal::Expired);
    }
    if cred.start > now {
        return Err(Refusal::NotYetValid);
    }
    let sp = sp.ok_or(Refusal::NoServicePrincipal)?;
    Ok(ClientIdentity {
        client_id: app.app_id.to_string(),
        // Never compared: an application's secrets are its passwordCredentials.
        secret: String::new(),
        display_name: app.display_name.clone(),
        service_principal_id: tenant.sps[sp].id,
        graph_roles: tenant.granted_app_roles(tenant.sps[sp].id),
        vault_role: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(app: &str, key: Option<Uuid>, failure: Option<(Failure, u32)>) -> SignIn {
        SignIn {
            time: graph_now(),
            app_id: app.to_string(),
            key_id: key,
            resource: None,
            failure,
            request_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn only_successes_move_last_use_and_the_log_is_bounded() {
        let mut log = SignInLog::default();
        let k = Uuid::new_v4();
        log.record(attempt(
            "A",
            Some(k),
            Some((Failure::NotYetPropagated, 7000215)),
        ));
        assert!(log.last_for_key(&k).is_none());
        assert!(log.last_for_app("a").is_none());
        let ok = attempt("A", Some(k), None);
        let when = ok.time;
        log.record(ok);
        assert_eq!(log.last_for_key(&k).map(|l| l.time), Some(when));
        assert_eq!(log.last_for_app("a").map(|l| l.time), Some(when));
        for _ in 0..MAX_ATTEMPTS {
            log.record(attempt("b", None, Some((Failure::WrongSecret, 7000215))));
        }
        assert_eq!(log.attempts().count(), MAX_ATTEMPTS);
        assert!(log.attempts().all(|a| a.app_id == "b"));
        assert_eq!(log.last_for_key(&k).map(|l| l.time), Some(when));
    }
}
