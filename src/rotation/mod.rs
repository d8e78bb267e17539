//! Rotation of an app registration's client secret into Key Vault: the plan the operator approves, the state
//! machine of DESIGN section 5, and the executor that drives it through Graph and Key Vault.
//!
//! Faces use it like this: `Executor::plan(&PlanRequest)` -> show the `RotationPlan` -> `plan.approve(typed)` ->
//! `Executor::execute(approved)` with a `ProgressSink` for the progress view -> `RotationReport` for the result.
//! At every start: `startup::recover_on_start` (or `startup::startup_report` when read-only).
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

pub use executor::{Executor, ExecutorOptions, PAUSE_ENV, RemovalRetry, RotationError};
pub use plan::{
    AppSummary, ApprovalError, ApprovedPlan, OldCredential, PlanError, PlanRequest, PlannedTarget,
    RotationPlan,
};
pub use ports::{GraphApi, VaultApi};
pub use progress::{OldCredentialOutcome, ProgressSink, RotationProgress, RotationReport};
pub use startup::{StartupReport, recover_on_start, startup_report};
pub use state::{OldDisposition, RotationState, StateKind, Step};
