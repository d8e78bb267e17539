//! Finishing and undoing rotations from the journal: `journal resume`, `journal rollback`, recovery at start, and
//! the rollback itself (the previous value back into the vault first, then the new credential removed).
use super::*;

impl<G: GraphApi, V: VaultApi, S: SignInApi> Executor<G, V, S> {
    /// Finish an unfinished rotation forward (`keyturn journal resume ID`): verify, prove, then the old secret
    /// per its disposition. `force` takes it over from a process that looks alive and, for a pending removal,
    /// removes the old secret before its date (still after the checks of `keyturn cleanup`).
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
            StateKind::Verified | StateKind::NotProven => self.prove_stored_then_finish(id).await,
            StateKind::Proven => self.finish_old(id).await,
            StateKind::OldRemoved => {
                self.advance(id, RotationState::Done, Changes::default())?;
                self.finish(id)
            }
            StateKind::OldRemovalPending => {
                let now = self.clock.now();
                match e.keep_until {
                    Some(until) if until > now && !force => {
                        Err(RotationError::NotDue { id, until })
                    }
                    _ => match self.cleanup_claimed(&e, now).await {
                        Ok(_) => self.finish(id),
                        Err(err) => Err(err),
                    },
                }
            }
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

    /// At start: finish every rotation of the signed-in tenant that was interrupted mid-way (its process is
    /// gone). Parked ones (NeedsAttention, NotProven, OldRemovalPending) are left for a human or `keyturn cleanup`;
    /// `startup_report` lists them. Rotations of another tenant (or of unknown tenant) are never touched.
    pub async fn recover_interrupted(&self) -> Result<Vec<RotationReport>, RotationError> {
        if self.opts.read_only {
            return Ok(Vec::new());
        }
        let me = ProcessOwner::current();
        let mut out = Vec::new();
        for e in self.journal.unfinished()? {
            // A rollback that was cut off is finished backward even from a parked state (a NotProven rotation
            // being rolled back); a failed rollback (NeedsAttention) waits for a human.
            let interrupted_rollback = e.rolling_back
                && !e.state_kind.is_final()
                && e.state_kind != StateKind::NeedsAttention;
            if !(e.state_kind.is_in_progress() || interrupted_rollback) || !self.same_tenant(&e) {
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
                self.prove_stored_then_finish(id).await
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
                    self.prove_stored_then_finish(id).await
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

    // ---- rollback ---------------------------------------------------------------------------------------------

    /// Roll back: if the vault's latest version belongs to the new credential, write the previous value back
    /// first; then remove the new credential. Any failure: NeedsAttention, with both credentials kept.
    pub(super) async fn undo(
        &self,
        id: i64,
        reason: &str,
    ) -> Result<RotationReport, RotationError> {
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
            self.pause_at(id, PausePoint::Step(Step::RestorePrevious))
                .await;
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
        self.pause_at(id, PausePoint::Step(Step::RemoveNew)).await;
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

    /// One read of the app's secrets lacks `key` (a failed read says nothing).
    async fn absent(&self, app: &ObjectId, key: &KeyId) -> bool {
        self.graph
            .password_credentials(app)
            .await
            .is_ok_and(|list| !list.iter().any(|c| same_key(&c.key_id, key)))
    }

    /// removePassword with backoff; after each failure the app is re-read, since the removal may have happened
    /// with its answer lost (or an earlier attempt's did).
    pub(super) async fn remove_with_retry(
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
            // Right after addPassword a read may not list the new key yet (replication): one read without it
            // proves nothing. Gone only when two reads, a pause apart, both lack it.
            if self.absent(app, key).await {
                tokio::time::sleep(delay).await;
                if self.absent(app, key).await {
                    return Ok(());
                }
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
}
