//! The executor: drives one approved plan through the state machine of docs/ARCHITECTURE.md section 4, journaling
//! before and after every call, and finishes or undoes interrupted rotations from the journal.
//!
//! The rule everything here serves: at every end state the vault's latest version is either the one it was before,
//! or holds the value of a credential that is still active on the app. So once the vault may hold the new value,
//! the rotation rolls forward (read back, continue); it rolls back only a write that certainly did not happen, and
//! when a rollback must undo a vault write it first writes the previous value back, then removes the new
//! credential. When the executor cannot tell, it keeps both credentials and says `NeedsAttention`.
use super::plan::{ApprovedPlan, PlanError, PlanRequest, RotationPlan, build_plan};
use super::ports::{GraphApi, VaultApi};
use super::progress::{ProgressSink, RotationProgress, RotationReport};
use super::state::{RotationState, StateKind, Step};
use crate::clock::SharedClock;
use crate::graph::{GraphError, KeyId, ObjectId};
use crate::keyvault::{
    KeyVaultError, NewVersion, SecretTarget, TAG_CREDENTIAL_ID, TAG_PROVIDER_ADDRESS,
    TAG_VALIDITY_PERIOD_DAYS,
};
use crate::store::{Changes, Journal, JournalEntry, JournalError, NewEntry, ProcessOwner};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Test hook, read by `ExecutorOptions::default()`: after journaling the named state (`SecretAdded`,
/// `StoredInVault`, `Verified`) the executor sleeps for an hour, so a test can SIGKILL the process at exactly that
/// point and check what the next start does. It only ever delays; it changes nothing.
pub const PAUSE_ENV: &str = "KEYTURN_TEST_PAUSE_AFTER";

/// Retries for `removePassword`. Right after `addPassword`, a real tenant was seen to answer 400 for a while
/// (replication), so removal is retried with backoff and, after each failure, confirmed by re-reading the app.
#[derive(Debug, Clone)]
pub struct RemovalRetry {
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RemovalRetry {
    fn default() -> Self {
        Self {
            attempts: 6,
            initial_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub removal_retry: RemovalRetry,
    /// `--read-only`: every write is refused before anything is journaled.
    pub read_only: bool,
    /// See [`PAUSE_ENV`].
    pub pause_after: Option<StateKind>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            removal_retry: RemovalRetry::default(),
            read_only: false,
            pause_after: std::env::var(PAUSE_ENV)
                .ok()
                .and_then(|s| s.trim().parse().ok()),
        }
    }
}

impl ExecutorOptions {
    /// Short removal retries (tests).
    pub fn fast() -> Self {
        Self {
            removal_retry: RemovalRetry {
                attempts: 3,
                initial_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
            },
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(
        "keyturn runs read-only (--read-only or KEYTURN_READ_ONLY=1): nothing was changed in the tenant or any vault; run without it to rotate"
    )]
    ReadOnly,
    #[error(
        "rotation {ids} of {app} is not finished; resolve it first (keyturn journal resume/rollback) so two rotations never race on one app",
        ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )]
    AppBusy { app: String, ids: Vec<i64> },
    #[error(
        "rotation {id} is being driven by another keyturn process (pid {pid}); wait for it, or pass --force if that process is gone"
    )]
    Busy { id: i64, pid: u32 },
    #[error("rotation {id} already ended ({state}); nothing to do")]
    AlreadyFinished { id: i64, state: StateKind },
    #[error("rotation {id} cannot be rolled back: {reason}")]
    CannotRollBack { id: i64, reason: String },
    #[error(
        "rotation {id} keeps the old secret until {}; pass --force to remove it now",
        until.format("%Y-%m-%d")
    )]
    NotDue { id: i64, until: DateTime<Utc> },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal failed right after {what}: {error}. {undo}")]
    JournalAfterChange {
        what: String,
        error: Box<JournalError>,
        undo: String,
    },
}

/// Drives rotations. `G` and `V` are `GraphClient` and `KeyVaultSecrets` in the product, fakes in unit tests.
pub struct Executor<G, V> {
    graph: G,
    vault: V,
    journal: Arc<Journal>,
    clock: SharedClock,
    opts: ExecutorOptions,
    progress: Option<ProgressSink>,
}

/// Cheap: the product's Graph and vault clients and the journal are shared handles. The TUI clones one into each
/// spawned rotation task.
impl<G: Clone, V: Clone> Clone for Executor<G, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            vault: self.vault.clone(),
            journal: self.journal.clone(),
            clock: self.clock.clone(),
            opts: self.opts.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<G, V> std::fmt::Debug for Executor<G, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("journal", &self.journal)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// How the vault write ended, when the rotation goes on.
enum Written {
    /// Stored; the read-back still has to compare.
    Stored(String),
    /// Stored and already compared (the answer was lost and the inspection read the value back).
    Verified,
}

impl<G: GraphApi, V: VaultApi> Executor<G, V> {
    pub fn new(graph: G, vault: V, journal: Arc<Journal>, clock: SharedClock) -> Self {
        Self {
            graph,
            vault,
            journal,
            clock,
            opts: ExecutorOptions::default(),
            progress: None,
        }
    }

