//! `keyturn rotate` (docs/ARCHITECTURE.md section 2) and `keyturn journal`: the non-interactive faces of the rotation
//! engine. Both return the process exit code; output goes to the writers they are given (stdout, stderr in the binary).
//!
//! Exit codes of `rotate`: 0 the rotation completed as planned (new secret proven, the old one removed or pending
//! removal as chosen); 1 it ended without completing and nothing is left half-done (Failed, RolledBack); 2 it needs
//! a human (NotProven: both secrets kept; NeedsAttention; the old secret could not be removed); 3 nothing was
//! started (no `--yes`, read-only, bad arguments, sign-in or plan errors).
//!
//! Exit codes of `cleanup`: 0 nothing due or everything due removed; 1 something held (a check failed, or listed
//! without `--yes`); 3 could not complete.
use super::executor::{CleanupItem, CleanupOutcome, Executor, ExecutorOptions, RotationError};
use super::plan::{ApprovalError, OldChoice, PlanRequest, RotationPlan};
use super::plan_cli::{run_plan_file, write_plan_file};
use super::progress::{RotationProgress, RotationReport, message_for};
use super::proof::{ProofRetry, TokenEndpoint};
use super::startup::{StartupReport, recover_on_start, startup_report};
use super::state::StateKind;
use crate::graph::{GraphClient, KeyId};
use crate::keyvault::mapping::{MappingEntry, MappingSource};
use crate::keyvault::{KeyVaultSecrets, SecretTarget, VaultOptions};
use crate::session::{Session, SessionError};
use crate::store::{Journal, JournalEntry};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::sync::Arc;

pub const EXIT_OK: u8 = 0;
pub const EXIT_NOT_COMPLETED: u8 = 1;
pub const EXIT_NEEDS_HUMAN: u8 = 2;
pub const EXIT_NOT_STARTED: u8 = 3;

/// `keyturn rotate --app APP --key-id KEYID [--vault URL --secret-name NAME] [--lifetime-days N]
/// [--keep-old [DAYS] | --remove-old] --yes`
#[derive(Debug, Clone, clap::Args)]
pub struct RotateArgs {
    /// The app registration: appId or application object id.
    #[arg(
        long,
        value_name = "APP",
        required_unless_present = "plan",
        default_value = "",
        hide_default_value = true
    )]
    pub app: String,
    /// keyId of the client secret to replace.
    #[arg(
        long = "key-id",
        value_name = "KEYID",
        required_unless_present = "plan",
        default_value = "",
        hide_default_value = true
    )]
    pub key_id: String,
    /// Vault to write the new value to, e.g. https://myvault.vault.azure.net [default: from the mapping]
    #[arg(long, value_name = "URL", requires = "secret_name")]
    pub vault: Option<String>,
    /// Secret in that vault [default: from the mapping]
    #[arg(long = "secret-name", value_name = "NAME", requires = "vault")]
    pub secret_name: Option<String>,
    /// Lifetime of the new secret in days, 1 to 730 [default: from the profile]
    #[arg(long = "lifetime-days", value_name = "N", value_parser = clap::value_parser!(i64).range(1..=730))]
    pub lifetime_days: Option<i64>,
    /// Keep the old secret DAYS days after the new one is proven; bare: until its own end. It then becomes a
    /// pending removal for `keyturn cleanup` [default: the profile's keep_old_days, 7; never past its own end]
    #[arg(
        long = "keep-old",
        value_name = "DAYS",
        num_args = 0..=1,
        conflicts_with = "remove_old",
        value_parser = clap::value_parser!(i64).range(0..=730)
    )]
    pub keep_old: Option<Option<i64>>,
    /// Remove the old secret as soon as the new one is proven (a sign-in with it succeeded); never before.
    #[arg(long = "remove-old")]
    pub remove_old: bool,
    /// Approve and run the plan. Without it the plan is printed and nothing changes (exit 3).
    #[arg(long)]
    pub yes: bool,
    /// Write the plan to FILE (JSON: what it was computed from, and a digest) and change nothing (exit 0 once
    /// written); another person reviews it and runs it with `--plan FILE --yes`.
    #[arg(long = "plan-out", value_name = "FILE", conflicts_with_all = ["yes", "plan"])]
    pub plan_out: Option<std::path::PathBuf>,
    /// Run exactly the plan in FILE (written with --plan-out). Refused (exit 3, nothing written) when the tenant,
    /// the app's secrets or the vault secret no longer match what the plan saw.
    #[arg(
        long = "plan",
        value_name = "FILE",
        conflicts_with_all = ["app", "key_id", "vault", "secret_name", "lifetime_days", "keep_old", "remove_old"]
    )]
    pub plan: Option<std::path::PathBuf>,
}

