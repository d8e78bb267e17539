//! Popups: messages queued behind the one on screen, the device-code sign-in, help and message scrolling, and
//! the typed confirmation dialog.
use super::{App, DialogFocus, Effect, Popup, update};
use crate::auth::DeviceCodePrompt;
use crate::tui::keymap::Command;
impl App {
    pub(super) fn open_message(&mut self, title: &str, lines: Vec<String>, danger: bool) {
        self.popup = Some(Popup::Message {
            title: title.to_string(),
            lines,
            danger,
            scroll: 0,
        });
    }

    /// Show `popup` now, or after the one on screen closes: news must not replace an error the operator reads.
    pub(super) fn show_popup(&mut self, popup: Popup) {
        if self.popup.is_some() {
            self.queued.push_back(popup);
        } else {
            self.popup = Some(popup);
        }
    }

    /// Close the popup on screen; the next queued one (if any) takes its place.
    pub(super) fn close_popup(&mut self) {
        self.popup = self.queued.pop_front();
    }

    /// A device-code prompt opens over anything (the sign-in waits for it); its end closes it.
    pub(super) fn on_sign_in(&mut self, prompt: Option<DeviceCodePrompt>) {
        self.sign_in = prompt.clone();
        self.queued.retain(|p| !matches!(p, Popup::SignIn(_)));
        match prompt {
            Some(p) => match self.popup.take() {
                None | Some(Popup::SignIn(_)) => self.popup = Some(Popup::SignIn(p)),
                Some(other) => {
                    self.queued.push_front(other);
                    self.popup = Some(Popup::SignIn(p));
                }
            },
            None => {
                if matches!(self.popup, Some(Popup::SignIn(_))) {
                    self.close_popup();
                }
            }
        }
    }

    pub(super) fn scroll_popup(&mut self, cmd: Command) {
        let scroll = match &mut self.popup {
            Some(Popup::Help { scroll }) | Some(Popup::Message { scroll, .. }) => scroll,
            _ => return,
        };
        match cmd {
            Command::Down => *scroll += 1,
            Command::Up => *scroll = scroll.saturating_sub(1),
            Command::PageDown | Command::HalfPageDown => *scroll += 10,
            Command::PageUp | Command::HalfPageUp => *scroll = scroll.saturating_sub(10),
            Command::Top => *scroll = 0,
            _ => {}
        }
    }

    pub(super) fn on_dialog(&mut self, cmd: Command) -> Option<Effect> {
        let Some(Popup::Confirm(c)) = &mut self.popup else {
            return None;
        };
        match cmd {
            Command::DialogNextFocus | Command::DialogPrevFocus => {
                c.focus = match c.focus {
                    DialogFocus::Cancel => DialogFocus::Confirm,
                    DialogFocus::Confirm => DialogFocus::Cancel,
                };
                None
            }
            Command::DialogCancel => {
                self.close_popup();
                None
            }
            Command::DialogActivate => match c.focus {
                DialogFocus::Cancel => {
                    self.close_popup();
                    None
                }
                DialogFocus::Confirm if c.accepted() => match self.popup.take() {
                    Some(Popup::Confirm(c)) => update(self, *c.on_confirm),
                    _ => None,
                },
                DialogFocus::Confirm => None,
            },
            _ => None,
        }
    }
}
