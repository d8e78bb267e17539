//! `keyturn show APP` end to end: the real binary against the emulator, every expected value read from the
//! emulator's own state (never from keyturn).
use crate::support;
pub(crate) use crate::support::run_keyturn as keyturn;
use keyturn::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// A config file listing the emulator's vaults, and an environment pointing at the emulator with every XDG dir in
/// `home`.
pub(crate) fn env_for(emu: &Emulator, home: &Path) -> Vec<(String, String)> {
    let info = emu.info();
    let config = home.join("config.toml");
    let vaults: Vec<String> = info.vault_urls.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        &config,
        format!("[defaults]\nvaults = [{}]\n", vaults.join(", ")),
    )
    .unwrap();
    let mut env = crate::support::isolated_env(home);
    env.extend([
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

/// The emulator's application by display name.
pub(crate) fn app<'a>(state: &'a Value, name: &str) -> &'a Value {
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
        // The beta sign-in report answers 403 on this tenant: last use is unknown, so null.
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

/// The emulator's recorded time, as the contract prints it (RFC 3339, whole seconds, UTC): the fraction dropped.
fn whole_seconds(recorded: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(recorded)
        .unwrap_or_else(|e| panic!("{recorded}: {e}"))
        .with_timezone(&chrono::Utc);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The last successful sign-in the emulator recorded for `key_id` in its sign-in log (never keyturn's view).
fn recorded_last_sign_in(state: &Value, key_id: &str) -> Option<String> {
    state["signIns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["success"] == true && a["keyId"].as_str() == Some(key_id))
        .filter_map(|a| a["dateTime"].as_str())
        .max()
        .map(str::to_string)
}

/// `(resource display name, permission value)` of every application permission granted to a service principal,
/// read straight from the emulator's Graph (assignments, then the resource's `appRoles`).
async fn granted_permissions(emu: &Emulator, sp_id: &str) -> BTreeSet<(String, String)> {
    let token = support::graph_token(emu).await;
    let (status, assignments) = support::graph_get(
        emu,
        &token,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
    )
    .await;
    assert_eq!(status, 200, "{assignments}");
    let mut out = BTreeSet::new();
    for a in assignments["value"].as_array().unwrap() {
        let resource = a["resourceId"].as_str().unwrap();
        let (status, sp) = support::graph_get(
            emu,
            &token,
            &format!("/servicePrincipals/{resource}?$select=id,displayName,appRoles"),
        )
        .await;
        assert_eq!(status, 200, "{sp}");
        let role = sp["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == a["appRoleId"])
            .unwrap_or_else(|| panic!("the resource defines role {}", a["appRoleId"]));
        out.insert((
            sp["displayName"].as_str().unwrap().to_string(),
            role["value"].as_str().unwrap().to_string(),
        ));
    }
    out
}

fn service_principal_id(state: &Value, app_id: &str) -> String {
    state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appId"] == app_id)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("{app_id} has a service principal"))
        .to_string()
}

/// Entra ID P1: after the app signs in with its own secret, `show` gives that keyId's last sign-in as the
/// emulator's sign-in log recorded it, null for its other credentials; the permissions granted to its service
/// principal with the privileged flag; its owners and vault locations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_json_gives_the_recorded_last_sign_in_and_flagged_permissions() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let backup = app(&state, "Backup Daemon");
    let app_id = backup["appId"].as_str().unwrap().to_string();
    let passwords = backup["passwordCredentials"].as_array().unwrap();
    assert!(passwords.len() >= 2, "Backup Daemon has two secrets");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let used = passwords
        .iter()
        .find(|p| p["endDateTime"].as_str().unwrap() > now.as_str())
        .expect("a valid secret");
    let used_key = used["keyId"].as_str().unwrap().to_string();

    // A well-known high-privilege permission and a read-only one, on top of what the demo grants.
    assert!(emu.grant_app_role(&app_id, "Application.ReadWrite.All"));
    assert!(emu.grant_app_role(&app_id, "User.Read.All"));

    // The app signs in with its own secret.
    let resp = support::token_response(
        &emu,
        &app_id,
        used["secretText"].as_str().unwrap(),
        support::GRAPH_SCOPE,
    )
    .await;
    assert_eq!(resp.status(), 200);

    let run = keyturn(
        env_for(&emu, home.path()),
        &["show", &app_id, "--format", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        !run.stderr.contains("last use unknown"),
        "last use is known on P1: {}",
        run.stderr
    );
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let after = emu.state();

    let recorded = recorded_last_sign_in(&after, &used_key).expect("the sign-in was recorded");
    let creds = doc["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), passwords.len());
    for c in creds {
        let key = c["keyId"].as_str().unwrap();
        match recorded_last_sign_in(&after, key) {
            Some(t) => assert_eq!(c["lastSignInDateTime"], whole_seconds(&t), "{c}"),
            None => assert_eq!(c["lastSignInDateTime"], Value::Null, "{c}"),
        }
        assert_eq!(
            c["storedIn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<BTreeSet<_>>(),
            vault_ids_for(&after, key)
        );
    }
    let used_row = creds
        .iter()
        .find(|c| c["keyId"] == used_key.as_str())
        .unwrap();
    assert_eq!(used_row["lastSignInDateTime"], whole_seconds(&recorded));

    // Permissions: exactly what is granted, named by the resource's appRoles.
    let want = granted_permissions(&emu, &service_principal_id(&after, &app_id)).await;
    let got: BTreeSet<(String, String)> = doc["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["resource"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let flag = |value: &str| {
        doc["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["value"] == value)
            .map(|p| p["privileged"].clone())
    };
    assert_eq!(flag("Application.ReadWrite.All"), Some(Value::Bool(true)));
    assert_eq!(flag("User.Read.All"), Some(Value::Bool(false)));

    let owner_ids: BTreeSet<&str> = doc["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let want_owners: BTreeSet<&str> = backup["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(owner_ids, want_owners);
    assert!(
        creds
            .iter()
            .any(|c| !c["storedIn"].as_array().unwrap().is_empty()),
        "the demo's backup secret is in the vault"
    );
    emu.shutdown().await;
}

/// Without Entra ID P1 the beta report answers 403: `show` still exits 0, every lastSignInDateTime is null, and
/// stderr carries exactly one note, the one that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_without_entra_p1_exits_0_with_one_note() {
    let emu = support::start(EmulatorConfig {
        entra_id_p1: false,
        ..EmulatorConfig::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let backup = app(&state, "Backup Daemon");
    let app_id = backup["appId"].as_str().unwrap();
    let secret = backup["passwordCredentials"][0]["secretText"]
        .as_str()
        .unwrap();
    // A sign-in happens, but the report cannot be read.
    let _ = support::token_response(&emu, app_id, secret, support::GRAPH_SCOPE).await;
    let run = keyturn(
        env_for(&emu, home.path()),
        &["show", app_id, "--format", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(!doc["credentials"].as_array().unwrap().is_empty());
    assert!(
        doc["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["lastSignInDateTime"].is_null())
    );
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(notes.len(), 1, "exactly one note: {}", run.stderr);
    assert!(
        notes[0].contains("last use unknown")
            && notes[0].contains("Entra ID P1")
            && notes[0].contains("AuditLog.Read.All"),
        "{}",
        notes[0]
    );
    emu.shutdown().await;
}

/// Under a tenant `passwordLifetime` restriction of N days the rotation plan (no --yes: nothing changes) gives the
/// new secret an end N days away and says it is capped by tenant policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_plan_is_capped_by_the_tenant_password_lifetime() {
    const DAYS: i64 = 45;
    let emu = support::start(EmulatorConfig {
        password_lifetime_days: Some(DAYS),
        ..EmulatorConfig::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let payroll = app(&state, "Payroll Sync (Logic App)");
    let app_id = payroll["appId"].as_str().unwrap();
    let key = payroll["passwordCredentials"][0]["keyId"].as_str().unwrap();
    let before = emu.state();
    let run = keyturn(
        env_for(&emu, home.path()),
        &[
            "rotate",
            "--app",
            app_id,
            "--key-id",
            key,
            "--lifetime-days",
            "180",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "no --yes: plan only. {}", run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "capped by tenant policy to {DAYS} days (180 asked for)"
        )),
        "{all}"
    );
    let end = (chrono::Utc::now() + chrono::Duration::days(DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let end_before = (chrono::Utc::now() + chrono::Duration::days(DAYS)
        - chrono::Duration::minutes(5))
    .format("%Y-%m-%d")
    .to_string();
    assert!(
        all.contains(&end) || all.contains(&end_before),
        "the new end date is {DAYS} days away ({end}): {all}"
    );
    assert_eq!(
        app(&emu.state(), "Payroll Sync (Logic App)")["passwordCredentials"],
        app(&before, "Payroll Sync (Logic App)")["passwordCredentials"],
        "a plan changes nothing"
    );
    emu.shutdown().await;
}

/// The key of the vault secret's latest version (`CredentialId`) for `secret_name` in the first vault.
fn vault_credential_id(state: &Value, secret_name: &str) -> String {
    state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == secret_name)
        .and_then(|s| s["versions"].as_array().unwrap().last())
        .and_then(|v| v["tags"]["CredentialId"].as_str())
        .unwrap_or_else(|| panic!("{secret_name} is mapped"))
        .to_string()
}

/// Poll the emulator's state until `pred` holds (at most `limit`).
async fn wait_for(
    emu: &Emulator,
    limit: std::time::Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) {
    let start = std::time::Instant::now();
    loop {
        if pred(&emu.state()) {
            return;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Done when (issue 12): after a rotation with the demo's automations running, the new keyId's last sign-in
/// appears once the vault consumer picks up the new version, the hard-coded copy keeps the old keyId's last
/// sign-in moving, `show` reports both as the emulator recorded them, and `cleanup --yes` holds the old secret's
/// removal, saying it signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rotation_the_new_key_signs_in_and_the_hard_coded_copy_holds_cleanup() {
    let emu = support::start(EmulatorConfig {
        propagation_delay: std::time::Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let state = emu.state();
    // The demo's first mapped secret (by name) is Backup Daemon's: its consumer with a hard-coded copy exists.
    let backup = app(&state, "Backup Daemon");
    let app_id = backup["appId"].as_str().unwrap().to_string();
    let old_key = vault_credential_id(&state, "backup-daemon-secret");
    emu.start_automations(std::time::Duration::from_millis(300));
    wait_for(
        &emu,
        std::time::Duration::from_secs(10),
        "the old key's first sign-in",
        |s| recorded_last_sign_in(s, &old_key).is_some(),
    )
    .await;

    let rotated = keyturn(
        env.clone(),
        &["rotate", "--app", &app_id, "--key-id", &old_key, "--yes"],
    )
    .await;
    assert_eq!(rotated.code, 0, "stderr: {}", rotated.stderr);
    let summary: Value = serde_json::from_str(&rotated.stdout).unwrap();
    assert_eq!(summary["proof"]["status"], "proven");
    assert_eq!(summary["oldCredential"]["status"], "pendingRemoval");
    let new_key = summary["newKeyId"].as_str().unwrap().to_string();
    // Every sign-in from now on is an automation's: keyturn's own proof is over.
    let rotated_at = emu.state()["signIns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["dateTime"].as_str())
        .max()
        .unwrap()
        .to_string();
    assert_eq!(
        vault_credential_id(&emu.state(), "backup-daemon-secret"),
        new_key,
        "the vault holds the new secret"
    );
    wait_for(
        &emu,
        std::time::Duration::from_secs(15),
        "both keys to sign in after the rotation",
        |s| {
            recorded_last_sign_in(s, &new_key).is_some_and(|t| t > rotated_at)
                && recorded_last_sign_in(s, &old_key).is_some_and(|t| t > rotated_at)
        },
    )
    .await;

    // show: both keys' last sign-ins, as recorded, between the state before and after the command.
    let before = emu.state();
    let shown = keyturn(env.clone(), &["show", &app_id, "--format", "json"]).await;
    let after = emu.state();
    assert_eq!(shown.code, 0, "stderr: {}", shown.stderr);
    let doc: Value = serde_json::from_str(&shown.stdout).unwrap();
    for key in [&new_key, &old_key] {
        let row = doc["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["keyId"].as_str().unwrap().eq_ignore_ascii_case(key))
            .unwrap_or_else(|| panic!("{key} is shown"));
        let got = row["lastSignInDateTime"]
            .as_str()
            .unwrap_or_else(|| panic!("{row}"));
        let low = whole_seconds(&recorded_last_sign_in(&before, key).unwrap());
        let high = whole_seconds(&recorded_last_sign_in(&after, key).unwrap());
        assert!(
            low.as_str() <= got && got <= high.as_str(),
            "{key}: {low} <= {got} <= {high}"
        );
        assert!(
            got >= whole_seconds(&rotated_at).as_str(),
            "{key} signed in after the rotation"
        );
    }

    // cleanup, once the pending removal is due: held, because the old secret is still in use.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let mut later_env = env.clone();
    later_env.push(("KEYTURN_NOW".into(), later));
    let cleanup = keyturn(later_env, &["cleanup", "--yes"]).await;
    assert_eq!(
        cleanup.code, 1,
        "held: {}{}",
        cleanup.stdout, cleanup.stderr
    );
    let text = format!("{}{}", cleanup.stdout, cleanup.stderr);
    assert!(text.contains("held"), "{text}");
    eprintln!("CLEANUP: {text}");
    assert!(
        text.contains("signed in"),
        "the reason names the sign-in: {text}"
    );
    assert!(
        emu.state()["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["appId"] == app_id.as_str())
            .unwrap()["passwordCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["keyId"].as_str().unwrap().eq_ignore_ascii_case(&old_key)),
        "the old secret stays"
    );
    emu.shutdown().await;
}
