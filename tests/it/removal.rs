//! Removing one credential as an action of its own (`keyturn remove`), the real binary against the emulator: the
//! plan without --yes changes nothing, a secret and a certificate are removed and journaled, the last valid
//! credential of an app in use needs the second confirmation, and a removal a crash cut off is reconciled by the
//! next start. Expectations come from the emulator's own state.
use crate::show::{app, env_for, keyturn};
use crate::support;
use keyturn::emulator::EmulatorConfig;
use keyturn::store::{Journal, RemovalState};
use serde_json::Value;
use std::path::Path;

fn journal_of(home: &Path) -> Journal {
    Journal::open(
        &home
            .join("xdg_data_home")
            .join("keyturn")
            .join("journal.sqlite3"),
    )
    .unwrap()
}

fn key_ids(state: &Value, name: &str, list: &str) -> Vec<String> {
    app(state, name)[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .collect()
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The valid secrets of an app in the emulator's state: (keyId, value).
fn valid_secrets(state: &Value, name: &str) -> Vec<(String, String)> {
    let now = now_text();
    app(state, name)["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["endDateTime"].as_str().unwrap() > now.as_str()
                && p["startDateTime"].as_str().unwrap() <= now.as_str()
        })
        .map(|p| {
            (
                p["keyId"].as_str().unwrap().to_string(),
                p["secretText"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_a_secret_prints_the_plan_then_removes_and_journals_it() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let state = emu.state();
    // An app with two secrets: remove one, the other stays valid.
    let name = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap().to_string())
        .find(|n| valid_secrets(&state, n).len() >= 2)
        .expect("the demo has an app with two valid secrets");
    let app_id = app(&state, &name)["appId"].as_str().unwrap().to_string();
    let (gone, _) = valid_secrets(&state, &name)[0].clone();

    let plan = keyturn(
        env.clone(),
        &["remove", "--app", &app_id, "--key-id", &gone],
    )
    .await;
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert!(
        plan.stdout.contains(&format!("keyId {gone}")),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Last use:"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("other valid credential(s) stay"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stderr.contains("nothing was changed"),
        "{}",
        plan.stderr
    );
    assert!(key_ids(&emu.state(), &name, "passwordCredentials").contains(&gone));
    assert!(journal_of(home.path()).removals(10).unwrap().is_empty());

    let run = keyturn(
        env.clone(),
        &["remove", "--app", &app_id, "--key-id", &gone, "--yes"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["status"], "removed");
    assert_eq!(doc["removedKeyIds"], serde_json::json!([gone]));
    let after = emu.state();
    assert!(!key_ids(&after, &name, "passwordCredentials").contains(&gone));
    assert_eq!(
        key_ids(&after, &name, "passwordCredentials").len(),
        key_ids(&state, &name, "passwordCredentials").len() - 1,
        "only that one went"
    );
    // The emulator's audit log has the removal (Graph wrote it), and the journal has it, ended.
    let rows = journal_of(home.path()).removals(10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, RemovalState::Removed);
    assert_eq!(rows[0].removal.key_id.as_str(), gone);
    assert_eq!(rows[0].removal.app_name, name);
    assert_eq!(rows[0].owner, None);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_valid_secret_of_an_app_in_use_needs_the_second_confirmation() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let state = emu.state();
    // An app whose only valid credential is one secret, with a service principal (so it can sign in).
    let name_owned = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["keyCredentials"].as_array().unwrap().is_empty())
        .filter(|a| {
            state["servicePrincipals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["appId"] == a["appId"])
        })
        .map(|a| a["displayName"].as_str().unwrap().to_string())
        .find(|n| valid_secrets(&state, n).len() == 1)
        .expect("the demo has an app with a single valid secret");
    let name = name_owned.as_str();
    let secrets = valid_secrets(&state, name);
    let (key, value) = secrets[0].clone();
    let app_id = app(&state, name)["appId"].as_str().unwrap().to_string();
    // The app is in use: it signs in with that secret.
    let resp = support::token_response(&emu, &app_id, &value, support::GRAPH_SCOPE).await;
    assert_eq!(resp.status(), 200);

    let refused = keyturn(
        env.clone(),
        &["remove", "--app", &app_id, "--key-id", &key, "--yes"],
    )
    .await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("last valid credential"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--last-credential"),
        "{}",
        refused.stderr
    );
    assert!(key_ids(&emu.state(), name, "passwordCredentials").contains(&key));
    assert!(
        journal_of(home.path()).removals(10).unwrap().is_empty(),
        "a refusal journals nothing"
    );

    let done = keyturn(
        env.clone(),
        &[
            "remove",
            "--app",
            &app_id,
            "--key-id",
            &key,
            "--yes",
            "--last-credential",
        ],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(!key_ids(&emu.state(), name, "passwordCredentials").contains(&key));
    let rows = journal_of(home.path()).removals(10).unwrap();
    assert_eq!(rows[0].state, RemovalState::Removed);
    assert!(
        rows[0].removal.last_valid,
        "the journal says it was the last one, confirmed twice"
    );
    assert!(
        rows[0].removal.last_sign_in.is_some(),
        "and the last use the operator saw"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_a_certificate_through_a_patch_of_key_credentials() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let state = emu.state();
    // An app with two certificates: each may be a Sign and a Verify entry sharing a thumbprint.
    let name = "Expense Reports API";
    let certs = app(&state, name)["keyCredentials"]
        .as_array()
        .unwrap()
        .clone();
    assert!(certs.len() >= 2);
    let target = &certs[0];
    let thumb = target["customKeyIdentifier"].clone();
    let going: Vec<String> = certs
        .iter()
        .filter(|c| {
            c["keyId"] == target["keyId"] || (!thumb.is_null() && c["customKeyIdentifier"] == thumb)
        })
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .collect();
    let staying: Vec<String> = certs
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .filter(|k| !going.contains(k))
        .collect();
    assert!(!staying.is_empty(), "another certificate stays");
    let app_id = app(&state, name)["appId"].as_str().unwrap().to_string();
    let key = target["keyId"].as_str().unwrap().to_string();

    let run = keyturn(
        env,
        &["remove", "--app", &app_id, "--key-id", &key, "--yes"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["credentialType"], "certificate");
    let mut removed: Vec<String> = doc["removedKeyIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    removed.sort();
    let mut want = going.clone();
    want.sort();
    assert_eq!(removed, want);
    let left = key_ids(&emu.state(), name, "keyCredentials");
    assert_eq!(left, staying, "exactly the certificate's entries went");
    let audit = emu.state()["auditEvents"].to_string();
    assert!(
        audit.contains(&key),
        "the change is in the emulator's audit log"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_killed_after_its_journal_entry_is_reconciled_at_the_next_start() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let state = emu.state();
    let name = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap().to_string())
        .find(|n| valid_secrets(&state, n).len() >= 2)
        .unwrap();
    let app_id = app(&state, &name)["appId"].as_str().unwrap().to_string();
    let (key, _) = valid_secrets(&state, &name)[0].clone();

    // Journaled, then paused before the Graph call: SIGKILL it there.
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("keyturn"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(keyturn::removal::PAUSE_ENV, "1")
        .args(["remove", "--app", &app_id, "--key-id", &key, "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = std::time::Instant::now();
    loop {
        let rows = journal_of(home.path()).removals(10).unwrap();
        if rows
            .first()
            .is_some_and(|r| r.state == RemovalState::Approved)
        {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "the removal was never journaled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(key_ids(&emu.state(), &name, "passwordCredentials").contains(&key));

    // The next start (cleanup --yes starts like every writing command) reconciles: nothing changed, said so.
    let next = keyturn(env, &["cleanup", "--yes"]).await;
    assert!(
        next.stderr.contains("still on the app: nothing changed"),
        "{}",
        next.stderr
    );
    let rows = journal_of(home.path()).removals(10).unwrap();
    assert_eq!(rows[0].state, RemovalState::NotRemoved);
    assert!(key_ids(&emu.state(), &name, "passwordCredentials").contains(&key));
    emu.shutdown().await;
}
