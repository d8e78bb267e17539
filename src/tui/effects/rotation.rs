//! The rotation engine behind the TUI: plans, target checks and rotations run here, off the UI thread, and come back
//! as `Event::Rotation`. The engine's plan, progress and report never carry the new secret's value, so nothing this
//! module sends can put it on screen.
use super::{Runner, abort};
use crate::graph::{GraphClient, KeyId};
use crate::inventory::Entry;
use crate::keyvault::KeyVaultSecrets;
use crate::keyvault::mapping::MappingSource;
use crate::rotation::{Executor, PlanRequest, ProgressSink};
use crate::tui::app::Effect;
use crate::tui::event::{AppReloaded, Event, RotationUpdate};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// What the TUI rotates with: the product's executor (Graph, Key Vault, the journal, `--read-only`) and the
/// session's defaults for a plan (lifetime, operator, mappings, vaults); app and keyId are filled per request.
#[derive(Clone, Debug)]
pub struct RotationService {
    pub exec: Executor<GraphClient, KeyVaultSecrets>,
    pub defaults: PlanRequest,
}

impl RotationService {
    /// The product's service for a session, or why rotation is unavailable (no journal, no rotation).
    pub fn for_session(session: &crate::session::Session) -> Result<RotationService, String> {
        let journal = session.open_journal().map_err(|e| {
            format!(
                "the rotation journal cannot be opened ({e}); keyturn does not rotate without it, since every step must be recorded"
            )
        })?;
        Ok(RotationService {
            exec: crate::rotation::live_executor(session, Arc::new(journal)),
            defaults: crate::rotation::plan_request(session, "", &KeyId::new("")),
        })
    }
}

#[derive(Default)]
pub(super) struct RotationJobs {
    service: Option<Result<RotationService, String>>,
    /// Building a plan or checking a target: a newer request replaces it.
    plan: Option<JoinHandle<()>>,
    /// A running rotation: never aborted while the TUI runs (only at shutdown, where the journal takes over).
    run: Option<JoinHandle<()>>,
    reload: Option<JoinHandle<()>>,
}

impl RotationJobs {
    pub(super) fn shutdown(&mut self) {
        abort(&mut self.plan);
        abort(&mut self.run);
        abort(&mut self.reload);
    }
}

impl Runner {
    /// Rotation for this TUI, or the reason there is none (shown when the operator presses `r`).
    pub fn with_rotation(mut self, service: Result<RotationService, String>) -> Self {
        self.rotation.service = Some(service);
        self
    }

    fn service(&self) -> Result<RotationService, String> {
        match &self.rotation.service {
            Some(s) => s.clone(),
            None => Err("rotation is not available in this session".into()),
        }
    }

