//! The one place that calls Graph for the TUI. Each kind of job is single-flight (gitui's AsyncSingleJob): a new
//! request aborts the one still running or still waiting out its debounce, so scrolling through 50,000 rows sends
//! one owners request for the row the operator stops on, not one per row passed.
use super::app::{AuditRequest, DetailRequest, Effect};
use super::event::{AuditLoaded, Event, InventoryLoaded, InventoryPage, OwnersLoaded};
use crate::graph::{GraphClient, KeyId};
use crate::inventory::load::{LoadOptions, load_streaming};
use crate::keyvault::KeyVaultSecrets;
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
    inventory: Option<JoinHandle<()>>,
    owners: Option<JoinHandle<()>>,
    audit: Option<JoinHandle<()>>,
    rotation: rotation::RotationJobs,
}

impl Runner {
    /// `graph` should already report throttling notices into `tx` (see `with_notifier`).
    pub fn new(graph: GraphClient, tx: UnboundedSender<Event>) -> Self {
        Self {
            graph,
            tx,
            vaults: None,
            vault_index: None,
            inventory: None,
            owners: None,
            audit: None,
            rotation: rotation::RotationJobs::default(),
        }
    }

    pub fn with_vaults(mut self, secrets: KeyVaultSecrets, vault_urls: Vec<String>) -> Self {
        if !vault_urls.is_empty() {
            self.vaults = Some((secrets, vault_urls));
        }
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
                self.inventory = Some(tokio::spawn(async move {
                    tracing::info!(generation, service_principals, "loading inventory");
                    let pages = tx.clone();
                    let result = load_streaming(
                        &graph,
                        LoadOptions { service_principals },
                        move |entries, progress| {
                            let _ = pages.send(Event::InventoryPage(InventoryPage {
                                generation,
                                entries,
                                progress,
                            }));
                        },
                    )
                    .await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "inventory load failed");
                    }
                    let _ = tx.send(Event::InventoryLoaded(InventoryLoaded {
                        generation,
                        result: result.map_err(Into::into),
                    }));
                }));
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
            rotation_effect => self.run_rotation(rotation_effect),
        }
    }

    fn spawn_owners(&self, r: DetailRequest) -> JoinHandle<()> {
        let (graph, tx) = (self.graph.clone(), self.tx.clone());
        tokio::spawn(async move {
            if !r.delay.is_zero() {
                tokio::time::sleep(r.delay).await;
            }
            let result = graph.owners(r.object_type, &r.object_id).await;
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
