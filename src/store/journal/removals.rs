//! Removals of a credential as an action of its own (not the old secret of a rotation): one row per removal,
//! written before the Graph call (`Approved`) and after it (`Removed` or `Failed`). A row left `Approved` by a
//! process that is gone is reconciled at the next start against the app: the credential is gone (`Removed`) or
//! still there (`NotRemoved`: nothing changed, the operator may try again). It holds no secret, only ids, names,
//! dates and what the operator saw.
use super::{Journal, JournalError, ProcessOwner, opt_ts, parse_ts, ts};
use crate::graph::{AppId, KeyId, ObjectId, ObjectType};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS removals (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    tenant_id        TEXT,
    profile          TEXT,
    object_type      TEXT NOT NULL,
    app_object_id    TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    app_name         TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    credential_type  TEXT NOT NULL,
    credential_name  TEXT,
    end_date         TEXT,
    last_sign_in     TEXT,
    last_use_known   INTEGER NOT NULL,
    last_valid       INTEGER NOT NULL,
    state            TEXT NOT NULL,
    detail           TEXT,
    removed_key_ids  TEXT NOT NULL DEFAULT '',
    operator         TEXT NOT NULL,
    owner_pid        INTEGER,
    owner_start      TEXT
);
"#;

const COLUMNS: &str = "id, created_at, updated_at, tenant_id, profile, object_type, app_object_id, app_id, \
    app_name, key_id, credential_type, credential_name, end_date, last_sign_in, last_use_known, last_valid, state, \
    detail, removed_key_ids, operator, owner_pid, owner_start";

/// Where a removal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalState {
    /// Approved and journaled; the Graph call is about to run or ran without an answer yet.
    Approved,
    /// Graph removed it (or a later start found it gone).
    Removed,
    /// Graph refused; nothing changed.
    Failed,
    /// Interrupted before Graph answered and the credential is still on the app: nothing changed.
    NotRemoved,
}

impl RemovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalState::Approved => "Approved",
            RemovalState::Removed => "Removed",
            RemovalState::Failed => "Failed",
            RemovalState::NotRemoved => "NotRemoved",
        }
    }

    fn parse(s: &str) -> Result<RemovalState, JournalError> {
        Ok(match s {
            "Approved" => RemovalState::Approved,
            "Removed" => RemovalState::Removed,
            "Failed" => RemovalState::Failed,
            "NotRemoved" => RemovalState::NotRemoved,
            other => {
                return Err(JournalError::Corrupt(format!(
                    "unknown removal state {other:?}"
                )));
            }
        })
    }
}

/// What the journal records when the operator approves a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRemoval {
    pub tenant_id: Option<String>,
    pub profile: Option<String>,
    pub object_type: ObjectType,
    pub app_object_id: ObjectId,
    pub app_id: AppId,
    pub app_name: String,
    pub key_id: KeyId,
    /// `secret` or `certificate`.
    pub credential_type: String,
    pub credential_name: Option<String>,
    pub end: Option<DateTime<Utc>>,
    /// The last use the operator was shown.
    pub last_sign_in: Option<DateTime<Utc>>,
    pub last_use_known: bool,
    /// It was the app's last valid credential and the operator confirmed that a second time.
    pub last_valid: bool,
    pub operator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalEntry {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub removal: NewRemoval,
    pub state: RemovalState,
    /// Graph's refusal, or how a start reconciled it.
    pub detail: Option<String>,
    /// Every keyId that went (a certificate's Sign and Verify entries).
    pub removed_key_ids: Vec<KeyId>,
    pub owner: Option<ProcessOwner>,
}

fn object_type(s: &str) -> ObjectType {
    if s == "servicePrincipal" {
        ObjectType::ServicePrincipal
    } else {
        ObjectType::Application
    }
}