/// `keyturn cleanup [--yes] [--format table|json]`
#[derive(Debug, Clone, clap::Args)]
pub struct CleanupArgs {
    /// Remove each due old secret whose checks pass. Without it the due removals are listed and nothing changes.
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_enum, default_value_t = CleanupFormat::Table)]
    pub format: CleanupFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CleanupFormat {
    Table,
    Json,
}

/// `keyturn journal [show ID | resume ID | rollback ID]`
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub action: Option<JournalAction>,
    /// How many rotations to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum JournalAction {
    /// One rotation with its step-by-step history.
    Show { id: i64 },
    /// Finish an interrupted or parked rotation forward (retry removing the old secret, verify, ...).
    Resume {
        id: i64,
        /// Take over from a process that looks alive; remove a kept old secret before its date.
        #[arg(long)]
        force: bool,
    },
    /// Undo an unfinished rotation: the previous value back into the vault, the new secret removed.
    Rollback {
        id: i64,
        /// Take over from a process that looks alive.
        #[arg(long)]
        force: bool,
    },
}

/// The executor the product runs: Graph through the session's client, Key Vault through the SDK over the
/// session's HTTP client (so `--ca-cert` applies), `--read-only` honoured.
pub fn live_executor(
    session: &Session,
    journal: Arc<Journal>,
) -> Executor<GraphClient, KeyVaultSecrets> {
    let vault = session.vault_secrets(VaultOptions::default());
    // The proof signs in as the rotated app at the profile's authority and tenant, for the same Graph resource
    // keyturn itself asks for.
    let sign_in = TokenEndpoint::new(
        session.http.clone(),
        &session.settings.authority_host,
        &session.tenant_id,
        session.settings.graph_scope.clone(),
    );
    let tenant = Some(session.tenant_id.clone()).filter(|t| !t.is_empty());
    Executor::new(
        session.graph.clone(),
        vault,
        sign_in,
        journal,
        session.clock.clone(),
    )
    .with_options(ExecutorOptions {
        read_only: session.read_only,
        proof: ProofRetry {
            timeout: std::time::Duration::from_secs(session.settings.proof_timeout_secs),
            ..ProofRetry::default()
        },
        tenant_id: tenant,
        profile: Some(session.settings.profile_name.clone()),
        ..ExecutorOptions::default()
    })
}

/// Who is rotating: the profile's `operator`, else the OS user and host ([`Session::person`]).
pub fn operator_name(session: &Session) -> String {
    session.person()
}

/// The mapping entries of the session's profile.
pub fn mapping_entries(session: &Session) -> Vec<MappingEntry> {
    session
        .settings
        .mappings
        .iter()
        .map(MappingEntry::from)
        .collect()
}

/// The plan request for one client secret with the session's defaults (lifetime, operator, mappings, vaults):
/// what the TUI's `r` on a secret starts from.
pub fn plan_request(session: &Session, app: &str, key_id: &KeyId) -> PlanRequest {
    PlanRequest {
        app: app.to_string(),
        key_id: key_id.clone(),
        target: None,
        lifetime_days: session.settings.lifetime_days,
        old_choice: OldChoice::KeepDays(session.settings.keep_old_days),
        operator: operator_name(session),
        signed_in_as: session.identity.clone(),
        mappings: mapping_entries(session),
        vaults: session.settings.vaults.clone(),
    }
}

