//! The one keymap. Key handling, the footer hints and the `?` help are all read from `KEYMAP`, so a binding cannot
//! exist without being documented, and the footer cannot advertise a key that does nothing.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for, without payload. `name()` is stable: tests and the help screen use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Up,
    Down,
    Top,
    Bottom,
    HalfPageDown,
    HalfPageUp,
    PageDown,
    PageUp,
    Open,
    Back,
    Filter,
    CycleSort,
    CycleStatusFilter,
    ToggleServicePrincipals,
    Reload,
    Help,
    Quit,
    NextPane,
    PrevPane,
    Rotate,
    RemoveOld,
    RemoveCredential,
    WritePlan,
    PendingRemovals,
    Changes,
    Timeline,
    NextTenant,
    FilterApply,
    FilterClear,
    DialogNextFocus,
    DialogPrevFocus,
    DialogActivate,
    DialogCancel,
    CloseHelp,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::HalfPageDown => "half_page_down",
            Command::HalfPageUp => "half_page_up",
            Command::PageDown => "page_down",
            Command::PageUp => "page_up",
            Command::Open => "open",
            Command::Back => "back",
            Command::Filter => "filter",
            Command::CycleSort => "cycle_sort",
            Command::CycleStatusFilter => "cycle_status_filter",
            Command::ToggleServicePrincipals => "toggle_service_principals",
            Command::Reload => "reload",
            Command::Help => "help",
            Command::Quit => "quit",
            Command::NextPane => "next_pane",
            Command::PrevPane => "prev_pane",
            Command::Rotate => "rotate",
            Command::RemoveOld => "remove_old",
            Command::RemoveCredential => "remove_credential",
            Command::WritePlan => "write_plan",
            Command::PendingRemovals => "pending_removals",
            Command::Changes => "changes",
            Command::Timeline => "timeline",
            Command::NextTenant => "next_tenant",
            Command::FilterApply => "filter_apply",
            Command::FilterClear => "filter_clear",
            Command::DialogNextFocus => "dialog_next_focus",
            Command::DialogPrevFocus => "dialog_prev_focus",
            Command::DialogActivate => "dialog_activate",
            Command::DialogCancel => "dialog_cancel",
            Command::CloseHelp => "close_help",
        }
    }
}

/// Where a binding applies. The app asks for the contexts active right now, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The app list.
    List,
    /// The app list over several tenants: the tenant switcher.
    Tenants,
    /// One app's credentials, owners and audit events.
    Detail,
    /// The tenant-wide change feed with findings.
    Changes,
    /// The expiry timeline: credentials ending per week.
    Timeline,
    /// Both list and detail: moving around.
    Navigation,
    /// Typing a `/` filter: letters go into the filter, these keys do not.
    FilterInput,
    /// The help popup.
    Help,
    /// A confirmation dialog (typed accept string, focus starts on Cancel).
    Dialog,
    /// The rotation plan screen: fields and buttons; letters go into the focused field.
    RotationPlan,
    /// A rotation running: it cannot be interrupted from here (it always runs to an end state).
    RotationRunning,
    /// The outcome of a rotation.
    RotationResult,
    /// Everywhere except while typing.
    Global,
}

/// How the help screen groups bindings (k9s: this view, general, navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    ThisView,
    Navigation,
    General,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::ThisView => "This view",
            Section::Navigation => "Navigation",
            Section::General => "General",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }
    const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }
    const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Terminals report `G` and `?` with or without SHIFT; only Ctrl and Alt change a character's meaning here.
    fn matches(&self, ev: &KeyEvent) -> bool {
        let significant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                a == b && (self.mods & significant) == (ev.modifiers & significant)
            }
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (a, b) => a == b && (self.mods & significant) == (ev.modifiers & significant),
        }
    }
}

pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written in the footer and help, e.g. `j/↓`.
    pub label: &'static str,
    pub command: Command,
    /// One line for the help screen, for an admin who has never seen keyturn.
    pub desc: &'static str,
    pub context: Context,
    pub section: Section,
    /// A word or two for the footer; `None` keeps the binding out of the footer (it is still in the help).
    pub hint: Option<&'static str>,
}

use Command as C;
use Context as X;
use Section as S;

