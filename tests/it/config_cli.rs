//! The real binary: broken config files (tests/invalid_configs) give errors naming key, file and line; the
//! read-only latch from flag, environment and config; `login`, `logout` and `doctor` against the emulator.
//!
//! Every run gets an empty environment with HOME and XDG dirs in a temporary directory and
//! `KEYTURN_SECRET_STORE=file`, so no test reads or writes the real user's config or keyring.
use assert_cmd::Command;
use keyturn::emulator::{Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/invalid_configs")
        .join(name)
}

/// `keyturn` with nothing from the outside world but what the test gives it.
fn keyturn(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("keyturn").expect("the keyturn binary is built");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("KEYTURN_SECRET_STORE", "file")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("keyturn runs");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// (fixture, the key the message must name, the line it is on)
const BROKEN: &[(&str, &str, u32)] = &[
    ("unknown_key.toml", "tennant", 4),
    ("unknown_table.toml", "profile", 2),
    ("wrong_type.toml", "warn_days", 4),
    ("lifetime_too_long.toml", "lifetime_days", 2),
    ("negative_days.toml", "warn_days", 2),
    ("http_authority.toml", "authority_host", 2),
    ("bad_client_id.toml", "client_id", 3),
    ("bad_sign_in.toml", "sign_in", 2),
    ("critical_over_warn.toml", "critical_days", 3),
    ("bad_vault.toml", "vaults", 2),
    ("mapping_unknown_key.toml", "secert", 4),
    ("bad_secret_name.toml", "secret", 4),
    ("syntax_error.toml", "tenant_id", 2),
];

#[test]
fn broken_configs_name_key_file_and_line_in_doctor_and_check() {
    let home = tempfile::tempdir().unwrap();
    for (name, key, line) in BROKEN {
        let path = fixture(name);
        let doctor = run(keyturn(home.path())
            .arg("--config")
            .arg(&path)
            .arg("doctor"));
        assert_eq!(
            doctor.code,
            Some(1),
            "{name}: {}{}",
            doctor.stdout,
            doctor.stderr
        );
        let first = doctor.stdout.lines().next().unwrap_or_default();
        assert!(first.starts_with("FAIL  config: "), "{name}: {first}");
        for needle in [name.to_string(), key.to_string(), format!("line {line}")] {
            assert!(
                first.contains(&needle),
                "{name}: `{needle}` missing from: {first}"
            );
        }
        assert!(
            doctor.stdout.contains("SKIP  sign-in"),
            "{name}: {}",
            doctor.stdout
        );

        // Every command loads config the same way: `check` says it on one stderr line, exit 3.
        let check = run(keyturn(home.path()).arg("--config").arg(&path).arg("check"));
        assert_eq!(check.code, Some(3), "{name}: {}", check.stderr);
        let err = check.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        for needle in [name.to_string(), key.to_string(), format!("line {line}")] {
            assert!(
                err.contains(&needle),
                "{name}: `{needle}` missing from: {err}"
            );
        }
    }
}

#[test]
fn the_example_config_loads() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
    let out = run(keyturn(home.path())
        .arg("--config")
        .arg(&example)
        .arg("doctor"));
    assert!(out.stdout.starts_with("PASS  config: "), "{}", out.stdout);
    // The audit profile is read-only in the example.
    let out = run(keyturn(home.path()).arg("--config").arg(&example).args([
        "--profile",
        "audit",
        "doctor",
    ]));
    assert!(
        out.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .contains("read-only"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_profile_lists_the_ones_there() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
    let out = run(keyturn(home.path()).arg("--config").arg(&example).args([
        "--profile",
        "prod",
        "doctor",
    ]));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("\"prod\"") && out.stdout.contains("audit, default, usgov"),
        "{}",
        out.stdout
    );
}

#[test]
fn read_only_from_flag_env_and_config() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("ro.toml");
    std::fs::write(&cfg, "[profiles.locked]\nread_only = true\n").unwrap();
    let config_line = |extra: &[&str], env: Option<&str>| {
        let mut cmd = keyturn(home.path());
        cmd.arg("--config").arg(&cfg).args(extra).arg("doctor");
        if let Some(v) = env {
            cmd.env("KEYTURN_READ_ONLY", v);
        }
        let out = run(&mut cmd);
        assert!(
            out.stderr.is_empty() || !out.stderr.contains("invalid value"),
            "{}",
            out.stderr
        );
        out.stdout.lines().next().unwrap_or_default().to_string()
    };
    assert!(!config_line(&[], None).contains("read-only"));
    assert!(config_line(&["--read-only"], None).contains("read-only"));
    assert!(
        config_line(&[], Some("1")).contains("read-only"),
        "KEYTURN_READ_ONLY=1"
    );
    assert!(config_line(&[], Some("true")).contains("read-only"));
    assert!(
        !config_line(&[], Some("0")).contains("read-only"),
        "KEYTURN_READ_ONLY=0"
    );
    assert!(
        config_line(&["--profile", "locked"], None).contains("read-only"),
        "read_only = true"
    );
    assert!(
        config_line(&["--profile", "locked"], Some("0")).contains("read-only"),
        "the latch stays on"
    );
}

