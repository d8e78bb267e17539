//! Every transition of the state machine, driven through the in-memory fakes: no network, no terminal.
use super::fakes::{Behaviour, FakeGraph, FakeOp, FakeVault, latest_tags};
use super::*;
use crate::clock::{FixedClock, SharedClock};
use crate::graph::{KeyId, ObjectId};
use crate::keyvault::SecretTarget;
use crate::keyvault::mapping::MappingSource;
use crate::store::{Journal, ProcessOwner};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::{Arc, Mutex};

const OLD_VALUE: &str = "OLDvalue-1234567890";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

struct H {
    graph: FakeGraph,
    vault: FakeVault,
    journal: Arc<Journal>,
    exec: Executor<FakeGraph, FakeVault, FakeGraph>,
    target: SecretTarget,
    events: Arc<Mutex<Vec<RotationProgress>>>,
}

fn harness() -> H {
    let graph = FakeGraph::default();
    graph.add_app(
        "obj-1",
        "app-1",
        "Payroll sync",
        &[
            ("old-key", OLD_VALUE, now() + Duration::days(5)),
            (
                "other-key",
                "OTHERvalue-000000",
                now() + Duration::days(300),
            ),
        ],
    );
    let vault = FakeVault::default();
    let target = SecretTarget::new("https://kv.vault.azure.net", "payroll").unwrap();
    vault.put(
        &target,
        OLD_VALUE,
        &[
            ("CredentialId", "old-key"),
            ("ProviderAddress", "obj-1"),
            ("owner", "team-a"),
        ],
    );
    let journal = Arc::new(Journal::in_memory().unwrap());
    let clock: SharedClock = Arc::new(FixedClock(now()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = events.clone();
    let exec = Executor::new(
        graph.clone(),
        vault.clone(),
        graph.clone(),
        journal.clone(),
        clock,
    )
    .with_options(ExecutorOptions {
        pause_after: None,
        tenant_id: Some("tenant-1".into()),
        profile: Some("default".into()),
        ..ExecutorOptions::fast()
    })
    .with_progress(Arc::new(move |p| sink_events.lock().unwrap().push(p)));
    H {
        graph,
        vault,
        journal,
        exec,
        target,
        events,
    }
}

fn request() -> PlanRequest {
    PlanRequest {
        app: "app-1".into(),
        key_id: KeyId::new("old-key"),
        target: None,
        lifetime_days: 90,
        old_choice: OldChoice::RemoveWhenProven,
        operator: "alice".into(),
        signed_in_as: "app keyturn-test".into(),
        mappings: Vec::new(),
        vaults: vec!["https://kv.vault.azure.net".into()],
    }
}

async fn approved(h: &H) -> ApprovedPlan {
    h.exec
        .plan(&request())
        .await
        .unwrap()
        .approve("Payroll sync")
        .unwrap()
}

fn key_ids(h: &H) -> Vec<String> {
    let mut k: Vec<String> = h
        .graph
        .credentials("obj-1")
        .iter()
        .map(|c| c.cred.key_id.to_string())
        .collect();
    k.sort();
    k
}

fn latest_value(h: &H) -> String {
    h.vault.versions(&h.target).last().unwrap().value.clone()
}

/// The invariants of docs/ARCHITECTURE.md section 4, after any end state:
/// - no credential exists that the journal does not know of (it was there before, or is a journaled new keyId);
/// - the vault's latest value is the value from before, or the value of a credential still on the app;
/// - whenever the journal says Done, the vault's latest value belongs to an active credential.
fn assert_invariants(h: &H) {
    let creds = h.graph.credentials("obj-1");
    let entries = h.journal.list(100).unwrap();
    for c in &creds {
        let before = ["old-key", "other-key"].contains(&c.cred.key_id.as_str());
        let journaled = entries
            .iter()
            .any(|e| e.new_key_id.as_ref() == Some(&c.cred.key_id));
        assert!(
            before || journaled,
            "credential {} is unknown to the journal",
            c.cred.key_id
        );
    }
    let latest = latest_value(h);
    let active = creds.iter().any(|c| c.value == latest);
    assert!(
        latest == OLD_VALUE || active,
        "the vault's latest value belongs to no active credential"
    );
    for e in &entries {
        if e.state_kind == StateKind::Done {
            assert!(
                active,
                "journal says Done but the vault value is not active"
            );
        }
    }
}

fn report_state(r: &RotationReport) -> &str {
    r.state.as_str()
}

#[tokio::test]
async fn plan_shows_everything_the_confirmation_screen_needs() {
    let h = harness();
    let plan = h.exec.plan(&request()).await.unwrap();
    assert_eq!(plan.app.display_name, "Payroll sync");
    assert_eq!(plan.app.object_id, ObjectId::new("obj-1"));
    assert_eq!(plan.old.key_id, KeyId::new("old-key"));
    assert_eq!(plan.old.days_left, Some(5));
    assert_eq!(plan.new_display_name, "keyturn 2025-06-01 alice");
    assert_eq!(plan.new_end, now() + Duration::days(90));
    let t = plan.target.as_ref().unwrap();
    assert_eq!(t.target, h.target);
    assert_eq!(t.source, MappingSource::Tags);
    assert_eq!(t.current.as_ref().unwrap().version, "v01");
    assert_eq!(plan.old_disposition, OldDisposition::RemoveWhenProven);
    // The person, next to the identity keyturn is signed in as.
    assert_eq!(plan.approver, "alice (signed in as app keyturn-test)");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // Approval needs the exact display name.
    assert!(!plan.confirms("payroll sync"));
    assert!(plan.clone().approve("Payroll").is_err());
    assert!(plan.approve(" Payroll sync ").is_ok());
}

#[tokio::test]
async fn plan_without_mapping_asks_and_validates_the_typed_target() {
    let h = harness();
    let mut req = request();
    req.vaults.clear();
    let mut plan = h.exec.plan(&req).await.unwrap();
    assert!(plan.target.is_none());
    assert_eq!(
        plan.clone().approve("Payroll sync"),
        Err(ApprovalError::NoTarget)
    );
    let typed = SecretTarget::new("https://kv.vault.azure.net", "brand-new").unwrap();
    plan.set_target(h.exec.vault(), typed, MappingSource::Operator)
        .await
        .unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("does not exist yet"))
    );
    h.vault.fault(FakeOp::VaultLatest, Behaviour::Refuse, 1);
    let err = plan
        .set_target(h.exec.vault(), h.target.clone(), MappingSource::Operator)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Secrets"), "{err}");
}