pub static KEYMAP: &[Binding] = &[
    // Navigation: list and detail alike.
    Binding {
        keys: &[Key::ch('j'), Key::plain(KeyCode::Down)],
        label: "j/↓",
        command: C::Down,
        desc: "move down",
        context: X::Navigation,
        section: S::Navigation,
        hint: Some("move"),
    },
    Binding {
        keys: &[Key::ch('k'), Key::plain(KeyCode::Up)],
        label: "k/↑",
        command: C::Up,
        desc: "move up",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('g'), Key::plain(KeyCode::Home)],
        label: "g/Home",
        command: C::Top,
        desc: "go to the first row",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('G'), Key::plain(KeyCode::End)],
        label: "G/End",
        command: C::Bottom,
        desc: "go to the last row",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::ctrl('d')],
        label: "Ctrl-d",
        command: C::HalfPageDown,
        desc: "half a page down",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::ctrl('u')],
        label: "Ctrl-u",
        command: C::HalfPageUp,
        desc: "half a page up",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::plain(KeyCode::PageDown), Key::ctrl('f')],
        label: "PgDn",
        command: C::PageDown,
        desc: "a page down",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    Binding {
        keys: &[Key::plain(KeyCode::PageUp), Key::ctrl('b')],
        label: "PgUp",
        command: C::PageUp,
        desc: "a page up",
        context: X::Navigation,
        section: S::Navigation,
        hint: None,
    },
    // The app list.
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        label: "Enter",
        command: C::Open,
        desc: "open the selected app: credentials, owners, audit events",
        context: X::List,
        section: S::ThisView,
        hint: Some("open"),
    },
    Binding {
        keys: &[Key::ch('/')],
        label: "/",
        command: C::Filter,
        desc: "filter by name, appId or owner (owners known so far)",
        context: X::List,
        section: S::ThisView,
        hint: Some("filter"),
    },
    Binding {
        keys: &[Key::ch('f')],
        label: "f",
        command: C::CycleStatusFilter,
        desc: "status filter: all, broken+critical, +warning, broken only",
        context: X::List,
        section: S::ThisView,
        hint: Some("status"),
    },
    Binding {
        keys: &[Key::ch('s')],
        label: "s",
        command: C::CycleSort,
        desc: "sort: coverage ends (broken first), soonest credential end, name",
        context: X::List,
        section: S::ThisView,
        hint: Some("sort"),
    },
    Binding {
        keys: &[Key::ch('t')],
        label: "t",
        command: C::ToggleServicePrincipals,
        desc: "show or hide service principals' own credentials",
        context: X::List,
        section: S::ThisView,
        hint: Some("SPs"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        label: "Esc",
        command: C::Back,
        desc: "clear the filter",
        context: X::List,
        section: S::ThisView,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('A')],
        label: "A",
        command: C::Changes,
        desc: "tenant-wide credential changes (7 days) with findings",
        context: X::List,
        section: S::ThisView,
        hint: Some("changes"),
    },
    Binding {
        keys: &[Key::ch('T')],
        label: "T",
        command: C::Timeline,
        desc: "expiry timeline: credentials ending per week, next 13 weeks",
        context: X::List,
        section: S::ThisView,
        hint: Some("timeline"),
    },
    // The expiry timeline.
    Binding {
        keys: &[Key::plain(KeyCode::Esc), Key::plain(KeyCode::Backspace)],
        label: "Esc",
        command: C::Back,
        desc: "back to the list",
        context: X::Timeline,
        section: S::ThisView,
        hint: Some("back"),
    },
    Binding {
        keys: &[Key::ch('n')],
        label: "n",
        command: C::NextTenant,
        desc: "next tenant: all, then each profile's tenant in turn",
        context: X::Tenants,
        section: S::ThisView,
        hint: Some("tenant"),
    },
    // The change feed.
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        label: "Enter",
        command: C::Open,
        desc: "open the app the selected change concerns",
        context: X::Changes,
        section: S::ThisView,
        hint: Some("open app"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        label: "Esc",
        command: C::Back,
        desc: "back to the list",
        context: X::Changes,
        section: S::ThisView,
        hint: Some("back"),
    },
    // One app.
    Binding {
        keys: &[
            Key::plain(KeyCode::Esc),
            Key::plain(KeyCode::Backspace),
            Key::ch('h'),
        ],
        label: "Esc",
        command: C::Back,
        desc: "back to the list",
        context: X::Detail,
        section: S::ThisView,
        hint: Some("back"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Tab)],
        label: "Tab",
        command: C::NextPane,
        desc: "next pane: credentials, owners, audit events",
        context: X::Detail,
        section: S::ThisView,
        hint: Some("pane"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::BackTab)],
        label: "Shift-Tab",
        command: C::PrevPane,
        desc: "previous pane",
        context: X::Detail,
        section: S::ThisView,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('r')],
        label: "r",
        command: C::Rotate,
        desc: "rotate the selected secret (shows the plan first; needs approval)",
        context: X::Detail,
        section: S::ThisView,
        hint: Some("rotate"),
    },
    Binding {
        keys: &[Key::ch('x')],
        label: "x",
        command: C::RemoveOld,
        desc: "remove this app's old secret kept by a rotation, once it is due (checks first; type the name)",
        context: X::Detail,
        section: S::ThisView,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('D')],
        label: "D",
        command: C::RemoveCredential,
        desc: "remove the selected credential, e.g. one flagged unused (shows its last use; type the name; the last valid one asks twice)",
        context: X::Detail,
        section: S::ThisView,
        hint: None,
    },
    // Typing a filter.
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        label: "Enter",
        command: C::FilterApply,
        desc: "keep the filter and go back to the list",
        context: X::FilterInput,
        section: S::ThisView,
        hint: Some("keep"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        label: "Esc",
        command: C::FilterClear,
        desc: "clear the filter",
        context: X::FilterInput,
        section: S::ThisView,
        hint: Some("clear"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Down)],
        label: "↓",
        command: C::Down,
        desc: "move down while typing",
        context: X::FilterInput,
        section: S::ThisView,
        hint: None,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Up)],
        label: "↑",
        command: C::Up,
        desc: "move up while typing",
        context: X::FilterInput,
        section: S::ThisView,
        hint: None,
    },
    // Help popup.
    Binding {
        keys: &[Key::plain(KeyCode::Esc), Key::ch('?'), Key::ch('q')],
        label: "Esc",
        command: C::CloseHelp,
        desc: "close the help",
        context: X::Help,
        section: S::ThisView,
        hint: Some("close"),
    },
    Binding {
        keys: &[Key::ch('j'), Key::plain(KeyCode::Down)],
        label: "j/k",
        command: C::Down,
        desc: "scroll the help",
        context: X::Help,
        section: S::ThisView,
        hint: Some("scroll"),
    },
    Binding {
        keys: &[Key::ch('k'), Key::plain(KeyCode::Up)],
        label: "k",
        command: C::Up,
        desc: "scroll the help up",
        context: X::Help,
        section: S::ThisView,
        hint: None,
    },
    // Confirmation dialog: letters go into the accept field.
    Binding {
        keys: &[Key::plain(KeyCode::Tab), Key::plain(KeyCode::BackTab)],
        label: "Tab",
        command: C::DialogNextFocus,
        desc: "move between Cancel and Confirm",
        context: X::Dialog,
        section: S::ThisView,
        hint: Some("focus"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        label: "Enter",
        command: C::DialogActivate,
        desc: "press the focused button (Confirm only once the name is typed)",
        context: X::Dialog,
        section: S::ThisView,
        hint: Some("press"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        label: "Esc",
        command: C::DialogCancel,
        desc: "cancel: nothing is changed",
        context: X::Dialog,
        section: S::ThisView,
        hint: Some("cancel"),
    },
    // The rotation plan: fields and buttons, letters go into the focused field (the name field when a button has
    // focus).
    Binding {
        keys: &[Key::plain(KeyCode::Tab)],
        label: "Tab",
        command: C::DialogNextFocus,
        desc: "next field or button",
        context: X::RotationPlan,
        section: S::ThisView,
        hint: Some("next"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::BackTab)],
        label: "Shift-Tab",
        command: C::DialogPrevFocus,
        desc: "previous field or button",
        context: X::RotationPlan,
        section: S::ThisView,
        hint: None,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        label: "Enter",
        command: C::DialogActivate,
        desc: "press the focused button; in a vault field, check that secret (Confirm only once the name is typed)",
        context: X::RotationPlan,
        section: S::ThisView,
        hint: Some("press"),
    },
    Binding {
        keys: &[Key::ctrl('s')],
        label: "^s",
        command: C::WritePlan,
        desc: "write this plan to a file for another person to review and run (keyturn rotate --plan FILE --yes)",
        context: X::RotationPlan,
        section: S::ThisView,
        hint: Some("write plan"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        label: "Esc",
        command: C::DialogCancel,
        desc: "cancel: nothing is changed",
        context: X::RotationPlan,
        section: S::ThisView,
        hint: Some("cancel"),
    },
    // The outcome of a rotation.
    Binding {
        keys: &[Key::plain(KeyCode::Esc), Key::plain(KeyCode::Enter)],
        label: "Esc",
        command: C::Back,
        desc: "back to the app (after a rotation, read again: its new secret shows)",
        context: X::RotationResult,
        section: S::ThisView,
        hint: Some("back"),
    },
    // A rotation running, and its result: no reload, no navigation under it.
    Binding {
        keys: &[Key::ch('P')],
        label: "P",
        command: C::PendingRemovals,
        desc: "old secrets kept after a rotation, waiting for removal (and which are due)",
        context: X::Global,
        section: S::General,
        hint: None,
    },
    Binding {
        keys: &[Key::ch('?')],
        label: "?",
        command: C::Help,
        desc: "help",
        context: X::RotationRunning,
        section: S::General,
        hint: Some("help"),
    },
    Binding {
        keys: &[Key::ch('q'), Key::ctrl('c')],
        label: "q",
        command: C::Quit,
        desc: "quit (asks first: the next start would have to finish the rotation)",
        context: X::RotationRunning,
        section: S::General,
        hint: Some("quit"),
    },
    Binding {
        keys: &[Key::ch('?')],
        label: "?",
        command: C::Help,
        desc: "help",
        context: X::RotationResult,
        section: S::General,
        hint: Some("help"),
    },
    Binding {
        keys: &[Key::ch('q'), Key::ctrl('c')],
        label: "q",
        command: C::Quit,
        desc: "quit",
        context: X::RotationResult,
        section: S::General,
        hint: Some("quit"),
    },
    // Everywhere but while typing.
    Binding {
        keys: &[Key::ctrl('r')],
        label: "Ctrl-r",
        command: C::Reload,
        desc: "reload from Graph (in a detail view: its owners and audit events)",
        context: X::Global,
        section: S::General,
        hint: Some("reload"),
    },
    Binding {
        keys: &[Key::ch('?')],
        label: "?",
        command: C::Help,
        desc: "this help",
        context: X::Global,
        section: S::General,
        hint: Some("help"),
    },
    Binding {
        keys: &[Key::ch('q'), Key::ctrl('c')],
        label: "q",
        command: C::Quit,
        desc: "quit (Ctrl-c too)",
        context: X::Global,
        section: S::General,
        hint: Some("quit"),
    },
];

/// The command bound to `key` in the first of `contexts` that binds it.
pub fn lookup(contexts: &[Context], key: &KeyEvent) -> Option<Command> {
    contexts.iter().find_map(|ctx| {
        KEYMAP
            .iter()
            .filter(|b| b.context == *ctx)
            .find(|b| b.keys.iter().any(|k| k.matches(key)))
            .map(|b| b.command)
    })
}

/// Bindings that apply in `contexts`, each command once (the most specific context wins), in keymap order.
pub fn active(contexts: &[Context]) -> Vec<&'static Binding> {
    let mut out: Vec<&'static Binding> = Vec::new();
    for ctx in contexts {
        for b in KEYMAP.iter().filter(|b| b.context == *ctx) {
            if !out
                .iter()
                .any(|o| o.command == b.command || o.label == b.label)
            {
                out.push(b);
            }
        }
    }
    out
}

