//! Continuity against the emulator with the real binary: the sign-in proof, the old secret kept or removed only
//! after it, `keyturn cleanup`, and the fault matrix (SIGKILL at every journaled state and inside the removal and
//! rollback steps, recovered through the binary's own start; lost answers; the invariant after every step; the
//! rollback's order; secret hygiene on every failure path). README "Continuity fault matrix" lists each cell.
use super::rotation::{
    Env, assert_invariants, binary_journal, creds, env, env_with, executor_for, fault, has_key,
    keyturn_cmd, latest_version, request, rotate_argv, test_options, versions,
};
use keyturn::emulator::{AppChange, FaultKind, Op};
use keyturn::rotation::{OldChoice, PAUSE_ENV, RotationProgress, StateKind, Step};
use keyturn::store::Journal;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Run the binary to its end.
async fn run(
    env: &Env,
    home: &Path,
    args: &[String],
    extra: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = keyturn_cmd(&env.info, home);
    cmd.args(args);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn argv(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `rotate_argv` without `--remove-old`: the profile's default disposition.
fn rotate_default_argv(env: &Env) -> Vec<String> {
    rotate_argv(&env.subject)
        .into_iter()
        .filter(|a| a != "--remove-old")
        .collect()
}

fn sign_ins(state: &Value) -> Vec<Value> {
    state["signIns"].as_array().cloned().unwrap_or_default()
}

/// Every value the vault or the app holds that did not exist before the test: none may leak.
fn new_values(env: &Env) -> Vec<String> {
    let state = env.emu.state();
    let mut out: Vec<String> = versions(&state, &env.subject.secret)
        .iter()
        .filter_map(|v| v["value"].as_str().map(str::to_string))
        .filter(|v| *v != env.initial_value)
        .collect();
    for (k, v, _) in creds(&state, &env.subject.app) {
        if !env.initial_keys.contains(&k) {
            out.push(v);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The secret-hygiene scan: no new value in the outputs given nor in any file under the isolated home (XDG
/// config, data, state dirs: log, journal and its -wal/-shm, cache).
fn assert_hygiene(env: &Env, home: &Path, outputs: &[&[u8]], seen_earlier: &[String]) {
    let mut values = new_values(env);
    values.extend(seen_earlier.iter().cloned());
    assert!(!values.is_empty(), "the scan looks for something");
    let mut files = Vec::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("keyturn.log")),
        "the log is among the files scanned: {files:?}"
    );
    for v in &values {
        for (i, o) in outputs.iter().enumerate() {
            assert!(
                !contains(o, v.as_bytes()),
                "a new secret value is in output {i}"
            );
        }
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !contains(&bytes, v.as_bytes()),
                "a new secret value is in {}",
                f.display()
            );
        }
    }
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    !n.is_empty() && h.windows(n.len()).any(|w| w == n)
}

// ---- Done when (issue 10) ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_waits_for_entra_proves_and_keeps_the_old_secret_pending() {
    let env = env_with(Duration::from_secs(5)).await;
    let home = tempfile::tempdir().unwrap();
    let out = run(&env, home.path(), &rotate_default_argv(&env), &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("waiting for Entra to accept the new secret: 1 s")
            && stderr.contains("waiting for Entra to accept the new secret: 4 s"),
        "the wait is shown: {stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["state"], "OldRemovalPending");
    assert_eq!(summary["completed"], true);
    assert_eq!(
        summary["proof"],
        serde_json::json!({"status": "proven", "reason": null})
    );
    assert_eq!(summary["oldCredential"]["status"], "pendingRemoval");
    // The subject's old secret has more than 7 days left: due in 7 days (the built-in keep_old_days).
    let due = chrono::DateTime::parse_from_rfc3339(
        summary["oldCredential"]["removeAfter"].as_str().unwrap(),
    )
    .unwrap();
    let in_days = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!(
        (7 * 24 - 2..=7 * 24).contains(&in_days),
        "due in {in_days} h"
    );
    let new_key = summary["newKeyId"].as_str().unwrap().to_lowercase();
    let state = env.emu.state();
    let ok = sign_ins(&state)
        .iter()
        .filter(|s| s["keyId"] == new_key.as_str() && s["success"] == true)
        .count();
    assert_eq!(ok, 1, "one successful sign-in with the new keyId");
    let refused = sign_ins(&state)
        .iter()
        .filter(|s| s["keyId"] == new_key.as_str() && s["failureReason"] == "notYetPropagated")
        .count();
    assert!(refused >= 1, "Entra refused it while it propagated");
    assert!(
        has_key(&env, &env.subject.key),
        "the old secret was not removed"
    );
    let removed = super::rotation::credential_audits(&state, &env.subject.app)
        .iter()
        .any(|(old, new)| old.contains(&env.subject.key) && !new.contains(&env.subject.key));
    assert!(!removed, "no removal of the old keyId");
    assert_hygiene(&env, home.path(), &[&out.stdout, &out.stderr], &[]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_old_happens_after_the_successful_sign_in() {
    let env = env_with(Duration::from_secs(2)).await;
    let home = tempfile::tempdir().unwrap();
    let out = run(&env, home.path(), &rotate_argv(&env.subject), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["state"], "Done");
    assert_eq!(
        summary["oldCredential"],
        serde_json::json!({"status": "removed", "removeAfter": null})
    );
    let new_key = summary["newKeyId"].as_str().unwrap().to_lowercase();
    let state = env.emu.state();
    let signed_in = sign_ins(&state)
        .iter()
        .find(|s| s["keyId"] == new_key.as_str() && s["success"] == true)
        .map(|s| s["dateTime"].as_str().unwrap().to_string())
        .expect("a successful sign-in with the new keyId");
    let removal = state["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["targetResources"][0]["modifiedProperties"]
                .as_array()
                .is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["displayName"] == "KeyDescription"
                            && p["oldValue"]
                                .as_str()
                                .unwrap_or("")
                                .contains(&env.subject.key)
                            && !p["newValue"]
                                .as_str()
                                .unwrap_or("")
                                .contains(&env.subject.key)
                    })
                })
        })
        .map(|e| e["activityDateTime"].as_str().unwrap().to_string())
        .next()
        .expect("the old keyId's removal is audited");
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert!(
        t(&signed_in) <= t(&removal),
        "sign-in {signed_in} before removal {removal}"
    );
    assert!(!has_key(&env, &env.subject.key));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_service_principal_keeps_the_old_secret_and_says_why() {
    let env = env().await;
    assert!(
        env.emu
            .mutate_app(&env.subject.app, AppChange::DeleteServicePrincipal)
    );
    let home = tempfile::tempdir().unwrap();
    let out = run(&env, home.path(), &rotate_argv(&env.subject), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "not 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["state"], "NotProven");
    assert_eq!(summary["proof"]["status"], "notProven");
    let reason = summary["proof"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("AADSTS7000229") && reason.contains("no service principal"),
        "{reason}"
    );
    assert_eq!(
        summary["oldCredential"],
        serde_json::json!({"status": "kept", "removeAfter": null})
    );
    assert!(has_key(&env, &env.subject.key), "the old secret stays");
    let journal = Arc::new(Journal::open(&binary_journal(home.path())).unwrap());
    let env = Env { journal, ..env };
    assert_invariants(&env);
    assert_hygiene(&env, home.path(), &[&out.stdout, &out.stderr], &[]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_a_due_secret_and_holds_one_whose_checks_fail() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let journal_path = binary_journal(home.path());
    // The subject's rotation keeps its old secret 2 days.
    let mut first = rotate_default_argv(&env);
    first.extend(argv(&["--keep-old", "2"]));
    let out = run(&env, home.path(), &first, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one["oldCredential"]["status"], "pendingRemoval");

    // Nothing is due today: listed as nothing, exit 0.
    let today = run(
        &env,
        home.path(),
        &argv(&["cleanup", "--format", "json"]),
        &[],
    )
    .await;
    assert_eq!(today.status.code(), Some(0));
    let listed: Value = serde_json::from_slice(&today.stdout).unwrap();
    assert_eq!(listed["removals"].as_array().unwrap().len(), 0);

    let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    // Due in 3 days; without --yes it is listed, nothing changes, exit 1.
    let list = run(
        &env,
        home.path(),
        &argv(&["cleanup", "--format", "json"]),
        &[("KEYTURN_NOW", &later)],
    )
    .await;
    assert_eq!(list.status.code(), Some(1));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed["removals"][0]["status"], "due");
    assert!(has_key(&env, &env.subject.key));

    // A check fails: someone put the old value back into the vault, tagged for the old secret.
    let exec = executor_for(
        &env.info,
        Arc::new(Journal::open(&journal_path).unwrap()),
        test_options(),
    );
    let target =
        keyturn::keyvault::SecretTarget::new(&env.subject.vault, &env.subject.secret).unwrap();
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("CredentialId".to_string(), env.subject.key.clone());
    keyturn::rotation::VaultApi::set_secret(
        exec.vault(),
        &target,
        &secrecy::SecretString::from(env.initial_value.clone()),
        &keyturn::keyvault::NewVersion {
            tags,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let held = run(
        &env,
        home.path(),
        &argv(&["cleanup", "--yes"]),
        &[("KEYTURN_NOW", &later)],
    )
    .await;
    let text = String::from_utf8_lossy(&held.stdout).to_string();
    assert_eq!(held.status.code(), Some(1), "{text}");
    assert!(
        text.contains("held") && text.contains("the old secret about to be removed"),
        "{text}"
    );
    assert!(
        has_key(&env, &env.subject.key),
        "held: the old secret stays"
    );

    // Fixed (the vault holds the new secret again): removed, with its reason table, exit 0.
    let new_key = one["newKeyId"].as_str().unwrap().to_string();
    let new_value = creds(&env.emu.state(), &env.subject.app)
        .into_iter()
        .find(|c| c.0.eq_ignore_ascii_case(&new_key))
        .unwrap()
        .1;
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("CredentialId".to_string(), new_key.clone());
    keyturn::rotation::VaultApi::set_secret(
        exec.vault(),
        &target,
        &secrecy::SecretString::from(new_value),
        &keyturn::keyvault::NewVersion {
            tags,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let done = run(
        &env,
        home.path(),
        &argv(&["cleanup", "--yes", "--format", "json"]),
        &[("KEYTURN_NOW", &later)],
    )
    .await;
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let removed: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(removed["removals"][0]["status"], "removed");
    assert!(!has_key(&env, &env.subject.key));
    let j = Journal::open(&journal_path).unwrap();
    assert_eq!(j.list(1).unwrap()[0].state_kind, StateKind::Done);
    assert_hygiene(
        &env,
        home.path(),
        &[
            &out.stdout,
            &out.stderr,
            &held.stdout,
            &held.stderr,
            &done.stdout,
            &done.stderr,
        ],
        &[],
    );
    env.emu.shutdown().await;
}

// ---- the fault matrix: SIGKILL, then the binary's own next start -----------------------------------------------

/// Where the first process is killed: right after a journaled state, or while a step is in flight.
#[derive(Clone, Copy, Debug)]
enum Point {
    State(StateKind),
    Step(Step),
}

impl Point {
    fn env_value(self) -> String {
        match self {
            Point::State(s) => s.as_str().to_string(),
            Point::Step(s) => s.as_str().to_string(),
        }
    }

    fn reached(self, e: &keyturn::store::JournalEntry) -> bool {
        match self {
            Point::State(s) => e.state_kind == s && e.in_flight.is_none(),
            Point::Step(s) => e.in_flight == Some(s),
        }
    }
}

/// Start the binary with the pause hook at `point`, SIGKILL it there; returns its stderr so far.
async fn kill_at(env: &Env, home: &Path, args: &[String], point: Point) -> Vec<u8> {
    let mut child = keyturn_cmd(&env.info, home)
        .args(args)
        .env(PAUSE_ENV, point.env_value())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let path = binary_journal(home);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "keyturn exited ({status}) before {point:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if path.exists()
            && let Ok(j) = Journal::open(&path)
            && j.list(1).unwrap().first().is_some_and(|e| point.reached(e))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached {point:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    out.stderr
}

/// One cell: kill at `point`, check the invariant, run the binary's next start (`keyturn cleanup --yes`, which
/// like every writing start finishes interrupted rotations), then check the end state, the invariant and hygiene.
async fn cell(point: Point, no_sp: bool, vault_refuses: bool, expect: StateKind) {
    let env = env().await;
    if no_sp {
        assert!(
            env.emu
                .mutate_app(&env.subject.app, AppChange::DeleteServicePrincipal)
        );
    }
    if vault_refuses {
        env.emu
            .faults()
            .add(fault(Op::VaultSet, FaultKind::Status(403), u32::MAX));
    }
    let home = tempfile::tempdir().unwrap();
    let killed = kill_at(&env, home.path(), &rotate_argv(&env.subject), point).await;
    // The value may be gone by the end (a rolled-back credential): remember what existed at the kill.
    let seen = new_values(&env);
    let journal = Arc::new(Journal::open(&binary_journal(home.path())).unwrap());
    let env = Env { journal, ..env };
    assert_invariants(&env);
    let next = run(&env, home.path(), &argv(&["cleanup", "--yes"]), &[]).await;
    let stderr = String::from_utf8_lossy(&next.stderr).to_string();
    let e = env.journal.list(1).unwrap().remove(0);
    assert_eq!(e.state_kind, expect, "{point:?}: {stderr}");
    assert_eq!(e.in_flight, None, "{point:?}");
    assert_invariants(&env);
    let old_there = has_key(&env, &env.subject.key);
    let new_there = e
        .new_key_id
        .as_ref()
        .is_some_and(|k| has_key(&env, k.as_str()));
    match expect {
        StateKind::Done => {
            assert!(!old_there && new_there, "{point:?}");
            assert!(
                stderr.contains("was interrupted and has been finished"),
                "{stderr}"
            );
        }
        StateKind::RolledBack => {
            assert!(old_there && !new_there, "{point:?}");
            assert_eq!(
                latest_version(&env.emu.state(), &env.subject.secret)["value"],
                env.initial_value.as_str()
            );
        }
        _ => assert!(old_there && new_there, "{point:?}: both kept"),
    }
    assert_hygiene(
        &env,
        home.path(),
        &[&killed, &next.stdout, &next.stderr],
        &seen,
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_secret_added() {
    cell(
        Point::State(StateKind::SecretAdded),
        false,
        false,
        StateKind::RolledBack,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_stored_in_vault() {
    cell(
        Point::State(StateKind::StoredInVault),
        false,
        false,
        StateKind::Done,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_verified() {
    cell(
        Point::State(StateKind::Verified),
        false,
        false,
        StateKind::Done,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_the_sign_in_proof() {
    cell(Point::Step(Step::Prove), false, false, StateKind::Done).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_proven() {
    cell(
        Point::State(StateKind::Proven),
        false,
        false,
        StateKind::Done,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_old_secret_removal() {
    cell(Point::Step(Step::RemoveOld), false, false, StateKind::Done).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_not_proven_stays_parked() {
    cell(
        Point::State(StateKind::NotProven),
        true,
        false,
        StateKind::NotProven,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_rollback_removing_the_new_secret() {
    cell(
        Point::Step(Step::RemoveNew),
        false,
        true,
        StateKind::RolledBack,
    )
    .await;
}

/// A NotProven rotation rolled back by `keyturn journal rollback`, killed while writing the previous value back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_rollback_restoring_the_previous_value() {
    let env = env().await;
    assert!(
        env.emu
            .mutate_app(&env.subject.app, AppChange::DeleteServicePrincipal)
    );
    let home = tempfile::tempdir().unwrap();
    let first = run(&env, home.path(), &rotate_argv(&env.subject), &[]).await;
    assert_eq!(first.status.code(), Some(2));
    let killed = kill_at(
        &env,
        home.path(),
        &argv(&["journal", "rollback", "1"]),
        Point::Step(Step::RestorePrevious),
    )
    .await;
    let seen = new_values(&env);
    let journal = Arc::new(Journal::open(&binary_journal(home.path())).unwrap());
    let env = Env { journal, ..env };
    assert_invariants(&env);
    let next = run(&env, home.path(), &argv(&["cleanup", "--yes"]), &[]).await;
    let e = env.journal.get(1).unwrap();
    assert_eq!(
        e.state_kind,
        StateKind::RolledBack,
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert!(has_key(&env, &env.subject.key));
    assert!(!has_key(&env, e.new_key_id.unwrap().as_str()));
    assert_eq!(
        latest_version(&env.emu.state(), &env.subject.secret)["value"],
        env.initial_value.as_str()
    );
    assert_invariants(&env);
    assert_hygiene(
        &env,
        home.path(),
        &[
            &first.stdout,
            &first.stderr,
            &killed,
            &next.stdout,
            &next.stderr,
        ],
        &seen,
    );
    env.emu.shutdown().await;
}

/// Read-only means read-only: `rotate` without `--yes` after an interrupted rotation touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_without_yes_after_an_interrupted_rotation_changes_nothing() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    kill_at(
        &env,
        home.path(),
        &rotate_argv(&env.subject),
        Point::State(StateKind::StoredInVault),
    )
    .await;
    let journal = Journal::open(&binary_journal(home.path())).unwrap();
    // The whole tenant and every vault (the sign-in log aside: a plan signs in), and the journal's bytes.
    let whole = || {
        let mut s = env.emu.state();
        s.as_object_mut().unwrap().remove("signIns");
        s
    };
    // The journal's content, read from a copy of its files (database and write-ahead log) with the sqlite3 tool:
    // every row of every table, byte for byte as `.dump` writes it. (The files' own bytes are not compared: the
    // plan's connection closing may checkpoint the log into the database, which moves pages, not content.)
    let journal_dump = || {
        let copy = tempfile::tempdir().unwrap();
        for suffix in ["", "-wal"] {
            let mut from = binary_journal(home.path()).into_os_string();
            from.push(suffix);
            let _ = std::fs::copy(&from, copy.path().join(format!("j.sqlite3{suffix}")));
        }
        let out = std::process::Command::new("sqlite3")
            .arg(copy.path().join("j.sqlite3"))
            .arg(".dump")
            .output()
            .expect("the sqlite3 tool (apt-get install sqlite3)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let (whole_before, dump_before) = (whole(), journal_dump());
    assert!(
        String::from_utf8_lossy(&dump_before).contains("INSERT INTO"),
        "the interrupted rotation is in the journal"
    );
    let before = (
        creds(&env.emu.state(), &env.subject.app),
        versions(&env.emu.state(), &env.subject.secret).len(),
        journal.list(10).unwrap(),
        journal.events(1).unwrap().len(),
    );
    let mut plan_only = rotate_argv(&env.subject);
    plan_only.retain(|a| a != "--yes");
    let out = run(&env, home.path(), &plan_only, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("is in progress") || stderr.contains("StoredInVault"),
        "{stderr}"
    );
    let after = (
        creds(&env.emu.state(), &env.subject.app),
        versions(&env.emu.state(), &env.subject.secret).len(),
        journal.list(10).unwrap(),
        journal.events(1).unwrap().len(),
    );
    assert_eq!(before, after, "tenant, vault and journal unchanged");
    assert!(whole() == whole_before, "the emulator's full state changed");
    assert!(
        journal_dump() == dump_before,
        "the journal's content changed"
    );
    env.emu.shutdown().await;
}

// ---- lost answers, the invariant after every step, the rollback's order ----------------------------------------

/// The invariant at every event the engine emits (every journaled step and state), not only at the end. While
/// addPassword's answer is lost, a credential may exist that only the journal's display name identifies.
fn checked_every_step(
    env: Arc<Env>,
    log: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
) -> keyturn::rotation::ProgressSink {
    Arc::new(move |p| {
        let state = env.emu.state();
        let entries = env.journal.list(10).unwrap();
        let app = state["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == env.subject.app.as_str())
            .cloned()
            .unwrap();
        for c in app["passwordCredentials"].as_array().unwrap() {
            let key = c["keyId"].as_str().unwrap();
            let known = env.initial_keys.iter().any(|k| k == key)
                || entries.iter().any(|e| {
                    e.new_key_id
                        .as_ref()
                        .is_some_and(|k| k.as_str().eq_ignore_ascii_case(key))
                        || (!e.state_kind.is_final()
                            && c["displayName"] == e.new_display_name.as_str())
                });
            assert!(
                known,
                "after {p:?}: credential {key} is in neither the vault nor the journal"
            );
        }
        let latest = latest_version(&state, &env.subject.secret);
        let value = latest["value"].as_str().unwrap();
        let active = app["passwordCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["secretText"] == value);
        let now_creds = creds(&state, &env.subject.app);
        assert!(
            value == env.initial_value || active || now_creds.iter().any(|c| c.1 == value),
            "after {p:?}: the vault's latest value is neither the previous one nor an active credential's"
        );
        // Every value that ever exists during the run, for the hygiene scan at the end (a rolled-back one is gone
        // from the state by then).
        seen.lock().unwrap().extend(new_values(&env));
        if let RotationProgress::StepStarted { step, .. } = &p {
            log.lock().unwrap().push(format!(
                "{step} vault={}",
                if value == env.initial_value {
                    "previous"
                } else {
                    "new"
                }
            ));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answer_on_add_password_leaves_nothing_behind() {
    let env = Arc::new(env().await);
    env.emu
        .faults()
        .add(fault(Op::AddPassword, FaultKind::ApplyThenDrop, 1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exec = executor_for(&env.info, env.journal.clone(), test_options())
        .with_progress(checked_every_step(env.clone(), log.clone(), seen.clone()));
    let plan = exec.plan(&request(&env.subject)).await.unwrap();
    let r = exec
        .execute(plan.approve(&env.subject.name).unwrap())
        .await
        .unwrap();
    assert_eq!(r.state, "Failed", "{r:?}");
    let keys: Vec<String> = creds(&env.emu.state(), &env.subject.app)
        .into_iter()
        .map(|c| c.0)
        .collect();
    let mut initial = env.initial_keys.clone();
    let mut now = keys.clone();
    initial.sort();
    now.sort();
    assert_eq!(
        now, initial,
        "the credential whose answer was lost was found by name and removed"
    );
    assert!(r.message.unwrap().contains("was removed"));
    assert_invariants(&env);
    assert_files_hygiene(&env, &seen.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answer_on_remove_password_counts_only_when_confirmed() {
    let env = Arc::new(env().await);
    env.emu
        .faults()
        .add(fault(Op::RemovePassword, FaultKind::ApplyThenDrop, 1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exec = executor_for(&env.info, env.journal.clone(), test_options())
        .with_progress(checked_every_step(env.clone(), log.clone(), seen.clone()));
    let mut req = request(&env.subject);
    req.old_choice = OldChoice::RemoveWhenProven;
    let plan = exec.plan(&req).await.unwrap();
    let r = exec
        .execute(plan.approve(&env.subject.name).unwrap())
        .await
        .unwrap();
    assert_eq!(r.state, "Done", "{r:?}");
    assert!(!has_key(&env, &env.subject.key));
    assert_invariants(&env);
    assert_files_hygiene(&env, &seen.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_vault_before_removing_the_new_secret() {
    let env = Arc::new(env().await);
    let faults = env.emu.faults();
    // The plan's and the preflight's reads pass; the read-back is corrupted: the rollback must undo a vault write.
    faults.add(fault(
        Op::VaultGet,
        FaultKind::Delay(Duration::from_millis(1)),
        2,
    ));
    faults.add(fault(Op::VaultGet, FaultKind::CorruptReadBack, 1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exec = executor_for(&env.info, env.journal.clone(), test_options())
        .with_progress(checked_every_step(env.clone(), log.clone(), seen.clone()));
    let plan = exec.plan(&request(&env.subject)).await.unwrap();
    let r = exec
        .execute(plan.approve(&env.subject.name).unwrap())
        .await
        .unwrap();
    assert_eq!(r.state, "RolledBack", "{r:?}");
    let log = log.lock().unwrap().clone();
    let restore = log
        .iter()
        .position(|l| l.starts_with("restorePrevious"))
        .expect("restored");
    let remove = log
        .iter()
        .position(|l| l.starts_with("removeNew"))
        .expect("removed");
    assert!(restore < remove, "{log:?}");
    assert_eq!(log[restore], "restorePrevious vault=new", "{log:?}");
    assert_eq!(
        log[remove], "removeNew vault=previous",
        "the vault held the previous value first: {log:?}"
    );
    assert_invariants(&env);
    assert_files_hygiene(&env, &seen.lock().unwrap());
}

/// The in-process runs' hygiene: no value that existed during the run is in any file of the test's directory
/// (the journal and its -wal/-shm).
fn assert_files_hygiene(env: &Env, seen: &[String]) {
    let mut values = new_values(env);
    values.extend(seen.iter().cloned());
    values.sort();
    values.dedup();
    assert!(!values.is_empty(), "the scan looks for something");
    let files: Vec<_> = std::fs::read_dir(env._dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert!(
        files.iter().any(|f| f == &env.journal_path),
        "the journal is among the files scanned: {files:?}"
    );
    for v in &values {
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !contains(&bytes, v.as_bytes()),
                "a new secret value is in {}",
                f.display()
            );
        }
    }
}
