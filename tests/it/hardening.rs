//! Hostile tenants and endpoints: tenant text never drives the operator's terminal, tokens name the real
//! resource, secrets only go to Key Vault domains.
use crate::support::{self, GRAPH_SCOPE};
pub use crate::support::{Run, run_keyturn as keyturn};
use base64::Engine;
use keyturn::emulator::{Emulator, EmulatorConfig, TenantSource};
use serde_json::Value;
use std::path::Path;

/// The hostile names of the issue: OSC 52 clipboard write, window title, clear screen, right-to-left override.
pub const EVIL_APP: &str = "Evil\u{1b}]52;c;aGk=\u{7}";
pub const TITLE_APP: &str = "Title\u{1b}]0;pwned\u{7}";
pub const BIDI_APP: &str = "Bidi \u{202e}gnp.exe";
pub const FORMULA_APP: &str = "=HYPERLINK(\"http://x.test\",\"click\")";
pub const CLEAR_SECRET: &str = "osc52\u{1b}[2J";
pub const OWNER_NAME: &str = "Owner\u{1b}]0;owned\u{7}\u{2066}";
pub const INITIATOR_NAME: &str = "Init\u{9b}31m\u{200b}";

/// True for a character keyturn must never let through from data (the checker is written here, independently of
/// `keyturn::safe_text`): C0 except newline, DEL, C1, bidi controls, zero-width and other invisible formats.
pub fn forbidden(c: char) -> bool {
    let u = c as u32;
    (u < 0x20 && c != '\n')
        || (0x7f..=0x9f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2066..=0x2069).contains(&u)
        || matches!(u, 0x200b..=0x200f | 0x2060 | 0xfeff | 0x061c | 0xad)
}

pub fn assert_clean(what: &str, text: &str) {
    if let Some((i, c)) = text.char_indices().find(|(_, c)| forbidden(*c)) {
        let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
        panic!(
            "{what}: U+{:04X} reaches the terminal after {:?}",
            c as u32,
            &text[from..i]
        );
    }
}