/// Footer hints for `contexts`: `(keys, word)` pairs, in keymap order with view-specific ones first.
pub fn hints(contexts: &[Context]) -> Vec<(&'static str, &'static str)> {
    let all = active(contexts);
    let mut out: Vec<(&str, &str)> = Vec::new();
    for section in [Section::Navigation, Section::ThisView, Section::General] {
        for b in all.iter().filter(|b| b.section == section) {
            if let Some(h) = b.hint {
                out.push((short_label(b), h));
            }
        }
    }
    out
}

/// Footer space is tight at 80 columns: show the first key of a binding only.
fn short_label(b: &Binding) -> &'static str {
    match b.command {
        Command::Down if b.context == Context::Navigation => "j/k",
        Command::Reload => "^r",
        _ => b.label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shifted_letters_match_without_shift_in_the_keymap() {
        let g = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Context::Navigation], &g), Some(Command::Bottom));
        let q = key(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Context::Global], &q), Some(Command::Help));
    }

    #[test]
    fn ctrl_matters() {
        let d = key(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(
            lookup(&[Context::Navigation], &d),
            Some(Command::HalfPageDown)
        );
        let plain_d = key(KeyCode::Char('d'), KeyModifiers::NONE);
        assert_eq!(
            lookup(&[Context::Navigation, Context::Global], &plain_d),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for a in KEYMAP {
            for b in KEYMAP {
                if std::ptr::eq(a, b) || a.context != b.context {
                    continue;
                }
                for k in a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{:?} bound to both {} and {} in {:?}",
                        k,
                        a.command.name(),
                        b.command.name(),
                        a.context
                    );
                }
            }
        }
    }
}
