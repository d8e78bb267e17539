//! What a running rotation tells its face (the TUI's progress view, `keyturn rotate` on stderr), and the summary
//! it ends with. Neither ever carries the secret value.
use super::state::{RotationState, StateKind, Step};
use crate::graph::{AppId, KeyId, ObjectId};
use crate::store::JournalEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// One event of a running rotation. The TUI wraps these as `Event::Rotation(RotationProgress)`.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationProgress {
    /// The journal entry exists; `rotation_id` is what `keyturn journal` shows.
    Started {
        rotation_id: i64,
        app_name: String,
    },
    StepStarted {
        rotation_id: i64,
        step: Step,
    },
    StepFinished {
        rotation_id: i64,
        step: Step,
        detail: String,
    },
    /// A call failed; `retry_in` when it will be tried again.
    StepFailed {
        rotation_id: i64,
        step: Step,
        error: String,
        retry_in: Option<Duration>,
    },
    StateChanged {
        rotation_id: i64,
        state: RotationState,
    },
    /// The sign-in proof is waiting for Entra to accept the new secret (sent about every second while it waits):
    /// "waiting for Entra to accept the new secret: 14 s".
    ProofWaiting {
        rotation_id: i64,
        waited: Duration,
        timeout: Duration,
        /// What the last attempt was told (e.g. `AADSTS7000215`), for the curious.
        last: String,
    },
    /// Free text worth a line in the progress view ("the write's answer was lost; reading back").
    Notice {
        rotation_id: i64,
        message: String,
    },
    Finished {
        report: RotationReport,
    },
}

/// Where progress goes: a closure so any face can forward it into its own channel.
pub type ProgressSink = Arc<dyn Fn(RotationProgress) + Send + Sync>;

/// What became of the old credential (`oldCredential.status` of the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OldCredentialStatus {
    /// Removed from the app.
    Removed,
    /// Still on the app; `keyturn cleanup` removes it after `removeAfter`, once its checks pass.
    PendingRemoval,
    /// Still on the app with no removal planned: the rotation did not prove the new secret (or did not get that
    /// far), so nothing removes the old one automatically.
    Kept,
}

/// `"oldCredential": {"status", "removeAfter"}` of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OldCredentialOutcome {
    pub status: OldCredentialStatus,
    /// When a pending removal becomes due (RFC 3339); `null` otherwise.
    pub remove_after: Option<DateTime<Utc>>,
}

/// `proof.status` of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProofStatus {
    Proven,
    NotProven,
}

/// `"proof": {"status", "reason"}` of the summary: did a sign-in with the new secret succeed, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofOutcome {
    pub status: ProofStatus,
    pub reason: Option<String>,
}

/// The summary a rotation ends with (`keyturn rotate` prints it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    pub rotation_id: i64,
    pub state: String,
    /// True only when the rotation completed as planned (Done, or the old credential kept by choice).
    pub completed: bool,
    pub app_object_id: ObjectId,
    pub app_id: AppId,
    pub app_display_name: String,
    pub new_key_id: Option<KeyId>,
    pub new_end_date_time: Option<DateTime<Utc>>,
    /// `https://vault/secrets/name/version` of the new version.
    pub vault_secret_id: Option<String>,
    pub old_key_id: KeyId,
    pub proof: ProofOutcome,
    pub old_credential: OldCredentialOutcome,
    /// What went wrong and what to do, when something did.
    pub message: Option<String>,
}

