//! Sign-in sources that can run here, against the emulator where a token endpoint is needed. Nothing here touches
//! the real user's keyring, config or environment: every test passes its own `Env`, a mock store or a temporary
//! directory.
use base64::Engine;
use keyturn::auth::store::{SecretKey, StoreChoice, StoreOpener};
use keyturn::auth::{
    AuthError, CredentialBuilder, DeviceCodeEvent, Env, PromptHook, SecretOrigin, SecretStores,
    SignInConfig, SignInSource, SignedIn, TokenClaims, token_claims,
};
use keyturn::config::SignIn;
use keyturn::emulator::{DeviceCodeOutcome, Emulator, EmulatorConfig};
use secrecy::SecretString;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Emulator helpers of this module's own (so it does not depend on what other modules need from `support`).
mod harness {
    use keyturn::emulator::{Emulator, EmulatorConfig};
    use keyturn::net::{HttpOptions, http_client};
    use std::time::Duration;

    pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
    pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";

    pub async fn start(cfg: EmulatorConfig) -> Emulator {
        Emulator::start(cfg).await.expect("the emulator starts")
    }

    /// A client that trusts the emulator's CA, built the way `--ca-cert` builds keyturn's.
    pub fn client(emu: &Emulator) -> reqwest::Client {
        http_client(&HttpOptions {
            ca_cert: Some(emu.info().ca_cert.clone()),
            timeout: Some(Duration::from_secs(20)),
        })
        .expect("an HTTP client trusting the emulator CA")
    }
}

fn config(emu: &Emulator, method: SignIn) -> SignInConfig {
    let info = emu.info();
    SignInConfig {
        method,
        tenant_id: Some(info.tenant_id.clone()),
        client_id: Some(info.client_id.clone()),
        authority_host: info.authority_host.clone(),
        client_secret: None,
        certificate_path: None,
    }
}

/// An environment with nothing in it: no secret, no `az`, no managed or workload identity.
fn empty_env() -> Env {
    Env::from_pairs([("PATH", "/nonexistent")])
}

fn no_store(dir: &Path) -> Arc<SecretStores> {
    Arc::new(SecretStores::with_openers(
        StoreChoice::FileOnly,
        false,
        Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
        Arc::new(|| Err(keyring_core::Error::NoDefaultStore)),
        Some(dir.to_path_buf()),
    ))
}

fn builder(
    emu: &Emulator,
    cfg: SignInConfig,
    env: Env,
    stores: Arc<SecretStores>,
) -> CredentialBuilder {
    CredentialBuilder::new(cfg, harness::client(emu))
        .env(env)
        .stores(stores)
        .interactive(false)
}

async fn graph_claims(signed: &SignedIn) -> Result<TokenClaims, AuthError> {
    token_claims(signed.credential.as_ref(), harness::GRAPH_SCOPE).await
}

fn key(emu: &Emulator) -> SecretKey {
    SecretKey::new(&emu.info().tenant_id, &emu.info().client_id).unwrap()
}

#[tokio::test]
async fn env_secret_signs_in_first() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = empty_env().with("AZURE_CLIENT_SECRET", emu.info().client_secret.clone());
    let signed = builder(&emu, config(&emu, SignIn::Auto), env, no_store(dir.path()))
        .build()
        .unwrap();
    assert_eq!(
        signed.plan,
        vec![SignInSource::ClientSecret(SecretOrigin::Environment)]
    );
    let claims = graph_claims(&signed).await.unwrap();
    assert_eq!(claims.client_id(), Some(emu.info().client_id.as_str()));
    assert!(claims.has_permission("Application.Read.All"));
    assert!(signed.warnings.is_empty(), "{:?}", signed.warnings);
}

#[tokio::test]
async fn wrong_env_secret_is_an_error_not_a_fallback() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = empty_env().with("AZURE_CLIENT_SECRET", "not-the-secret");
    let signed = builder(&emu, config(&emu, SignIn::Auto), env, no_store(dir.path()))
        .build()
        .unwrap();
    let e = graph_claims(&signed).await.unwrap_err().to_string();
    assert!(
        e.contains("7000215") || e.to_lowercase().contains("secret"),
        "{e}"
    );
}

