//! The rotation journal: one SQLite row per rotation plus an append-only event history, written before and after
//! every step so that a crash, a kill or a lost answer leaves enough behind to finish or undo the rotation.
//!
//! It never holds a secret value: only ids, names, dates, versions, states and error texts (which the executor
//! scrubs of the value before they get here).
mod removals;

pub use removals::{NewRemoval, RemovalEntry, RemovalState};

use crate::graph::{AppId, KeyId, ObjectId};
use crate::machine::{RotationState, StateKind, Step, UnknownState};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// File name inside the data dir (`$XDG_DATA_HOME/keyturn/` on Linux).
pub const JOURNAL_FILE: &str = "journal.sqlite3";
/// `keyturn demo` keeps its rotations apart: they belong to an emulated tenant that is gone when the demo ends, and
/// must never show up, or be "resumed", beside the real tenant's.
pub const DEMO_JOURNAL_FILE: &str = "demo-journal.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot open the rotation journal {path}: {source}; check that the directory is writable (it is created under the data dir, XDG_DATA_HOME)"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no home directory: cannot locate the data dir for the rotation journal; set XDG_DATA_HOME"
    )]
    NoDataDir,
    #[error("the rotation journal failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no rotation {0} in the journal (keyturn journal lists them)")]
    NotFound(i64),
    #[error("rotation {id}: {from} -> {to} is not a transition of the rotation state machine")]
    InvalidTransition {
        id: i64,
        from: StateKind,
        to: StateKind,
    },
    #[error("the rotation journal holds something this version cannot read: {0}")]
    Corrupt(String),
}

impl From<UnknownState> for JournalError {
    fn from(e: UnknownState) -> Self {
        JournalError::Corrupt(e.to_string())
    }
}

/// What the journal records when a plan is approved.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub app_object_id: ObjectId,
    pub app_id: AppId,
    pub app_name: String,
    pub old_key_id: KeyId,
    pub old_key_name: Option<String>,
    pub old_end: Option<DateTime<Utc>>,
    pub new_display_name: String,
    pub requested_end: DateTime<Utc>,
    pub vault_url: String,
    pub secret_name: String,
    /// The vault's latest version when the rotation started: what a rollback writes back.
    pub previous_version: Option<String>,
    /// `None`: remove the old credential at once.
    pub keep_until: Option<DateTime<Utc>>,
    pub operator: String,
    pub approver: String,
    /// The app's password keyIds before addPassword: anything else found later with our display name is ours.
    pub known_key_ids: Vec<KeyId>,
    pub planned_at: DateTime<Utc>,
    /// The tenant the rotation changes: recovery at start only touches rotations of the signed-in tenant.
    pub tenant_id: Option<String>,
    /// The profile it ran under, for the operator.
    pub profile: Option<String>,
}

/// One rotation as the journal knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub app_object_id: ObjectId,
    pub app_id: AppId,
    pub app_name: String,
    pub old_key_id: KeyId,
    pub old_key_name: Option<String>,
    pub old_end: Option<DateTime<Utc>>,
    pub new_display_name: String,
    pub requested_end: DateTime<Utc>,
    pub new_key_id: Option<KeyId>,
    pub new_end: Option<DateTime<Utc>>,
    /// First characters of the new value as Graph shows them (`hint`): public, used to check a vault version
    /// after a crash lost the value itself.
    pub new_hint: Option<String>,
    pub vault_url: String,
    pub secret_name: String,
    pub previous_version: Option<String>,
    pub new_version: Option<String>,
    pub keep_until: Option<DateTime<Utc>>,
    pub state_kind: StateKind,
    /// The call that was started and has not been recorded as finished.
    pub in_flight: Option<Step>,
    /// The rotation is being undone: a crash mid-way is finished backward.
    pub rolling_back: bool,
    pub failed_step: Option<Step>,
    pub error: Option<String>,
    pub operator: String,
    pub approver: String,
    pub known_key_ids: Vec<KeyId>,
    pub owner: Option<ProcessOwner>,
    /// `None` in entries written before the journal recorded it: recovery at start leaves those to a human.
    pub tenant_id: Option<String>,
    pub profile: Option<String>,
    /// When the sign-in with the new secret succeeded; `keyturn cleanup` holds a removal when the old keyId has
    /// signed in since.
    pub proven_at: Option<DateTime<Utc>>,
}

