//! Rotation of an app registration's client secret into Key Vault: the plan the operator approves, the state
//! machine of docs/ARCHITECTURE.md section 4, and the executor that drives it through Graph and Key Vault.
//!
//! How a face drives it (the TUI's plan/progress/result screens, `keyturn rotate`):
//! 1. `let exec = cli::live_executor(&session, journal)` (`Journal::open_default()`); `Executor` is `Clone + Send`.
//! 2. `exec.plan(&cli::plan_request(&session, app, &key_id)).await` -> [`RotationPlan`]: everything the
//!    confirmation screen shows. `plan.target == None` means "ask": validate what is typed with
//!    `SecretTarget::new(url, name)` and `plan.set_target(exec.vault(), target, MappingSource::Operator).await`.
//!    `plan.choose_old(OldChoice::KeepDays(n) | KeepUntilEnd | RemoveWhenProven)` changes what happens to the old
//!    secret (default: the profile's `keep_old_days`, never past its own end; it is never removed unproven).
//! 3. `plan.confirms(typed)` while typing; `plan.approve(typed)` -> [`ApprovedPlan`].
//! 4. `exec.with_progress(sink).execute(approved).await` -> [`RotationReport`]; the sink receives
//!    [`RotationProgress`] events (wrap them as `Event::Rotation(..)`), including `ProofWaiting` every second
//!    while Entra has not accepted the new secret yet. `exec.read_only()` is `--read-only`.
//! 5. At every start of a face that may write: `cli::on_start(&session).await` -> [`StartupReport`] (`lines()`
//!    for a banner). Faces that only show use `startup_report` (reads the journal, never recovers).
//! 6. Pending removals: `exec.due_removals()`, `exec.cleanup(id)` (checks, then removes or holds with a reason).
pub mod cli;
pub mod executor;
pub mod plan;
mod plan_cli;
pub mod plan_file;
pub mod ports;
pub mod progress;
pub mod proof;
pub mod startup;
/// The state machine's data lives below both rotation and store (`crate::machine`); this is its old path.
pub use crate::machine as state;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

pub use cli::{live_executor, on_start, plan_request};
pub use executor::{
    CleanupItem, CleanupOutcome, Executor, ExecutorOptions, PAUSE_ENV, PausePoint, RemovalRetry,
    RotationError,
};
pub use plan::{
    AppSummary, ApprovalError, ApprovedPlan, DEFAULT_KEEP_OLD_DAYS, OldChoice, OldCredential,
    OldDisposition, PlanError, PlanRequest, PlannedTarget, RotationPlan,
};
pub use ports::{GraphApi, VaultApi};
pub use progress::{
    OldCredentialOutcome, OldCredentialStatus, ProgressSink, ProofOutcome, ProofStatus,
    RotationProgress, RotationReport,
};
pub use proof::{ProofRetry, SignInApi, SignInOutcome, TokenEndpoint};
pub use startup::{StartupReport, recover_on_start, startup_report};
pub use state::{RotationState, StateKind, Step};
