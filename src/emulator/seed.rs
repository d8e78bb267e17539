//! Seeded tenants: the demo tenant from `assets/demo_tenant.json` (dates relative to start-up, so the demo always
//! shows a spread of expired, critical, warning and healthy credentials) and generated tenants of N apps from a
//! seed (a splitmix64 stream, so the same seed gives the same tenant, ids included).
use super::audit::{self, AuditEvent, Caller};
use super::model::{
    self, Application, KeyCredential, KeyUsage, Kind, PasswordCredential, ServicePrincipal, Tenant,
    User, derived_secret, graph_now,
};
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

const DEMO_TENANT: &str = include_str!("../../assets/demo_tenant.json");

/// A tiny deterministic PRNG (Vigna's splitmix64): good enough spread for test data, no dependency.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// A version-4-shaped uuid, like the ids Entra hands out.
    pub fn uuid(&mut self) -> Uuid {
        let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(v.to_be_bytes()).into_uuid()
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The identity printed in the ready line: not listed among the tenant's applications (so listing counts stay
/// exactly what the seed says), but it has a service principal id for audit records and ownership checks.
#[derive(Debug, Clone)]
pub(crate) struct ClientSeed {
    pub app_id: Uuid,
    pub service_principal_id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SeedVersion {
    pub value: String,
    pub created: DateTime<Utc>,
    pub nbf: Option<DateTime<Utc>>,
    pub exp: Option<DateTime<Utc>>,
    pub tags: Vec<(String, String)>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct SeedSecret {
    pub name: String,
    /// Oldest first.
    pub versions: Vec<SeedVersion>,
}

#[derive(Debug)]
pub(crate) struct Seeded {
    pub tenant: Tenant,
    pub client: ClientSeed,
    /// The user a device-code sign-in signs in as.
    pub operator: Uuid,
    /// Secrets of the first vault.
    pub secrets: Vec<SeedSecret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the built-in demo tenant (assets/demo_tenant.json) does not parse: {0}")]
    DemoJson(#[from] serde_json::Error),
    #[error("the built-in demo tenant (assets/demo_tenant.json) is inconsistent: {0}")]
    DemoData(String),
}

// ---------------------------------------------------------------------------------------------------------------
// demo tenant

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoFile {
    tenant_id: Uuid,
    domain: String,
    operator: String,
    default_client: DemoClient,
    users: Vec<DemoUser>,
    applications: Vec<DemoApp>,
    external_service_principals: Vec<DemoExternalSp>,
    audit_history: Vec<DemoAudit>,
    vault: Vec<DemoSecret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoClient {
    app_id: Uuid,
    service_principal_id: Uuid,
    display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoUser {
    key: String,
    id: Uuid,
    display_name: String,
    user_principal_name: String,
    mail: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoPassword {
    key_id: Uuid,
    display_name: Option<String>,
    start_in_days: f64,
    end_in_days: f64,
    /// Who added it (a user key or `sp:<app key>`), when not the app's first owner: the demo's suspicious change.
    #[serde(default)]
    added_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoCert {
    key_id: Uuid,
    /// When present, the certificate also has a Sign entry (same thumbprint), as certificates uploaded with their
    /// private key do.
    sign_key_id: Option<Uuid>,
    display_name: Option<String>,
    start_in_days: f64,
    end_in_days: f64,
    thumbprint: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DemoSpCredentials {
    password_credentials: Vec<DemoPassword>,
    key_credentials: Vec<DemoCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoApp {
    key: String,
    id: Uuid,
    app_id: Uuid,
    service_principal_id: Uuid,
    display_name: String,
    created_days_ago: f64,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    password_credentials: Vec<DemoPassword>,
    #[serde(default)]
    key_credentials: Vec<DemoCert>,
    #[serde(default)]
    sign_in_audience: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    identifier_uris: Vec<String>,
    #[serde(default)]
    service_principal: Option<DemoSpCredentials>,
    /// Microsoft Graph application permissions granted to its service principal (values, e.g. `Mail.Read`).
    #[serde(default)]
    app_roles: Vec<String>,
    /// An app registration without a service principal in the tenant: nothing can sign in as it (AADSTS7000229).
    #[serde(default)]
    no_service_principal: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoExternalSp {
    key: String,
    id: Uuid,
    app_id: Uuid,
    display_name: String,
    app_owner_organization_id: Uuid,
    preferred_single_sign_on_mode: Option<String>,
    preferred_token_signing_key_thumbprint: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    password_credentials: Vec<DemoPassword>,
    #[serde(default)]
    key_credentials: Vec<DemoCert>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoAudit {
    days_ago: f64,
    target: String,
    action: String,
    key_id: Uuid,
    key_display_name: String,
    by: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoPreviousVersion {
    key_id: Uuid,
    days_ago: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoSecret {
    name: String,
    /// Maps the secret to this app's credential `key_id` (tags and value follow from it).
    app: Option<String>,
    key_id: Option<Uuid>,
    validity_period_days: Option<i64>,
    /// For secrets that map no credential.
    value: Option<String>,
    content_type: Option<String>,
    created_days_ago: Option<f64>,
    #[serde(default)]
    previous_versions: Vec<DemoPreviousVersion>,
}

fn days(now: DateTime<Utc>, d: f64) -> DateTime<Utc> {
    now + ChronoDuration::milliseconds((d * 86_400_000.0) as i64)
}

fn demo_password(now: DateTime<Utc>, p: &DemoPassword) -> PasswordCredential {
    PasswordCredential {
        key_id: p.key_id,
        display_name: p.display_name.clone(),
        start: days(now, p.start_in_days),
        end: days(now, p.end_in_days),
        secret_text: None,
    }
}

/// A certificate's Verify entry and, for pairs, its Sign entry. Certificate dates are whole seconds (they come from
/// the certificate's validity), unlike generated secrets which carry 7 fractional digits.
fn demo_cert(now: DateTime<Utc>, c: &DemoCert) -> Vec<KeyCredential> {
    let start = days(now, c.start_in_days).trunc_subsecs(0);
    let end = days(now, c.end_in_days).trunc_subsecs(0);
    let mut out = vec![KeyCredential {
        key_id: c.key_id,
        display_name: c.display_name.clone(),
        start,
        end,
        usage: KeyUsage::Verify,
        custom_key_identifier: Some(c.thumbprint.clone()),
    }];
    if let Some(sign) = c.sign_key_id {
        out.push(KeyCredential {
            key_id: sign,
            usage: KeyUsage::Sign,
            ..out[0].clone()
        });
    }
    out
}

pub(crate) fn demo() -> Result<Seeded, SeedError> {
    let file: DemoFile = serde_json::from_str(DEMO_TENANT)?;
    let now = graph_now();
    let mut tenant = Tenant::new(file.tenant_id, file.domain.clone());
    let mut user_keys: HashMap<&str, Uuid> = HashMap::new();
    for u in &file.users {
        user_keys.insert(&u.key, u.id);
        tenant.push_user(User {
            id: u.id,
            display_name: u.display_name.clone(),
            user_principal_name: u.user_principal_name.clone(),
            mail: u.mail.clone(),
        });
    }
    let sp_keys: HashMap<&str, (Uuid, Uuid, &str)> = file
        .applications
        .iter()
        .map(|a| {
            (
                a.key.as_str(),
                (a.service_principal_id, a.app_id, a.display_name.as_str()),
            )
        })
        .chain(
            file.external_service_principals
                .iter()
                .map(|s| (s.key.as_str(), (s.id, s.app_id, s.display_name.as_str()))),
        )
        .collect();
    let owner_id = |r: &str| -> Result<Uuid, SeedError> {
        match r.strip_prefix("sp:") {
            Some(k) => sp_keys.get(k).map(|s| s.0),
            None => user_keys.get(r).copied(),
        }
        .ok_or_else(|| SeedError::DemoData(format!("unknown owner '{r}'")))
    };
    let caller_for = |r: &str| -> Result<Caller, SeedError> {
        if let Some(k) = r.strip_prefix("sp:") {
            let (sp, app_id, name) = sp_keys
                .get(k)
                .ok_or_else(|| SeedError::DemoData(format!("unknown initiator '{r}'")))?;
            return Ok(Caller::App {
                app_id: app_id.to_string(),
                display_name: name.to_string(),
                service_principal_id: *sp,
            });
        }
        let id = user_keys
            .get(r)
            .ok_or_else(|| SeedError::DemoData(format!("unknown initiator '{r}'")))?;
        let u = file
            .users
            .iter()
            .find(|u| u.id == *id)
            .ok_or_else(|| SeedError::DemoData(r.to_string()))?;
        Ok(Caller::User {
            id: u.id,
            display_name: u.display_name.clone(),
            user_principal_name: u.user_principal_name.clone(),
        })
    };

    let mut events: Vec<AuditEvent> = Vec::new();
    let mut rng = SplitMix64::new(file.tenant_id.as_u128() as u64);
    let mut app_index: HashMap<&str, (Uuid, String)> = HashMap::new();
    for a in &file.applications {
        let owners = a
            .owners
            .iter()
            .map(|o| owner_id(o))
            .collect::<Result<Vec<_>, _>>()?;
        let passwords: Vec<PasswordCredential> = a
            .password_credentials
            .iter()
            .map(|p| demo_password(now, p))
            .collect();
        let keys: Vec<KeyCredential> = a
            .key_credentials
            .iter()
            .flat_map(|c| demo_cert(now, c))
            .collect();
        // The audit trail of the last 45 days: each credential added then, by its first owner (or the operator), or
        // by whoever the seed names (`addedBy`).
        let default_initiator = a
            .owners
            .first()
            .map(String::as_str)
            .unwrap_or(&file.operator);
        let added_by: HashMap<Uuid, &str> = a
            .password_credentials
            .iter()
            .filter_map(|p| p.added_by.as_deref().map(|by| (p.key_id, by)))
            .collect();
        let describe = |p: &PasswordCredential| {
            audit::key_description(p.key_id, "Password", "Verify", p.display_name.as_deref())
        };
        let describe_key = |k: &KeyCredential| {
            audit::key_description(
                k.key_id,
                "AsymmetricX509Cert",
                k.usage.as_str(),
                k.display_name.as_deref(),
            )
        };
        let all: Vec<(DateTime<Utc>, String)> = keys
            .iter()
            .map(|k| (k.start, describe_key(k)))
            .chain(passwords.iter().map(|p| (p.start, describe(p))))
            .collect();
        let initiator_at = |when: DateTime<Utc>| -> Result<Caller, SeedError> {
            let by = passwords
                .iter()
                .find(|p| p.start == when && added_by.contains_key(&p.key_id))
                .and_then(|p| added_by.get(&p.key_id).copied())
                .unwrap_or(default_initiator);
            caller_for(by)
        };
        let mut starts: Vec<DateTime<Utc>> = all
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s > days(now, -45.0))
            .collect();
        starts.sort();
        starts.dedup();
        for when in starts {
            let before: Vec<String> = all
                .iter()
                .filter(|(s, _)| *s < when)
                .map(|(_, d)| d.clone())
                .collect();
            let after: Vec<String> = all
                .iter()
                .filter(|(s, _)| *s <= when)
                .map(|(_, d)| d.clone())
                .collect();
            events.extend(audit::credential_change(
                &mut rng,
                when,
                Kind::Application,
                a.id,
                &a.display_name,
                true,
                &before,
                &after,
                &initiator_at(when)?,
            ));
        }
        app_index.insert(&a.key, (a.id, a.display_name.clone()));
        tenant.push_app(Application {
            id: a.id,
            app_id: a.app_id,
            display_name: a.display_name.clone(),
            created: days(now, -a.created_days_ago),
            sign_in_audience: model::audience(a.sign_in_audience.as_deref()),
            notes: a.notes.clone(),
            tags: a.tags.clone(),
            identifier_uris: a.identifier_uris.clone(),
            password_credentials: passwords,
            key_credentials: keys,
            owners,
            seq: 0,
            deleted: false,
        });
        if a.no_service_principal {
            continue;
        }
        let sp_creds = a.service_principal.as_ref();
        tenant.push_sp(ServicePrincipal {
            id: a.service_principal_id,
            app_id: a.app_id,
            display_name: a.display_name.clone(),
            account_enabled: true,
            app_owner_organization_id: file.tenant_id,
            sign_in_audience: model::audience(a.sign_in_audience.as_deref()),
            preferred_single_sign_on_mode: None,
            preferred_token_signing_key_thumbprint: None,
            tags: a.tags.clone(),
            password_credentials: sp_creds
                .map(|s| {
                    s.password_credentials
                        .iter()
                        .map(|p| demo_password(now, p))
                        .collect()
                })
                .unwrap_or_default(),
            key_credentials: sp_creds
                .map(|s| {
                    s.key_credentials
                        .iter()
                        .flat_map(|c| demo_cert(now, c))
                        .collect()
                })
                .unwrap_or_default(),
            owners: Vec::new(),
            seq: 0,
            deleted: false,
        });
    }
    for s in &file.external_service_principals {
        let owners = s
            .owners
            .iter()
            .map(|o| owner_id(o))
            .collect::<Result<Vec<_>, _>>()?;
        tenant.push_sp(ServicePrincipal {
            id: s.id,
            app_id: s.app_id,
            display_name: s.display_name.clone(),
            account_enabled: true,
            app_owner_organization_id: s.app_owner_organization_id,
            sign_in_audience: model::AUDIENCES[1],
            preferred_single_sign_on_mode: match s.preferred_single_sign_on_mode.as_deref() {
                Some("saml") => Some("saml"),
                Some("oidc") => Some("oidc"),
                Some("password") => Some("password"),
                _ => None,
            },
            preferred_token_signing_key_thumbprint: s
                .preferred_token_signing_key_thumbprint
                .clone(),
            tags: s.tags.clone(),
            password_credentials: s
                .password_credentials
                .iter()
                .map(|p| demo_password(now, p))
                .collect(),
            key_credentials: s
                .key_credentials
                .iter()
                .flat_map(|c| demo_cert(now, c))
                .collect(),
            owners,
            seq: 0,
            deleted: false,
        });
        let _ = &s.key;
    }
    for e in &file.audit_history {
        let (id, name) = app_index
            .get(e.target.as_str())
            .ok_or_else(|| SeedError::DemoData(format!("unknown audit target '{}'", e.target)))?;
        let removed =
            audit::key_description(e.key_id, "Password", "Verify", Some(&e.key_display_name));
        let added = e.action == "add";
        let (before, after) = if added {
            (vec![], vec![removed])
        } else {
            (vec![removed], vec![])
        };
        events.extend(audit::credential_change(
            &mut rng,
            days(now, -e.days_ago),
            Kind::Application,
            *id,
            name,
            added,
            &before,
            &after,
            &caller_for(&e.by)?,
        ));
    }
    events.sort_by_key(|e| e.activity_date_time);
    tenant.audits = events;

    let mut secrets = Vec::new();
    for s in &file.vault {
        secrets.push(demo_secret(now, &tenant, &app_index, s)?);
    }
    tenant.install_graph_resource();
    for a in file.applications.iter().filter(|a| !a.no_service_principal) {
        for role in &a.app_roles {
            if !tenant.grant_graph_role(a.service_principal_id, role) {
                return Err(SeedError::DemoData(format!(
                    "app '{}' is granted '{role}', which is not a Microsoft Graph application permission the \
                     emulator knows",
                    a.key
                )));
            }
        }
    }
    let operator = *user_keys
        .get(file.operator.as_str())
        .ok_or_else(|| SeedError::DemoData("unknown operator".into()))?;
    Ok(Seeded {
        tenant,
        client: ClientSeed {
            app_id: file.default_client.app_id,
            service_principal_id: file.default_client.service_principal_id,
            display_name: file.default_client.display_name,
        },
        operator,
        secrets,
    })
}

/// Tags of Microsoft's KeyVault-Secrets-Rotation-AADApp sample (docs/ARCHITECTURE.md section 4).
fn mapping_tags(
    key_id: Uuid,
    app_object_id: Uuid,
    validity_days: Option<i64>,
) -> Vec<(String, String)> {
    let mut tags = vec![
        ("CredentialId".to_string(), key_id.to_string()),
        ("ProviderAddress".to_string(), app_object_id.to_string()),
    ];
    if let Some(d) = validity_days {
        tags.push(("ValidityPeriodDays".to_string(), d.to_string()));
    }
    tags
}

fn demo_secret(
    now: DateTime<Utc>,
    tenant: &Tenant,
    apps: &HashMap<&str, (Uuid, String)>,
    s: &DemoSecret,
) -> Result<SeedSecret, SeedError> {
    let created = days(now, -s.created_days_ago.unwrap_or(30.0));
    let (Some(app_key), Some(key_id)) = (&s.app, s.key_id) else {
        let value = s
            .value
            .clone()
            .ok_or_else(|| SeedError::DemoData(format!("secret '{}' has no value", s.name)))?;
        return Ok(SeedSecret {
            name: s.name.clone(),
            versions: vec![SeedVersion {
                value,
                created,
                nbf: None,
                exp: None,
                tags: Vec::new(),
                content_type: s.content_type.clone(),
            }],
        });
    };
    let (app_object_id, _) = apps
        .get(app_key.as_str())
        .ok_or_else(|| SeedError::DemoData(format!("unknown app '{app_key}'")))?;
    let app = tenant
        .find_app_any(&app_object_id.to_string())
        .map(|i| &tenant.apps[i])
        .ok_or_else(|| SeedError::DemoData(app_key.clone()))?;
    let cred = app
        .password_credentials
        .iter()
        .find(|p| p.key_id == key_id)
        .ok_or_else(|| SeedError::DemoData(format!("secret '{}' maps an unknown keyId", s.name)))?;
    let mut versions: Vec<SeedVersion> = s
        .previous_versions
        .iter()
        .map(|p| SeedVersion {
            value: derived_secret(p.key_id),
            created: days(now, -p.days_ago),
            nbf: Some(days(now, -p.days_ago)),
            exp: Some(cred.start + ChronoDuration::days(7)),
            tags: mapping_tags(p.key_id, app.id, s.validity_period_days),
            content_type: s.content_type.clone(),
        })
        .collect();
    versions.sort_by_key(|v| v.created);
    versions.push(SeedVersion {
        value: cred.secret(),
        created: cred.start,
        nbf: Some(cred.start),
        exp: Some(cred.end),
        tags: mapping_tags(key_id, app.id, s.validity_period_days),
        content_type: s.content_type.clone(),
    });
    Ok(SeedSecret {
        name: s.name.clone(),
        versions,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// generated tenant

const WORDS_A: &[&str] = &[
    "Payroll",
    "Invoice",
    "Backup",
    "Inventory",
    "Billing",
    "Customer",
    "Partner",
    "Reporting",
    "Telemetry",
    "Archive",
    "Identity",
    "Ledger",
    "Shipping",
    "Warehouse",
    "Marketing",
    "Compliance",
    "Audit",
    "Support",
    "Analytics",
    "Pricing",
];
const WORDS_B: &[&str] = &[
    "Sync",
    "Exporter",
    "Daemon",
    "Connector",
    "API",
    "Portal",
    "Bot",
    "Function",
    "Job",
    "Relay",
    "Gateway",
    "Webhook",
    "Collector",
    "Importer",
    "Scheduler",
    "Worker",
    "Bridge",
    "Service",
];
const FIRST: &[&str] = &[
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Riley", "Casey", "Jamie", "Avery", "Quinn",
];
const LAST: &[&str] = &[
    "Smith", "García", "Chen", "Okafor", "Müller", "Rossi", "Novak", "Singh", "Kowalski", "Dubois",
];

/// Days until expiry for one generated credential: about 8 % expired, 8 % within a week, 14 % within 30 days,
/// the rest healthy, so any page of a generated tenant has work to show.
fn generated_end(rng: &mut SplitMix64) -> f64 {
    let r = rng.below(100);
    let frac = rng.below(86_400) as f64 / 86_400.0;
    let d = match r {
        0..=7 => -(1.0 + rng.below(400) as f64),
        8..=15 => rng.below(7) as f64,
        16..=29 => 7.0 + rng.below(23) as f64,
        _ => 30.0 + rng.below(700) as f64,
    };
    d + frac
}

fn generated_password(rng: &mut SplitMix64, now: DateTime<Utc>, n: usize) -> PasswordCredential {
    let end = generated_end(rng);
    let lifetime = [90.0, 180.0, 365.0, 730.0][rng.below(4) as usize];
    let start = (end - lifetime).min(-1.0 - rng.below(30) as f64);
    PasswordCredential {
        key_id: rng.uuid(),
        display_name: Some(format!("secret-{}", n + 1)),
        start: days(now, start),
        end: days(now, end),
        secret_text: None,
    }
}

fn generated_cert(rng: &mut SplitMix64, now: DateTime<Utc>, name: &str) -> Vec<KeyCredential> {
    let end = generated_end(rng);
    let start = (end - 365.0).min(-1.0);
    let thumb: Vec<u8> = (0..20).map(|_| rng.next_u64() as u8).collect();
    use base64::Engine;
    let verify = KeyCredential {
        key_id: rng.uuid(),
        display_name: Some(format!("CN={name}")),
        start: days(now, start).trunc_subsecs(0),
        end: days(now, end).trunc_subsecs(0),
        usage: KeyUsage::Verify,
        custom_key_identifier: Some(base64::engine::general_purpose::STANDARD.encode(thumb)),
    };
    if rng.below(3) == 0 {
        let sign = KeyCredential {
            key_id: rng.uuid(),
            usage: KeyUsage::Sign,
            ..verify.clone()
        };
        vec![verify, sign]
    } else {
        vec![verify]
    }
}

/// A tenant of `apps` applications (each with a service principal), 0-3 secrets and 0-2 certificates each,
/// owners from a pool of users, and a vault mapping a handful of them. Same seed, same tenant.
pub(crate) fn generated(apps: usize, seed: u64) -> Seeded {
    let mut rng = SplitMix64::new(seed);
    let now = graph_now();
    let tenant_id = rng.uuid();
    let mut tenant = Tenant::new(tenant_id, format!("gen{seed}.onmicrosoft.com"));
    tenant.reserve(apps);
    let user_count = (apps / 20).clamp(5, 500);
    for i in 0..user_count {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let upn = format!(
            "{}.{}{}@gen{seed}.onmicrosoft.com",
            first.to_lowercase(),
            last.to_lowercase(),
            i
        );
        tenant.push_user(User {
            id: rng.uuid(),
            display_name: format!("{first} {last}"),
            user_principal_name: upn,
            mail: None,
        });
    }
    let user_ids: Vec<Uuid> = tenant.users.iter().map(|u| u.id).collect();
    let client = ClientSeed {
        app_id: rng.uuid(),
        service_principal_id: rng.uuid(),
        display_name: "keyturn".to_string(),
    };
    let mut deployer_sp = None;
    for i in 0..apps {
        let name = format!("{} {} {:05}", rng.pick(WORDS_A), rng.pick(WORDS_B), i + 1);
        let n_pw = rng.below(4) as usize;
        let n_cert = [0, 0, 1, 2][rng.below(4) as usize];
        let password_credentials = (0..n_pw)
            .map(|n| generated_password(&mut rng, now, n))
            .collect();
        let key_credentials = (0..n_cert)
            .flat_map(|_| generated_cert(&mut rng, now, &name))
            .collect();
        let mut owners: Vec<Uuid> = (0..rng.below(4))
            .map(|_| user_ids[rng.below(user_ids.len() as u64) as usize])
            .collect();
        owners.dedup();
        if let Some(sp) = deployer_sp
            && rng.below(10) == 0
        {
            owners.push(sp);
        }
        let app = Application {
            id: rng.uuid(),
            app_id: rng.uuid(),
            display_name: name.clone(),
            created: days(now, -(rng.below(1500) as f64)),
            sign_in_audience: model::AUDIENCES[if rng.below(10) == 0 { 1 } else { 0 }],
            notes: None,
            tags: Vec::new(),
            identifier_uris: Vec::new(),
            password_credentials,
            key_credentials,
            owners,
            seq: 0,
            deleted: false,
        };
        let sp = ServicePrincipal {
            id: rng.uuid(),
            app_id: app.app_id,
            display_name: name,
            account_enabled: true,
            app_owner_organization_id: tenant_id,
            sign_in_audience: app.sign_in_audience,
            preferred_single_sign_on_mode: None,
            preferred_token_signing_key_thumbprint: None,
            tags: Vec::new(),
            password_credentials: if rng.below(50) == 0 {
                vec![generated_password(&mut rng, now, 0)]
            } else {
                Vec::new()
            },
            key_credentials: Vec::new(),
            owners: Vec::new(),
            seq: 0,
            deleted: false,
        };
        if i == 0 {
            deployer_sp = Some(sp.id);
        }
        tenant.push_app(app);
        tenant.push_sp(sp);
    }
    // Map up to 20 of the first apps' newest secrets into the vault, as docs/ARCHITECTURE.md section 4 describes.
    let mut secrets = Vec::new();
    for (i, app) in tenant.apps.iter().enumerate().take(200) {
        if secrets.len() >= 20 {
            break;
        }
        if let Some(cred) = app.password_credentials.iter().max_by_key(|p| p.end) {
            secrets.push(SeedSecret {
                name: format!("gen-app-{:05}-secret", i + 1),
                versions: vec![SeedVersion {
                    value: cred.secret(),
                    created: cred.start,
                    nbf: Some(cred.start),
                    exp: Some(cred.end),
                    tags: mapping_tags(
                        cred.key_id,
                        app.id,
                        Some((cred.end - cred.start).num_days()),
                    ),
                    content_type: Some("text/plain".to_string()),
                }],
            });
        }
    }
    let operator = user_ids[0];
    Seeded {
        tenant,
        client,
        operator,
        secrets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tenant_parses_with_a_spread() {
        let s = demo().unwrap();
        assert!(s.tenant.apps.len() >= 40);
        let now = Utc::now();
        let ends: Vec<i64> = s
            .tenant
            .apps
            .iter()
            .flat_map(|a| {
                a.password_credentials
                    .iter()
                    .map(|p| p.end)
                    .chain(a.key_credentials.iter().map(|k| k.end))
            })
            .map(|e| (e - now).num_hours())
            .collect();
        assert!(ends.iter().any(|h| *h < 0), "some expired");
        assert!(
            ends.iter().any(|h| (0..7 * 24).contains(h)),
            "some critical"
        );
        assert!(
            ends.iter().any(|h| (7 * 24..30 * 24).contains(h)),
            "some warning"
        );
        assert!(ends.iter().any(|h| *h > 30 * 24), "some healthy");
        assert!(!s.tenant.audits.is_empty());
        // Permissions: one privileged app; and one registration without a service principal.
        let cideploy = s
            .tenant
            .sps
            .iter()
            .find(|x| x.display_name == "ci-pipeline-deployer")
            .unwrap();
        assert!(
            s.tenant
                .granted_app_roles(cideploy.id)
                .contains(&"Application.ReadWrite.All".to_string())
        );
        let sandbox = s
            .tenant
            .apps
            .iter()
            .find(|a| a.display_name == "Dev Sandbox App")
            .unwrap();
        assert!(!s.tenant.sps.iter().any(|x| x.app_id == sandbox.app_id));
        assert!(
            s.tenant
                .sps
                .iter()
                .any(|x| x.display_name == "Microsoft Graph")
        );
        assert!(s.secrets.iter().any(|x| {
            x.versions
                .last()
                .unwrap()
                .tags
                .iter()
                .any(|(k, _)| k == "CredentialId")
        }));
    }

    #[test]
    fn generated_is_deterministic() {
        let a = generated(100, 7);
        let b = generated(100, 7);
        assert_eq!(a.tenant.apps.len(), 100);
        assert_eq!(a.tenant.apps[42].id, b.tenant.apps[42].id);
        assert_eq!(a.tenant.tenant_id, b.tenant.tenant_id);
        assert_ne!(a.tenant.apps[1].id, generated(100, 8).tenant.apps[1].id);
    }
}
