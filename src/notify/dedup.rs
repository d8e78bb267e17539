//! What `keyturn notify` already sent, so a daily run does not repeat yesterday's message: one row per tenant,
//! object, credential (keyId), target and recipient, with the status it was sent at and when. A row is written only
//! after the target accepted the message, so a failed send is tried again at the next run.
//!
//! The file (`notify.sqlite` in the data dir) is created 0600 like the journal: it names apps and owners.
use super::message::Reason;
use crate::inventory::Status;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "notify.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(
        "cannot open the notification record {path}: {source}; check that the data dir (XDG_DATA_HOME) is writable"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the notification record: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no data dir for the notification record: {0}")]
    NoDataDir(String),
}

/// The key of one sent notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentKey<'a> {
    pub tenant: &'a str,
    pub object_id: &'a str,
    pub key_id: &'a str,
    pub target: &'a str,
    pub recipient: &'a str,
}

pub struct SentLog {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sent (
    tenant    TEXT NOT NULL,
    object_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    target    TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status    TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, object_id, key_id, target, recipient)
);";

impl SentLog {
    /// `<data dir>/notify.sqlite`.
    pub fn default_path() -> Result<PathBuf, DedupError> {
        crate::config::data_dir()
            .map(|d| d.join(FILE_NAME))
            .map_err(|e| DedupError::NoDataDir(e.to_string()))
    }

    pub fn open(path: &Path) -> Result<SentLog, DedupError> {
        // 0600 before SQLite opens it (its -wal and -shm take the database's mode).
        if let Err(e) = crate::store::private_fs::create_private_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot create the notification record 0600");
        }
        let conn = Connection::open(path).map_err(|source| DedupError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let log = Self::init(conn)?;
        crate::store::private_fs::restrict_sqlite(path);
        Ok(log)
    }

    pub fn in_memory() -> Result<SentLog, DedupError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SentLog, DedupError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SentLog { conn })
    }

    /// The status and time it was last sent at, if ever.
    pub fn last(&self, k: &SentKey) -> Result<Option<(Status, DateTime<Utc>)>, DedupError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT status, sent_at FROM sent WHERE tenant = ?1 AND object_id = ?2 AND key_id = ?3 \
                 AND target = ?4 AND recipient = ?5",
                params![k.tenant, k.object_id, k.key_id, k.target, k.recipient],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // A row this version cannot read counts as never sent: a repeat is better than silence.
        Ok(row.and_then(|(status, at)| {
            let status = Status::ALL.into_iter().find(|s| s.as_str() == status)?;
            let at = DateTime::parse_from_rfc3339(&at).ok()?.with_timezone(&Utc);
            Some((status, at))
        }))
    }

    /// Record that `status` was sent (after the target accepted it).
    pub fn record(&self, k: &SentKey, status: Status, at: DateTime<Utc>) -> Result<(), DedupError> {
        self.conn.execute(
            "INSERT INTO sent (tenant, object_id, key_id, target, recipient, status, sent_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (tenant, object_id, key_id, target, recipient) \
             DO UPDATE SET status = excluded.status, sent_at = excluded.sent_at",
            params![
                k.tenant,
                k.object_id,
                k.key_id,
                k.target,
                k.recipient,
                status.as_str(),
                at.to_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Whether to send `status` now, and why (see [`due`]).
    pub fn due(
        &self,
        k: &SentKey,
        status: Status,
        now: DateTime<Utc>,
        reminder_days: i64,
    ) -> Result<Option<Reason>, DedupError> {
        Ok(due(self.last(k)?, status, now, reminder_days))
    }
}

/// Send when never sent, when the status is worse than the one sent (ok < warning < critical < expired), or when
/// the last send is `reminder_days` or more ago.
pub fn due(
    last: Option<(Status, DateTime<Utc>)>,
    status: Status,
    now: DateTime<Utc>,
    reminder_days: i64,
) -> Option<Reason> {
    let Some((sent_status, sent_at)) = last else {
        return Some(Reason::New);
    };
    // `Status` orders worst first.
    if status < sent_status {
        return Some(Reason::Worse(sent_status));
    }
    if now - sent_at >= Duration::days(reminder_days) {
        return Some(Reason::Reminder);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 9, 0, 0).unwrap()
    }

    #[test]
    fn new_worse_reminder_or_nothing() {
        assert_eq!(due(None, Status::Warning, t(3), 7), Some(Reason::New));
        let sent = Some((Status::Warning, t(3)));
        assert_eq!(due(sent, Status::Warning, t(3), 7), None, "same day");
        assert_eq!(due(sent, Status::Warning, t(9), 7), None, "6 days later");
        assert_eq!(due(sent, Status::Warning, t(10), 7), Some(Reason::Reminder));
        assert_eq!(
            due(sent, Status::Critical, t(4), 7),
            Some(Reason::Worse(Status::Warning))
        );
        assert_eq!(
            due(Some((Status::Critical, t(3))), Status::Expired, t(4), 7),
            Some(Reason::Worse(Status::Critical))
        );
        // Better than sent (e.g. the thresholds were lowered): nothing until the reminder.
        assert_eq!(
            due(Some((Status::Critical, t(3))), Status::Warning, t(4), 7),
            None
        );
    }

    #[test]
    fn records_per_target_and_recipient_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/notify.sqlite");
        let log = SentLog::open(&path).unwrap();
        let k = |target, recipient| SentKey {
            tenant: "t",
            object_id: "o",
            key_id: "k",
            target,
            recipient,
        };
        assert_eq!(log.last(&k("teams", "channel")).unwrap(), None);
        log.record(&k("teams", "channel"), Status::Warning, t(3))
            .unwrap();
        assert_eq!(
            log.last(&k("teams", "channel")).unwrap(),
            Some((Status::Warning, t(3)))
        );
        assert_eq!(log.last(&k("mail", "a@contoso.com")).unwrap(), None);
        log.record(&k("teams", "channel"), Status::Critical, t(4))
            .unwrap();
        drop(log);
        let log = SentLog::open(&path).unwrap();
        assert_eq!(
            log.due(&k("teams", "channel"), Status::Critical, t(5), 7)
                .unwrap(),
            None
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
