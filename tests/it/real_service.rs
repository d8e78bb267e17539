//! Answers a real tenant and a real vault give that a tidy emulator would not, each learnt by the emulator and read
//! right by keyturn: replication that hides a just-added secret from reads, soft-deleted secret names, the kinds of
//! Key Vault 403, owners without names.
use super::rotation::{
    assert_invariants, creds, env, executor_for, fault, has_key, request, test_options,
};
use keyturn::emulator::{FaultKind, Op};
use keyturn::rotation::{ExecutorOptions, RemovalRetry};
use std::time::Duration;

/// Right after addPassword a read may not list the new key yet, and removePassword fails as for an unknown key
/// (replication). A rollback then must not take one read without the key for "removed": the new credential would
/// stay on the app with its value lost. Here reads hide it for 2 s and removals fail for 2 s; the engine's pause
/// between its two reads (3 s) outlasts that, so a second read lists it again and the removal is retried until it
/// happens. An engine that trusted the first read would report RolledBack with the credential still on the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_under_read_lag_removes_the_new_secret_for_real() {
    let env = env().await;
    let lag = Duration::from_secs(2);
    env.emu.faults().set_read_lag(lag);
    env.emu.faults().set_replication_lag(lag);
    // The vault write certainly fails (403 is not retried): roll back at once, well inside the lag.
    env.emu
        .faults()
        .add(fault(Op::VaultSet, FaultKind::Status(403), u32::MAX));
    let opts = ExecutorOptions {
        removal_retry: RemovalRetry {
            attempts: 6,
            initial_delay: Duration::from_secs(3),
            max_delay: Duration::from_secs(3),
        },
        ..test_options()
    };
    let exec = executor_for(&env.info, env.journal.clone(), opts);
    let plan = exec.plan(&request(&env.subject)).await.unwrap();
    let started = std::time::Instant::now();
    let report = exec
        .execute(plan.approve(&env.subject.name).unwrap())
        .await
        .unwrap();
    assert_eq!(report.state, "RolledBack", "{report:?}");
    let e = env.journal.get(report.rotation_id).unwrap();
    let new_key = e.new_key_id.clone().expect("addPassword happened");
    // The emulator's own state has no lag: the credential is really gone, the old one kept.
    assert!(
        !has_key(&env, new_key.as_str()),
        "the rollback concluded 'removed' while the new credential is still on the app"
    );
    assert!(has_key(&env, &env.subject.key));
    assert_eq!(
        creds(&env.emu.state(), &env.subject.app).len(),
        env.initial_keys.len()
    );
    // The first removal did fail (replication), so the test did exercise the lagged path.
    let events = env.journal.events(report.rotation_id).unwrap();
    let retried = events.iter().any(|ev| {
        ev.phase == "note"
            && ev
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("removePassword attempt 1 failed"))
    });
    assert!(
        retried,
        "the first removal failed under the lag: {events:?}"
    );
    assert!(started.elapsed() >= lag, "the lag was in force");
    assert_invariants(&env);
    env.emu.shutdown().await;
}
