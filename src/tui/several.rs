//! The TUI over several tenants (`keyturn --profile a --profile b`, `--all-profiles`): one effect runner per tenant,
//! each with its own session (Graph client, vaults, rotation engine and journal scope), behind [`Runners`].
//!
//! The App sees one inventory: each tenant's pages arrive tagged with their tenant ([`Event::TenantRows`] before
//! the page), and one `InventoryLoaded` comes when every tenant is done (a tenant that failed names its profile).
//! An effect about one app (owners, audit, rotation, removal, reload) goes to that app's tenant only; the change
//! feed to the tenant shown by the switcher (else the selected row's). Vault "stored in" facts of all tenants are
//! merged. The inventory cache (warm start) is off with several tenants: each load is a full one.
use super::app::{App, Effect};
use super::effects::{self, Runner};
use super::event::{Event, InventoryLoaded, LoadError};
use crate::graph::KeyId;
use crate::session::Session;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;

/// The effect runner(s) of the TUI: one tenant's, or several.
pub enum Runners {
    One(Box<Runner>),
    Several(Several),
}

impl Runners {
    pub fn run(&mut self, app: &App, effect: Effect) {
        match self {
            Runners::One(r) => r.run(effect),
            Runners::Several(s) => s.run(app.effect_tenant(&effect), effect),
        }
    }

    pub fn shutdown(&mut self) {
        match self {
            Runners::One(r) => r.shutdown(),
            Runners::Several(s) => s.shutdown(),
        }
    }
}

/// What the tenants' answers are merged into.
#[derive(Default)]
struct Merge {
    /// The inventory load being counted down: its generation, the tenants still loading, rows so far, failures.
    generation: u64,
    remaining: usize,
    total: usize,
    failed: Vec<String>,
    /// Each tenant's last "stored in" answer.
    stored_in: Vec<Vec<(KeyId, String)>>,
}

pub struct Several {
    runners: Vec<Runner>,
    labels: Vec<String>,
    merge: Arc<Mutex<Merge>>,
    forwarders: Vec<JoinHandle<()>>,
}

impl Several {
    /// One runner per session (`labels[i]` names `sessions[i]`), answering into `tx`.
    pub fn new(sessions: &[Session], labels: Vec<String>, tx: UnboundedSender<Event>) -> Self {
        let merge = Arc::new(Mutex::new(Merge {
            stored_in: vec![Vec::new(); sessions.len()],
            ..Merge::default()
        }));
        let mut runners = Vec::new();
        let mut forwarders = Vec::new();
        for (i, session) in sessions.iter().enumerate() {
            let (tenant_tx, tenant_rx) = mpsc::unbounded_channel::<Event>();
            let notices = tenant_tx.clone();
            let graph = session.graph.clone().with_notifier(Arc::new(move |n| {
                let _ = notices.send(Event::Notice(n));
            }));
            // No warm start (no `with_cache`): the cached inventory event assumes the only tenant on screen.
            let runner = Runner::new(graph, tenant_tx)
                .with_unused_days(session.settings.unused_days)
                .with_audit(effects::AuditSettings {
                    journal_path: session.journal_path.clone(),
                    max_lifetime_days: session.settings.profile.audit_max_lifetime_days,
                })
                .with_vaults(
                    session.vault_secrets(crate::keyvault::client::VaultOptions::default()),
                    session.settings.vaults.clone(),
                )
                .with_rotation(effects::RotationService::for_session(session));
            runners.push(runner);
            forwarders.push(tokio::spawn(forward(
                i as u16,
                labels.get(i).cloned().unwrap_or_default(),
                tenant_rx,
                tx.clone(),
                merge.clone(),
            )));
        }
        Self {
            runners,
            labels,
            merge,
            forwarders,
        }
    }

    /// Run `effect` on `tenant`'s runner, or on every runner for the inventory load.
    pub fn run(&mut self, tenant: Option<u16>, effect: Effect) {
        if let Effect::LoadInventory { generation, .. } = &effect {
            if let Ok(mut m) = self.merge.lock() {
                m.generation = *generation;
                m.remaining = self.runners.len();
                m.total = 0;
                m.failed.clear();
            }
            for r in &mut self.runners {
                r.run(effect.clone());
            }
            return;
        }
        match tenant.and_then(|t| self.runners.get_mut(t as usize)) {
            Some(r) => r.run(effect),
            // Nothing knows which tenant the app is in (it is in no list loaded here): nothing is sent anywhere.
            None => tracing::warn!(
                tenants = ?self.labels,
                "an action about an app of unknown tenant was not run: {effect:?}"
            ),
        }
    }

    pub fn shutdown(&mut self) {
        for r in &mut self.runners {
            r.shutdown();
        }
        for f in &self.forwarders {
            f.abort();
        }
    }
}

/// Pass one tenant's answers on to the App: its pages tagged with the tenant, its end of load counted into one,
/// its vault facts merged with the other tenants'.
async fn forward(
    tenant: u16,
    label: String,
    mut rx: mpsc::UnboundedReceiver<Event>,
    tx: UnboundedSender<Event>,
    merge: Arc<Mutex<Merge>>,
) {
    while let Some(event) = rx.recv().await {
        let out = match event {
            Event::InventoryPage(page) => {
                let ids = page.entries.iter().map(|e| e.object_id.clone()).collect();
                if tx.send(Event::TenantRows { tenant, ids }).is_err() {
                    break;
                }
                Some(Event::InventoryPage(page))
            }
            // Off with several tenants (see the module doc); dropped should one arrive.
            Event::InventoryCached(_) => None,
            Event::InventoryLoaded(done) => {
                let Ok(mut m) = merge.lock() else { break };
                if done.generation != m.generation || m.remaining == 0 {
                    None
                } else {
                    m.remaining -= 1;
                    match done.result {
                        Ok(n) => m.total += n,
                        Err(e) => m.failed.push(format!("profile {label}: {}", e.message)),
                    }
                    (m.remaining == 0).then(|| {
                        Event::InventoryLoaded(InventoryLoaded {
                            generation: m.generation,
                            result: if m.failed.is_empty() {
                                Ok(m.total)
                            } else {
                                Err(LoadError {
                                    short: "a tenant did not load",
                                    message: m.failed.join("; "),
                                })
                            },
                        })
                    })
                }
            }
            Event::StoredIn(facts) => {
                let Ok(mut m) = merge.lock() else { break };
                if let Some(slot) = m.stored_in.get_mut(tenant as usize) {
                    *slot = facts;
                }
                Some(Event::StoredIn(m.stored_in.concat()))
            }
            other => Some(other),
        };
        if let Some(e) = out
            && tx.send(e).is_err()
        {
            break;
        }
    }
}
