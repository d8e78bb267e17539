//! The Done-when run of the hostile tenant: every string the tenant controls that the issue names (app names with
//! OSC 52 and window-title sequences, a credential name that clears the screen, U+202E, zero-width characters, a
//! CSV formula, an owner and an audit initiator with escapes) goes through `show` (text and JSON), `rotate` (the
//! plan, and a real rotation's output), `journal`, `doctor` and the TUI in tmux with the raw terminal stream
//! captured. No control or bidi byte from the data reaches the terminal; JSON keeps the exact names. (`check` in
//! its three formats: `hardening.rs`.)
use super::e2e_tmux::{Tmux, require_tmux, shell};
use super::hardening::{
    CLEAR_SECRET, EVIL_APP, INITIATOR_NAME, OWNER_NAME, Run, assert_clean, hostile_tenant, keyturn,
};
use crate::support;
use keyturn::emulator::{EmulatorConfig, TenantSource};
use serde_json::Value;
use std::time::Duration;

/// A user owner whose name and UPN carry escapes too.
const USER_OWNER: &str = "Mallory\u{1b}]52;c;dXNlcg==\u{7}\u{202e}";
const USER_UPN: &str = "mallory\u{200b}@x.test";
/// The operator's identity as the token names it (doctor prints who signed in).
const OPERATOR_APP: &str = "Op\u{1b}]0;pwned\u{7}";

/// The bytes of the hostile payloads as they would reach a terminal if passed through raw: the escape sequences
/// start with the ESC byte (their visible form, `\u{1b}]52;...`, is what keyturn shows instead, so `]52;` alone is
/// not a sign of harm), the bidi and zero-width characters as their UTF-8, C1 CSI as c2 9b. The TUI's own escape
/// sequences, such as its clear-screen, are none of these.
const RAW_PAYLOADS: [&[u8]; 10] = [
    b"\x1b]52;",
    b"\x1b]0;pwned",
    b"\x1b]0;owned",
    b"osc52\x1b",
    b"aGk=\x07",
    "\u{202e}".as_bytes(),
    "\u{2066}".as_bytes(),
    "\u{200b}".as_bytes(),
    "\u{9b}".as_bytes(),
    b"Init\x1b",
];

fn assert_no_raw_payload(what: &str, bytes: &[u8]) {
    for p in RAW_PAYLOADS {
        if let Some(at) = bytes.windows(p.len()).position(|w| w == p) {
            let from = at.saturating_sub(60);
            panic!(
                "{what}: the hostile payload {:?} reaches the terminal after {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(&bytes[from..at])
            );
        }
    }
}

