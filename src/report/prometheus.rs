//! `keyturn check --format prometheus`: the Prometheus text exposition format as node_exporter's textfile collector
//! reads it. Every credential gets one expiry sample (whatever `--all` says: a series must not come and go as its
//! status changes), plus counts by status, a success flag and the time of the check. No sample timestamps (the
//! textfile collector rejects them).
use crate::inventory::{CredentialRow, Status, Thresholds};
use crate::safe_text::terminal;
use chrono::{DateTime, Utc};
use std::io::{self, Write};

/// A label value as the text format wants it: backslash, double quote and newline escaped. Tenant text first goes
/// through [`terminal`], so control and bidi characters arrive as visible `\u{..}` text and never raw.
pub fn label_value(s: &str) -> String {
    let safe = terminal(s);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One tenant's part of the file.
#[derive(Debug, Clone, Copy)]
pub struct TenantSeries<'a> {
    pub tenant_id: &'a str,
    /// Every row, not only those at warning or worse.
    pub rows: &'a [CredentialRow<'a>],
    pub generated_at: DateTime<Utc>,
    pub thresholds: Thresholds,
}

/// Write every row (not only those at warning or worse) in the text format.
pub fn write<W: Write>(
    out: &mut W,
    rows: &[CredentialRow],
    tenant_id: &str,
    generated_at: DateTime<Utc>,
    t: Thresholds,
) -> io::Result<()> {
    write_tenants(
        out,
        &[TenantSeries {
            tenant_id,
            rows,
            generated_at,
            thresholds: t,
        }],
        &[],
    )
}

/// Several tenants in one file: each metric family once (one HELP and TYPE), its samples for every tenant, told
/// apart by the `tenant` label. `failed` are the tenants (ids) whose check did not complete: they get
/// `keyturn_check_success 0` and no other sample.
pub fn write_tenants<W: Write>(
    out: &mut W,
    tenants: &[TenantSeries],
    failed: &[&str],
) -> io::Result<()> {
    writeln!(
        out,
        "# HELP keyturn_credential_expiry_timestamp_seconds End of a credential's validity (Unix time)."
    )?;
    writeln!(
        out,
        "# TYPE keyturn_credential_expiry_timestamp_seconds gauge"
    )?;
    for tenant in tenants {
        let label = label_value(tenant.tenant_id);
        for r in tenant.rows {
            // A credential without an end date has no expiry to report.
            let Some(end) = r.end_date_time else { continue };
            let object_type = match r.object_type {
                crate::graph::ObjectType::Application => "application",
                crate::graph::ObjectType::ServicePrincipal => "servicePrincipal",
            };
            writeln!(
                out,
                "keyturn_credential_expiry_timestamp_seconds{{tenant=\"{label}\",app_id=\"{}\",display_name=\"{}\",key_id=\"{}\",type=\"{}\",object_type=\"{object_type}\"}} {}",
                label_value(r.app_id.as_str()),
                label_value(r.display_name),
                label_value(r.key_id.as_str()),
                r.credential_type.as_str(),
                end.timestamp(),
            )?;
        }
    }
    match tenants.first().map(|t| t.thresholds) {
        Some(t) if tenants.iter().all(|x| x.thresholds == t) => writeln!(
            out,
            "# HELP keyturn_credentials Credentials by status (warning within {} days, critical within {} days).",
            t.warn_days, t.critical_days
        )?,
        _ => writeln!(
            out,
            "# HELP keyturn_credentials Credentials by status (warning and critical windows from each tenant's profile)."
        )?,
    }
    writeln!(out, "# TYPE keyturn_credentials gauge")?;
    for tenant in tenants {
        let label = label_value(tenant.tenant_id);
        for s in Status::ALL {
            let n = tenant.rows.iter().filter(|r| r.status == s).count();
            writeln!(
                out,
                "keyturn_credentials{{tenant=\"{label}\",status=\"{}\"}} {n}",
                s.as_str()
            )?;
        }
    }
    writeln!(
        out,
        "# HELP keyturn_check_success 1 when the check completed (the file is only written then)."
    )?;
    writeln!(out, "# TYPE keyturn_check_success gauge")?;
    for tenant in tenants {
        writeln!(
            out,
            "keyturn_check_success{{tenant=\"{}\"}} 1",
            label_value(tenant.tenant_id)
        )?;
    }
    for tenant_id in failed {
        writeln!(
            out,
            "keyturn_check_success{{tenant=\"{}\"}} 0",
            label_value(tenant_id)
        )?;
    }
    writeln!(
        out,
        "# HELP keyturn_check_generated_timestamp_seconds When the check ran (Unix time)."
    )?;
    writeln!(
        out,
        "# TYPE keyturn_check_generated_timestamp_seconds gauge"
    )?;
    for tenant in tenants {
        writeln!(
            out,
            "keyturn_check_generated_timestamp_seconds{{tenant=\"{}\"}} {}",
            label_value(tenant.tenant_id),
            tenant.generated_at.timestamp()
        )?;
    }
    Ok(())
}

/// Write `contents` to `path` atomically: a temporary file in the same directory, flushed to disk, then renamed
/// over `path`, so a reader (the textfile collector) sees the old file or the new one, never half of one.
pub fn write_atomically(path: &std::path::Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".keyturn-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Readable by the collector's user; nothing secret is in it.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_newline_and_neutralise_controls() {
        assert_eq!(label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        // Newline is a control character: made visible text first, its backslash then escaped.
        assert_eq!(label_value("x\ny"), r"x\\u{a}y");
        assert_eq!(label_value("bidi \u{202e}gnp"), r"bidi \\u{202e}gnp");
        assert_eq!(label_value("plain"), "plain");
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keyturn.prom");
        write_atomically(&p, b"one\n").unwrap();
        write_atomically(&p, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keyturn.prom")]);
    }
}
