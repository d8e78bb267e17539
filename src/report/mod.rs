//! `keyturn check` output: table, JSON and CSV over the same rows, and the monitoring-plugins exit code.
pub mod audit;
pub mod prometheus;
pub mod several;
pub mod show;

use crate::inventory::{CredentialRow, Status, Thresholds, rfc3339};
use crate::safe_text::{csv_text, terminal};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// node_exporter textfile format, every credential whatever `--all` says.
    Prometheus,
}

/// Exit codes (monitoring-plugins convention), docs/ARCHITECTURE.md section 2.
pub mod exit {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const CRITICAL: u8 = 2;
    pub const UNKNOWN: u8 = 3;
}

/// 0 when nothing is at warning or worse, 1 for warning, 2 for critical or expired.
pub fn exit_code(rows: &[CredentialRow]) -> u8 {
    match rows.iter().map(|r| r.status).min() {
        Some(Status::Expired | Status::Critical) => exit::CRITICAL,
        Some(Status::Warning) => exit::WARNING,
        _ => exit::OK,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    generated_at: String,
    tenant_id: &'a str,
    warn_days: i64,
    critical_days: i64,
    credentials: &'a [CredentialRow<'a>],
}

/// The JSON document of one tenant (DESIGN's `check --format json`).
fn json_report<'a>(
    rows: &'a [CredentialRow<'a>],
    tenant_id: &'a str,
    generated_at: DateTime<Utc>,
    t: Thresholds,
) -> JsonReport<'a> {
    JsonReport {
        generated_at: rfc3339(generated_at),
        tenant_id,
        warn_days: t.warn_days,
        critical_days: t.critical_days,
        credentials: rows,
    }
}

/// Render the rows (already filtered by `--all`) into one string: [`write`] into memory.
pub fn render(
    rows: &[CredentialRow],
    format: Format,
    tenant_id: &str,
    generated_at: DateTime<Utc>,
    t: Thresholds,
) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every format writes UTF-8.
    let _ = write(&mut out, rows, format, tenant_id, generated_at, t);
    String::from_utf8_lossy(&out).into_owned()
}

/// Write the rows (already filtered by `--all`) to `out` as they are formatted, row by row: a report of a whole
/// tenant never exists as one document in memory. Put a buffer in front of an unbuffered writer.
pub fn write<W: Write>(
    out: &mut W,
    rows: &[CredentialRow],
    format: Format,
    tenant_id: &str,
    generated_at: DateTime<Utc>,
    t: Thresholds,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let report = json_report(rows, tenant_id, generated_at, t);
            // Exact values; unsafe characters as \u escapes.
            crate::safe_text::write_json_pretty(&mut *out, &report).map_err(io::Error::from)?;
            out.write_all(b"\n")
        }
        Format::Csv => csv(out, rows),
        Format::Prometheus => prometheus::write(out, rows, tenant_id, generated_at, t),
        Format::Table => table(out, rows),
    }
}

const FIELDS: [&str; 11] = [
    "objectType",
    "objectId",
    "appId",
    "displayName",
    "credentialType",
    "keyId",
    "credentialName",
    "startDateTime",
    "endDateTime",
    "daysLeft",
    "status",
];

/// CSV cells: text fields (tenant-controlled ids and names) neutralised by [`csv_text`]; `daysLeft` is a number and
/// the dates and enums are keyturn's own, so they stay as they are.
fn fields(r: &CredentialRow) -> [String; 11] {
    [
        match r.object_type {
            crate::graph::ObjectType::Application => "application".into(),
            crate::graph::ObjectType::ServicePrincipal => "servicePrincipal".into(),
        },
        csv_text(r.object_id.as_str()),
        csv_text(r.app_id.as_str()),
        csv_text(r.display_name),
        r.credential_type.as_str().into(),
        csv_text(r.key_id.as_str()),
        csv_text(r.credential_name.unwrap_or_default()),
        r.start_date_time.map(rfc3339).unwrap_or_default(),
        r.end_date_time.map(rfc3339).unwrap_or_default(),
        r.days_left.map(|d| d.to_string()).unwrap_or_default(),
        r.status.as_str().into(),
    ]
}

