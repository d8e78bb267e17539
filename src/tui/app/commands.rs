//! Commands from the keymap: the dispatch by popup, flow and screen, reload, and the detail view's commands.
use super::{App, Effect, Loadable, Pane, Popup, Screen};
use crate::graph::ObjectId;
use crate::tui::keymap::Command;
use crate::tui::views;
use std::time::Duration;
impl App {
    pub(super) fn on_command(&mut self, cmd: Command) -> Option<Effect> {
        match cmd {
            Command::Quit => {
                self.quit_requested();
                None
            }
            Command::Help => {
                self.popup = Some(Popup::Help { scroll: 0 });
                None
            }
            Command::CloseHelp => {
                self.close_popup();
                None
            }
            Command::PendingRemovals if self.popup.is_none() && self.flow.is_none() => {
                self.show_pending_removals();
                None
            }
            Command::Reload if self.flow.is_some() => None,
            Command::Reload => self.reload(),
            Command::DialogNextFocus
            | Command::DialogPrevFocus
            | Command::DialogActivate
            | Command::DialogCancel
                if matches!(self.popup, Some(Popup::Confirm(_))) =>
            {
                self.on_dialog(cmd)
            }
            _ if self.popup.is_some() => {
                self.scroll_popup(cmd);
                None
            }
            _ if self.flow.is_some() => self.on_flow_command(cmd),
            Command::FilterApply => {
                self.filter_editing = false;
                None
            }
            Command::FilterClear => {
                self.filter_editing = false;
                self.set_filter(String::new())
            }
            Command::Changes if matches!(self.screen, Screen::List) => self.open_changes(),
            Command::Timeline if matches!(self.screen, Screen::List) => {
                self.screen = Screen::Timeline;
                None
            }
            _ => match self.screen {
                Screen::List => self.on_list_command(cmd),
                Screen::Detail(_) => self.on_detail_command(cmd),
                Screen::Changes(_) => self.on_changes_command(cmd),
                Screen::Timeline => {
                    if cmd == Command::Back {
                        self.screen = Screen::List;
                    }
                    None
                }
            },
        }
    }

    pub(super) fn reload(&mut self) -> Option<Effect> {
        if matches!(self.screen, Screen::Detail(_)) {
            return self.request_detail(true);
        }
        if matches!(self.screen, Screen::Changes(_)) {
            return self.open_changes();
        }
        self.popup = None;
        // Owners and audit events may have changed too: ask again as the operator looks at apps.
        for id in self.owners_known() {
            self.inventory.set_owners(&id, &[]);
        }
        self.owners.clear();
        self.impact.clear();
        self.audits.clear();
        self.pending_owners = None;
        self.pending_audit = None;
        Some(self.begin_load())
    }

    pub(super) fn owners_known(&self) -> Vec<ObjectId> {
        self.owners.keys().cloned().collect()
    }

    pub(super) fn on_detail_command(&mut self, cmd: Command) -> Option<Effect> {
        let counts = self.detail_counts();
        let Screen::Detail(d) = &mut self.screen else {
            return None;
        };
        let (len, pos) = match d.focus {
            Pane::Credentials => (counts.0, &mut d.credential),
            Pane::Owners => (counts.1, &mut d.owners_scroll),
            Pane::Audit => (counts.2, &mut d.audit_scroll),
        };
        let last = len.saturating_sub(1);
        let half = (self.size.height / 4).max(1) as usize;
        match cmd {
            Command::Back => {
                self.screen = Screen::List;
                return self.request_owners(Duration::ZERO);
            }
            Command::NextPane => d.focus = d.focus.next(),
            Command::PrevPane => d.focus = d.focus.prev(),
            Command::Down => *pos = (*pos + 1).min(last),
            Command::Up => *pos = pos.saturating_sub(1),
            Command::Top => *pos = 0,
            Command::Bottom => *pos = last,
            Command::HalfPageDown => *pos = (*pos + half).min(last),
            Command::HalfPageUp => *pos = pos.saturating_sub(half),
            Command::PageDown => *pos = (*pos + 2 * half).min(last),
            Command::PageUp => *pos = pos.saturating_sub(2 * half),
            Command::Rotate => return self.start_rotation(),
            Command::RemoveOld => {
                self.confirm_remove_old();
                return None;
            }
            Command::RemoveCredential => return self.start_removal(),
            _ => {}
        }
        self.remember_credential();
        None
    }

    /// Lines each detail pane can scroll through: credentials, owners, audit lines.
    pub(super) fn detail_counts(&self) -> (usize, usize, usize) {
        let Some(row) = self.detail_row() else {
            return (0, 0, 0);
        };
        let id = &row.entry.object_id;
        let owners = match self.owners.get(id) {
            Some(Loadable::Loaded(o)) => o.len(),
            _ => 1,
        };
        let audit = views::detail::audit_line_count(self, id);
        (row.entry.credentials.len(), owners, audit)
    }
}
