//! Access reviews as a reviewer runs them: `keyturn review` in a real terminal (tmux) against the emulated demo
//! tenant, decisions typed at its prompts, quit and resumed by another person, then `keyturn review export` in every
//! format; plus the record's scope and its inert text.
use super::e2e_tmux::{EmulatorProcess, Tmux, require_tmux, shell};
use serde_json::Value;

/// A tmux shell signed in to the emulator as `user` (no profile `operator`: the reviewer is `user@host`).
fn reviewer_shell(home: &std::path::Path, emu: &EmulatorProcess, user: &str) -> Tmux {
    let vars = [
        ("AZURE_TENANT_ID", emu.s("tenantId")),
        ("AZURE_CLIENT_ID", emu.s("clientId")),
        ("AZURE_CLIENT_SECRET", emu.s("clientSecret")),
        ("AZURE_AUTHORITY_HOST", emu.s("authorityHost")),
        ("KEYTURN_GRAPH_URL", emu.s("graphUrl")),
        ("KEYTURN_CA_CERT", emu.s("caCert")),
        ("USER", user.to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tmux = Tmux::start_with(home, &vars);
    shell(&tmux);
    tmux
}

/// The app name on the card being asked about: the line after `[i/N] … left ───`.
fn current_app(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let i = lines
        .iter()
        .rposition(|l| l.starts_with('[') && l.contains(" left ─"))
        .expect("a card header");
    lines[i + 1]
        .split("  (appId ")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

fn asking(s: &str) -> bool {
    s.lines()
        .last_non_empty()
        .is_some_and(|l| l.starts_with("decision: [k]eep"))
}

trait LastNonEmpty<'a> {
    fn last_non_empty(self) -> Option<&'a str>;
}

impl<'a, I: DoubleEndedIterator<Item = &'a str>> LastNonEmpty<'a> for I {
    fn last_non_empty(mut self) -> Option<&'a str> {
        self.rfind(|l| !l.trim().is_empty())
    }
}

/// Answer the prompt for the current app; returns its name.
fn decide(tmux: &Tmux, key: &str, note: &str, expect: &str) -> String {
    let screen = tmux.wait_for("the decision prompt", asking);
    let app = current_app(&screen);
    tmux.type_text(key);
    tmux.key("Enter");
    tmux.wait_for("the note prompt", |s| {
        s.lines()
            .last_non_empty()
            .is_some_and(|l| l.starts_with("note (optional"))
    });
    tmux.type_text(note);
    tmux.key("Enter");
    tmux.wait_for("the decision to be recorded", |s| {
        s.contains(&format!("recorded: {expect} ("))
    });
    app
}

#[test]
fn a_review_is_recorded_quit_resumed_by_another_reviewer_and_exported_with_its_facts() {
    if !require_tmux(
        "a_review_is_recorded_quit_resumed_by_another_reviewer_and_exported_with_its_facts",
    ) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(home.path());
    let state = emu.state();
    let now = chrono::Utc::now();

    // Alice starts a review of the expired apps, decides two, and quits.
    let alice = reviewer_shell(home.path(), &emu, "alice");
    alice.type_text(&format!(
        "{} review --status expired",
        env!("CARGO_BIN_EXE_keyturn")
    ));
    alice.key("Enter");
    let first = decide(&alice, "k", "owner confirmed it is unused", "keep");
    let second = decide(&alice, "r", "", "rotate");
    alice.wait_for("the next card", asking);
    alice.type_text("q");
    alice.key("Enter");
    let paused = alice.wait_for("the pause", |s| s.contains(" paused: 2 of "));
    assert!(paused.contains("resumes it"), "{paused}");
    drop(alice);

    // Bob resumes the same review (same data dir: the same machine, another person) and escalates the next one.
    let bob = reviewer_shell(home.path(), &emu, "bob");
    bob.type_text(&format!(
        "{} review --status expired",
        env!("CARGO_BIN_EXE_keyturn")
    ));
    bob.key("Enter");
    let resumed = bob.wait_for("the resumed review", asking);
    assert!(resumed.contains("resuming review 1"), "{resumed}");
    assert!(resumed.contains(": 2 of "), "{resumed}");
    assert!(
        !resumed.contains(&format!("{first}  (appId")),
        "decided apps are not asked again"
    );
    let third = decide(&bob, "e", "ask the owners | why", "escalate");
    bob.wait_for("the next card", asking);
    bob.type_text("q");
    bob.key("Enter");
    bob.wait_for("the pause", |s| s.contains(" paused: 3 of "));

    // The export has every decision, who took it, and the facts as the tenant holds them.
    let out = bob.keyturn(&["review", "export", "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("export JSON");
    let decisions = doc["decisions"].as_array().unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = decisions
        .iter()
        .map(|d| {
            (
                d["displayName"].as_str().unwrap(),
                d["decision"].as_str().unwrap(),
                d["note"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (first.as_str(), "keep", Some("owner confirmed it is unused")),
            (second.as_str(), "rotate", None),
            (third.as_str(), "escalate", Some("ask the owners | why")),
        ]
    );
    assert!(
        decisions[0]["reviewer"]
            .as_str()
            .unwrap()
            .starts_with("alice@")
    );
    assert!(
        decisions[2]["reviewer"]
            .as_str()
            .unwrap()
            .starts_with("bob@")
    );
    for d in decisions {
        let app = state["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == d["appObjectId"])
            .expect("the decided app is in the tenant");
        let facts = &d["facts"];
        assert_eq!(facts["status"], "expired", "{d}");
        // Days left from the tenant's own end dates: the soonest end, floored.
        let soonest = ["passwordCredentials", "keyCredentials"]
            .iter()
            .flat_map(|k| app[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["endDateTime"].as_str().map(str::to_string))
            .map(|e| chrono::DateTime::parse_from_rfc3339(&e).unwrap())
            .min()
            .unwrap();
        let want = (soonest.timestamp() - now.timestamp()).div_euclid(86_400);
        let days = facts["daysLeft"].as_i64().unwrap();
        assert!((days - want).abs() <= 1, "{days} vs {want}: {d}");
        assert_eq!(
            facts["owners"].as_array().unwrap().len(),
            app["owners"].as_array().unwrap().len(),
            "{d}"
        );
    }
    assert_eq!(doc["session"]["finishedAt"], Value::Null);
    let total = doc["session"]["apps"].as_u64().unwrap() as usize;
    assert_eq!(doc["undecided"].as_array().unwrap().len(), total - 3);

    // Markdown and CSV carry the same decisions; a note's pipe does not break the table.
    let md =
        String::from_utf8(bob.keyturn(&["review", "export", "--format", "md"]).stdout).unwrap();
    for name in [&first, &second, &third] {
        assert!(md.contains(name.as_str()), "{md}");
    }
    assert!(md.contains("ask the owners \\| why"), "{md}");
    let csv = bob.keyturn(&["review", "export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[2][6], "escalate");
    assert_eq!(&rows[2][7], "ask the owners | why");

    // The record is private to the user, like the journal.
    use std::os::unix::fs::PermissionsExt;
    let record = std::path::PathBuf::from(bob.env_value("XDG_DATA_HOME"))
        .join("keyturn")
        .join(keyturn::review::store::REVIEW_FILE);
    let mode = std::fs::metadata(&record).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", record.display());
}
