//! Rotation of an app registration's client secret into Key Vault: the plan the operator approves, the state
//! machine of docs/ARCHITECTURE.md section 4, and the executor that drives it through Graph and Key Vault.
//!
//! How a face drives it (the TUI's plan/progress/result screens, `keyturn rotate`):
//! 1. `let exec = cli::live_executor(&session, journal)` (`Journal::open_default()`); `Executor` is `Clone + Send`.
//! 2. `exec.plan(&cli::plan_request(&session, app, &key_id)).await` -> [`RotationPlan`]: everything the
//!    confirmation screen shows. `plan.target == None` means "ask": validate what is typed with
//!    `SecretTarget::new(url, name)` and `plan.set_target(exec.vault(), target, MappingSource::Operator).await`.
//!    `plan.set_old_disposition(OldDisposition::KeepUntil(date))` for "keep until".
//! 3. `plan.confirms(typed)` while typing; `plan.approve(typed)` -> [`ApprovedPlan`].
//! 4. `exec.with_progress(sink).execute(approved).await` -> [`RotationReport`]; the sink receives
//!    [`RotationProgress`] events (wrap them as `Event::Rotation(..)`). `exec.read_only()` is `--read-only`.
//! 5. At every start: `cli::on_start(&session).await` -> [`StartupReport`] (`lines()` for a banner).
pub mod cli;
pub mod executor;
pub mod plan;
pub mod ports;
pub mod progress;
pub mod startup;
pub mod state;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

pub use cli::{live_executor, on_start, plan_request};
pub use executor::{Executor, ExecutorOptions, PAUSE_ENV, RemovalRetry, RotationError};
pub use plan::{
    AppSummary, ApprovalError, ApprovedPlan, OldCredential, PlanError, PlanRequest, PlannedTarget,
    RotationPlan,
};
pub use ports::{GraphApi, VaultApi};
pub use progress::{OldCredentialOutcome, ProgressSink, RotationProgress, RotationReport};
pub use startup::{StartupReport, recover_on_start, startup_report};
pub use state::{OldDisposition, RotationState, StateKind, Step};