/// A tenant holding every hostile string of the issue: app names, a credential name, an owner and an audit
/// initiator. Returns the hostile apps' object ids.
pub async fn hostile_tenant(emu: &Emulator) -> Vec<String> {
    let (init_id, init_secret) = emu.add_client(INITIATOR_NAME, &["Application.ReadWrite.All"]);
    let (owner_client, _) = emu.add_client(OWNER_NAME, &[]);
    let token = support::token_as(emu, &init_id, &init_secret, GRAPH_SCOPE).await;
    let mut ids = Vec::new();
    for name in [EVIL_APP, TITLE_APP, BIDI_APP, FORMULA_APP] {
        let (id, _) = emu.create_app(name);
        let end = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let (status, body) = support::graph_post(
            emu,
            &token,
            &format!("/applications/{id}/addPassword"),
            &serde_json::json!({"passwordCredential": {"displayName": CLEAR_SECRET, "endDateTime": end}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(emu.add_owner(&id, &owner_client));
        ids.push(id);
    }
    ids
}

pub fn env_for(emu: &Emulator, home: &Path) -> Vec<(String, String)> {
    let info = emu.info();
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

fn empty_tenant() -> EmulatorConfig {
    EmulatorConfig {
        tenant: TenantSource::Generated { apps: 0, seed: 1 },
        ..EmulatorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_keeps_hostile_names_off_the_terminal_in_every_format() {
    let emu = support::start(empty_tenant()).await;
    hostile_tenant(&emu).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());

    let table = keyturn(env.clone(), &["check", "--all"]).await;
    assert_eq!(table.code, 2, "{}", table.stderr);
    assert_clean("check table stdout", &table.stdout);
    assert_clean("check table stderr", &table.stderr);
    // The operator sees that something is there.
    assert!(
        table.stdout.contains("Evil\\u{1b}]52;c;aGk=\\u{7}"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("Bidi \\u{202e}gnp.exe"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("osc52\\u{1b}[2J"), "{}", table.stdout);

    let csv = keyturn(env.clone(), &["check", "--all", "--format", "csv"]).await;
    assert_clean("check csv stdout", &csv.stdout);
    let mut reader = csv::Reader::from_reader(csv.stdout.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[3].to_string())
        .collect();
    assert!(
        names.contains(&format!("'{FORMULA_APP}")),
        "the formula cell is neutralised: {names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with('=')), "{names:?}");

    let json = keyturn(env, &["check", "--all", "--format", "json"]).await;
    assert_clean("check json stdout", &json.stdout);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let mut got: Vec<String> = v["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["credentialName"], CLEAR_SECRET, "exact credential name");
            c["displayName"].as_str().unwrap().to_string()
        })
        .filter(|n| [EVIL_APP, TITLE_APP, BIDI_APP, FORMULA_APP].contains(&n.as_str()))
        .collect();
    got.sort();
    let mut want = vec![EVIL_APP, TITLE_APP, BIDI_APP, FORMULA_APP];
    want.sort();
    assert_eq!(got, want, "JSON keeps the exact names");
}

/// The `aud` claim of a JWT, decoded here (not with keyturn's own claims code).
fn audience(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url payload");
    let v: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    v["aud"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_on_loopback_still_asks_for_the_real_graph_resource() {
    let emu = support::start(empty_tenant()).await;
    let session = support::session(&emu);
    assert!(emu.info().graph_url.starts_with("https://127.0.0.1:"));
    assert_eq!(
        session.graph.scope(),
        "https://graph.microsoft.com/.default"
    );
    assert_eq!(
        session.settings.graph_scope,
        "https://graph.microsoft.com/.default"
    );
    let token = session
        .credential
        .get_token(&[session.graph.scope()], None)
        .await
        .expect("the emulator issues a token for the real Graph resource");
    assert_eq!(
        audience(token.token.secret()),
        "https://graph.microsoft.com"
    );
    // And the Graph client signs in with it and reads.
    let err = session
        .graph
        .find_application("00000000-0000-0000-0000-000000000001")
        .await
        .unwrap_err();
    assert!(
        matches!(err, keyturn::graph::GraphError::NotFound { .. }),
        "the call was authorised and found no such app: {err}"
    );
}

/// Item 3 of issue 16: a vault URL off the Key Vault domains (and not loopback or allowed) is refused before
/// anything is written: `rotate --yes` exits 3 naming the rule and the tenant, the vault and the journal stay as
/// they were; the plan without `--yes` says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_off_domain_vault_url_is_refused_before_anything_is_written() {
    let env = crate::rotation::env().await;
    let home = tempfile::tempdir().unwrap();
    let before = env.emu.state();
    let journal = crate::rotation::binary_journal(home.path());
    for yes in [true, false] {
        let mut args: Vec<String> = crate::rotation::rotate_argv(&env.subject)
            .into_iter()
            .filter(|a| yes || a != "--yes")
            .collect();
        let at = args.iter().position(|a| a == "--vault").unwrap();
        args[at + 1] = "https://kv.vault.azure.net.evil.example".into();
        let out = crate::rotation::keyturn_cmd(&env.info, home.path())
            .args(&args)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "--yes {yes}: {stderr}");
        assert!(
            stderr.contains("is not on a Key Vault domain") && stderr.contains("allow_vault_hosts"),
            "--yes {yes}: {stderr}"
        );
        // Apps, service principals and vaults as they were (keyturn's own sign-in is logged, which is fine).
        let after = env.emu.state();
        for key in ["applications", "servicePrincipals", "vaults", "auditEvents"] {
            assert!(after[key] == before[key], "--yes {yes}: {key} changed");
        }
        if let Ok(j) = keyturn::store::Journal::open(&journal) {
            assert!(j.list(100).unwrap().is_empty(), "--yes {yes}: journaled");
        }
    }
}

/// Item 3 of issue 16: a paging or delta link off the Graph origin is never followed (the bearer token would go
/// with it): the pager and a single read end in a clear error before any request (a request would have ended in
/// a network error or an answer instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_off_the_graph_origin_are_not_followed() {
    use keyturn::graph::client::ops;
    use keyturn::graph::{Application, GraphError};
    let emu = support::start(empty_tenant()).await;
    // A second emulator stands for the foreign host: a followed link would get an answer from it.
    let other = support::start(empty_tenant()).await;
    let graph = support::session(&emu).graph;
    let foreign = format!("{}/v1.0/applications?$skiptoken=x", other.info().graph_url);
    let mut pager = graph.pager::<Application>(foreign.clone(), ops::LIST_APPLICATIONS);
    let err = match pager.next_page().await {
        Some(Err(e)) => e,
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|r| r.map(|p| p.number))
        ),
    };
    assert!(matches!(err, GraphError::ForeignLink { .. }), "{err:?}");
    assert!(
        err.to_string().contains("only the Graph URL's origin"),
        "{err}"
    );
    let err = graph
        .get_json::<Value>(
            "https://graph.microsoft.com.evil.example/v1.0/me",
            ops::LIST_APPLICATIONS,
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, GraphError::ForeignLink { .. }), "{err:?}");
    // Same host, another port is another origin.
    let port_moved = emu.info().graph_url.replace("127.0.0.1:", "127.0.0.1:1");
    let err = graph
        .get_json::<Value>(
            &format!("{port_moved}/v1.0/applications"),
            ops::LIST_APPLICATIONS,
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, GraphError::ForeignLink { .. }), "{err:?}");
    // The Graph origin itself still works.
    let ok = graph
        .get_json::<Value>(&graph.url("applications?$top=1"), ops::LIST_APPLICATIONS)
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// Item 4 of issue 16: a second vault secret tagged for the same credential (anyone who can tag a secret in a
/// listed vault can do that) makes the mapping ambiguous. The plan shows both candidates and how each was found;
/// `rotate --yes` refuses (exit 3) and writes nothing; with `--vault/--secret-name` the chosen one gets the value
/// and the other is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_tag_mapping_is_shown_and_refused_until_chosen() {
    let env = crate::rotation::env().await;
    let s = &env.subject;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("keyturn.toml");
    std::fs::write(
        &config,
        format!("[profiles.default]\nvaults = [\"{}\"]\n", s.vault),
    )
    .unwrap();
    let token = support::vault_token(&env.emu).await;
    let resp = support::client(&env.emu)
        .put(format!("{}/secrets/attacker-copy?api-version=7.4", s.vault))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": "x", "tags": {"ProviderAddress": s.app, "CredentialId": s.key}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let before = env.emu.state();
    let unchanged = |when: &str| {
        let after = env.emu.state();
        for key in ["applications", "vaults"] {
            assert!(after[key] == before[key], "{when}: {key} changed");
        }
    };
    let run = |args: Vec<String>| {
        let mut cmd = crate::rotation::keyturn_cmd(&env.info, home.path());
        cmd.env("KEYTURN_CONFIG", &config).args(args);
        cmd
    };
    let mapped_args = |yes: bool| {
        let mut a: Vec<String> = ["rotate", "--app", &s.app_id, "--key-id", &s.key]
            .iter()
            .map(|x| x.to_string())
            .collect();
        if yes {
            a.push("--yes".into());
        }
        a
    };
    let theirs = format!("{}/secrets/{}", s.vault, s.secret);
    let attacker = format!("{}/secrets/attacker-copy", s.vault);

    let out = run(mapped_args(false)).output().await.unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{plan}");
    assert!(
        plan.contains("ambiguous: 2 vault secrets claim this credential"),
        "{plan}"
    );
    for c in [&theirs, &attacker] {
        assert!(
            plan.contains(&format!(
                "candidate:     {c} (from vault tags (ProviderAddress, CredentialId))"
            )),
            "{c}: {plan}"
        );
    }
    unchanged("the plan");

    let out = run(mapped_args(true)).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no vault secret chosen"), "{stderr}");
    assert!(
        stderr.contains(&attacker),
        "the plan on stderr names it: {stderr}"
    );
    unchanged("rotate --yes");

    let out = run(crate::rotation::rotate_argv(s)).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = env.emu.state();
    let latest = crate::rotation::latest_version(&state, &s.secret);
    assert_ne!(latest["value"].as_str(), Some(env.initial_value.as_str()));
    assert_eq!(
        crate::rotation::versions(&state, "attacker-copy").len(),
        1,
        "the other candidate is untouched"
    );
}
