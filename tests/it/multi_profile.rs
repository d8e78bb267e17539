//! Several tenants at once (`--profile` repeated, `--all-profiles`): the commands that act on one tenant refuse
//! several profiles with exit 3 before touching anything; `check` over two emulated tenants in every format.
use crate::support::run_keyturn;
use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// `keyturn` with nothing from the outside world but a temporary home and a config of two profiles.
fn keyturn(home: &Path) -> Command {
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        "[profiles.a]\ntenant_id = \"00000000-0000-0000-0000-0000000000a1\"\n\
         client_id = \"00000000-0000-0000-0000-0000000000a2\"\n\
         [profiles.b]\ntenant_id = \"00000000-0000-0000-0000-0000000000b1\"\n\
         client_id = \"00000000-0000-0000-0000-0000000000b2\"\n",
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("keyturn").expect("the keyturn binary is built");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("KEYTURN_SECRET_STORE", "file")
        .env("KEYTURN_CONFIG", &config)
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

#[test]
fn one_tenant_commands_refuse_several_profiles_with_exit_3() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--profile", "a", "--profile", "b", "doctor"], "doctor"),
        (&["--all-profiles", "show", "some-app"], "show"),
        (
            &[
                "rotate",
                "--app",
                "x",
                "--key-id",
                "y",
                "--profile",
                "a",
                "--profile",
                "b",
            ],
            "rotate",
        ),
        (&["--all-profiles", "cleanup", "--yes"], "cleanup"),
        (&["--all-profiles", "login", "--from-env"], "login"),
        (&["--all-profiles", "journal"], "journal"),
    ];
    for (args, name) in cases {
        let out = keyturn(home.path()).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("`keyturn {name}` works on one tenant at a time"))
                && stderr.contains("run it once per profile"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Nothing was written: no journal, no stored secret.
    assert!(!home.path().join("data").exists());
    // One profile from the environment plus --all-profiles is not "two profiles": the variable gives way.
    let out = keyturn(home.path())
        .env("KEYTURN_PROFILE", "a")
        .args(["--all-profiles", "show", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one tenant at a time"));
}

/// Two emulated tenants as two profiles of one config file, each profile's secret stored by `keyturn login
/// --from-env --profile NAME` in a 0600 file of the temporary home (`KEYTURN_SECRET_STORE=file`).
pub(crate) struct TwoTenants {
    pub home: tempfile::TempDir,
    pub a: keyturn::emulator::Emulator,
    pub b: keyturn::emulator::Emulator,
    pub config: std::path::PathBuf,
}

fn profile_toml(name: &str, info: &keyturn::emulator::ReadyInfo) -> String {
    format!(
        "[profiles.{name}]\ntenant_id = {:?}\nclient_id = {:?}\nauthority_host = {:?}\ngraph_url = {:?}\n\
         ca_cert = {:?}\n",
        info.tenant_id,
        info.client_id,
        info.authority_host,
        info.graph_url,
        info.ca_cert.display().to_string()
    )
}

impl TwoTenants {
    /// Profile `a`: the demo tenant; profile `b`: a generated tenant of 40 apps. `extra` is appended to the file.
    pub async fn start(extra: &str) -> TwoTenants {
        use keyturn::emulator::{EmulatorConfig, TenantSource};
        let a = keyturn::emulator::Emulator::start(EmulatorConfig {
            state_route: true,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let b = keyturn::emulator::Emulator::start(EmulatorConfig {
            tenant: TenantSource::Generated { apps: 40, seed: 11 },
            state_route: true,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        assert_ne!(
            a.info().tenant_id,
            b.info().tenant_id,
            "two different tenants"
        );
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "{}{}{extra}",
                profile_toml("a", a.info()),
                profile_toml("b", b.info())
            ),
        )
        .unwrap();
        let t = TwoTenants { home, a, b, config };
        for (name, emu) in [("a", &t.a), ("b", &t.b)] {
            let mut env = t.env();
            env.push((
                "AZURE_CLIENT_SECRET".into(),
                emu.info().client_secret.clone(),
            ));
            let run = run_keyturn(env, &["login", "--from-env", "--profile", name]).await;
            assert_eq!(run.code, 0, "login --profile {name}: {}", run.stderr);
        }
        t
    }

    /// The environment of every run: the temporary home, the config file, a file secret store, a fixed now.
    pub fn env(&self) -> Vec<(String, String)> {
        let home = self.home.path();
        let mut env = crate::support::isolated_env(home);
        env.extend([
            ("KEYTURN_CONFIG".into(), self.config.display().to_string()),
            ("KEYTURN_SECRET_STORE".into(), "file".into()),
            ("KEYTURN_NOW".into(), "2026-12-03T10:00:00Z".into()),
        ]);
        env
    }

    pub async fn state(emu: &keyturn::emulator::Emulator) -> Value {
        let info = emu.info();
        let http = keyturn::net::http_client(&keyturn::net::HttpOptions {
            ca_cert: Some(info.ca_cert.clone()),
            timeout: None,
        })
        .unwrap();
        http.get(format!("{}/_emulator/state", info.graph_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// What `check --all` must say of one tenant, from the emulator's state alone: its credentials (as check.rs keys
/// them), each one's status at `now`, and the exit code (0, 1 or 2) of the worst.
fn expected(state: &Value, now: &str) -> (BTreeSet<(String, String)>, u8) {
    let keys = super::check::expected_keys(state);
    let mut worst = 0;
    for coll in ["applications", "servicePrincipals"] {
        for obj in state[coll].as_array().unwrap() {
            for c in obj["passwordCredentials"]
                .as_array()
                .unwrap()
                .iter()
                .chain(obj["keyCredentials"].as_array().unwrap())
            {
                let Some(end) = c["endDateTime"].as_str() else {
                    continue;
                };
                worst = worst.max(match super::check::status_for(end, now, 30, 7) {
                    "expired" | "critical" => 2,
                    "warning" => 1,
                    _ => 0,
                });
            }
        }
    }
    (keys, worst)
}

fn check_document(doc: &Value, emu: &keyturn::emulator::Emulator, state: &Value) {
    assert_eq!(doc["tenantId"], emu.info().tenant_id.as_str());
    assert_eq!(doc["generatedAt"], "2026-12-03T10:00:00Z");
    let rows = doc["credentials"].as_array().unwrap();
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| super::check::key_of(r, state))
        .collect();
    assert_eq!(got.len(), rows.len(), "a credential is listed twice");
    assert_eq!(got, expected(state, "2026-12-03T10:00:00Z").0);
    for r in rows {
        let want = super::check::status_for(
            r["endDateTime"].as_str().unwrap(),
            "2026-12-03T10:00:00Z",
            30,
            7,
        );
        assert_eq!(r["status"], want, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_over_two_profiles_reports_both_tenants_in_each_format() {
    let t = TwoTenants::start("").await;
    let (state_a, state_b) = (TwoTenants::state(&t.a).await, TwoTenants::state(&t.b).await);
    let now = "2026-12-03T10:00:00Z";
    let code_want = expected(&state_a, now).1.max(expected(&state_b, now).1) as i32;

    // A stray single-tenant secret in the environment is not used for either profile, and a note says so.
    let mut env = t.env();
    env.push((
        "AZURE_CLIENT_SECRET".into(),
        "not-either-tenants-secret".into(),
    ));
    let run = run_keyturn(
        env,
        &[
            "check",
            "--all",
            "--format",
            "json",
            "--profile",
            "a",
            "--profile",
            "b",
        ],
    )
    .await;
    assert_eq!(run.code, code_want, "{}", run.stderr);
    assert!(
        run.stderr.contains("not applied: AZURE_CLIENT_SECRET"),
        "{}",
        run.stderr
    );
    let docs: Value = serde_json::from_str(&run.stdout).unwrap();
    let docs = docs.as_array().expect("an array of documents");
    assert_eq!(docs.len(), 2);
    check_document(&docs[0], &t.a, &state_a);
    check_document(&docs[1], &t.b, &state_b);

    // Each document is exactly the single-profile document.
    for (i, name) in ["a", "b"].iter().enumerate() {
        let one = run_keyturn(
            t.env(),
            &["check", "--all", "--format", "json", "--profile", name],
        )
        .await;
        let single: Value = serde_json::from_str(&one.stdout).unwrap();
        assert!(single.is_object(), "one profile keeps the single document");
        assert_eq!(docs[i], single, "profile {name}");
    }

    // --all-profiles (sorted: a, b) says the same; so does KEYTURN_PROFILE beside it.
    let mut env = t.env();
    env.push(("KEYTURN_PROFILE".into(), "b".into()));
    let all = run_keyturn(
        env,
        &["check", "--all", "--format", "json", "--all-profiles"],
    )
    .await;
    assert_eq!(all.code, code_want, "{}", all.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&all.stdout).unwrap(),
        Value::Array(docs.clone())
    );

    // Without --all: the same tenants, only rows at warning or worse.
    let run = run_keyturn(t.env(), &["check", "--format", "json", "--all-profiles"]).await;
    let some: Value = serde_json::from_str(&run.stdout).unwrap();
    for (i, doc) in some.as_array().unwrap().iter().enumerate() {
        let want = docs[i]["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "ok")
            .count();
        assert_eq!(doc["credentials"].as_array().unwrap().len(), want);
    }

    // CSV: profile and tenantId in front of the single-tenant fields; every row of both tenants.
    let run = run_keyturn(
        t.env(),
        &["check", "--all", "--format", "csv", "--all-profiles"],
    )
    .await;
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&headers[..3], ["profile", "tenantId", "objectType"]);
    assert_eq!(headers.len(), 13);
    let mut per_tenant = std::collections::BTreeMap::new();
    for rec in reader.records() {
        let rec = rec.unwrap();
        let tenant = match &rec[0] {
            "a" => &t.a.info().tenant_id,
            "b" => &t.b.info().tenant_id,
            other => panic!("profile {other}"),
        };
        assert_eq!(&rec[1], tenant.as_str());
        *per_tenant.entry(rec[0].to_string()).or_insert(0) += 1;
    }
    let counts: Vec<usize> = docs
        .iter()
        .map(|d| d["credentials"].as_array().unwrap().len())
        .collect();
    assert_eq!(per_tenant.into_values().collect::<Vec<_>>(), counts);

    // Table: a TENANT column only with several profiles.
    let run = run_keyturn(t.env(), &["check", "--all", "--all-profiles"]).await;
    let mut lines = run.stdout.lines();
    assert!(
        lines.next().unwrap().starts_with("TENANT  STATUS"),
        "{}",
        run.stdout
    );
    let tenants: BTreeSet<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(tenants, BTreeSet::from(["a", "b"]));
    let one = run_keyturn(t.env(), &["check", "--all", "--profile", "a"]).await;
    assert!(one.stdout.starts_with("STATUS"), "{}", one.stdout);

    // Prometheus: one file, each HELP/TYPE once, both tenants' series told apart by the tenant label.
    let run = run_keyturn(
        t.env(),
        &["check", "--format", "prometheus", "--all-profiles"],
    )
    .await;
    let meta: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('#')).collect();
    let unique: BTreeSet<&&str> = meta.iter().collect();
    assert_eq!(
        meta.len(),
        unique.len(),
        "a HELP or TYPE line twice:\n{}",
        run.stdout
    );
    assert_eq!(meta.len(), 8);
    for (emu, count) in [(&t.a, counts[0]), (&t.b, counts[1])] {
        let label = format!(
            "keyturn_credential_expiry_timestamp_seconds{{tenant=\"{}\"",
            emu.info().tenant_id
        );
        assert_eq!(
            run.stdout.lines().filter(|l| l.starts_with(&label)).count(),
            count
        );
        assert!(run.stdout.contains(&format!(
            "keyturn_check_success{{tenant=\"{}\"}} 1",
            emu.info().tenant_id
        )));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_does_not_load_is_named_and_the_others_still_reported() {
    // Profile c is tenant a's app without a stored secret: it cannot sign in.
    let t = TwoTenants::start(
        "[profiles.c]\ntenant_id = \"00000000-0000-0000-0000-0000000000c1\"\n\
         client_id = \"00000000-0000-0000-0000-0000000000c2\"\nsign_in = \"secret\"\n",
    )
    .await;
    let run = run_keyturn(
        t.env(),
        &["check", "--all", "--format", "json", "--all-profiles"],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("keyturn: profile c: "),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("profile a:") && !run.stderr.contains("profile b:"));
    let docs: Value = serde_json::from_str(&run.stdout).unwrap();
    let tenants: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(
        tenants,
        [t.a.info().tenant_id.as_str(), t.b.info().tenant_id.as_str()]
    );
    // The textfile for Prometheus is still written: the tenants that loaded, and a success of 0 for c's tenant.
    let prom = t.home.path().join("keyturn.prom");
    let run = run_keyturn(
        t.env(),
        &[
            "check",
            "--format",
            "prometheus",
            "--all-profiles",
            "--output",
            prom.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let text = std::fs::read_to_string(&prom).unwrap();
    let success: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("keyturn_check_success{"))
        .collect();
    let want: BTreeSet<String> = [
        format!(
            "keyturn_check_success{{tenant=\"{}\"}} 1",
            t.a.info().tenant_id
        ),
        format!(
            "keyturn_check_success{{tenant=\"{}\"}} 1",
            t.b.info().tenant_id
        ),
        "keyturn_check_success{tenant=\"00000000-0000-0000-0000-0000000000c1\"} 0".to_string(),
    ]
    .into();
    assert_eq!(success, want.iter().map(String::as_str).collect());
    assert!(!text.contains("tenant=\"00000000-0000-0000-0000-0000000000c1\",status"));
}