impl RotationReport {
    pub fn from_entry(e: &JournalEntry) -> RotationReport {
        let kind = e.state_kind;
        let old_credential = match kind {
            StateKind::Done | StateKind::OldRemoved => OldCredentialOutcome {
                status: OldCredentialStatus::Removed,
                remove_after: None,
            },
            // A failed removal is due at once (retried by `keyturn cleanup`).
            StateKind::OldRemovalPending => OldCredentialOutcome {
                status: OldCredentialStatus::PendingRemoval,
                remove_after: Some(e.keep_until.unwrap_or(e.updated_at)),
            },
            _ => OldCredentialOutcome {
                status: OldCredentialStatus::Kept,
                remove_after: None,
            },
        };
        let proven = e.proven_at.is_some();
        let proof = ProofOutcome {
            status: if proven {
                ProofStatus::Proven
            } else {
                ProofStatus::NotProven
            },
            reason: (!proven).then(|| not_proven_reason(e)),
        };
        let completed = proven
            && match kind {
                StateKind::Done => true,
                StateKind::OldRemovalPending => e.error.is_none() && e.keep_until.is_some(),
                _ => false,
            };
        // A new credential that was rolled back or never stored is not worth pointing at.
        let new_is_live = matches!(
            kind,
            StateKind::Done
                | StateKind::OldRemoved
                | StateKind::OldRemovalPending
                | StateKind::Verified
                | StateKind::Proven
                | StateKind::NotProven
                | StateKind::StoredInVault
                | StateKind::SecretAdded
                | StateKind::NeedsAttention
        );
        RotationReport {
            rotation_id: e.id,
            state: kind.as_str().to_string(),
            completed,
            app_object_id: e.app_object_id.clone(),
            app_id: e.app_id.clone(),
            app_display_name: e.app_name.clone(),
            new_key_id: e.new_key_id.clone().filter(|_| new_is_live),
            new_end_date_time: e.new_end.filter(|_| new_is_live),
            vault_secret_id: e.new_secret_id().filter(|_| new_is_live),
            old_key_id: e.old_key_id.clone(),
            proof,
            old_credential,
            message: message_for(e),
        }
    }
}

/// Why an entry has no sign-in proof, in words.
fn not_proven_reason(e: &JournalEntry) -> String {
    match e.state_kind {
        StateKind::NotProven => e
            .error
            .clone()
            .unwrap_or_else(|| "the sign-in with the new secret did not succeed".into()),
        StateKind::Failed | StateKind::RolledBack => format!(
            "the rotation ended ({}) before the new secret could be proven",
            e.state_kind
        ),
        StateKind::NeedsAttention => {
            "the rotation stopped before the new secret could be proven (needs attention)".into()
        }
        StateKind::Done | StateKind::OldRemoved | StateKind::OldRemovalPending => {
            "this rotation was recorded by a keyturn version that did not prove new secrets".into()
        }
        k => format!("not proven yet: the rotation is at {k}"),
    }
}

/// The operator's next step for an entry that did not simply finish.
pub fn message_for(e: &JournalEntry) -> Option<String> {
    let err = e.error.clone().unwrap_or_default();
    match e.state_kind {
        StateKind::Done => None,
        StateKind::Failed => Some(format!(
            "nothing was changed: {err}. Fix the cause and rotate again."
        )),
        StateKind::RolledBack => Some(format!(
            "rolled back: {err}. The old secret is still active and the vault holds what it held before."
        )),
        StateKind::OldRemovalPending => match (&e.error, e.keep_until) {
            (Some(err), _) => Some(format!(
                "the new secret is in the vault and proven, but the old one is still on the app ({err}); `keyturn cleanup --yes` retries once its checks pass"
            )),
            (None, Some(until)) => Some(format!(
                "the new secret is proven; the old secret is kept until {} for consumers that cache it, then `keyturn cleanup --yes` removes it",
                until.format("%Y-%m-%d %H:%M UTC")
            )),
            (None, None) => None,
        },
        StateKind::NotProven => Some(format!(
            "NOT PROVEN: {err}. The new secret is in the vault, and both the old and the new secret are kept on the app; nothing removes the old one automatically. Fix the cause, then `keyturn journal resume {id}` proves it again (or `keyturn journal rollback {id}` undoes the rotation)",
            id = e.id
        )),
        StateKind::NeedsAttention => Some(format!(
            "NEEDS ATTENTION: {err}. Both the old and the new secret are kept so that nothing breaks; run `keyturn journal resume {id}` or `keyturn journal rollback {id}` once the cause is fixed",
            id = e.id
        )),
        _ => Some(format!(
            "interrupted at {}; run `keyturn journal resume {}`",
            e.state_kind, e.id
        )),
    }
}
