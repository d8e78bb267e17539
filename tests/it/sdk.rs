//! Microsoft's own clients against the emulator: they were written against the real services, so what they accept
//! is a second witness, next to the published examples (tests/it/conformance/).
//!
//! - Python `azure-keyvault-secrets` + `azure-identity`: set (tags, content type, nbf/exp), get latest and by
//!   version, list versions across pages, list secrets, a 404.
//! - Python `msgraph-sdk`: list applications across three pages, list owners, addPassword, removePassword.
//! - Rust `azure_security_keyvault_secrets` (the crate keyturn uses): set, get, list versions.
//!
//! The Python packages are pinned in tests/sdk/requirements.txt and installed into a venv at `target/sdk-venv`,
//! rebuilt only when that file changes, so `cargo test` stays the one command (`.ci/run` builds it first). When the
//! venv cannot be built (no python3, no venv module, pip cannot install) the Python tests fail with the reason,
//! unless `KEYTURN_TEST_SKIP=sdk` is set, which skips them with a banner on stderr.
use crate::support::{prerequisite_missing, start};
use keyturn::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn sdk_dir() -> PathBuf {
    Path::new(MANIFEST).join("tests/sdk")
}

/// `target/sdk-venv` (or under CARGO_TARGET_DIR).
fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST).join("target"));
    target.join("sdk-venv")
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The venv's python, created or refreshed from requirements.txt. Built in a temporary directory and renamed into
/// place, so a run that is killed half-way, or a second test process, never sees a half-installed venv.
fn build_venv() -> Result<PathBuf, String> {
    let requirements = sdk_dir().join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let venv = venv_dir();
    let stamp = |dir: &Path| dir.join("keyturn-requirements.txt");
    let python = |dir: &Path| dir.join("bin").join("python");
    if std::fs::read_to_string(stamp(&venv)).ok().as_deref() == Some(wanted.as_str())
        && python(&venv).exists()
    {
        return Ok(python(&venv));
    }
    let started = Instant::now();
    let tmp = venv.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&tmp),
        "python3 -m venv (python3 with the venv module is needed for the SDK tests)",
    )?;
    run(
        Command::new(python(&tmp))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r tests/sdk/requirements.txt",
    )?;
    std::fs::write(stamp(&tmp), &wanted)
        .map_err(|e| format!("cannot write the venv stamp: {e}"))?;
    let _ = std::fs::remove_dir_all(&venv);
    if std::fs::rename(&tmp, &venv).is_err() {
        // Another process put its venv in place first; use it if it is for the same requirements.
        let _ = std::fs::remove_dir_all(&tmp);
        if std::fs::read_to_string(stamp(&venv)).ok().as_deref() != Some(wanted.as_str()) {
            return Err(format!("cannot move the venv into {}", venv.display()));
        }
    }
    eprintln!(
        "sdk venv built in {:.0} s at {}",
        started.elapsed().as_secs_f64(),
        venv.display()
    );
    Ok(python(&venv))
}

/// The venv's python; when it cannot be built, the test fails, or is skipped (`None`) with `KEYTURN_TEST_SKIP=sdk`.
async fn python(test: &str) -> Option<PathBuf> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = tokio::task::spawn_blocking(|| VENV.get_or_init(build_venv).clone())
        .await
        .expect("the venv task");
    match result {
        Ok(p) => Some(p),
        Err(reason) => {
            prerequisite_missing(
                "sdk",
                test,
                &format!("the Python venv for Microsoft's SDKs cannot be built: {reason}"),
            );
            None
        }
    }
}

/// Run a script of tests/sdk with the emulator's ready line; its last stdout line is its JSON result.
async fn run_script(python: &Path, emu: &Emulator, script: &str, extra: &[(&str, &str)]) -> Value {
    let ca = emu.info().ca_cert.display().to_string();
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(sdk_dir().join(script))
        .env("KEYTURN_EMULATOR", emu.ready_line())
        // Both HTTP stacks (requests under azure-core, httpx under msgraph) trust the emulator's CA and only it,
        // so nothing can reach past loopback unnoticed.
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSL_CERT_DIR")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within 120 s"))
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{script}: {:.1} s", started.elapsed().as_secs_f64());
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON result ({e}): {stdout}"))
}