fn csv<W: Write>(out: &mut W, rows: &[CredentialRow]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(FIELDS)?;
    for r in rows {
        w.write_record(fields(r))?;
    }
    w.flush()
}

/// The table's cells of one row.
fn cells(r: &CredentialRow) -> [String; 8] {
    [
        format!("{} {}", r.status.symbol(), r.status),
        r.days_left
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
        r.end_date_time
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never".into()),
        match (r.object_type, r.credential_type) {
            (crate::graph::ObjectType::ServicePrincipal, t) => format!("sp {}", t.as_str()),
            (_, t) => t.as_str().to_string(),
        },
        truncate(&terminal(r.display_name), 40),
        terminal(r.app_id.as_str()).into_owned(),
        terminal(r.key_id.as_str()).into_owned(),
        truncate(&terminal(r.credential_name.unwrap_or("")), 30),
    ]
}

/// The table's header, before the tenant column that several profiles add.
const HEADER: [&str; 8] = [
    "STATUS",
    "DAYS",
    "END (UTC)",
    "TYPE",
    "APP",
    "APP ID",
    "KEY ID",
    "NAME",
];

fn table<W: Write>(out: &mut W, rows: &[CredentialRow]) -> io::Result<()> {
    if rows.is_empty() {
        return out.write_all(
            b"No credential is expired or expiring within the warning window. (--all lists every credential)\n",
        );
    }
    grid(out, &HEADER.map(String::from), || rows.iter().map(cells))
}

