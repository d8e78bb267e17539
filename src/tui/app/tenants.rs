//! Several tenants in one list (`keyturn --profile a --profile b`, `--all-profiles`): which tenant each row belongs
//! to, the tenant switcher (`n`: all, then each tenant), and which tenant's session an effect goes to. With one
//! tenant none of this shows: `tenants` is empty and every row is tenant 0.
use super::{App, Effect};
use crate::graph::ObjectId;

impl App {
    /// Name the tenants (their profile names, in order) when the list holds more than one.
    pub fn set_tenants(&mut self, labels: Vec<String>) {
        self.tenants = if labels.len() > 1 { labels } else { Vec::new() };
    }

    /// Whether the list holds several tenants (the tenant column and the switcher show).
    pub fn is_several(&self) -> bool {
        self.tenants.len() > 1
    }

    /// The label of a tenant (its profile name).
    pub fn tenant_label(&self, tenant: u16) -> &str {
        self.tenants
            .get(tenant as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Which tenant an object belongs to, when known.
    pub fn tenant_of(&self, id: &ObjectId) -> Option<u16> {
        self.tenant_of.get(id).copied()
    }

    /// The objects of the page about to arrive belong to `tenant`.
    pub(super) fn on_tenant_rows(&mut self, tenant: u16, ids: Vec<ObjectId>) {
        for id in ids {
            self.tenant_of.insert(id, tenant);
        }
    }

    /// `n`: all tenants, then each one in turn, then all again.
    pub(super) fn next_tenant(&mut self) -> Option<Effect> {
        if !self.is_several() {
            return None;
        }
        let n = self.tenants.len() as u16;
        self.set_view(|v| {
            v.tenant = match v.tenant {
                None => Some(0),
                Some(t) if t + 1 < n => Some(t + 1),
                Some(_) => None,
            }
        });
        self.request_owners(super::OWNERS_DEBOUNCE)
    }

    /// The tenant the change feed (`A`) reads: the switcher's, else the selected row's, else the first.
    pub fn changes_tenant(&self) -> u16 {
        self.inventory
            .view()
            .tenant
            .or_else(|| self.selected_row().map(|r| r.tenant))
            .unwrap_or(0)
    }

    /// The tenant whose session runs `effect`: the tenant of the app it concerns. `None` for what goes to every
    /// tenant (loading the inventory), or an app whose tenant is not known (the runner then refuses it).
    pub fn effect_tenant(&self, effect: &Effect) -> Option<u16> {
        let app = match effect {
            Effect::LoadInventory { .. } => return None,
            Effect::LoadChanges { .. } => {
                return Some(self.changes_for.unwrap_or_else(|| self.changes_tenant()));
            }
            Effect::LoadDetail { owners, audit } => owners
                .as_ref()
                .map(|o| &o.object_id)
                .or(audit.as_ref().map(|a| &a.request.object_id)),
            Effect::PlanRotation { object_id, .. }
            | Effect::ReloadApp { object_id }
            | Effect::PlanRemoval { object_id, .. } => Some(object_id),
            Effect::WritePlanFile { plan } | Effect::CheckRotationTarget { plan, .. } => {
                Some(&plan.app.object_id)
            }
            Effect::Rotate { approved, .. } => Some(&approved.plan.app.object_id),
            Effect::RemoveCredential { plan } => Some(&plan.app.object_id),
            Effect::RemoveOld { rotation_id } => self
                .pending_removals
                .iter()
                .find(|p| p.rotation_id == *rotation_id)
                .map(|p| &p.app_object_id),
        }?;
        self.tenant_of(app)
    }
}
