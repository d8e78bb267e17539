//! What every start (TUI and CLI) does with the journal: finish rotations that were interrupted, and report the
//! ones that wait for a human (NeedsAttention, a pending removal of an old secret).
use super::executor::{Executor, RotationError};
use super::ports::{GraphApi, VaultApi};
use super::progress::{RotationReport, message_for};
use super::state::StateKind;
use crate::store::{Journal, JournalEntry, JournalError};

/// The journal's news at start. Empty most days.
#[derive(Debug, Clone, Default)]
pub struct StartupReport {
    /// Interrupted rotations this start finished (forward or back).
    pub recovered: Vec<RotationReport>,
    /// A rollback step failed or the outcome of a call is unknown: a human must look.
    pub needs_attention: Vec<JournalEntry>,
    /// The new secret is in use; the old one is still on the app (removal failed, or kept until a date).
    pub pending_removals: Vec<JournalEntry>,
    /// Mid-way and owned by a live process (another keyturn is rotating right now), or not recovered because
    /// this start is read-only.
    pub in_progress: Vec<JournalEntry>,
    /// Recovery itself failed (e.g. the journal could not be written).
    pub errors: Vec<String>,
    /// Removals of a credential that a crash cut off, reconciled by this start (one line each).
    pub removals: Vec<String>,
}

impl StartupReport {
    pub fn is_empty(&self) -> bool {
        self.recovered.is_empty()
            && self.needs_attention.is_empty()
            && self.pending_removals.is_empty()
            && self.in_progress.is_empty()
            && self.errors.is_empty()
            && self.removals.is_empty()
    }

    /// One line per item, for stderr (CLI) or the TUI's start banner.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.recovered {
            out.push(format!(
                "rotation {} of {} was interrupted and has been finished: {}{}",
                r.rotation_id,
                r.app_display_name,
                r.state,
                r.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ));
        }
        for e in &self.needs_attention {
            out.push(format!(
                "rotation {} of {} ({}): {}",
                e.id,
                e.app_name,
                e.app_id,
                message_for(e).unwrap_or_default()
            ));
        }
        for e in &self.pending_removals {
            out.push(format!(
                "rotation {} of {}: {}",
                e.id,
                e.app_name,
                message_for(e).unwrap_or_default()
            ));
        }
        for e in &self.in_progress {
            out.push(format!(
                "rotation {} of {} is in progress ({}){}",
                e.id,
                e.app_name,
                e.state_kind,
                match &e.owner {
                    Some(o) => format!(" in keyturn process {}", o.pid),
                    None => String::new(),
                }
            ));
        }
        for err in &self.errors {
            out.push(format!("the rotation journal could not be checked: {err}"));
        }
        out.extend(self.removals.iter().cloned());
        out
    }

    fn classify(&mut self, entries: Vec<JournalEntry>) {
        for e in entries {
            match e.state_kind {
                StateKind::NeedsAttention => self.needs_attention.push(e),
                StateKind::OldRemovalPending => self.pending_removals.push(e),
                k if k.is_in_progress() => self.in_progress.push(e),
                _ => {}
            }
        }
    }
}

/// Read-only: what the journal says, without touching the tenant (for `--read-only` starts).
pub fn startup_report(journal: &Journal) -> Result<StartupReport, JournalError> {
    let mut r = StartupReport::default();
    r.classify(journal.unfinished()?);
    Ok(r)
}

/// Finish interrupted rotations (unless read-only), then report what is left.
pub async fn recover_on_start<G: GraphApi, V: VaultApi>(exec: &Executor<G, V>) -> StartupReport {
    let mut r = StartupReport::default();
    match exec.recover_interrupted().await {
        Ok(recovered) => r.recovered = recovered,
        Err(e @ RotationError::ReadOnly) => {
            tracing::debug!(error = %e, "no recovery in read-only mode")
        }
        Err(e) => r.errors.push(e.to_string()),
    }
    match exec.journal().unfinished() {
        Ok(list) => r.classify(list),
        Err(e) => r.errors.push(e.to_string()),
    }
    r
}
