//! Answers a real tenant and a real vault give that a tidy emulator would not, each learnt by the emulator and read
//! right by keyturn: replication that hides a just-added secret from reads, soft-deleted secret names, the kinds of
//! Key Vault 403, owners without names.
use super::rotation::{
    assert_invariants, binary_journal, creds, env, executor_for, fault, has_key, keyturn_cmd,
    latest_version, request, test_options,
};
use super::support::{self, client, vault_token};
use keyturn::emulator::{FaultKind, Op};
use keyturn::rotation::{ExecutorOptions, RemovalRetry};
use keyturn::store::Journal;
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

// ---- Key Vault: soft-deleted names and the kinds of 403 ---------------------------------------------------------

/// A call to the emulator's first vault with the default client's token: status and JSON body.
async fn vault_call(
    env: &super::rotation::Env,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let token = vault_token(&env.emu).await;
    let url = format!("{}{path}?api-version=7.5", env.info.vault_urls[0]);
    let mut req = client(&env.emu).request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the vault answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// The binary as an operator runs it, on the emulator, with a profile that lists the emulator's vault.
async fn keyturn(
    env: &super::rotation::Env,
    home: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nvaults = [\"{}\"]\n",
            env.info.vault_urls[0]
        ),
    )
    .unwrap();
    let out = keyturn_cmd(&env.info, home)
        .env("KEYTURN_CONFIG", &config)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a refused run must leave alone: the app's secrets, every vault secret and deleted secret, the journal.
fn snapshot(env: &super::rotation::Env, home: &std::path::Path) -> (String, String, usize) {
    let state = env.emu.state();
    let journal = binary_journal(home);
    let rotations = if journal.exists() {
        Journal::open(&journal).unwrap().list(100).unwrap().len()
    } else {
        0
    };
    (
        serde_json::to_string(&creds(&state, &env.subject.app)).unwrap(),
        serde_json::to_string(&state["vaults"][0]).unwrap(),
        rotations,
    )
}

/// Key Vault keeps a deleted secret recoverable and refuses its name (409 Conflict, inner
/// ObjectIsDeletedButRecoverable) until it is recovered or purged. The plan looks first (a read of
/// `deletedsecrets/{name}`), says so with the two ways out, and `rotate --yes` refuses: exit 3, and the tenant, the
/// vault and the journal are as they were (no credential added and then rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_deleted_vault_secret_is_found_by_the_plan_and_nothing_is_written() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let name = env.subject.secret.clone();
    let (status, deleted) = vault_call(
        &env,
        reqwest::Method::DELETE,
        &format!("/secrets/{name}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted["recoveryId"],
        format!("{}/deletedsecrets/{name}", env.info.vault_urls[0]).as_str()
    );
    // The emulator answers a write of the name as Key Vault does.
    let (status, refused) = vault_call(
        &env,
        reqwest::Method::PUT,
        &format!("/secrets/{name}"),
        Some(serde_json::json!({"value": "x"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "Conflict");
    assert_eq!(
        refused["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );
    assert_eq!(
        refused["error"]["message"],
        format!(
            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
        )
        .as_str()
    );

    let before = snapshot(&env, home.path());
    let args = super::rotation::plan_argv(&env.subject);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, plan, stderr) = keyturn(&env, home.path(), &args).await;
    assert_eq!(code, 3, "{stderr}");
    let recover = format!(
        "az keyvault secret recover --id {}/deletedsecrets/{name}",
        env.info.vault_urls[0]
    );
    assert!(plan.contains("a deleted secret holds the name"), "{plan}");
    assert!(plan.contains(&recover), "{plan}");
    assert!(plan.contains("az keyvault secret purge"), "{plan}");

    let mut yes = args.clone();
    yes.extend(["--remove-old", "--yes"]);
    let (code, stdout, stderr) = keyturn(&env, home.path(), &yes).await;
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("is soft-deleted"), "{stderr}");
    assert!(stderr.contains(&recover), "{stderr}");
    assert!(stdout.trim().is_empty(), "no rotation summary: {stdout}");
    assert_eq!(
        snapshot(&env, home.path()),
        before,
        "tenant, vault and journal unchanged"
    );
    assert_eq!(
        env.emu.state()["vaults"][0]["deletedSecrets"][0]["name"],
        name.as_str()
    );

    // Recovered, the secret is back with its versions and the plan is an ordinary one again.
    let (status, _) = vault_call(
        &env,
        reqwest::Method::POST,
        &format!("/deletedsecrets/{name}/recover"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (code, plan, stderr) = keyturn(&env, home.path(), &args).await;
    assert_eq!(code, 3, "a plan alone exits 3: {stderr}");
    assert!(!plan.contains("deleted"), "{plan}");
    assert!(
        plan.contains(&format!(
            "Current version: {}",
            latest_version(&env.emu.state(), &name)["version"]
                .as_str()
                .unwrap()
        )),
        "{plan}"
    );
    env.emu.shutdown().await;
}

/// The four 403s of a real vault, each produced by the emulator (its RBAC, firewall and access-policy refusals as
/// faults, a disabled secret as state): `rotate`'s plan and `doctor` name the actual cause and its own fix, never
/// "needs a role" for a firewall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_vault_403_is_named_with_its_own_fix() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let args = super::rotation::plan_argv(&env.subject);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cases = [
        (
            "rbac",
            "no Azure role assignment on the vault allows it",
            "az role assignment create",
        ),
        (
            "firewall",
            "the vault's firewall does not admit this machine's address (127.0.0.1)",
            "az keyvault network-rule add --name <vault name> --ip-address 127.0.0.1",
        ),
        (
            "access-policy",
            "the vault uses access policies (not Azure RBAC) and none gives this identity the secrets get permission",
            "az keyvault set-policy",
        ),
    ];
    for (kind, cause, fix) in cases {
        env.emu.faults().clear();
        env.emu
            .faults()
            .add(format!("VaultGet=denied:{kind}x*").parse().unwrap());
        let (code, _, stderr) = keyturn(&env, home.path(), &args).await;
        assert_eq!(code, 3, "{kind}: {stderr}");
        assert!(stderr.contains(cause), "{kind}: {stderr}");
        assert!(stderr.contains(fix), "{kind}: {stderr}");
        for other in cases.iter().filter(|c| c.0 != kind) {
            assert!(
                !stderr.contains(other.2),
                "{kind} named {}'s fix: {stderr}",
                other.0
            );
        }

        // doctor: the vault's line says the cause, its fix says what to do.
        env.emu.faults().clear();
        env.emu
            .faults()
            .add(format!("VaultList=denied:{kind}x*").parse().unwrap());
        let (code, doctor, _) = keyturn(&env, home.path(), &["doctor"]).await;
        assert_eq!(code, 1, "{kind}: {doctor}");
        let line = doctor
            .lines()
            .find(|l| l.starts_with("FAIL  vault "))
            .unwrap_or_else(|| panic!("{kind}: no failing vault line in {doctor}"));
        let fix_at = line.find("-> fix: ").expect("a fix");
        let list_cause = cause.replace("secrets get permission", "secrets list permission");
        assert!(line[..fix_at].contains(&list_cause), "{kind}: {line}");
        assert!(line[fix_at..].contains(fix), "{kind}: {line}");

        // show: the vault locations are unknown, and its note says why and what to do.
        let (code, _, stderr) = keyturn(&env, home.path(), &["show", &env.subject.app_id]).await;
        assert_eq!(code, 0, "{kind}: {stderr}");
        let note = stderr
            .lines()
            .find(|l| l.contains("vault locations"))
            .unwrap_or_else(|| panic!("{kind}: no vault note in {stderr}"));
        assert!(note.contains(&list_cause), "{kind}: {note}");
        assert!(note.contains(fix), "{kind}: {note}");
    }
    env.emu.faults().clear();

    // A disabled secret is state, not a fault: disable the latest version as an operator would.
    let version = latest_version(&env.emu.state(), &env.subject.secret)["version"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = vault_call(
        &env,
        reqwest::Method::PATCH,
        &format!("/secrets/{}/{version}", env.subject.secret),
        Some(serde_json::json!({"attributes": {"enabled": false}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (code, _, stderr) = keyturn(&env, home.path(), &args).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("the secret's current version is disabled in the vault"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "az keyvault secret set-attributes --id {}/secrets/{} --enabled true",
            env.info.vault_urls[0], env.subject.secret
        )),
        "{stderr}"
    );
    env.emu.shutdown().await;
}

/// The published captures of Key Vault's refusals (tests/fixtures/captured/keyvault/): the emulator sends the same
/// code, inner code and fixed wording for each, and keyturn reads each capture as the cause it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_vault_refusals_match_the_published_captures() {
    use keyturn::keyvault::VaultDenial;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captured/keyvault");
    let capture = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
    };
    // The fixed part of a message: up to the first caller-specific detail.
    let fixed =
        |m: &str| -> String { m.split(['\r', '\'']).next().unwrap_or_default().to_string() };
    let env = env().await;
    let secret = env.subject.secret.clone();
    let version = latest_version(&env.emu.state(), &secret)["version"]
        .as_str()
        .unwrap()
        .to_string();
    let get = format!("/secrets/{secret}/{version}");
    let cases: [(&str, Option<&str>, VaultDenial); 3] = [
        (
            "response-kv-forbidden-by-firewall.json",
            Some("firewall"),
            VaultDenial::Firewall {
                client_address: Some("20.126.176.160".into()),
            },
        ),
        (
            "response-kv-access-denied.json",
            Some("access-policy"),
            VaultDenial::AccessPolicy,
        ),
        (
            "response-kv-secret-disabled.json",
            None,
            VaultDenial::SecretDisabled { secret: None },
        ),
    ];
    for (file, fault, want) in cases {
        let published = capture(file);
        let e = &published["error"];
        assert_eq!(
            VaultDenial::classify(
                e["code"].as_str().unwrap(),
                e["innererror"]["code"].as_str(),
                e["message"].as_str().unwrap()
            ),
            want,
            "{file}"
        );
        env.emu.faults().clear();
        match fault {
            Some(kind) => env
                .emu
                .faults()
                .add(format!("VaultGet=denied:{kind}x1").parse().unwrap()),
            None => {
                let (status, _) = vault_call(
                    &env,
                    reqwest::Method::PATCH,
                    &get,
                    Some(serde_json::json!({"attributes": {"enabled": false}})),
                )
                .await;
                assert_eq!(status, 200);
            }
        }
        let (status, answer) = vault_call(&env, reqwest::Method::GET, &get, None).await;
        assert_eq!(status, 403, "{file}: {answer}");
        let a = &answer["error"];
        assert_eq!(a["code"], e["code"], "{file}: {answer}");
        assert_eq!(
            a["innererror"]["code"], e["innererror"]["code"],
            "{file}: {answer}"
        );
        let (mine, theirs) = (
            fixed(a["message"].as_str().unwrap()),
            fixed(e["message"].as_str().unwrap()),
        );
        // The access-policy text names the permission asked for (set in the capture, get here).
        assert_eq!(
            mine.replace("secrets get permission", "secrets set permission"),
            theirs,
            "{file}"
        );
    }
    // The 409 of a soft-deleted name, as the Azure CLI prints the service's answer.
    let printed =
        std::fs::read_to_string(dir.join("response-kv-deleted-but-recoverable.txt")).unwrap();
    let (status, _) = vault_call(
        &env,
        reqwest::Method::DELETE,
        &format!("/secrets/{secret}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = vault_call(
        &env,
        reqwest::Method::PUT,
        &format!("/secrets/{secret}"),
        Some(serde_json::json!({"value": "x"})),
    )
    .await;
    assert_eq!(status, 409);
    let message = answer["error"]["message"]
        .as_str()
        .unwrap()
        .replace(&secret, "<secret-name>");
    assert!(
        printed.contains(&format!("Message: {message}\n")),
        "{message}"
    );
    assert!(printed.contains(&format!(
        "Code: {}\n",
        answer["error"]["code"].as_str().unwrap()
    )));
    assert!(printed.contains(&format!(
        "\"code\": \"{}\"",
        answer["error"]["innererror"]["code"].as_str().unwrap()
    )));
    env.emu.shutdown().await;
}

// ---- Owners without names ------------------------------------------------------------------------------------

/// With Application.Read.All alone, Graph returns user owners as `@odata.type` and `id`, every other property null
/// (Microsoft Graph's List owners page: limited information for objects of a type the caller cannot read). keyturn
/// says which permission shows the names: in `show` (text), once on stderr, and in `doctor`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_without_names_say_which_permission_shows_them() {
    use keyturn::emulator::{EmulatorConfig, TenantSource};
    let emu = super::support::start(EmulatorConfig {
        tenant: TenantSource::Generated { apps: 0, seed: 1 },
        ..EmulatorConfig::default()
    })
    .await;
    let (app, _) = emu.create_app("Payroll Sync");
    let alice = emu.add_user("Alice Admin", "alice@contoso.test");
    let bob = emu.add_user("Bob Builder", "bob@contoso.test");
    let (robot, _) = emu.add_client("deploy-robot", &[]);
    for o in [&alice, &bob, &robot] {
        assert!(emu.add_owner(&app, o));
    }
    let (reader, reader_secret) = emu.add_client("keyturn-reader", &["Application.Read.All"]);

    // The wire: users reduced to type and id for the reader, whole for an identity that may read users.
    let token = support::token_as(&emu, &reader, &reader_secret, support::GRAPH_SCOPE).await;
    let (status, body) =
        support::graph_get(&emu, &token, &format!("/applications/{app}/owners")).await;
    assert_eq!(status, 200, "{body}");
    let items = body["value"].as_array().unwrap();
    let user = items.iter().find(|o| o["id"] == alice.as_str()).unwrap();
    assert_eq!(user["@odata.type"], "#microsoft.graph.user");
    assert!(
        user["displayName"].is_null() && user["userPrincipalName"].is_null(),
        "{user}"
    );
    let sp = items
        .iter()
        .find(|o| o["@odata.type"] == "#microsoft.graph.servicePrincipal")
        .unwrap();
    assert_eq!(
        sp["displayName"], "deploy-robot",
        "service principals stay readable"
    );
    let full = support::graph_token(&emu).await;
    let (_, body) = support::graph_get(&emu, &full, &format!("/applications/{app}/owners")).await;
    assert!(
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["displayName"] == "Alice Admin"),
        "{body}"
    );

    let home = tempfile::tempdir().unwrap();
    let mut env = super::hardening::env_for(&emu, home.path());
    let full_env = env.clone();
    for (k, v) in &mut env {
        match k.as_str() {
            "AZURE_CLIENT_ID" => *v = reader.clone(),
            "AZURE_CLIENT_SECRET" => *v = reader_secret.clone(),
            _ => {}
        }
    }
    let text = super::hardening::keyturn(env.clone(), &["show", &app]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    for id in [&alice, &bob] {
        assert!(
            text.stdout.contains(&format!(
                "(name hidden)  {id}: names need User.Read.All or Directory.Read.All"
            )),
            "{}",
            text.stdout
        );
    }
    assert!(text.stdout.contains("deploy-robot"), "{}", text.stdout);
    assert_eq!(
        text.stderr.matches("shown without names").count(),
        1,
        "one note, not one per owner: {}",
        text.stderr
    );
    assert!(
        text.stderr.contains("2 owner(s) shown without names"),
        "{}",
        text.stderr
    );
    let json = super::hardening::keyturn(env.clone(), &["show", &app, "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let o = doc["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == alice.as_str())
        .unwrap();
    assert!(
        o["displayName"].is_null(),
        "JSON keeps what Graph sent: {o}"
    );

    let line = |stdout: &str| {
        stdout
            .lines()
            .find(|l| l.contains("owners' names"))
            .unwrap_or_else(|| panic!("no owners' names line in {stdout}"))
            .to_string()
    };
    let doctor = super::hardening::keyturn(env, &["doctor"]).await;
    let l = line(&doctor.stdout);
    assert!(l.starts_with("FAIL  owners' names: "), "{l}");
    assert!(l.contains("User.Read.All or Directory.Read.All"), "{l}");
    assert!(
        l.contains("-> fix: grant") && l.contains("User.Read.All"),
        "{l}"
    );
    let doctor = super::hardening::keyturn(full_env, &["doctor"]).await;
    let l = line(&doctor.stdout);
    assert!(l.starts_with("PASS  owners' names: "), "{l}");
    emu.shutdown().await;
}