#[tokio::test]
async fn happy_path_rotates_and_journals_every_step() {
    let h = harness();
    let report = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&report), "Done");
    assert!(report.completed);
    assert_eq!(
        report.old_credential,
        OldCredentialOutcome {
            status: OldCredentialStatus::Removed,
            remove_after: None
        }
    );
    assert_eq!(report.proof.status, ProofStatus::Proven);
    assert_eq!(report.proof.reason, None);
    let new_key = report.new_key_id.clone().unwrap();
    assert_eq!(
        key_ids(&h),
        vec![new_key.to_string(), "other-key".to_string()]
    );
    // The vault's latest version holds the new value with the tags and dates.
    let new_value = h
        .graph
        .credentials("obj-1")
        .into_iter()
        .find(|c| c.cred.key_id == new_key)
        .unwrap()
        .value;
    let versions = h.vault.versions(&h.target);
    let latest = versions.last().unwrap();
    assert_eq!(latest.value, new_value);
    assert_eq!(latest.new.tags["CredentialId"], new_key.as_str());
    assert_eq!(latest.new.tags["ProviderAddress"], "obj-1");
    assert_eq!(latest.new.tags["ValidityPeriodDays"], "90");
    assert_eq!(latest.new.tags["owner"], "team-a", "other tags are kept");
    assert_eq!(latest.new.not_before, Some(now()));
    assert_eq!(latest.new.expires, Some(now() + Duration::days(90)));
    assert_eq!(
        report.vault_secret_id.as_deref(),
        Some("https://kv.vault.azure.net/secrets/payroll/v02")
    );
    // Journal: every step started and finished, in order; no value anywhere.
    let e = h.journal.get(report.rotation_id).unwrap();
    assert_eq!(e.state_kind, StateKind::Done);
    assert_eq!(e.in_flight, None);
    assert_eq!(e.owner, None);
    let states: Vec<StateKind> = h
        .journal
        .events(e.id)
        .unwrap()
        .iter()
        .filter(|ev| ev.phase == "state")
        .map(|ev| ev.state)
        .collect();
    assert_eq!(
        states,
        [
            StateKind::Planned,
            StateKind::Approved,
            StateKind::SecretAdded,
            StateKind::StoredInVault,
            StateKind::Verified,
            StateKind::Proven,
            StateKind::OldRemoved,
            StateKind::Done
        ]
    );
    // The old secret went only after a sign-in with the new one succeeded.
    assert_eq!(
        h.graph.log(),
        [
            format!("addPassword {new_key}"),
            format!("signIn {new_key}"),
            "removePassword old-key".to_string()
        ]
    );
    let dump = format!(
        "{:?}{:?}",
        h.journal.list(10).unwrap(),
        h.journal.events(e.id).unwrap()
    );
    assert!(!dump.contains(&new_value), "the journal holds the value");
    let progress = format!("{:?}", h.events.lock().unwrap());
    assert!(!progress.contains(&new_value), "progress carries the value");
    assert!(progress.contains("Finished"));
    assert_invariants(&h);
}