#[tokio::test]
async fn keyring_mock_store_secret() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(SecretStores::with_store(
        keyring_core::mock::Store::new().unwrap(),
        "mock",
        Some(dir.path().to_path_buf()),
    ));
    let saved = stores
        .save(
            &key(&emu),
            &SecretString::from(emu.info().client_secret.clone()),
        )
        .unwrap();
    assert_eq!(saved.origin, SecretOrigin::OsStore("mock".into()));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written to disk"
    );

    let signed = builder(
        &emu,
        config(&emu, SignIn::Auto),
        empty_env(),
        stores.clone(),
    )
    .build()
    .unwrap();
    assert_eq!(
        signed.plan,
        vec![SignInSource::ClientSecret(SecretOrigin::OsStore(
            "mock".into()
        ))]
    );
    graph_claims(&signed).await.unwrap();

    // `sign_in = "secret"` finds it too; after `logout` it is gone and the error says how to fix it.
    let signed = builder(
        &emu,
        config(&emu, SignIn::Secret),
        empty_env(),
        stores.clone(),
    )
    .build()
    .unwrap();
    graph_claims(&signed).await.unwrap();
    stores.remove(&key(&emu)).unwrap();
    let e = builder(&emu, config(&emu, SignIn::Secret), empty_env(), stores)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("keyturn login"), "{e}");
}

#[tokio::test]
async fn store_error_means_next_source() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mock = keyring_core::mock::Store::new().unwrap();
    // The OS store holds a secret but fails on the next call; the file holds the right one.
    let entry = keyring_core::Entry::new_in_store(
        &(mock.clone() as Arc<keyring_core::CredentialStore>),
        "keyturn",
        &key(&emu).keyring_user(),
    )
    .unwrap();
    entry.set_password("stale").unwrap();
    let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
    cred.set_error(keyring_core::Error::NoStorageAccess("locked".into()));
    keyturn::auth::store::write_secret_file(
        &dir.path()
            .join(format!("{}.secret", key(&emu).keyring_user())),
        &SecretString::from(emu.info().client_secret.clone()),
    )
    .unwrap();
    let stores = Arc::new(SecretStores::with_store(
        mock,
        "mock",
        Some(dir.path().to_path_buf()),
    ));
    let signed = builder(&emu, config(&emu, SignIn::Auto), empty_env(), stores)
        .build()
        .unwrap();
    assert!(
        matches!(
            &signed.plan[0],
            SignInSource::ClientSecret(SecretOrigin::File(_))
        ),
        "{:?}",
        signed.plan
    );
    assert!(
        signed
            .warnings
            .iter()
            .any(|w| w.contains("locked") && w.contains("next source")),
        "{:?}",
        signed.warnings
    );
    graph_claims(&signed).await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn file_fallback_warns_and_refuses_open_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let stores = no_store(dir.path());
    let saved = stores
        .save(
            &key(&emu),
            &SecretString::from(emu.info().client_secret.clone()),
        )
        .unwrap();
    let SecretOrigin::File(path) = saved.origin.clone() else {
        panic!("saved to {:?}", saved.origin)
    };
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        saved
            .warnings
            .iter()
            .any(|w| w.contains("file permissions")),
        "{:?}",
        saved.warnings
    );

    let signed = builder(
        &emu,
        config(&emu, SignIn::Auto),
        empty_env(),
        no_store(dir.path()),
    )
    .build()
    .unwrap();
    assert_eq!(
        signed.plan,
        vec![SignInSource::ClientSecret(SecretOrigin::File(path.clone()))]
    );
    assert!(
        signed
            .warnings
            .iter()
            .any(|w| w.contains(&path.display().to_string())),
        "{:?}",
        signed.warnings
    );
    graph_claims(&signed).await.unwrap();

    // Readable by the group: refused, with the fix; nothing else to try here, so no sign-in at all.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let stores = no_store(dir.path());
    let e = builder(
        &emu,
        config(&emu, SignIn::Auto),
        empty_env(),
        stores.clone(),
    )
    .build()
    .unwrap_err();
    assert!(matches!(e, AuthError::NoSignIn { .. }), "{e}");
    let lookup = stores.lookup(&key(&emu));
    assert!(lookup.found.is_none());
    assert!(
        lookup.warnings.iter().any(|w| w.contains("chmod 600")),
        "{:?}",
        lookup.warnings
    );
}

