//! The one place that calls Graph for the TUI. Each kind of job is single-flight (gitui's AsyncSingleJob): a new
//! request aborts the one still running or still waiting out its debounce, so scrolling through 50,000 rows sends
//! one owners request for the row the operator stops on, not one per row passed.
use super::app::{AuditRequest, DetailRequest, Effect};
use super::event::{AuditLoaded, Event, InventoryLoaded, InventoryPage, OwnersLoaded};
use crate::graph::GraphClient;
use crate::inventory::load::{LoadOptions, load_streaming};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

pub struct Runner {
    graph: GraphClient,
    tx: UnboundedSender<Event>,
    inventory: Option<JoinHandle<()>>,
    owners: Option<JoinHandle<()>>,
    audit: Option<JoinHandle<()>>,
}

impl Runner {
    /// `graph` should already report throttling notices into `tx` (see `with_notifier`).
    pub fn new(graph: GraphClient, tx: UnboundedSender<Event>) -> Self {
        Self {
            graph,
            tx,
            inventory: None,
            owners: None,
            audit: None,
        }
    }

    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::LoadInventory {
                generation,
                service_principals,
            } => {
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

    pub fn shutdown(&mut self) {
        abort(&mut self.inventory);
        abort(&mut self.owners);
        abort(&mut self.audit);
    }
}

fn abort(job: &mut Option<JoinHandle<()>>) {
    if let Some(h) = job.take() {
        h.abort();
    }
}
