//! What a notification says: one [`Notice`] per credential at warning or worse, with its app's owners, and the
//! plain-text lines that the mail body and `--dry-run` share. Text from the tenant goes through
//! [`crate::safe_text`] here; the JSON targets carry the exact values instead (see `teams`, `slack`, `webhook`).
use crate::graph::{self, ObjectType};
use crate::inventory::{CredentialRow, CredentialType, Status, rfc3339};
use crate::safe_text::Safe;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// An owner of an app, as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: String,
    /// `user` or `servicePrincipal`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
}

impl Owner {
    /// From Graph's owners list; groups and other directory objects carry nothing to name or mail.
    pub fn from_graph(o: graph::Owner) -> Option<Owner> {
        match o {
            graph::Owner::User {
                id,
                display_name,
                user_principal_name,
                mail,
            } => Some(Owner {
                id: id.as_str().to_string(),
                kind: "user",
                display_name,
                mail: mail.filter(|m| !m.trim().is_empty()),
                user_principal_name: user_principal_name.filter(|u| !u.trim().is_empty()),
            }),
            graph::Owner::ServicePrincipal {
                id, display_name, ..
            } => Some(Owner {
                id: id.as_str().to_string(),
                kind: "servicePrincipal",
                display_name,
                mail: None,
                user_principal_name: None,
            }),
            graph::Owner::Other => None,
        }
    }

    /// Where mail for this owner goes: `mail`, else the user principal name (users only).
    pub fn address(&self) -> Option<&str> {
        self.mail
            .as_deref()
            .or(self.user_principal_name.as_deref())
            .map(str::trim)
    }

    /// How a message names the owner: the address, else the display name, else the object id (raw tenant text).
    pub fn label(&self) -> &str {
        self.address()
            .or(self.display_name.as_deref())
            .unwrap_or(&self.id)
    }
}

/// The owners of an app, or why they are not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owners {
    Known(Vec<Owner>),
    /// Reading them failed (the reason, for the operator).
    Unknown(String),
}

impl Owners {
    pub fn known(&self) -> &[Owner] {
        match self {
            Owners::Known(o) => o,
            Owners::Unknown(_) => &[],
        }
    }

    /// The owners as one line of raw tenant text: "a@contoso.com, b@contoso.com", "none", "unknown".
    pub fn summary(&self) -> String {
        match self {
            Owners::Known(o) if o.is_empty() => "none".into(),
            Owners::Known(o) => o.iter().map(Owner::label).collect::<Vec<_>>().join(", "),
            Owners::Unknown(_) => "unknown (could not read the owners)".into(),
        }
    }
}

/// One credential at warning or worse, owned data (the rows borrow from the inventory).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub object_type: ObjectType,
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
    pub credential_type: CredentialType,
    pub key_id: String,
    pub credential_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub status: Status,
    pub owners: Owners,
}

impl Notice {
    pub fn from_row(r: &CredentialRow, owners: Owners) -> Notice {
        Notice {
            object_type: r.object_type,
            object_id: r.object_id.as_str().to_string(),
            app_id: r.app_id.as_str().to_string(),
            display_name: r.display_name.to_string(),
            credential_type: r.credential_type,
            key_id: r.key_id.as_str().to_string(),
            credential_name: r.credential_name.map(str::to_string),
            start: r.start_date_time,
            end: r.end_date_time,
            days_left: r.days_left,
            status: r.status,
            owners,
        }
    }

    /// "application" or "service principal", as words.
    pub fn object_words(&self) -> &'static str {
        match self.object_type {
            ObjectType::Application => "app registration",
            ObjectType::ServicePrincipal => "service principal",
        }
    }

    /// "client secret" or "certificate".
    pub fn type_words(&self) -> &'static str {
        match self.credential_type {
            CredentialType::Secret => "client secret",
            CredentialType::Certificate => "certificate",
        }
    }

    /// "5 days left (ends 2026-12-08 10:00 UTC)", "expired 3 days ago (ended ...)", "no end date".
    pub fn when(&self) -> String {
        let (Some(end), Some(days)) = (self.end, self.days_left) else {
            return "no end date".into();
        };
        let date = end.format("%Y-%m-%d %H:%M UTC");
        match days {
            d if d < 0 => format!("expired {} ago (ended {date})", plural(-d, "day")),
            d => format!("{} left (ends {date})", plural(d, "day")),
        }
    }

    /// "critical, 5 days left (ends ...)" or "expired 3 days ago (ended ...)": the status with its days.
    pub fn status_words(&self) -> String {
        match self.status {
            Status::Expired if self.days_left.is_some() => self.when(),
            s => format!("{s}, {}", self.when()),
        }
    }

    /// The end date as RFC 3339, or empty.
    pub fn end_rfc3339(&self) -> String {
        self.end.map(rfc3339).unwrap_or_default()
    }
}