#[test]
fn no_dbus_falls_back_to_keyutils_with_one_warning() {
    let secret_service_calls = Arc::new(AtomicUsize::new(0));
    let calls = secret_service_calls.clone();
    let secret_service: StoreOpener = Arc::new(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(keyring_core::Error::NoStorageAccess("no D-Bus".into()))
    });
    let mock = keyring_core::mock::Store::new().unwrap();
    let keyutils: StoreOpener =
        Arc::new(move || Ok(mock.clone() as Arc<keyring_core::CredentialStore>));
    let stores =
        SecretStores::with_openers(StoreChoice::Auto, false, secret_service, keyutils, None);
    let k = SecretKey::new("t", "c").unwrap();
    let first = stores.lookup(&k);
    let second = stores.lookup(&k);
    let saved = stores
        .save(&k, &SecretString::from("v".to_string()))
        .unwrap();
    let all: Vec<&String> = first
        .warnings
        .iter()
        .chain(&second.warnings)
        .chain(&saved.warnings)
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].contains("no D-Bus") && all[0].contains("keyutils"),
        "{all:?}"
    );
    assert_eq!(
        saved.origin,
        SecretOrigin::OsStore("kernel keyutils".into())
    );
    // Without a session bus the Secret Service is not even tried (it could hang on a prompt nobody sees).
    assert_eq!(secret_service_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn secret_service_error_falls_back_and_no_store_at_all_uses_the_file() {
    let failing: StoreOpener =
        Arc::new(|| Err(keyring_core::Error::NoStorageAccess("bus refused".into())));
    let mock = keyring_core::mock::Store::new().unwrap();
    let keyutils: StoreOpener =
        Arc::new(move || Ok(mock.clone() as Arc<keyring_core::CredentialStore>));
    let stores =
        SecretStores::with_openers(StoreChoice::Auto, true, failing.clone(), keyutils, None);
    let l = stores.lookup(&SecretKey::new("t", "c").unwrap());
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("bus refused"), "{:?}", l.warnings);

    let dir = tempfile::tempdir().unwrap();
    let stores = SecretStores::with_openers(
        StoreChoice::Auto,
        true,
        failing.clone(),
        failing,
        Some(dir.path().to_path_buf()),
    );
    let saved = stores
        .save(
            &SecretKey::new("t", "c").unwrap(),
            &SecretString::from("v".to_string()),
        )
        .unwrap();
    assert!(matches!(saved.origin, SecretOrigin::File(_)));
    assert!(
        saved
            .warnings
            .iter()
            .any(|w| w.contains("no OS secret store")),
        "{:?}",
        saved.warnings
    );
}

/// A hook that records what a device-code sign-in showed.
fn recording_prompt() -> (PromptHook, Arc<Mutex<Vec<DeviceCodeEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (Arc::new(move |e| sink.lock().unwrap().push(e)), events)
}

fn device_code_builder(emu: &Emulator, dir: &Path, prompt: PromptHook) -> CredentialBuilder {
    builder(
        emu,
        config(emu, SignIn::DeviceCode),
        empty_env(),
        no_store(dir),
    )
    .prompt(prompt)
    .device_code_interval(Duration::from_millis(200))
}

