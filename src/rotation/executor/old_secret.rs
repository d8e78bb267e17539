//! After the read-back: the sign-in proof, then what happens to the old secret (removed once proven, or a pending
//! removal with a due date), and `keyturn cleanup`, which finishes due removals only after its checks.
use super::*;
use crate::graph::LastUse;
use crate::rotation::proof::SignInOutcome;
use serde::Serialize;

/// What `cleanup` did with one pending removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status", content = "reason")]
pub enum CleanupOutcome {
    /// Due, listed only (`keyturn cleanup` without `--yes`).
    Due,
    /// The old secret was removed from the app (or was already gone).
    Removed,
    /// A check failed: the old secret stays, and the reason says which and what to do.
    Held(String),
    /// The checks or the removal could not be done (network, permission): try again later.
    Failed(String),
}

/// One pending removal, as `keyturn cleanup` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupItem {
    pub rotation_id: i64,
    pub app_display_name: String,
    pub app_id: crate::graph::AppId,
    pub app_object_id: ObjectId,
    pub old_key_id: KeyId,
    pub new_key_id: Option<KeyId>,
    pub remove_after: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub outcome: CleanupOutcome,
}

impl CleanupItem {
    pub fn listed(e: &JournalEntry, outcome: CleanupOutcome) -> Self {
        CleanupItem {
            rotation_id: e.id,
            app_display_name: e.app_name.clone(),
            app_id: e.app_id.clone(),
            app_object_id: e.app_object_id.clone(),
            old_key_id: e.old_key_id.clone(),
            new_key_id: e.new_key_id.clone(),
            remove_after: e.keep_until,
            outcome,
        }
    }
}

