//! Rotation against the emulator over real HTTPS: Graph through `GraphClient`, Key Vault through the official SDK. One
//! emulator per test (port 0). Every fault case asserts the invariants of docs/ARCHITECTURE.md section 4 against the
//! emulator's state (which, unlike any real API, shows secret values).
//!
//! The SIGKILL cases run the real `keyturn rotate --yes` with `KEYTURN_TEST_PAUSE_AFTER=<state>` (a hidden test
//! hook: the executor journals that state, then sleeps). The test waits until the journal shows the state, kills
//! the process with SIGKILL, and then does what the next start does (`recover_on_start`).
use keyturn::auth::{SignInTarget, client_secret_credential};
use keyturn::emulator::{Emulator, EmulatorConfig, Fault, FaultKind, Op, ReadyInfo, TenantSource};
use keyturn::graph::{GraphClient, KeyId, RetryPolicy};
use keyturn::keyvault::mapping::MappingSource;
use keyturn::keyvault::{KeyVaultSecrets, VaultOptions};
use keyturn::net::{HttpOptions, http_client};
use keyturn::rotation::cli::{
    JournalAction, JournalArgs, RotateArgs, journal_command_with, rotate_command_with,
};
use keyturn::rotation::{
    Executor, ExecutorOptions, OldChoice, PlanRequest, ProofRetry, RemovalRetry, RotationProgress,
    RotationReport, StateKind, Step, TokenEndpoint, recover_on_start, startup_report,
};
use keyturn::store::Journal;
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type LiveExecutor = Executor<GraphClient, KeyVaultSecrets>;

/// What a test rotates: an app whose newest secret is mapped by tags to a vault secret.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Subject {
    pub(crate) app: String,
    pub(crate) app_id: String,
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) vault: String,
    pub(crate) secret: String,
}

pub(crate) struct Env {
    pub(crate) emu: Emulator,
    pub(crate) info: ReadyInfo,
    pub(crate) journal: Arc<Journal>,
    pub(crate) journal_path: std::path::PathBuf,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) subject: Subject,
    /// The app's keyIds before the test.
    pub(crate) initial_keys: Vec<String>,
    /// The vault secret's latest value before the test.
    pub(crate) initial_value: String,
}

pub(crate) async fn env() -> Env {
    env_with(Duration::ZERO).await
}

