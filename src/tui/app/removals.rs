//! Pending removals in the TUI: old secrets kept after a proven rotation. The header counts them, the list marks
//! their apps, `P` lists them, and `x` in an app's detail removes a due one after the operator types the app's
//! name; the engine runs `keyturn cleanup`'s checks first and may hold it with a reason.
use super::{Action, App, Confirm, Effect, Popup, Screen};
use crate::graph::ObjectId;
use crate::rotation::{CleanupItem, CleanupOutcome, OldCredentialStatus, RotationReport};
use crate::safe_text::{Safe, terminal};
use crate::tui::event::PendingRemoval;

impl App {
    /// (pending, due now), for the header.
    pub fn pending_counts(&self) -> (usize, usize) {
        let now = self.now();
        let due = self
            .pending_removals
            .iter()
            .filter(|p| p.is_due(now))
            .count();
        (self.pending_removals.len(), due)
    }

    /// Whether an app has an old secret waiting for removal (the list's marker).
    pub fn has_pending_removal(&self, app: &ObjectId) -> bool {
        self.pending_removals
            .iter()
            .any(|p| &p.app_object_id == app)
    }

    /// A rotation of this session ended: a kept old secret joins the list, a removed one leaves it.
    pub(super) fn note_pending(&mut self, report: &RotationReport) {
        self.pending_removals
            .retain(|p| p.rotation_id != report.rotation_id);
        if report.old_credential.status == OldCredentialStatus::PendingRemoval {
            self.pending_removals.push(PendingRemoval {
                rotation_id: report.rotation_id,
                app_object_id: report.app_object_id.clone(),
                app_name: report.app_display_name.clone(),
                old_key_id: report.old_key_id.clone(),
                due: report.old_credential.remove_after,
                note: None,
            });
        }
    }

    /// `P`: the list, with what is due and how to run one.
    pub(super) fn show_pending_removals(&mut self) {
        let now = self.now();
        let mut lines = Vec::new();
        if self.pending_removals.is_empty() {
            lines.push("No old secret is waiting for removal.".to_string());
        }
        for p in &self.pending_removals {
            let when = match p.due {
                Some(d) if d > now => format!("due {}", d.format("%Y-%m-%d %H:%M UTC")),
                _ => "DUE NOW".to_string(),
            };
            lines.push(format!(
                "rotation {} · {} · old secret {} · {when}",
                p.rotation_id,
                Safe(&p.app_name),
                p.old_key_id.short()
            ));
            if let Some(n) = &p.note {
                lines.push(format!("    {}", Safe(n)));
            }
        }
        lines.push(String::new());
        lines.push("Open the app (Enter) and press x to remove a due one after its checks;".into());
        lines.push("`keyturn cleanup --yes` does the same for every due one (cron).".into());
        self.open_message("Old secrets waiting for removal", lines, false);
    }

    /// `x` in an app's detail: the due pending removal of this app, behind a typed confirmation.
    pub(super) fn confirm_remove_old(&mut self) {
        let Screen::Detail(d) = &self.screen else {
            return;
        };
        let now = self.now();
        let app = d.object_id.clone();
        let mine: Vec<&PendingRemoval> = self
            .pending_removals
            .iter()
            .filter(|p| p.app_object_id == app)
            .collect();
        let Some(p) = mine.iter().find(|p| p.is_due(now)).copied().cloned() else {
            let lines = match mine.first() {
                Some(p) => vec![
                    format!(
                        "The old secret {} is kept until {} (rotation {}).",
                        p.old_key_id.short(),
                        p.due
                            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_default(),
                        p.rotation_id
                    ),
                    "Consumers that cache the vault's value may still use it until then.".into(),
                ],
                None => vec!["This app has no old secret waiting for removal.".into()],
            };
            self.open_message("Nothing to remove yet", lines, false);
            return;
        };
        if self.cfg.read_only {
            self.open_message(
                "Read-only session",
                vec!["This session is read-only: nothing is removed.".into()],
                false,
            );
            return;
        }
        let lines = vec![
            format!(
                "Remove the old client secret {} of {} (kept by rotation {}).",
                p.old_key_id,
                Safe(&p.app_name),
                p.rotation_id
            ),
            "keyturn checks first: the new secret is still on the app, the vault holds an".into(),
            "active credential, and the old secret has not signed in since the rotation.".into(),
            String::new(),
            format!("Type the app's name to confirm: {}", Safe(&p.app_name)),
        ];
        self.popup = Some(Popup::Confirm(Confirm::new(
            "Remove the old secret",
            lines,
            // Compared with what the screen shows, like the rotation's confirmation.
            terminal(&p.app_name).into_owned(),
            Action::RemoveOldConfirmed(p.rotation_id),
        )));
    }

    pub(super) fn remove_old_confirmed(&mut self, rotation_id: i64) -> Option<Effect> {
        Some(Effect::RemoveOld { rotation_id })
    }

    pub(super) fn on_cleaned_up(
        &mut self,
        rotation_id: i64,
        result: Result<CleanupItem, String>,
    ) -> Option<Effect> {
        match result {
            Ok(item) => {
                let app = item.app_object_id.clone();
                let (title, lines, danger) = match &item.outcome {
                    CleanupOutcome::Removed => {
                        self.pending_removals
                            .retain(|p| p.rotation_id != rotation_id);
                        (
                            "Old secret removed",
                            vec![format!(
                                "The old secret {} of {} was removed after the checks passed.",
                                item.old_key_id,
                                Safe(&item.app_display_name)
                            )],
                            false,
                        )
                    }
                    CleanupOutcome::Held(why) | CleanupOutcome::Failed(why) => {
                        if let Some(p) = self
                            .pending_removals
                            .iter_mut()
                            .find(|p| p.rotation_id == rotation_id)
                        {
                            p.note = Some(why.clone());
                        }
                        (
                            "The old secret stays",
                            vec![terminal(why).into_owned()],
                            true,
                        )
                    }
                    CleanupOutcome::Due => ("Nothing done", Vec::new(), false),
                };
                self.open_message(title, lines, danger);
                Some(Effect::ReloadApp { object_id: app })
            }
            Err(e) => {
                self.open_message("The old secret stays", vec![e], true);
                None
            }
        }
    }
}
