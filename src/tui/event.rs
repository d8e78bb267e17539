//! Everything that reaches the UI arrives on one channel as an `Event`: terminal input, the clock tick, and results
//! of background work (which come back as `Result`s, tagged so stale ones can be told apart).
use crate::auth::DeviceCodePrompt;
use crate::graph::{DirectoryAudit, GraphError, KeyId, Notice, ObjectId, Owner};
use crate::inventory::Entry;
use crate::inventory::load::Progress;
use crate::rotation::{RotationPlan, RotationProgress, RotationReport};

/// Identifies one background request, so a result that arrives after the operator moved on is dropped.
pub type RequestId = u64;

#[derive(Debug)]
pub enum Event {
    Input(crossterm::event::Event),
    /// Once a second: relative times and countdowns move on.
    Tick,
    /// SIGTERM / SIGHUP: leave cleanly, restoring the terminal.
    Terminate,
    /// The inventory as cached at the last run, shown at once while the refresh runs.
    InventoryCached(InventoryCached),
    InventoryPage(InventoryPage),
    InventoryLoaded(InventoryLoaded),
    OwnersLoaded(OwnersLoaded),
    AuditLoaded(AuditLoaded),
    /// A Graph call is waiting (throttled, retrying).
    Notice(Notice),
    /// A rotation started from the TUI: plan, progress, end.
    Rotation(RotationUpdate),
    /// The rotation journal's news at start.
    Startup(StartupNews),
    /// A device-code sign-in wants the operator (`Some`), or no longer does (`None`).
    SignIn(Option<DeviceCodePrompt>),
    /// One app read again (after a rotation).
    AppReloaded(AppReloaded),
    /// Which vault secret holds which credential (`CredentialId` tags in the profile's vaults).
    StoredIn(Vec<(KeyId, String)>),
    /// The objects of the inventory page that follows belong to this tenant (several tenants at once).
    TenantRows {
        tenant: u16,
        ids: Vec<ObjectId>,
    },
    /// Last use and application permissions of one app (loaded with its owners).
    ImpactLoaded(ImpactLoaded),
    /// The tenant's change feed (`A`).
    ChangesLoaded(Result<crate::audit::AuditReport, LoadError>),
}

#[derive(Debug)]
pub struct ImpactLoaded {
    pub object_id: ObjectId,
    pub facts: crate::impact::ImpactFacts,
}

/// The cached inventory of this tenant, and when it was saved.
#[derive(Debug)]
pub struct InventoryCached {
    pub generation: u64,
    pub entries: Vec<Entry>,
    pub saved_at: chrono::DateTime<chrono::Utc>,
}

/// One page of the inventory, as it arrives.
#[derive(Debug)]
pub struct InventoryPage {
    pub generation: u64,
    pub entries: Vec<Entry>,
    pub progress: Progress,
}

/// The end of an inventory load.
#[derive(Debug)]
pub struct InventoryLoaded {
    pub generation: u64,
    pub result: Result<usize, LoadError>,
}

#[derive(Debug)]
pub struct OwnersLoaded {
    pub request: RequestId,
    pub object_id: ObjectId,
    pub result: Result<Vec<Owner>, LoadError>,
}

#[derive(Debug)]
pub struct AuditLoaded {
    pub request: RequestId,
    pub object_id: ObjectId,
    pub result: Result<Vec<DirectoryAudit>, LoadError>,
}

/// A failed Graph call as the UI shows it: a few words for the status line and the full sentence (what happened,
/// what to do) for the popup or pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub short: &'static str,
    pub message: String,
}

impl From<GraphError> for LoadError {
    fn from(e: GraphError) -> Self {
        Self {
            short: e.short(),
            message: e.to_string(),
        }
    }
}

/// A rotation started from the TUI: its plan, the check of a typed-in vault secret, the engine's progress and its
/// end. None of these carries the new secret's value: it never leaves the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationUpdate {
    /// The plan for the confirmation screen (reads only), or why there is none.
    Planned {
        request: RequestId,
        result: Result<Box<RotationPlan>, String>,
    },
    /// The plan with the vault secret the operator typed in (validated, its current version read).
    TargetChecked {
        request: RequestId,
        result: Result<Box<RotationPlan>, String>,
    },
    /// `^s` on the plan: the plan file's path, or why it could not be written.
    PlanWritten { result: Result<String, String> },
    /// A step of the state machine, as the engine reports it.
    Progress(RotationProgress),
    /// The engine returned: a report for every journaled outcome (read its state), or why nothing started.
    Ended {
        request: RequestId,
        result: Result<RotationReport, String>,
    },
    /// A pending removal run from the TUI (`x`): removed, held with the reason, or why it could not run.
    CleanedUp {
        rotation_id: i64,
        result: Result<crate::rotation::CleanupItem, String>,
    },
    /// `D`: the plan for removing one credential, or why there is none.
    RemovalPlanned {
        result: Result<Box<crate::removal::RemovalPlan>, String>,
    },
    /// A credential removal ended (journaled), or why it could not run.
    CredentialRemoved {
        object_id: crate::graph::ObjectId,
        result: Result<crate::removal::RemovalOutcome, String>,
    },
}

/// What the rotation journal says at start (`rotation::on_start`): rotations that were finished now, or that wait
/// for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupNews {
    pub lines: Vec<String>,
    /// Interrupted rotations this start finished: the tenant changed since the list was loaded.
    pub recovered: usize,
    /// Old secrets kept after a proven rotation, waiting for removal (the header counts them, `P` lists them).
    pub pending: Vec<PendingRemoval>,
}

/// An old secret kept on its app after a proven rotation (the journal's `OldRemovalPending`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRemoval {
    pub rotation_id: i64,
    pub app_object_id: ObjectId,
    pub app_name: String,
    pub old_key_id: crate::graph::KeyId,
    /// When it may go; `None`: at once (a removal that failed or was held).
    pub due: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the last attempt held it or failed, when one did.
    pub note: Option<String>,
}

impl PendingRemoval {
    pub fn from_entry(e: &crate::store::JournalEntry) -> Self {
        PendingRemoval {
            rotation_id: e.id,
            app_object_id: e.app_object_id.clone(),
            app_name: e.app_name.clone(),
            old_key_id: e.old_key_id.clone(),
            due: e.keep_until,
            note: e.error.clone(),
        }
    }

    pub fn is_due(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.due.is_none_or(|d| d <= now)
    }
}

/// One app read again after a rotation, so its new credential shows.
#[derive(Debug)]
pub struct AppReloaded {
    pub object_id: ObjectId,
    pub result: Result<Entry, LoadError>,
}
