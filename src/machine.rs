//! The rotation state machine, as data: the states, the steps that move between them, and the edges that are
//! allowed. Nothing here does I/O. It sits below both `rotation` (the executor drives it) and `store` (the journal
//! persists it), so neither has to import the other's internals; `rotation::state` re-exports it.
//!
//! ```text
//! Planned -> Approved -> SecretAdded(newKeyId) -> StoredInVault(version) -> Verified -> Proven
//!         -> OldRemoved -> Done                      (remove once proven, or the old secret already expired)
//!         |  OldRemovalPending(due) -> OldRemoved -> Done   (kept N days / until its end; `keyturn cleanup`)
//!   addPassword fails                -> Failed (nothing changed)
//!   vault write certainly failed     -> removePassword(newKeyId) -> RolledBack
//!   vault write's answer lost        -> read back: stored ? continue to Verified : roll back as above
//!   read-back mismatch               -> write the previous value back, removePassword(newKeyId) -> RolledBack
//!   sign-in proof not reached        -> NotProven: both credentials kept, the old one is never removed
//!                                       automatically (no service principal, conditional access, timeout)
//!   removing the old one fails       -> OldRemovalPending (retried from the journal)
//!   any rollback step fails          -> NeedsAttention (shown at every start until resolved)
//! ```
//!
//! Verified means the vault returned the value that was written; Proven means Entra accepted that value: a
//! client-credentials sign-in as the rotated app with the new secret succeeded. Only Proven leads to removing the
//! old secret.
use crate::graph::KeyId;
use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

/// Where a rotation is. The data each state carries is also kept in the journal's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationState {
    Planned,
    Approved,
    SecretAdded {
        new_key_id: KeyId,
    },
    StoredInVault {
        version: String,
    },
    Verified,
    /// Entra accepted the new secret (a sign-in as the app with it succeeded).
    Proven,
    /// The sign-in proof was not reached: both credentials are kept and the old one is never removed
    /// automatically. `reason` says why in words (no service principal, conditional access, timeout).
    NotProven {
        reason: String,
    },
    OldRemoved,
    Done,
    /// Nothing was changed (or what was changed was undone before anyone could use it).
    Failed {
        step: Step,
        error: String,
    },
    /// The new credential was removed and the vault holds what it held before.
    RolledBack {
        reason: String,
    },
    /// The new secret is in use; the old credential is still on the app, either because removing it failed or
    /// because the operator chose to keep it until a date.
    OldRemovalPending {
        keep_until: Option<DateTime<Utc>>,
        error: Option<String>,
    },
    /// A rollback step failed, or the state of the tenant or vault could not be established: a human must look.
    NeedsAttention {
        step: Step,
        error: String,
    },
}

impl RotationState {
    pub fn kind(&self) -> StateKind {
        match self {
            RotationState::Planned => StateKind::Planned,
            RotationState::Approved => StateKind::Approved,
            RotationState::SecretAdded { .. } => StateKind::SecretAdded,
            RotationState::StoredInVault { .. } => StateKind::StoredInVault,
            RotationState::Verified => StateKind::Verified,
            RotationState::Proven => StateKind::Proven,
            RotationState::NotProven { .. } => StateKind::NotProven,
            RotationState::OldRemoved => StateKind::OldRemoved,
            RotationState::Done => StateKind::Done,
            RotationState::Failed { .. } => StateKind::Failed,
            RotationState::RolledBack { .. } => StateKind::RolledBack,
            RotationState::OldRemovalPending { .. } => StateKind::OldRemovalPending,
            RotationState::NeedsAttention { .. } => StateKind::NeedsAttention,
        }
    }
}

impl fmt::Display for RotationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationState::SecretAdded { new_key_id } => write!(f, "SecretAdded({new_key_id})"),
            RotationState::StoredInVault { version } => write!(f, "StoredInVault({version})"),
            RotationState::Failed { step, error } => write!(f, "Failed at {step}: {error}"),
            RotationState::RolledBack { reason } => write!(f, "RolledBack: {reason}"),
            RotationState::NotProven { reason } => write!(f, "NotProven: {reason}"),
            RotationState::OldRemovalPending {
                keep_until: Some(d),
                error: None,
            } => write!(f, "OldRemovalPending (kept until {})", d.format("%Y-%m-%d")),
            RotationState::OldRemovalPending { error: Some(e), .. } => {
                write!(f, "OldRemovalPending: {e}")
            }
            RotationState::NeedsAttention { step, error } => {
                write!(f, "NeedsAttention at {step}: {error}")
            }
            other => f.write_str(other.kind().as_str()),
        }
    }
}

