//! The Changes view (`A` from the list): the tenant's credential changes of the last days with their findings, read
//! by the same engine as `keyturn audit`. Enter opens the app a change concerns.
use super::{App, Effect, Loadable, Screen};
use crate::tui::event::LoadError;
use crate::tui::keymap::Command;

/// How far back the view reads (as `keyturn audit` without `--days`).
pub const CHANGES_DAYS: i64 = crate::audit::DEFAULT_DAYS;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangesView {
    /// The selected change (index into the report's rows).
    pub selected: usize,
    /// Why Enter did nothing last time (the app is not in the list), until the cursor moves.
    pub note: Option<String>,
}

impl App {
    /// Open the view and read the feed (again).
    pub(super) fn open_changes(&mut self) -> Option<Effect> {
        let selected = match &self.screen {
            Screen::Changes(c) => c.selected,
            _ => 0,
        };
        self.screen = Screen::Changes(ChangesView {
            selected,
            note: None,
        });
        self.changes = Some(Loadable::Loading);
        self.changes_for = self.is_several().then(|| self.changes_tenant());
        Some(Effect::LoadChanges { days: CHANGES_DAYS })
    }

    pub(super) fn on_changes_loaded(
        &mut self,
        result: Result<crate::audit::AuditReport, LoadError>,
    ) {
        let len = result.as_ref().map(|r| r.rows.len()).unwrap_or(0);
        self.changes = Some(match result {
            Ok(r) => Loadable::Loaded(r),
            Err(e) => Loadable::Failed(e),
        });
        if let Screen::Changes(c) = &mut self.screen {
            c.selected = c.selected.min(len.saturating_sub(1));
        }
    }

    fn changes_len(&self) -> usize {
        match &self.changes {
            Some(Loadable::Loaded(r)) => r.rows.len(),
            _ => 0,
        }
    }

    pub(super) fn on_changes_command(&mut self, cmd: Command) -> Option<Effect> {
        let len = self.changes_len();
        let last = len.saturating_sub(1);
        let half = (self.size.height / 4).max(1) as usize;
        let Screen::Changes(c) = &mut self.screen else {
            return None;
        };
        let pos = &mut c.selected;
        match cmd {
            Command::Back => {
                self.screen = Screen::List;
                return None;
            }
            Command::Open => return self.open_changed_app(),
            Command::Down => *pos = (*pos + 1).min(last),
            Command::Up => *pos = pos.saturating_sub(1),
            Command::Top => *pos = 0,
            Command::Bottom => *pos = last,
            Command::HalfPageDown | Command::PageDown => *pos = (*pos + half).min(last),
            Command::HalfPageUp | Command::PageUp => *pos = pos.saturating_sub(half),
            _ => return None,
        }
        c.note = None;
        None
    }

    /// Enter: the selected change's app, opened as from the list (the filter is cleared if it hid the app).
    fn open_changed_app(&mut self) -> Option<Effect> {
        let Screen::Changes(c) = &self.screen else {
            return None;
        };
        let Some(Loadable::Loaded(report)) = &self.changes else {
            return None;
        };
        let row = report.rows.get(c.selected)?;
        let id = row.target_object_id.clone()?;
        let found = self
            .inventory
            .get(&crate::graph::ObjectId::new(id.clone()))?;
        let object_id = found.entry.object_id.clone();
        if self.inventory.position_of(&object_id).is_none() && !self.filter.is_empty() {
            let _ = self.set_filter(String::new());
        }
        match self.inventory.position_of(&object_id) {
            Some(pos) => {
                self.screen = Screen::List;
                let _ = self.select(pos);
                self.open_detail()
            }
            None => {
                if let Screen::Changes(c) = &mut self.screen {
                    c.note = Some(
                        "that app is hidden by the list's view (status filter or service principals): change the view \
                         with s / t first"
                            .into(),
                    );
                }
                None
            }
        }
    }

    /// Whether an object id is in the loaded inventory (the view marks rows it cannot open).
    pub fn in_inventory(&self, id: &str) -> bool {
        self.inventory
            .get(&crate::graph::ObjectId::new(id.to_string()))
            .is_some()
    }
}
