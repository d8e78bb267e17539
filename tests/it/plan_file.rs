//! Separated approval with the real binary: `rotate ... --plan-out FILE` by one person changes nothing; `rotate
//! --plan FILE --yes` by another runs exactly that plan; a change to the app or the vault after the plan was
//! written refuses it with the reason, and nothing is written (tenant, vault, journal).
use super::rotation::{Env, binary_journal, creds, env, keyturn_cmd, latest_version, versions};
use super::support::{graph_post, graph_token, vault_token};
use keyturn::store::Journal;
use serde_json::{Value, json};
use std::path::Path;

async fn run(env: &Env, home: &Path, user: &str, args: &[&str]) -> std::process::Output {
    keyturn_cmd(&env.info, home)
        .env("USER", user)
        .args(args)
        .output()
        .await
        .unwrap()
}

/// `rotate --plan-out FILE` for the test's subject, 30 days, old secret kept 3 days.
async fn write_plan(env: &Env, home: &Path, file: &Path) -> std::process::Output {
    let mut args = super::rotation::plan_argv(&env.subject);
    args.extend(["--keep-old", "3", "--plan-out", file.to_str().unwrap()].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(env, home, "alice", &args).await
}

/// Everything a refused run must leave alone: the app's secrets, the vault secret's versions, the journal.
fn snapshot(env: &Env, home: &Path) -> (Vec<(String, String, String)>, usize, usize) {
    let state = env.emu.state();
    let journal = binary_journal(home);
    let rotations = if journal.exists() {
        Journal::open(&journal).unwrap().list(100).unwrap().len()
    } else {
        0
    };
    (
        creds(&state, &env.subject.app),
        versions(&state, &env.subject.secret).len(),
        rotations,
    )
}

/// `rotate --plan FILE --yes` by another person is refused: exit 3, stderr says each of `reasons`, and the app's
/// secrets, the vault secret's versions and the journal are as they were.
async fn assert_refused(env: &Env, home: &Path, file: &Path, reasons: &[&str]) {
    let before = snapshot(env, home);
    let out = run(
        env,
        home,
        "bob",
        &["rotate", "--plan", file.to_str().unwrap(), "--yes"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for r in reasons {
        assert!(stderr.contains(r), "{r:?} not in: {stderr}");
    }
    assert_eq!(
        snapshot(env, home),
        before,
        "tenant, vault and journal unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_written_by_one_person_runs_exactly_in_another_invocation() {
    let env = env().await;
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = alice.path().join("plan.json");
    let before = snapshot(&env, alice.path());
    let out = write_plan(&env, alice.path(), &file).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("keyturn rotate --plan"), "{stderr}");
    assert_eq!(
        snapshot(&env, alice.path()),
        before,
        "writing a plan changes nothing"
    );

    // It names the tenant, the app and the vault secret: private to its writer, whatever the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "plan file mode {mode:o}");
    }
    // The file records what the plan was computed from, as the emulator holds it.
    let plan: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let state = env.emu.state();
    assert_eq!(plan["tenantId"], env.info.tenant_id.as_str());
    // The person (the OS user and host: no profile operator here), not the app keyturn signs in as.
    assert!(
        plan["plannedBy"].as_str().unwrap().starts_with("alice@"),
        "{plan}"
    );
    assert_eq!(plan["app"]["objectId"], env.subject.app.as_str());
    assert_eq!(
        plan["oldCredential"]["keyId"],
        env.subject.key.to_lowercase()
    );
    let mut keys: Vec<String> = creds(&state, &env.subject.app)
        .into_iter()
        .map(|c| c.0.to_lowercase())
        .collect();
    keys.sort();
    let seen: Vec<String> = plan["knownKeyIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, keys);
    let latest = latest_version(&state, &env.subject.secret);
    assert_eq!(plan["vault"]["versionSeen"], latest["version"]);
    assert_eq!(plan["oldDisposition"]["status"], "keepUntil");
    assert!(plan["digest"].as_str().unwrap().starts_with("sha256:"));

    // Bob, in another home (another machine), runs exactly that plan.
    let out = run(
        &env,
        bob.path(),
        "bob",
        &["rotate", "--plan", file.to_str().unwrap(), "--yes"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_key = summary["newKeyId"].as_str().unwrap().to_string();
    let state = env.emu.state();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == env.subject.app.as_str())
        .unwrap();
    let new = app["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["keyId"] == new_key.as_str())
        .expect("the new secret is on the app");
    // The new secret's name records who planned it and who ran it; its end is the plan's, not "now + 30 days".
    let name = new["displayName"].as_str().unwrap();
    assert!(
        name.contains("alice") && name.contains("run by bob"),
        "{name}"
    );
    let planned_end =
        chrono::DateTime::parse_from_rfc3339(plan["newSecret"]["endDateTime"].as_str().unwrap())
            .unwrap();
    let got_end =
        chrono::DateTime::parse_from_rfc3339(new["endDateTime"].as_str().unwrap()).unwrap();
    assert!(
        (got_end - planned_end).num_seconds().abs() <= 1,
        "{got_end} vs {planned_end}"
    );
    // The old secret is kept as planned (3 days), and the journal says who planned and who approved.
    assert_eq!(
        summary["oldCredential"]["status"], "pendingRemoval",
        "{summary}"
    );
    let entry = Journal::open(&binary_journal(bob.path()))
        .unwrap()
        .list(1)
        .unwrap()
        .remove(0);
    assert!(entry.operator.starts_with("alice@"), "{}", entry.operator);
    assert!(entry.approver.starts_with("bob"), "{}", entry.approver);
    assert!(entry.approver.contains("alice"), "{}", entry.approver);
    let planned_keep =
        chrono::DateTime::parse_from_rfc3339(plan["oldDisposition"]["keepUntil"].as_str().unwrap())
            .unwrap();
    // The journal keeps milliseconds.
    let kept = entry.keep_until.unwrap();
    assert!(
        (kept - planned_keep.with_timezone(&chrono::Utc))
            .num_milliseconds()
            .abs()
            <= 1,
        "{kept} vs {planned_keep}"
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_removed_by_someone_else_refuses_the_plan_and_nothing_is_written() {
    let env = env().await;
    env.emu
        .faults()
        .set_replication_lag(std::time::Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("plan.json");
    // Someone else's secret on the same app, there when the plan is written.
    let token = graph_token(&env.emu).await;
    let (status, added) = graph_post(
        &env.emu,
        &token,
        &format!("/applications/{}/addPassword", env.subject.app),
        &json!({"passwordCredential": {"displayName": "someone else's"}}),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let other = added["keyId"].as_str().unwrap().to_string();
    let out = write_plan(&env, home.path(), &file).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // ... and removed by them before the plan runs.
    let (status, body) = graph_post(
        &env.emu,
        &token,
        &format!("/applications/{}/removePassword", env.subject.app),
        &json!({"keyId": other}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let other = other.to_lowercase();
    assert_refused(
        &env,
        home.path(),
        &file,
        &[
            "the app's client secrets changed",
            &other,
            "nothing was changed",
        ],
    )
    .await;
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_vault_version_or_an_edited_file_refuses_the_plan() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("plan.json");
    let out = write_plan(&env, home.path(), &file).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An edited file is refused before anything is read.
    let edited = home.path().join("edited.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &edited,
        text.replace("\"lifetimeDays\": 30", "\"lifetimeDays\": 300"),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(&edited).unwrap(), text);
    assert_refused(
        &env,
        home.path(),
        &edited,
        &["was changed after it was written"],
    )
    .await;

    // Someone writes a new version of the vault secret: the plan no longer matches what it saw.
    let token = vault_token(&env.emu).await;
    let resp = super::support::client(&env.emu)
        .put(format!(
            "{}/secrets/{}?api-version=7.5",
            env.subject.vault, env.subject.secret
        ))
        .bearer_auth(token)
        .json(&json!({"value": "written by someone else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_refused(
        &env,
        home.path(),
        &file,
        &["the vault secret's latest version is"],
    )
    .await;
    env.emu.shutdown().await;
}