/// What every start does with the journal (TUI and CLI): finish interrupted rotations (not when read-only), then
/// report what waits for a human. Never fails: a journal that cannot be opened is reported as such.
pub async fn on_start(session: &Session) -> StartupReport {
    match session.open_journal() {
        Ok(j) => on_start_with(session, Arc::new(j)).await,
        Err(e) => StartupReport {
            errors: vec![e.to_string()],
            ..Default::default()
        },
    }
}

pub async fn on_start_with(session: &Session, journal: Arc<Journal>) -> StartupReport {
    if session.read_only {
        return startup_report(&journal).unwrap_or_else(|e| StartupReport {
            errors: vec![e.to_string()],
            ..Default::default()
        });
    }
    let mut report = recover_on_start(&live_executor(session, journal.clone())).await;
    report.removals = crate::removal::reconcile(
        &session.graph,
        &journal,
        &session.tenant_id,
        session.clock.now(),
    )
    .await;
    report
}

fn print_startup(report: &StartupReport, err: &mut dyn Write) {
    for line in report.lines() {
        let _ = writeln!(err, "keyturn: {line}");
    }
}

/// `keyturn rotate`, with the journal in the data dir.
pub async fn rotate_command(
    session: &Session,
    args: &RotateArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    match session.open_journal() {
        Ok(j) => rotate_command_with(session, Arc::new(j), args, out, err).await,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

/// `keyturn rotate` against a given journal (tests).
pub async fn rotate_command_with(
    session: &Session,
    journal: Arc<Journal>,
    args: &RotateArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    if let Some(path) = &args.plan {
        return run_plan_file(session, journal, path, args.yes, out, err).await;
    }
    start_journal(session, &journal, args.yes, err).await;
    let exec = live_executor(session, journal);
    let target = match (&args.vault, &args.secret_name) {
        (Some(v), Some(n)) => match SecretTarget::new(v, n) {
            Ok(t) => Some((t, MappingSource::Flag)),
            Err(e) => {
                let _ = writeln!(err, "keyturn: {e}");
                return EXIT_NOT_STARTED;
            }
        },
        _ => None,
    };
    let mut req = plan_request(session, &args.app, &KeyId::new(args.key_id.trim()));
    req.target = target;
    if let Some(days) = args.lifetime_days {
        req.lifetime_days = days;
    }
    req.old_choice = old_choice(args, req.old_choice);
    let plan = match exec.plan(&req).await {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    // With --yes, stdout is the JSON summary alone (scripts parse it); the plan goes to stderr for the record.
    if args.yes {
        let _ = err.write_all(render_plan(&plan).as_bytes());
    } else {
        let _ = out.write_all(render_plan(&plan).as_bytes());
    }
    // Writing a plan file changes nothing in the tenant or a vault: allowed read-only too.
    if let Some(path) = &args.plan_out {
        return write_plan_file(session, &plan, path, err);
    }
    if session.read_only {
        let _ = writeln!(err, "keyturn: {}", RotationError::ReadOnly);
        return EXIT_NOT_STARTED;
    }
    if !args.yes {
        let _ = writeln!(
            err,
            "keyturn: this is the plan; nothing was changed. Run again with --yes to rotate."
        );
        return EXIT_NOT_STARTED;
    }
    let approved = match plan.approve_by_flag() {
        Ok(a) => a,
        Err(e @ ApprovalError::NoTarget) => {
            let _ = writeln!(err, "keyturn: {e}; give --vault and --secret-name");
            return EXIT_NOT_STARTED;
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    execute_approved(exec, approved, out, err).await
}

/// Only a run that may write recovers interrupted rotations; a plan alone (no --yes) only reads the journal.
pub(super) async fn start_journal(
    session: &Session,
    journal: &Arc<Journal>,
    yes: bool,
    err: &mut (dyn Write + Send),
) {
    if yes && !session.read_only {
        print_startup(&on_start_with(session, journal.clone()).await, err);
    } else {
        match startup_report(journal) {
            Ok(r) => print_startup(&r, err),
            Err(e) => {
                let _ = writeln!(err, "keyturn: {e}");
            }
        }
    }
}

/// Run an approved plan, progress on stderr, the JSON summary on stdout; the exit code of the outcome.
pub(super) async fn execute_approved(
    exec: Executor<GraphClient, KeyVaultSecrets>,
    approved: super::plan::ApprovedPlan,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let exec = exec.with_progress(Arc::new(move |p| {
        let _ = tx.send(p);
    }));
    let run = exec.execute(approved);
    tokio::pin!(run);
    let result = loop {
        tokio::select! {
            biased;
            Some(p) = rx.recv() => print_progress(&p, err),
            r = &mut run => break r,
        }
    };
    while let Ok(p) = rx.try_recv() {
        print_progress(&p, err);
    }
    match result {
        Ok(report) => {
            print_report(&report, out);
            exit_for(&report)
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            match e {
                RotationError::Journal(_) | RotationError::JournalAfterChange { .. } => {
                    EXIT_NEEDS_HUMAN
                }
                _ => EXIT_NOT_STARTED,
            }
        }
    }
}

/// `--remove-old`, `--keep-old DAYS`, bare `--keep-old`, or the profile's default.
fn old_choice(args: &RotateArgs, default: OldChoice) -> OldChoice {
    match (args.remove_old, args.keep_old) {
        (true, _) => OldChoice::RemoveWhenProven,
        (false, Some(Some(days))) => OldChoice::KeepDays(days),
        (false, Some(None)) => OldChoice::KeepUntilEnd,
        (false, None) => default,
    }
}

/// `keyturn cleanup`, with the session's journal.
pub async fn cleanup_command(
    session: &Session,
    args: &CleanupArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    match session.open_journal() {
        Ok(j) => cleanup_command_with(session, Arc::new(j), args, out, err).await,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

/// `keyturn cleanup` against a given journal (tests).
pub async fn cleanup_command_with(
    session: &Session,
    journal: Arc<Journal>,
    args: &CleanupArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    if session.read_only && args.yes {
        let _ = writeln!(err, "keyturn: {}", RotationError::ReadOnly);
        return EXIT_NOT_STARTED;
    }
    // With --yes this is a start that writes: it finishes interrupted rotations first, like `rotate --yes` and the
    // TUI (a cron'd cleanup thus also completes a rotation a crash cut off). Without it, it only reports.
    if args.yes {
        print_startup(&on_start_with(session, journal.clone()).await, err);
    }
    let exec = live_executor(session, journal);
    let due = match exec.due_removals() {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let mut items = Vec::new();
    let mut code = EXIT_OK;
    for e in &due {
        let item = if args.yes {
            match exec.cleanup(e.id, false).await {
                Ok(item) => item,
                Err(x) => CleanupItem::listed(e, CleanupOutcome::Failed(x.to_string())),
            }
        } else {
            CleanupItem::listed(e, CleanupOutcome::Due)
        };
        code = code.max(match &item.outcome {
            CleanupOutcome::Removed => EXIT_OK,
            CleanupOutcome::Due | CleanupOutcome::Held(_) => EXIT_NOT_COMPLETED,
            CleanupOutcome::Failed(_) => EXIT_NOT_STARTED,
        });
        items.push(item);
    }
    match args.format {
        CleanupFormat::Json => {
            let doc = serde_json::json!({
                "generatedAt": session.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "tenantId": session.tenant_id,
                "removals": items,
            });
            let _ = writeln!(
                out,
                "{}",
                crate::safe_text::to_json_pretty(&doc).unwrap_or_default()
            );
        }
        CleanupFormat::Table => render_cleanup(&items, args.yes, out),
    }
    if !args.yes && !items.is_empty() {
        let _ = writeln!(
            err,
            "keyturn: {} old secret(s) due for removal; nothing was changed. Run `keyturn cleanup --yes` to remove them after the checks.",
            items.len()
        );
    }
    code
}

fn render_cleanup(items: &[CleanupItem], acted: bool, out: &mut dyn Write) {
    if items.is_empty() {
        let _ = writeln!(out, "No old secret is due for removal.");
        return;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<24}  {:<10}  {:<17}  {:<8}  REASON",
        "ID", "APP", "OLD KEY", "DUE (UTC)", "STATUS"
    );
    for i in items {
        let (status, reason) = match &i.outcome {
            CleanupOutcome::Due => ("due", String::new()),
            CleanupOutcome::Removed => ("removed", String::new()),
            CleanupOutcome::Held(r) => ("held", r.clone()),
            CleanupOutcome::Failed(r) => ("failed", r.clone()),
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<24}  {:<10}  {:<17}  {:<8}  {}",
            i.rotation_id,
            truncate(&crate::safe_text::terminal(&i.app_display_name), 24),
            i.old_key_id.short(),
            i.remove_after
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "now".into()),
            status,
            crate::safe_text::Safe(&reason)
        );
    }
    if !acted {
        let _ = writeln!(out, "(listed only: add --yes to remove after the checks)");
    }
}

/// `keyturn journal`, with the journal in the data dir. `connect` signs in, only for resume and rollback.
pub async fn journal_command(
    args: &JournalArgs,
    connect: &dyn Fn() -> Result<Session, SessionError>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    match Journal::open_default() {
        Ok(j) => journal_command_with(Arc::new(j), args, connect, out, err).await,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

/// `keyturn journal` against a given journal (tests).
pub async fn journal_command_with(
    journal: Arc<Journal>,
    args: &JournalArgs,
    connect: &dyn Fn() -> Result<Session, SessionError>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let (id, force, forward) = match &args.action {
        None => return list(&journal, args, out, err),
        Some(JournalAction::Show { id }) => return show(&journal, *id, out, err),
        Some(JournalAction::Resume { id, force }) => (*id, *force, true),
        Some(JournalAction::Rollback { id, force }) => (*id, *force, false),
    };
    let session = match connect() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    if session.read_only {
        let _ = writeln!(err, "keyturn: {}", RotationError::ReadOnly);
        return EXIT_NOT_STARTED;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let exec = live_executor(&session, journal).with_progress(Arc::new(move |p| {
        let _ = tx.send(p);
    }));
    let run = async {
        if forward {
            exec.resume(id, force).await
        } else {
            exec.rollback(id, force).await
        }
    };
    tokio::pin!(run);
    let result = loop {
        tokio::select! {
            biased;
            Some(p) = rx.recv() => print_progress(&p, err),
            r = &mut run => break r,
        }
    };
    while let Ok(p) = rx.try_recv() {
        print_progress(&p, err);
    }
    match result {
        Ok(report) => {
            print_report(&report, out);
            match report.state.parse::<StateKind>() {
                Ok(StateKind::RolledBack) if !forward => EXIT_OK,
                _ => exit_for(&report),
            }
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

fn exit_for(report: &RotationReport) -> u8 {
    if report.completed {
        return EXIT_OK;
    }
    match report.state.parse::<StateKind>() {
        Ok(StateKind::Failed | StateKind::RolledBack) => EXIT_NOT_COMPLETED,
        _ => EXIT_NEEDS_HUMAN,
    }
}

fn print_report(report: &RotationReport, out: &mut dyn Write) {
    match serde_json::to_string_pretty(report) {
        Ok(json) => {
            let _ = writeln!(out, "{json}");
        }
        Err(e) => {
            let _ = writeln!(out, "{{\"error\": \"cannot serialise the report: {e}\"}}");
        }
    }
}

fn print_progress(p: &RotationProgress, err: &mut dyn Write) {
    let line = match p {
        RotationProgress::Started {
            rotation_id,
            app_name,
        } => format!(
            "rotation {rotation_id} of {app_name} started (keyturn journal show {rotation_id})"
        ),
        RotationProgress::StepStarted { step, .. } => format!("  ... {}", step.label()),
        RotationProgress::StepFinished { detail, .. } => format!("      {detail}"),
        RotationProgress::StepFailed {
            step,
            error,
            retry_in,
            ..
        } => match retry_in {
            Some(d) => format!(
                "      {step} failed: {error}; retrying in {:.1} s",
                d.as_secs_f64()
            ),
            None => format!("      {step} failed: {error}"),
        },
        RotationProgress::StateChanged { state, .. } => format!("  -> {state}"),
        RotationProgress::ProofWaiting { waited, .. } => {
            // One event a second: every second for the first 10, then every 5 s keeps stderr readable.
            let s = waited.as_secs();
            if s == 0 || (s > 10 && s % 5 != 0) {
                return;
            }
            format!("      {}", waiting_text(*waited))
        }
        RotationProgress::Notice { message, .. } => format!("      {message}"),
        RotationProgress::Finished { report } => format!(
            "rotation {} ended: {}{}",
            report.rotation_id,
            report.state,
            report
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    };
    let _ = writeln!(err, "keyturn: {line}");
}

/// "waiting for Entra to accept the new secret: 14 s" (the progress view and `rotate` say the same).
pub fn waiting_text(waited: std::time::Duration) -> String {
    format!(
        "waiting for Entra to accept the new secret: {} s",
        waited.as_secs()
    )
}

fn date(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The plan as text: the same facts the confirmation screen shows.
pub fn render_plan(plan: &RotationPlan) -> String {
    let mut s = String::new();
    let w = &mut s;
    use std::fmt::Write as _;
    let _ = writeln!(w, "Rotation plan");
    let _ = writeln!(
        w,
        "  App:             {} (appId {}, object id {})",
        plan.app.display_name, plan.app.app_id, plan.app.object_id
    );
    let _ = writeln!(
        w,
        "  Old secret:      {} {:?}, ends {}{}",
        plan.old.key_id,
        plan.old.display_name.as_deref().unwrap_or(""),
        date(plan.old.end),
        plan.old
            .days_left
            .map(|d| format!(" ({d} days left)"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        w,
        "  New secret:      {:?}, ends {} ({} days)",
        plan.new_display_name,
        date(Some(plan.new_end)),
        plan.lifetime_days
    );
    match &plan.target {
        Some(t) => {
            let _ = writeln!(w, "  Vault secret:    {} (from {})", t.target, t.source);
            let current = match (&t.current, &t.deleted) {
                (Some(v), _) => v.version.clone(),
                (None, Some(_)) => {
                    "none: a deleted secret holds the name (recover or purge it first; see below)"
                        .into()
                }
                (None, None) => "none (the secret will be created)".into(),
            };
            let _ = writeln!(w, "  Current version: {current}");
        }
        None if plan.candidates.len() > 1 => {
            let _ = writeln!(
                w,
                "  Vault secret:    ambiguous: {} vault secrets claim this credential; choose one with --vault and --secret-name",
                plan.candidates.len()
            );
            for c in &plan.candidates {
                let _ = writeln!(w, "    candidate:     {} (from {})", c.target, c.source);
            }
        }
        None => {
            let _ = writeln!(
                w,
                "  Vault secret:    unknown: give --vault and --secret-name"
            );
        }
    }
    let _ = writeln!(w, "  Old secret then: {}", plan.old_disposition);
    let _ = writeln!(w, "  Approver:        {}", plan.approver);
    for warning in &plan.warnings {
        let _ = writeln!(w, "  Warning:         {warning}");
    }
    s
}

fn list(journal: &Journal, args: &JournalArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let entries = match journal.list(args.limit) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    if args.json {
        let reports: Vec<RotationReport> = entries.iter().map(RotationReport::from_entry).collect();
        match serde_json::to_string_pretty(&reports) {
            Ok(j) => {
                let _ = writeln!(out, "{j}");
            }
            Err(e) => {
                let _ = writeln!(err, "keyturn: {e}");
                return EXIT_NOT_STARTED;
            }
        }
    } else if entries.is_empty() {
        let _ = writeln!(out, "No rotations in the journal yet.");
    } else {
        let _ = writeln!(
            out,
            "{:>4}  {:<17}  {:<24}  {:<10}  {:<10}  {:<18}  SECRET",
            "ID", "STARTED (UTC)", "APP", "OLD KEY", "NEW KEY", "STATE"
        );
        for e in &entries {
            let _ = writeln!(
                out,
                "{:>4}  {:<17}  {:<24}  {:<10}  {:<10}  {:<18}  {}",
                e.id,
                e.created_at.format("%Y-%m-%d %H:%M"),
                truncate(&e.app_name, 24),
                e.old_key_id.short(),
                e.new_key_id.as_ref().map(KeyId::short).unwrap_or("-"),
                e.state_kind.as_str(),
                e.new_secret_id()
                    .unwrap_or_else(|| format!("{}/secrets/{}", e.vault_url, e.secret_name))
            );
        }
        for e in entries.iter().filter(|e| !e.state_kind.is_final()) {
            if let Some(m) = message_for(e) {
                let _ = writeln!(out, "  {}: {m}", e.id);
            }
        }
    }
    EXIT_OK
}

fn show(journal: &Journal, id: i64, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (e, events) = match journal.get(id).and_then(|e| Ok((e, journal.events(id)?))) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let _ = out.write_all(render_entry(&e).as_bytes());
    let _ = writeln!(out, "History:");
    for ev in events {
        let _ = writeln!(
            out,
            "  {}  {:<18} {:<8} {:<16} {}",
            ev.at.format("%Y-%m-%d %H:%M:%S"),
            ev.state.as_str(),
            ev.phase,
            ev.step.map(|s| s.as_str()).unwrap_or(""),
            ev.detail.unwrap_or_default()
        );
    }
    EXIT_OK
}

fn render_entry(e: &JournalEntry) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "Rotation {}: {}", e.id, e.state());
    let _ = writeln!(
        w,
        "  App:          {} (appId {}, object id {})",
        e.app_name, e.app_id, e.app_object_id
    );
    let _ = writeln!(
        w,
        "  Old secret:   {} {:?}, ends {}",
        e.old_key_id,
        e.old_key_name.as_deref().unwrap_or(""),
        date(e.old_end)
    );
    let _ = writeln!(
        w,
        "  New secret:   {} {:?}, ends {}",
        e.new_key_id.as_ref().map(KeyId::as_str).unwrap_or("-"),
        e.new_display_name,
        date(e.new_end.or(Some(e.requested_end)))
    );
    let _ = writeln!(
        w,
        "  Vault secret: {}/secrets/{} (previous version {}, new version {})",
        e.vault_url,
        e.secret_name,
        e.previous_version.as_deref().unwrap_or("none"),
        e.new_version.as_deref().unwrap_or("none")
    );
    if let Some(k) = e.keep_until {
        let _ = writeln!(w, "  Old kept until: {}", date(Some(k)));
    }
    let _ = writeln!(
        w,
        "  Operator:     {} (approved by {})",
        e.operator, e.approver
    );
    let _ = writeln!(
        w,
        "  Started:      {}, last change {}",
        date(Some(e.created_at)),
        date(Some(e.updated_at))
    );
    if let Some(m) = message_for(e) {
        let _ = writeln!(w, "  Next:         {m}");
    }
    s
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

    /// The TUI spawns rotations with `tokio::spawn`: the live executor's futures must be `Send`.
    #[allow(dead_code)]
    fn live_futures_are_send(
        exec: Executor<GraphClient, KeyVaultSecrets>,
        approved: super::super::plan::ApprovedPlan,
        req: PlanRequest,
    ) {
        fn is_send<T: Send>(_: T) {}
        is_send(exec.clone());
        is_send(async move {
            let _ = exec.plan(&req).await;
            let _ = exec.execute(approved).await;
            let _ = exec.resume(1, false).await;
            let _ = exec.rollback(1, false).await;
            let _ = recover_on_start(&exec).await;
        });
    }
}
