//! The finding rules, pure over rows and the facts of their apps. Each finding is one line saying why a change
//! deserves a look; the pattern behind most of them is MITRE ATT&CK T1098.001 (a credential quietly added to an app
//! that already holds powerful permissions, to keep access).
use super::facts::FactsByTarget;
use super::{Activity, AuditRow, InitiatorType};
use crate::store::journal::JournalEntry;
use chrono::Duration;

/// The knobs of the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingPolicy {
    /// Profile key `audit_max_lifetime_days`: a credential added to live longer is a finding (besides any tenant
    /// policy's cap).
    pub max_lifetime_days: Option<i64>,
    /// A credential added and removed again within this window is a finding (a secret used once and hidden).
    pub short_window: Duration,
}

impl Default for FindingPolicy {
    fn default() -> Self {
        Self {
            max_lifetime_days: None,
            short_window: Duration::hours(SHORT_WINDOW_HOURS),
        }
    }
}

/// The built-in "added and removed within" window.
pub const SHORT_WINDOW_HOURS: i64 = 24;

fn same(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

/// A row is keyturn's when its journal holds a rotation of that app that added the key (new keyId) or removed it
/// (old keyId, or the new one undone by a rollback).
pub fn mark_by_keyturn(rows: &mut [AuditRow], journal: &[JournalEntry]) {
    for r in rows.iter_mut() {
        let Some(key) = r.key_id.as_deref() else {
            continue;
        };
        let app = r.target_object_id.as_deref();
        r.by_keyturn = journal.iter().any(|j| {
            same(app, j.app_object_id.as_str())
                && match r.activity {
                    Activity::CredentialAdded => {
                        same(j.new_key_id.as_ref().map(|k| k.as_str()), key)
                    }
                    Activity::CredentialRemoved => {
                        same(Some(j.old_key_id.as_str()), key)
                            || same(j.new_key_id.as_ref().map(|k| k.as_str()), key)
                    }
                    _ => false,
                }
        });
    }
}

fn span(d: Duration) -> String {
    if d < Duration::hours(2) {
        format!("{} min", d.num_minutes().max(1))
    } else {
        format!("{} h", d.num_hours())
    }
}

/// Fill each row's `findings`.
pub fn apply(rows: &mut [AuditRow], facts: &FactsByTarget, policy: &FindingPolicy) {
    // Pairs (added row, removed row) of the same key on the same object within the window.
    let mut short_lived: Vec<(usize, usize)> = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        if a.activity != Activity::CredentialAdded || a.by_keyturn {
            continue;
        }
        for (j, b) in rows.iter().enumerate() {
            let gap = b.activity_date_time - a.activity_date_time;
            if b.activity == Activity::CredentialRemoved
                && b.key_id.is_some()
                && b.key_id == a.key_id
                && b.target_object_id == a.target_object_id
                && gap >= Duration::zero()
                && gap <= policy.short_window
            {
                short_lived.push((i, j));
            }
        }
    }
    for (i, j) in short_lived {
        let gap = span(rows[j].activity_date_time - rows[i].activity_date_time);
        rows[i]
            .findings
            .push(format!("added and removed again within {gap}"));
        rows[j]
            .findings
            .push(format!("removed {gap} after it was added"));
    }

    for r in rows.iter_mut() {
        let f = r
            .target_object_id
            .as_deref()
            .and_then(|id| facts.get(&id.to_ascii_lowercase()));
        let mut found = Vec::new();
        if r.activity == Activity::CredentialAdded {
            if !r.by_keyturn {
                let owners = f.and_then(|f| f.owners.as_ref());
                let initiator = r.initiated_by.id.as_deref().map(str::to_ascii_lowercase);
                if let Some(owners) = owners
                    && !initiator.as_ref().is_some_and(|i| owners.contains(i))
                {
                    found.push(format!(
                        "added by {}, who is neither an owner of the app nor keyturn",
                        r.initiated_by.label()
                    ));
                }
                if let Some(p) = f.and_then(|f| f.privileged.as_ref())
                    && !p.is_empty()
                {
                    found.push(format!(
                        "added to an app with privileged permissions ({})",
                        p.join(", ")
                    ));
                }
            }
            let lifetime = f
                .and_then(|f| f.credentials.as_ref())
                .and_then(|c| c.iter().find(|c| Some(&c.key_id) == r.key_id.as_ref()))
                .and_then(|c| Some((c.end? - c.start?).num_days()));
            if let Some(days) = lifetime {
                if let Some(cap) = f.and_then(|f| f.lifetime_cap.as_ref())
                    && days > cap.days()
                {
                    found.push(format!(
                        "lifetime of {days} days is longer than the {}'s {} days",
                        cap.source,
                        cap.days()
                    ));
                }
                if let Some(max) = policy.max_lifetime_days
                    && days > max
                {
                    found.push(format!(
                        "lifetime of {days} days is longer than audit_max_lifetime_days ({max})"
                    ));
                }
            }
        }
        if r.initiated_by.kind == InitiatorType::App
            && r.activity != Activity::Other
            && !r.by_keyturn
        {
            let who = r.initiated_by.name.as_deref();
            let who = who.or(r.initiated_by.id.as_deref()).unwrap_or("unnamed");
            found.push(format!("made by an app identity ({who}), not a person"));
        }
        r.findings.extend(found);
    }
}