/// A profile for the emulator in `dir/config.toml`.
fn emulator_profile(emu: &Emulator, dir: &Path, client_id: &str) -> PathBuf {
    let info = emu.info();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[profiles.emu]\ntenant_id = \"{}\"\nclient_id = \"{client_id}\"\nauthority_host = \"{}\"\n\
             graph_url = \"{}\"\nca_cert = \"{}\"\nvaults = [\"{}\"]\n",
            info.tenant_id,
            info.authority_host,
            info.graph_url,
            info.ca_cert.display(),
            info.vault_urls[0]
        ),
    )
    .unwrap();
    path
}

/// Run the binary off the async runtime so the in-process emulator keeps serving.
async fn run_async(mut cmd: Command) -> Out {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("the command thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_missing_audit_permission_and_exits_non_zero() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let (client_id, secret) = emu.add_client(
        "keyturn-reader",
        &[
            "Application.Read.All",
            "Directory.Read.All",
            "Key Vault Secrets Officer",
        ],
    );
    let cfg = emulator_profile(&emu, home.path(), &client_id);
    let mut cmd = keyturn(home.path());
    cmd.arg("--config")
        .arg(&cfg)
        .args(["--profile", "emu", "doctor"])
        .env("AZURE_CLIENT_SECRET", &secret);
    let out = run_async(cmd).await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let audit = out
        .stdout
        .lines()
        .find(|l| l.contains("audit read"))
        .unwrap_or_default();
    assert!(
        audit.starts_with("FAIL") && audit.contains("AuditLog.Read.All"),
        "{}",
        out.stdout
    );
    let rotate = out
        .stdout
        .lines()
        .find(|l| l.contains("rotate:"))
        .unwrap_or_default();
    assert!(
        rotate.starts_with("FAIL") && rotate.contains("Application.ReadWrite.OwnedBy"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("PASS  Graph read"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
        "the secret leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_from_env_then_doctor_then_logout() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let info = emu.info().clone();
    let cfg = emulator_profile(&emu, home.path(), &info.client_id);
    let base = |args: &[&str]| {
        let mut cmd = keyturn(home.path());
        cmd.arg("--config")
            .arg(&cfg)
            .args(["--profile", "emu"])
            .args(args);
        cmd
    };

    // A wrong secret is refused before anything is stored.
    let mut wrong = base(&["login", "--from-env"]);
    wrong.env("AZURE_CLIENT_SECRET", "the-secret-id-not-its-value");
    let out = run_async(wrong).await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("not stored") && out.stderr.contains("Value (not its Secret ID)"),
        "{}",
        out.stderr
    );
    let secrets_dir = home.path().join("config/keyturn/secrets");
    assert!(!secrets_dir.exists() || std::fs::read_dir(&secrets_dir).unwrap().next().is_none());

    // No terminal and no --from-env: a clear refusal, not a hang.
    let out = run_async(base(&["login"])).await;
    assert_eq!(out.code, Some(3));
    assert!(out.stderr.contains("--from-env"), "{}", out.stderr);

    let mut good = base(&["login", "--from-env"]);
    good.env("AZURE_CLIENT_SECRET", &info.client_secret);
    let out = run_async(good).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("checked with the tenant and stored in the file"),
        "{}",
        out.stderr
    );
    let file = secrets_dir.join(format!("{}@{}.secret", info.client_id, info.tenant_id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The stored secret signs doctor in; every check passes with the default client.
    let out = run_async(base(&["doctor"])).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("with client secret from the file"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("note: using the client secret in"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&info.client_secret));

    let out = run_async(base(&["logout"])).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("removed the client secret from the file"),
        "{}",
        out.stderr
    );
    assert!(!file.exists());
    let out = run_async(base(&["logout"])).await;
    assert!(out.stderr.contains("nothing to remove"), "{}", out.stderr);
    let out = run_async(base(&["doctor"])).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("FAIL  sign-in") && out.stdout.contains("keyturn login"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_secret_store_setting_is_named() {
    let home = tempfile::tempdir().unwrap();
    let out = run(keyturn(home.path())
        .env("KEYTURN_SECRET_STORE", "vault")
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
        ])
        .arg("logout"));
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("KEYTURN_SECRET_STORE") && out.stderr.contains("secret-service"),
        "{}",
        out.stderr
    );
}
