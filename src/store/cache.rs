//! The per-tenant inventory cache: the last inventory seen, with the delta links that bring it up to date.
//!
//! It lives in its own file beside the journal, so that a damaged cache can be thrown away without ever touching
//! the journal. It holds Graph objects (ids, names, credential metadata) and never a secret value: Graph does not
//! return values outside `addPassword`, and those never reach this type.
use crate::graph::{Application, ObjectType, ServicePrincipal};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

pub const CACHE_FILE: &str = "inventory-cache.sqlite";
/// Bumped when the stored shape changes; an older cache is discarded, never misread.
const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("inventory cache {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("inventory cache {path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

/// What a cache holds for one tenant.
#[derive(Debug, Clone)]
pub struct CachedInventory {
    pub saved_at: DateTime<Utc>,
    pub applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub application_delta: Option<String>,
    pub service_principal_delta: Option<String>,
}

/// The list as it was last shown, for a warm start.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub entries: Vec<crate::inventory::Entry>,
    pub saved_at: DateTime<Utc>,
}

pub struct InventoryCache {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for InventoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryCache")
            .field("path", &self.path)
            .finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cache_meta (
    scope TEXT PRIMARY KEY,
    saved_at TEXT NOT NULL,
    application_delta TEXT,
    service_principal_delta TEXT
);
CREATE TABLE IF NOT EXISTS cache_snapshot (
    scope TEXT PRIMARY KEY,
    saved_at TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cache_last_use (
    scope TEXT NOT NULL,
    object_id TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, object_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache_objects (
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, kind, id)
) WITHOUT ROWID;
";

fn kind_key(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::Application => "application",
        ObjectType::ServicePrincipal => "servicePrincipal",
    }
}

impl InventoryCache {
    /// The cache file in the data dir.
    pub fn default_path() -> Option<PathBuf> {
        crate::config::data_dir().ok().map(|d| d.join(CACHE_FILE))
    }

    /// Open the cache at `path`. A file that is not a readable cache of this version is deleted and started anew;
    /// the warning says so (the caller shows it), and the inventory simply loads in full.
    pub fn open(path: &Path) -> Result<(InventoryCache, Option<String>), CacheError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::private_fs::create_private_dir(dir).map_err(|e| CacheError::Io {
                path: dir.to_path_buf(),
                detail: e.to_string(),
            })?;
        }
        match Self::try_open(path) {
            Ok(c) => Ok((c, None)),
            Err(e) => {
                let warning = format!(
                    "the inventory cache {} was unreadable ({e}); discarded it, loading the full inventory",
                    path.display()
                );
                tracing::warn!("{warning}");
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
                let c = Self::try_open(path).map_err(|source| CacheError::Sqlite {
                    path: path.to_path_buf(),
                    source,
                })?;
                Ok((c, Some(warning)))
            }
        }
    }

    fn try_open(path: &Path) -> Result<InventoryCache, rusqlite::Error> {
        // 0600 before SQLite opens it (its -wal and -shm take the database's mode).
        if let Err(e) = super::private_fs::create_private_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot create the inventory cache 0600");
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 && version != SCHEMA_VERSION {
            return Err(rusqlite::Error::InvalidQuery);
        }
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        // Reading the meta table proves the file is a database and not damaged at its start.
        conn.query_row("SELECT count(*) FROM cache_meta", [], |r| {
            r.get::<_, i64>(0)
        })?;
        super::private_fs::restrict_sqlite(path);
        Ok(InventoryCache {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> CacheError {
        CacheError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The cached inventory of `scope`, if any. A row that no longer parses makes the whole scope count as absent.
    pub fn load(&self, scope: &str) -> Result<Option<CachedInventory>, CacheError> {
        let meta = self
            .conn
            .query_row(
                "SELECT saved_at, application_delta, service_principal_delta FROM cache_meta WHERE scope = ?1",
                params![scope],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((saved_at, application_delta, service_principal_delta)) = meta else {
            return Ok(None);
        };
        let Ok(saved_at) = DateTime::parse_from_rfc3339(&saved_at) else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, body FROM cache_objects WHERE scope = ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![scope]).map_err(|e| self.err(e))?;
        let mut app_bodies = Vec::new();
        let mut sp_bodies = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let kind: String = row.get(0).map_err(|e| self.err(e))?;
            let body: String = row.get(1).map_err(|e| self.err(e))?;
            if kind == "application" {
                app_bodies.push(body);
            } else {
                sp_bodies.push(body);
            }
        }
        // Parsing is most of a warm start at 50,000 apps: spread it over the cores.
        let (Some(applications), Some(service_principals)) =
            (parse_all(&app_bodies), parse_all(&sp_bodies))
        else {
            tracing::warn!(
                scope,
                "a cached object no longer parses; ignoring the cache"
            );
            return Ok(None);
        };
        Ok(Some(CachedInventory {
            saved_at: saved_at.with_timezone(&Utc),
            applications,
            service_principals,
            application_delta,
            service_principal_delta,
        }))
    }

    /// Replace everything of `scope` in one transaction.
    pub fn replace(&mut self, scope: &str, inv: &CachedInventory) -> Result<(), CacheError> {
        let path = self.path.clone();
        let err = |source| CacheError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM cache_objects WHERE scope = ?1", params![scope])
            .map_err(err)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO cache_objects (scope, kind, id, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for a in &inv.applications {
                let body = serde_json::to_string(a).unwrap_or_default();
                ins.execute(params![scope, "application", a.id.as_str(), body])
                    .map_err(err)?;
            }
            for s in &inv.service_principals {
                let body = serde_json::to_string(s).unwrap_or_default();
                ins.execute(params![scope, "servicePrincipal", s.id.as_str(), body])
                    .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO cache_meta (scope, saved_at, application_delta, service_principal_delta) VALUES (?1, ?2, ?3, ?4)",
            params![
                scope,
                inv.saved_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                inv.application_delta,
                inv.service_principal_delta
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Apply one object type's delta round: upsert `changed` (full objects), delete `removed` ids, store the new
    /// delta link, in one transaction.
    pub fn apply_delta(
        &mut self,
        scope: &str,
        kind: ObjectType,
        changed: &[(String, String)],
        removed: &[String],
        delta_link: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        let path = self.path.clone();
        let err = |source| CacheError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO cache_objects (scope, kind, id, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (id, body) in changed {
                up.execute(params![scope, kind_key(kind), id, body])
                    .map_err(err)?;
            }
            let mut del = tx
                .prepare_cached(
                    "DELETE FROM cache_objects WHERE scope = ?1 AND kind = ?2 AND id = ?3",
                )
                .map_err(err)?;
            for id in removed {
                del.execute(params![scope, kind_key(kind), id])
                    .map_err(err)?;
            }
        }
        let column = match kind {
            ObjectType::Application => "application_delta",
            ObjectType::ServicePrincipal => "service_principal_delta",
        };
        tx.execute(
            &format!("UPDATE cache_meta SET {column} = ?2, saved_at = ?3 WHERE scope = ?1"),
            params![
                scope,
                delta_link,
                now.to_rfc3339_opts(SecondsFormat::Millis, true)
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// One cached object's JSON, for merging a partial delta item over it.
    pub fn object(
        &self,
        scope: &str,
        kind: ObjectType,
        id: &str,
    ) -> Result<Option<String>, CacheError> {
        self.conn
            .query_row(
                "SELECT body FROM cache_objects WHERE scope = ?1 AND kind = ?2 AND id = ?3",
                params![scope, kind_key(kind), id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The inventory as the list shows it, in one compact blob: what a warm start reads before anything else.
    /// The Graph objects (needed to merge the next delta) are read afterwards, behind the first frame.
    pub fn save_snapshot(
        &self,
        scope: &str,
        entries: &[crate::inventory::Entry],
        saved_at: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.save_snapshot_from(scope, entries.len(), || entries.iter(), saved_at)
    }

    /// [`save_snapshot`](Self::save_snapshot) of `count` entries made one at a time (from the Graph objects, say),
    /// so that the list never exists twice: `entries` is walked twice, once to size the blob and once to write
    /// each entry's encoding straight into it (SQLite's incremental blob I/O: no encoded copy of the whole list in
    /// memory either). The bytes are those of the list encoded whole.
    pub fn save_snapshot_from<E, I>(
        &self,
        scope: &str,
        count: usize,
        entries: impl Fn() -> I,
        saved_at: DateTime<Utc>,
    ) -> Result<(), CacheError>
    where
        E: std::borrow::Borrow<crate::inventory::Entry>,
        I: Iterator<Item = E>,
    {
        let io = |detail: String| CacheError::Io {
            path: self.path.clone(),
            detail: format!("cannot encode the inventory snapshot: {detail}"),
        };
        let size = encode_snapshot(count, entries(), &mut std::io::sink()).map_err(io)?;
        let blob_size = i32::try_from(size).map_err(|_| io(format!("{size} bytes")))?;
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO cache_snapshot (scope, saved_at, body) VALUES (?1, ?2, ?3)",
            params![
                scope,
                saved_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                rusqlite::blob::ZeroBlob(blob_size)
            ],
        )
        .map_err(|e| self.err(e))?;
        let row = tx.last_insert_rowid();
        {
            let mut blob = tx
                .blob_open("main", "cache_snapshot", "body", row, false)
                .map_err(|e| self.err(e))?;
            let written = encode_snapshot(count, entries(), &mut blob).map_err(io)?;
            if written != size {
                return Err(io(format!("{written} bytes where {size} were sized")));
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// The snapshot of `scope` and when it was saved; `None` when there is none or it no longer decodes.
    pub fn load_snapshot(&self, scope: &str) -> Result<Option<Snapshot>, CacheError> {
        let row = self
            .conn
            .query_row(
                "SELECT saved_at, body FROM cache_snapshot WHERE scope = ?1",
                params![scope],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((saved_at, body)) = row else {
            return Ok(None);
        };
        let (Ok(saved_at), Ok(entries)) = (
            DateTime::parse_from_rfc3339(&saved_at),
            postcard::from_bytes::<Vec<crate::inventory::Entry>>(&body),
        ) else {
            tracing::warn!(
                scope,
                "the inventory snapshot no longer decodes; ignoring it"
            );
            return Ok(None);
        };
        Ok(Some(Snapshot {
            entries,
            saved_at: saved_at.with_timezone(&Utc),
        }))
    }

    /// Last-use facts of one app (JSON written by the layer that owns their type), kept beside the inventory so a
    /// warm start shows them at once; the selected app's are refreshed lazily and written again.
    pub fn save_last_use(
        &self,
        scope: &str,
        object_id: &str,
        body: &str,
        saved_at: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cache_last_use (scope, object_id, saved_at, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    scope,
                    object_id,
                    saved_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    body
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every app's cached last-use facts in `scope`: (object id, saved at, JSON). Rows with a bad date are skipped.
    pub fn load_last_use(
        &self,
        scope: &str,
    ) -> Result<Vec<(String, DateTime<Utc>, String)>, CacheError> {
        let mut stmt = self
            .conn
            .prepare("SELECT object_id, saved_at, body FROM cache_last_use WHERE scope = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![scope], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, body) = row.map_err(|e| self.err(e))?;
            if let Ok(at) = DateTime::parse_from_rfc3339(&at) {
                out.push((id, at.with_timezone(&Utc), body));
            }
        }
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// postcard's encoding of a `Vec<Entry>` (the length as a varint, then each entry) written to `out` one entry at a
/// time; the number of bytes written.
fn encode_snapshot<E: std::borrow::Borrow<crate::inventory::Entry>>(
    count: usize,
    entries: impl Iterator<Item = E>,
    out: &mut impl std::io::Write,
) -> Result<usize, String> {
    let mut scratch = postcard::to_allocvec(&count).map_err(|e| e.to_string())?;
    out.write_all(&scratch).map_err(|e| e.to_string())?;
    let mut size = scratch.len();
    let mut written = 0usize;
    for e in entries {
        scratch.clear();
        scratch = postcard::to_extend(e.borrow(), scratch).map_err(|e| e.to_string())?;
        out.write_all(&scratch).map_err(|e| e.to_string())?;
        size += scratch.len();
        written += 1;
    }
    if written != count {
        return Err(format!("{written} entries where {count} were announced"));
    }
    Ok(size)
}

/// Parse every body, in as many threads as there are cores; `None` when any one fails.
fn parse_all<T: serde::de::DeserializeOwned + Send>(bodies: &[String]) -> Option<Vec<T>> {
    crate::parallel::map_chunks(bodies, |chunk| {
        chunk
            .iter()
            .map(|b| serde_json::from_str::<T>(b).ok())
            .collect::<Option<Vec<T>>>()
    })
    .into_iter()
    .collect::<Option<Vec<Vec<T>>>>()
    .map(|parts| parts.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Application, PasswordCredential};

    fn app(i: usize) -> crate::inventory::Entry {
        crate::inventory::Entry::from_application(Application {
            id: crate::graph::ObjectId::new(format!("o{i}")),
            app_id: crate::graph::AppId::new(format!("a{i}")),
            display_name: Some(format!("app {i} \u{202e}")),
            created_date_time: None,
            sign_in_audience: None,
            password_credentials: (0..i % 3)
                .map(|n| PasswordCredential {
                    key_id: crate::graph::KeyId::new(format!("k{i}-{n}")),
                    display_name: Some(format!("secret {n}")),
                    hint: Some("abc".into()),
                    start_date_time: DateTime::from_timestamp(1_700_000_000 + n as i64, 1234567),
                    end_date_time: DateTime::from_timestamp(1_800_000_000 + i as i64, 0),
                    custom_key_identifier: None,
                })
                .collect(),
            key_credentials: Vec::new(),
        })
    }

    #[test]
    fn a_snapshot_written_entry_by_entry_is_the_list_encoded_whole() {
        for n in [0, 1, 127, 128, 300] {
            let entries: Vec<_> = (0..n).map(app).collect();
            let whole = postcard::to_allocvec(&entries).unwrap();
            let mut streamed = Vec::new();
            let size = encode_snapshot(n, (0..n).map(app), &mut streamed).unwrap();
            assert_eq!(streamed, whole, "{n} entries");
            assert_eq!(size, whole.len());
            assert_eq!(
                postcard::from_bytes::<Vec<crate::inventory::Entry>>(&streamed).unwrap(),
                entries
            );
        }
        assert!(encode_snapshot(3, (0..2).map(app), &mut Vec::new()).is_err());
        assert!(encode_snapshot(1, (0..2).map(app), &mut Vec::new()).is_err());
    }

    #[test]
    fn a_streamed_snapshot_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = InventoryCache::open(&dir.path().join("c.sqlite")).unwrap();
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        cache
            .save_snapshot_from("s", 200, || (0..200).map(app), now)
            .unwrap();
        let raw: Vec<u8> = cache
            .conn
            .query_row(
                "SELECT body FROM cache_snapshot WHERE scope = 's'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let whole = postcard::to_allocvec(&(0..200).map(app).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            raw, whole,
            "the blob written in place is the list encoded whole"
        );
        // Written again over the old row, and beside another scope's.
        cache
            .save_snapshot_from("s", 3, || (0..3).map(app), now)
            .unwrap();
        cache.save_snapshot("t", &[app(7)], now).unwrap();
        assert_eq!(
            cache.load_snapshot("s").unwrap().unwrap().entries,
            (0..3).map(app).collect::<Vec<_>>()
        );
        assert_eq!(
            cache.load_snapshot("t").unwrap().unwrap().entries,
            vec![app(7)]
        );
        cache
            .save_snapshot_from("s", 200, || (0..200).map(app), now)
            .unwrap();
        let snap = cache.load_snapshot("s").unwrap().unwrap();
        assert_eq!(snap.entries, (0..200).map(app).collect::<Vec<_>>());
        assert_eq!(snap.saved_at, now);
    }
}
