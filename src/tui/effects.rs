//! The one place that calls Graph for the TUI. Each kind of job is single-flight (gitui's AsyncSingleJob): a new
//! request aborts the one still running or still waiting out its debounce, so scrolling through 50,000 rows sends
//! one owners request for the row the operator stops on, not one per row passed.
use super::app::{AuditRequest, DetailRequest, Effect};
use super::event::{
    AuditLoaded, Event, InventoryCached, InventoryLoaded, InventoryPage, OwnersLoaded,
};
use crate::graph::{GraphClient, KeyId};
use crate::inventory::load::{LoadOptions, load_streaming};
use crate::inventory::sync;
use crate::keyvault::KeyVaultSecrets;
use crate::store::cache::InventoryCache;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

mod rotation;
pub use rotation::RotationService;

pub struct Runner {
    graph: GraphClient,
    tx: UnboundedSender<Event>,
    /// The profile's vaults, read for "stored in" (secrets tagged `CredentialId`) whenever the inventory loads.
    vaults: Option<(KeyVaultSecrets, Vec<String>)>,
    vault_index: Option<JoinHandle<()>>,
    /// The inventory cache file and this tenant's scope in it: loads start from it and refresh it with deltas.
    cache: Option<(PathBuf, String)>,
    /// The profile's window for "unused" credentials.
    unused_days: i64,
    inventory: Option<JoinHandle<()>>,
    owners: Option<JoinHandle<()>>,
    audit: Option<JoinHandle<()>>,
    changes: Option<JoinHandle<()>>,
    /// What the change feed reads besides Graph: keyturn's journal (byKeyturn) and the profile's maximum lifetime.
    audit_settings: AuditSettings,
    rotation: rotation::RotationJobs,
}

/// The change feed's inputs besides Graph.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    pub journal_path: Option<PathBuf>,
    pub max_lifetime_days: Option<i64>,
}

impl Runner {
    /// `graph` should already report throttling notices into `tx` (see `with_notifier`).
    pub fn new(graph: GraphClient, tx: UnboundedSender<Event>) -> Self {
        Self {
            graph,
            tx,
            vaults: None,
            vault_index: None,
            cache: None,
            unused_days: crate::impact::DEFAULT_UNUSED_DAYS,
            inventory: None,
            owners: None,
            audit: None,
            changes: None,
            audit_settings: AuditSettings::default(),
            rotation: rotation::RotationJobs::default(),
        }
    }

    pub fn with_audit(mut self, settings: AuditSettings) -> Self {
        self.audit_settings = settings;
        self
    }

    pub fn with_vaults(mut self, secrets: KeyVaultSecrets, vault_urls: Vec<String>) -> Self {
        if !vault_urls.is_empty() {
            self.vaults = Some((secrets, vault_urls));
        }
        self
    }

    /// The profile's `unused_days`.
    pub fn with_unused_days(mut self, days: i64) -> Self {
        self.unused_days = days;
        self
    }

