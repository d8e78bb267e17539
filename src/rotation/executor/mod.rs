//! The executor: drives one approved plan through the state machine of docs/ARCHITECTURE.md section 4, journaling
//! before and after every call, and finishes or undoes interrupted rotations from the journal.
//!
//! The rule everything here serves: at every end state the vault's latest version is either the one it was before,
//! or holds the value of a credential that is still active on the app. So once the vault may hold the new value,
//! the rotation rolls forward (read back, continue); it rolls back only a write that certainly did not happen, and
//! when a rollback must undo a vault write it first writes the previous value back, then removes the new
//! credential. When the executor cannot tell, it keeps both credentials and says `NeedsAttention`.
//!
//! The second rule: the old secret is never removed unless the new one is proven (a sign-in as the app with it
//! succeeded). After the read-back the executor signs in with the new value, retrying while Entra propagates it
//! (`old_secret.rs`); then the old secret is removed (when the operator chose so or it already expired) or becomes
//! a pending removal with a due date that `keyturn cleanup` finishes after its checks.
//!
//! Files: this one drives a new rotation forward; `recovery.rs` finishes or undoes one from the journal (resume,
//! rollback, recovery at start); `old_secret.rs` is the proof, the old secret's disposition and `cleanup`.
mod old_secret;
mod recovery;

pub use old_secret::{CleanupItem, CleanupOutcome};

use super::plan::{ApprovedPlan, PlanError, PlanRequest, RotationPlan, build_plan};
use super::ports::{GraphApi, VaultApi};
use super::progress::{ProgressSink, RotationProgress, RotationReport};
use super::proof::{ProofRetry, SignInApi, TokenEndpoint};
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

/// Test hook, read by `ExecutorOptions::default()` in debug builds only (a release build ignores it): after
/// journaling the named state (`SecretAdded`, `StoredInVault`, `Verified`, `Proven`, `NotProven`), or when the
/// named step is in flight (`removeOld`, `removeNew`, `restorePrevious`), the executor sleeps for an hour, so a
/// test can SIGKILL the process at exactly that point and check what the next start does. It only ever delays.
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
    pub pause_after: Option<PausePoint>,
    /// The sign-in proof's timeout and backoff (`proof_timeout_secs`).
    pub proof: ProofRetry,
    /// The signed-in tenant: journaled with each rotation; recovery at start touches only this tenant's.
    pub tenant_id: Option<String>,
    /// The profile, journaled for the operator.
    pub profile: Option<String>,
}

/// Where the test hook of [`PAUSE_ENV`] stops: right after a state was journaled, or inside a step (journaled as
/// in flight, the call not yet made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    State(StateKind),
    Step(Step),
}

impl PausePoint {
    /// `KEYTURN_TEST_PAUSE_AFTER`, in debug builds only.
    fn from_env() -> Option<PausePoint> {
        if !cfg!(debug_assertions) {
            return None;
        }
        let v = std::env::var(PAUSE_ENV).ok()?;
        let v = v.trim();
        v.parse()
            .map(PausePoint::State)
            .or_else(|_| v.parse().map(PausePoint::Step))
            .ok()
    }
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            removal_retry: RemovalRetry::default(),
            read_only: false,
            pause_after: PausePoint::from_env(),
            proof: ProofRetry::default(),
            tenant_id: None,
            profile: None,
        }
    }
}

impl ExecutorOptions {
    /// Short removal retries and proof waits (tests).
    pub fn fast() -> Self {
        Self {
            removal_retry: RemovalRetry {
                attempts: 3,
                initial_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
            },
            proof: ProofRetry {
                timeout: Duration::from_millis(400),
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                tick: Duration::from_millis(10),
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

/// Drives rotations. `G`, `V` and `S` are `GraphClient`, `KeyVaultSecrets` and the token endpoint in the product,
/// fakes in unit tests.
pub struct Executor<G, V, S = TokenEndpoint> {
    graph: G,
    vault: V,
    sign_in: S,
    journal: Arc<Journal>,
    clock: SharedClock,
    opts: ExecutorOptions,
    progress: Option<ProgressSink>,
}

/// Cheap: the product's Graph and vault clients and the journal are shared handles. The TUI clones one into each
/// spawned rotation task.
impl<G: Clone, V: Clone, S: Clone> Clone for Executor<G, V, S> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            vault: self.vault.clone(),
            sign_in: self.sign_in.clone(),
            journal: self.journal.clone(),
            clock: self.clock.clone(),
            opts: self.opts.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<G, V, S> std::fmt::Debug for Executor<G, V, S> {
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

impl<G: GraphApi, V: VaultApi, S: SignInApi> Executor<G, V, S> {
    pub fn new(graph: G, vault: V, sign_in: S, journal: Arc<Journal>, clock: SharedClock) -> Self {
        Self {
            graph,
            vault,
            sign_in,
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

    pub fn options(&self) -> &ExecutorOptions {
        &self.opts
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
                    super::OldDisposition::RemoveWhenProven => None,
                    super::OldDisposition::KeepUntil(d) => Some(d),
                },
                tenant_id: self.opts.tenant_id.clone(),
                profile: self.opts.profile.clone(),
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
        self.pause_hook(id, StateKind::Verified).await;
        // The proof signs in with the value still in memory; after it the value is not needed any more, and
        // dropping it zeroizes it.
        let proven = self.prove(id, &secret).await?;
        drop(secret);
        if !proven {
            return self.finish(id);
        }
        self.finish_old(id).await
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
        self.pause_at(id, PausePoint::State(reached)).await;
    }

    async fn pause_at(&self, id: i64, reached: PausePoint) {
        if self.opts.pause_after == Some(reached) {
            let reached = match reached {
                PausePoint::State(k) => k.to_string(),
                PausePoint::Step(s) => s.to_string(),
            };
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