fn secret_versions(emu: &Emulator, name: &str) -> Vec<Value> {
    emu.state()["vaults"][0]["secrets"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .and_then(|s| s["versions"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_key_vault_sdk_sets_gets_and_lists_versions() {
    let Some(python) = python("python_key_vault_sdk_sets_gets_and_lists_versions").await else {
        return;
    };
    let emu = start(EmulatorConfig::default()).await;
    let r = run_script(&python, &emu, "key_vault_secrets.py", &[]).await;

    let stored = secret_versions(&emu, "sdk-python-secret");
    assert_eq!(stored.len(), 30, "every set_secret made a version");
    let first = &stored[0];
    assert_eq!(r["set"]["version"], first["version"]);
    assert_eq!(r["set"]["value"], first["value"]);
    assert_eq!(r["set"]["contentType"], first["contentType"]);
    assert_eq!(r["set"]["tags"], first["tags"]);
    assert_eq!(r["set"]["notBefore"], first["nbf"]);
    assert_eq!(r["set"]["expiresOn"], first["exp"]);
    assert_eq!(r["set"]["recoveryLevel"], "Recoverable+Purgeable");
    let id = r["set"]["id"].as_str().expect("an id");
    assert_eq!(
        id,
        format!(
            "{}/secrets/sdk-python-secret/{}",
            emu.info().vault_urls[0],
            first["version"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(r["latest"]["version"], stored[29]["version"]);
    assert_eq!(r["latest"]["value"], stored[29]["value"]);
    assert_eq!(r["byVersion"]["value"], "first value");
    assert_eq!(r["byVersion"]["tags"], first["tags"]);
    // The SDK followed nextLink past the first page of 25 and saw every version once.
    let listed: BTreeSet<&str> = r["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: BTreeSet<&str> = stored
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(r["versions"].as_array().map(Vec::len), Some(30));
    assert_eq!(listed, expected);
    assert!(
        r["names"]
            .as_array()
            .expect("names")
            .iter()
            .any(|n| n == "sdk-python-secret"),
        "{}",
        r["names"]
    );
    assert_eq!(
        r["missing"], "SecretNotFound",
        "a 404 the SDK maps to ResourceNotFoundError"
    );
    // The version the SDK speaks is one the emulator serves (2026-04-01 for 4.12.0).
    assert!(r["apiVersion"].is_string(), "{}", r["apiVersion"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_graph_sdk_pages_lists_owners_adds_and_removes_a_password() {
    let Some(python) =
        python("python_graph_sdk_pages_lists_owners_adds_and_removes_a_password").await
    else {
        return;
    };
    let emu = start(EmulatorConfig::default()).await;
    let state = emu.state();
    let apps = state["applications"]
        .as_array()
        .expect("applications")
        .clone();
    assert!(apps.len() > 30, "the demo tenant needs three pages of 15");
    let app = apps
        .iter()
        .find(|a| a["owners"].as_array().is_some_and(|o| o.len() >= 2))
        .expect("an application with owners")
        .clone();
    let object_id = app["id"].as_str().expect("id").to_string();
    // A service principal owner too, so both owner types go through the SDK's model.
    assert!(emu.add_owner(&object_id, &emu.info().client_id.clone()));
    let before: BTreeSet<String> = app["passwordCredentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter_map(|p| p["keyId"].as_str().map(str::to_string))
        .collect();

    let r = run_script(
        &python,
        &emu,
        "graph_applications.py",
        &[("KEYTURN_APP", &object_id)],
    )
    .await;

    let pages: Vec<u64> = r["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(pages.len() >= 3 && pages[0] == 15, "{pages:?}");
    let ids: Vec<&str> = r["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: Vec<&str> = apps.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(
        ids, expected,
        "every application once, in order, across the pages"
    );

    let owners = r["owners"].as_array().expect("owners");
    let mut expected_owners: Vec<String> = app["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect();
    expected_owners.push(
        emu.client_service_principal_id(&emu.info().client_id)
            .expect("the client's SP"),
    );
    let got: BTreeSet<String> = owners
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(got, expected_owners.into_iter().collect::<BTreeSet<_>>());
    let types: BTreeSet<&str> = owners.iter().filter_map(|o| o["type"].as_str()).collect();
    assert_eq!(
        types,
        ["#microsoft.graph.servicePrincipal", "#microsoft.graph.user"]
            .into_iter()
            .collect()
    );

    let added = &r["added"];
    let key = added["keyId"].as_str().expect("keyId");
    assert!(!before.contains(key));
    let secret = added["secretText"].as_str().expect("secretText");
    assert_eq!(added["hint"].as_str(), secret.get(..3));
    assert_eq!(added["displayName"], "msgraph-sdk conformance");
    // removePassword went through (after the retries a real tenant can need) and the key is gone.
    let after = emu.state();
    let now: BTreeSet<String> = after["applications"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"] == object_id.as_str()))
        .and_then(|a| a["passwordCredentials"].as_array())
        .expect("the application")
        .iter()
        .filter_map(|p| p["keyId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(now, before);
    // Microsoft's generated models knew every property the emulator sent.
    assert_eq!(r["unknownProperties"], serde_json::json!({}));
}

#[tokio::test]
async fn rust_key_vault_sdk_sets_gets_and_lists_versions() {
    use azure_security_keyvault_secrets::models::{
        SecretAttributes, SecretClientGetSecretOptions, SetSecretParameters,
    };
    use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
    use futures::TryStreamExt;

    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let options = || crate::support::sdk_options(&emu);
    let credential = crate::support::sdk_credential(&emu);
    let vault = SecretClient::new(
        &info.vault_urls[0],
        credential,
        Some(SecretClientOptions {
            client_options: options(),
            // Loopback concession, as keyturn's own wrapper makes for loopback hosts only: the challenge's
            // resource cannot be a parent domain of 127.0.0.1.
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .expect("a secret client");

    let at = |s: i64| azure_core::time::OffsetDateTime::from_unix_timestamp(s).ok();
    let first = SetSecretParameters {
        value: Some("rust first".into()),
        content_type: Some("text/plain".into()),
        secret_attributes: Some(SecretAttributes {
            enabled: Some(true),
            not_before: at(1_893_456_000),
            expires: at(1_924_992_000),
            ..Default::default()
        }),
        tags: Some(
            [("CredentialId".to_string(), "k1".to_string())]
                .into_iter()
                .collect(),
        ),
    };
    let set = vault
        .set_secret("sdk-rust-secret", first.try_into().expect("a body"), None)
        .await
        .expect("set")
        .into_model()
        .expect("a secret");
    let first_version = set
        .resource_id()
        .expect("an id")
        .version
        .expect("a version");
    for i in 1..27 {
        let p = SetSecretParameters {
            value: Some(format!("rust {i}")),
            ..Default::default()
        };
        vault
            .set_secret("sdk-rust-secret", p.try_into().expect("a body"), None)
            .await
            .expect("set");
    }
    let stored = secret_versions(&emu, "sdk-rust-secret");
    assert_eq!(stored.len(), 27);
    assert_eq!(stored[0]["version"], first_version.as_str());
    assert_eq!(stored[0]["nbf"], 1_893_456_000);
    assert_eq!(stored[0]["exp"], 1_924_992_000);
    assert_eq!(stored[0]["tags"]["CredentialId"], "k1");

    let latest = vault
        .get_secret("sdk-rust-secret", None)
        .await
        .expect("get")
        .into_model()
        .expect("a secret");
    assert_eq!(latest.value.as_deref(), Some("rust 26"));
    let old = vault
        .get_secret(
            "sdk-rust-secret",
            Some(SecretClientGetSecretOptions {
                secret_version: Some(first_version.clone()),
                ..Default::default()
            }),
        )
        .await
        .expect("get a version")
        .into_model()
        .expect("a secret");
    assert_eq!(old.value.as_deref(), Some("rust first"));
    let attrs = old.attributes.expect("attributes");
    assert_eq!(attrs.not_before, at(1_893_456_000));
    assert_eq!(attrs.expires, at(1_924_992_000));
    assert_eq!(
        old.tags
            .and_then(|t| t.get("CredentialId").cloned())
            .as_deref(),
        Some("k1")
    );

    let versions: Vec<String> = vault
        .list_secret_properties_versions("sdk-rust-secret", None)
        .expect("a pager")
        .try_collect::<Vec<_>>()
        .await
        .expect("every page")
        .iter()
        .filter_map(|p| p.resource_id().ok().and_then(|r| r.version))
        .collect();
    let expected: BTreeSet<String> = stored
        .iter()
        .filter_map(|v| v["version"].as_str().map(str::to_string))
        .collect();
    assert_eq!(versions.len(), 27, "two pages, joined by nextLink");
    assert_eq!(versions.into_iter().collect::<BTreeSet<_>>(), expected);
}
