//! `keyturn show APP` output: the JSON document of the CLI contract (docs/ARCHITECTURE.md section 2) or text for
//! a person. Tenant strings go through `safe_text`: a name cannot move the cursor or recolour a terminal.
use crate::clock::ago;
use crate::graph::Owner;
use crate::impact::{AppImpact, LastUseState};
use crate::inventory::rfc3339;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

/// Tenant text made safe for a terminal (the team-wide boundary).
fn inert(s: &str) -> String {
    crate::safe_text::terminal(s).into_owned()
}

fn date(d: Option<DateTime<Utc>>) -> Value {
    d.map_or(Value::Null, |d| Value::String(rfc3339(d)))
}

/// The JSON document: keys exactly as the contract lists them.
pub fn json(i: &AppImpact) -> Value {
    let credentials: Vec<Value> = i
        .credentials
        .iter()
        .map(|c| {
            json!({
                "keyId": c.key_id.as_str(),
                "credentialType": c.credential_type.as_str(),
                "credentialName": c.credential_name,
                "endDateTime": date(c.end),
                "daysLeft": c.days_left,
                "status": c.status.as_str(),
                "lastSignInDateTime": date(c.last_sign_in),
                "storedIn": c.stored_in.iter().map(|t| t.id()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let owners: Vec<Value> = i
        .owners
        .iter()
        .map(|o| match o {
            Owner::User {
                id,
                display_name,
                user_principal_name,
                ..
            } => json!({"id": id.as_str(), "displayName": display_name, "userPrincipalName": user_principal_name}),
            Owner::ServicePrincipal {
                id, display_name, ..
            } => json!({"id": id.as_str(), "displayName": display_name, "userPrincipalName": null}),
            Owner::Other => json!({"id": null, "displayName": null, "userPrincipalName": null}),
        })
        .collect();
    let permissions: Vec<Value> = i
        .permissions
        .iter()
        .map(|p| json!({"resource": p.resource, "value": p.value, "privileged": p.privileged}))
        .collect();
    let audit: Vec<Value> = i
        .audit_events
        .iter()
        .map(|e| {
            json!({
                "activityDateTime": rfc3339(e.activity_date_time),
                "activityDisplayName": e.activity_display_name,
                "initiatedBy": e.initiated_by,
                "result": e.result,
                "summary": e.summary,
            })
        })
        .collect();
    let rotations: Vec<Value> = i
        .rotations
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "startedAt": rfc3339(r.created_at),
                "updatedAt": rfc3339(r.updated_at),
                "oldKeyId": r.old_key_id.as_str(),
                "newKeyId": r.new_key_id.as_ref().map(|k| k.as_str()),
                "state": r.state_kind.as_str(),
                "vaultSecret": r.new_secret_id(),
                "operator": r.operator,
            })
        })
        .collect();
    json!({
        "app": {
            "objectType": match i.app.object_type {
                crate::graph::ObjectType::Application => "application",
                crate::graph::ObjectType::ServicePrincipal => "servicePrincipal",
            },
            "objectId": i.app.object_id.as_str(),
            "appId": i.app.app_id.as_str(),
            "displayName": i.app.display_name,
        },
        "credentials": credentials,
        "owners": owners,
        "permissions": permissions,
        "auditEvents": audit,
        "rotations": rotations,
    })
}

/// "last sign-in 3 d ago", "never signed in", "last use unknown".
pub fn last_sign_in_text(
    last: Option<DateTime<Utc>>,
    state: &LastUseState,
    now: DateTime<Utc>,
) -> String {
    match (last, state) {
        (Some(t), _) => format!("signed in {}", ago(t, now)),
        (None, LastUseState::Known) => "never signed in (per the sign-in report)".to_string(),
        (None, LastUseState::Unknown(_)) => "last use unknown".to_string(),
    }
}

/// Text for a person: the same facts as the JSON.
pub fn text(i: &AppImpact, now: DateTime<Utc>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  (appId {}, object id {})",
        inert(&i.app.display_name),
        i.app.app_id,
        i.app.object_id
    );
    if i.privileged() {
        let _ = writeln!(
            s,
            "PRIVILEGED: holds high-privilege application permissions; a leaked secret of this app is an incident"
        );
    }
    if i.has_service_principal == Some(false) {
        let _ = writeln!(
            s,
            "no service principal in this tenant: the app cannot sign in here and holds no permissions"
        );
    }
    let _ = writeln!(s, "\nCredentials");
    if i.credentials.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for c in &i.credentials {
        let end = c.end.map_or("no end date".to_string(), rfc3339);
        let days = match c.days_left {
            Some(d) if d < 0 => format!(", {} days ago", -d),
            Some(d) => format!(", {d} days left"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "  {} {} {} {:?}: {} (ends {end}{days})",
            c.status.symbol(),
            c.credential_type.as_str(),
            c.key_id,
            inert(c.credential_name.as_deref().unwrap_or("")),
            c.status.as_str(),
        );
        let mut facts = vec![last_sign_in_text(c.last_sign_in, &i.last_use, now)];
        if c.unused {
            facts.push(format!(
                "UNUSED: no sign-in for {} days: consider removing it rather than rotating it",
                i.unused_days
            ));
        }
        let _ = writeln!(s, "      {}", facts.join("; "));
        if c.stored_in.is_empty() {
            let _ = writeln!(s, "      stored in: (no vault secret known)");
        }
        for t in &c.stored_in {
            let _ = writeln!(s, "      stored in: {}", inert(&t.id()));
        }
    }
    let _ = writeln!(s, "\nOwners");
    if i.owners.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for o in &i.owners {
        let _ = writeln!(s, "  {}  {}", inert(o.display_name()), inert(&o.detail()));
    }
    let _ = writeln!(s, "\nApplication permissions");
    if i.permissions.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for p in &i.permissions {
        let flag = if p.privileged { "PRIVILEGED " } else { "" };
        let _ = writeln!(s, "  {flag}{}  ({})", inert(&p.value), inert(&p.resource));
    }
    let _ = writeln!(
        s,
        "\nAudit events (last {} days)",
        crate::impact::AUDIT_DAYS
    );
    if i.audit_events.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for e in &i.audit_events {
        let _ = writeln!(
            s,
            "  {}  {}  by {}  {}{}",
            rfc3339(e.activity_date_time),
            inert(&e.activity_display_name),
            inert(&e.initiated_by),
            e.result.as_deref().map(inert).unwrap_or_default(),
            if e.summary.is_empty() {
                String::new()
            } else {
                format!(": {}", inert(&e.summary))
            }
        );
    }
    let _ = writeln!(s, "\nRotations by keyturn");
    if i.rotations.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for r in &i.rotations {
        let _ = writeln!(
            s,
            "  #{} {}  {} -> {}  {}",
            r.id,
            rfc3339(r.created_at),
            r.old_key_id.short(),
            r.new_key_id.as_ref().map_or("-", |k| k.short()),
            r.state_kind.as_str()
        );
    }
    s
}

/// keyturn's past rotations, read only when a journal already exists (showing never creates one).
pub(crate) fn read_journal(
    session: &crate::session::Session,
) -> Vec<crate::store::journal::JournalEntry> {
    let Some(path) = &session.journal_path else {
        return Vec::new();
    };
    if !path.exists() {
        return Vec::new();
    }
    match crate::store::Journal::open(path).and_then(|j| j.list(10_000)) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "journal unreadable for show");
            Vec::new()
        }
    }
}

