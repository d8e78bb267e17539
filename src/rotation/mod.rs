//! Rotation of an app registration's client secret into Key Vault: the plan the operator approves, the state
//! machine of DESIGN section 5, and the executor that drives it through Graph and Key Vault.
pub mod state;

pub use state::{OldDisposition, RotationState, StateKind, Step};