impl<G: GraphApi, V: VaultApi, S: SignInApi> Executor<G, V, S> {
    /// Sign in as the app with the new secret, retrying with backoff while Entra has not accepted it yet, up to
    /// the proof timeout. Journals `Proven` (true) or `NotProven` with the reason in words (false).
    pub(super) async fn prove(
        &self,
        id: i64,
        secret: &SecretString,
    ) -> Result<bool, RotationError> {
        let e = self.journal.get(id)?;
        self.begin(id, Step::Prove)?;
        self.pause_at(id, PausePoint::Step(Step::Prove)).await;
        let r = self.opts.proof.clone();
        let start = tokio::time::Instant::now();
        let deadline = start + r.timeout;
        let mut delay = r.initial_delay;
        let mut attempts = 0u32;
        // The progress view hears about the wait once per whole second.
        let mut told: Option<u64> = None;
        let outcome: Result<(), String> = loop {
            attempts += 1;
            match self.sign_in.sign_in_as(&e.app_id, secret).await {
                SignInOutcome::Accepted => break Ok(()),
                SignInOutcome::Refused(reason) => break Err(scrub(&reason, secret)),
                SignInOutcome::NotYet(last) => {
                    let last = scrub(&last, secret);
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        break Err(format!(
                            "Entra still refused the new secret after {} s ({attempts} sign-in attempts; the last answer: {last}); it may need more time to propagate",
                            (now - start).as_secs()
                        ));
                    }
                    let wake = (now + delay).min(deadline);
                    loop {
                        let now = tokio::time::Instant::now();
                        let waited = now - start;
                        let unit = if r.tick >= Duration::from_secs(1) {
                            waited.as_secs()
                        } else {
                            waited.as_millis() as u64 / r.tick.as_millis().max(1) as u64
                        };
                        if told != Some(unit) {
                            told = Some(unit);
                            self.emit(RotationProgress::ProofWaiting {
                                rotation_id: id,
                                waited,
                                timeout: r.timeout,
                                last: last.clone(),
                            });
                        }
                        if now >= wake {
                            break;
                        }
                        tokio::time::sleep(r.tick.min(wake - now)).await;
                    }
                    delay = (delay * 2).min(r.max_delay);
                }
            }
        };
        match outcome {
            Ok(()) => {
                self.advance(
                    id,
                    RotationState::Proven,
                    Changes {
                        detail: Some(format!(
                            "signed in as app {} with the new secret {} after {} s ({attempts} attempts)",
                            e.app_id,
                            e.new_key_id.as_ref().map(KeyId::as_str).unwrap_or("?"),
                            start.elapsed().as_secs()
                        )),
                        ..Default::default()
                    },
                )?;
                self.pause_hook(id, StateKind::Proven).await;
                Ok(true)
            }
            Err(reason) => {
                self.step_failed(id, Step::Prove, &reason, None)?;
                self.advance(id, RotationState::NotProven { reason }, Changes::default())?;
                self.pause_hook(id, StateKind::NotProven).await;
                Ok(false)
            }
        }
    }

    /// The proof when the value was lost with an earlier process (recovery, `journal resume` of `Verified` or
    /// `NotProven`): read the new version back from the vault (the value lives in memory only, here), check it
    /// belongs to the new credential, and sign in with it. Then the old secret's disposition.
    pub(super) async fn prove_stored_then_finish(
        &self,
        id: i64,
    ) -> Result<RotationReport, RotationError> {
        let e = self.journal.get(id)?;
        let target = entry_target(&e)?;
        let (Some(version), Some(new_key)) = (e.new_version.clone(), e.new_key_id.clone()) else {
            return self.attention(
                id,
                Step::Inspect,
                "the journal does not say which vault version holds the new secret, so it cannot be proven; both secrets are kept".into(),
            );
        };
        self.begin(id, Step::ReadBack)?;
        let value = match self.vault.get_secret(&target, Some(&version)).await {
            Ok(read) => {
                let tag_ok = read
                    .info
                    .tag(TAG_CREDENTIAL_ID)
                    .is_some_and(|k| k.eq_ignore_ascii_case(new_key.as_str()));
                if !(tag_ok && hint_matches(e.new_hint.as_deref(), &read.value)) {
                    self.step_failed(
                        id,
                        Step::ReadBack,
                        "the stored version does not belong to the new credential",
                        None,
                    )?;
                    return self
                        .attention(
                            id,
                            Step::ReadBack,
                            format!("version {version} in the vault does not belong to the new credential {new_key}; both secrets are kept"),
                        );
                }
                self.step_done(
                    id,
                    Step::ReadBack,
                    &format!("version {version} read back for the proof"),
                )?;
                read.value
            }
            Err(err) => {
                let reason = format!(
                    "the new value could not be read from the vault to prove it ({err}); both secrets are kept"
                );
                self.step_failed(id, Step::ReadBack, &reason, None)?;
                self.advance(id, RotationState::NotProven { reason }, Changes::default())?;
                return self.finish(id);
            }
        };
        let proven = self.prove(id, &value).await?;
        drop(value);
        if !proven {
            return self.finish(id);
        }
        self.finish_old(id).await
    }

    /// Proven: remove the old credential now (chosen, or it already expired), or make it a pending removal due
    /// at the keep-until date.
    pub(super) async fn finish_old(&self, id: i64) -> Result<RotationReport, RotationError> {
        let e = self.journal.get(id)?;
        let now = self.clock.now();
        let old_expired = e.old_end.is_some_and(|end| end <= now);
        if let Some(until) = e.keep_until
            && until > now
            && !old_expired
        {
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
        self.remove_old(&e).await?;
        self.finish(id)
    }

    /// removePassword of the old credential, then OldRemoved and Done; a failure parks it as a pending removal
    /// due at once.
    async fn remove_old(&self, e: &JournalEntry) -> Result<Option<String>, RotationError> {
        let id = e.id;
        self.begin(id, Step::RemoveOld)?;
        self.pause_at(id, PausePoint::Step(Step::RemoveOld)).await;
        match self
            .remove_with_retry(Some(id), &e.app_object_id, &e.old_key_id)
            .await
        {
            Ok(()) => {
                self.advance(id, RotationState::OldRemoved, Changes::default())?;
                self.advance(id, RotationState::Done, Changes::default())?;
                Ok(None)
            }
            Err(err) => {
                let error = format!("removing the old secret {} failed: {err}", e.old_key_id);
                self.advance(
                    id,
                    RotationState::OldRemovalPending {
                        keep_until: e.keep_until,
                        error: Some(error.clone()),
                    },
                    Changes::default(),
                )?;
                Ok(Some(error))
            }
        }
    }

    /// Pending removals of the signed-in tenant whose date has come (a failed removal is due at once).
    pub fn due_removals(&self) -> Result<Vec<JournalEntry>, RotationError> {
        let now = self.clock.now();
        Ok(self
            .journal
            .unfinished()?
            .into_iter()
            .filter(|e| e.state_kind == StateKind::OldRemovalPending)
            .filter(|e| e.keep_until.is_none_or(|d| d <= now))
            .filter(|e| self.same_tenant(e))
            .collect())
    }

    /// Pending removals of the signed-in tenant, due or not (the TUI's list).
    pub fn pending_removals(&self) -> Result<Vec<JournalEntry>, RotationError> {
        Ok(self
            .journal
            .unfinished()?
            .into_iter()
            .filter(|e| e.state_kind == StateKind::OldRemovalPending)
            .filter(|e| self.same_tenant(e))
            .collect())
    }

    /// Whether a journal entry belongs to the signed-in tenant. An entry without a tenant (written by an older
    /// keyturn) or a session that does not know its tenant never matches: a human resumes those by id.
    pub(super) fn same_tenant(&self, e: &JournalEntry) -> bool {
        match (&self.opts.tenant_id, &e.tenant_id) {
            (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(theirs),
            _ => false,
        }
    }

    /// Finish one pending removal after its checks: the new credential is still on the app and active; the vault's
    /// latest version holds a credential still active on the app (other than the old one); and, where last-use data
    /// is readable, the old keyId has not signed in since the rotation's proof. `force` ignores the due date only.
    pub async fn cleanup(&self, id: i64, force: bool) -> Result<CleanupItem, RotationError> {
        self.writable()?;
        let e = self.journal.get(id)?;
        if e.state_kind != StateKind::OldRemovalPending {
            return Err(RotationError::AlreadyFinished {
                id,
                state: e.state_kind,
            });
        }
        let now = self.clock.now();
        if let Some(until) = e.keep_until
            && until > now
            && !force
        {
            return Err(RotationError::NotDue { id, until });
        }
        self.claim(id, force)?;
        let outcome = self.cleanup_claimed(&e, now).await;
        self.journal.release(id)?;
        let outcome = outcome?;
        let e = self.journal.get(id)?;
        Ok(CleanupItem::listed(&e, outcome))
    }

    pub(super) async fn cleanup_claimed(
        &self,
        e: &JournalEntry,
        now: DateTime<Utc>,
    ) -> Result<CleanupOutcome, RotationError> {
        let id = e.id;
        self.begin(id, Step::Inspect)?;
        let creds = match self.graph.password_credentials(&e.app_object_id).await {
            Ok(c) => c,
            Err(err) => {
                let why = format!("cannot read the app's secrets to check before removing: {err}");
                self.step_failed(id, Step::Inspect, &why, None)?;
                return Ok(CleanupOutcome::Failed(why));
            }
        };
        if !creds.iter().any(|c| same_key(&c.key_id, &e.old_key_id)) {
            self.step_done(id, Step::Inspect, "the old secret is no longer on the app")?;
            self.advance(id, RotationState::OldRemoved, Changes::default())?;
            self.advance(id, RotationState::Done, Changes::default())?;
            return Ok(CleanupOutcome::Removed);
        }
        let active = |k: &str| {
            creds.iter().any(|c| {
                c.key_id.as_str().eq_ignore_ascii_case(k)
                    && c.end_date_time.is_none_or(|end| end > now)
            })
        };
        let new_ok = e.new_key_id.as_ref().is_some_and(|k| active(k.as_str()));
        if !new_ok {
            return self.hold(
                e,
                format!(
                    "the new secret {} is no longer active on the app; removing the old one could leave nothing that works. Rotate again, then clean up",
                    e.new_key_id.as_ref().map(KeyId::as_str).unwrap_or("?")
                ),
            );
        }
        let target = entry_target(e)?;
        let latest = match self.vault.latest(&target).await {
            Ok(l) => l,
            Err(err) => {
                let why = format!(
                    "cannot read the vault secret {target} to check before removing: {err}"
                );
                self.step_failed(id, Step::Inspect, &why, None)?;
                return Ok(CleanupOutcome::Failed(why));
            }
        };
        let vault_key = latest
            .as_ref()
            .and_then(|v| v.tag(TAG_CREDENTIAL_ID).map(str::to_string));
        match vault_key {
            Some(k) if active(&k) && !k.eq_ignore_ascii_case(e.old_key_id.as_str()) => {}
            Some(k) => {
                return self.hold(
                    e,
                    format!(
                        "the vault secret {target}'s latest version holds credential {k}, which is {}; consumers reading the vault would break. Put a working value in the vault first",
                        if k.eq_ignore_ascii_case(e.old_key_id.as_str()) {
                            "the old secret about to be removed"
                        } else {
                            "not active on the app"
                        }
                    ),
                );
            }
            None => {
                return self.hold(
                    e,
                    format!(
                        "the vault secret {target}'s latest version does not say which credential it holds (no CredentialId tag), so keyturn cannot tell that removing the old secret is safe"
                    ),
                );
            }
        }
        let since = e.proven_at.unwrap_or(e.created_at);
        let last_use = match self
            .graph
            .credential_last_sign_in(&e.app_id, &e.old_key_id)
            .await
        {
            Ok(LastUse::Known(Some(t))) if t > since => {
                return self.hold(
                    e,
                    format!(
                        "the old secret {} signed in at {}, after the rotation ({}): something still uses it. Find it (keyturn show), move it to the vault's value, then clean up",
                        e.old_key_id,
                        t.format("%Y-%m-%d %H:%M UTC"),
                        since.format("%Y-%m-%d %H:%M UTC")
                    ),
                );
            }
            Ok(LastUse::Known(Some(t))) => format!(
                "last sign-in with the old secret {}, before the rotation",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            Ok(LastUse::Known(None)) => "no sign-in with the old secret is recorded".to_string(),
            Ok(LastUse::Unavailable { reason }) => {
                format!("{reason}; removing on the other checks")
            }
            // A service or cloud without the beta reports (400 "Resource not found for the segment", 404) or
            // without the permission: the data is not readable, as with no licence.
            Err(
                err @ (GraphError::BadRequest { .. }
                | GraphError::NotFound { .. }
                | GraphError::Forbidden { .. }),
            ) => format!(
                "last use of the old secret not readable ({err}); removing on the other checks"
            ),
            // Throttling, network, 5xx: the check could not be made now, so nothing is removed now.
            Err(err) => {
                let why = format!(
                    "cannot read the old secret's last use to check before removing: {err}"
                );
                self.step_failed(id, Step::Inspect, &why, None)?;
                return Ok(CleanupOutcome::Failed(why));
            }
        };
        self.step_done(
            id,
            Step::Inspect,
            &format!("checks passed: the new secret is active, the vault holds an active credential; {last_use}"),
        )?;
        match self.remove_old(e).await? {
            None => Ok(CleanupOutcome::Removed),
            Some(err) => Ok(CleanupOutcome::Failed(err)),
        }
    }

    fn hold(&self, e: &JournalEntry, why: String) -> Result<CleanupOutcome, RotationError> {
        self.step_done(e.id, Step::Inspect, &format!("held: {why}"))?;
        self.advance(
            e.id,
            RotationState::OldRemovalPending {
                keep_until: e.keep_until,
                error: Some(format!("held: {why}")),
            },
            Changes::default(),
        )?;
        Ok(CleanupOutcome::Held(why))
    }
}