    pub fn with_options(mut self, opts: ExecutorOptions) -> Self {
        self.opts = opts;
        self
    }

    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn graph(&self) -> &G {
        &self.graph
    }

    pub fn vault(&self) -> &V {
        &self.vault
    }

    pub fn read_only(&self) -> bool {
        self.opts.read_only
    }

    /// Build the plan for the confirmation screen (reads only), with a warning for unfinished rotations of the app.
    pub async fn plan(&self, req: &PlanRequest) -> Result<RotationPlan, PlanError> {
        let mut plan = build_plan(&self.graph, &self.vault, req, self.clock.now()).await?;
        if let Ok(busy) = self.journal.unfinished_for_app(&plan.app.object_id) {
            for e in busy {
                plan.warnings.push(format!(
                    "rotation {} of this app is unfinished ({}): it must be resolved before another can start",
                    e.id, e.state_kind
                ));
            }
        }
        if self.opts.read_only {
            plan.warnings.push(
                "read-only mode: this plan cannot be executed (run without --read-only)"
                    .to_string(),
            );
        }
        Ok(plan)
    }

    /// Run an approved plan to an end state. `Ok` for every journaled outcome (including Failed, RolledBack and
    /// NeedsAttention: read `report.state`); `Err` when nothing could be started or the journal itself failed.
    pub async fn execute(&self, approved: ApprovedPlan) -> Result<RotationReport, RotationError> {
        self.writable()?;
        let plan = &approved.plan;
        let app = plan.app.object_id.clone();
        let target = approved.target.target.clone();
        let busy = self.journal.unfinished_for_app(&app)?;
        if !busy.is_empty() {
            return Err(RotationError::AppBusy {
                app: plan.app.display_name.clone(),
                ids: busy.iter().map(|e| e.id).collect(),
            });
        }

        // Preflight, reads only: the plan may be minutes old. What is found here goes into the journal entry (the
        // app's keyIds right now, the vault's version right now), and a problem fails the rotation before any
        // change.
        let creds = self.graph.password_credentials(&app).await;
        let latest = self.vault.latest(&target).await;
        let mut problem: Option<String> = None;
        let known_key_ids = match &creds {
            Ok(list) => {
                if !list.iter().any(|c| same_key(&c.key_id, &plan.old.key_id)) {
                    problem = Some(format!(
                        "the old secret {} is no longer on the app (removed since the plan was made)",
                        plan.old.key_id
                    ));
                }
                list.iter().map(|c| c.key_id.clone()).collect()
            }
            Err(e) => {
                problem = Some(format!("cannot re-read the app before changing it: {e}"));
                plan.known_key_ids.clone()
            }
        };
        let previous = match latest {
            Ok(v) => v,
            Err(e) => {
                problem.get_or_insert(format!(
                    "cannot read the vault secret before changing it: {e}"
                ));
                None
            }
        };
        let now = self.clock.now();
        let id = self.journal.create(
            &NewEntry {
                app_object_id: app.clone(),
                app_id: plan.app.app_id.clone(),
                app_name: plan.app.display_name.clone(),
                old_key_id: plan.old.key_id.clone(),
                old_key_name: plan.old.display_name.clone(),
                old_end: plan.old.end,
                new_display_name: plan.new_display_name.clone(),
                requested_end: plan.new_end,
                vault_url: target.vault_url.clone(),
                secret_name: target.name.clone(),
                previous_version: previous.as_ref().map(|v| v.version.clone()),
                keep_until: match plan.old_disposition {
                    super::OldDisposition::RemoveNow => None,
                    super::OldDisposition::KeepUntil(d) => Some(d),
                },
                operator: plan.operator.clone(),
                approver: approved.approver.clone(),
                known_key_ids,
                planned_at: plan.planned_at,
            },
            now,
        )?;
        self.emit(RotationProgress::Started {
            rotation_id: id,
            app_name: plan.app.display_name.clone(),
        });
        let planned_version = approved.target.current.as_ref().map(|v| &v.version);
        let found_version = previous.as_ref().map(|v| &v.version);
        if problem.is_none() && planned_version != found_version {
            self.journal.note(
                id,
                &format!(
                    "the vault secret changed since the plan was made (version {} -> {}); the newer one is what a rollback restores",
                    planned_version.map_or("none", |v| v.as_str()),
                    found_version.map_or("none", |v| v.as_str())
                ),
                self.clock.now(),
            )?;
        }
        if let Some(problem) = problem {
            self.advance(
                id,
                RotationState::Failed {
                    step: Step::Preflight,
                    error: problem,
                },
                Changes::default(),
            )?;
            return self.finish(id);
        }

        // addPassword.
        self.begin(id, Step::AddSecret)?;
        let cred = match self
            .graph
            .add_password(&app, &plan.new_display_name, plan.new_end)
            .await
        {
            Ok(c) => c,
            Err(e) => return self.after_failed_add(id, e).await,
        };
        let secret = cred.secret_text.clone();
        let new_key = cred.key_id.clone();
        let new_start = cred.start_date_time;
        if let Err(error) = self.advance(
            id,
            RotationState::SecretAdded {
                new_key_id: new_key.clone(),
            },
            Changes {
                new_end: cred.end_date_time,
                new_hint: cred.hint.clone(),
                ..Default::default()
            },
        ) {
            // The journal cannot record the new credential, and without the journal the rotation cannot be
            // finished safely: undo it now rather than leave a credential nobody knows of.
            let undo = match self.remove_with_retry(None, &app, &new_key).await {
                Ok(()) => {
                    format!("The new credential {new_key} was removed again; nothing changed.")
                }
                Err(e) => format!(
                    "Removing the new credential {new_key} failed too ({e}): remove it from the app in the portal."
                ),
            };
            return Err(RotationError::JournalAfterChange {
                what: "addPassword".into(),
                error: Box::new(error),
                undo,
            });
        }
        drop(cred);
        self.pause_hook(id, StateKind::SecretAdded).await;

        // The vault write: the value as a new version, dated like the credential, tagged like Microsoft's sample.
        let mut tags = previous
            .as_ref()
            .map(|p| p.tags.clone())
            .unwrap_or_default();
        tags.retain(|k, _| {
            ![
                TAG_CREDENTIAL_ID,
                TAG_PROVIDER_ADDRESS,
                TAG_VALIDITY_PERIOD_DAYS,
            ]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(k))
        });
        tags.insert(TAG_CREDENTIAL_ID.into(), new_key.to_string());
        tags.insert(TAG_PROVIDER_ADDRESS.into(), app.to_string());
        tags.insert(
            TAG_VALIDITY_PERIOD_DAYS.into(),
            plan.lifetime_days.to_string(),
        );
        let entry = self.journal.get(id)?;
        let new_version = NewVersion {
            not_before: Some(new_start.unwrap_or(now)),
            expires: Some(entry.new_end.unwrap_or(plan.new_end)),
            tags,
            // Consumers may rely on it ("text/plain"); the new version keeps the previous one's.
            content_type: previous.as_ref().and_then(|p| p.content_type.clone()),
        };
        self.begin(id, Step::StoreInVault)?;
        let written = match self.vault.set_secret(&target, &secret, &new_version).await {
            Ok(info) => {
                self.advance(
                    id,
                    RotationState::StoredInVault {
                        version: info.version.clone(),
                    },
                    Changes::default(),
                )?;
                Written::Stored(info.version)
            }
            Err(e) => {
                let err = scrub(&e.to_string(), &secret);
                self.step_failed(id, Step::StoreInVault, &err, None)?;
                match self
                    .after_failed_write(id, &target, &new_key, &secret, &e, &err)
                    .await?
                {
                    Ok(w) => w,
                    Err(report) => return Ok(report),
                }
            }
        };