/// The vaults to look in: the profile's, and those its explicit mappings name.
pub fn vault_source(session: &crate::session::Session) -> Option<crate::impact::VaultSource> {
    let mut urls: Vec<String> = session.settings.vaults.clone();
    for m in &session.settings.mappings {
        if !urls.iter().any(|u| u.eq_ignore_ascii_case(&m.vault)) {
            urls.push(m.vault.clone());
        }
    }
    (!urls.is_empty()).then(|| crate::impact::VaultSource {
        secrets: session.vault_secrets(crate::keyvault::client::VaultOptions::default()),
        vault_urls: urls,
    })
}

/// `keyturn show`: the document on `out`, each note once on `err`. Exit 0, or 3 when the app could not be read.
pub async fn show_command(
    session: &crate::session::Session,
    app: &str,
    format: ShowFormat,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    use super::exit;
    let found = match crate::impact::resolve_app(&session.graph, app).await {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return exit::UNKNOWN;
        }
    };
    let journal = read_journal(session);
    let now = session.clock.now();
    let opts = crate::impact::GatherOptions {
        now,
        thresholds: session.thresholds,
        unused_days: session.settings.unused_days,
        vaults: vault_source(session),
        journal: &journal,
    };
    let impact = match crate::impact::gather(&session.graph, found, opts).await {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return exit::UNKNOWN;
        }
    };
    let body = match format {
        ShowFormat::Json => {
            let mut s = crate::safe_text::to_json_pretty(&json(&impact)).unwrap_or_default();
            s.push('\n');
            s
        }
        ShowFormat::Text => text(&impact, now),
    };
    for note in &impact.notes {
        let _ = writeln!(err, "keyturn: note: {}", inert(note));
    }
    if out
        .write_all(body.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return exit::UNKNOWN;
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_is_inert() {
        let t = inert("a\u{1b}[31mb\u{202e}c");
        assert!(!t.chars().any(crate::safe_text::is_unsafe), "{t}");
        assert_eq!(inert("Payroll – Sync ü"), "Payroll – Sync ü");
    }
}
