//! `keyturn check` over several profiles (`--profile a --profile b`, `--all-profiles`): one report of all tenants.
//!
//! - JSON: an array of the single-tenant documents, each exactly what `check --profile NAME --format json` prints
//!   for that tenant, in the order of the profiles.
//! - Table and CSV: the rows of all tenants in one list, in `check`'s order (end date, app name, keyId; a tie
//!   across tenants keeps the profiles' order), with the tenant in front: the table's TENANT column is the profile
//!   name; CSV adds `profile` and `tenantId` before the single-tenant fields.
//! - Prometheus: one file, each metric family once, the tenants told apart by the `tenant` label; a tenant that did
//!   not load has `keyturn_check_success{tenant} 0` and no other sample.
//!
//! One profile never comes here: its output stays the single-tenant report byte for byte.
use super::{Format, HEADER, cells, fields, grid, json_report, prometheus};
use crate::inventory::{CredentialRow, Status, Thresholds, report_order};
use crate::safe_text::{csv_text, terminal};
use chrono::{DateTime, Utc};
use std::io::{self, Write};

/// One tenant that loaded, with its rows (already filtered by `--all`, except for Prometheus which has all).
#[derive(Debug)]
pub struct TenantReport<'a> {
    pub profile: &'a str,
    pub tenant_id: &'a str,
    pub generated_at: DateTime<Utc>,
    pub thresholds: Thresholds,
    pub rows: Vec<CredentialRow<'a>>,
}

/// The rows of all tenants as one list, each with the index of its tenant.
fn merged<'r, 'a>(tenants: &'r [TenantReport<'a>]) -> Vec<(usize, &'r CredentialRow<'a>)> {
    let mut all: Vec<(usize, &CredentialRow)> = tenants
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.rows.iter().map(move |r| (i, r)))
        .collect();
    // Stable: a tie keeps the profiles' order.
    all.sort_by(|a, b| report_order(a.1, b.1));
    all
}

/// Write the report of several tenants to `out`. `failed`: the tenant ids (where the profile names one) of the
/// tenants that did not load; only Prometheus shows them, as `keyturn_check_success{tenant} 0`.
pub fn write<W: Write>(
    out: &mut W,
    tenants: &[TenantReport],
    failed: &[&str],
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let docs: Vec<_> = tenants
                .iter()
                .map(|t| json_report(&t.rows, t.tenant_id, t.generated_at, t.thresholds))
                .collect();
            crate::safe_text::write_json_pretty(&mut *out, &docs).map_err(io::Error::from)?;
            out.write_all(b"\n")
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header = vec!["profile", "tenantId"];
            header.extend(super::FIELDS);
            w.write_record(&header)?;
            for (i, r) in merged(tenants) {
                let t = &tenants[i];
                let mut record = vec![csv_text(t.profile), csv_text(t.tenant_id)];
                record.extend(fields(r));
                w.write_record(&record)?;
            }
            w.flush()
        }
        Format::Prometheus => {
            let series: Vec<_> = tenants
                .iter()
                .map(|t| prometheus::TenantSeries {
                    tenant_id: t.tenant_id,
                    rows: &t.rows,
                    generated_at: t.generated_at,
                    thresholds: t.thresholds,
                })
                .collect();
            prometheus::write_tenants(out, &series, failed)
        }
        Format::Table => {
            let rows = merged(tenants);
            if rows.is_empty() {
                return writeln!(
                    out,
                    "No credential is expired or expiring within the warning window in {} tenants. (--all lists \
                     every credential)",
                    tenants.len()
                );
            }
            let mut header = vec!["TENANT".to_string()];
            header.extend(HEADER.map(String::from));
            grid(out, &header, || {
                rows.iter().map(|(i, r)| {
                    let mut c = vec![super::truncate(&terminal(tenants[*i].profile), 20)];
                    c.extend(cells(r));
                    c
                })
            })
        }
    }
}

/// [`write`] into memory (for `--output`).
pub fn render(tenants: &[TenantReport], failed: &[&str], format: Format) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every format writes UTF-8.
    let _ = write(&mut out, tenants, failed, format);
    String::from_utf8_lossy(&out).into_owned()
}

/// The worst exit code over the tenants that loaded (0, 1 or 2); a tenant that did not load makes the run 3, which
/// the caller decides.
pub fn exit_code(tenants: &[TenantReport]) -> u8 {
    tenants
        .iter()
        .map(|t| super::exit_code(&t.rows))
        .max()
        .unwrap_or(super::exit::OK)
}

/// Keep the rows `--all` asks for: without it only those at warning or worse (Prometheus always has every row).
pub fn filter(rows: &mut Vec<CredentialRow>, all: bool, format: Format) {
    if !all && format != Format::Prometheus {
        rows.retain(|r| r.status != Status::Ok);
    }
}
