//! Everything that reaches the UI arrives on one channel as an `Event`: terminal input, the clock tick, and results
//! of background work (which come back as `Result`s, tagged so stale ones can be told apart).
use crate::graph::{DirectoryAudit, GraphError, KeyId, Notice, ObjectId, Owner};
use crate::inventory::Entry;
use crate::inventory::load::Progress;

/// Identifies one background request, so a result that arrives after the operator moved on is dropped.
pub type RequestId = u64;

#[derive(Debug)]
pub enum Event {
    Input(crossterm::event::Event),
    /// Once a second: relative times and countdowns move on.
    Tick,
    /// SIGTERM / SIGHUP: leave cleanly, restoring the terminal.
    Terminate,
    InventoryPage(InventoryPage),
    InventoryLoaded(InventoryLoaded),
    OwnersLoaded(OwnersLoaded),
    AuditLoaded(AuditLoaded),
    /// A Graph call is waiting (throttled, retrying).
    Notice(Notice),
    /// Progress of a rotation started from the TUI.
    Rotation(RotationUpdate),
    /// Which vault secret holds which credential (`CredentialId` tags in the profile's vaults).
    StoredIn(Vec<(KeyId, String)>),
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

/// Where a rotation started from the TUI stands. The rotation engine (`crate::rotation`) reports its state machine
/// through this; the TUI shows it in the status line and, once wired, on the plan screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationUpdate {
    pub object_id: ObjectId,
    pub key_id: KeyId,
    /// The state reached, in the engine's words (`SecretAdded`, `StoredInVault`, `Done`, `RolledBack`, ...).
    pub step: String,
    pub finished: bool,
    /// What went wrong and what to do next, when it did.
    pub error: Option<String>,
}
