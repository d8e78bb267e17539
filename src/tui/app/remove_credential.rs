//! `D` on a credential in the detail view: remove it as an action of its own (typically one flagged unused). The
//! engine reads the app and its last use and builds the plan; the confirmation shows what goes and its last use and
//! needs the app's display name typed; the app's last valid credential, when the app signed in within the window or
//! its last use is unknown, needs a second typed phrase. The removal is journaled by the engine (`crate::removal`).
use super::{Action, App, Confirm, Effect, Popup, Screen};
use crate::removal::{LAST_CREDENTIAL_PHRASE, RemovalOutcome, RemovalPlan};
use crate::safe_text::{Safe, terminal};
use crate::store::RemovalState;

impl App {
    /// `D` in an app's detail: plan the removal of the credential under the cursor, or say why not.
    pub(super) fn start_removal(&mut self) -> Option<Effect> {
        let row = self.detail_row()?;
        let Screen::Detail(d) = &self.screen else {
            return None;
        };
        let creds = &row.entry.credentials;
        let cred = match &d.credential_key {
            Some(k) => creds.iter().find(|c| &c.key_id == k)?,
            None => creds.get(d.credential)?,
        };
        if self.cfg.read_only {
            self.open_message(
                "Read-only session",
                vec!["This session is read-only: nothing is removed.".into()],
                false,
            );
            return None;
        }
        if row.is_service_principal() {
            self.open_message(
                "Service principal credentials",
                vec![
                    "This credential belongs to the service principal, not to an app".into(),
                    "registration; keyturn removes app registration credentials only.".into(),
                ],
                false,
            );
            return None;
        }
        Some(Effect::PlanRemoval {
            object_id: row.entry.object_id.clone(),
            key_id: cred.key_id.clone(),
            thresholds: self.cfg.thresholds,
        })
    }

    /// The plan is back: the confirmation with what goes and its last use, or why there is none.
    pub(super) fn on_removal_planned(
        &mut self,
        result: Result<Box<RemovalPlan>, String>,
    ) -> Option<Effect> {
        let plan = match result {
            Ok(p) => p,
            Err(e) => {
                self.open_message("Nothing was removed", vec![terminal(&e).into_owned()], true);
                return None;
            }
        };
        // The dialog itself asks for the name ("Type <name> to confirm").
        let lines = plan.lines(self.now());
        let title = if plan.is_last_valid() {
            "Remove the app's LAST valid credential"
        } else {
            "Remove a credential"
        };
        self.popup = Some(Popup::Confirm(Confirm::new(
            title,
            lines,
            // Compared with what the screen shows, like the rotation's confirmation.
            terminal(&plan.app.display_name).into_owned(),
            Action::RemoveCredentialNamed(plan),
        )));
        None
    }

    /// The name was typed: the second confirmation when the rules ask for it, else the removal.
    pub(super) fn removal_named(&mut self, plan: Box<RemovalPlan>) -> Option<Effect> {
        if !plan.needs_second_confirmation {
            return Some(Effect::RemoveCredential { plan });
        }
        let lines = vec![
            format!(
                "The secret or certificate {} is the last valid credential of {}.",
                plan.key_id.short(),
                Safe(&plan.app.display_name)
            ),
            format!(
                "The app signed in within {} days (or its last use is unknown).",
                plan.unused_days
            ),
            "Whatever still signs in as the app stops working when it goes.".into(),
        ];
        self.popup = Some(Popup::Confirm(Confirm::new(
            "Second confirmation",
            lines,
            LAST_CREDENTIAL_PHRASE,
            Action::RemoveCredentialConfirmed(plan),
        )));
        None
    }

    /// Both confirmations given.
    pub(super) fn removal_confirmed(&mut self, plan: Box<RemovalPlan>) -> Option<Effect> {
        Some(Effect::RemoveCredential { plan })
    }

    /// The engine finished: what happened, and the app read again.
    pub(super) fn on_credential_removed(
        &mut self,
        object_id: crate::graph::ObjectId,
        result: Result<RemovalOutcome, String>,
    ) -> Option<Effect> {
        match result {
            Ok(o) if o.state == RemovalState::Removed => {
                let mut lines = vec![format!(
                    "Removed {} (journal entry {}).",
                    o.removed
                        .iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    o.removal_id
                )];
                if let Some(d) = &o.detail {
                    lines.push(terminal(d).into_owned());
                }
                self.open_message("Credential removed", lines, false);
            }
            Ok(o) => self.open_message(
                "The credential stays",
                vec![
                    terminal(o.detail.as_deref().unwrap_or("Graph refused the removal"))
                        .into_owned(),
                ],
                true,
            ),
            Err(e) => {
                self.open_message(
                    "The credential stays",
                    vec![terminal(&e).into_owned()],
                    true,
                );
                return None;
            }
        }
        Some(Effect::ReloadApp { object_id })
    }
}
