//! The TUI's state and its one `update(&mut App, Action) -> Option<Effect>`. No terminal, no network, no clock of
//! its own: tests drive it directly and snapshot what `views::render` draws of it.
use super::event::{AppReloaded, StartupNews};
use super::event::{
    AuditLoaded, Event, ImpactLoaded, InventoryCached, InventoryLoaded, InventoryPage, LoadError,
    OwnersLoaded, RequestId, RotationUpdate,
};
use super::keymap::{self, Command, Context};
use super::model::{Inventory, Row, SortKey, StatusFilter, View};
use super::theme::Theme;
use super::views;
use crate::auth::DeviceCodePrompt;
use crate::clock::SharedClock;
use crate::graph::{AppId, DirectoryAudit, KeyId, Notice, ObjectId, ObjectType, Owner};
use crate::inventory::load::Progress;
use crate::inventory::{Entry, Thresholds};
use chrono::{DateTime, Utc};
use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

mod removals;
mod rotation;
pub use rotation::{
    FlowStage, PlanField, PlanForm, ResultView, RotationFlow, RunView, StepLine, StepState,
    TargetCheck, parse_keep,
};

/// How far back the detail view reads audit events.
pub const AUDIT_DAYS: i64 = 30;
/// While the operator scrolls, wait this long on a row before asking Graph for its owners: bursts of j/k collapse
/// into one request for the row they stop on.
pub const OWNERS_DEBOUNCE: Duration = Duration::from_millis(150);
/// Rows moved by one mouse wheel notch.
const WHEEL_STEP: usize = 3;

/// What the TUI needs from a session, minus the network: enough to build the state in a test.
#[derive(Debug, Clone)]
pub struct Config {
    pub tenant_id: String,
    pub identity: String,
    pub thresholds: Thresholds,
    pub clock: SharedClock,
    pub read_only: bool,
    pub log_file: Option<PathBuf>,
    pub include_service_principals: bool,
    pub theme: Theme,
}

/// Something loading in the background, loaded, or failed with a message for the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Loadable<T> {
    Loading,
    Loaded(T),
    Failed(LoadError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Credentials,
    Owners,
    Audit,
}

impl Pane {
    fn next(self) -> Self {
        match self {
            Pane::Credentials => Pane::Owners,
            Pane::Owners => Pane::Audit,
            Pane::Audit => Pane::Credentials,
        }
    }
    fn prev(self) -> Self {
        self.next().next()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub object_id: ObjectId,
    pub focus: Pane,
    /// Selected credential (index into the entry's credentials, which are sorted by end date).
    pub credential: usize,
    pub owners_scroll: usize,
    pub audit_scroll: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    List,
    Detail(Detail),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogFocus {
    Cancel,
    Confirm,
}

/// A confirmation that needs the operator to type `accept` (the app's name for a rotation) before Confirm does
/// anything; focus starts on Cancel so a stray Enter changes nothing.
#[derive(Debug)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub accept: String,
    pub input: String,
    pub focus: DialogFocus,
    /// Dispatched through `update` once confirmed (gitui's ConfirmAction -> ConfirmedAction).
    pub on_confirm: Box<Action>,
}

impl Confirm {
    pub fn new(
        title: impl Into<String>,
        lines: Vec<String>,
        accept: impl Into<String>,
        on_confirm: Action,
    ) -> Self {
        Self {
            title: title.into(),
            lines,
            accept: accept.into(),
            input: String::new(),
            focus: DialogFocus::Cancel,
            on_confirm: Box::new(on_confirm),
        }
    }