impl JournalEntry {
    /// The state with its data, rebuilt from the columns.
    pub fn state(&self) -> RotationState {
        let step = self.failed_step.unwrap_or(Step::Inspect);
        let error = self.error.clone().unwrap_or_default();
        match self.state_kind {
            StateKind::Planned => RotationState::Planned,
            StateKind::Approved => RotationState::Approved,
            StateKind::SecretAdded => RotationState::SecretAdded {
                new_key_id: self.new_key_id.clone().unwrap_or_default(),
            },
            StateKind::StoredInVault => RotationState::StoredInVault {
                version: self.new_version.clone().unwrap_or_default(),
            },
            StateKind::Verified => RotationState::Verified,
            StateKind::Proven => RotationState::Proven,
            StateKind::NotProven => RotationState::NotProven { reason: error },
            StateKind::OldRemoved => RotationState::OldRemoved,
            StateKind::Done => RotationState::Done,
            StateKind::Failed => RotationState::Failed { step, error },
            StateKind::RolledBack => RotationState::RolledBack { reason: error },
            StateKind::OldRemovalPending => RotationState::OldRemovalPending {
                keep_until: self.keep_until,
                error: self.error.clone(),
            },
            StateKind::NeedsAttention => RotationState::NeedsAttention { step, error },
        }
    }

    /// `https://vault/secrets/name/version` of the new version, once known.
    pub fn new_secret_id(&self) -> Option<String> {
        self.new_version.as_ref().map(|v| {
            format!(
                "{}/secrets/{}/{}",
                self.vault_url.trim_end_matches('/'),
                self.secret_name,
                v
            )
        })
    }
}

/// One line of a rotation's history.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEvent {
    pub at: DateTime<Utc>,
    pub state: StateKind,
    pub step: Option<Step>,
    /// `start`, `done`, `failed`, `state` or `note`.
    pub phase: String,
    pub detail: Option<String>,
}

/// Changes that travel with a state transition.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub new_key_id: Option<KeyId>,
    pub new_end: Option<DateTime<Utc>>,
    pub new_hint: Option<String>,
    pub new_version: Option<String>,
    pub rolling_back: Option<bool>,
    pub detail: Option<String>,
}

/// The process that is driving a rotation. A rotation owned by a live process is never "recovered" by another
/// start (the TUI may be mid-rotation while `keyturn journal` runs in another terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOwner {
    pub pid: u32,
    /// Process start time from `/proc/<pid>/stat` where available, so a recycled pid is not mistaken for the owner.
    pub start: Option<String>,
}

impl ProcessOwner {
    pub fn current() -> Self {
        let pid = std::process::id();
        ProcessOwner {
            pid,
            start: process_start(pid),
        }
    }

    /// Whether the owner still runs. Without `/proc` (not Linux) the answer is "maybe", reported as alive, so that
    /// another process never takes over a rotation that may still be moving; `journal resume` can then force it.
    pub fn is_alive(&self) -> bool {
        if self.pid == std::process::id() {
            return true;
        }
        if !Path::new("/proc/self/stat").exists() {
            return true;
        }
        match process_start(self.pid) {
            None => false,
            Some(now) => self.start.as_deref().is_none_or(|s| s == now),
        }
    }
}

/// Field 22 (starttime) of `/proc/<pid>/stat`, counted after the `)` that ends the command name.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// The journal. Cheap to share behind an `Arc`; every method is one short transaction.
pub struct Journal {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS rotations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    app_object_id     TEXT NOT NULL,
    app_id            TEXT NOT NULL,
    app_name          TEXT NOT NULL,
    old_key_id        TEXT NOT NULL,
    old_key_name      TEXT,
    old_end           TEXT,
    new_display_name  TEXT NOT NULL,
    requested_end     TEXT NOT NULL,
    new_key_id        TEXT,
    new_end           TEXT,
    new_hint          TEXT,
    vault_url         TEXT NOT NULL,
    secret_name       TEXT NOT NULL,
    previous_version  TEXT,
    new_version       TEXT,
    keep_until        TEXT,
    state             TEXT NOT NULL,
    in_flight         TEXT,
    rolling_back      INTEGER NOT NULL DEFAULT 0,
    failed_step       TEXT,
    error             TEXT,
    operator          TEXT NOT NULL,
    approver          TEXT NOT NULL,
    known_key_ids     TEXT NOT NULL,
    owner_pid         INTEGER,
    owner_start       TEXT,
    tenant_id         TEXT,
    profile           TEXT,
    proven_at         TEXT
);
CREATE TABLE IF NOT EXISTS rotation_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rotation_id  INTEGER NOT NULL REFERENCES rotations(id),
    at           TEXT NOT NULL,
    state        TEXT NOT NULL,
    step         TEXT,
    phase        TEXT NOT NULL,
    detail       TEXT
);
CREATE INDEX IF NOT EXISTS rotation_events_by_rotation ON rotation_events(rotation_id, id);
"#;