#[tokio::test]
async fn device_code_approved_after_polling_then_refreshes_for_key_vault() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (prompt, events) = recording_prompt();
    let signed = device_code_builder(&emu, dir.path(), prompt)
        .build()
        .unwrap();
    assert_eq!(signed.plan, vec![SignInSource::DeviceCode]);
    let claims = graph_claims(&signed).await.unwrap();
    assert!(claims.is_delegated(), "{claims:?}");
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        let DeviceCodeEvent::Prompt(p) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(!p.user_code.is_empty());
        assert!(
            p.verification_uri.starts_with(&emu.info().authority_host),
            "{p:?}"
        );
        assert!(p.instructions().contains(&p.user_code));
        assert_eq!(events[1], DeviceCodeEvent::Completed);
    }
    // A second resource comes from the refresh token: no second prompt.
    signed
        .credential
        .get_token(&[harness::VAULT_SCOPE], None)
        .await
        .unwrap();
    // And the Graph token is cached.
    graph_claims(&signed).await.unwrap();
    assert_eq!(events.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn device_code_declined_and_expired_say_what_to_do() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    for (outcome, words) in [
        (DeviceCodeOutcome::Decline, "declined"),
        (DeviceCodeOutcome::Expire, "expired"),
    ] {
        emu.faults().set_device_code_outcome(outcome);
        let (prompt, events) = recording_prompt();
        let signed = device_code_builder(&emu, dir.path(), prompt)
            .build()
            .unwrap();
        let e = graph_claims(&signed).await.unwrap_err().to_string();
        assert!(e.contains(words), "{e}");
        assert!(e.contains("run keyturn again"), "{e}");
        let events = events.lock().unwrap();
        assert!(
            matches!(events.last(), Some(DeviceCodeEvent::Failed(m)) if m.contains(words)),
            "{events:?}"
        );
    }
}

