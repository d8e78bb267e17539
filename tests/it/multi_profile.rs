//! Several tenants at once (`--profile` repeated, `--all-profiles`): the commands that act on one tenant refuse
//! several profiles with exit 3 before touching anything.
use assert_cmd::Command;
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
