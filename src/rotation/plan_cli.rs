//! `keyturn rotate ... --plan-out FILE` and `keyturn rotate --plan FILE [--yes]`: the command-line side of plan
//! files (the format and its checks are in `plan_file`).
use super::cli::{
    EXIT_NOT_STARTED, EXIT_OK, execute_approved, live_executor, operator_name, plan_request,
    render_plan, start_journal,
};
use super::executor::RotationError;
use super::plan::{MAX_LIFETIME_DAYS, RotationPlan};
use super::plan_file::{PlanFile, short_digest};
use crate::graph::KeyId;
use crate::keyvault::SecretTarget;
use crate::keyvault::mapping::MappingSource;
use crate::safe_text::terminal;
use crate::session::Session;
use crate::store::Journal;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Write the plan file; exit 0 once written (nothing else changes), 3 when it cannot be.
pub(super) fn write_plan_file(
    session: &Session,
    plan: &RotationPlan,
    path: &Path,
    err: &mut (dyn Write + Send),
) -> u8 {
    let file = PlanFile::from_plan(
        plan,
        &session.tenant_id,
        &operator_name(session),
        &session.identity,
    )
    .and_then(|f| f.write(path).map(|()| f));
    match file {
        Ok(f) => {
            let _ = writeln!(
                err,
                "keyturn: the plan is written to {} (digest {}); nothing was changed. After review, run it with:\n  keyturn rotate --plan {} --yes",
                path.display(),
                short_digest(&f.digest),
                path.display()
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

/// Compute the plan again from the file's app, keyId and vault secret, refuse on any difference from what the
/// file saw, then (with `--yes`) run exactly the file's plan.
pub(super) async fn run_plan_file(
    session: &Session,
    journal: Arc<Journal>,
    path: &Path,
    yes: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let file = match PlanFile::read(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let _ = writeln!(
        err,
        "keyturn: plan file {} written by {} on {} (digest {})",
        path.display(),
        terminal(&file.planned_by),
        file.planned_at.format("%Y-%m-%d %H:%M UTC"),
        short_digest(&file.digest)
    );
    // Another tenant's plan is refused before anything, recovery included, talks to this one.
    if !file.tenant_id.eq_ignore_ascii_case(&session.tenant_id) {
        let _ = writeln!(
            err,
            "keyturn: the plan is for tenant {}, but keyturn is signed in to tenant {}; nothing was changed",
            terminal(&file.tenant_id),
            terminal(&session.tenant_id)
        );
        return EXIT_NOT_STARTED;
    }
    start_journal(session, &journal, yes, err).await;
    let exec = live_executor(session, journal);
    let target = match SecretTarget::new(&file.vault.url, &file.vault.secret_name) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "keyturn: the plan's vault secret: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let mut req = plan_request(
        session,
        &file.app.object_id,
        &KeyId::new(&file.old_credential.key_id),
    );
    req.target = Some((target, MappingSource::PlanFile));
    req.lifetime_days = file.new_secret.lifetime_days.clamp(1, MAX_LIFETIME_DAYS);
    let mut plan = match exec.plan(&req).await {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(
                err,
                "keyturn: the plan file no longer matches the tenant: {e}; nothing was changed"
            );
            return EXIT_NOT_STARTED;
        }
    };
    let differences = file.differences(&session.tenant_id, &plan);
    file.apply_to(&mut plan, &operator_name(session));
    let shown = render_plan(&plan);
    if yes {
        let _ = err.write_all(shown.as_bytes());
    } else {
        let _ = out.write_all(shown.as_bytes());
    }
    if !differences.is_empty() {
        let _ = writeln!(
            err,
            "keyturn: the plan file no longer matches what it was computed from; nothing was changed:"
        );
        for d in &differences {
            let _ = writeln!(err, "  - {}", terminal(d));
        }
        let _ = writeln!(
            err,
            "Write a new plan (keyturn rotate ... --plan-out FILE) and review it again."
        );
        return EXIT_NOT_STARTED;
    }
    if session.read_only {
        let _ = writeln!(err, "keyturn: {}", RotationError::ReadOnly);
        return EXIT_NOT_STARTED;
    }
    if !yes {
        let _ = writeln!(
            err,
            "keyturn: the plan file still matches the tenant and the vault; nothing was changed. Run again with --yes to execute it."
        );
        return EXIT_NOT_STARTED;
    }
    match plan.approve_by_flag() {
        Ok(approved) => execute_approved(exec, approved, out, err).await,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}
