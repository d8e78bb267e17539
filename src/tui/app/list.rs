//! The list: rows, the view (filter, status, service principals), the cursor held on an app across changes, and
//! the list's commands.
use super::{App, Detail, Effect, OWNERS_DEBOUNCE, Pane, Screen};
use crate::inventory::Entry;
use crate::tui::keymap::Command;
use crate::tui::model::{Row, View};
impl App {
    pub(super) fn rows_of(&self, entries: Vec<Entry>) -> Vec<Row> {
        let (now, t) = (self.now(), self.cfg.thresholds);
        entries
            .into_iter()
            .map(|e| {
                let tenant = self.tenant_of(&e.object_id).unwrap_or(0);
                let mut row = Row::new(e, now, t);
                row.tenant = tenant;
                row
            })
            .collect()
    }

    pub(super) fn set_view(&mut self, f: impl FnOnce(&mut View)) {
        let mut view = self.inventory.view().clone();
        f(&mut view);
        self.inventory.set_view(view);
        self.cursor.offset = 0;
        self.reselect();
    }

    /// After the visible rows changed: keep the cursor on the same app when it is still there, and the detail's
    /// cursor on the same credential (by keyId).
    pub(super) fn reselect(&mut self) {
        let len = self.inventory.visible_len();
        let pos = match (&self.selected_id, self.moved) {
            (Some(id), true) => self.inventory.position_of(id),
            _ => None,
        };
        self.cursor.selected = match pos {
            Some(p) => p,
            None if self.moved => self.cursor.selected.min(len.saturating_sub(1)),
            None => 0,
        };
        self.selected_id = self.selected_row().map(|r| r.entry.object_id.clone());
        self.scroll_into_view();
        self.follow_credential();
    }

    /// The rows changed under the detail view: find its credential by keyId again. One that is gone leaves the
    /// cursor where it was (clamped) and the key follows what the cursor now shows.
    fn follow_credential(&mut self) {
        let Screen::Detail(d) = &mut self.screen else {
            return;
        };
        let Some(row) = self.inventory.get(&d.object_id) else {
            return;
        };
        let creds = &row.entry.credentials;
        let found = d
            .credential_key
            .as_ref()
            .and_then(|k| creds.iter().position(|c| &c.key_id == k));
        d.credential = found.unwrap_or_else(|| d.credential.min(creds.len().saturating_sub(1)));
        d.credential_key = creds.get(d.credential).map(|c| c.key_id.clone());
    }

    /// The operator moved the detail's cursor: remember the credential it is on.
    pub(super) fn remember_credential(&mut self) {
        let Screen::Detail(d) = &mut self.screen else {
            return;
        };
        let key = self
            .inventory
            .get(&d.object_id)
            .and_then(|row| row.entry.credentials.get(d.credential))
            .map(|c| c.key_id.clone());
        d.credential_key = key;
    }

    pub(super) fn scroll_into_view(&mut self) {
        let page = self.list_page();
        let c = &mut self.cursor;
        if c.selected < c.offset {
            c.offset = c.selected;
        } else if c.selected >= c.offset + page {
            c.offset = c.selected + 1 - page;
        }
        let len = self.inventory.visible_len();
        c.offset = c.offset.min(len.saturating_sub(page));
    }

    /// Move the list cursor to `pos` (clamped) and ask for the owners of the row it lands on.
    pub(super) fn select(&mut self, pos: usize) -> Option<Effect> {
        let len = self.inventory.visible_len();
        if len == 0 {
            return None;
        }
        let pos = pos.min(len - 1);
        self.moved = true;
        let changed = pos != self.cursor.selected
            || self.selected_id.as_ref() != self.selected_row().map(|r| &r.entry.object_id);
        self.cursor.selected = pos;
        self.selected_id = self.selected_row().map(|r| r.entry.object_id.clone());
        self.scroll_into_view();
        if changed {
            self.request_owners(OWNERS_DEBOUNCE)
        } else {
            None
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) -> Option<Effect> {
        let pos = self.cursor.selected.saturating_add_signed(delta);
        self.select(pos)
    }

    pub(super) fn on_list_command(&mut self, cmd: Command) -> Option<Effect> {
        let page = self.list_page();
        let sel = self.cursor.selected;
        match cmd {
            Command::Down => self.move_by(1),
            Command::Up => self.move_by(-1),
            Command::Top => self.select(0),
            Command::Bottom => self.select(usize::MAX),
            Command::HalfPageDown => self.move_by((page / 2).max(1) as isize),
            Command::HalfPageUp => self.move_by(-((page / 2).max(1) as isize)),
            Command::PageDown => self.select(sel.saturating_add(page)),
            Command::PageUp => self.select(sel.saturating_sub(page)),
            Command::Open => self.open_detail(),
            Command::Back => {
                if self.filter.is_empty() {
                    None
                } else {
                    self.set_filter(String::new())
                }
            }
            Command::Filter => {
                self.filter_editing = true;
                None
            }
            Command::NextTenant => self.next_tenant(),
            Command::CycleSort => {
                let next = self.inventory.sort_key().next();
                self.inventory.set_sort(next);
                self.cursor.offset = 0;
                self.reselect();
                None
            }
            Command::CycleStatusFilter => {
                self.set_view(|v| v.status = v.status.next());
                self.request_owners(OWNERS_DEBOUNCE)
            }
            Command::ToggleServicePrincipals => {
                self.set_view(|v| v.service_principals = !v.service_principals);
                if self.inventory.view().service_principals && !self.service_principals_loaded {
                    return Some(self.begin_load());
                }
                None
            }
            _ => None,
        }
    }

    pub(super) fn set_filter(&mut self, text: String) -> Option<Effect> {
        self.filter = text;
        let needle = self.filter.trim().to_lowercase();
        self.set_view(|v| v.needle = needle);
        self.request_owners(OWNERS_DEBOUNCE)
    }

    pub(super) fn open_detail(&mut self) -> Option<Effect> {
        let row = self.selected_row()?;
        let id = row.entry.object_id.clone();
        let credential_key = row.entry.credentials.first().map(|c| c.key_id.clone());
        self.screen = Screen::Detail(Detail {
            object_id: id,
            focus: Pane::Credentials,
            credential: 0,
            credential_key,
            owners_scroll: 0,
            audit_scroll: 0,
        });
        self.request_detail(false)
    }
}