    pub(super) fn run_rotation(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::PlanRotation {
                request,
                object_id,
                key_id,
            } => {
                let service = self.service();
                abort(&mut self.rotation.plan);
                self.rotation.plan = Some(tokio::spawn(async move {
                    let result = match service {
                        Ok(s) => {
                            let req = PlanRequest {
                                app: object_id.to_string(),
                                key_id,
                                ..s.defaults
                            };
                            s.exec.plan(&req).await.map(Box::new).map_err(|e| {
                                tracing::warn!(app = %object_id, error = %e, "rotation plan failed");
                                e.to_string()
                            })
                        }
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::Rotation(RotationUpdate::Planned { request, result }));
                }));
            }
            Effect::CheckRotationTarget {
                request,
                plan,
                target,
            } => {
                let service = self.service();
                abort(&mut self.rotation.plan);
                self.rotation.plan = Some(tokio::spawn(async move {
                    let result = match service {
                        Ok(s) => {
                            let mut plan = *plan;
                            match plan
                                .set_target(s.exec.vault(), target, MappingSource::Operator)
                                .await
                            {
                                Ok(()) => Ok(Box::new(plan)),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::Rotation(RotationUpdate::TargetChecked {
                        request,
                        result,
                    }));
                }));
            }
            Effect::Rotate { request, approved } => {
                let service = self.service();
                let progress = tx.clone();
                let sink: ProgressSink = Arc::new(move |p| {
                    let _ = progress.send(Event::Rotation(RotationUpdate::Progress(p)));
                });
                // A rotation is never replaced by another: the engine refuses a second one on the same app, and
                // the TUI offers none while one runs.
                self.rotation.run = Some(tokio::spawn(async move {
                    let result = match service {
                        Ok(s) => s
                            .exec
                            .with_progress(sink)
                            .execute(*approved)
                            .await
                            .map_err(|e| {
                                tracing::warn!(error = %e, "rotation did not start");
                                e.to_string()
                            }),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::Rotation(RotationUpdate::Ended { request, result }));
                }));
            }
            Effect::ReloadApp { object_id } => {
                // "stored in" moves to the new credential too.
                self.spawn_vault_index();
                let graph = self.graph.clone();
                abort(&mut self.rotation.reload);
                self.rotation.reload = Some(tokio::spawn(async move {
                    let result = graph
                        .find_application(object_id.as_str())
                        .await
                        .map(Entry::from_application)
                        .map_err(Into::into);
                    let _ = tx.send(Event::AppReloaded(AppReloaded { object_id, result }));
                }));
            }
            Effect::RemoveOld { rotation_id } => {
                let service = self.service();
                self.rotation.run = Some(tokio::spawn(async move {
                    let result = match service {
                        Ok(s) => s
                            .exec
                            .cleanup(rotation_id, false)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::Rotation(RotationUpdate::CleanedUp {
                        rotation_id,
                        result,
                    }));
                }));
            }
            Effect::PlanRemoval {
                object_id,
                key_id,
                thresholds,
            } => {
                let graph = self.graph.clone();
                let unused_days = self.unused_days;
                abort(&mut self.rotation.plan);
                self.rotation.plan = Some(tokio::spawn(async move {
                    let result = crate::removal::plan(
                        &graph,
                        object_id.as_str(),
                        &key_id,
                        unused_days,
                        chrono::Utc::now(),
                        thresholds,
                    )
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                    let _ = tx.send(Event::Rotation(RotationUpdate::RemovalPlanned { result }));
                }));
            }
            Effect::RemoveCredential { plan } => {
                let service = self.service();
                let graph = self.graph.clone();
                self.rotation.run = Some(tokio::spawn(async move {
                    let object_id = plan.app.object_id.clone();
                    let result = match service {
                        Ok(s) => {
                            let opts = s.exec.options();
                            let ctx = crate::removal::RemovalContext {
                                tenant_id: opts.tenant_id.clone(),
                                profile: opts.profile.clone(),
                                operator: s.defaults.operator.clone(),
                            };
                            crate::removal::execute(
                                &graph,
                                s.exec.journal(),
                                &plan,
                                &ctx,
                                chrono::Utc::now(),
                            )
                            .await
                            .map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::Rotation(RotationUpdate::CredentialRemoved {
                        object_id,
                        result,
                    }));
                }));
            }
            Effect::WritePlanFile { plan } => {
                let result = match self.service() {
                    Ok(s) => write_plan_file(&s, &plan),
                    Err(e) => Err(e),
                };
                let _ = tx.send(Event::Rotation(RotationUpdate::PlanWritten { result }));
            }
            // Inventory and detail loads are handled by `Runner::run` itself.
            Effect::LoadInventory { .. }
            | Effect::LoadDetail { .. }
            | Effect::LoadChanges { .. } => {}
        }
    }
}

/// The plan file for `^s` on the plan screen: `<data dir>/plans/plan-<app>-<keyId>-<time>.json`, beside the journal.
fn write_plan_file(
    s: &RotationService,
    plan: &crate::rotation::RotationPlan,
) -> Result<String, String> {
    use crate::rotation::plan_file::PlanFile;
    let dir = s
        .exec
        .journal()
        .path()
        .and_then(|p| p.parent())
        .map(|d| d.join("plans"))
        .ok_or_else(|| "no data directory to write the plan file to".to_string())?;
    crate::store::private_fs::create_private_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let tenant = s.exec.options().tenant_id.clone().unwrap_or_default();
    let file = PlanFile::from_plan(
        plan,
        &tenant,
        &s.defaults.operator,
        &s.defaults.signed_in_as,
    )
    .map_err(|e| e.to_string())?;
    let path = dir.join(format!(
        "plan-{}-{}-{}.json",
        plan.app.app_id.short(),
        plan.old.key_id.short(),
        plan.planned_at.format("%Y%m%dT%H%M%SZ")
    ));
    file.write(&path).map_err(|e| e.to_string())?;
    Ok(path.display().to_string())
}
