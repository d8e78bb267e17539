//! The review record: sessions (who reviewed which apps of which tenant, when) and one decision per app, with the
//! facts shown when it was taken. SQLite beside the journal, private to the user like it.
use super::{Decision, ReviewFacts};
use crate::store::private_fs;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const REVIEW_FILE: &str = "reviews.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS review_sessions (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    signed_in_as TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    apps TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_decisions (
    session_id INTEGER NOT NULL REFERENCES review_sessions(id),
    app_object_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    decision TEXT NOT NULL,
    note TEXT,
    decided_at TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (session_id, app_object_id)
);
";

#[derive(Debug, thiserror::Error)]
pub enum ReviewStoreError {
    #[error("the review record {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the review record {path} (or its directory): {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("the review record {path} holds a value keyturn cannot read: {what}")]
    Corrupt { path: String, what: String },
    #[error("there is no review session {0}")]
    NoSession(i64),
    #[error("no review session has been recorded yet: start one with `keyturn review`")]
    NoSessions,
}

/// One review session: the apps in scope are fixed when it starts, so a resumed session walks the same list.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSession {
    pub id: i64,
    pub tenant_id: String,
    pub scope: String,
    pub reviewer: String,
    pub signed_in_as: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Object ids of the apps in scope, most urgent first.
    pub apps: Vec<String>,
}

/// One recorded decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub app_object_id: String,
    pub app_id: String,
    pub display_name: String,
    pub decision: Decision,
    pub note: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub reviewer: String,
    pub facts: ReviewFacts,
}

pub struct ReviewStore {
    conn: Connection,
    path: String,
}

impl ReviewStore {
    /// Open (creating) the record at `path`; the file is made 0600.
    pub fn open(path: &Path) -> Result<Self, ReviewStoreError> {
        let shown = path.display().to_string();
        // 0600 from the start, in a 0700 directory, like the journal.
        private_fs::create_private_file(path).map_err(|source| ReviewStoreError::Dir {
            path: shown.clone(),
            source,
        })?;
        let sql = |source| ReviewStoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        private_fs::restrict_sqlite(path);
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.execute_batch("PRAGMA foreign_keys=ON;").map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Self { conn, path: shown })
    }

    /// The record beside the journal.
    pub fn default_path(journal: &Path) -> PathBuf {
        journal
            .parent()
            .map_or_else(|| PathBuf::from(REVIEW_FILE), |d| d.join(REVIEW_FILE))
    }

    fn sql(&self, source: rusqlite::Error) -> ReviewStoreError {
        ReviewStoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: String) -> ReviewStoreError {
        ReviewStoreError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    pub fn start(
        &self,
        tenant_id: &str,
        scope: &str,
        reviewer: &str,
        signed_in_as: &str,
        now: DateTime<Utc>,
        apps: &[String],
    ) -> Result<ReviewSession, ReviewStoreError> {
        let apps_json = serde_json::to_string(apps).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO review_sessions (tenant_id, scope, reviewer, signed_in_as, started_at, apps)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tenant_id, scope, reviewer, signed_in_as, now.to_rfc3339(), apps_json],
            )
            .map_err(|e| self.sql(e))?;
        self.session(self.conn.last_insert_rowid())
    }

    /// The latest unfinished session of this tenant and scope, to resume.
    pub fn unfinished(
        &self,
        tenant_id: &str,
        scope: &str,
    ) -> Result<Option<ReviewSession>, ReviewStoreError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM review_sessions WHERE tenant_id = ?1 AND scope = ?2 AND finished_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                params![tenant_id, scope],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        id.map(|id| self.session(id)).transpose()
    }

    pub fn latest_id(&self) -> Result<i64, ReviewStoreError> {
        self.conn
            .query_row("SELECT MAX(id) FROM review_sessions", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(|e| self.sql(e))?
            .ok_or(ReviewStoreError::NoSessions)
    }

    pub fn session(&self, id: i64) -> Result<ReviewSession, ReviewStoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT tenant_id, scope, reviewer, signed_in_as, started_at, finished_at, apps
                 FROM review_sessions WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.sql(e))?
            .ok_or(ReviewStoreError::NoSession(id))?;
        let (tenant_id, scope, reviewer, signed_in_as, started, finished, apps) = row;
        Ok(ReviewSession {
            id,
            tenant_id,
            scope,
            reviewer,
            signed_in_as,
            started_at: self.time(&started)?,
            finished_at: finished.map(|f| self.time(&f)).transpose()?,
            apps: serde_json::from_str(&apps)
                .map_err(|e| self.corrupt(format!("the apps of session {id}: {e}")))?,
        })
    }

    fn time(&self, s: &str) -> Result<DateTime<Utc>, ReviewStoreError> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| self.corrupt(format!("the date {s:?}: {e}")))
    }

    /// Record (or replace) the decision on one app.
    pub fn decide(&self, session: i64, d: &DecisionRecord) -> Result<(), ReviewStoreError> {
        let facts = serde_json::to_string(&d.facts).unwrap_or_else(|_| "{}".into());
        self.conn
            .execute(
                "INSERT OR REPLACE INTO review_decisions
                 (session_id, app_object_id, app_id, display_name, decision, note, decided_at, reviewer, facts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    session,
                    d.app_object_id,
                    d.app_id,
                    d.display_name,
                    d.decision.as_str(),
                    d.note,
                    d.decided_at.to_rfc3339(),
                    d.reviewer,
                    facts
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    pub fn finish(&self, session: i64, now: DateTime<Utc>) -> Result<(), ReviewStoreError> {
        self.conn
            .execute(
                "UPDATE review_sessions SET finished_at = ?2 WHERE id = ?1",
                params![session, now.to_rfc3339()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The decisions of a session, in the order they were taken.
    pub fn decisions(&self, session: i64) -> Result<Vec<DecisionRecord>, ReviewStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT app_object_id, app_id, display_name, decision, note, decided_at, reviewer, facts
                 FROM review_decisions WHERE session_id = ?1 ORDER BY decided_at, rowid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![session], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(
                |(object_id, app_id, name, decision, note, at, reviewer, facts)| {
                    Ok(DecisionRecord {
                        decision: Decision::parse(&decision)
                            .ok_or_else(|| self.corrupt(format!("the decision {decision:?}")))?,
                        facts: serde_json::from_str(&facts)
                            .map_err(|e| self.corrupt(format!("the facts of {object_id}: {e}")))?,
                        decided_at: self.time(&at)?,
                        app_object_id: object_id,
                        app_id,
                        display_name: name,
                        note,
                        reviewer,
                    })
                },
            )
            .collect()
    }
}