fn object_type_str(t: ObjectType) -> &'static str {
    match t {
        ObjectType::Application => "application",
        ObjectType::ServicePrincipal => "servicePrincipal",
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRemoval> {
    Ok(RawRemoval {
        id: r.get(0)?,
        created_at: r.get(1)?,
        updated_at: r.get(2)?,
        tenant_id: r.get(3)?,
        profile: r.get(4)?,
        object_type: r.get(5)?,
        app_object_id: r.get(6)?,
        app_id: r.get(7)?,
        app_name: r.get(8)?,
        key_id: r.get(9)?,
        credential_type: r.get(10)?,
        credential_name: r.get(11)?,
        end: r.get(12)?,
        last_sign_in: r.get(13)?,
        last_use_known: r.get(14)?,
        last_valid: r.get(15)?,
        state: r.get(16)?,
        detail: r.get(17)?,
        removed_key_ids: r.get(18)?,
        operator: r.get(19)?,
        owner_pid: r.get(20)?,
        owner_start: r.get(21)?,
    })
}

struct RawRemoval {
    id: i64,
    created_at: String,
    updated_at: String,
    tenant_id: Option<String>,
    profile: Option<String>,
    object_type: String,
    app_object_id: String,
    app_id: String,
    app_name: String,
    key_id: String,
    credential_type: String,
    credential_name: Option<String>,
    end: Option<String>,
    last_sign_in: Option<String>,
    last_use_known: bool,
    last_valid: bool,
    state: String,
    detail: Option<String>,
    removed_key_ids: String,
    operator: String,
    owner_pid: Option<u32>,
    owner_start: Option<String>,
}

impl RawRemoval {
    fn into_entry(self) -> Result<RemovalEntry, JournalError> {
        Ok(RemovalEntry {
            id: self.id,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            removal: NewRemoval {
                tenant_id: self.tenant_id,
                profile: self.profile,
                object_type: object_type(&self.object_type),
                app_object_id: ObjectId::new(self.app_object_id),
                app_id: AppId::new(self.app_id),
                app_name: self.app_name,
                key_id: KeyId::new(self.key_id),
                credential_type: self.credential_type,
                credential_name: self.credential_name,
                end: opt_ts(self.end)?,
                last_sign_in: opt_ts(self.last_sign_in)?,
                last_use_known: self.last_use_known,
                last_valid: self.last_valid,
                operator: self.operator,
            },
            state: RemovalState::parse(&self.state)?,
            detail: self.detail,
            removed_key_ids: self
                .removed_key_ids
                .split(',')
                .filter(|k| !k.is_empty())
                .map(KeyId::new)
                .collect(),
            owner: self.owner_pid.map(|pid| ProcessOwner {
                pid,
                start: self.owner_start,
            }),
        })
    }
}

impl Journal {
    /// Record an approved removal, owned by this process, before anything is sent to Graph.
    pub fn create_removal(&self, e: &NewRemoval, now: DateTime<Utc>) -> Result<i64, JournalError> {
        let owner = ProcessOwner::current();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO removals (created_at, updated_at, tenant_id, profile, object_type, app_object_id, \
                 app_id, app_name, key_id, credential_type, credential_name, end_date, last_sign_in, \
                 last_use_known, last_valid, state, operator, owner_pid, owner_start) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    ts(now),
                    ts(now),
                    e.tenant_id,
                    e.profile,
                    object_type_str(e.object_type),
                    e.app_object_id.as_str(),
                    e.app_id.as_str(),
                    e.app_name,
                    e.key_id.as_str(),
                    e.credential_type,
                    e.credential_name,
                    e.end.map(ts),
                    e.last_sign_in.map(ts),
                    e.last_use_known,
                    e.last_valid,
                    RemovalState::Approved.as_str(),
                    e.operator,
                    owner.pid,
                    owner.start,
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })
    }

    /// Record how a removal ended; the row stops being owned.
    pub fn finish_removal(
        &self,
        id: i64,
        state: RemovalState,
        detail: Option<&str>,
        removed: &[KeyId],
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE removals SET state = ?2, detail = ?3, removed_key_ids = ?4, updated_at = ?5, \
                 owner_pid = NULL, owner_start = NULL WHERE id = ?1",
                params![
                    id,
                    state.as_str(),
                    detail,
                    removed.iter().map(KeyId::as_str).collect::<Vec<_>>().join(","),
                    ts(now)
                ],
            )?;
            if n == 0 {
                return Err(JournalError::NotFound(id));
            }
            Ok(())
        })
    }

    pub fn removal(&self, id: i64) -> Result<RemovalEntry, JournalError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM removals WHERE id = ?1"),
                params![id],
                from_row,
            )
            .optional()?
            .ok_or(JournalError::NotFound(id))?
            .into_entry()
        })
    }

    /// The newest removals first.
    pub fn removals(&self, limit: usize) -> Result<Vec<RemovalEntry>, JournalError> {
        self.query_removals(
            &format!("SELECT {COLUMNS} FROM removals ORDER BY id DESC LIMIT ?1"),
            params![limit as i64],
        )
    }

    /// Removals left `Approved` by a process that is no longer running: the next start reconciles them.
    pub fn interrupted_removals(&self) -> Result<Vec<RemovalEntry>, JournalError> {
        let all = self.query_removals(
            &format!("SELECT {COLUMNS} FROM removals WHERE state = 'Approved' ORDER BY id"),
            [],
        )?;
        Ok(all
            .into_iter()
            .filter(|e| e.owner.as_ref().is_none_or(|o| !o.is_alive()))
            .collect())
    }

    fn query_removals(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<RemovalEntry>, JournalError> {
        self.with(|c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map(params, from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?.into_entry()?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn removal() -> NewRemoval {
        NewRemoval {
            tenant_id: Some("t".into()),
            profile: Some("default".into()),
            object_type: ObjectType::Application,
            app_object_id: ObjectId::new("obj"),
            app_id: AppId::new("app"),
            app_name: "Backup Daemon".into(),
            key_id: KeyId::new("k1"),
            credential_type: "certificate".into(),
            credential_name: Some("cert".into()),
            end: Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()),
            last_sign_in: None,
            last_use_known: true,
            last_valid: false,
            operator: "op".into(),
        }
    }

    #[test]
    fn approved_then_removed_round_trips() {
        let j = Journal::in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap();
        let id = j.create_removal(&removal(), now).unwrap();
        let e = j.removal(id).unwrap();
        assert_eq!(e.state, RemovalState::Approved);
        assert_eq!(e.removal, removal());
        assert_eq!(e.owner, Some(ProcessOwner::current()));
        // Owned by this live process: not interrupted.
        assert!(j.interrupted_removals().unwrap().is_empty());
        j.finish_removal(
            id,
            RemovalState::Removed,
            None,
            &[KeyId::new("k1"), KeyId::new("k2")],
            now,
        )
        .unwrap();
        let e = j.removal(id).unwrap();
        assert_eq!(e.state, RemovalState::Removed);
        assert_eq!(e.removed_key_ids, vec![KeyId::new("k1"), KeyId::new("k2")]);
        assert_eq!(e.owner, None);
        assert_eq!(j.removals(10).unwrap().len(), 1);
        assert!(matches!(
            j.finish_removal(99, RemovalState::Failed, None, &[], now),
            Err(JournalError::NotFound(99))
        ));
    }

    #[test]
    fn an_approved_removal_of_a_dead_process_is_interrupted() {
        let j = Journal::in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap();
        let id = j.create_removal(&removal(), now).unwrap();
        j.with(|c| {
            c.execute(
                "UPDATE removals SET owner_pid = 999999999, owner_start = 'x' WHERE id = ?1",
                params![id],
            )?;
            Ok(())
        })
        .unwrap();
        let open = j.interrupted_removals().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].id, id);
    }
}