    /// Start every load from the cache at `path` (this tenant's `scope` in it) and keep it up to date.
    pub fn with_cache(mut self, path: PathBuf, scope: String) -> Self {
        self.cache = Some((path, scope));
        self
    }

    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::LoadInventory {
                generation,
                service_principals,
            } => {
                self.spawn_vault_index();
                abort(&mut self.inventory);
                let (graph, tx) = (self.graph.clone(), self.tx.clone());
                let opts = LoadOptions { service_principals };
                self.inventory = Some(tokio::spawn(load_inventory(
                    graph,
                    tx,
                    self.cache.clone(),
                    generation,
                    opts,
                )));
            }
            Effect::LoadDetail { owners, audit } => {
                if let Some(r) = owners {
                    abort(&mut self.owners);
                    self.owners = Some(self.spawn_owners(r));
                }
                if let Some(r) = audit {
                    abort(&mut self.audit);
                    self.audit = Some(self.spawn_audit(r));
                }
            }
            Effect::LoadChanges { days } => {
                abort(&mut self.changes);
                self.changes = Some(self.spawn_changes(days));
            }
            rotation_effect => self.run_rotation(rotation_effect),
        }
    }

    fn spawn_owners(&self, r: DetailRequest) -> JoinHandle<()> {
        let (graph, tx) = (self.graph.clone(), self.tx.clone());
        let unused_days = self.unused_days;
        let cache = self.cache.clone();
        tokio::spawn(async move {
            if !r.delay.is_zero() {
                tokio::time::sleep(r.delay).await;
            }
            let (result, facts) = tokio::join!(
                graph.owners(r.object_type, &r.object_id),
                crate::impact::facts(&graph, &r.app_id, unused_days)
            );
            let _ = tx.send(Event::ImpactLoaded(super::event::ImpactLoaded {
                object_id: r.object_id.clone(),
                facts: facts.clone(),
            }));
            if let Some((path, scope)) = cache {
                let id = r.object_id.to_string();
                let _ =
                    tokio::task::spawn_blocking(move || save_last_use(&path, &scope, &id, &facts))
                        .await;
            }
            if let Err(e) = &result {
                tracing::warn!(object = %r.object_id, error = %e, "owners failed");
            }
            let _ = tx.send(Event::OwnersLoaded(OwnersLoaded {
                request: r.id,
                object_id: r.object_id,
                result: result.map_err(Into::into),
            }));
        })
    }

    /// The change feed, through the same engine as `keyturn audit` (source graph).
    fn spawn_changes(&self, days: i64) -> JoinHandle<()> {
        let (graph, tx) = (self.graph.clone(), self.tx.clone());
        let settings = self.audit_settings.clone();
        tokio::spawn(async move {
            let journal = settings
                .journal_path
                .filter(|p| p.exists())
                .and_then(|p| crate::store::Journal::open(&p).ok())
                .and_then(|j| j.list(10_000).ok())
                .unwrap_or_default();
            let opts = crate::audit::CollectOptions {
                now: chrono::Utc::now(),
                days,
                source: crate::audit::Source::Graph,
                policy: crate::audit::FindingPolicy {
                    max_lifetime_days: settings.max_lifetime_days,
                    ..Default::default()
                },
                journal: &journal,
                office365: None,
            };
            let result = crate::audit::collect(&graph, opts)
                .await
                .map_err(|e| match e {
                    crate::audit::AuditError::Graph(g) => g.into(),
                    other => super::event::LoadError {
                        short: "unavailable",
                        message: other.to_string(),
                    },
                });
            if let Err(e) = &result {
                tracing::warn!(error = %e.message, "change feed failed");
            }
            let _ = tx.send(Event::ChangesLoaded(result));
        })
    }

    fn spawn_audit(&self, a: AuditRequest) -> JoinHandle<()> {
        let (graph, tx) = (self.graph.clone(), self.tx.clone());
        tokio::spawn(async move {
            let r = a.request;
            if !r.delay.is_zero() {
                tokio::time::sleep(r.delay).await;
            }
            let result = graph.audit_events(&r.object_id, a.since).await;
            if let Err(e) = &result {
                tracing::warn!(object = %r.object_id, error = %e, "audit events failed");
            }
            let _ = tx.send(Event::AuditLoaded(AuditLoaded {
                request: r.id,
                object_id: r.object_id,
                result: result.map_err(Into::into),
            }));
        })
    }

    /// List the configured vaults' secrets and report which keyId each one holds. A vault that cannot be listed
    /// only costs its "stored in" entries: the reason goes to the log, the rest of the TUI is unaffected.
    fn spawn_vault_index(&mut self) {
        let Some((secrets, urls)) = self.vaults.clone() else {
            return;
        };
        abort(&mut self.vault_index);
        let tx = self.tx.clone();
        self.vault_index = Some(tokio::spawn(async move {
            let mut found = Vec::new();
            for url in &urls {
                match secrets.list_secrets(url).await {
                    Ok(list) => found.extend(list),
                    Err(e) => {
                        tracing::warn!(vault = %url, error = %e, "cannot list vault secrets for \"stored in\"")
                    }
                }
            }
            let locations = crate::keyvault::mapping::stored_in_index(&found)
                .into_iter()
                .map(|(key, target)| (key, short_location(&target.vault_url, &target.name)))
                .collect::<Vec<(KeyId, String)>>();
            let _ = tx.send(Event::StoredIn(locations));
        }));
    }

    pub fn shutdown(&mut self) {
        abort(&mut self.vault_index);
        abort(&mut self.inventory);
        abort(&mut self.owners);
        abort(&mut self.audit);
        self.rotation.shutdown();
    }
}

