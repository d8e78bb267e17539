//! `keyturn review export --format csv|json|md`: every decision of a session with the facts shown when it was taken
//! and the rotations of that app that keyturn journaled after it. Tenant text stays inert in every format: exact in
//! JSON (serde escapes controls), neutralised cells in CSV, escaped text in Markdown.
use super::store::{DecisionRecord, ReviewSession};
use crate::safe_text::{csv_text, terminal};
use crate::store::JournalEntry;
use serde_json::{Value, json};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Md,
}

/// One decision with what followed it.
pub struct Row<'a> {
    pub decision: &'a DecisionRecord,
    /// keyturn's rotations of the app started at or after the decision.
    pub actions: Vec<&'a JournalEntry>,
}

pub fn rows<'a>(decisions: &'a [DecisionRecord], journal: &'a [JournalEntry]) -> Vec<Row<'a>> {
    decisions
        .iter()
        .map(|d| Row {
            decision: d,
            actions: journal
                .iter()
                .filter(|e| {
                    e.app_object_id
                        .as_str()
                        .eq_ignore_ascii_case(&d.app_object_id)
                        && e.created_at >= d.decided_at
                })
                .collect(),
        })
        .collect()
}

fn action_text(e: &JournalEntry) -> String {
    format!("rotation {} ({})", e.id, e.state_kind)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn render(session: &ReviewSession, rows: &[Row<'_>], format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => json_doc(session, rows),
        ExportFormat::Csv => csv(session, rows),
        ExportFormat::Md => markdown(session, rows),
    }
}

fn undecided(session: &ReviewSession, rows: &[Row<'_>]) -> Vec<String> {
    session
        .apps
        .iter()
        .filter(|a| !rows.iter().any(|r| &r.decision.app_object_id == *a))
        .cloned()
        .collect()
}

fn json_doc(session: &ReviewSession, rows: &[Row<'_>]) -> String {
    let decisions: Vec<Value> = rows
        .iter()
        .map(|r| {
            let d = r.decision;
            json!({
                "appObjectId": d.app_object_id,
                "appId": d.app_id,
                "displayName": d.display_name,
                "decision": d.decision.as_str(),
                "note": d.note,
                "decidedAt": time(d.decided_at),
                "reviewer": d.reviewer,
                "facts": d.facts,
                "actions": r.actions.iter().map(|e| json!({
                    "rotationId": e.id,
                    "state": e.state_kind.as_str(),
                    "startedAt": time(e.created_at),
                    "newKeyId": e.new_key_id.as_ref().map(|k| k.as_str().to_string()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "session": {
            "id": session.id,
            "tenantId": session.tenant_id,
            "scope": session.scope,
            "reviewer": session.reviewer,
            "signedInAs": session.signed_in_as,
            "startedAt": time(session.started_at),
            "finishedAt": session.finished_at.map(time),
            "apps": session.apps.len(),
        },
        "decisions": decisions,
        "undecided": undecided(session, rows),
    });
    let mut s = crate::safe_text::to_json_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

const CSV_HEADER: [&str; 15] = [
    "sessionId",
    "decidedAt",
    "reviewer",
    "appObjectId",
    "appId",
    "displayName",
    "decision",
    "note",
    "status",
    "daysLeft",
    "owners",
    "lastSignIn",
    "lastUseKnown",
    "permissions",
    "actions",
];

/// CSV like `check`'s (the `csv` crate's RFC 4180 quoting): text that came from the tenant or a person is
/// neutralised by [`csv_text`]; numbers, dates and keyturn's own words stay as they are.
fn csv(session: &ReviewSession, rows: &[Row<'_>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(CSV_HEADER);
    for r in rows {
        let d = r.decision;
        let f = &d.facts;
        let _ = w.write_record([
            session.id.to_string(),
            time(d.decided_at),
            csv_text(&d.reviewer),
            csv_text(&d.app_object_id),
            csv_text(&d.app_id),
            csv_text(&d.display_name),
            d.decision.as_str().to_string(),
            csv_text(d.note.as_deref().unwrap_or_default()),
            f.status.clone(),
            f.days_left.map(|n| n.to_string()).unwrap_or_default(),
            csv_text(&f.owners.join("; ")),
            f.last_sign_in.map(time).unwrap_or_default(),
            f.last_use_known.to_string(),
            csv_text(&f.permissions.join("; ")),
            r.actions
                .iter()
                .map(|e| action_text(e))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Markdown cell: inert for a terminal, no table breaks (pipes and newlines escaped), no HTML.
fn md(s: &str) -> String {
    // Line breaks first (a table row is one line), the tenant's backslashes doubled before `terminal` adds its own
    // `\u{..}` escapes (a backslash before a letter is literal in Markdown), then the table and HTML characters.
    let one_line = s.replace(['\n', '\r'], " ").replace('\\', "\\\\");
    terminal(&one_line)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn markdown(session: &ReviewSession, rows: &[Row<'_>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Access review {} of tenant {}\n",
        session.id,
        md(&session.tenant_id)
    );
    let _ = writeln!(
        s,
        "- scope: {}\n- reviewer: {} (signed in as {})\n- started: {}\n- finished: {}\n- decided: {} of {} apps\n",
        md(&session.scope),
        md(&session.reviewer),
        md(&session.signed_in_as),
        time(session.started_at),
        session
            .finished_at
            .map(time)
            .unwrap_or_else(|| "not yet (paused)".into()),
        rows.len(),
        session.apps.len()
    );
    let _ = writeln!(
        s,
        "| app | decision | note | status | days left | owners | last sign-in | permissions | decided | actions |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let d = r.decision;
        let f = &d.facts;
        let last = match (f.last_sign_in, f.last_use_known) {
            (Some(t), _) => time(t),
            (None, true) => "never".into(),
            (None, false) => "unknown".into(),
        };
        let perms = if f.permissions.is_empty() {
            "none".to_string()
        } else {
            f.permissions.join(", ") + if f.privileged { " (privileged)" } else { "" }
        };
        let actions = if r.actions.is_empty() {
            "none".to_string()
        } else {
            r.actions
                .iter()
                .map(|e| action_text(e))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} | {} | {} by {} | {} |",
            md(&d.display_name),
            md(&d.app_id),
            d.decision.as_str(),
            md(d.note.as_deref().unwrap_or("")),
            md(&f.status),
            f.days_left.map(|n| n.to_string()).unwrap_or_default(),
            md(&f.owners.join(", ")),
            last,
            md(&perms),
            time(d.decided_at),
            md(&d.reviewer),
            actions
        );
    }
    let left = undecided(session, rows);
    if !left.is_empty() {
        let _ = writeln!(s, "\nUndecided: {}", md(&left.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Decision, ReviewFacts};
    use chrono::{TimeZone, Utc};

    fn facts() -> ReviewFacts {
        ReviewFacts {
            status: "expired".into(),
            days_left: Some(-3),
            covered_until: None,
            credentials: 1,
            owners: vec!["Eve\u{202e}evil <eve@x>".into()],
            last_sign_in: None,
            last_use_known: false,
            permissions: vec!["Application.ReadWrite.All (Microsoft Graph)".into()],
            privileged: true,
        }
    }

    fn session() -> ReviewSession {
        ReviewSession {
            id: 4,
            tenant_id: "t".into(),
            scope: "all".into(),
            reviewer: "alice@h".into(),
            signed_in_as: "app x".into(),
            started_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            finished_at: None,
            apps: vec!["o1".into(), "o2".into()],
        }
    }

    fn hostile() -> DecisionRecord {
        DecisionRecord {
            app_object_id: "o1".into(),
            app_id: "a1".into(),
            display_name: "=HYPERLINK(\"http://x\")|\u{1b}[31mred".into(),
            decision: Decision::Escalate,
            note: Some("+1 line\nbreak".into()),
            decided_at: Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap(),
            reviewer: "@alice".into(),
            facts: facts(),
        }
    }

    #[test]
    fn tenant_text_is_inert_in_every_format() {
        let d = [hostile()];
        let rows = rows(&d, &[]);
        let csv_out = render(&session(), &rows, ExportFormat::Csv);
        let mut r = csv::Reader::from_reader(csv_out.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        // Formula cells neutralised (OWASP), numbers left as numbers.
        assert!(rec[5].starts_with('\''), "{:?}", &rec[5]);
        assert!(rec[2].starts_with('\''), "{:?}", &rec[2]);
        assert!(rec[7].starts_with('\''), "{:?}", &rec[7]);
        assert_eq!(&rec[9], "-3");

        let md = render(&session(), &rows, ExportFormat::Md);
        assert!(!md.contains('\u{1b}') && !md.contains('\u{202e}'), "{md}");
        let row = md.lines().find(|l| l.contains("HYPERLINK")).unwrap();
        // Ten columns: eleven unescaped pipes.
        let pipes = row.replace("\\|", "").matches('|').count();
        assert_eq!(pipes, 11, "{row}");
        assert!(row.contains("+1 line break"), "{row}");
        assert!(md.contains("Undecided: o2"), "{md}");

        // JSON keeps the exact values.
        let json: Value =
            serde_json::from_str(&render(&session(), &rows, ExportFormat::Json)).unwrap();
        assert_eq!(json["decisions"][0]["displayName"], hostile().display_name);
        assert_eq!(
            json["decisions"][0]["facts"]["owners"][0],
            "Eve\u{202e}evil <eve@x>"
        );
        assert_eq!(json["undecided"], json!(["o2"]));
    }
}