#[tokio::test]
async fn add_password_refused_changes_nothing() {
    let h = harness();
    h.graph.fault(FakeOp::AddPassword, Behaviour::Refuse, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "Failed");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_eq!(h.vault.versions(&h.target).len(), 1);
    assert!(r.message.unwrap().contains("nothing was changed"));
    assert_invariants(&h);
}

#[tokio::test]
async fn add_password_answer_lost_removes_what_it_created() {
    let h = harness();
    h.graph
        .fault(FakeOp::AddPassword, Behaviour::ApplyThenFail, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "Failed");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_eq!(h.graph.removed().len(), 1);
    assert_invariants(&h);
}

#[tokio::test]
async fn vault_write_refused_rolls_back() {
    let h = harness();
    h.vault.fault(FakeOp::VaultSet, Behaviour::Refuse, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_eq!(latest_value(&h), OLD_VALUE);
    assert_eq!(h.vault.versions(&h.target).len(), 1);
    assert_eq!(r.old_credential.status, OldCredentialStatus::Kept);
    assert_eq!(r.proof.status, ProofStatus::NotProven);
    assert_invariants(&h);
}

#[tokio::test]
async fn vault_write_answer_lost_rolls_forward() {
    let h = harness();
    h.vault.fault(FakeOp::VaultSet, Behaviour::ApplyThenFail, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "Done");
    let e = h.journal.get(r.rotation_id).unwrap();
    assert_eq!(e.new_version.as_deref(), Some("v02"));
    assert!(!key_ids(&h).contains(&"old-key".to_string()));
    assert_invariants(&h);
}

#[tokio::test]
async fn vault_write_unknown_and_unreadable_keeps_both() {
    let h = harness();
    h.vault.fault(FakeOp::VaultSet, Behaviour::ServerError, 1);
    h.vault.fault(FakeOp::VaultGet, Behaviour::ServerError, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "NeedsAttention");
    assert_eq!(key_ids(&h).len(), 3, "both old and new are kept");
    assert_invariants(&h);
    // Once the vault answers again, resume finds the new version absent and rolls back.
    let r = h.exec.resume(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_invariants(&h);
}

#[tokio::test]
async fn read_back_mismatch_restores_previous_value_then_removes_new() {
    let h = harness();
    h.vault.fault(FakeOp::VaultGet, Behaviour::Corrupt, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    let versions = h.vault.versions(&h.target);
    assert_eq!(versions.len(), 3, "previous, new, previous written back");
    assert_eq!(latest_value(&h), OLD_VALUE);
    assert_eq!(latest_tags(&h.vault, &h.target)["CredentialId"], "old-key");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert!(r.message.unwrap().contains("read-back mismatch"));
    assert_invariants(&h);
}

#[tokio::test]
async fn old_removal_failure_parks_then_resume_completes() {
    let h = harness();
    h.graph
        .fault(FakeOp::RemovePassword, Behaviour::ServerError, 3);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "OldRemovalPending");
    assert!(!r.completed);
    assert_eq!(r.old_credential.status, OldCredentialStatus::PendingRemoval);
    assert_eq!(r.old_credential.remove_after, Some(now()), "due at once");
    assert!(key_ids(&h).contains(&"old-key".to_string()));
    assert_invariants(&h);
    let report = startup::startup_report(&h.journal).unwrap();
    assert_eq!(report.pending_removals.len(), 1);
    let r = h.exec.resume(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "Done");
    assert!(!key_ids(&h).contains(&"old-key".to_string()));
    assert_invariants(&h);
}

#[tokio::test]
async fn removal_400_right_after_add_is_retried() {
    let h = harness();
    h.graph
        .fault(FakeOp::RemovePassword, Behaviour::ServerError, 2);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "Done");
    let retries = h
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| {
            matches!(
                p,
                RotationProgress::StepFailed {
                    retry_in: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn removal_answer_lost_counts_as_removed() {
    let h = harness();
    h.graph
        .fault(FakeOp::RemovePassword, Behaviour::ApplyThenFail, 1);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "Done");
}

#[tokio::test]
async fn keep_until_parks_and_resume_waits_for_the_date() {
    let h = harness();
    let mut plan = h.exec.plan(&request()).await.unwrap();
    plan.set_old_disposition(OldDisposition::KeepUntil(now() + Duration::days(2)));
    let r = h
        .exec
        .execute(plan.approve("Payroll sync").unwrap())
        .await
        .unwrap();
    assert_eq!(report_state(&r), "OldRemovalPending");
    assert!(r.completed, "keeping the old secret was the plan");
    assert!(key_ids(&h).contains(&"old-key".to_string()));
    assert!(matches!(
        h.exec.resume(r.rotation_id, false).await,
        Err(RotationError::NotDue { .. })
    ));
    let r = h.exec.resume(r.rotation_id, true).await.unwrap();
    assert_eq!(report_state(&r), "Done");
    assert_invariants(&h);
}

#[tokio::test]
async fn rollback_failure_needs_attention_until_resolved() {
    let h = harness();
    h.vault.fault(FakeOp::VaultSet, Behaviour::Refuse, 1);
    h.graph
        .fault(FakeOp::RemovePassword, Behaviour::ServerError, 3);
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert_eq!(report_state(&r), "NeedsAttention");
    assert_eq!(key_ids(&h).len(), 3);
    assert_invariants(&h);
    let start = startup::startup_report(&h.journal).unwrap();
    assert_eq!(start.needs_attention.len(), 1);
    assert!(start.lines().join("\n").contains("NEEDS ATTENTION"));
    // A second rotation of the same app is refused meanwhile.
    assert!(matches!(
        h.exec.execute(approved(&h).await).await,
        Err(RotationError::AppBusy { .. })
    ));
    let r = h.exec.rollback(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert!(startup::startup_report(&h.journal).unwrap().is_empty());
    assert_invariants(&h);
}

#[tokio::test]
async fn restore_failure_keeps_the_new_credential() {
    let h = harness();
    // Read-back mismatch, then the write of the previous value fails.
    h.vault.fault(FakeOp::VaultGet, Behaviour::Corrupt, 1);
    let plan = approved(&h).await;
    // The first set (the new value) must succeed; make the second fail.
    let vault = h.vault.clone();
    let armed = std::sync::atomic::AtomicBool::new(true);
    let sink: ProgressSink = Arc::new(move |p| {
        if let RotationProgress::StepStarted {
            step: Step::RestorePrevious,
            ..
        } = p
            && armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            vault.fault(FakeOp::VaultSet, Behaviour::Refuse, 1);
        }
    });
    let exec = Executor::new(
        h.graph.clone(),
        h.vault.clone(),
        h.graph.clone(),
        h.journal.clone(),
        Arc::new(FixedClock(now())),
    )
    .with_options(ExecutorOptions::fast())
    .with_progress(sink);
    let r = exec.execute(plan).await.unwrap();
    assert_eq!(report_state(&r), "NeedsAttention");
    assert_eq!(
        key_ids(&h).len(),
        3,
        "the new credential stays: the vault may hold it"
    );
    assert_invariants(&h);
    let r = exec.rollback(r.rotation_id, false).await.unwrap();
    assert_eq!(report_state(&r), "RolledBack");
    assert_eq!(latest_value(&h), OLD_VALUE);
    assert_invariants(&h);
}

#[tokio::test]
async fn read_only_refuses_before_anything_is_journaled() {
    let h = harness();
    let exec = Executor::new(
        h.graph.clone(),
        h.vault.clone(),
        h.graph.clone(),
        h.journal.clone(),
        Arc::new(FixedClock(now())),
    )
    .with_options(ExecutorOptions {
        read_only: true,
        ..ExecutorOptions::fast()
    });
    let plan = exec.plan(&request()).await.unwrap();
    assert!(plan.warnings.iter().any(|w| w.contains("read-only")));
    let err = exec
        .execute(plan.approve("Payroll sync").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, RotationError::ReadOnly));
    assert!(err.to_string().contains("nothing was changed"));
    assert!(h.journal.list(10).unwrap().is_empty());
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
}

#[tokio::test]
async fn old_credential_gone_since_plan_fails_preflight() {
    let h = harness();
    let plan = approved(&h).await;
    h.exec
        .graph()
        .remove_password(&ObjectId::new("obj-1"), &KeyId::new("old-key"))
        .await
        .unwrap();
    let r = h.exec.execute(plan).await.unwrap();
    assert_eq!(report_state(&r), "Failed");
    assert!(r.message.unwrap().contains("no longer on the app"));
    assert_eq!(h.vault.versions(&h.target).len(), 1);
}

#[tokio::test]
async fn done_cannot_be_rolled_back() {
    let h = harness();
    let r = h.exec.execute(approved(&h).await).await.unwrap();
    assert!(matches!(
        h.exec.rollback(r.rotation_id, false).await,
        Err(RotationError::CannotRollBack { .. })
    ));
    assert!(matches!(
        h.exec.resume(r.rotation_id, false).await,
        Err(RotationError::AlreadyFinished { .. })
    ));
}

/// Run a rotation until the executor pauses after `state`, then drop it mid-flight (what a kill leaves in the
/// journal) and hand the entry to a dead owner.
async fn interrupted_after(h: &H, state: StateKind) -> i64 {
    let exec = Executor::new(
        h.graph.clone(),
        h.vault.clone(),
        h.graph.clone(),
        h.journal.clone(),
        Arc::new(FixedClock(now())),
    )
    .with_options(ExecutorOptions {
        pause_after: Some(PausePoint::State(state)),
        tenant_id: Some("tenant-1".into()),
        ..ExecutorOptions::fast()
    });
    let plan = approved(h).await;
    let run = exec.execute(plan);
    // The pause sleeps an hour; a short timeout drops the future at the pause point.
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(200), run).await;
    assert!(timed_out.is_err(), "the executor did not pause");
    let e = h.journal.list(1).unwrap().remove(0);
    assert_eq!(e.state_kind, state);
    h.journal
        .set_owner_for_test(
            e.id,
            Some(ProcessOwner {
                pid: 999_999_999,
                start: Some("0".into()),
            }),
        )
        .unwrap();
    e.id
}

#[tokio::test]
async fn crash_after_secret_added_without_vault_write_removes_new() {
    let h = harness();
    let id = interrupted_after(&h, StateKind::SecretAdded).await;
    assert_eq!(key_ids(&h).len(), 3);
    let recovered = h.exec.recover_interrupted().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(report_state(&recovered[0]), "RolledBack");
    assert_eq!(h.journal.get(id).unwrap().state_kind, StateKind::RolledBack);
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_invariants(&h);
}

#[tokio::test]
async fn crash_after_secret_added_with_tagged_vault_version_continues() {
    let h = harness();
    let id = interrupted_after(&h, StateKind::SecretAdded).await;
    // The vault write was in flight when the process died and landed: simulate it with the new value and tag.
    let e = h.journal.get(id).unwrap();
    let new_key = e.new_key_id.clone().unwrap();
    let new_value = h
        .graph
        .credentials("obj-1")
        .into_iter()
        .find(|c| c.cred.key_id == new_key)
        .unwrap()
        .value;
    h.vault.put(
        &h.target,
        &new_value,
        &[
            ("CredentialId", new_key.as_str()),
            ("ProviderAddress", "obj-1"),
        ],
    );
    let recovered = h.exec.recover_interrupted().await.unwrap();
    assert_eq!(report_state(&recovered[0]), "Done");
    assert_eq!(key_ids(&h), [new_key.to_string(), "other-key".to_string()]);
    assert_invariants(&h);
}

#[tokio::test]
async fn crash_after_stored_in_vault_rolls_forward() {
    let h = harness();
    let id = interrupted_after(&h, StateKind::StoredInVault).await;
    let recovered = h.exec.recover_interrupted().await.unwrap();
    assert_eq!(report_state(&recovered[0]), "Done");
    let events = h.journal.events(id).unwrap();
    assert!(
        events
            .iter()
            .any(|ev| ev.detail.as_deref().is_some_and(|d| d.contains("hint")))
    );
    assert!(!key_ids(&h).contains(&"old-key".to_string()));
    assert_invariants(&h);
}

#[tokio::test]
async fn crash_during_add_password_cleans_up_by_name() {
    let h = harness();
    let id = interrupted_after(&h, StateKind::SecretAdded).await;
    // Pretend the journal never recorded SecretAdded: the state was Approved with addPassword in flight.
    h.journal.rewind_for_test(id).unwrap();
    let recovered = h.exec.recover_interrupted().await.unwrap();
    assert_eq!(report_state(&recovered[0]), "Failed");
    assert_eq!(key_ids(&h), ["old-key", "other-key"]);
    assert_invariants(&h);
}

#[tokio::test]
async fn recovery_leaves_live_rotations_alone() {
    let h = harness();
    let id = interrupted_after(&h, StateKind::SecretAdded).await;
    h.journal
        .set_owner_for_test(id, Some(ProcessOwner::current()))
        .unwrap();
    assert!(h.exec.recover_interrupted().await.unwrap().is_empty());
    assert_eq!(
        h.journal.get(id).unwrap().state_kind,
        StateKind::SecretAdded
    );
    let start = startup::startup_report(&h.journal).unwrap();
    assert_eq!(start.in_progress.len(), 1);
}

#[path = "tests_continuity.rs"]
mod continuity;
