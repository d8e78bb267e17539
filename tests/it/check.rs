//! `keyturn check` end to end: the real binary against the emulator over HTTPS.
use crate::support::run_keyturn as keyturn;
use keyturn::emulator::{Emulator, EmulatorConfig, Fault, FaultKind, Op, TenantSource};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

/// Environment that points the binary at an emulator, with every XDG dir isolated in `home`.
fn env_for(info: &keyturn::emulator::ReadyInfo, home: &Path) -> Vec<(String, String)> {
    let mut env = crate::support::isolated_env(home);
    env.extend([
        ("AZURE_TENANT_ID".into(), info.tenant_id.clone()),
        ("AZURE_CLIENT_ID".into(), info.client_id.clone()),
        ("AZURE_CLIENT_SECRET".into(), info.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST".into(), info.authority_host.clone()),
        ("KEYTURN_GRAPH_URL".into(), info.graph_url.clone()),
        ("KEYTURN_CA_CERT".into(), info.ca_cert.display().to_string()),
    ]);
    env
}

fn credentials(report: &str) -> Vec<Value> {
    let v: Value =
        serde_json::from_str(report).unwrap_or_else(|e| panic!("not JSON ({e}): {report}"));
    v["credentials"].as_array().unwrap().clone()
}

/// The expected rows computed independently from the emulator's state: one per secret, one per certificate
/// (Sign/Verify entries with the same customKeyIdentifier counted once), applications and service principals.
pub(crate) fn expected_keys(state: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (coll, kind) in [
        ("applications", "application"),
        ("servicePrincipals", "servicePrincipal"),
    ] {
        for obj in state[coll].as_array().unwrap() {
            let id = obj["id"].as_str().unwrap().to_string();
            for p in obj["passwordCredentials"].as_array().unwrap() {
                out.insert((
                    format!("{kind}/{id}"),
                    p["keyId"].as_str().unwrap().to_string(),
                ));
            }
            let mut thumbs = BTreeSet::new();
            for k in obj["keyCredentials"].as_array().unwrap() {
                let thumb = k["customKeyIdentifier"].as_str().map(str::to_string);
                if let Some(t) = &thumb
                    && !thumbs.insert(t.clone())
                {
                    continue;
                }
                out.insert((
                    format!("{kind}/{id}"),
                    format!(
                        "cert:{}",
                        thumb.unwrap_or_else(|| k["keyId"].as_str().unwrap().to_string())
                    ),
                ));
            }
        }
    }
    out
}

pub(crate) fn key_of(row: &Value, state: &Value) -> (String, String) {
    let kind = row["objectType"].as_str().unwrap();
    let id = row["objectId"].as_str().unwrap();
    let key = row["keyId"].as_str().unwrap().to_string();
    if row["credentialType"] == "certificate" {
        let coll = if kind == "application" {
            "applications"
        } else {
            "servicePrincipals"
        };
        let obj = state[coll]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .unwrap();
        let k = obj["keyCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["keyId"] == key.as_str())
            .unwrap();
        let thumb = k["customKeyIdentifier"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(key);
        return (format!("{kind}/{id}"), format!("cert:{thumb}"));
    }
    (format!("{kind}/{id}"), key)
}

pub(crate) fn status_for(end: &str, now: &str, warn: i64, crit: i64) -> &'static str {
    let end = chrono::DateTime::parse_from_rfc3339(end).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(now).unwrap();
    let left = end - now;
    if left <= chrono::Duration::zero() {
        "expired"
    } else if left <= chrono::Duration::days(crit) {
        "critical"
    } else if left <= chrono::Duration::days(warn) {
        "warning"
    } else {
        "ok"
    }
}

fn assert_sorted(rows: &[Value]) {
    for w in rows.windows(2) {
        let key = |r: &Value| {
            (
                r["endDateTime"].as_str().unwrap_or("~").to_string(),
                r["displayName"].as_str().unwrap().to_string(),
                r["keyId"].as_str().unwrap().to_string(),
            )
        };
        assert!(
            key(&w[0]) <= key(&w[1]),
            "rows out of order: {:?} before {:?}",
            key(&w[0]),
            key(&w[1])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_ready_line_then_check_lists_every_demo_credential() {
    let home = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("keyturn");
    let mut child = std::process::Command::new(bin)
        .args(["emulator", "--state"])
        .envs(crate::support::isolated_env(home.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(line.trim()).unwrap();
    let mut keys: Vec<&str> = ready
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "authorityHost",
            "caCert",
            "clientId",
            "clientSecret",
            "graphUrl",
            "tenantId",
            "vaultUrls"
        ]
    );
    let info: keyturn::emulator::ReadyInfo = serde_json::from_value(ready.clone()).unwrap();
    assert!(info.graph_url.starts_with("https://127.0.0.1:"));

    let run = keyturn(
        env_for(&info, home.path()),
        &["check", "--all", "--format", "json"],
    )
    .await;
    assert_eq!(
        run.code, 2,
        "the demo tenant has expired credentials; stderr: {}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["tenantId"], info.tenant_id.as_str());
    assert_eq!(
        (report["warnDays"].as_i64(), report["criticalDays"].as_i64()),
        (Some(30), Some(7))
    );
    let rows = credentials(&run.stdout);

    let http = keyturn::net::http_client(&keyturn::net::HttpOptions {
        ca_cert: Some(info.ca_cert.clone()),
        timeout: None,
    })
    .unwrap();
    let state: Value = http
        .get(format!("{}/_emulator/state", info.graph_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: BTreeSet<_> = rows.iter().map(|r| key_of(r, &state)).collect();
    assert_eq!(got.len(), rows.len(), "a credential is listed twice");
    assert_eq!(got, expected_keys(&state));

    let now = report["generatedAt"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    for r in &rows {
        let want = status_for(r["endDateTime"].as_str().unwrap(), now, 30, 7);
        assert_eq!(r["status"], want, "{r}");
        seen.insert(want);
    }
    assert_eq!(
        seen.len(),
        4,
        "the demo tenant shows every status: {seen:?}"
    );
    assert_sorted(&rows);

    // Without --all only the rows at warning or worse are printed; the exit code is the same.
    let run = keyturn(env_for(&info, home.path()), &["check", "--format", "json"]).await;
    assert_eq!(run.code, 2);
    let non_ok = credentials(&run.stdout);
    assert!(!non_ok.is_empty() && non_ok.iter().all(|r| r["status"] != "ok"));
    assert_eq!(
        non_ok.len(),
        rows.iter().filter(|r| r["status"] != "ok").count()
    );

    // CSV: a header and one line per credential.
    let run = keyturn(
        env_for(&info, home.path()),
        &["check", "--all", "--format", "csv"],
    )
    .await;
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    assert_eq!(reader.headers().unwrap().len(), 11);
    assert_eq!(reader.records().count(), rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_changes_nothing_in_the_report() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig {
        tenant: TenantSource::Generated {
            apps: 5_000,
            seed: 7,
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let mut env = env_for(emu.info(), home.path());
    // One instant for both runs, so that days left cannot tick between them.
    env.push(("KEYTURN_NOW".into(), "2026-11-27T12:00:00Z".into()));
    let log = home.path().join("xdg_state_home/keyturn/keyturn.log");
    let throttle_notices = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("throttled by Graph")
            .count()
    };
    let plain = keyturn(env.clone(), &["check", "--all", "--format", "json"]).await;
    assert!(plain.code <= 2, "{}", plain.stderr);
    assert_eq!(throttle_notices(), 0, "the plain run was not throttled");
    emu.faults().set_throttle_every(Some(7));
    let throttled = keyturn(env, &["check", "--all", "--format", "json"]).await;
    assert_eq!(throttled.code, plain.code, "{}", throttled.stderr);
    // The second run really went through 429s (each retry is logged), so the equality below means something.
    assert!(
        throttle_notices() >= 1,
        "the throttled run saw no 429 (log {})",
        log.display()
    );
    let a = credentials(&plain.stdout);
    let b = credentials(&throttled.stdout);
    assert!(a.len() > 5_000, "generated tenant too small: {}", a.len());
    assert_eq!(a, b);
    emu.shutdown().await;
}

/// Each failure ends in exit code 3 with one clear line on stderr, never a panic.
async fn assert_fails(env: Vec<(String, String)>, args: &[&str], expect: &[&str]) {
    let run = keyturn(env, args).await;
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run.stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for e in expect {
        assert!(run.stderr.contains(e), "stderr lacks {e:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_in_exit_code_3() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let env = env_for(emu.info(), home.path());
    let check = ["check", "--format", "json"];

    emu.faults().add(Fault {
        op: Op::ListApplications,
        kind: FaultKind::Malformed,
        times: 1,
    });
    assert_fails(env.clone(), &check, &["malformed", "list applications"]).await;

    emu.faults().add(Fault {
        op: Op::ListApplications,
        kind: FaultKind::Truncated,
        times: 1,
    });
    assert_fails(env.clone(), &check, &["list applications"]).await;

    emu.faults().add(Fault {
        op: Op::ListApplications,
        kind: FaultKind::Status(500),
        times: 100,
    });
    assert_fails(env.clone(), &check, &["500"]).await;
    emu.faults().clear();

    let mut wrong = env.clone();
    wrong.retain(|(k, _)| k != "AZURE_CLIENT_SECRET");
    wrong.push(("AZURE_CLIENT_SECRET".into(), "not-the-secret".into()));
    assert_fails(wrong, &check, &["AADSTS7000215"]).await;

    let (client, secret) = emu.add_client("reader without roles", &[]);
    let mut weak = env.clone();
    weak.retain(|(k, _)| k != "AZURE_CLIENT_SECRET" && k != "AZURE_CLIENT_ID");
    weak.push(("AZURE_CLIENT_ID".into(), client));
    weak.push(("AZURE_CLIENT_SECRET".into(), secret));
    assert_fails(weak, &check, &["Application.Read.All"]).await;

    let bad_ca = home.path().join("broken-ca.pem");
    std::fs::write(&bad_ca, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    let mut broken = env.clone();
    broken.retain(|(k, _)| k != "KEYTURN_CA_CERT");
    assert_fails(
        broken.clone(),
        &[&["--ca-cert", bad_ca.to_str().unwrap()][..], &check[..]].concat(),
        &["broken-ca.pem"],
    )
    .await;
    // Without the emulator's CA the TLS handshake fails: verified TLS, never "accept anything".
    assert_fails(broken, &check, &["certificate"]).await;

    let mut no_tenant = env.clone();
    no_tenant.retain(|(k, _)| k != "AZURE_TENANT_ID");
    assert_fails(no_tenant, &check, &["tenant"]).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_not_found() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let info = emu.info().clone();
    let home = tempfile::tempdir().unwrap();
    let overrides = keyturn::session::Overrides {
        tenant_id: Some(info.tenant_id.clone()),
        client_id: Some(info.client_id.clone()),
        client_secret: Some(info.client_secret.clone().into()),
        authority_host: Some(info.authority_host.clone()),
        graph_url: Some(info.graph_url.clone()),
        ca_cert: Some(info.ca_cert.clone()),
        config: Some(home.path().join("none.toml")),
        ..Default::default()
    };
    let session = keyturn::session::Session::connect(
        keyturn::session::Settings::resolve(&overrides).unwrap(),
    )
    .unwrap();
    let err = session
        .graph
        .find_application("00000000-0000-0000-0000-000000000001")
        .await
        .unwrap_err();
    assert!(
        matches!(err, keyturn::graph::GraphError::NotFound { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("00000000-0000-0000-0000-000000000001"),
        "{err}"
    );
    emu.shutdown().await;
}

/// `--read-only`, `KEYTURN_READ_ONLY=1` and `read_only = true` in the profile each make `keyturn rotate --yes`
/// refuse with exit 3 and change nothing; an unknown app ends in exit 3 with one line too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_refuses_when_read_only_and_names_an_unknown_app() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let env = env_for(emu.info(), home.path());
    let state = emu.state();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| !a["passwordCredentials"].as_array().unwrap().is_empty())
        .unwrap();
    let app_id = app["appId"].as_str().unwrap().to_string();
    let key_id = app["passwordCredentials"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_string();
    let vault = emu.info().vault_urls[0].clone();
    let rotate = [
        "rotate",
        "--app",
        &app_id,
        "--key-id",
        &key_id,
        "--vault",
        &vault,
        "--secret-name",
        "ro-test",
        "--yes",
    ];
    let config = home.path().join("locked.toml");
    std::fs::write(&config, "[profiles.locked]\nread_only = true\n").unwrap();

    let flag = [&["--read-only"][..], &rotate[..]].concat();
    let profile = [
        &["--config", config.to_str().unwrap(), "--profile", "locked"][..],
        &rotate[..],
    ]
    .concat();
    let mut by_env = env.clone();
    by_env.push(("KEYTURN_READ_ONLY".into(), "1".into()));
    for (env, args) in [
        (env.clone(), flag),
        (by_env, rotate.to_vec()),
        (env.clone(), profile),
    ] {
        let run = keyturn(env, &args).await;
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("read-only"), "{args:?}: {}", run.stderr);
    }
    let after = emu.state();
    assert_eq!(
        after["applications"], state["applications"],
        "nothing changed in the tenant"
    );
    assert_eq!(
        after["vaults"], state["vaults"],
        "nothing changed in the vault"
    );

    let unknown = [
        "rotate",
        "--app",
        "00000000-0000-0000-0000-00000000beef",
        "--key-id",
        &key_id,
        "--vault",
        &vault,
        "--secret-name",
        "x",
        "--yes",
    ];
    let run = keyturn(env, &unknown).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("00000000-0000-0000-0000-00000000beef"),
        "{}",
        run.stderr
    );
    emu.shutdown().await;
}