/// The state without its data: the journal's `state` column and the edges of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    Planned,
    Approved,
    SecretAdded,
    StoredInVault,
    Verified,
    Proven,
    NotProven,
    OldRemoved,
    Done,
    Failed,
    RolledBack,
    OldRemovalPending,
    NeedsAttention,
}

impl StateKind {
    pub const ALL: [StateKind; 13] = [
        StateKind::Planned,
        StateKind::Approved,
        StateKind::SecretAdded,
        StateKind::StoredInVault,
        StateKind::Verified,
        StateKind::Proven,
        StateKind::NotProven,
        StateKind::OldRemoved,
        StateKind::Done,
        StateKind::Failed,
        StateKind::RolledBack,
        StateKind::OldRemovalPending,
        StateKind::NeedsAttention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Planned => "Planned",
            StateKind::Approved => "Approved",
            StateKind::SecretAdded => "SecretAdded",
            StateKind::StoredInVault => "StoredInVault",
            StateKind::Verified => "Verified",
            StateKind::Proven => "Proven",
            StateKind::NotProven => "NotProven",
            StateKind::OldRemoved => "OldRemoved",
            StateKind::Done => "Done",
            StateKind::Failed => "Failed",
            StateKind::RolledBack => "RolledBack",
            StateKind::OldRemovalPending => "OldRemovalPending",
            StateKind::NeedsAttention => "NeedsAttention",
        }
    }

    /// Nothing more will happen without a human: the rotation finished one way or another.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StateKind::Done | StateKind::Failed | StateKind::RolledBack
        )
    }

    /// Stopped, and waiting for `journal resume` / `journal rollback` / `keyturn cleanup` (reported at every start).
    pub fn is_parked(self) -> bool {
        matches!(
            self,
            StateKind::OldRemovalPending | StateKind::NeedsAttention | StateKind::NotProven
        )
    }

    /// A state the executor passes through: finding one in the journal without a live owner means the process died.
    pub fn is_in_progress(self) -> bool {
        !self.is_final() && !self.is_parked()
    }

    /// The edges of the machine. `NeedsAttention` can be left forward or backward once a human resumes or rolls
    /// back (or to `Failed` when it turns out addPassword created nothing); `OldRemovalPending` loops while removal
    /// keeps failing or is held; `NotProven` is retried (`journal resume`) or undone (`journal rollback`). The old
    /// credential is removed (`OldRemoved`) or scheduled for removal only from `Proven` or a pending removal that
    /// `Proven` created: there is no edge from `Verified` to either.
    pub fn can_go_to(self, next: StateKind) -> bool {
        use StateKind::*;
        matches!(
            (self, next),
            (Planned, Approved)
                | (Approved, SecretAdded | Failed | NeedsAttention)
                | (SecretAdded, StoredInVault | RolledBack | NeedsAttention)
                | (StoredInVault, Verified | RolledBack | NeedsAttention)
                | (Verified, Proven | NotProven | RolledBack | NeedsAttention)
                | (NotProven, Proven | NotProven | RolledBack | NeedsAttention)
                | (Proven, OldRemoved | OldRemovalPending | NeedsAttention)
                | (OldRemoved, Done)
                | (
                    OldRemovalPending,
                    OldRemoved | OldRemovalPending | RolledBack | NeedsAttention
                )
                | (
                    NeedsAttention,
                    StoredInVault | Verified | Proven | RolledBack | Failed | NeedsAttention
                )
        )
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rotation state {0:?} in the journal")]
pub struct UnknownState(pub String);

impl FromStr for StateKind {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StateKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// One call the executor makes. Journaled as "in flight" before the call and cleared after it, so that a crash
/// tells the next start exactly which call's outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Re-read the app and the vault before changing anything (the plan may be minutes old).
    Preflight,
    /// Graph `addPassword`.
    AddSecret,
    /// Key Vault set secret (a new version).
    StoreInVault,
    /// Key Vault get of the new version, compared in memory.
    ReadBack,
    /// Client-credentials sign-in as the rotated app with the new secret, retried while Entra propagates it.
    Prove,
    /// Graph `removePassword` of the old credential.
    RemoveOld,
    /// Rollback: Key Vault set of the previous version's value as a new version.
    RestorePrevious,
    /// Rollback: Graph `removePassword` of the new credential.
    RemoveNew,
    /// Recovery: read the app's credentials or the vault to learn what an interrupted call did.
    Inspect,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Preflight,
        Step::AddSecret,
        Step::StoreInVault,
        Step::ReadBack,
        Step::Prove,
        Step::RemoveOld,
        Step::RestorePrevious,
        Step::RemoveNew,
        Step::Inspect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::AddSecret => "addPassword",
            Step::StoreInVault => "vaultSet",
            Step::ReadBack => "readBack",
            Step::Prove => "signInProof",
            Step::RemoveOld => "removeOld",
            Step::RestorePrevious => "restorePrevious",
            Step::RemoveNew => "removeNew",
            Step::Inspect => "inspect",
        }
    }

    /// What the progress view shows while the step runs.
    pub fn label(self) -> &'static str {
        match self {
            Step::Preflight => "Checking the app and the vault secret",
            Step::AddSecret => "Adding the new client secret (Graph addPassword)",
            Step::StoreInVault => "Writing the new value to Key Vault",
            Step::ReadBack => "Reading the new version back and comparing",
            Step::Prove => {
                "Signing in as the app with the new secret (proof that Entra accepts it)"
            }
            Step::RemoveOld => "Removing the old client secret (Graph removePassword)",
            Step::RestorePrevious => "Rollback: writing the previous value back to Key Vault",
            Step::RemoveNew => "Rollback: removing the new client secret",
            Step::Inspect => "Checking what an interrupted step did",
        }
    }

    /// Steps that undo: a crash during one of them is finished by rolling back, never forward.
    pub fn is_rollback(self) -> bool {
        matches!(self, Step::RestorePrevious | Step::RemoveNew)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in StateKind::ALL {
            assert_eq!(k.as_str().parse::<StateKind>(), Ok(k));
        }
        for s in Step::ALL {
            assert_eq!(s.as_str().parse::<Step>(), Ok(s));
        }
        assert!("Bogus".parse::<StateKind>().is_err());
    }

    #[test]
    fn happy_path_edges_exist_and_shortcuts_do_not() {
        use StateKind::*;
        let path = [
            Planned,
            Approved,
            SecretAdded,
            StoredInVault,
            Verified,
            Proven,
            OldRemoved,
            Done,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_go_to(w[1]), "{} -> {}", w[0], w[1]);
        }
        // The old secret goes (or is scheduled to go) only after the proof.
        for k in StateKind::ALL {
            if k.can_go_to(OldRemoved) {
                assert!(matches!(k, Proven | OldRemovalPending), "{k} -> OldRemoved");
            }
            if k.can_go_to(OldRemovalPending) {
                assert!(
                    matches!(k, Proven | OldRemovalPending),
                    "{k} -> OldRemovalPending"
                );
            }
        }
        assert!(!NotProven.can_go_to(OldRemoved));
        assert!(Verified.can_go_to(NotProven) && NotProven.can_go_to(Proven));
        // No step may be skipped on the way to Done, and nothing leaves a final state.
        assert!(!Approved.can_go_to(StoredInVault));
        assert!(!SecretAdded.can_go_to(Verified));
        assert!(!Verified.can_go_to(Done));
        // addPassword failing changes nothing: Failed, never RolledBack.
        assert!(Approved.can_go_to(Failed));
        assert!(!SecretAdded.can_go_to(Failed));
        for k in StateKind::ALL {
            for f in [Done, Failed, RolledBack] {
                assert!(!f.can_go_to(k), "{f} -> {k}");
            }
        }
        // Once the old credential is gone there is no way back.
        assert!(!OldRemoved.can_go_to(RolledBack));
    }

    #[test]
    fn classification() {
        assert!(StateKind::Done.is_final());
        assert!(StateKind::NeedsAttention.is_parked());
        assert!(StateKind::SecretAdded.is_in_progress());
        assert!(!StateKind::OldRemovalPending.is_in_progress());
        assert!(StateKind::NotProven.is_parked());
        assert!(StateKind::Proven.is_in_progress());
    }
}
