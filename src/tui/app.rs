//! The TUI's state and its one `update(&mut App, Action) -> Option<Effect>`. No terminal, no network, no clock of
//! its own: tests drive it directly and snapshot what `views::render` draws of it.
use super::event::{AppReloaded, StartupNews};
use super::event::{
    AuditLoaded, ImpactLoaded, InventoryCached, InventoryLoaded, InventoryPage, LoadError,
    OwnersLoaded, RequestId, RotationUpdate,
};
use super::keymap::Command;
use super::model::{Inventory, Row, SortKey, StatusFilter, View};
use super::theme::Theme;
use crate::auth::DeviceCodePrompt;
use crate::clock::SharedClock;
use crate::graph::{AppId, DirectoryAudit, KeyId, Notice, ObjectId, ObjectType, Owner};
use crate::inventory::Thresholds;
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

mod changes;
mod commands;
mod input;
mod list;
mod loading;
mod popup;
mod removals;
mod remove_credential;
mod rotation;
mod tenants;
pub use changes::{CHANGES_DAYS, ChangesView};
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
    /// The selected credential's keyId: what the cursor follows when a reload reorders or inserts credentials, and
    /// what `r` plans. `credential` is re-derived from it whenever the rows change.
    pub credential_key: Option<KeyId>,
    pub owners_scroll: usize,
    pub audit_scroll: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    List,
    Detail(Detail),
    /// The tenant-wide change feed (`A`).
    Changes(changes::ChangesView),
    /// Credentials ending per week (`T`).
    Timeline,
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
    /// The objects of the inventory page that follows belong to this tenant (several tenants).
    TenantRows {
        tenant: u16,
        ids: Vec<ObjectId>,
    },
    ImpactLoaded(ImpactLoaded),
    Startup(StartupNews),
    /// The operator typed the app's name to remove a due old secret (rotation id).
    RemoveOldConfirmed(i64),
    /// `D`: the app's name was typed to remove one credential (a second confirmation may follow).
    RemoveCredentialNamed(Box<crate::removal::RemovalPlan>),
    /// The second confirmation of removing an app's last valid credential was typed.
    RemoveCredentialConfirmed(Box<crate::removal::RemovalPlan>),
    SignIn(Option<DeviceCodePrompt>),
    AppReloaded(AppReloaded),
    /// The change feed, or why it could not be read.
    ChangesLoaded(Result<crate::audit::AuditReport, LoadError>),
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
    /// Write the plan on the screen (with the old secret's disposition as typed) to a plan file in the data dir.
    WritePlanFile {
        plan: Box<crate::rotation::RotationPlan>,
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
    /// Read the app and its last use and plan the removal of one credential (reads only).
    PlanRemoval {
        object_id: ObjectId,
        key_id: KeyId,
        thresholds: Thresholds,
    },
    /// Remove one credential, journaled, after its confirmations.
    RemoveCredential {
        plan: Box<crate::removal::RemovalPlan>,
    },
    /// Read the tenant's change feed of the last `days` days (reads only).
    LoadChanges { days: i64 },
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
    /// The instant this state speaks of: read from the clock once per `update`, so everything drawn after it (list,
    /// counts, detail) shows one "now".
    now: DateTime<Utc>,
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
    /// The change feed (`A`), once asked for.
    pub changes: Option<Loadable<crate::audit::AuditReport>>,
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
    /// With several tenants, their labels (profile names) in order; empty with one.
    pub tenants: Vec<String>,
    /// The tenant of each object listed (several tenants only).
    tenant_of: HashMap<ObjectId, u16>,
    /// With several tenants, the tenant whose change feed (`A`) was asked for last.
    pub changes_for: Option<u16>,
}

impl App {
    pub fn new(cfg: Config) -> Self {
        let mut inventory = Inventory::default();
        inventory.set_view(View {
            needle: String::new(),
            status: StatusFilter::All,
            service_principals: cfg.include_service_principals,
            tenant: None,
        });
        let service_principals_loaded = cfg.include_service_principals;
        Self {
            now: cfg.clock.now(),
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
            changes: None,
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
            tenants: Vec::new(),
            tenant_of: HashMap::new(),
            changes_for: None,
        }
    }

    pub fn theme(&self) -> Theme {
        self.cfg.theme
    }

    /// The instant of this update and of the frame drawn after it (not the clock's reading at each call).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Read the clock for a new update and classify again what changed status since the last one.
    fn advance_clock(&mut self) {
        self.now = self.cfg.clock.now();
        self.reclassify();
    }

    fn reclassify(&mut self) {
        if self.inventory.reclassify(self.now, self.cfg.thresholds) {
            self.reselect();
        }
    }

    /// The first effect: load the inventory.
    pub fn start(&mut self) -> Effect {
        self.begin_load()
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.inventory.visible_row(self.cursor.selected)
    }

    pub fn detail_row(&self) -> Option<&Row> {
        match &self.screen {
            Screen::Detail(d) => self.inventory.get(&d.object_id),
            Screen::List | Screen::Changes(_) | Screen::Timeline => None,
        }
    }

    /// Whether owners for `id` are being fetched right now.
    pub fn owners_pending(&self, id: &ObjectId) -> bool {
        self.pending_owners.as_ref().is_some_and(|(_, p)| p == id)
    }

    pub fn audit_pending(&self, id: &ObjectId) -> bool {
        self.pending_audit.as_ref().is_some_and(|(_, p)| p == id)
    }
}

/// The one place state changes.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    app.advance_clock();
    let effect = dispatch(app, action);
    // Rows staged by a reload were classified when their page arrived: bring them to this update's instant.
    app.reclassify();
    effect
}

fn dispatch(app: &mut App, action: Action) -> Option<Effect> {
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
        Action::TenantRows { tenant, ids } => {
            app.on_tenant_rows(tenant, ids);
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
        Action::ChangesLoaded(r) => {
            app.on_changes_loaded(r);
            None
        }
        Action::Notice(n) => {
            app.on_notice(n);
            None
        }
        Action::Rotation(r) => app.on_rotation(r),
        Action::Startup(news) => app.on_startup(news),
        Action::RemoveOldConfirmed(id) => app.remove_old_confirmed(id),
        Action::RemoveCredentialNamed(plan) => app.removal_named(plan),
        Action::RemoveCredentialConfirmed(plan) => app.removal_confirmed(plan),
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
