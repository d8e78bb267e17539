//! Background loads and their answers: the inventory (cached, pages, done), owners and audit events of the app
//! looked at, and Graph's waiting notices for the status line.
use super::{
    AUDIT_DAYS, Action, App, AuditRequest, DetailRequest, Effect, LoadPhase, Loadable, Screen,
    Waiting, update,
};
use crate::graph::{Notice, ObjectType};
use crate::inventory::Entry;
use crate::inventory::load::Progress;
use crate::tui::event::{
    AuditLoaded, InventoryCached, InventoryLoaded, InventoryPage, OwnersLoaded, RequestId,
};
use std::time::Duration;
impl App {
    /// Load a whole inventory at once (tests, benchmarks): the same path as pages arriving from Graph. Returns the
    /// effect of completing the load (the owners request for the selected row).
    pub fn load_entries(&mut self, entries: Vec<Entry>) -> Option<Effect> {
        let generation = self.generation;
        let total = entries.len();
        update(
            self,
            Action::InventoryPage(InventoryPage {
                generation,
                entries,
                progress: Progress::Page {
                    kind: ObjectType::Application,
                    page: 1,
                    items: total,
                    total_so_far: total,
                    more: false,
                },
            }),
        );
        update(
            self,
            Action::InventoryLoaded(InventoryLoaded {
                generation,
                result: Ok(total),
            }),
        )
    }