pub fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Why a notice goes out again (or for the first time) to a target and recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Never sent there before.
    New,
    /// Sent before at a better status (the one given).
    Worse(Status),
    /// Sent before at the same or a worse status, longer ago than the reminder interval.
    Reminder,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Worse(_) => "worse",
            Reason::Reminder => "reminder",
        }
    }

    /// "new", "worse (was warning)", "reminder".
    pub fn words(self) -> String {
        match self {
            Reason::Worse(was) => format!("worse (was {was})"),
            r => r.as_str().into(),
        }
    }
}

/// The plain-text block of one notice, every tenant string made inert ([`Safe`]): for the mail body and
/// `--dry-run`. Lines are indented by `indent`.
pub fn text_block(n: &Notice, reason: Reason, indent: &str) -> String {
    let mut s = String::new();
    let name = n.credential_name.as_deref().unwrap_or("(no name)");
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "{indent}App:        {} ({}, appId {})",
        Safe(&n.display_name),
        n.object_words(),
        Safe(&n.app_id)
    );
    let _ = writeln!(
        s,
        "{indent}Credential: {} {} (keyId {})",
        n.type_words(),
        Safe(name),
        Safe(&n.key_id)
    );
    let _ = writeln!(
        s,
        "{indent}Status:     {} [{}]",
        n.status_words(),
        reason.words()
    );
    let _ = writeln!(s, "{indent}Owners:     {}", Safe(&n.owners.summary()));
    s
}

/// The headline of a message: "keyturn: 3 credentials at warning or worse in tenant T (1 expired, 2 critical)".
pub fn headline(items: &[(&Notice, Reason)], tenant: &str) -> String {
    let mut counts = Vec::new();
    for status in [Status::Expired, Status::Critical, Status::Warning] {
        let n = items.iter().filter(|(x, _)| x.status == status).count();
        if n > 0 {
            counts.push(format!("{n} {status}"));
        }
    }
    format!(
        "keyturn: {} expiring or expired in tenant {} ({})",
        plural(items.len() as i64, "credential"),
        tenant,
        counts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn notice(name: &str, days: i64, status: Status) -> Notice {
        Notice {
            object_type: ObjectType::Application,
            object_id: "oid".into(),
            app_id: "aid".into(),
            display_name: name.into(),
            credential_type: CredentialType::Secret,
            key_id: "kid".into(),
            credential_name: Some("ci".into()),
            start: None,
            end: Some(Utc.with_ymd_and_hms(2026, 12, 8, 10, 0, 0).unwrap()),
            days_left: Some(days),
            status,
            owners: Owners::Known(vec![Owner {
                id: "u1".into(),
                kind: "user",
                display_name: Some("Alice".into()),
                mail: None,
                user_principal_name: Some("alice@contoso.com".into()),
            }]),
        }
    }

    #[test]
    fn text_block_is_inert_and_names_everything() {
        let n = notice("Evil\r\nBcc: x@y\u{202e}", 1, Status::Critical);
        let t = text_block(&n, Reason::Worse(Status::Warning), "  ");
        assert!(t.contains("Evil\\u{d}\\u{a}Bcc: x@y\\u{202e}"), "{t}");
        assert_eq!(t.lines().count(), 4, "{t}");
        assert!(t.contains("client secret ci (keyId kid)"), "{t}");
        assert!(
            t.contains("critical, 1 day left (ends 2026-12-08 10:00 UTC) [worse (was warning)]"),
            "{t}"
        );
        assert!(t.contains("Owners:     alice@contoso.com"), "{t}");
        let expired = notice("a", -3, Status::Expired);
        assert_eq!(
            expired.when(),
            "expired 3 days ago (ended 2026-12-08 10:00 UTC)"
        );
    }

    #[test]
    fn headline_counts_by_status() {
        let a = notice("a", 1, Status::Critical);
        let b = notice("b", -1, Status::Expired);
        let c = notice("c", 3, Status::Critical);
        let h = headline(
            &[(&a, Reason::New), (&b, Reason::New), (&c, Reason::Reminder)],
            "t",
        );
        assert_eq!(
            h,
            "keyturn: 3 credentials expiring or expired in tenant t (1 expired, 2 critical)"
        );
    }
}