fn fake_jwt(claims: serde_json::Value) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// A fake `az` that answers `account get-access-token` like Azure CLI 2.54+ and records its arguments.
#[cfg(unix)]
fn fake_az(dir: &Path, exit_code: i32, stdout: &str) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\necho \"$@\" > '{}/args'\nif [ {exit_code} -ne 0 ]; then echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit {exit_code}; fi\ncat <<'EOF'\n{stdout}\nEOF\n",
        dir.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_through_a_fake_az_on_path() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake_jwt(
        serde_json::json!({"upn": "oncall@contoso.com", "tid": "t-1", "scp": "Application.Read.All"}),
    );
    let expires = chrono::Utc::now().timestamp() + 3600;
    fake_az(
        dir.path(),
        0,
        &format!(
            r#"{{"accessToken": "{token}", "expires_on": {expires}, "tokenType": "Bearer", "tenant": "t-1"}}"#
        ),
    );
    let env = Env::from_pairs([("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))]);
    // No tenant or client id in the profile: nothing to look a secret up for, so the CLI is first.
    let cfg = SignInConfig {
        tenant_id: Some("t-1".into()),
        client_id: None,
        ..config(&emu, SignIn::Auto)
    };
    let signed = builder(&emu, cfg, env, no_store(dir.path()))
        .build()
        .unwrap();
    assert_eq!(signed.plan, vec![SignInSource::AzureCli]);
    let claims = graph_claims(&signed).await.unwrap();
    assert_eq!(claims.user(), Some("oncall@contoso.com"));
    assert_eq!(signed.chosen.get(), Some(SignInSource::AzureCli));
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.contains("account get-access-token"), "{args}");
    assert!(
        args.contains(&format!("--scope {}", harness::GRAPH_SCOPE)),
        "{args}"
    );
    assert!(args.contains("--tenant t-1"), "{args}");
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_not_logged_in_falls_through_to_device_code() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    fake_az(dir.path(), 1, "");
    let env = Env::from_pairs([("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))]);
    let (prompt, events) = recording_prompt();
    // The profile names a client but no secret is stored anywhere: CLI first, then a device code.
    let signed = builder(&emu, config(&emu, SignIn::Auto), env, no_store(dir.path()))
        .interactive(true)
        .prompt(prompt)
        .device_code_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(
        signed.plan,
        vec![SignInSource::AzureCli, SignInSource::DeviceCode]
    );
    graph_claims(&signed).await.unwrap();
    assert_eq!(signed.chosen.get(), Some(SignInSource::DeviceCode));
    assert!(matches!(
        events.lock().unwrap().first(),
        Some(DeviceCodeEvent::Prompt(_))
    ));
}

/// Item 9 of issue 16: an `az` that never answers is stopped after the timeout, with the Python (here a `sleep`)
/// it started: the sign-in fails with a message instead of hanging a cron `check`.
#[cfg(unix)]
#[tokio::test]
async fn a_hung_azure_cli_is_killed_after_the_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let script =
        format!("#!/bin/sh\necho $$ > '{d}/pid'\nsleep 300 &\necho $! > '{d}/child'\nwait\n");
    let az = dir.path().join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = Env::from_pairs([("PATH", format!("{d}:/usr/bin:/bin"))]);
    let cfg = SignInConfig {
        tenant_id: Some("t-1".into()),
        client_id: None,
        ..config(&emu, SignIn::Auto)
    };
    let signed = builder(&emu, cfg, env, no_store(dir.path()))
        .az_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(signed.plan, vec![SignInSource::AzureCli]);
    let err = tokio::time::timeout(Duration::from_secs(30), graph_claims(&signed))
        .await
        .expect("the sign-in ends: az was stopped")
        .expect_err("no token from a hung az");
    let text = format!("{err:#}");
    assert!(
        text.contains("did not answer within 1 s and was stopped"),
        "{text}"
    );
    // Both az and the process it started are gone (or only wait to be reaped).
    for name in ["pid", "child"] {
        let pid = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let gone = |s: &str| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut stat = stat;
        while stat.as_deref().is_ok_and(|s| !gone(s)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        }
        assert!(
            stat.as_deref().map_or(true, gone),
            "{name} {pid} still runs: {stat:?}"
        );
    }
}

#[tokio::test]
async fn nothing_to_sign_in_with_says_what_was_tried() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = builder(
        &emu,
        config(&emu, SignIn::Auto),
        empty_env(),
        no_store(dir.path()),
    )
    .build()
    .unwrap_err();
    let text = e.to_string();
    for part in [
        "keyturn login",
        "`az` is not on PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "device code",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[tokio::test]
async fn certificate_path_that_is_not_pem_is_explained() {
    let emu = harness::start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let pfx = dir.path().join("app.pfx");
    std::fs::write(&pfx, [0x30u8, 0x82, 0x05]).unwrap();
    let env = empty_env().with("AZURE_CLIENT_CERTIFICATE_PATH", pfx.as_os_str().to_owned());
    let e = builder(&emu, config(&emu, SignIn::Auto), env, no_store(dir.path()))
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("app.pfx") && e.to_string().contains("openssl pkcs12"),
        "{e}"
    );
}

mod doctor {
    use super::{empty_env, harness, no_store};
    use keyturn::doctor::{self, CheckStatus, DoctorOptions, DoctorReport};
    use keyturn::emulator::{Emulator, EmulatorConfig};
    use keyturn::keyvault::VaultOptions;
    use keyturn::session::{Overrides, SignInOptions};
    use secrecy::SecretString;
    use std::path::Path;

    /// A profile for `client_id` against the emulator, plus extra TOML lines (mappings).
    fn write_profile(
        emu: &Emulator,
        dir: &Path,
        client_id: &str,
        extra: &str,
    ) -> std::path::PathBuf {
        let info = emu.info();
        let text = format!(
            "[profiles.p]\ntenant_id = \"{}\"\nclient_id = \"{client_id}\"\nauthority_host = \"{}\"\ngraph_url = \"{}\"\n\
             ca_cert = \"{}\"\nvaults = [\"{}\"]\n{extra}",
            info.tenant_id,
            info.authority_host,
            info.graph_url,
            info.ca_cert.display(),
            info.vault_urls[0],
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn run(
        emu: &Emulator,
        dir: &Path,
        client: &(String, String),
        extra: &str,
    ) -> DoctorReport {
        let overrides = Overrides {
            config: Some(write_profile(emu, dir, &client.0, extra)),
            profile: Some("p".into()),
            client_secret: Some(SecretString::from(client.1.clone())),
            ..Overrides::default()
        };
        let options = DoctorOptions {
            sign_in: SignInOptions {
                env: Some(empty_env()),
                stores: Some(no_store(dir)),
                interactive: Some(false),
                prompt: None,
            },
            vault: Some(VaultOptions::fast()),
            office365_url: None,
        };
        doctor::run(&overrides, options).await
    }

    fn line<'a>(r: &'a DoctorReport, name: &str) -> &'a doctor::Check {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} line in\n{}", r.render()))
    }

    #[tokio::test]
    async fn all_pass_for_the_default_client() {
        let emu = harness::start(EmulatorConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let info = emu.info().clone();
        let r = run(&emu, dir.path(), &(info.client_id, info.client_secret), "").await;
        assert_eq!(r.exit_code(), 0, "{}", r.render());
        let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names[..6],
            [
                "config",
                "sign-in",
                "Graph read",
                "owners' names",
                "audit read",
                "rotate"
            ]
        );
        assert!(
            names[6].starts_with("vault https://127.0.0.1:"),
            "{names:?}"
        );
        assert!(
            line(&r, "rotate")
                .detail
                .contains("Application.ReadWrite.All")
        );
    }

    #[tokio::test]
    async fn missing_audit_permission_is_named_and_fails() {
        let emu = harness::start(EmulatorConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let client = emu.add_client(
            "keyturn-no-audit",
            &[
                "Application.Read.All",
                "Directory.Read.All",
                "Application.ReadWrite.All",
                "Key Vault Secrets Officer",
            ],
        );
        let r = run(&emu, dir.path(), &client, "").await;
        assert_ne!(r.exit_code(), 0, "{}", r.render());
        let audit = line(&r, "audit read");
        assert_eq!(audit.status, CheckStatus::Fail);
        assert!(
            audit.detail.contains("lacks AuditLog.Read.All ("),
            "{audit}"
        );
        assert!(
            audit
                .fix
                .as_deref()
                .unwrap()
                .contains("Grant admin consent"),
            "{audit}"
        );
        assert_eq!(
            line(&r, "Graph read").status,
            CheckStatus::Pass,
            "{}",
            r.render()
        );
        assert_eq!(
            line(&r, "sign-in").status,
            CheckStatus::Pass,
            "{}",
            r.render()
        );
    }

    #[tokio::test]
    async fn owned_by_checks_ownership_and_mapped_secrets() {
        let emu = harness::start(EmulatorConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let client = emu.add_client(
            "keyturn-owner",
            &[
                "Application.Read.All",
                "AuditLog.Read.All",
                "Directory.Read.All",
                "Application.ReadWrite.OwnedBy",
                "Key Vault Secrets User",
            ],
        );
        let (_object_id, app_id) = emu.create_app("Payroll sync");
        let mapping = format!(
            "[[profiles.p.mappings]]\napp = \"{app_id}\"\nvault = \"{}\"\nsecret = \"payroll-sync\"\n",
            emu.info().vault_urls[0]
        );
        let r = run(&emu, dir.path(), &client, &mapping).await;
        let rotate = line(&r, "rotate");
        assert_eq!(rotate.status, CheckStatus::Fail, "{}", r.render());
        assert!(
            rotate.detail.contains(&app_id) && rotate.fix.as_deref().unwrap().contains("Owners"),
            "{rotate}"
        );
        // Secrets User may not list: fine with a mapping, which is then checked on its own (and is missing).
        let vault = r
            .checks
            .iter()
            .find(|c| c.name.starts_with("vault ") && !c.name.contains("secret"))
            .unwrap();
        assert_eq!(vault.status, CheckStatus::Pass, "{}", r.render());
        let secret = r
            .checks
            .iter()
            .find(|c| c.name.contains("secret payroll-sync"))
            .unwrap();
        assert_eq!(secret.status, CheckStatus::Fail, "{}", r.render());
        assert!(secret.detail.contains("no such secret"), "{secret}");

        assert!(emu.add_owner(&app_id, &client.0));
        let r = run(&emu, dir.path(), &client, &mapping).await;
        assert_eq!(
            line(&r, "rotate").status,
            CheckStatus::Pass,
            "{}",
            r.render()
        );
    }
}
