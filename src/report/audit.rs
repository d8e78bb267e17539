//! `keyturn audit` output: the JSON document of the CLI contract or text for a person, and the exit code (0 no
//! findings, 1 findings, 3 could not complete). Tenant strings go through `safe_text`.
use crate::audit::{AuditReport, AuditRow, CollectOptions, FindingPolicy, Source};
use crate::graph::ObjectType;
use crate::inventory::rfc3339;
use serde_json::{Value, json};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
}

fn inert(s: &str) -> String {
    crate::safe_text::terminal(s).into_owned()
}

fn row_json(r: &AuditRow) -> Value {
    json!({
        "activityDateTime": rfc3339(r.activity_date_time),
        "activity": r.activity.as_str(),
        "targetObjectType": r.target_object_type.map(|t| match t {
            ObjectType::Application => "application",
            ObjectType::ServicePrincipal => "servicePrincipal",
        }),
        "targetObjectId": r.target_object_id,
        "targetAppId": r.target_app_id,
        "targetDisplayName": r.target_display_name,
        "credentialType": r.credential_type,
        "keyId": r.key_id,
        "credentialName": r.credential_name,
        "initiatedBy": {
            "type": r.initiated_by.kind.as_str(),
            "id": r.initiated_by.id,
            "name": r.initiated_by.name,
        },
        "result": r.result,
        "byKeyturn": r.by_keyturn,
        "findings": r.findings,
    })
}

/// The JSON document: keys exactly as the contract lists them.
pub fn json(report: &AuditReport, tenant_id: &str) -> Value {
    json!({
        "generatedAt": rfc3339(report.generated_at),
        "tenantId": tenant_id,
        // The N asked for (DESIGN contract); how much history the source held is said on stderr.
        "days": report.requested_days,
        "source": report.source.as_str(),
        "events": report.rows.iter().map(row_json).collect::<Vec<_>>(),
    })
}

/// Text for a person: one block per change, findings under it.
pub fn text(report: &AuditReport) -> String {
    let mut s = String::new();
    let with_findings = report.finding_count();
    let _ = writeln!(
        s,
        "Credential changes in the last {} days (source {}): {} change{}, {} with findings",
        report.covered_days,
        report.source.as_str(),
        report.rows.len(),
        if report.rows.len() == 1 { "" } else { "s" },
        with_findings
    );
    if report.rows.is_empty() {
        let _ = writeln!(s, "{}", report.empty_text());
    }
    for r in &report.rows {
        let target = r
            .target_display_name
            .as_deref()
            .or(r.target_object_id.as_deref())
            .unwrap_or("(unknown object)");
        let _ = writeln!(
            s,
            "\n{}  {}  on {}",
            rfc3339(r.activity_date_time),
            inert(&r.what()),
            inert(target)
        );
        let mut facts = vec![format!("by {}", inert(&r.initiated_by.label()))];
        if let Some(ip) = &r.initiated_by.ip_address {
            facts[0].push_str(&format!(" from {}", inert(ip)));
        }
        if let Some(res) = &r.result {
            facts.push(inert(res));
        }
        if r.by_keyturn {
            facts.push("made by keyturn".into());
        }
        match &r.privileged {
            Some(p) if !p.is_empty() => {
                facts.push(format!("privileged ({})", inert(&p.join(", "))))
            }
            Some(_) => facts.push("no privileged permissions".into()),
            None => facts.push("privilege unknown".into()),
        }
        let state = r.credential_state.label();
        if !state.is_empty() {
            facts.push(state);
        }
        let _ = writeln!(s, "    {}", facts.join("; "));
        for f in &r.findings {
            let _ = writeln!(s, "    FINDING: {}", inert(f));
        }
    }
    s
}

/// The exit code of the contract.
pub fn exit_code(report: &AuditReport) -> u8 {
    if report.finding_count() > 0 {
        super::exit::WARNING
    } else {
        super::exit::OK
    }
}

/// The Management Activity API client of a session: `url` (`--office365-url`) or the public endpoint, tokens for
/// the Management APIs of the authority's cloud.
pub fn office365_client(
    session: &crate::session::Session,
    url: Option<&str>,
) -> Result<crate::audit::office365_source::ManagementClient, crate::graph::GraphError> {
    use crate::audit::office365_source::{DEFAULT_OFFICE365_URL, ManagementClient, scope_for};
    let url = url.unwrap_or(DEFAULT_OFFICE365_URL);
    // Only the scope and the origin differ from Graph: the pool, credential and retries are shared.
    let client = session
        .graph
        .clone()
        .with_base(url)?
        .with_scope(scope_for(&session.settings.authority_host));
    Ok(ManagementClient::new(client, url, &session.tenant_id))
}

/// `keyturn audit`: the document on `out`, notes on `err`.
pub async fn audit_command(
    session: &crate::session::Session,
    args: &crate::cli::AuditArgs,
    office365_url: Option<&str>,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    use super::exit;
    let profile = &session.settings.profile;
    let source = args
        .source
        .or(profile.audit_source)
        .unwrap_or(Source::Graph);
    let journal = super::show::read_journal(session);
    let opts = CollectOptions {
        now: session.clock.now(),
        days: args.days.unwrap_or(crate::audit::DEFAULT_DAYS),
        source,
        policy: FindingPolicy {
            max_lifetime_days: profile.audit_max_lifetime_days,
            ..FindingPolicy::default()
        },
        journal: &journal,
        office365: None,
    };
    let mut opts = opts;
    if source == Source::Office365 {
        match office365_client(session, office365_url) {
            Ok(c) => opts.office365 = Some(c),
            Err(e) => {
                let _ = writeln!(err, "keyturn: {e}");
                return exit::UNKNOWN;
            }
        }
    }
    let report = match crate::audit::collect(&session.graph, opts).await {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "keyturn: could not read the audit log: {e}");
            return exit::UNKNOWN;
        }
    };
    if report.covered_days < report.requested_days {
        let _ = writeln!(
            err,
            "keyturn: note: asked for {} days, but {}: showing the last {} days",
            report.requested_days, report.retention.reason, report.covered_days
        );
    }
    for note in &report.notes {
        let _ = writeln!(err, "keyturn: note: {}", inert(note));
    }
    let body = match args.format {
        AuditFormat::Json => {
            let mut s = crate::safe_text::to_json_pretty(&json(&report, &session.tenant_id))
                .unwrap_or_default();
            s.push('\n');
            s
        }
        AuditFormat::Table => text(&report),
    };
    if out
        .write_all(body.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return exit::UNKNOWN;
    }
    exit_code(&report)
}