/// Two passes over the rows: the column widths first, then each line as it is formatted, so that the cells of all
/// rows are never held at once. `rows` gives the same cells each time it is called.
fn grid<W: Write, C: AsRef<[String]>, I: Iterator<Item = C>>(
    out: &mut W,
    header: &[String],
    rows: impl Fn() -> I,
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for cells in rows() {
        for (w, cell) in widths.iter_mut().zip(cells.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            s.push_str(cell);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.write_all(s.trim_end().as_bytes())?;
        out.write_all(b"\n")
    };
    line(header)?;
    for cells in rows() {
        line(cells.as_ref())?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AppId, KeyId, ObjectId, ObjectType};
    use crate::inventory::CredentialType;
    use chrono::TimeZone;

    fn row(name: &str, status: Status, days: i64) -> CredentialRow<'_> {
        static IDS: std::sync::LazyLock<(ObjectId, AppId, KeyId)> =
            std::sync::LazyLock::new(|| (ObjectId::new("o1"), AppId::new("a1"), KeyId::new("k1")));
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        CredentialRow {
            object_type: ObjectType::Application,
            object_id: &IDS.0,
            app_id: &IDS.1,
            display_name: name,
            credential_type: CredentialType::Secret,
            key_id: &IDS.2,
            credential_name: Some("has, comma \"quoted\""),
            start_date_time: None,
            end_date_time: Some(end),
            days_left: Some(days),
            status,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(&[row("a", Status::Ok, 90)]), 0);
        assert_eq!(
            exit_code(&[row("a", Status::Ok, 90), row("b", Status::Warning, 20)]),
            1
        );
        assert_eq!(
            exit_code(&[row("a", Status::Warning, 20), row("b", Status::Critical, 2)]),
            2
        );
        assert_eq!(exit_code(&[row("a", Status::Expired, -2)]), 2);
    }

    #[test]
    fn csv_quotes_per_rfc4180() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let out = render(
            &[row("app", Status::Critical, 3)],
            Format::Csv,
            "tid",
            now,
            Thresholds::default(),
        );
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), FIELDS.join(","));
        let l = lines.next().unwrap();
        assert!(l.contains("\"has, comma \"\"quoted\"\"\""), "{l}");
        assert!(l.ends_with(",3,critical"), "{l}");
    }

    #[test]
    fn hostile_names_are_neutralised_in_table_and_csv_and_exact_in_json() {
        let evil = "=HYPERLINK(\"http://x.test\",\"click\")\u{1b}]52;c;aGk=\u{7}\u{202e}";
        let mut r = row(evil, Status::Expired, -3);
        r.credential_name = Some("-cmd\u{1b}[2J");
        let rows = [r];
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let t = Thresholds::default();
        for format in [Format::Table, Format::Csv, Format::Json] {
            let out = render(&rows, format, "tid", now, t);
            for c in out.chars().filter(|c| *c != '\n') {
                assert!(
                    !c.is_control() && c != '\u{202e}',
                    "{format:?}: U+{:04X}",
                    c as u32
                );
            }
        }
        let table = render(&rows, Format::Table, "tid", now, t);
        assert!(
            table.contains("=HYPERLINK(\"http://x.test\",\"click\")\\u{1"),
            "{table}"
        );
        assert!(table.contains("-cmd\\u{1b}[2J"), "{table}");
        let csv_out = render(&rows, Format::Csv, "tid", now, t);
        let mut rd = csv::Reader::from_reader(csv_out.as_bytes());
        let rec = rd.records().next().unwrap().unwrap();
        assert_eq!(
            &rec[3],
            "'=HYPERLINK(\"http://x.test\",\"click\")\\u{1b}]52;c;aGk=\\u{7}\\u{202e}"
        );
        assert_eq!(&rec[6], "'-cmd\\u{1b}[2J");
        // A negative number is data, not a formula.
        assert_eq!(&rec[9], "-3");
        let json: serde_json::Value =
            serde_json::from_str(&render(&rows, Format::Json, "tid", now, t)).unwrap();
        assert_eq!(json["credentials"][0]["displayName"], evil);
        assert_eq!(json["credentials"][0]["credentialName"], "-cmd\u{1b}[2J");
    }

    #[test]
    fn json_has_contract_fields() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let out = render(
            &[row("app", Status::Critical, 3)],
            Format::Json,
            "tid",
            now,
            Thresholds::default(),
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["generatedAt"], "2026-11-27T00:00:00Z");
        assert_eq!(v["warnDays"], 30);
        let c = &v["credentials"][0];
        let mut keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut want: Vec<String> = FIELDS.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(c["objectType"], "application");
        assert_eq!(c["credentialType"], "secret");
        assert_eq!(c["daysLeft"], 3);
        assert_eq!(c["endDateTime"], "2026-12-01T00:00:00Z");
    }

    #[test]
    fn streamed_json_is_the_document_serialised_whole() {
        // The JSON as one document, the way the report was built before it was streamed: the bytes must not move.
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let t = Thresholds::default();
        let rows = [
            row("first \u{202e}", Status::Expired, -3),
            row("second", Status::Ok, 90),
        ];
        let doc = serde_json::json!({
            "generatedAt": "2026-11-27T00:00:00Z",
            "tenantId": "tid",
            "warnDays": 30,
            "criticalDays": 7,
            "credentials": rows.iter().map(|r| serde_json::json!({
                "objectType": "application",
                "objectId": "o1",
                "appId": "a1",
                "displayName": r.display_name,
                "credentialType": "secret",
                "keyId": "k1",
                "credentialName": "has, comma \"quoted\"",
                "startDateTime": null,
                "endDateTime": "2026-12-01T00:00:00Z",
                "daysLeft": r.days_left,
                "status": r.status.as_str(),
            })).collect::<Vec<_>>(),
        });
        // serde_json's Value keeps keys sorted; the report keeps the contract's order. Compare values, and the
        // streamed bytes with a whole-document serialisation of the same rows.
        let streamed = render(&rows, Format::Json, "tid", now, t);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&streamed).unwrap(),
            doc
        );
        let whole = crate::safe_text::to_json_pretty(&JsonReport {
            generated_at: "2026-11-27T00:00:00Z".into(),
            tenant_id: "tid",
            warn_days: 30,
            critical_days: 7,
            credentials: &rows,
        })
        .unwrap();
        assert_eq!(streamed, whole + "\n");
        assert!(streamed.contains("first \\u202e"), "{streamed}");
    }

    #[test]
    fn a_failing_writer_is_an_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let rows = [row("app", Status::Critical, 3)];
        for format in [Format::Table, Format::Csv, Format::Json] {
            assert!(
                write(
                    &mut Broken,
                    &rows,
                    format,
                    "tid",
                    now,
                    Thresholds::default()
                )
                .is_err(),
                "{format:?}"
            );
        }
    }
}