        if let Written::Stored(version) = written {
            self.pause_hook(id, StateKind::StoredInVault).await;
            self.begin(id, Step::ReadBack)?;
            match self.vault.get_secret(&target, Some(&version)).await {
                Ok(read) => {
                    let tag_ok = read
                        .info
                        .tag(TAG_CREDENTIAL_ID)
                        .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str()));
                    if same_secret(&read.value, &secret) && tag_ok {
                        self.advance(
                            id,
                            RotationState::Verified,
                            Changes {
                                detail: Some(format!(
                                    "version {version} read back: value identical (compared in memory), CredentialId tag present"
                                )),
                                ..Default::default()
                            },
                        )?;
                    } else {
                        let why = if tag_ok {
                            "read-back mismatch: the vault returned a different value than was written"
                        } else {
                            "read-back mismatch: the version read back lacks the CredentialId tag just written"
                        };
                        self.step_failed(id, Step::ReadBack, why, None)?;
                        drop(secret);
                        return self.undo(id, why).await;
                    }
                }
                Err(e) => {
                    let err = scrub(&e.to_string(), &secret);
                    drop(secret);
                    self.step_failed(id, Step::ReadBack, &err, None)?;
                    self.advance(
                        id,
                        RotationState::NeedsAttention {
                            step: Step::ReadBack,
                            error: format!(
                                "the new value was written as version {version} but reading it back failed ({err}); both secrets are kept until it is verified"
                            ),
                        },
                        Changes::default(),
                    )?;
                    return self.finish(id);
                }
            }
        }
        // The value is not needed any more; dropping it zeroizes it.
        drop(secret);
        self.pause_hook(id, StateKind::Verified).await;
        self.finish_old(id, false).await
    }

    /// Finish an unfinished rotation forward (`keyturn journal resume ID`), by the rules of docs/ARCHITECTURE.md
    /// section 4. `force` takes it over from a process that looks alive and removes a kept old secret before its date.
    pub async fn resume(&self, id: i64, force: bool) -> Result<RotationReport, RotationError> {
        self.writable()?;
        self.claim(id, force)?;
        let e = self.journal.get(id)?;
        self.journal
            .note(id, "resumed", self.clock.now())
            .map_err(RotationError::from)?;
        let result = match e.state_kind {
            StateKind::Done | StateKind::Failed | StateKind::RolledBack => {
                Err(RotationError::AlreadyFinished {
                    id,
                    state: e.state_kind,
                })
            }
            _ if e.rolling_back => {
                let reason = e
                    .error
                    .clone()
                    .unwrap_or_else(|| "finishing an interrupted rollback".into());
                self.undo(id, &reason).await
            }
            StateKind::Planned | StateKind::Approved => self.recover_approved(&e).await,
            StateKind::SecretAdded => self.recover_secret_added(&e).await,
            StateKind::StoredInVault => self.recover_stored(&e).await,
            StateKind::Verified => self.finish_old(id, force).await,
            StateKind::OldRemoved => {
                self.advance(id, RotationState::Done, Changes::default())?;
                self.finish(id)
            }
            StateKind::OldRemovalPending => self.finish_old(id, force).await,
            StateKind::NeedsAttention => {
                if e.new_version.is_some() {
                    self.recover_stored(&e).await
                } else if e.new_key_id.is_some() {
                    self.recover_secret_added(&e).await
                } else {
                    self.recover_approved(&e).await
                }
            }
        };
        self.journal.release(id)?;
        result
    }

    /// Undo an unfinished rotation (`keyturn journal rollback ID`): the previous value back into the vault if the
    /// new one is there, then the new credential removed. Impossible once the old credential is gone.
    pub async fn rollback(&self, id: i64, force: bool) -> Result<RotationReport, RotationError> {
        self.writable()?;
        self.claim(id, force)?;
        let e = self.journal.get(id)?;
        let result = match e.state_kind {
            StateKind::Done | StateKind::OldRemoved => Err(RotationError::CannotRollBack {
                id,
                reason: "the old secret was already removed from the app, so the previous vault value no longer works; rotate again instead".into(),
            }),
            StateKind::Failed | StateKind::RolledBack => Err(RotationError::AlreadyFinished {
                id,
                state: e.state_kind,
            }),
            StateKind::Planned | StateKind::Approved => self.recover_approved(&e).await,
            _ => {
                self.undo(id, &format!("rolled back on request (keyturn journal rollback {id})"))
                    .await
            }
        };
        self.journal.release(id)?;
        result
    }

    /// At start: finish every rotation that was interrupted mid-way (its process is gone), per docs/ARCHITECTURE.md
    /// section 4. Parked ones (NeedsAttention, OldRemovalPending) are left for a human; `startup_report` lists them.
    pub async fn recover_interrupted(&self) -> Result<Vec<RotationReport>, RotationError> {
        if self.opts.read_only {
            return Ok(Vec::new());
        }
        let me = ProcessOwner::current();
        let mut out = Vec::new();
        for e in self.journal.unfinished()? {
            if !e.state_kind.is_in_progress() {
                continue;
            }
            // Never take over a rotation that this process or another live one is driving.
            if let Some(owner) = &e.owner
                && (owner == &me || owner.is_alive())
            {
                continue;
            }
            tracing::warn!(rotation = e.id, state = %e.state_kind, "recovering an interrupted rotation");
            match self.resume(e.id, false).await {
                Ok(r) => out.push(r),
                Err(RotationError::Busy { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    // ---- recovery paths -------------------------------------------------------------------------------------

    /// `Approved`: addPassword may or may not have run. Anything on the app with our name that was not there
    /// before is ours, with its value lost: remove it.
    async fn recover_approved(&self, e: &JournalEntry) -> Result<RotationReport, RotationError> {
        let started_add = self
            .journal
            .events(e.id)?
            .iter()
            .any(|ev| ev.step == Some(Step::AddSecret));
        if !started_add && e.state_kind != StateKind::NeedsAttention {
            self.advance(
                e.id,
                RotationState::Failed {
                    step: Step::Preflight,
                    error: "interrupted before any change".into(),
                },
                Changes::default(),
            )?;
            return self.finish(e.id);
        }
        self.cleanup_orphans(e.id, "interrupted during addPassword".to_string())
            .await
    }

    /// `SecretAdded` without `StoredInVault`: the value is lost unless the vault's latest version carries
    /// `CredentialId = newKeyId` (then continue at Verified); otherwise remove the new credential.
    async fn recover_secret_added(
        &self,
        e: &JournalEntry,
    ) -> Result<RotationReport, RotationError> {
        let id = e.id;
        let target = entry_target(e)?;
        let Some(new_key) = e.new_key_id.clone() else {
            return self.recover_approved(e).await;
        };
        self.begin(id, Step::Inspect)?;
        match self.vault.get_secret(&target, None).await {
            Ok(latest)
                if latest
                    .info
                    .tag(TAG_CREDENTIAL_ID)
                    .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str())) =>
            {
                if !hint_matches(e.new_hint.as_deref(), &latest.value) {
                    self.step_done(id, Step::Inspect, "latest version tagged for the new credential, but its value does not start with the credential's hint")?;
                    return self
                        .undo(id, "the vault's latest version is tagged for the new credential but its value does not match it")
                        .await;
                }
                let version = latest.info.version.clone();
                drop(latest);
                self.step_done(
                    id,
                    Step::Inspect,
                    &format!("the vault's latest version {version} carries CredentialId={new_key}: continuing"),
                )?;
                self.advance(
                    id,
                    RotationState::StoredInVault {
                        version: version.clone(),
                    },
                    Changes::default(),
                )?;
                self.advance(
                    id,
                    RotationState::Verified,
                    Changes {
                        detail: Some(format!(
                            "version {version} checked by its CredentialId tag and the credential's hint (the value itself was lost with the interrupted process)"
                        )),
                        ..Default::default()
                    },
                )?;
                self.finish_old(id, false).await
            }
            Ok(_) | Err(KeyVaultError::NotFound { .. }) => {
                self.step_done(
                    id,
                    Step::Inspect,
                    "the vault's latest version is not the new one",
                )?;
                self.undo(
                    id,
                    "interrupted before the new value reached the vault; the value is lost, so the new credential is removed",
                )
                .await
            }
            Err(err) => {
                self.step_failed(id, Step::Inspect, &err.to_string(), None)?;
                self.advance(
                    id,
                    RotationState::NeedsAttention {
                        step: Step::Inspect,
                        error: format!(
                            "cannot read the vault to learn whether the new value reached it ({err}); both secrets are kept"
                        ),
                    },
                    Changes::default(),
                )?;
                self.finish(id)
            }
        }
    }

    /// `StoredInVault`: the vault holds the new version; it is checked by tag and hint (the value is gone with the
    /// process that held it), then the rotation goes on.
    async fn recover_stored(&self, e: &JournalEntry) -> Result<RotationReport, RotationError> {
        let id = e.id;
        let target = entry_target(e)?;
        let (Some(version), Some(new_key)) = (e.new_version.clone(), e.new_key_id.clone()) else {
            return self.recover_secret_added(e).await;
        };
        self.begin(id, Step::ReadBack)?;
        match self.vault.get_secret(&target, Some(&version)).await {
            Ok(read) => {
                let tag_ok = read
                    .info
                    .tag(TAG_CREDENTIAL_ID)
                    .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str()));
                let hint_ok = hint_matches(e.new_hint.as_deref(), &read.value);
                drop(read);
                if tag_ok && hint_ok {
                    self.advance(
                        id,
                        RotationState::Verified,
                        Changes {
                            detail: Some(format!(
                                "version {version} checked by its CredentialId tag and the credential's hint"
                            )),
                            ..Default::default()
                        },
                    )?;
                    self.finish_old(id, false).await
                } else {
                    let why = "read-back mismatch: the stored version does not belong to the new credential";
                    self.step_failed(id, Step::ReadBack, why, None)?;
                    self.undo(id, why).await
                }
            }
            Err(err) => {
                self.step_failed(id, Step::ReadBack, &err.to_string(), None)?;
                self.advance(
                    id,
                    RotationState::NeedsAttention {
                        step: Step::ReadBack,
                        error: format!(
                            "cannot read back version {version} to verify it ({err}); both secrets are kept"
                        ),
                    },
                    Changes::default(),
                )?;
                self.finish(id)
            }
        }
    }

    // ---- forward helpers ------------------------------------------------------------------------------------

    /// addPassword failed. A refusal changed nothing; anything else (5xx, a cut connection, an unreadable answer)
    /// may have created the credential: look, and remove what we find.
    async fn after_failed_add(
        &self,
        id: i64,
        e: GraphError,
    ) -> Result<RotationReport, RotationError> {
        let err = e.to_string();
        self.step_failed(id, Step::AddSecret, &err, None)?;
        let certain = matches!(
            e,
            GraphError::Forbidden { .. }
                | GraphError::Unauthorized { .. }
                | GraphError::BadRequest { .. }
                | GraphError::NotFound { .. }
                | GraphError::Auth(_)
                | GraphError::Throttled { .. }
        );
        if certain {
            self.advance(
                id,
                RotationState::Failed {
                    step: Step::AddSecret,
                    error: format!("addPassword failed: {err}"),
                },
                Changes::default(),
            )?;
            return self.finish(id);
        }
        self.cleanup_orphans(id, format!("addPassword failed: {err}"))
            .await
    }

    /// Remove credentials that appeared with our display name and are not in the known set; their value is lost.
    async fn cleanup_orphans(&self, id: i64, why: String) -> Result<RotationReport, RotationError> {
        let e = self.journal.get(id)?;
        self.begin(id, Step::Inspect)?;
        // A credential just created may not be listed yet (directory replication): an empty answer is asked
        // again a few times before it counts as "nothing was created".
        let mut delay = self.opts.removal_retry.initial_delay;
        let mut looks = 0;
        let orphans: Vec<KeyId> = loop {
            looks += 1;
            let list = match self.graph.password_credentials(&e.app_object_id).await {
                Ok(l) => l,
                Err(err) => {
                    self.step_failed(id, Step::Inspect, &err.to_string(), None)?;
                    self.advance(
                        id,
                        RotationState::NeedsAttention {
                            step: Step::Inspect,
                            error: format!(
                                "{why}; the app could not be re-read ({err}) to learn whether addPassword created a credential anyway: look for a client secret named {:?} on the app",
                                e.new_display_name
                            ),
                        },
                        Changes::default(),
                    )?;
                    return self.finish(id);
                }
            };
            let found: Vec<KeyId> = list
                .iter()
                .filter(|c| !e.known_key_ids.iter().any(|k| same_key(k, &c.key_id)))
                .filter(|c| c.display_name.as_deref() == Some(e.new_display_name.as_str()))
                .map(|c| c.key_id.clone())
                .collect();
            if !found.is_empty() || looks >= 3 {
                break found;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.opts.removal_retry.max_delay);
        };
        self.step_done(
            id,
            Step::Inspect,
            &if orphans.is_empty() {
                "no credential was created".to_string()
            } else {
                format!("found the credential it created: {}", join(&orphans))
            },
        )?;
        for k in &orphans {
            self.begin(id, Step::RemoveNew)?;
            if let Err(err) = self.remove_with_retry(Some(id), &e.app_object_id, k).await {
                self.advance(
                    id,
                    RotationState::NeedsAttention {
                        step: Step::RemoveNew,
                        error: format!(
                            "{why}; it created credential {k} anyway, whose value is lost, and removing it failed ({err}): remove it from the app"
                        ),
                    },
                    Changes {
                        new_key_id: Some(k.clone()),
                        ..Default::default()
                    },
                )?;
                return self.finish(id);
            }
            self.step_done(id, Step::RemoveNew, &format!("removed {k}"))?;
        }
        let error = if orphans.is_empty() {
            why
        } else {
            format!(
                "{why}; the credential it created anyway ({}) was removed",
                join(&orphans)
            )
        };
        self.advance(
            id,
            RotationState::Failed {
                step: Step::AddSecret,
                error,
            },
            Changes::default(),
        )?;
        self.finish(id)
    }

    /// The vault write failed. Read the secret back: if the new version is there (the answer was lost), roll
    /// forward; if it certainly is not, roll back; if that cannot be known, keep both credentials.
    /// `Ok(Ok(_))` goes on, `Ok(Err(report))` is an end state.
    async fn after_failed_write(
        &self,
        id: i64,
        target: &SecretTarget,
        new_key: &KeyId,
        secret: &SecretString,
        e: &KeyVaultError,
        err: &str,
    ) -> Result<Result<Written, RotationReport>, RotationError> {
        self.emit(RotationProgress::Notice {
            rotation_id: id,
            message: format!("the vault write failed ({err}); reading the secret back to learn whether it was stored"),
        });
        self.begin(id, Step::Inspect)?;
        match self.vault.get_secret(target, None).await {
            Ok(latest)
                if latest
                    .info
                    .tag(TAG_CREDENTIAL_ID)
                    .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str())) =>
            {
                let version = latest.info.version.clone();
                if same_secret(&latest.value, secret) {
                    drop(latest);
                    self.step_done(
                        id,
                        Step::Inspect,
                        &format!("the vault stored version {version} although its answer was lost"),
                    )?;
                    self.advance(
                        id,
                        RotationState::StoredInVault {
                            version: version.clone(),
                        },
                        Changes::default(),
                    )?;
                    self.pause_hook(id, StateKind::StoredInVault).await;
                    self.advance(
                        id,
                        RotationState::Verified,
                        Changes {
                            detail: Some(format!(
                                "version {version} read back: value identical (compared in memory)"
                            )),
                            ..Default::default()
                        },
                    )?;
                    Ok(Ok(Written::Verified))
                } else {
                    drop(latest);
                    let why = "read-back mismatch: the vault holds a version tagged for the new credential with a different value";
                    self.step_done(id, Step::Inspect, why)?;
                    Ok(Err(self.undo(id, why).await?))
                }
            }
            Ok(_) | Err(KeyVaultError::NotFound { .. }) => {
                self.step_done(id, Step::Inspect, "the new version is not in the vault")?;
                Ok(Err(self
                    .undo(id, &format!("the vault write failed: {err}"))
                    .await?))
            }
            Err(read_err) => {
                let read_err = scrub(&read_err.to_string(), secret);
                self.step_failed(id, Step::Inspect, &read_err, None)?;
                if e.certainly_not_applied() {
                    return Ok(Err(self
                        .undo(id, &format!("the vault write failed: {err}"))
                        .await?));
                }
                self.advance(
                    id,
                    RotationState::NeedsAttention {
                        step: Step::StoreInVault,
                        error: format!(
                            "the vault write's outcome is unknown ({err}) and reading the secret back failed ({read_err}); the new credential {new_key} is kept in case the vault stored it"
                        ),
                    },
                    Changes::default(),
                )?;
                Ok(Err(self.finish(id)?))
            }
        }
    }

    /// Verified: remove the old credential now, or park until the keep-until date.
    async fn finish_old(&self, id: i64, force: bool) -> Result<RotationReport, RotationError> {
        let e = self.journal.get(id)?;
        let now = self.clock.now();
        if let Some(until) = e.keep_until
            && until > now
            && !force
        {
            if e.state_kind == StateKind::OldRemovalPending {
                return Err(RotationError::NotDue { id, until });
            }
            self.advance(
                id,
                RotationState::OldRemovalPending {
                    keep_until: Some(until),
                    error: None,
                },
                Changes::default(),
            )?;
            return self.finish(id);
        }
        self.begin(id, Step::RemoveOld)?;
        match self
            .remove_with_retry(Some(id), &e.app_object_id, &e.old_key_id)
            .await
        {
            Ok(()) => {
                self.advance(id, RotationState::OldRemoved, Changes::default())?;
                self.advance(id, RotationState::Done, Changes::default())?;
            }
            Err(err) => {
                self.advance(
                    id,
                    RotationState::OldRemovalPending {
                        keep_until: e.keep_until,
                        error: Some(format!(
                            "removing the old secret {} failed: {err}",
                            e.old_key_id
                        )),
                    },
                    Changes::default(),
                )?;
            }
        }
        self.finish(id)
    }

    // ---- rollback ---------------------------------------------------------------------------------------------

    /// Roll back: if the vault's latest version belongs to the new credential, write the previous value back
    /// first; then remove the new credential. Any failure: NeedsAttention, with both credentials kept.
    async fn undo(&self, id: i64, reason: &str) -> Result<RotationReport, RotationError> {
        let now = self.clock.now();
        self.journal.set_rolling_back(id, reason, now)?;
        self.emit(RotationProgress::Notice {
            rotation_id: id,
            message: format!("rolling back: {reason}"),
        });
        let e = self.journal.get(id)?;
        let target = entry_target(&e)?;
        let Some(new_key) = e.new_key_id.clone() else {
            return self.cleanup_orphans(id, reason.to_string()).await;
        };

        self.begin(id, Step::Inspect)?;
        let latest = match self.vault.latest(&target).await {
            Ok(l) => l,
            Err(err) => {
                self.step_failed(id, Step::Inspect, &err.to_string(), None)?;
                return self.attention(
                    id,
                    Step::Inspect,
                    format!(
                        "{reason}; rolling back needs to know what the vault holds, and reading it failed ({err}); both secrets are kept"
                    ),
                );
            }
        };
        let vault_has_new = latest.as_ref().is_some_and(|v| {
            v.tag(TAG_CREDENTIAL_ID)
                .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str()))
        });
        self.step_done(
            id,
            Step::Inspect,
            if vault_has_new {
                "the vault's latest version belongs to the new credential: writing the previous value back first"
            } else {
                "the vault's latest version is not the new one"
            },
        )?;
        if vault_has_new {
            self.begin(id, Step::RestorePrevious)?;
            match self.restore_previous(&e, &target).await {
                Ok(version) => self.step_done(
                    id,
                    Step::RestorePrevious,
                    &format!("the previous value is the latest version again ({version})"),
                )?,
                Err(err) => {
                    self.step_failed(id, Step::RestorePrevious, &err, None)?;
                    return self.attention(
                        id,
                        Step::RestorePrevious,
                        format!(
                            "{reason}; writing the previous value back failed ({err}), so the new credential {new_key} is kept: the vault may hold its value"
                        ),
                    );
                }
            }
        }

        self.begin(id, Step::RemoveNew)?;
        match self
            .remove_with_retry(Some(id), &e.app_object_id, &new_key)
            .await
        {
            Ok(()) => {
                self.advance(
                    id,
                    RotationState::RolledBack {
                        reason: reason.to_string(),
                    },
                    Changes::default(),
                )?;
                self.finish(id)
            }
            Err(err) => self.attention(
                id,
                Step::RemoveNew,
                format!(
                    "{reason}; rolling back, removing the new credential {new_key} failed ({err}): it is still on the app ({})",
                    if vault_has_new {
                        "the vault holds the previous value again"
                    } else {
                        "the vault was not changed"
                    }
                ),
            ),
        }
    }

    /// Read the version that was latest before the rotation and write its value, dates and tags as a new version.
    async fn restore_previous(
        &self,
        e: &JournalEntry,
        target: &SecretTarget,
    ) -> Result<String, String> {
        let Some(prev) = e.previous_version.as_deref() else {
            return Err(
                "the secret did not exist before this rotation, so there is no previous value to write back"
                    .to_string(),
            );
        };
        let old = self
            .vault
            .get_secret(target, Some(prev))
            .await
            .map_err(|err| format!("reading the previous version {prev} failed: {err}"))?;
        let new = NewVersion {
            not_before: old.info.not_before,
            expires: old.info.expires,
            tags: old.info.tags.clone(),
            content_type: old.info.content_type.clone(),
        };
        let written = self
            .vault
            .set_secret(target, &old.value, &new)
            .await
            .map_err(|err| scrub(&format!("writing it back failed: {err}"), &old.value))?;
        Ok(written.version)
    }

    /// removePassword with backoff; after each failure the app is re-read, since the removal may have happened
    /// with its answer lost (or an earlier attempt's did).
    async fn remove_with_retry(
        &self,
        id: Option<i64>,
        app: &ObjectId,
        key: &KeyId,
    ) -> Result<(), String> {
        let r = &self.opts.removal_retry;
        let mut delay = r.initial_delay;
        let attempts = r.attempts.max(1);
        let mut attempt = 1;
        loop {
            let err = match self.graph.remove_password(app, key).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if let Ok(list) = self.graph.password_credentials(app).await
                && !list.iter().any(|c| same_key(&c.key_id, key))
            {
                return Ok(());
            }
            let permanent = matches!(
                err,
                GraphError::Forbidden { .. }
                    | GraphError::Unauthorized { .. }
                    | GraphError::Auth(_)
            );
            if attempt >= attempts || permanent {
                return Err(err.to_string());
            }
            if let Some(id) = id {
                let step = self
                    .journal
                    .get(id)
                    .ok()
                    .and_then(|e| e.in_flight)
                    .unwrap_or(Step::RemoveOld);
                self.emit(RotationProgress::StepFailed {
                    rotation_id: id,
                    step,
                    error: err.to_string(),
                    retry_in: Some(delay),
                });
                if let Err(je) = self.journal.note(
                    id,
                    &format!("removePassword attempt {attempt} failed: {err}; retrying"),
                    self.clock.now(),
                ) {
                    tracing::warn!(error = %je, "cannot journal a removal retry");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(r.max_delay);
            attempt += 1;
        }
    }

    // ---- journaling and progress ------------------------------------------------------------------------------

    fn writable(&self) -> Result<(), RotationError> {
        if self.opts.read_only {
            Err(RotationError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn claim(&self, id: i64, force: bool) -> Result<(), RotationError> {
        match self.journal.claim(id, force)? {
            Ok(()) => Ok(()),
            Err(owner) => Err(RotationError::Busy { id, pid: owner.pid }),
        }
    }

    fn emit(&self, p: RotationProgress) {
        if let Some(sink) = &self.progress {
            sink(p);
        }
    }

    fn begin(&self, id: i64, step: Step) -> Result<(), RotationError> {
        self.journal.begin_step(id, step, self.clock.now())?;
        tracing::info!(rotation = id, step = %step, "rotation step started");
        self.emit(RotationProgress::StepStarted {
            rotation_id: id,
            step,
        });
        Ok(())
    }

    fn step_done(&self, id: i64, step: Step, detail: &str) -> Result<(), RotationError> {
        self.journal
            .step_done(id, step, Some(detail), self.clock.now())?;
        self.emit(RotationProgress::StepFinished {
            rotation_id: id,
            step,
            detail: detail.to_string(),
        });
        Ok(())
    }

    fn step_failed(
        &self,
        id: i64,
        step: Step,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), RotationError> {
        self.journal
            .step_failed(id, step, error, self.clock.now())?;
        tracing::warn!(rotation = id, step = %step, error, "rotation step failed");
        self.emit(RotationProgress::StepFailed {
            rotation_id: id,
            step,
            error: error.to_string(),
            retry_in,
        });
        Ok(())
    }

    fn advance(&self, id: i64, state: RotationState, changes: Changes) -> Result<(), JournalError> {
        self.journal
            .advance(id, &state, &changes, self.clock.now())?;
        tracing::info!(rotation = id, state = %state, "rotation state");
        self.emit(RotationProgress::StateChanged {
            rotation_id: id,
            state,
        });
        Ok(())
    }

    fn attention(
        &self,
        id: i64,
        step: Step,
        error: String,
    ) -> Result<RotationReport, RotationError> {
        self.advance(
            id,
            RotationState::NeedsAttention { step, error },
            Changes::default(),
        )?;
        self.finish(id)
    }

    fn finish(&self, id: i64) -> Result<RotationReport, RotationError> {
        self.journal.release(id)?;
        let report = RotationReport::from_entry(&self.journal.get(id)?);
        self.emit(RotationProgress::Finished {
            report: report.clone(),
        });
        Ok(report)
    }

    async fn pause_hook(&self, id: i64, reached: StateKind) {
        if self.opts.pause_after == Some(reached) {
            tracing::warn!(rotation = id, state = %reached, "{PAUSE_ENV}: pausing for a test");
            self.emit(RotationProgress::Notice {
                rotation_id: id,
                message: format!("{PAUSE_ENV}={reached}: pausing"),
            });
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

fn entry_target(e: &JournalEntry) -> Result<SecretTarget, RotationError> {
    SecretTarget::new(&e.vault_url, &e.secret_name).map_err(|err| {
        RotationError::Journal(JournalError::Corrupt(format!("rotation {}: {err}", e.id)))
    })
}

fn same_key(a: &KeyId, b: &KeyId) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

/// Constant-time comparison of two secret values (length is not hidden, content is).
fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret()
        .as_bytes()
        .ct_eq(b.expose_secret().as_bytes())
        .into()
}

/// The hint Graph shows is the value's first characters; no hint means nothing to check.
fn hint_matches(hint: Option<&str>, value: &SecretString) -> bool {
    hint.is_none_or(|h| value.expose_secret().starts_with(h))
}

/// Error texts go to the journal, logs and screens: make sure the value is not in one.
fn scrub(text: &str, secret: &SecretString) -> String {
    let v = secret.expose_secret();
    if v.len() >= 4 && text.contains(v) {
        text.replace(v, "[redacted]")
    } else {
        text.to_string()
    }
}

fn join(keys: &[KeyId]) -> String {
    keys.iter()
        .map(KeyId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
