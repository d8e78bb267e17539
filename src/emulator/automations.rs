//! The demo's simulated automations, so that "last used" moves while you watch:
//! - every vault secret mapped to an app (tag `ProviderAddress` = the app's object id) has a consumer that reads
//!   the secret's latest version on each tick and signs in with it, as a Function or Logic App reading a Key Vault
//!   reference does, so it picks up a rotated secret;
//! - one consumer holds a hard-coded copy of the first mapped app's secret, taken at start, and keeps signing in
//!   with it after a rotation (the most common mistake): its old keyId's last sign-in keeps moving, which is what
//!   makes cleanup hold the old secret's removal.
//!
//! Sign-ins go through the same rules and record as the token endpoint's (`signin::sign_in_internally`): a secret
//! that has not propagated yet is refused, a removed one fails.
use super::Shared;
use super::http::lock;
use super::signin::sign_in_internally;
use std::sync::Weak;
use std::time::Duration;
use uuid::Uuid;

/// What a consumer signs in with.
#[derive(Debug, Clone)]
enum Source {
    /// The latest enabled version of this vault secret (first vault), read on every tick.
    Vault { secret_name: String },
    /// A value copied once.
    HardCoded { value: String },
}

#[derive(Debug, Clone)]
struct Consumer {
    app_object_id: Uuid,
    source: Source,
}

/// The consumers of the first vault's mapped secrets, plus the hard-coded one.
fn consumers(shared: &Shared) -> Vec<Consumer> {
    let Some(vault) = shared.vaults.first() else {
        return Vec::new();
    };
    let vault = lock(vault);
    let mut out = Vec::new();
    for secret in vault.secrets.values() {
        let Some(latest) = secret.versions.iter().rev().find(|v| v.enabled) else {
            continue;
        };
        let Some(app) = latest
            .tags
            .get("ProviderAddress")
            .and_then(|a| Uuid::parse_str(a).ok())
        else {
            continue;
        };
        if out.is_empty() {
            out.push(Consumer {
                app_object_id: app,
                source: Source::HardCoded {
                    value: latest.value.clone(),
                },
            });
        }
        out.push(Consumer {
            app_object_id: app,
            source: Source::Vault {
                secret_name: secret.name.to_ascii_lowercase(),
            },
        });
    }
    out
}

fn tick(shared: &Shared, consumers: &[Consumer]) {
    for c in consumers {
        let value = match &c.source {
            Source::HardCoded { value } => Some(value.clone()),
            Source::Vault { secret_name } => shared.vaults.first().and_then(|v| {
                lock(v)
                    .secrets
                    .get(secret_name)
                    .and_then(|s| s.versions.iter().rev().find(|v| v.enabled))
                    .map(|v| v.value.clone())
            }),
        };
        let app_id = {
            let tenant = lock(&shared.tenant);
            tenant
                .find_app_any(&c.app_object_id.to_string())
                .map(|i| tenant.apps[i].app_id.to_string())
        };
        if let (Some(value), Some(app_id)) = (value, app_id) {
            sign_in_internally(shared, &app_id, &value);
        }
    }
}

/// Run the consumers every `every` (first round at once) until the emulator is gone.
pub(crate) async fn run(shared: Weak<Shared>, every: Duration) {
    let list = match shared.upgrade() {
        Some(s) => consumers(&s),
        None => return,
    };
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        tick(&s, &list);
    }
}