fn abort(job: &mut Option<JoinHandle<()>>) {
    if let Some(h) = job.take() {
        h.abort();
    }
}

/// `https://kv-payroll.vault.azure.net` + `payroll-sync` -> `kv-payroll/payroll-sync`: the vault's name is what
/// admins call it; a vault on an IP (the emulator) keeps host and port.
pub fn short_location(vault_url: &str, name: &str) -> String {
    let parsed = url::Url::parse(vault_url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or(vault_url);
    let vault = match host.split_once(".vault.") {
        Some((vault, _)) => vault.to_string(),
        None => match parsed.as_ref().and_then(|u| u.port()) {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        },
    };
    format!("{vault}/{name}")
}

/// Load the inventory, streaming pages into the list. With a cache (real tenants) the load starts from it: the
/// cached list is shown at once, then brought up to date with delta queries (or a full load when there is no usable
/// delta link), and the cache is rewritten. A cache that cannot be opened or read only costs the warm start.
async fn load_inventory(
    graph: GraphClient,
    tx: UnboundedSender<Event>,
    cache: Option<(PathBuf, String)>,
    generation: u64,
    opts: LoadOptions,
) {
    let pages = tx.clone();
    let on_page = move |entries, progress| {
        let _ = pages.send(Event::InventoryPage(InventoryPage {
            generation,
            entries,
            progress,
        }));
    };
    tracing::info!(
        generation,
        ?opts,
        cached = cache.is_some(),
        "loading inventory"
    );
    let (result, save) = match cache {
        Some((path, scope)) => {
            match load_with_cache(&graph, &tx, path, scope, generation, opts, on_page).await {
                Ok((total, save)) => (Ok(total), save),
                Err(e) => (Err(e), None),
            }
        }
        None => (load_streaming(&graph, opts, on_page).await, None),
    };
    if let Err(e) = &result {
        tracing::warn!(error = %e, "inventory load failed");
    }
    let _ = tx.send(Event::InventoryLoaded(InventoryLoaded {
        generation,
        result: result.map_err(Into::into),
    }));
    // The cache is written after the list is complete on screen: the operator never waits for the disk.
    if let Some(save) = save {
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(save).await {
            Ok(()) => tracing::info!(
                ms = started.elapsed().as_millis(),
                "inventory cache written"
            ),
            Err(e) => tracing::warn!(error = %e, "the inventory cache write did not finish"),
        }
    }
}

/// Keep an app's last-use facts in the inventory cache (a failure costs only the next warm start's facts).
fn save_last_use(
    path: &std::path::Path,
    scope: &str,
    object_id: &str,
    facts: &crate::impact::ImpactFacts,
) {
    let saved = serde_json::to_string(facts)
        .map_err(|e| e.to_string())
        .and_then(|body| {
            let (cache, _) = InventoryCache::open(path).map_err(|e| e.to_string())?;
            cache
                .save_last_use(scope, object_id, &body, chrono::Utc::now())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        tracing::warn!(error = %e, "could not cache last-use facts");
    }
}

/// The cached last-use facts of `scope`, as the events a lazy load would send.
fn cached_last_use(cache: &InventoryCache, scope: &str) -> Vec<super::event::ImpactLoaded> {
    let rows = cache.load_last_use(scope).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cached last-use facts unreadable");
        Vec::new()
    });
    rows.into_iter()
        .filter_map(|(id, _, body)| {
            let facts = serde_json::from_str(&body).ok()?;
            Some(super::event::ImpactLoaded {
                object_id: crate::graph::ObjectId::new(id),
                facts,
            })
        })
        .collect()
}