/// An emulator whose token endpoint refuses a new secret for `propagation_delay` after its addPassword.
pub(crate) async fn env_with(propagation_delay: Duration) -> Env {
    let emu = Emulator::start(EmulatorConfig {
        tenant: TenantSource::Generated { apps: 12, seed: 7 },
        state_route: true,
        propagation_delay,
        ..EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts");
    let info = emu.info().clone();
    let state = emu.state();
    let subject = pick_subject(&state, &info);
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.sqlite3");
    let journal = Arc::new(Journal::open(&journal_path).unwrap());
    let initial_keys = creds(&state, &subject.app)
        .iter()
        .map(|c| c.0.clone())
        .collect();
    let initial_value = latest_version(&state, &subject.secret)["value"]
        .as_str()
        .unwrap()
        .to_string();
    Env {
        emu,
        info,
        journal,
        journal_path,
        _dir: dir,
        subject,
        initial_keys,
        initial_value,
    }
}

fn pick_subject(state: &Value, info: &ReadyInfo) -> Subject {
    let mut secrets: Vec<&Value> = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    secrets.sort_by_key(|s| s["name"].as_str().unwrap_or("").to_string());
    for s in secrets {
        let latest = s["versions"].as_array().unwrap().last().unwrap();
        let (Some(app), Some(key)) = (
            latest["tags"]["ProviderAddress"].as_str(),
            latest["tags"]["CredentialId"].as_str(),
        ) else {
            continue;
        };
        let Some(a) = state["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == app)
        else {
            continue;
        };
        if creds(state, app).iter().any(|c| c.0 == key) {
            return Subject {
                app: app.to_string(),
                app_id: a["appId"].as_str().unwrap().to_string(),
                name: a["displayName"].as_str().unwrap().to_string(),
                key: key.to_string(),
                vault: info.vault_urls[0].clone(),
                secret: s["name"].as_str().unwrap().to_string(),
            };
        }
    }
    panic!("the generated tenant maps no app secret into the vault");
}

/// (keyId, secretText, endDateTime) of every client secret of an app.
pub(crate) fn creds(state: &Value, app: &str) -> Vec<(String, String, String)> {
    state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == app)
        .map(|a| {
            a["passwordCredentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["keyId"].as_str().unwrap().to_string(),
                        c["secretText"].as_str().unwrap_or("").to_string(),
                        c["endDateTime"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn versions(state: &Value, secret: &str) -> Vec<Value> {
    state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == secret)
        .map(|s| s["versions"].as_array().unwrap().clone())
        .unwrap_or_default()
}

pub(crate) fn latest_version(state: &Value, secret: &str) -> Value {
    versions(state, secret).last().cloned().unwrap()
}

fn credential(info: &ReadyInfo) -> Arc<dyn azure_core::credentials::TokenCredential> {
    client_secret_credential(
        &SignInTarget {
            tenant_id: info.tenant_id.clone(),
            client_id: info.client_id.clone(),
            authority_host: info.authority_host.clone(),
        },
        &SecretString::from(info.client_secret.clone()),
        &http(info),
    )
    .unwrap()
}

fn http(info: &ReadyInfo) -> reqwest::Client {
    http_client(&HttpOptions {
        ca_cert: Some(info.ca_cert.clone()),
        timeout: Some(Duration::from_secs(20)),
    })
    .unwrap()
}

pub(crate) fn test_options() -> ExecutorOptions {
    ExecutorOptions {
        // Longer than the emulator's replication lag, so removing a just-added secret succeeds on a retry.
        removal_retry: RemovalRetry {
            attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        },
        read_only: false,
        pause_after: None,
        proof: ProofRetry {
            timeout: Duration::from_secs(30),
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            tick: Duration::from_millis(200),
        },
        tenant_id: None,
        profile: None,
    }
}

pub(crate) fn executor_for(
    info: &ReadyInfo,
    journal: Arc<Journal>,
    opts: ExecutorOptions,
) -> LiveExecutor {
    let http = http(info);
    let cred = credential(info);
    let graph = GraphClient::new(&info.graph_url, http.clone(), cred.clone())
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            max_wait: Duration::from_millis(500),
            backoff: Duration::from_millis(50),
        });
    let vault = KeyVaultSecrets::new(cred, http.clone(), VaultOptions::fast());
    let sign_in = TokenEndpoint::new(
        http,
        &info.authority_host,
        &info.tenant_id,
        keyturn::cloud::graph_scope(&info.authority_host, &info.graph_url, None),
    );
    let opts = ExecutorOptions {
        tenant_id: Some(info.tenant_id.clone()),
        ..opts
    };
    Executor::new(graph, vault, sign_in, journal, keyturn::clock::system()).with_options(opts)
}

pub(crate) fn request(s: &Subject) -> PlanRequest {
    PlanRequest {
        app: s.app_id.clone(),
        key_id: KeyId::new(s.key.clone()),
        target: None,
        lifetime_days: 60,
        old_choice: OldChoice::RemoveWhenProven,
        operator: "it-operator".into(),
        signed_in_as: String::new(),
        mappings: Vec::new(),
        vaults: vec![s.vault.clone()],
    }
}

async fn rotate(env: &Env, exec: &LiveExecutor) -> RotationReport {
    let plan = exec.plan(&request(&env.subject)).await.unwrap();
    let target = plan.target.as_ref().expect("the tags map the secret");
    assert_eq!(target.source, MappingSource::Tags);
    assert_eq!(target.target.name, env.subject.secret);
    let approved = plan.approve(&env.subject.name).unwrap();
    exec.execute(approved).await.unwrap()
}

/// The invariants of docs/ARCHITECTURE.md section 4, on the emulator's state:
/// - no credential exists that the journal does not know of;
/// - the vault's latest value is the value from before, or belongs to a credential still on the app;
/// - whenever the journal says Done, the vault's latest value belongs to an active credential of the app.
pub(crate) fn assert_invariants(env: &Env) {
    let state = env.emu.state();
    let now_creds = creds(&state, &env.subject.app);
    let entries = env.journal.list(100).unwrap();
    for (key, _, _) in &now_creds {
        let before = env.initial_keys.contains(key);
        let journaled = entries.iter().any(|e| {
            e.new_key_id
                .as_ref()
                .is_some_and(|k| k.as_str().eq_ignore_ascii_case(key))
        });
        assert!(
            before || journaled,
            "credential {key} exists and the journal does not know of it"
        );
    }
    let latest = latest_version(&state, &env.subject.secret);
    let value = latest["value"].as_str().unwrap();
    let active = now_creds.iter().any(|c| c.1 == value);
    assert!(
        value == env.initial_value || active,
        "the vault's latest value is neither the previous one nor an active credential's"
    );
    for e in &entries {
        if e.state_kind == StateKind::Done {
            assert!(
                active,
                "the journal says Done but the vault's latest value is not an active credential's"
            );
        }
    }
}

pub(crate) fn has_key(env: &Env, key: &str) -> bool {
    creds(&env.emu.state(), &env.subject.app)
        .iter()
        .any(|c| c.0 == key)
}

pub(crate) fn fault(op: Op, kind: FaultKind, times: u32) -> Fault {
    Fault { op, kind, times }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_on_the_emulator() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    let audit_before = credential_audits(&env.emu.state(), &env.subject.app).len();
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "Done", "{report:?}");
    assert!(report.completed);
    let new_key = report.new_key_id.clone().unwrap();
    let state = env.emu.state();
    let now_creds = creds(&state, &env.subject.app);
    // The app has the new credential and not the old one.
    assert!(now_creds.iter().any(|c| c.0 == new_key.as_str()));
    assert!(!now_creds.iter().any(|c| c.0 == env.subject.key));
    let (_, new_value, new_end) = now_creds
        .iter()
        .find(|c| c.0 == new_key.as_str())
        .cloned()
        .unwrap();
    // The vault's latest version holds the new value, with the tags and the credential's dates.
    let latest = latest_version(&state, &env.subject.secret);
    assert_eq!(latest["value"].as_str().unwrap(), new_value);
    assert_eq!(latest["tags"]["CredentialId"], new_key.as_str());
    assert_eq!(latest["tags"]["ProviderAddress"], env.subject.app.as_str());
    assert_eq!(latest["tags"]["ValidityPeriodDays"], "60");
    assert_eq!(
        latest["contentType"], "text/plain",
        "kept from the previous version"
    );
    let end = chrono::DateTime::parse_from_rfc3339(&new_end).unwrap();
    assert_eq!(latest["exp"].as_i64().unwrap(), end.timestamp());
    let nbf = latest["nbf"].as_i64().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - nbf).abs() < 120,
        "nbf {nbf}"
    );
    assert_eq!(
        report.vault_secret_id.as_deref(),
        Some(
            format!(
                "{}/secrets/{}/{}",
                env.subject.vault,
                env.subject.secret,
                latest["version"].as_str().unwrap()
            )
            .as_str()
        )
    );
    // The audit log shows both changes.
    let audits = credential_audits(&state, &env.subject.app);
    assert_eq!(audits.len(), audit_before + 2, "an add and a remove");
    assert!(
        audits
            .iter()
            .any(|(old, new)| new.contains(new_key.as_str()) && !old.contains(new_key.as_str()))
    );
    assert!(
        audits
            .iter()
            .any(|(old, new)| old.contains(&env.subject.key) && !new.contains(&env.subject.key))
    );
    // The journal says Done.
    let e = env.journal.get(report.rotation_id).unwrap();
    assert_eq!(e.state_kind, StateKind::Done);
    assert_invariants(&env);
    env.emu.shutdown().await;
}

/// (oldValue, newValue) of the KeyDescription property of every credential audit event of an app.
pub(crate) fn credential_audits(state: &Value, app: &str) -> Vec<(String, String)> {
    state["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["activityDisplayName"]
                .as_str()
                .unwrap_or("")
                .contains("Certificates and secrets management")
        })
        .flat_map(|e| e["targetResources"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["id"] == app)
        .flat_map(|t| {
            t["modifiedProperties"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["displayName"] == "KeyDescription")
        .map(|p| {
            (
                p["oldValue"].as_str().unwrap_or("").to_string(),
                p["newValue"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_add_password_fails() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    env.emu
        .faults()
        .add(fault(Op::AddPassword, FaultKind::Status(500), 1));
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "Failed", "{report:?}");
    assert!(has_key(&env, &env.subject.key));
    assert_eq!(
        creds(&env.emu.state(), &env.subject.app).len(),
        env.initial_keys.len()
    );
    assert_eq!(
        versions(&env.emu.state(), &env.subject.secret).len(),
        1,
        "the vault was not touched"
    );
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_vault_write_fails_for_good() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    env.emu
        .faults()
        .add(fault(Op::VaultSet, FaultKind::Status(500), u32::MAX));
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "RolledBack", "{report:?}");
    let e = env.journal.get(report.rotation_id).unwrap();
    let new_key = e.new_key_id.clone().unwrap();
    assert!(
        !has_key(&env, new_key.as_str()),
        "the new credential was removed"
    );
    assert!(has_key(&env, &env.subject.key));
    assert_eq!(
        latest_version(&env.emu.state(), &env.subject.secret)["value"],
        env.initial_value.as_str()
    );
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_vault_write_times_out_after_the_vault_stored_it() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    // The vault stores the version, then answers after the client gave up (VaultOptions::fast: 3 s).
    env.emu.faults().add(fault(
        Op::VaultSet,
        FaultKind::ApplyThenDelay(Duration::from_secs(6)),
        1,
    ));
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "Done", "rolled forward: {report:?}");
    let events = env.journal.events(report.rotation_id).unwrap();
    assert!(
        events
            .iter()
            .any(|ev| ev.step == Some(Step::StoreInVault) && ev.phase == "failed"),
        "the write's answer was lost"
    );
    let new_key = report.new_key_id.clone().unwrap();
    let latest = latest_version(&env.emu.state(), &env.subject.secret);
    assert_eq!(latest["tags"]["CredentialId"], new_key.as_str());
    assert!(!has_key(&env, &env.subject.key));
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_read_back_mismatch() {
    let env = env().await;
    // The corrupted answer must hit the read-back itself, not the preflight's read: arm it when that step starts.
    let faults = env.emu.faults();
    let exec = executor_for(&env.info, env.journal.clone(), test_options()).with_progress(
        Arc::new(move |p| {
            if let RotationProgress::StepStarted {
                step: Step::ReadBack,
                ..
            } = p
            {
                faults.add(fault(Op::VaultGet, FaultKind::CorruptReadBack, 1));
            }
        }),
    );
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "RolledBack", "{report:?}");
    let e = env.journal.get(report.rotation_id).unwrap();
    let new_key = e.new_key_id.clone().unwrap();
    let state = env.emu.state();
    let all = versions(&state, &env.subject.secret);
    assert_eq!(all.len(), 3, "previous, new, previous written back");
    assert_eq!(all[2]["value"], env.initial_value.as_str());
    assert_eq!(all[2]["tags"]["CredentialId"], env.subject.key.as_str());
    assert!(!has_key(&env, new_key.as_str()));
    assert!(has_key(&env, &env.subject.key));
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_remove_password_fails_then_journal_resume_completes() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    env.emu
        .faults()
        .add(fault(Op::RemovePassword, FaultKind::Status(500), 6));
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "OldRemovalPending", "{report:?}");
    assert!(!report.completed);
    assert!(
        has_key(&env, &env.subject.key),
        "the old one is still there"
    );
    assert_invariants(&env);
    let start = startup_report(&env.journal).unwrap();
    assert_eq!(start.pending_removals.len(), 1);

    // `keyturn journal resume ID`.
    let session = session_for(&env.info, env.journal_path.parent().unwrap());
    let args = JournalArgs {
        action: Some(JournalAction::Resume {
            id: report.rotation_id,
            force: false,
        }),
        limit: 20,
        json: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = journal_command_with(
        env.journal.clone(),
        &args,
        &|| Ok(session.clone()),
        &mut out,
        &mut err,
    )
    .await;
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{out}\n{}", String::from_utf8_lossy(&err));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["state"], "Done");
    assert_eq!(summary["oldCredential"]["status"], "removed");
    assert!(!has_key(&env, &env.subject.key));
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rollback_fails_too_needs_attention_at_next_start() {
    let env = env().await;
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    env.emu
        .faults()
        .add(fault(Op::VaultSet, FaultKind::Status(403), u32::MAX));
    env.emu
        .faults()
        .add(fault(Op::RemovePassword, FaultKind::Status(500), u32::MAX));
    let report = rotate(&env, &exec).await;
    assert_eq!(report.state, "NeedsAttention", "{report:?}");
    let e = env.journal.get(report.rotation_id).unwrap();
    let new_key = e.new_key_id.clone().unwrap();
    assert!(
        has_key(&env, new_key.as_str()),
        "still there, and journaled"
    );
    assert_invariants(&env);

    // The next start shows it, and leaves it alone (a human decides).
    let next = executor_for(&env.info, env.journal.clone(), test_options());
    let start = recover_on_start(&next).await;
    assert!(start.recovered.is_empty());
    assert_eq!(start.needs_attention.len(), 1);
    let lines = start.lines().join("\n");
    assert!(lines.contains("NEEDS ATTENTION"), "{lines}");
    assert!(
        lines.contains(&format!("keyturn journal rollback {}", report.rotation_id)),
        "{lines}"
    );
    env.emu.shutdown().await;
}

/// Build a session the way `keyturn` does, on the emulator, with an isolated config.
pub(crate) fn session_for(info: &ReadyInfo, dir: &std::path::Path) -> keyturn::session::Session {
    let overrides = keyturn::session::Overrides {
        tenant_id: Some(info.tenant_id.clone()),
        client_id: Some(info.client_id.clone()),
        client_secret: Some(info.client_secret.clone().into()),
        authority_host: Some(info.authority_host.clone()),
        graph_url: Some(info.graph_url.clone()),
        ca_cert: Some(info.ca_cert.clone()),
        config: Some(dir.join("none.toml")),
        ..Default::default()
    };
    let mut settings = keyturn::session::Settings::resolve(&overrides).unwrap();
    settings.vaults = info.vault_urls.clone();
    keyturn::session::Session::connect(settings).unwrap()
}

// ---- the real binary ---------------------------------------------------------------------------------------

/// `keyturn` with an isolated home (XDG dirs under `home`), signed in to the emulator through the environment.
pub(crate) fn keyturn_cmd(info: &ReadyInfo, home: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyturn"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KEYTURN_LOG", "trace")
        .env("AZURE_TENANT_ID", &info.tenant_id)
        .env("AZURE_CLIENT_ID", &info.client_id)
        .env("AZURE_CLIENT_SECRET", &info.client_secret)
        .env("AZURE_AUTHORITY_HOST", &info.authority_host)
        .env("KEYTURN_GRAPH_URL", &info.graph_url)
        .env("KEYTURN_CA_CERT", &info.ca_cert)
        .kill_on_drop(true);
    cmd
}

/// `keyturn rotate` of the subject's secret into its vault secret for 30 days: the plan, without a decision on the
/// old secret or an approval.
pub(crate) fn plan_argv(s: &Subject) -> Vec<String> {
    [
        "rotate",
        "--app",
        &s.app_id,
        "--key-id",
        &s.key,
        "--vault",
        &s.vault,
        "--secret-name",
        &s.secret,
        "--lifetime-days",
        "30",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// The same rotation, approved, removing the old secret once the new one is proven.
pub(crate) fn rotate_argv(s: &Subject) -> Vec<String> {
    let mut argv = plan_argv(s);
    argv.extend(["--remove-old".to_string(), "--yes".to_string()]);
    argv
}

/// The journal the binary writes under an isolated home.
pub(crate) fn binary_journal(home: &std::path::Path) -> std::path::PathBuf {
    home.join("data").join("keyturn").join("journal.sqlite3")
}

// ---- SIGKILL mid-rotation -------------------------------------------------------------------------------------

/// Run `keyturn rotate --yes` with `KEYTURN_TEST_PAUSE_AFTER=<state>`, SIGKILL it once its journal shows that
/// state, and return the journal and the entry id.
async fn killed_after(env: &Env, home: &std::path::Path, state: StateKind) -> (Arc<Journal>, i64) {
    let mut child = keyturn_cmd(&env.info, home)
        .args(rotate_argv(&env.subject))
        .env(keyturn::rotation::PAUSE_ENV, state.as_str())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let path = binary_journal(home);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (journal, id) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "keyturn exited ({status}) before reaching {state}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if path.exists() {
            let j = Journal::open(&path).unwrap();
            let reached = j
                .list(1)
                .unwrap()
                .first()
                .filter(|e| e.state_kind == state)
                .map(|e| e.id);
            if let Some(id) = reached {
                break (Arc::new(j), id);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyturn never reached {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // start_kill is SIGKILL on Unix: no destructor, no cleanup, exactly like `kill -9`.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    let e = journal.get(id).unwrap();
    assert_eq!(e.state_kind, state, "the journal still says {state}");
    assert!(e.owner.is_some_and(|o| !o.is_alive()), "its owner is gone");
    (journal, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_secret_added_next_start_removes_the_new_credential() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let (journal, id) = killed_after(&env, home.path(), StateKind::SecretAdded).await;
    let env = Env { journal, ..env };
    let new_key = env.journal.get(id).unwrap().new_key_id.unwrap();
    assert!(has_key(&env, new_key.as_str()));
    // The next start (every start runs this recovery; here in-process so the test controls the retry timing): the
    // vault's latest version does not carry CredentialId = newKeyId, so the new credential
    // (whose value died with the process) is removed.
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    let start = recover_on_start(&exec).await;
    assert_eq!(start.recovered.len(), 1, "{:?}", start.lines());
    assert_eq!(start.recovered[0].state, "RolledBack");
    assert!(!has_key(&env, new_key.as_str()));
    assert!(has_key(&env, &env.subject.key));
    assert_eq!(
        latest_version(&env.emu.state(), &env.subject.secret)["value"],
        env.initial_value.as_str()
    );
    assert_invariants(&env);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_stored_in_vault_next_start_rolls_forward() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let (journal, id) = killed_after(&env, home.path(), StateKind::StoredInVault).await;
    let env = Env { journal, ..env };
    let new_key = env.journal.get(id).unwrap().new_key_id.unwrap();
    // The next start: the vault holds the new version, so the rotation continues (checked by tag and hint).
    let exec = executor_for(&env.info, env.journal.clone(), test_options());
    let start = recover_on_start(&exec).await;
    assert_eq!(start.recovered.len(), 1, "{:?}", start.lines());
    assert_eq!(start.recovered[0].state, "Done");
    assert!(has_key(&env, new_key.as_str()));
    assert!(!has_key(&env, &env.subject.key));
    let latest = latest_version(&env.emu.state(), &env.subject.secret);
    assert_eq!(latest["tags"]["CredentialId"], new_key.as_str());
    assert_invariants(&env);
    env.emu.shutdown().await;
}

// ---- the CLI face and secret hygiene ----------------------------------------------------------------------------

fn rotate_args(s: &Subject, yes: bool) -> RotateArgs {
    RotateArgs {
        app: s.app_id.clone(),
        key_id: s.key.clone(),
        vault: None,
        secret_name: None,
        lifetime_days: Some(30),
        keep_old: None,
        remove_old: true,
        yes,
        plan_out: None,
        plan: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_without_yes_prints_the_plan_and_changes_nothing() {
    let env = env().await;
    let session = session_for(&env.info, env.journal_path.parent().unwrap());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = rotate_command_with(
        &session,
        env.journal.clone(),
        &rotate_args(&env.subject, false),
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 3);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&env.subject.name), "{out}");
    assert!(out.contains(&env.subject.secret), "{out}");
    assert!(String::from_utf8(err).unwrap().contains("--yes"));
    assert!(env.journal.list(10).unwrap().is_empty());
    assert_eq!(
        creds(&env.emu.state(), &env.subject.app).len(),
        env.initial_keys.len()
    );

    // --read-only: the plan, a clear refusal, nothing changed.
    let mut ro = session.clone();
    ro.read_only = true;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = rotate_command_with(
        &ro,
        env.journal.clone(),
        &rotate_args(&env.subject, true),
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 3);
    assert!(String::from_utf8(err).unwrap().contains("read-only"));
    assert!(env.journal.list(10).unwrap().is_empty());
    env.emu.shutdown().await;
}

/// After rotations through `keyturn rotate` (one clean, one through the read-back-mismatch rollback), the new
/// values (read from the emulator's state) appear in none of: the log, the journal's files, stdout, stderr.
#[tokio::test(flavor = "current_thread")]
async fn secret_hygiene_rotate() {
    use tracing_subscriber::layer::SubscriberExt;
    let env = env().await;
    let log_path = env._dir.path().join("keyturn.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    // Everything keyturn and the SDK log, at the most verbose level, into a file (the emulator's own logs are
    // not keyturn's log).
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "trace,keyturn::emulator=off,hyper=off,h2=off,rustls=off",
        ))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::sync::Mutex::new(log_file))
                .with_ansi(false),
        );
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests of this binary run on other threads without this subscriber; a callsite whose interest was
    // cached as "never" while only they existed would stay silent here. Ask every callsite again.
    tracing::callsite::rebuild_interest_cache();

    let session = session_for(&env.info, env.journal_path.parent().unwrap());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = rotate_command_with(
        &session,
        env.journal.clone(),
        &rotate_args(&env.subject, true),
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let summary: Value = serde_json::from_slice(&out).unwrap();
    let first_key = summary["newKeyId"].as_str().unwrap().to_string();

    // A second rotation, of the secret just made, that goes through the read-back mismatch and rollback paths.
    let mut args = rotate_args(&env.subject, true);
    args.key_id = first_key.clone();
    let (mut exec_out, mut exec_err) = (Vec::new(), Vec::new());
    let code2 =
        rotate_with_corrupt_read_back(&env, &session, &args, &mut exec_out, &mut exec_err).await;
    assert_eq!(code2, 1, "{}", String::from_utf8_lossy(&exec_err));

    drop(_guard);
    let state = env.emu.state();
    let mut values: Vec<String> = Vec::new();
    for e in env.journal.list(10).unwrap() {
        if let Some(k) = e.new_key_id {
            // Removed credentials are gone from the app; their values remain in the vault's versions.
            for v in versions(&state, &env.subject.secret) {
                if v["tags"]["CredentialId"] == k.as_str() {
                    values.push(v["value"].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert!(values.len() >= 2, "found the values of both new secrets");
    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), [out, exec_out].concat()),
        ("stderr".into(), [err, exec_err].concat()),
        ("log".into(), std::fs::read(&log_path).unwrap()),
    ];
    for entry in std::fs::read_dir(env.journal_path.parent().unwrap()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("journal.sqlite3"))
        {
            haystacks.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    assert!(haystacks.iter().any(|(_, h)| !h.is_empty()));
    for v in &values {
        for (name, h) in &haystacks {
            assert!(
                !contains(h, v.as_bytes()),
                "a new secret value appears in {name}"
            );
        }
    }
    // The log did record the rotation (so the check above looked at something).
    let log = String::from_utf8_lossy(&haystacks[2].1).to_string();
    assert!(log.contains("rotation step started"), "the log is empty");
    env.emu.shutdown().await;
}

/// `keyturn rotate` whose read-back gets a corrupted answer. Faults are consumed in the order they were added:
/// the first two vault reads (the plan's and the preflight's look at the latest version) pass with a 1 ms delay,
/// the third (the read-back) is corrupted.
async fn rotate_with_corrupt_read_back(
    env: &Env,
    session: &keyturn::session::Session,
    args: &RotateArgs,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> u8 {
    let faults = env.emu.faults();
    faults.add(fault(
        Op::VaultGet,
        FaultKind::Delay(Duration::from_millis(1)),
        2,
    ));
    faults.add(fault(Op::VaultGet, FaultKind::CorruptReadBack, 1));
    rotate_command_with(session, env.journal.clone(), args, out, err).await
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `keyturn rotate --yes` through the real binary, logging at trace level: the new value (read from the emulator's
/// state) is in none of stdout, stderr, the log file, the journal's files; `keyturn journal` lists the rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_hygiene_of_the_binary() {
    let env = env().await;
    let home = tempfile::tempdir().unwrap();
    let out = keyturn_cmd(&env.info, home.path())
        .args(rotate_argv(&env.subject))
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON summary");
    assert_eq!(summary["state"], "Done");
    let new_key = summary["newKeyId"].as_str().unwrap().to_string();
    let state = env.emu.state();
    let value = creds(&state, &env.subject.app)
        .into_iter()
        .find(|c| c.0 == new_key)
        .unwrap()
        .1;
    assert_eq!(
        latest_version(&state, &env.subject.secret)["value"],
        value.as_str()
    );

    let list = keyturn_cmd(&env.info, home.path())
        .args(["journal"])
        .output()
        .await
        .unwrap();
    assert_eq!(list.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(listing.contains("Done"), "{listing}");
    assert!(listing.contains(&new_key[..8]), "{listing}");

    let show = keyturn_cmd(&env.info, home.path())
        .args(["journal", "show", "1"])
        .output()
        .await
        .unwrap();
    assert_eq!(show.status.code(), Some(0));
    let shown = String::from_utf8_lossy(&show.stdout).to_string();
    for step in ["addPassword", "vaultSet", "readBack", "removeOld", "Done"] {
        assert!(shown.contains(step), "journal show lacks {step}: {shown}");
    }
    let json = keyturn_cmd(&env.info, home.path())
        .args(["journal", "--json"])
        .output()
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(listed[0]["newKeyId"], new_key.as_str());
    assert_eq!(listed[0]["completed"], true);

    let log_path = home
        .path()
        .join("state")
        .join("keyturn")
        .join("keyturn.log");
    let log = std::fs::read(&log_path).expect("the binary wrote its log");
    assert!(
        String::from_utf8_lossy(&log).contains("rotation step started"),
        "the log records the rotation"
    );
    let mut haystacks = vec![
        (
            "stdout",
            [out.stdout, list.stdout, show.stdout, json.stdout].concat(),
        ),
        (
            "stderr",
            [out.stderr, list.stderr, show.stderr, json.stderr].concat(),
        ),
        ("log", log),
    ];
    let data = home.path().join("data").join("keyturn");
    let mut journal_files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        haystacks.push(("journal", std::fs::read(&p).unwrap()));
        journal_files += 1;
    }
    assert!(journal_files >= 1);
    for (name, h) in &haystacks {
        assert!(
            !contains(h, value.as_bytes()),
            "the new value appears in {name}"
        );
    }
    env.emu.shutdown().await;
}