fn clean(what: &str, r: &Run) {
    assert_clean(&format!("{what} stdout"), &r.stdout);
    assert_clean(&format!("{what} stderr"), &r.stderr);
    assert_no_raw_payload(&format!("{what} stdout"), r.stdout.as_bytes());
    assert_no_raw_payload(&format!("{what} stderr"), r.stderr.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_tenant_never_drives_the_terminal_in_any_command() {
    let emu = support::start(EmulatorConfig {
        tenant: TenantSource::Generated { apps: 0, seed: 1 },
        state_route: true,
        ..EmulatorConfig::default()
    })
    .await;
    let ids = hostile_tenant(&emu).await;
    let evil = ids[0].clone();
    let user = emu.add_user(USER_OWNER, USER_UPN);
    assert!(emu.add_owner(&evil, &user));
    let (op_id, op_secret) = emu.add_client(
        OPERATOR_APP,
        &[
            "Application.ReadWrite.All",
            "Application.Read.All",
            "AuditLog.Read.All",
            "Directory.Read.All",
            "Key Vault Secrets Officer",
        ],
    );
    let home = tempfile::tempdir().unwrap();
    let vault = emu.info().vault_urls[0].clone();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nvaults = [\"{vault}\"]\n\n[[profiles.default.mappings]]\napp = \"{evil}\"\nvault = \"{vault}\"\nsecret = \"evil-secret\"\n"
        ),
    )
    .unwrap();
    let mut env = super::hardening::env_for(&emu, home.path());
    for (k, v) in &mut env {
        match k.as_str() {
            "AZURE_CLIENT_ID" => *v = op_id.clone(),
            "AZURE_CLIENT_SECRET" => *v = op_secret.clone(),
            _ => {}
        }
    }
    env.push(("KEYTURN_CONFIG".into(), config.display().to_string()));

    // show, text and JSON.
    let text = keyturn(env.clone(), &["show", &evil]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    clean("show text", &text);
    for visible in [
        "Evil\\u{1b}]52;c;aGk=\\u{7}",
        "osc52\\u{1b}[2J",
        "Owner\\u{1b}]0;owned\\u{7}\\u{2066}",
        "Mallory\\u{1b}]52;c;dXNlcg==\\u{7}\\u{202e}",
    ] {
        assert!(
            text.stdout.contains(visible),
            "{visible} missing from:\n{}",
            text.stdout
        );
    }
    let json = keyturn(env.clone(), &["show", &evil, "--format", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    clean("show json", &json);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["app"]["displayName"], EVIL_APP);
    assert_eq!(doc["credentials"][0]["credentialName"], CLEAR_SECRET);
    let mut owners: Vec<&str> = doc["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["displayName"].as_str())
        .collect();
    owners.sort();
    let mut want = vec![OWNER_NAME, USER_OWNER];
    want.sort();
    assert_eq!(owners, want, "exact owner names");
    assert!(
        doc["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["userPrincipalName"] == USER_UPN)
    );
    assert!(
        doc["auditEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["initiatedBy"]
                .as_str()
                .is_some_and(|i| i.contains(INITIATOR_NAME))),
        "the audit initiator, exact: {}",
        doc["auditEvents"]
    );

    // rotate: the plan, then a real rotation (a new vault secret from the profile's mapping).
    let key = doc["credentials"][0]["keyId"].as_str().unwrap().to_string();
    let plan = keyturn(
        env.clone(),
        &[
            "rotate",
            "--app",
            &evil,
            "--key-id",
            &key,
            "--lifetime-days",
            "30",
        ],
    )
    .await;
    assert_eq!(plan.code, 3, "a plan alone: {}", plan.stderr);
    clean("rotate plan", &plan);
    assert!(
        plan.stdout.contains("Evil\\u{1b}]52;c;aGk=\\u{7}"),
        "{}",
        plan.stdout
    );
    let rotated = keyturn(
        env.clone(),
        &[
            "rotate",
            "--app",
            &evil,
            "--key-id",
            &key,
            "--lifetime-days",
            "30",
            "--keep-old",
            "1",
            "--yes",
        ],
    )
    .await;
    clean("rotate --yes", &rotated);
    let summary: Value = serde_json::from_str(&rotated.stdout).unwrap_or_else(|e| {
        panic!(
            "rotate --yes prints its JSON summary ({e}): {}{}",
            rotated.stdout, rotated.stderr
        )
    });
    assert!(summary["newKeyId"].is_string(), "{summary}");

    // journal, doctor.
    let journal = keyturn(env.clone(), &["journal"]).await;
    assert_eq!(journal.code, 0, "{}", journal.stderr);
    clean("journal", &journal);
    assert!(
        journal.stdout.contains("Evil\\u{1b}]52;c;aGk=\\u{7}"),
        "{}",
        journal.stdout
    );
    let doctor = keyturn(env.clone(), &["doctor"]).await;
    clean("doctor", &doctor);
    assert!(
        doctor.stdout.contains("Op\\u{1b}]0;pwned\\u{7}"),
        "{}",
        doctor.stdout
    );

    // The TUI in tmux, every byte it writes kept: the list, then the hostile app's detail (credentials, owners,
    // audit events).
    if !require_tmux("a_hostile_tenant_never_drives_the_terminal_in_any_command") {
        return;
    }
    let tui_home = home.path().to_path_buf();
    let tui_env = env.clone();
    let raw = tokio::task::spawn_blocking(move || {
        let extra: Vec<(&str, &str)> = tui_env
            .iter()
            .filter(|(k, _)| !k.starts_with("XDG_") && k != "HOME")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let tmux = Tmux::start_with(&tui_home.join("tui"), &extra);
        shell(&tmux);
        let pane = tui_home.join("pane.raw");
        tmux.pipe_pane(&pane);
        tmux.type_text(&format!(
            "{} 2>{}",
            env!("CARGO_BIN_EXE_keyturn"),
            tui_home.join("tui.err").display()
        ));
        tmux.key("Enter");
        tmux.wait_for("the list with the hostile apps", |s| {
            s.contains(" loaded ")
                && s.contains("Bidi \\u{202e}gnp.exe")
                && s.contains("Title\\u{1b}]0;pwned\\u{7}")
        });
        tmux.type_text("/");
        tmux.type_text("Evil");
        tmux.key("Enter");
        tmux.wait_for("the hostile app selected", |s| {
            s.lines()
                .any(|l| l.starts_with("▶ ") && l.contains("Evil\\u{1b}]52"))
        });
        tmux.key("Enter");
        tmux.wait_for("its detail with owners and audit events", |s| {
            s.contains("Credentials (")
                && !s.contains("loading owners")
                && !s.contains("loading audit events")
                && s.contains("Owner\\u{1b}]0;owned")
                && s.contains("Mallory\\u{1b}]52")
                && s.contains("osc52\\u{1b}[2J")
        });
        tmux.type_text("q");
        tmux.type_text("q");
        tmux.wait_for("the shell prompt after quitting", |s| {
            s.contains("e2e$") && !s.contains("Credentials (")
        });
        tmux.stop_pipe_pane();
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read(&pane).unwrap()
    })
    .await
    .unwrap();
    assert!(
        raw.len() > 1000,
        "the raw stream was captured ({} bytes)",
        raw.len()
    );
    // The TUI did draw the hostile rows (their visible forms are in the stream) ...
    let shown = String::from_utf8_lossy(&raw);
    assert!(
        shown.contains("Evil\\u{1b}]52;c;aGk=\\u{7}"),
        "the visible form is drawn"
    );
    // ... and none of their raw bytes.
    assert_no_raw_payload("TUI terminal stream", &raw);
    emu.shutdown().await;
}

/// The raw-stream check itself catches a payload that got through (and passes the visible form keyturn shows).
#[test]
#[should_panic(expected = "reaches the terminal")]
fn the_raw_stream_check_catches_an_escape_that_got_through() {
    assert_no_raw_payload("visible form", b"Evil\\u{1b}]52;c;aGk=\\u{7}");
    assert_no_raw_payload("raw", "row: Evil\u{1b}]52;c;aGk=\u{7}".as_bytes());
}
