//! The sign-in proof, the old secret's disposition, pending removals and `cleanup`, and the recovery of the new
//! states, on the fakes (which log addPassword, signIn and removePassword in the order they took effect).
use super::*;

fn executor_at(
    h: &H,
    at: DateTime<Utc>,
    tenant: &str,
) -> Executor<FakeGraph, FakeVault, FakeGraph> {
    Executor::new(
        h.graph.clone(),
        h.vault.clone(),
        h.graph.clone(),
        h.journal.clone(),
        Arc::new(FixedClock(at)),
    )
    .with_options(ExecutorOptions {
        pause_after: None,
        tenant_id: Some(tenant.into()),
        ..ExecutorOptions::fast()
    })
}

async fn rotate_with(h: &H, choice: OldChoice) -> RotationReport {
    let mut req = request();
    req.old_choice = choice;
    let plan = h.exec.plan(&req).await.unwrap();
    h.exec
        .execute(plan.approve("Payroll sync").unwrap())
        .await
        .unwrap()
}

const NO_SP: &str = r#"{"error":"unauthorized_client","error_description":"AADSTS7000229: The client application is missing service principal in the tenant.\r\nTrace ID: t","error_codes":[7000229]}"#;

fn removed_old(h: &H) -> bool {
    h.graph.log().iter().any(|l| l == "removePassword old-key")
}

#[tokio::test]
async fn default_keeps_the_old_secret_for_keep_old_days_never_past_its_end() {
    let h = harness();
    // The old secret ends in 5 days: 2 days are kept as asked, 7 are capped at its end.
    let r = rotate_with(&h, OldChoice::KeepDays(2)).await;
    assert_eq!(report_state(&r), "OldRemovalPending");
    assert!(r.completed, "keeping it was the plan");
    assert_eq!(r.proof.status, ProofStatus::Proven);
    assert_eq!(r.old_credential.status, OldCredentialStatus::PendingRemoval);
    assert_eq!(
        r.old_credential.remove_after,
        Some(now() + Duration::days(2))
    );
    assert!(!removed_old(&h));
    assert!(key_ids(&h).contains(&"old-key".to_string()));
    assert_invariants(&h);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["proof"],
        serde_json::json!({"status": "proven", "reason": null})
    );
    assert_eq!(json["oldCredential"]["status"], "pendingRemoval");
    assert_eq!(json["oldCredential"]["removeAfter"], "2025-06-03T12:00:00Z");

    let h = harness();
    let plan = {
        let mut req = request();
        req.old_choice = OldChoice::KeepDays(7);
        h.exec.plan(&req).await.unwrap()
    };
    assert_eq!(
        plan.old_disposition,
        OldDisposition::KeepUntil(now() + Duration::days(5))
    );
    let mut until_end = plan.clone();
    until_end.choose_old(OldChoice::KeepUntilEnd);
    assert_eq!(until_end.old_disposition, plan.old_disposition);
}

#[tokio::test]
async fn the_proof_waits_for_propagation_and_the_old_secret_goes_after_it() {
    let h = harness();
    h.graph.propagation_attempts(3);
    let r = rotate_with(&h, OldChoice::RemoveWhenProven).await;
    assert_eq!(report_state(&r), "Done");
    let new_key = r.new_key_id.clone().unwrap();
    assert_eq!(
        h.graph.log(),
        [
            format!("addPassword {new_key}"),
            format!("signIn {new_key}"),
            "removePassword old-key".to_string()
        ]
    );
    let waits = h
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, RotationProgress::ProofWaiting { .. }))
        .count();
    assert!(
        waits >= 3,
        "the wait is shown while it lasts ({waits} events)"
    );
    let proven = h
        .journal
        .events(r.rotation_id)
        .unwrap()
        .into_iter()
        .find(|e| e.state == StateKind::Proven && e.phase == "state")
        .unwrap();
    assert!(proven.detail.unwrap().contains("(4 attempts)"));
    assert!(h.journal.get(r.rotation_id).unwrap().proven_at.is_some());
}