/// Writing a full load to the cache, to run once the operator has the list.
type CacheSave = Box<dyn FnOnce() + Send>;

async fn load_with_cache(
    graph: &GraphClient,
    tx: &UnboundedSender<Event>,
    path: PathBuf,
    scope: String,
    generation: u64,
    opts: LoadOptions,
    on_page: impl FnMut(Vec<crate::inventory::Entry>, crate::inventory::load::Progress),
) -> Result<(usize, Option<CacheSave>), crate::graph::GraphError> {
    // First the snapshot (one blob, no date text to parse): the first frame. Then the Graph objects that the delta
    // merge needs, behind that frame.
    let read_scope = scope.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let (cache, warning) = InventoryCache::open(&path)?;
        let snapshot = cache.load_snapshot(&read_scope)?;
        let last_use = if snapshot.is_some() {
            cached_last_use(&cache, &read_scope)
        } else {
            Vec::new()
        };
        Ok::<_, crate::store::cache::CacheError>((cache, warning, snapshot, last_use))
    })
    .await;
    let cache = match opened {
        Ok(Ok((cache, warning, snapshot, last_use))) => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            if let Some(snap) = snapshot {
                let _ = tx.send(Event::InventoryCached(InventoryCached {
                    generation,
                    entries: sync::snapshot_entries(snap.entries, opts),
                    saved_at: snap.saved_at,
                }));
                // Last use as it was cached, until the selected app's is read again.
                for facts in last_use {
                    let _ = tx.send(Event::ImpactLoaded(facts));
                }
            }
            Some(cache)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "inventory cache unusable; loading without it");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "inventory cache task failed; loading without it");
            None
        }
    };
    let read_scope = scope.clone();
    let (mut cache, previous) = match cache {
        Some(cache) => tokio::task::spawn_blocking(move || {
            let previous = cache.load(&read_scope).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cached objects unreadable; loading in full");
                None
            });
            (Some(cache), previous)
        })
        .await
        .unwrap_or((None, None)),
        None => (None, None),
    };
    let refreshed = sync::refresh_deferred(
        graph,
        cache.as_mut(),
        &scope,
        previous,
        opts,
        chrono::Utc::now(),
        on_page,
    )
    .await?;
    tracing::info!(how = ?refreshed.how, "inventory refreshed");
    if refreshed.needs_save
        && let Some(mut cache) = cache
    {
        // A full load streamed its pages already: the list needs nothing more from it.
        let total = refreshed.count(opts);
        let save: CacheSave = Box::new(move || {
            if let Err(e) = refreshed.save(&mut cache, &scope) {
                tracing::warn!(error = %e, "could not save the inventory cache");
            }
        });
        return Ok((total, Some(save)));
    }
    // A full load without a usable cache streamed its pages already.
    let sync::SyncKind::Delta { .. } = refreshed.how else {
        return Ok((refreshed.count(opts), None));
    };
    let entries = sync::snapshot_entries(refreshed.entries, opts);
    let total = entries.len();
    // A delta round streams nothing while it runs: hand over the whole refreshed list as one page.
    let _ = tx.send(Event::InventoryPage(InventoryPage {
        generation,
        entries,
        progress: crate::inventory::load::Progress::Page {
            kind: crate::graph::ObjectType::Application,
            page: 1,
            items: total,
            total_so_far: total,
            more: false,
        },
    }));
    Ok((total, None))
}

#[cfg(test)]
mod tests {
    use super::short_location;

    #[test]
    fn vault_names_are_short() {
        assert_eq!(
            short_location("https://kv-payroll.vault.azure.net", "payroll-sync"),
            "kv-payroll/payroll-sync"
        );
        assert_eq!(
            short_location("https://127.0.0.1:8443", "demo"),
            "127.0.0.1:8443/demo"
        );
    }
}