    pub(super) fn fresh_request(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    pub(super) fn begin_load(&mut self) -> Effect {
        self.generation += 1;
        self.phase = LoadPhase::Starting;
        self.waiting = None;
        self.staged = if self.inventory.is_empty() {
            None
        } else {
            Some(Vec::new())
        };
        let service_principals = self.inventory.view().service_principals;
        self.service_principals_loaded = service_principals;
        Effect::LoadInventory {
            generation: self.generation,
            service_principals,
        }
    }

    /// Owners of the selected row, unless known or already on their way. Each request supersedes the previous one.
    pub(super) fn request_owners(&mut self, delay: Duration) -> Option<Effect> {
        let row = self.selected_row()?;
        let (kind, id) = (row.entry.object_type, row.entry.object_id.clone());
        let app_id = row.entry.app_id.clone();
        if self.owners.contains_key(&id) || self.owners_pending(&id) {
            return None;
        }
        let req = self.fresh_request();
        self.pending_owners = Some((req, id.clone()));
        Some(Effect::LoadDetail {
            owners: Some(DetailRequest {
                id: req,
                object_type: kind,
                object_id: id,
                app_id,
                delay,
            }),
            audit: None,
        })
    }

    /// Owners and audit events for the app in the detail view, now.
    pub(super) fn request_detail(&mut self, force: bool) -> Option<Effect> {
        let Screen::Detail(d) = &self.screen else {
            return None;
        };
        let id = d.object_id.clone();
        let kind = self.inventory.get(&id)?.entry.object_type;
        let app_id = self.inventory.get(&id)?.entry.app_id.clone();
        if force {
            self.owners.remove(&id);
            self.impact.remove(&id);
            self.audits.remove(&id);
            self.pending_owners = None;
            self.pending_audit = None;
        }
        let owners = if self.owners.contains_key(&id) || self.owners_pending(&id) {
            None
        } else {
            let req = self.fresh_request();
            self.pending_owners = Some((req, id.clone()));
            Some(DetailRequest {
                id: req,
                object_type: kind,
                object_id: id.clone(),
                app_id: app_id.clone(),
                delay: Duration::ZERO,
            })
        };
        let audit = if self.audits.contains_key(&id) || self.audit_pending(&id) {
            None
        } else {
            let req = self.fresh_request();
            self.pending_audit = Some((req, id.clone()));
            Some(AuditRequest {
                request: DetailRequest {
                    id: req,
                    object_type: kind,
                    object_id: id,
                    app_id,
                    delay: Duration::ZERO,
                },
                since: self.now() - chrono::Duration::days(AUDIT_DAYS),
            })
        };
        if owners.is_none() && audit.is_none() {
            None
        } else {
            Some(Effect::LoadDetail { owners, audit })
        }
    }

    /// The cached inventory: shown at once when nothing is on screen yet; the pages of the refresh that follows are
    /// staged and replace it in one step when the refresh is done, so the list never shows both.
    pub(super) fn on_inventory_cached(&mut self, cached: InventoryCached) {
        if cached.generation != self.generation || !self.inventory.is_empty() {
            return;
        }
        let rows = self.rows_of(cached.entries);
        self.inventory.extend(rows);
        self.reselect();
        self.staged = Some(Vec::new());
        self.cached_at = Some(cached.saved_at);
    }

    pub(super) fn on_inventory_page(&mut self, page: InventoryPage) {
        if page.generation != self.generation {
            return;
        }
        let Progress::Page {
            kind,
            page: number,
            total_so_far,
            more,
            ..
        } = page.progress;
        self.phase = LoadPhase::Loading {
            kind,
            page: number,
            total: total_so_far,
            more,
        };
        self.waiting = None;
        let rows = self.rows_of(page.entries);
        match &mut self.staged {
            Some(staged) => staged.extend(rows),
            None => {
                self.inventory.extend(rows);
                self.reselect();
            }
        }
    }

    pub(super) fn on_inventory_loaded(&mut self, done: InventoryLoaded) -> Option<Effect> {
        if done.generation != self.generation {
            return None;
        }
        self.waiting = None;
        let staged = self.staged.take();
        match done.result {
            Ok(_) => {
                if let Some(rows) = staged {
                    self.inventory.clear();
                    self.inventory.extend(rows);
                    // Owners already known stay searchable in the new list.
                    for (id, owners) in &self.owners {
                        if let Loadable::Loaded(o) = owners {
                            self.inventory.set_owners(id, o);
                        }
                    }
                    self.inventory.refilter();
                    self.reselect();
                }
                self.phase = LoadPhase::Done;
                self.last_refresh = Some(self.now());
                self.cached_at = None;
                if let Screen::Detail(d) = &self.screen
                    && self.inventory.get(&d.object_id).is_none()
                {
                    self.screen = Screen::List;
                }
                self.request_owners(Duration::ZERO)
            }
            Err(e) => {
                let mut lines = vec![e.message.clone(), String::new()];
                if self.inventory.is_empty() {
                    lines.push("Nothing could be listed. Fix the cause above, then press".into());
                } else {
                    lines
                        .push("The list shows what was loaded before. Fix the cause above,".into());
                    lines.push("then press".into());
                }
                if let Some(last) = lines.last_mut() {
                    last.push_str(" Ctrl-r to try again.");
                }
                lines.push("Esc closes this message; q quits.".into());
                if let Some(log) = &self.cfg.log_file {
                    lines.push(format!("Details are in the log: {}", log.display()));
                }
                self.open_message("Could not load the app registrations", lines, true);
                self.phase = LoadPhase::Failed(e);
                None
            }
        }
    }

    pub(super) fn on_owners_loaded(&mut self, o: OwnersLoaded) {
        // Only the latest request counts: an answer for a row the operator already left is dropped.
        if self.pending_owners.as_ref().map(|(r, _)| *r) != Some(o.request) {
            return;
        }
        self.pending_owners = None;
        match o.result {
            Ok(owners) => {
                self.inventory.set_owners(&o.object_id, &owners);
                self.owners.insert(o.object_id, Loadable::Loaded(owners));
                // A filter on an owner's name may now match this row.
                if !self.inventory.view().needle.is_empty() {
                    self.inventory.refilter();
                    self.reselect();
                }
            }
            Err(e) => {
                self.owners.insert(o.object_id, Loadable::Failed(e));
            }
        }
    }

    pub(super) fn on_audit_loaded(&mut self, a: AuditLoaded) {
        if self.pending_audit.as_ref().map(|(r, _)| *r) != Some(a.request) {
            return;
        }
        self.pending_audit = None;
        let value = match a.result {
            Ok(events) => Loadable::Loaded(events),
            Err(e) => Loadable::Failed(e),
        };
        self.audits.insert(a.object_id, value);
    }

    pub(super) fn on_notice(&mut self, n: Notice) {
        let now = self.now();
        let (what, wait, attempt) = match n {
            Notice::Throttled {
                operation,
                wait,
                attempt,
            } => (format!("throttled by Graph ({operation})"), wait, attempt),
            Notice::Retrying {
                operation,
                wait,
                attempt,
                reason,
            } => (format!("{operation}: {reason}"), wait, attempt),
        };
        let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
        self.waiting = Some(Waiting {
            what,
            until,
            attempt,
        });
    }
}