#[tokio::test]
async fn no_service_principal_keeps_both_secrets_and_says_why() {
    let h = harness();
    h.graph.refuse_sign_in(400, NO_SP);
    let r = rotate_with(&h, OldChoice::RemoveWhenProven).await;
    assert_eq!(report_state(&r), "NotProven");
    assert!(!r.completed);
    assert_eq!(r.proof.status, ProofStatus::NotProven);
    let reason = r.proof.reason.clone().unwrap();
    assert!(
        reason.contains("AADSTS7000229") && reason.contains("no service principal"),
        "{reason}"
    );
    assert_eq!(r.old_credential.status, OldCredentialStatus::Kept);
    assert!(!removed_old(&h));
    let new_key = r.new_key_id.clone().unwrap();
    assert_eq!(
        key_ids(&h),
        [new_key.to_string(), "old-key".into(), "other-key".into()]
    );
    assert_invariants(&h);
    // Parked, reported at every start, never recovered automatically.
    let start = startup::startup_report(&h.journal).unwrap();
    assert_eq!(
        start.needs_attention.len() + start.pending_removals.len(),
        0
    );
    assert!(h.exec.recover_interrupted().await.unwrap().is_empty());
    assert!(
        progress::message_for(&h.journal.get(r.rotation_id).unwrap())
            .unwrap()
            .contains("NOT PROVEN")
    );
    // The cause fixed, `journal resume` proves it from the vault's value and finishes as planned.
    h.graph.accept_sign_in();
    let r = h.exec.resume(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "Done");
    assert_eq!(r.proof.status, ProofStatus::Proven);
    assert_eq!(key_ids(&h), [new_key.to_string(), "other-key".into()]);
    assert_invariants(&h);
}

#[tokio::test]
async fn a_secret_never_accepted_times_out_with_the_reason() {
    let h = harness();
    h.graph.propagation_attempts(u32::MAX);
    let r = rotate_with(&h, OldChoice::RemoveWhenProven).await;
    assert_eq!(report_state(&r), "NotProven");
    let reason = r.proof.reason.unwrap();
    assert!(
        reason.contains("still refused") && reason.contains("AADSTS7000215"),
        "{reason}"
    );
    assert!(!removed_old(&h));
    assert_invariants(&h);
}

#[tokio::test]
async fn an_expired_old_secret_is_removed_once_proven_whatever_was_chosen() {
    let h = harness();
    h.graph.add_app(
        "obj-1",
        "app-1",
        "Payroll sync",
        &[("old-key", OLD_VALUE, now() - Duration::days(1))],
    );
    let plan = h.exec.plan(&request()).await.unwrap();
    let mut plan = plan;
    plan.choose_old(OldChoice::KeepDays(7));
    assert_eq!(plan.old_disposition, OldDisposition::RemoveWhenProven);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("removed as soon as the new one is proven"))
    );
    let r = h
        .exec
        .execute(plan.approve("Payroll sync").unwrap())
        .await
        .unwrap();
    assert_eq!(report_state(&r), "Done");
    assert!(removed_old(&h));
}

