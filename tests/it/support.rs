//! Shared helpers for integration tests: an emulator per test (port 0, so tests run in parallel), a client that
//! trusts its CA, and tokens for Graph and Key Vault.
#![allow(dead_code)] // each test module uses a different subset

use keyturn::emulator::{Emulator, EmulatorConfig};
use keyturn::net::{HttpOptions, http_client};
use std::time::Duration;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";

/// Every XDG directory under `home`, and `HOME` itself: a run of keyturn that cannot touch the real user's files.
pub fn isolated_env(home: &std::path::Path) -> Vec<(String, String)> {
    [
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
    .chain([("HOME".to_string(), home.display().to_string())])
    .collect()
}

/// What a run of the binary printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary off the async runtime (emulators keep serving on its workers) with exactly `env` (and `PATH`).
pub async fn run_keyturn(env: Vec<(String, String)>, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = assert_cmd::Command::cargo_bin("keyturn")
            .unwrap()
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
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

/// Start an emulator; panics with the reason if it cannot.
pub async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.expect("the emulator starts")
}

/// A client that trusts the emulator's CA (the same builder keyturn itself uses for `--ca-cert`).
pub fn client(emu: &Emulator) -> reqwest::Client {
    client_with_timeout(emu, Duration::from_secs(20))
}

pub fn client_with_timeout(emu: &Emulator, timeout: Duration) -> reqwest::Client {
    http_client(&HttpOptions {
        ca_cert: Some(emu.info().ca_cert.clone()),
        timeout: Some(timeout),
    })
    .expect("an HTTP client trusting the emulator CA")
}

/// Client options for Microsoft's own Rust SDKs aimed at the emulator: its CA-trusting client as the transport and
/// its token endpoint as the authority.
pub fn sdk_options(emu: &Emulator) -> azure_core::http::ClientOptions {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use std::sync::Arc;
    let mut custom = CustomConfiguration::default();
    custom.authority_host = emu.info().authority_host.clone();
    azure_core::http::ClientOptions {
        transport: Some(azure_core::http::Transport::new(Arc::new(client(emu)))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
        ..Default::default()
    }
}

/// azure_identity's client-secret credential for the emulator's client.
pub fn sdk_credential(emu: &Emulator) -> std::sync::Arc<azure_identity::ClientSecretCredential> {
    let info = emu.info();
    azure_identity::ClientSecretCredential::new(
        &info.tenant_id,
        info.client_id.clone(),
        info.client_secret.clone().into(),
        Some(azure_identity::ClientSecretCredentialOptions {
            client_options: sdk_options(emu),
        }),
    )
    .expect("a client-secret credential")
}

/// The raw token-endpoint response for a client-credentials request.
pub async fn token_response(
    emu: &Emulator,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> reqwest::Response {
    let info = emu.info();
    client(emu)
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", client_id),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("the token endpoint answers")
}

/// An access token for `scope`, as the given client.
pub async fn token_as(emu: &Emulator, client_id: &str, secret: &str, scope: &str) -> String {
    let resp = token_response(emu, client_id, secret, scope).await;
    assert_eq!(resp.status(), 200, "token request for {scope} failed");
    let v: serde_json::Value = resp.json().await.expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A Graph token for the default client (all the roles keyturn needs).
pub async fn graph_token(emu: &Emulator) -> String {
    let info = emu.info().clone();
    token_as(emu, &info.client_id, &info.client_secret, GRAPH_SCOPE).await
}

/// A Key Vault token for the default client (Key Vault Secrets Officer).
pub async fn vault_token(emu: &Emulator) -> String {
    let info = emu.info().clone();
    token_as(emu, &info.client_id, &info.client_secret, VAULT_SCOPE).await
}

/// `{graphUrl}/v1.0{path}`
pub fn graph_url(emu: &Emulator, path: &str) -> String {
    format!("{}/v1.0{path}", emu.info().graph_url)
}

/// GET a Graph path with a token; returns status and the JSON body (Null when the body is not JSON).
pub async fn graph_get(emu: &Emulator, token: &str, path_or_url: &str) -> (u16, serde_json::Value) {
    let url = if path_or_url.starts_with("https://") {
        path_or_url.to_string()
    } else {
        graph_url(emu, path_or_url)
    };
    let resp = client(emu)
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("Graph answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// POST JSON to a Graph path with a token.
pub async fn graph_post(
    emu: &Emulator,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = client(emu)
        .post(graph_url(emu, path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("Graph answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// A signed-in session on the emulator, built the way `keyturn` builds one for a real tenant (the config path points
/// at a file that does not exist, so the operator's real config is never read).
pub fn session(emu: &Emulator) -> keyturn::session::Session {
    let info = emu.info();
    let overrides = keyturn::session::Overrides {
        tenant_id: Some(info.tenant_id.clone()),
        client_id: Some(info.client_id.clone()),
        client_secret: Some(info.client_secret.clone().into()),
        authority_host: Some(info.authority_host.clone()),
        graph_url: Some(info.graph_url.clone()),
        ca_cert: Some(info.ca_cert.clone()),
        config: Some(std::path::PathBuf::from(
            "/nonexistent/keyturn-test-config.toml",
        )),
        ..Default::default()
    };
    let settings = keyturn::session::Settings::resolve(&overrides).expect("settings resolve");
    keyturn::session::Session::connect(settings).expect("session connects")
}

/// The variable that lets a run skip tests whose prerequisite is missing, on purpose: a comma-separated list of
/// `tmux` (the end-to-end tests) and `sdk` (Microsoft's Python SDKs against the emulator).
pub const SKIP_VAR: &str = "KEYTURN_TEST_SKIP";

/// A test cannot run because `reason`. It fails, saying so, unless `KEYTURN_TEST_SKIP` names `kind`; then it
/// returns and prints a banner straight to the process's stderr, past the test harness's capture, so a skipped
/// test never reads as a plain "ok".
pub fn prerequisite_missing(kind: &str, test: &str, reason: &str) {
    let opted_out = std::env::var(SKIP_VAR)
        .is_ok_and(|v| v.split(',').any(|k| k.trim().eq_ignore_ascii_case(kind)));
    if !opted_out {
        panic!(
            "{test} cannot run: {reason}\nInstall what it needs (.ci/run does), or set {SKIP_VAR}={kind} to skip \
             these tests on purpose."
        );
    }
    use std::io::Write;
    let banner = format!(
        "\n*** SKIPPED {test} ({SKIP_VAR}={kind}): {reason}\n*** This run did NOT test it.\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
}
