//! From terminal events to actions: the keymap contexts in force, keys, the mouse wheel and clicks.
use super::{Action, App, Effect, FlowStage, Pane, Popup, Screen, WHEEL_STEP};
use crate::tui::event::Event;
use crate::tui::keymap::{self, Command, Context};
use crate::tui::views;
use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::Position;
impl App {
    /// Keymap contexts in force, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        match (&self.popup, &self.screen) {
            (Some(Popup::Confirm(_)), _) => vec![Context::Dialog],
            (Some(_), _) => vec![Context::Help, Context::Global],
            // While typing on the plan screen every letter is text: no global keys (Ctrl-c still quits).
            (None, _) if self.flow.is_some() => match self.flow.as_ref().map(|f| &f.stage) {
                Some(FlowStage::Plan(_)) => vec![Context::RotationPlan],
                Some(FlowStage::Running(_)) => vec![Context::RotationRunning],
                _ => vec![Context::RotationResult],
            },
            (None, _) if self.filter_editing => vec![Context::FilterInput],
            (None, Screen::List) if self.is_several() => vec![
                Context::List,
                Context::Tenants,
                Context::Navigation,
                Context::Global,
            ],
            (None, Screen::List) => vec![Context::List, Context::Navigation, Context::Global],
            (None, Screen::Detail(_)) => {
                vec![Context::Detail, Context::Navigation, Context::Global]
            }
            (None, Screen::Changes(_)) => {
                vec![Context::Changes, Context::Navigation, Context::Global]
            }
            (None, Screen::Timeline) => vec![Context::Timeline, Context::Global],
        }
    }

    /// The context of the screen under any popup: what the help's "This view" section documents.
    pub fn screen_context(&self) -> Context {
        if let Some(f) = &self.flow {
            return match f.stage {
                FlowStage::Plan(_) => Context::RotationPlan,
                FlowStage::Running(_) => Context::RotationRunning,
                _ => Context::RotationResult,
            };
        }
        match self.screen {
            Screen::List => Context::List,
            Screen::Detail(_) => Context::Detail,
            Screen::Changes(_) => Context::Changes,
            Screen::Timeline => Context::Timeline,
        }
    }

    /// Translate an event into an action. Only key presses count (some terminals also report releases).
    pub fn action_for(&self, event: Event) -> Option<Action> {
        match event {
            Event::Input(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
                self.action_for_key(&key)
            }
            Event::Input(TermEvent::Mouse(m)) => self.action_for_mouse(&m),
            Event::Input(TermEvent::Resize(width, height)) => {
                Some(Action::Resize { width, height })
            }
            Event::Input(_) => None,
            Event::Tick => Some(Action::Tick),
            Event::Terminate => Some(Action::Terminate),
            Event::InventoryCached(c) => Some(Action::InventoryCached(c)),
            Event::InventoryPage(p) => Some(Action::InventoryPage(p)),
            Event::InventoryLoaded(l) => Some(Action::InventoryLoaded(l)),
            Event::OwnersLoaded(o) => Some(Action::OwnersLoaded(o)),
            Event::AuditLoaded(a) => Some(Action::AuditLoaded(a)),
            Event::Notice(n) => Some(Action::Notice(n)),
            Event::Rotation(r) => Some(Action::Rotation(r)),
            Event::StoredIn(s) => Some(Action::StoredIn(s)),
            Event::TenantRows { tenant, ids } => Some(Action::TenantRows { tenant, ids }),
            Event::ImpactLoaded(i) => Some(Action::ImpactLoaded(i)),
            Event::Startup(n) => Some(Action::Startup(n)),
            Event::SignIn(p) => Some(Action::SignIn(p)),
            Event::AppReloaded(r) => Some(Action::AppReloaded(r)),
            Event::ChangesLoaded(r) => Some(Action::ChangesLoaded(r)),
        }
    }

    pub fn action_for_key(&self, key: &KeyEvent) -> Option<Action> {
        // Raw mode swallows SIGINT: Ctrl-c must always get the operator out, even while typing.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Command(Command::Quit));
        }
        let contexts = self.contexts();
        if let Some(cmd) = keymap::lookup(&contexts, key) {
            return Some(Action::Command(cmd));
        }
        let typing = key
            .modifiers
            .intersection(KeyModifiers::CONTROL | KeyModifiers::ALT)
            == KeyModifiers::NONE;
        match (contexts.first(), key.code) {
            (Some(Context::FilterInput), KeyCode::Char(c)) if typing => {
                Some(Action::FilterInput(c))
            }
            (Some(Context::FilterInput), KeyCode::Backspace) => Some(Action::FilterBackspace),
            (Some(Context::Dialog), KeyCode::Char(c)) if typing => Some(Action::DialogInput(c)),
            (Some(Context::Dialog), KeyCode::Backspace) => Some(Action::DialogBackspace),
            (Some(Context::RotationPlan), KeyCode::Char(c)) if typing => {
                Some(Action::DialogInput(c))
            }
            (Some(Context::RotationPlan), KeyCode::Backspace) => Some(Action::DialogBackspace),
            _ => None,
        }
    }

    pub(super) fn action_for_mouse(&self, m: &MouseEvent) -> Option<Action> {
        let (column, row) = (m.column, m.row);
        match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Scroll {
                down: true,
                column,
                row,
            }),
            MouseEventKind::ScrollUp => Some(Action::Scroll {
                down: false,
                column,
                row,
            }),
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { column, row }),
            _ => None,
        }
    }

    pub(super) fn list_page(&self) -> usize {
        views::list_body(views::areas(self.size).body).height.max(1) as usize
    }

    pub(super) fn on_scroll(&mut self, down: bool) -> Option<Effect> {
        if self.popup.is_some() {
            self.scroll_popup(if down { Command::Down } else { Command::Up });
            return None;
        }
        if self.flow.is_some() {
            return None;
        }
        match self.screen {
            Screen::List => {
                let step = WHEEL_STEP as isize;
                self.move_by(if down { step } else { -step })
            }
            Screen::Detail(_) => {
                self.on_detail_command(if down { Command::Down } else { Command::Up })
            }
            Screen::Changes(_) => {
                self.on_changes_command(if down { Command::Down } else { Command::Up })
            }
            Screen::Timeline => None,
        }
    }

    pub(super) fn on_click(&mut self, column: u16, row: u16) -> Option<Effect> {
        if self.popup.is_some() || self.filter_editing || self.flow.is_some() {
            return None;
        }
        let pos = Position::new(column, row);
        match &self.screen {
            Screen::List => {
                let body = views::list_body(views::areas(self.size).body);
                if !body.contains(pos) {
                    return None;
                }
                let target = self.cursor.offset + (row - body.y) as usize;
                if target >= self.inventory.visible_len() {
                    return None;
                }
                if target == self.cursor.selected && self.moved {
                    // A click on the row already selected opens it, as a double click would.
                    return self.open_detail();
                }
                self.select(target)
            }
            Screen::Detail(_) => {
                let panes = views::detail::panes(self);
                let Screen::Detail(d) = &mut self.screen else {
                    return None;
                };
                if panes.credentials_body.contains(pos) {
                    d.focus = Pane::Credentials;
                    let target =
                        panes.credentials_offset + (row - panes.credentials_body.y) as usize;
                    if target < panes.credentials_len {
                        d.credential = target;
                    }
                } else if panes.owners.contains(pos) {
                    d.focus = Pane::Owners;
                } else if panes.audit.contains(pos) {
                    d.focus = Pane::Audit;
                }
                self.remember_credential();
                None
            }
            Screen::Changes(_) | Screen::Timeline => None,
        }
    }
}