#[tokio::test]
async fn cleanup_removes_a_due_secret_only_after_its_checks() {
    let h = harness();
    let r = rotate_with(&h, OldChoice::KeepDays(2)).await;
    let id = r.rotation_id;
    assert!(h.exec.due_removals().unwrap().is_empty(), "not due yet");
    assert!(matches!(
        h.exec.cleanup(id, false).await,
        Err(RotationError::NotDue { .. })
    ));
    let later = executor_at(&h, now() + Duration::days(3), "tenant-1");
    assert_eq!(later.due_removals().unwrap().len(), 1);
    // Another tenant's session sees nothing of it.
    assert!(
        executor_at(&h, now() + Duration::days(3), "tenant-2")
            .due_removals()
            .unwrap()
            .is_empty()
    );

    // The old keyId signed in after the proof: something still uses it.
    h.graph.set_last_use("old-key", now() + Duration::hours(5));
    let item = later.cleanup(id, false).await.unwrap();
    match &item.outcome {
        CleanupOutcome::Held(why) => assert!(why.contains("signed in at"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(!removed_old(&h));
    // A sign-in before the rotation does not hold it, and unreadable last-use data does not either.
    h.graph.set_last_use("old-key", now() - Duration::hours(5));
    h.graph.forbid_last_use();
    let item = later.cleanup(id, false).await.unwrap();
    assert_eq!(item.outcome, CleanupOutcome::Removed);
    assert!(removed_old(&h));
    assert_eq!(h.journal.get(id).unwrap().state_kind, StateKind::Done);
    assert_invariants(&h);
}

#[tokio::test]
async fn cleanup_holds_when_the_vault_or_the_new_secret_would_break() {
    // The vault was put back to the old value by someone: removing the old secret would break its readers.
    let h = harness();
    let r = rotate_with(&h, OldChoice::KeepDays(1)).await;
    h.vault
        .put(&h.target, OLD_VALUE, &[("CredentialId", "old-key")]);
    let later = executor_at(&h, now() + Duration::days(2), "tenant-1");
    let item = later.cleanup(r.rotation_id, false).await.unwrap();
    match &item.outcome {
        CleanupOutcome::Held(why) => {
            assert!(why.contains("the old secret about to be removed"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!removed_old(&h));
    let json = serde_json::to_value(&item).unwrap();
    assert_eq!(json["status"], "held");
    assert!(json["reason"].as_str().unwrap().contains("vault"));

    // The new credential was deleted in the portal.
    let h = harness();
    let r = rotate_with(&h, OldChoice::KeepDays(1)).await;
    h.graph
        .delete_credential("obj-1", r.new_key_id.as_ref().unwrap().as_str());
    let later = executor_at(&h, now() + Duration::days(2), "tenant-1");
    let item = later.cleanup(r.rotation_id, false).await.unwrap();
    match &item.outcome {
        CleanupOutcome::Held(why) => assert!(why.contains("no longer active"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(key_ids(&h).contains(&"old-key".to_string()));
    // The hold is journaled and shown.
    let e = h.journal.get(r.rotation_id).unwrap();
    assert_eq!(e.state_kind, StateKind::OldRemovalPending);
    assert!(e.error.unwrap().starts_with("held:"));
}

#[tokio::test]
async fn crash_after_verified_or_proven_is_finished_by_the_next_start() {
    for state in [StateKind::Verified, StateKind::Proven, StateKind::NotProven] {
        let h = harness();
        if state == StateKind::NotProven {
            h.graph.refuse_sign_in(400, NO_SP);
        }
        let id = interrupted_after(&h, state).await;
        assert!(
            !removed_old(&h),
            "{state}: nothing removed before the proof"
        );
        if state == StateKind::NotProven {
            // Parked, not interrupted: the next start leaves it for a human.
            assert!(h.exec.recover_interrupted().await.unwrap().is_empty());
            assert_eq!(h.journal.get(id).unwrap().state_kind, StateKind::NotProven);
            assert_invariants(&h);
            continue;
        }
        // Another tenant's start never touches it.
        assert!(
            executor_at(&h, now(), "tenant-2")
                .recover_interrupted()
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(h.journal.get(id).unwrap().state_kind, state);
        let recovered = h.exec.recover_interrupted().await.unwrap();
        assert_eq!(recovered.len(), 1, "{state}");
        assert_eq!(report_state(&recovered[0]), "Done", "{state}");
        assert_eq!(recovered[0].proof.status, ProofStatus::Proven);
        assert!(removed_old(&h));
        let log = h.graph.log();
        let signed = log.iter().position(|l| l.starts_with("signIn")).unwrap();
        let removed = log
            .iter()
            .position(|l| l == "removePassword old-key")
            .unwrap();
        assert!(signed < removed, "{state}: {log:?}");
        assert_invariants(&h);
    }
}

#[tokio::test]
async fn rollback_of_a_not_proven_rotation_restores_the_vault_first() {
    let h = harness();
    h.graph.refuse_sign_in(400, NO_SP);
    let r = rotate_with(&h, OldChoice::RemoveWhenProven).await;
    assert_eq!(report_state(&r), "NotProven");
    let versions_before = h.vault.versions(&h.target).len();
    let removes_before = h.graph.removed().len();
    // Record the order: the vault write back must be seen before the new credential's removal.
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o, vault, graph) = (order.clone(), h.vault.clone(), h.graph.clone());
    let target = h.target.clone();
    let exec = executor_at(&h, now(), "tenant-1").with_progress(Arc::new(move |p| {
        if let RotationProgress::StepStarted { step, .. } = p {
            o.lock().unwrap().push(format!(
                "{step} vault={} removed={}",
                vault.versions(&target).len(),
                graph.removed().len()
            ));
        }
    }));
    let r = exec.rollback(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(latest_value(&h), OLD_VALUE);
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    let order = order.lock().unwrap().clone();
    let remove_new = order.iter().find(|l| l.starts_with("removeNew")).unwrap();
    assert_eq!(
        remove_new,
        &format!(
            "removeNew vault={} removed={removes_before}",
            versions_before + 1
        ),
        "the previous value was written back before the new credential was removed: {order:?}"
    );
    assert_invariants(&h);
}

#[tokio::test]
async fn a_rollback_does_not_conclude_removed_from_one_stale_read() {
    let h = harness();
    h.vault.fault(FakeOp::VaultSet, Behaviour::Refuse, 1);
    // removePassword fails once, and the read right after it comes from a replica that has not seen the new key.
    h.graph
        .fault(FakeOp::RemovePassword, Behaviour::ServerError, 1);
    h.graph.fault(FakeOp::ListPasswords, Behaviour::Stale, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(
        key_ids(&h),
        ["old-key", "other-key"],
        "RolledBack must mean the new credential is really gone"
    );
    assert_invariants(&h);
}