    /// Exact match: the accept string is a name the operator reads off the plan; a near miss is a reason to stop.
    pub fn accepted(&self) -> bool {
        !self.accept.is_empty() && self.input == self.accept
    }
}

#[derive(Debug)]
pub enum Popup {
    Help {
        scroll: usize,
    },
    /// Information or an error, with what to do next.
    Message {
        title: String,
        lines: Vec<String>,
        danger: bool,
        scroll: usize,
    },
    Confirm(Confirm),
    /// A device-code sign-in waits for the operator: where to go and what to type.
    SignIn(DeviceCodePrompt),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoadPhase {
    /// Asked for, nothing back yet (sign-in happens here).
    Starting,
    Loading {
        kind: ObjectType,
        page: u32,
        total: usize,
        more: bool,
    },
    Done,
    Failed(LoadError),
}

/// A Graph call that is waiting, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub what: String,
    pub until: DateTime<Utc>,
    pub attempt: u32,
}

/// Everything that can change the state. Keys become `Command`s through the keymap; background results arrive as
/// their own variants.
#[derive(Debug)]
pub enum Action {
    Command(Command),
    FilterInput(char),
    FilterBackspace,
    DialogInput(char),
    DialogBackspace,
    Scroll {
        down: bool,
        column: u16,
        row: u16,
    },
    Click {
        column: u16,
        row: u16,
    },
    Resize {
        width: u16,
        height: u16,
    },
    Tick,
    InventoryCached(InventoryCached),
    InventoryPage(InventoryPage),
    InventoryLoaded(InventoryLoaded),
    OwnersLoaded(OwnersLoaded),
    AuditLoaded(AuditLoaded),
    Notice(Notice),
    Rotation(RotationUpdate),
    /// Where each credential's value is kept in Key Vault (`vault/name`): replaces what was known.
    StoredIn(Vec<(KeyId, String)>),
    ImpactLoaded(ImpactLoaded),
    Startup(StartupNews),
    /// The operator typed the app's name to remove a due old secret (rotation id).
    RemoveOldConfirmed(i64),
    SignIn(Option<DeviceCodePrompt>),
    AppReloaded(AppReloaded),
    /// SIGTERM / SIGHUP: leave now, whatever runs (a rotation is finished by the next start).
    Terminate,
}

/// Work for the effect runner: the only place that talks to Graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadInventory {
        generation: u64,
        service_principals: bool,
    },
    LoadDetail {
        owners: Option<DetailRequest>,
        audit: Option<AuditRequest>,
    },
    /// Build the rotation plan for one client secret (reads only).
    PlanRotation {
        request: RequestId,
        object_id: ObjectId,
        key_id: KeyId,
    },
    /// Read the current version of the vault secret the operator typed in, and put it in the plan.
    CheckRotationTarget {
        request: RequestId,
        plan: Box<crate::rotation::RotationPlan>,
        target: crate::keyvault::SecretTarget,
    },
    /// Run an approved plan to an end state; progress comes back as `Event::Rotation`.
    Rotate {
        request: RequestId,
        approved: Box<crate::rotation::ApprovedPlan>,
    },
    /// Read one app again (after a rotation) and the vaults' "stored in".
    ReloadApp { object_id: ObjectId },
    /// Finish a due pending removal after `keyturn cleanup`'s checks.
    RemoveOld { rotation_id: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetailRequest {
    pub id: RequestId,
    pub object_type: ObjectType,
    pub object_id: ObjectId,
    /// Its appId: last use and permissions are read by appId.
    pub app_id: AppId,
    /// Wait before calling; a newer request of the same kind cancels this one meanwhile.
    pub delay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRequest {
    pub request: DetailRequest,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCursor {
    /// Position in the visible rows.
    pub selected: usize,
    /// First visible row drawn (the table is drawn as a window of the rows, never all of them).
    pub offset: usize,
}

#[derive(Debug)]
pub struct App {
    pub cfg: Config,
    pub size: Rect,
    pub screen: Screen,
    pub popup: Option<Popup>,
    pub inventory: Inventory,
    pub cursor: ListCursor,
    selected_id: Option<ObjectId>,
    /// Until the operator moves, the cursor stays on the first (most urgent) row while pages arrive.
    moved: bool,
    pub filter: String,
    pub filter_editing: bool,
    pub generation: u64,
    pub phase: LoadPhase,
    /// Rows of a reload, swapped in when it completes, so the list does not empty itself under the operator.
    staged: Option<Vec<Row>>,
    service_principals_loaded: bool,
    pub last_refresh: Option<DateTime<Utc>>,
    /// While the list shows the cached inventory (until the refresh lands): when that cache was saved.
    pub cached_at: Option<DateTime<Utc>>,
    pub waiting: Option<Waiting>,
    pub owners: HashMap<ObjectId, Loadable<Vec<Owner>>>,
    pub audits: HashMap<ObjectId, Loadable<Vec<DirectoryAudit>>>,
    pending_owners: Option<(RequestId, ObjectId)>,
    pending_audit: Option<(RequestId, ObjectId)>,
    next_request: RequestId,
    pub stored_in: HashMap<KeyId, String>,
    /// Last use and permissions of the apps looked at (loaded with their owners).
    pub impact: HashMap<ObjectId, crate::impact::ImpactFacts>,
    /// Old secrets kept after proven rotations (from the journal at start, and rotations of this session).
    pub pending_removals: Vec<super::event::PendingRemoval>,
    /// The rotation flow (plan, progress, result) while it is open: it owns the body of the screen.
    pub flow: Option<RotationFlow>,
    /// The device-code prompt while a sign-in waits for the operator.
    pub sign_in: Option<DeviceCodePrompt>,
    /// Popups waiting for the one on screen to close (news at start while an error is shown, ...).
    queued: VecDeque<Popup>,
    pub should_quit: bool,
}

impl App {
    pub fn new(cfg: Config) -> Self {
        let mut inventory = Inventory::default();
        inventory.set_view(View {
            needle: String::new(),
            status: StatusFilter::All,
            service_principals: cfg.include_service_principals,
        });
        let service_principals_loaded = cfg.include_service_principals;
        Self {
            cfg,
            size: Rect::new(0, 0, 80, 24),
            screen: Screen::List,
            popup: None,
            inventory,
            cursor: ListCursor::default(),
            selected_id: None,
            moved: false,
            filter: String::new(),
            filter_editing: false,
            generation: 0,
            phase: LoadPhase::Done,
            staged: None,
            service_principals_loaded,
            last_refresh: None,
            cached_at: None,
            waiting: None,
            owners: HashMap::new(),
            audits: HashMap::new(),
            pending_owners: None,
            pending_audit: None,
            next_request: 0,
            stored_in: HashMap::new(),
            impact: HashMap::new(),
            pending_removals: Vec::new(),
            flow: None,
            sign_in: None,
            queued: VecDeque::new(),
            should_quit: false,
        }
    }

    pub fn theme(&self) -> Theme {
        self.cfg.theme
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.cfg.clock.now()
    }

    /// The first effect: load the inventory.
    pub fn start(&mut self) -> Effect {
        self.begin_load()
    }

    /// Load a whole inventory at once (tests, benchmarks): the same path as pages arriving from Graph. Returns the
    /// effect of completing the load (the owners request for the selected row).
    pub fn load_entries(&mut self, entries: Vec<Entry>) -> Option<Effect> {
        let generation = self.generation;
        let total = entries.len();
        update(
            self,
            Action::InventoryPage(InventoryPage {
                generation,
                entries,
                progress: Progress::Page {
                    kind: ObjectType::Application,
                    page: 1,
                    items: total,
                    total_so_far: total,
                    more: false,
                },
            }),
        );
        update(
            self,
            Action::InventoryLoaded(InventoryLoaded {
                generation,
                result: Ok(total),
            }),
        )
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.inventory.visible_row(self.cursor.selected)
    }

    pub fn detail_row(&self) -> Option<&Row> {
        match &self.screen {
            Screen::Detail(d) => self.inventory.get(&d.object_id),
            Screen::List => None,
        }
    }

    /// Whether owners for `id` are being fetched right now.
    pub fn owners_pending(&self, id: &ObjectId) -> bool {
        self.pending_owners.as_ref().is_some_and(|(_, p)| p == id)
    }

    pub fn audit_pending(&self, id: &ObjectId) -> bool {
        self.pending_audit.as_ref().is_some_and(|(_, p)| p == id)
    }

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
            (None, Screen::List) => vec![Context::List, Context::Navigation, Context::Global],
            (None, Screen::Detail(_)) => {
                vec![Context::Detail, Context::Navigation, Context::Global]
            }
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
            Event::ImpactLoaded(i) => Some(Action::ImpactLoaded(i)),
            Event::Startup(n) => Some(Action::Startup(n)),
            Event::SignIn(p) => Some(Action::SignIn(p)),
            Event::AppReloaded(r) => Some(Action::AppReloaded(r)),
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

    fn action_for_mouse(&self, m: &MouseEvent) -> Option<Action> {
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

    fn list_page(&self) -> usize {
        views::list_body(views::areas(self.size).body).height.max(1) as usize
    }

    fn fresh_request(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    fn begin_load(&mut self) -> Effect {
        self.generation += 1;
        self.phase = LoadPhase::Starting;
        self.waiting = None;
        self.staged = if self.inventory.is_empty() {
            None
        } else {
            Some(Vec::new())
        };
        let service_principals = self.inventory.view().service_principals;
        self.service_principals_loaded = service_principals;
        Effect::LoadInventory {
            generation: self.generation,
            service_principals,
        }
    }

    fn rows_of(&self, entries: Vec<Entry>) -> Vec<Row> {
        let (now, t) = (self.now(), self.cfg.thresholds);
        entries.into_iter().map(|e| Row::new(e, now, t)).collect()
    }

    fn set_view(&mut self, f: impl FnOnce(&mut View)) {
        let mut view = self.inventory.view().clone();
        f(&mut view);
        self.inventory.set_view(view);
        self.cursor.offset = 0;
        self.reselect();
    }

    /// After the visible rows changed: keep the cursor on the same app when it is still there.
    fn reselect(&mut self) {
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
    }

    fn scroll_into_view(&mut self) {
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
    fn select(&mut self, pos: usize) -> Option<Effect> {
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

    fn move_by(&mut self, delta: isize) -> Option<Effect> {
        let pos = self.cursor.selected.saturating_add_signed(delta);
        self.select(pos)
    }

    /// Owners of the selected row, unless known or already on their way. Each request supersedes the previous one.
    fn request_owners(&mut self, delay: Duration) -> Option<Effect> {
        let row = self.selected_row()?;
        let (kind, id) = (row.entry.object_type, row.entry.object_id.clone());
        let app_id = row.entry.app_id.clone();
        if self.owners.contains_key(&id) || self.owners_pending(&id) {
            return None;
        }
        let req = self.fresh_request();
        self.pending_owners = Some((req, id.clone()));
        Some(Effect::LoadDetail {
            owners: Some(DetailRequest {
                id: req,
                object_type: kind,
                object_id: id,
                app_id,
                delay,
            }),
            audit: None,
        })
    }

    /// Owners and audit events for the app in the detail view, now.
    fn request_detail(&mut self, force: bool) -> Option<Effect> {
        let Screen::Detail(d) = &self.screen else {
            return None;
        };
        let id = d.object_id.clone();
        let kind = self.inventory.get(&id)?.entry.object_type;
        let app_id = self.inventory.get(&id)?.entry.app_id.clone();
        if force {
            self.owners.remove(&id);
            self.impact.remove(&id);
            self.audits.remove(&id);
            self.pending_owners = None;
            self.pending_audit = None;
        }
        let owners = if self.owners.contains_key(&id) || self.owners_pending(&id) {
            None
        } else {
            let req = self.fresh_request();
            self.pending_owners = Some((req, id.clone()));
            Some(DetailRequest {
                id: req,
                object_type: kind,
                object_id: id.clone(),
                app_id: app_id.clone(),
                delay: Duration::ZERO,
            })
        };
        let audit = if self.audits.contains_key(&id) || self.audit_pending(&id) {
            None
        } else {
            let req = self.fresh_request();
            self.pending_audit = Some((req, id.clone()));
            Some(AuditRequest {
                request: DetailRequest {
                    id: req,
                    object_type: kind,
                    object_id: id,
                    app_id,
                    delay: Duration::ZERO,
                },
                since: self.now() - chrono::Duration::days(AUDIT_DAYS),
            })
        };
        if owners.is_none() && audit.is_none() {
            None
        } else {
            Some(Effect::LoadDetail { owners, audit })
        }
    }

    fn open_message(&mut self, title: &str, lines: Vec<String>, danger: bool) {
        self.popup = Some(Popup::Message {
            title: title.to_string(),
            lines,
            danger,
            scroll: 0,
        });
    }

    /// Show `popup` now, or after the one on screen closes: news must not replace an error the operator reads.
    fn show_popup(&mut self, popup: Popup) {
        if self.popup.is_some() {
            self.queued.push_back(popup);
        } else {
            self.popup = Some(popup);
        }
    }

    /// Close the popup on screen; the next queued one (if any) takes its place.
    fn close_popup(&mut self) {
        self.popup = self.queued.pop_front();
    }

    /// A device-code prompt opens over anything (the sign-in waits for it); its end closes it.
    fn on_sign_in(&mut self, prompt: Option<DeviceCodePrompt>) {
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

    fn on_command(&mut self, cmd: Command) -> Option<Effect> {
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
            _ => match self.screen {
                Screen::List => self.on_list_command(cmd),
                Screen::Detail(_) => self.on_detail_command(cmd),
            },
        }
    }

    fn reload(&mut self) -> Option<Effect> {
        if matches!(self.screen, Screen::Detail(_)) {
            return self.request_detail(true);
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

    fn owners_known(&self) -> Vec<ObjectId> {
        self.owners.keys().cloned().collect()
    }

    fn scroll_popup(&mut self, cmd: Command) {
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

    fn on_dialog(&mut self, cmd: Command) -> Option<Effect> {
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

    fn on_list_command(&mut self, cmd: Command) -> Option<Effect> {
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

    fn set_filter(&mut self, text: String) -> Option<Effect> {
        self.filter = text;
        let needle = self.filter.trim().to_lowercase();
        self.set_view(|v| v.needle = needle);
        self.request_owners(OWNERS_DEBOUNCE)
    }

    fn open_detail(&mut self) -> Option<Effect> {
        let id = self.selected_row()?.entry.object_id.clone();
        self.screen = Screen::Detail(Detail {
            object_id: id,
            focus: Pane::Credentials,
            credential: 0,
            owners_scroll: 0,
            audit_scroll: 0,
        });
        self.request_detail(false)
    }

    fn on_detail_command(&mut self, cmd: Command) -> Option<Effect> {
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
            _ => {}
        }
        None
    }

    /// Lines each detail pane can scroll through: credentials, owners, audit lines.
    fn detail_counts(&self) -> (usize, usize, usize) {
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

    fn on_scroll(&mut self, down: bool) -> Option<Effect> {
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
        }
    }

    fn on_click(&mut self, column: u16, row: u16) -> Option<Effect> {
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
                None
            }
        }
    }

    /// The cached inventory: shown at once when nothing is on screen yet; the pages of the refresh that follows are
    /// staged and replace it in one step when the refresh is done, so the list never shows both.
    fn on_inventory_cached(&mut self, cached: InventoryCached) {
        if cached.generation != self.generation || !self.inventory.is_empty() {
            return;
        }
        let rows = self.rows_of(cached.entries);
        self.inventory.extend(rows);
        self.reselect();
        self.staged = Some(Vec::new());
        self.cached_at = Some(cached.saved_at);
    }

    fn on_inventory_page(&mut self, page: InventoryPage) {
        if page.generation != self.generation {
            return;
        }
        let Progress::Page {
            kind,
            page: number,
            total_so_far,
            more,
            ..
        } = page.progress;
        self.phase = LoadPhase::Loading {
            kind,
            page: number,
            total: total_so_far,
            more,
        };
        self.waiting = None;
        let rows = self.rows_of(page.entries);
        match &mut self.staged {
            Some(staged) => staged.extend(rows),
            None => {
                self.inventory.extend(rows);
                self.reselect();
            }
        }
    }

    fn on_inventory_loaded(&mut self, done: InventoryLoaded) -> Option<Effect> {
        if done.generation != self.generation {
            return None;
        }
        self.waiting = None;
        let staged = self.staged.take();
        match done.result {
            Ok(_) => {
                if let Some(rows) = staged {
                    self.inventory.clear();
                    self.inventory.extend(rows);
                    // Owners already known stay searchable in the new list.
                    for (id, owners) in &self.owners {
                        if let Loadable::Loaded(o) = owners {
                            self.inventory.set_owners(id, o);
                        }
                    }
                    self.inventory.refilter();
                    self.reselect();
                }
                self.phase = LoadPhase::Done;
                self.last_refresh = Some(self.now());
                self.cached_at = None;
                if let Screen::Detail(d) = &self.screen
                    && self.inventory.get(&d.object_id).is_none()
                {
                    self.screen = Screen::List;
                }
                self.request_owners(Duration::ZERO)
            }
            Err(e) => {
                let mut lines = vec![e.message.clone(), String::new()];
                if self.inventory.is_empty() {
                    lines.push("Nothing could be listed. Fix the cause above, then press".into());
                } else {
                    lines
                        .push("The list shows what was loaded before. Fix the cause above,".into());
                    lines.push("then press".into());
                }
                if let Some(last) = lines.last_mut() {
                    last.push_str(" Ctrl-r to try again.");
                }
                lines.push("Esc closes this message; q quits.".into());
                if let Some(log) = &self.cfg.log_file {
                    lines.push(format!("Details are in the log: {}", log.display()));
                }
                self.open_message("Could not load the app registrations", lines, true);
                self.phase = LoadPhase::Failed(e);
                None
            }
        }
    }

    fn on_owners_loaded(&mut self, o: OwnersLoaded) {
        // Only the latest request counts: an answer for a row the operator already left is dropped.
        if self.pending_owners.as_ref().map(|(r, _)| *r) != Some(o.request) {
            return;
        }
        self.pending_owners = None;
        match o.result {
            Ok(owners) => {
                self.inventory.set_owners(&o.object_id, &owners);
                self.owners.insert(o.object_id, Loadable::Loaded(owners));
                // A filter on an owner's name may now match this row.
                if !self.inventory.view().needle.is_empty() {
                    self.inventory.refilter();
                    self.reselect();
                }
            }
            Err(e) => {
                self.owners.insert(o.object_id, Loadable::Failed(e));
            }
        }
    }

    fn on_audit_loaded(&mut self, a: AuditLoaded) {
        if self.pending_audit.as_ref().map(|(r, _)| *r) != Some(a.request) {
            return;
        }
        self.pending_audit = None;
        let value = match a.result {
            Ok(events) => Loadable::Loaded(events),
            Err(e) => Loadable::Failed(e),
        };
        self.audits.insert(a.object_id, value);
    }

    fn on_notice(&mut self, n: Notice) {
        let now = self.now();
        let (what, wait, attempt) = match n {
            Notice::Throttled {
                operation,
                wait,
                attempt,
            } => (format!("throttled by Graph ({operation})"), wait, attempt),
            Notice::Retrying {
                operation,
                wait,
                attempt,
                reason,
            } => (format!("{operation}: {reason}"), wait, attempt),
        };
        let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
        self.waiting = Some(Waiting {
            what,
            until,
            attempt,
        });
    }
}

/// The one place state changes.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    match action {
        Action::Command(cmd) => app.on_command(cmd),
        Action::FilterInput(c) => {
            let mut text = app.filter.clone();
            text.push(c);
            app.set_filter(text)
        }
        Action::FilterBackspace => {
            let mut text = app.filter.clone();
            text.pop();
            app.set_filter(text)
        }
        Action::DialogInput(c) => {
            if let Some(Popup::Confirm(d)) = &mut app.popup {
                d.input.push(c);
            } else if app.popup.is_none() {
                app.flow_input(Some(c));
            }
            None
        }
        Action::DialogBackspace => {
            if let Some(Popup::Confirm(d)) = &mut app.popup {
                d.input.pop();
            } else if app.popup.is_none() {
                app.flow_input(None);
            }
            None
        }
        Action::Scroll { down, .. } => app.on_scroll(down),
        Action::Click { column, row } => app.on_click(column, row),
        Action::Resize { width, height } => {
            app.size = Rect::new(0, 0, width, height);
            app.scroll_into_view();
            None
        }
        Action::Tick => {
            let now = app.now();
            if app.waiting.as_ref().is_some_and(|w| w.until < now) {
                app.waiting = None;
            }
            None
        }
        Action::InventoryPage(p) => {
            app.on_inventory_page(p);
            None
        }
        Action::InventoryLoaded(l) => app.on_inventory_loaded(l),
        Action::InventoryCached(c) => {
            app.on_inventory_cached(c);
            None
        }
        Action::OwnersLoaded(o) => {
            app.on_owners_loaded(o);
            None
        }
        Action::AuditLoaded(a) => {
            app.on_audit_loaded(a);
            None
        }
        Action::Notice(n) => {
            app.on_notice(n);
            None
        }
        Action::Rotation(r) => app.on_rotation(r),
        Action::Startup(news) => app.on_startup(news),
        Action::RemoveOldConfirmed(id) => app.remove_old_confirmed(id),
        Action::SignIn(prompt) => {
            app.on_sign_in(prompt);
            None
        }
        Action::AppReloaded(r) => app.on_app_reloaded(r),
        Action::Terminate => {
            app.should_quit = true;
            None
        }
        Action::ImpactLoaded(i) => {
            app.impact.insert(i.object_id, i.facts);
            None
        }
        Action::StoredIn(locations) => {
            // Keys are compared lowercase: Graph and the vault tags may differ in case.
            app.stored_in = locations
                .into_iter()
                .map(|(k, v)| (KeyId::new(k.as_str().to_ascii_lowercase()), v))
                .collect();
            None
        }
    }
}

/// Which sort is active, for the views.
pub fn sort_label(app: &App) -> &'static str {
    let s: SortKey = app.inventory.sort_key();
    s.label()
}
