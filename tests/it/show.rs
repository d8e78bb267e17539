//! `keyturn show APP` end to end: the real binary against the emulator, every expected value read from the
//! emulator's own state (never from keyturn).
use crate::support;
use assert_cmd::Command;
use keyturn::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A config file listing the emulator's vaults, and an environment pointing at the emulator with every XDG dir in
/// `home`.
fn env_for(emu: &Emulator, home: &Path) -> Vec<(String, String)> {
    let info = emu.info();
    let config = home.join("config.toml");
    let vaults: Vec<String> = info.vault_urls.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        &config,
        format!("[defaults]\nvaults = [{}]\n", vaults.join(", ")),
    )
    .unwrap();
    let mut env: Vec<(String, String)> = [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ]
    .iter()
    .map(|k| {
        (
            k.to_string(),
            home.join(k.to_lowercase()).display().to_string(),
        )
    })
    .collect();
    env.extend([
        ("HOME".into(), home.display().to_string()),
        ("KEYTURN_CONFIG".into(), config.display().to_string()),
        ("AZURE_TENANT_ID".into(), info.tenant_id.clone()),
        ("AZURE_CLIENT_ID".into(), info.client_id.clone()),
        ("AZURE_CLIENT_SECRET".into(), info.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST".into(), info.authority_host.clone()),
        ("KEYTURN_GRAPH_URL".into(), info.graph_url.clone()),
        ("KEYTURN_CA_CERT".into(), info.ca_cert.display().to_string()),
    ]);
    env
}

async fn keyturn(env: Vec<(String, String)>, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::cargo_bin("keyturn").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(&args)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// The emulator's application by display name.
fn app<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == name)
        .unwrap_or_else(|| panic!("{name} is in the demo tenant"))
}

/// `{vault}/secrets/{name}` of every secret whose latest version is tagged `CredentialId = key_id`.
fn vault_ids_for(state: &Value, key_id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for v in state["vaults"].as_array().unwrap() {
        for s in v["secrets"].as_array().unwrap() {
            let latest = s["versions"].as_array().unwrap().last().unwrap();
            if latest["tags"]["CredentialId"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(key_id))
            {
                out.insert(format!(
                    "{}/secrets/{}",
                    v["url"].as_str().unwrap().trim_end_matches('/'),
                    s["name"].as_str().unwrap()
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_json_gives_credentials_owners_vault_locations_and_notes_missing_last_use_once() {
    // A tenant without Entra ID P1: the beta sign-in reports answer 403, so last use is unknown.
    let emu = support::start(EmulatorConfig {
        entra_id_p1: false,
        ..EmulatorConfig::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let payroll = app(&state, "Payroll Sync (Logic App)");
    let app_id = payroll["appId"].as_str().unwrap();

    let run = keyturn(
        env_for(&emu, home.path()),
        &["show", app_id, "--format", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));

    // Exactly the contract's keys.
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let set = |ks: &[&str]| -> BTreeSet<String> { ks.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        keys(&doc),
        set(&[
            "app",
            "credentials",
            "owners",
            "permissions",
            "auditEvents",
            "rotations"
        ])
    );
    assert_eq!(
        doc["app"],
        serde_json::json!({"objectType": "application", "objectId": payroll["id"], "appId": app_id,
                           "displayName": "Payroll Sync (Logic App)"})
    );

    let want_keys: BTreeSet<String> = payroll["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .chain(payroll["keyCredentials"].as_array().unwrap())
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .collect();
    let creds = doc["credentials"].as_array().unwrap();
    let got_keys: BTreeSet<String> = creds
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_keys, want_keys);
    let mut some_stored = false;
    for c in creds {
        assert_eq!(
            keys(c),
            set(&[
                "keyId",
                "credentialType",
                "credentialName",
                "endDateTime",
                "daysLeft",
                "status",
                "lastSignInDateTime",
                "storedIn"
            ])
        );
        let stored: BTreeSet<String> = c["storedIn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            stored,
            vault_ids_for(&state, c["keyId"].as_str().unwrap()),
            "{c}"
        );
        some_stored |= !stored.is_empty();
        // The emulator serves no beta sign-in report yet: last use is unknown, so null.
        assert_eq!(c["lastSignInDateTime"], Value::Null);
    }
    assert!(some_stored, "the demo's payroll secret is in the vault");

    let owner_ids: BTreeSet<&str> = doc["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let want_owners: BTreeSet<&str> = payroll["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(owner_ids, want_owners);
    assert!(doc["owners"].as_array().unwrap().iter().all(|o| {
        o["userPrincipalName"]
            .as_str()
            .is_some_and(|u| u.contains('@'))
    }));
    assert!(doc["rotations"].as_array().unwrap().is_empty());

    // One note about last use, naming what is needed.
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("last use unknown"))
        .collect();
    assert_eq!(notes.len(), 1, "stderr: {}", run.stderr);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_finds_by_exact_name_and_an_unknown_app_exits_3() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let payroll = app(&state, "Payroll Sync (Logic App)");

    let by_name = keyturn(
        env_for(&emu, home.path()),
        &["show", "Payroll Sync (Logic App)", "--format", "json"],
    )
    .await;
    assert_eq!(by_name.code, 0, "{}", by_name.stderr);
    let doc: Value = serde_json::from_str(&by_name.stdout).unwrap();
    assert_eq!(doc["app"]["objectId"], payroll["id"]);

    let by_object_id = keyturn(
        env_for(&emu, home.path()),
        &["show", payroll["id"].as_str().unwrap()],
    )
    .await;
    assert_eq!(by_object_id.code, 0, "{}", by_object_id.stderr);
    assert!(
        by_object_id
            .stdout
            .starts_with("Payroll Sync (Logic App)  (appId ")
    );

    let unknown = keyturn(
        env_for(&emu, home.path()),
        &["show", "No Such App", "--format", "json"],
    )
    .await;
    assert_eq!(unknown.code, 3);
    assert!(unknown.stdout.is_empty());
    assert!(
        unknown
            .stderr
            .contains("no application matches \"No Such App\""),
        "{}",
        unknown.stderr
    );
    emu.shutdown().await;
}
