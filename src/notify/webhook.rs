//! The generic JSON webhook, for any receiver (an incident tool, a ticket queue, a script). One POST per batch:
//!
//! ```json
//! {"source": "keyturn", "generatedAt": "2026-12-03T09:00:00Z", "tenantId": "...", "profile": "default",
//!  "warnDays": 30, "criticalDays": 7,
//!  "credentials": [{"objectType", "objectId", "appId", "displayName", "credentialType", "keyId", "credentialName",
//!                   "startDateTime", "endDateTime", "daysLeft", "status",       <- as in `keyturn check --format json`
//!                   "owners": [{"id", "type", "displayName", "mail", "userPrincipalName"}] or null when unknown,
//!                   "reason": "new" | "worse" | "reminder", "previousStatus": null | "warning" | ...}]}
//! ```
//! Values are exact (the tenant's text as Graph gave it); control and bidi characters travel as `\uXXXX` escapes.
use super::message::{Notice, Owners, Reason};
use crate::graph::ObjectType;
use crate::inventory::{Thresholds, rfc3339};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub const PER_MESSAGE: usize = 500;

fn credential(n: &Notice, reason: Reason) -> Value {
    json!({
        "objectType": match n.object_type {
            ObjectType::Application => "application",
            ObjectType::ServicePrincipal => "servicePrincipal",
        },
        "objectId": n.object_id,
        "appId": n.app_id,
        "displayName": n.display_name,
        "credentialType": n.credential_type.as_str(),
        "keyId": n.key_id,
        "credentialName": n.credential_name,
        "startDateTime": n.start.map(rfc3339),
        "endDateTime": n.end.map(rfc3339),
        "daysLeft": n.days_left,
        "status": n.status.as_str(),
        "owners": match &n.owners {
            Owners::Known(o) => json!(o),
            Owners::Unknown(_) => Value::Null,
        },
        "reason": reason.as_str(),
        "previousStatus": match reason {
            Reason::Worse(was) => json!(was.as_str()),
            _ => Value::Null,
        },
    })
}

pub struct Header<'a> {
    pub tenant: &'a str,
    pub profile: &'a str,
    pub now: DateTime<Utc>,
    pub thresholds: Thresholds,
}

/// The webhook body for `items`.
pub fn payload(items: &[(&Notice, Reason)], h: &Header) -> Value {
    json!({
        "source": "keyturn",
        "generatedAt": rfc3339(h.now),
        "tenantId": h.tenant,
        "profile": h.profile,
        "warnDays": h.thresholds.warn_days,
        "criticalDays": h.thresholds.critical_days,
        "credentials": items.iter().map(|(n, r)| credential(n, *r)).collect::<Vec<_>>(),
    })
}