const COLUMNS: &str = "id, created_at, updated_at, app_object_id, app_id, app_name, old_key_id, old_key_name, \
    old_end, new_display_name, requested_end, new_key_id, new_end, new_hint, vault_url, secret_name, \
    previous_version, new_version, keep_until, state, in_flight, rolling_back, failed_step, error, operator, \
    approver, known_key_ids, owner_pid, owner_start, tenant_id, profile, proven_at";

/// Columns added after the first schema: a journal written by an older keyturn gains them (empty) when opened.
const ADDED_COLUMNS: [&str; 3] = ["tenant_id", "profile", "proven_at"];

fn ts(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, JournalError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| JournalError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

fn opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, JournalError> {
    s.map(|s| parse_ts(&s)).transpose()
}

impl Journal {
    /// Open (creating if needed) the journal at `path`. Several keyturn processes may share it: WAL mode, a busy
    /// timeout, and write transactions that take the write lock up front (`BEGIN IMMEDIATE`: a deferred one that
    /// reads first fails at once with "database is locked" when another process wrote meanwhile) make their short
    /// transactions wait for each other instead of failing.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::private_fs::create_private_dir(dir).map_err(|source| JournalError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // 0600 before SQLite opens it (its -wal and -shm take the database's mode).
        if let Err(e) = super::private_fs::create_private_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot create the journal 0600");
        }
        let conn = Connection::open(path).map_err(|source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let journal = Self::init(conn, Some(path.to_path_buf()))?;
        super::private_fs::restrict_sqlite(path);
        Ok(journal)
    }

    /// The journal in the data dir (`directories`: honours `XDG_DATA_HOME`).
    pub fn open_default() -> Result<Journal, JournalError> {
        Self::open(&Self::default_path()?)
    }

    pub fn default_path() -> Result<PathBuf, JournalError> {
        let dirs =
            directories::ProjectDirs::from("", "", "keyturn").ok_or(JournalError::NoDataDir)?;
        Ok(dirs.data_dir().join(JOURNAL_FILE))
    }

    /// A journal that lives in memory (unit tests).
    pub fn in_memory() -> Result<Journal, JournalError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Journal, JournalError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        if path.is_some() {
            // journal_mode answers with a row, so it is read rather than executed.
            let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(removals::SCHEMA)?;
        migrate(&conn)?;
        conn.pragma_update(None, "user_version", 2)?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        // A panic while the lock was held cannot leave a half-written row (SQLite transactions), so a poisoned
        // lock is still safe to use.
        let mut guard = match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut guard)
    }

    /// Record an approved plan. The entry starts as `Approved`, owned by this process.
    pub fn create(&self, e: &NewEntry, now: DateTime<Utc>) -> Result<i64, JournalError> {
        let owner = ProcessOwner::current();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO rotations (created_at, updated_at, app_object_id, app_id, app_name, old_key_id, \
                 old_key_name, old_end, new_display_name, requested_end, vault_url, secret_name, previous_version, \
                 keep_until, state, operator, approver, known_key_ids, owner_pid, owner_start, tenant_id, profile) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                params![
                    ts(now),
                    ts(now),
                    e.app_object_id.as_str(),
                    e.app_id.as_str(),
                    e.app_name,
                    e.old_key_id.as_str(),
                    e.old_key_name,
                    e.old_end.map(ts),
                    e.new_display_name,
                    ts(e.requested_end),
                    e.vault_url,
                    e.secret_name,
                    e.previous_version,
                    e.keep_until.map(ts),
                    StateKind::Approved.as_str(),
                    e.operator,
                    e.approver,
                    e.known_key_ids
                        .iter()
                        .map(KeyId::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    owner.pid,
                    owner.start,
                    e.tenant_id,
                    e.profile,
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_event(
                &tx,
                id,
                e.planned_at,
                StateKind::Planned,
                None,
                "state",
                None,
            )?;
            insert_event(
                &tx,
                id,
                now,
                StateKind::Approved,
                None,
                "state",
                Some(&format!("approved by {}", e.approver)),
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Before a call: mark it in flight.
    pub fn begin_step(&self, id: i64, step: Step, now: DateTime<Utc>) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = current_state(&tx, id)?;
            tx.execute(
                "UPDATE rotations SET in_flight = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, step.as_str(), ts(now)],
            )?;
            insert_event(&tx, id, now, state, Some(step), "start", None)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// After a call failed without changing the state (it will be retried, or the caller decides what follows).
    pub fn step_failed(
        &self,
        id: i64,
        step: Step,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = current_state(&tx, id)?;
            tx.execute(
                "UPDATE rotations SET in_flight = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            insert_event(&tx, id, now, state, Some(step), "failed", Some(error))?;
            tx.commit()?;
            Ok(())
        })
    }

    /// After a call succeeded without a state change (e.g. an inspection).
    pub fn step_done(
        &self,
        id: i64,
        step: Step,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = current_state(&tx, id)?;
            tx.execute(
                "UPDATE rotations SET in_flight = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            insert_event(&tx, id, now, state, Some(step), "done", detail)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Move to `next` (an edge of the state machine), clear the in-flight call and store what came with it.
    pub fn advance(
        &self,
        id: i64,
        next: &RotationState,
        changes: &Changes,
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let from = current_state(&tx, id)?;
            let to = next.kind();
            if !from.can_go_to(to) {
                return Err(JournalError::InvalidTransition { id, from, to });
            }
            let (failed_step, error): (Option<Step>, Option<String>) = match next {
                RotationState::Failed { step, error }
                | RotationState::NeedsAttention { step, error } => {
                    (Some(*step), Some(error.clone()))
                }
                RotationState::RolledBack { reason } => (None, Some(reason.clone())),
                RotationState::OldRemovalPending { error, .. } => (Some(Step::RemoveOld), error.clone()),
                _ => (None, None),
            };
            let new_key_id = match next {
                RotationState::SecretAdded { new_key_id } => Some(new_key_id.clone()),
                _ => changes.new_key_id.clone(),
            };
            let new_version = match next {
                RotationState::StoredInVault { version } => Some(version.clone()),
                _ => changes.new_version.clone(),
            };
            let keep_until = match next {
                RotationState::OldRemovalPending { keep_until, .. } => *keep_until,
                _ => None,
            };
            let proven_at = matches!(next, RotationState::Proven).then_some(now);
            let (failed_step, error) = match next {
                RotationState::NotProven { reason } => (Some(Step::Prove), Some(reason.clone())),
                _ => (failed_step, error),
            };
            tx.execute(
                "UPDATE rotations SET state = ?2, updated_at = ?3, in_flight = NULL, failed_step = ?4, error = ?5, \
                 new_key_id = COALESCE(?6, new_key_id), new_end = COALESCE(?7, new_end), \
                 new_hint = COALESCE(?8, new_hint), new_version = COALESCE(?9, new_version), \
                 rolling_back = COALESCE(?10, rolling_back), keep_until = COALESCE(?11, keep_until), \
                 proven_at = COALESCE(?12, proven_at) WHERE id = ?1",
                params![
                    id,
                    to.as_str(),
                    ts(now),
                    failed_step.map(Step::as_str),
                    error,
                    new_key_id.as_ref().map(KeyId::as_str),
                    changes.new_end.map(ts),
                    changes.new_hint,
                    new_version,
                    changes.rolling_back,
                    keep_until.map(ts),
                    proven_at.map(ts),
                ],
            )?;
            let detail = changes.detail.clone().or_else(|| match next {
                RotationState::Approved | RotationState::Planned => None,
                other => Some(other.to_string()),
            });
            insert_event(&tx, id, now, to, None, "state", detail.as_deref())?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Mark the rotation as being undone (a crash mid-rollback is then finished backward).
    pub fn set_rolling_back(
        &self,
        id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = current_state(&tx, id)?;
            tx.execute(
                "UPDATE rotations SET rolling_back = 1, updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            insert_event(&tx, id, now, state, None, "rollback", Some(reason))?;
            tx.commit()?;
            Ok(())
        })
    }

    /// A free-text line in the history (e.g. "resumed by journal resume").
    pub fn note(&self, id: i64, detail: &str, now: DateTime<Utc>) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = current_state(&tx, id)?;
            insert_event(&tx, id, now, state, None, "note", Some(detail))?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Take ownership of a rotation unless a live process holds it. `force` takes it regardless (a human said so).
    /// Returns the previous owner when it was refused.
    pub fn claim(&self, id: i64, force: bool) -> Result<Result<(), ProcessOwner>, JournalError> {
        let me = ProcessOwner::current();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<(Option<u32>, Option<String>)> = tx
                .query_row(
                    "SELECT owner_pid, owner_start FROM rotations WHERE id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((pid, start)) = current else {
                return Err(JournalError::NotFound(id));
            };
            if let Some(pid) = pid {
                let other = ProcessOwner { pid, start };
                if !force && other != me && other.is_alive() {
                    return Ok(Err(other));
                }
            }
            tx.execute(
                "UPDATE rotations SET owner_pid = ?2, owner_start = ?3 WHERE id = ?1",
                params![id, me.pid, me.start],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
    }

    /// Let go of a rotation this process drove (it finished or parked).
    pub fn release(&self, id: i64) -> Result<(), JournalError> {
        let me = ProcessOwner::current();
        self.with(|c| {
            c.execute(
                "UPDATE rotations SET owner_pid = NULL, owner_start = NULL WHERE id = ?1 AND owner_pid = ?2",
                params![id, me.pid],
            )?;
            Ok(())
        })
    }

    pub fn get(&self, id: i64) -> Result<JournalEntry, JournalError> {
        self.with(|c| {
            let raw = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM rotations WHERE id = ?1"),
                    params![id],
                    RawEntry::from_row,
                )
                .optional()?;
            raw.ok_or(JournalError::NotFound(id))?.into_entry()
        })
    }

    /// The newest `limit` rotations, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<JournalEntry>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            &format!("SELECT {COLUMNS} FROM rotations ORDER BY id DESC LIMIT ?1"),
            params![limit],
        )
    }

    /// Rotations that are not finished: parked (`NeedsAttention`, `OldRemovalPending`) or interrupted mid-way.
    pub fn unfinished(&self) -> Result<Vec<JournalEntry>, JournalError> {
        let all = self.query(
            &format!("SELECT {COLUMNS} FROM rotations WHERE state NOT IN ('Done', 'Failed', 'RolledBack') ORDER BY id"),
            params![],
        )?;
        Ok(all)
    }

    /// Unfinished rotations of one app: a second rotation must not start while one of these exists.
    pub fn unfinished_for_app(&self, app: &ObjectId) -> Result<Vec<JournalEntry>, JournalError> {
        Ok(self
            .unfinished()?
            .into_iter()
            .filter(|e| &e.app_object_id == app)
            .collect())
    }

    pub fn events(&self, id: i64) -> Result<Vec<JournalEvent>, JournalError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT at, state, step, phase, detail FROM rotation_events WHERE rotation_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, state, step, phase, detail) = row?;
                out.push(JournalEvent {
                    at: parse_ts(&at)?,
                    state: state.parse()?,
                    step: step.map(|s| s.parse()).transpose()?,
                    phase,
                    detail,
                });
            }
            Ok(out)
        })
    }

    fn query(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<JournalEntry>, JournalError> {
        self.with(|c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map(params, RawEntry::from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?.into_entry()?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
impl Journal {
    /// Unit tests: pretend another (possibly dead) process owns a rotation.
    pub(crate) fn set_owner_for_test(
        &self,
        id: i64,
        owner: Option<ProcessOwner>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE rotations SET owner_pid = ?2, owner_start = ?3 WHERE id = ?1",
                params![
                    id,
                    owner.as_ref().map(|o| o.pid),
                    owner.and_then(|o| o.start)
                ],
            )?;
            Ok(())
        })
    }

    /// Unit tests: what a crash inside addPassword leaves: Approved, addPassword in flight, no new keyId.
    pub(crate) fn rewind_for_test(&self, id: i64) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE rotations SET state = 'Approved', in_flight = 'addPassword', new_key_id = NULL, \
                 new_hint = NULL, new_end = NULL WHERE id = ?1",
                params![id],
            )?;
            Ok(())
        })
    }
}

