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

/// What became of the old credential, in words for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum OldCredentialOutcome {
    /// Removed from the app.
    Removed,
    /// Still on the app by choice until this date; `keyturn journal resume ID` removes it then.
    KeptUntil { until: DateTime<Utc> },
    /// Removing it failed; `keyturn journal resume ID` retries.
    RemovalPending { error: String },
    /// Untouched: the rotation did not get that far (failed or rolled back); it is still active.
    Untouched,
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
    pub old_credential: OldCredentialOutcome,
    /// What went wrong and what to do, when something did.
    pub message: Option<String>,
}

impl RotationReport {
    pub fn from_entry(e: &JournalEntry) -> RotationReport {
        let kind = e.state_kind;
        let old_credential = match kind {
            StateKind::Done | StateKind::OldRemoved => OldCredentialOutcome::Removed,
            StateKind::OldRemovalPending => match (&e.error, e.keep_until) {
                (Some(err), _) => OldCredentialOutcome::RemovalPending { error: err.clone() },
                (None, Some(until)) => OldCredentialOutcome::KeptUntil { until },
                (None, None) => OldCredentialOutcome::RemovalPending {
                    error: "not removed yet".into(),
                },
            },
            _ => OldCredentialOutcome::Untouched,
        };
        let completed = match kind {
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
            old_credential,
            message: message_for(e),
        }
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
                "the new secret is in the vault and verified, but removing the old one failed ({err}); run `keyturn journal resume {}` to retry",
                e.id
            )),
            (None, Some(until)) => Some(format!(
                "the old secret is kept until {}; run `keyturn journal resume {}` after that date to remove it",
                until.format("%Y-%m-%d"),
                e.id
            )),
            (None, None) => None,
        },
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