/// Add the columns a journal from an older keyturn lacks (SQLite has no `ADD COLUMN IF NOT EXISTS`).
fn migrate(conn: &Connection) -> Result<(), JournalError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('rotations')")?;
    let have: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    for col in ADDED_COLUMNS {
        if !have.iter().any(|h| h == col) {
            conn.execute_batch(&format!("ALTER TABLE rotations ADD COLUMN {col} TEXT"))?;
        }
    }
    Ok(())
}

fn current_state(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<StateKind, JournalError> {
    let s: Option<String> = tx
        .query_row(
            "SELECT state FROM rotations WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.ok_or(JournalError::NotFound(id))?.parse()?)
}

fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    at: DateTime<Utc>,
    state: StateKind,
    step: Option<Step>,
    phase: &str,
    detail: Option<&str>,
) -> Result<(), JournalError> {
    tx.execute(
        "INSERT INTO rotation_events (rotation_id, at, state, step, phase, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, ts(at), state.as_str(), step.map(Step::as_str), phase, detail],
    )?;
    Ok(())
}

/// A row as SQLite hands it over, before parsing dates and names.
struct RawEntry {
    id: i64,
    created_at: String,
    updated_at: String,
    app_object_id: String,
    app_id: String,
    app_name: String,
    old_key_id: String,
    old_key_name: Option<String>,
    old_end: Option<String>,
    new_display_name: String,
    requested_end: String,
    new_key_id: Option<String>,
    new_end: Option<String>,
    new_hint: Option<String>,
    vault_url: String,
    secret_name: String,
    previous_version: Option<String>,
    new_version: Option<String>,
    keep_until: Option<String>,
    state: String,
    in_flight: Option<String>,
    rolling_back: bool,
    failed_step: Option<String>,
    error: Option<String>,
    operator: String,
    approver: String,
    known_key_ids: String,
    owner_pid: Option<u32>,
    owner_start: Option<String>,
    tenant_id: Option<String>,
    profile: Option<String>,
    proven_at: Option<String>,
}

impl RawEntry {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            id: r.get(0)?,
            created_at: r.get(1)?,
            updated_at: r.get(2)?,
            app_object_id: r.get(3)?,
            app_id: r.get(4)?,
            app_name: r.get(5)?,
            old_key_id: r.get(6)?,
            old_key_name: r.get(7)?,
            old_end: r.get(8)?,
            new_display_name: r.get(9)?,
            requested_end: r.get(10)?,
            new_key_id: r.get(11)?,
            new_end: r.get(12)?,
            new_hint: r.get(13)?,
            vault_url: r.get(14)?,
            secret_name: r.get(15)?,
            previous_version: r.get(16)?,
            new_version: r.get(17)?,
            keep_until: r.get(18)?,
            state: r.get(19)?,
            in_flight: r.get(20)?,
            rolling_back: r.get(21)?,
            failed_step: r.get(22)?,
            error: r.get(23)?,
            operator: r.get(24)?,
            approver: r.get(25)?,
            known_key_ids: r.get(26)?,
            owner_pid: r.get(27)?,
            owner_start: r.get(28)?,
            tenant_id: r.get(29)?,
            profile: r.get(30)?,
            proven_at: r.get(31)?,
        })
    }

    fn into_entry(self) -> Result<JournalEntry, JournalError> {
        Ok(JournalEntry {
            id: self.id,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            app_object_id: ObjectId(self.app_object_id),
            app_id: AppId(self.app_id),
            app_name: self.app_name,
            old_key_id: KeyId(self.old_key_id),
            old_key_name: self.old_key_name,
            old_end: opt_ts(self.old_end)?,
            new_display_name: self.new_display_name,
            requested_end: parse_ts(&self.requested_end)?,
            new_key_id: self.new_key_id.map(KeyId),
            new_end: opt_ts(self.new_end)?,
            new_hint: self.new_hint,
            vault_url: self.vault_url,
            secret_name: self.secret_name,
            previous_version: self.previous_version,
            new_version: self.new_version,
            keep_until: opt_ts(self.keep_until)?,
            state_kind: self.state.parse()?,
            in_flight: self.in_flight.map(|s| s.parse()).transpose()?,
            rolling_back: self.rolling_back,
            failed_step: self.failed_step.map(|s| s.parse()).transpose()?,
            error: self.error,
            operator: self.operator,
            approver: self.approver,
            known_key_ids: self
                .known_key_ids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| KeyId(s.to_string()))
                .collect(),
            owner: self.owner_pid.map(|pid| ProcessOwner {
                pid,
                start: self.owner_start,
            }),
            tenant_id: self.tenant_id,
            profile: self.profile,
            proven_at: opt_ts(self.proven_at)?,
        })
    }
}

#[cfg(test)]
mod tests;
