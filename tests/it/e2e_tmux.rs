//! End to end: the real `keyturn demo` binary in a real terminal (tmux), driven by keys and read off the screen.
//! It proves what unit tests cannot: the emulator, TLS, sign-in, loading, input, rendering and terminal restore
//! work together. The demo tenant's content may change; the test reads what it needs from the screen.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

/// A private tmux server (its own socket), killed on drop whatever the test's outcome.
pub(crate) struct Tmux {
    socket: String,
    env: Vec<(String, String)>,
    /// Every screen read during the test, for the secret-hygiene check.
    captures: std::cell::RefCell<Vec<String>>,
}

impl Tmux {
    pub(crate) fn start(home: &Path) -> Tmux {
        Self::start_with(home, &[])
    }

    /// `extra` environment for the shell (and so for keyturn), on top of the isolated HOME and XDG dirs.
    pub(crate) fn start_with(home: &Path, extra: &[(&str, &str)]) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "keyturn-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = |name: &str| {
            let p = home.join(name);
            std::fs::create_dir_all(&p).unwrap();
            p.display().to_string()
        };
        // Nothing of the developer's own configuration, keyring or state may leak in, nor out.
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            ("XDG_CONFIG_HOME".into(), dir("config")),
            ("XDG_DATA_HOME".into(), dir("data")),
            ("XDG_STATE_HOME".into(), dir("state")),
            ("XDG_CACHE_HOME".into(), dir("cache")),
            ("TERM".into(), "xterm-256color".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let t = Tmux {
            socket,
            env,
            captures: Default::default(),
        };
        let w = WIDTH.to_string();
        let h = HEIGHT.to_string();
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &h,
            "bash --norc --noprofile",
        ]);
        t
    }

    /// Keep every byte the pane's program writes to the terminal, appended to `file` (tmux pipe-pane).
    pub(crate) fn pipe_pane(&self, file: &Path) {
        self.run(&[
            "pipe-pane",
            "-t",
            "e2e",
            "-o",
            &format!("cat >> {}", file.display()),
        ]);
    }

    pub(crate) fn stop_pipe_pane(&self) {
        self.run(&["pipe-pane", "-t", "e2e"]);
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub(crate) fn screen(&self) -> String {
        let s = String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "e2e"]).stdout)
            .into_owned();
        self.captures.borrow_mut().push(s.clone());
        s
    }

    pub(crate) fn env_value(&self, name: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Run `keyturn ARGS` outside tmux with the same environment (same HOME and XDG dirs).
    pub(crate) fn keyturn(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyturn"))
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .output()
            .expect("run keyturn")
    }

    /// Literal text, then no Enter.
    pub(crate) fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "e2e", "-l", text]);
    }

    /// A named key: Enter, Escape, ...
    pub(crate) fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "e2e", key]);
    }

    fn flags(&self) -> String {
        let out = self.run(&[
            "display-message",
            "-p",
            "-t",
            "e2e",
            "#{alternate_on} #{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Poll the screen until `ok` holds; fail with the last screen shown.
    pub(crate) fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; the screen was:\n{screen}\nlog: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let state = self
            .env
            .iter()
            .find(|(k, _)| k == "XDG_STATE_HOME")
            .map(|(_, v)| PathBuf::from(v));
        let Some(state) = state else {
            return String::new();
        };
        let mut found = String::new();
        for entry in walk(&state) {
            if entry.extension().is_some_and(|e| e == "log")
                && let Ok(text) = std::fs::read_to_string(&entry)
            {
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                found.push_str(&format!("{}:\n{tail}\n", entry.display()));
            }
        }
        found
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The line of the selected row in the list.
fn selected_line(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.starts_with("▶ "))
}

/// "12 of 40 apps" in the list's title line -> (12, 40).
pub(crate) fn shown_of_total(screen: &str) -> Option<(usize, usize)> {
    let title = screen.lines().nth(2)?;
    let mut words = title.split_whitespace();
    let shown = words.next()?.replace(',', "").parse().ok()?;
    if words.next()? != "of" {
        return None;
    }
    let total = words.next()?.replace(',', "").parse().ok()?;
    Some((shown, total))
}

/// The app name in a list row: after the selection mark (2), status (10) and days (5) columns and their gaps.
fn row_name(line: &str) -> String {
    let rest: String = line.chars().skip(19).collect();
    rest.split("  ").next().unwrap_or("").trim().to_string()
}

/// The `Nd` days cell of a list or credential row.
fn days_cell(line: &str) -> Option<i64> {
    line.split_whitespace()
        .find_map(|w| w.strip_suffix('d')?.parse().ok())
}

/// `(n)` after a pane title like "Owners (2)".
fn pane_count(screen: &str, title: &str) -> Option<usize> {
    let at = screen.find(title)? + title.len();
    let rest = screen[at..].strip_prefix(" (")?;
    rest.split(')').next()?.parse().ok()
}

pub(crate) fn loaded(screen: &str) -> bool {
    screen.contains(" loaded ") && selected_line(screen).is_some()
}

#[test]
fn demo_in_tmux() {
    if !require_tmux("demo_in_tmux") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(home.path());
    // Set the prompt by hand: bash ignores PS1 from the environment in some setups. The quotes keep the echoed
    // command line itself from matching.
    tmux.type_text("PS1='e2e''$ '");
    tmux.key("Enter");
    tmux.wait_for("the shell prompt", |s| s.contains("e2e$"));

    tmux.type_text(&format!("{} demo", env!("CARGO_BIN_EXE_keyturn")));
    tmux.key("Enter");
    let screen = tmux.wait_for("the app list to load", loaded);

    // The most urgent app is on top: one that stopped working (broken) or soon will (critical).
    let first = selected_line(&screen).unwrap();
    assert!(
        first.contains("broken") || first.contains("critical"),
        "first row should be broken or critical:\n{screen}"
    );
    let flags = tmux.flags();
    let (alternate, mouse) = flags.split_once(' ').unwrap_or_default();
    assert!(
        alternate == "1" && mouse.contains('1'),
        "alternate screen and mouse capture expected while running, got {flags:?}"
    );

    // `?` shows the help, Esc closes it.
    tmux.type_text("?");
    tmux.wait_for("the help", |s| {
        s.contains("This view (app list)") && s.contains("Log file:")
    });
    tmux.key("Escape");
    tmux.wait_for("the help to close", |s| !s.contains("This view (app list)"));

    // `/` narrows the list as one types.
    let (_, total) = shown_of_total(&screen).expect("title shows 'N of M apps'");
    let name = row_name(first);
    assert!(!name.is_empty(), "no name in {first:?}");
    tmux.type_text("/");
    tmux.type_text(&name);
    // The whole frame, status line included: a capture can catch the terminal mid-redraw.
    tmux.wait_for("the filter to narrow the list", |s| {
        shown_of_total(s).is_some_and(|(shown, t)| t == total && shown < total && shown >= 1)
            && selected_line(s).is_some_and(|l| l.contains(&name))
            && s.contains(&format!("/{name}"))
    });
    tmux.key("Escape");
    tmux.wait_for("the filter to clear", |s| {
        shown_of_total(s) == Some((total, total))
    });

    // `T` shows the expiry timeline (13 weeks, each labelled), Esc comes back to the list.
    tmux.type_text("T");
    let s = tmux.wait_for("the expiry timeline", |s| {
        s.contains("Expiry timeline")
            && s.contains("13 ")
            && s.contains("credentials end in 91 days")
    });
    assert!(
        s.contains("▲ ") || s.contains("● ") || s.contains("✔ "),
        "{s}"
    );
    tmux.key("Escape");
    tmux.wait_for("the list", |s| s.contains("sort: coverage ends"));

    // Days left are one number in the list and the detail view: the demo's Run As certificate ended 365 days
    // before the emulator started (a whole second), so any instant after that start is -366 days, rounded down.
    tmux.type_text("/Automation RunAs");
    let s = tmux.wait_for("the Run As app alone", |s| {
        shown_of_total(s).is_some_and(|(shown, _)| shown == 1)
            && selected_line(s).is_some_and(|l| l.contains("Azure Automation RunAs"))
    });
    let list_days = days_cell(selected_line(&s).unwrap());
    tmux.key("Enter"); // keeps the filter
    tmux.wait_for("the filter kept", |s| !s.contains("/Automation RunAs"));
    tmux.key("Enter");
    let s = tmux.wait_for("the Run As detail", |s| {
        detail_loaded(s) && selected_credential(s).is_some()
    });
    let detail_days = days_cell(selected_credential(&s).unwrap());
    assert_eq!((list_days, detail_days), (Some(-366), Some(-366)), "{s}");
    tmux.key("Escape");
    tmux.wait_for("the list", |s| s.contains("sort:"));
    tmux.key("Escape");
    tmux.wait_for("the filter to clear", |s| {
        shown_of_total(s) == Some((total, total))
    });

    // Enter shows owners and audit events; walk down until an app has both (the demo has apps with neither).
    let mut detail = None;
    for _ in 0..12 {
        tmux.key("Enter");
        let s = tmux.wait_for("owners and audit events to load", |s| {
            s.contains("Credentials (")
                && !s.contains("loading owners")
                && !s.contains("loading audit events")
        });
        let owners = pane_count(&s, "Owners").unwrap_or(0);
        let events = pane_count(&s, "Audit events, last 30 days").unwrap_or(0);
        if owners > 0 && events > 0 {
            detail = Some(s);
            break;
        }
        tmux.key("Escape");
        tmux.wait_for("the list", |s| s.contains("sort:"));
        tmux.type_text("j");
    }
    let detail = detail.expect("no app in the first 12 rows had both owners and audit events");
    assert!(
        detail.lines().any(|l| l.contains('@')),
        "an owner's UPN should show:\n{detail}"
    );
    assert!(
        detail.lines().any(|l| l.trim_start().starts_with("by ")),
        "an audit event's initiator should show:\n{detail}"
    );
    tmux.key("Escape");
    tmux.wait_for("the list", |s| s.contains("sort:"));

    // `q` quits; the terminal is the shell's again: main screen, no mouse capture, a working prompt.
    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        !s.contains("sort:") && s.contains("e2e$")
    });
    assert_eq!(tmux.flags(), "0 000", "terminal not restored after quit");
    tmux.type_text("echo e2e-shell-$((6*7))");
    tmux.key("Enter");
    tmux.wait_for("the shell to run a command", |s| s.contains("e2e-shell-42"));
}

/// Without tmux the test fails with the reason, or is skipped with a banner under `KEYTURN_TEST_SKIP=tmux`.
pub(crate) fn require_tmux(test: &str) -> bool {
    if tmux_available() {
        return true;
    }
    crate::support::prerequisite_missing(
        "tmux",
        test,
        "tmux is not installed (apt-get install tmux; .ci/run installs it)",
    );
    false
}

/// A shell with a recognisable prompt.
pub(crate) fn shell(tmux: &Tmux) {
    tmux.type_text("PS1='e2e''$ '");
    tmux.key("Enter");
    tmux.wait_for("the shell prompt", |s| s.contains("e2e$"));
}

/// The selected credential's row in the detail view.
fn selected_credential(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.starts_with("▶ secret") || l.starts_with("▶ cert"))
}

/// The app's name from the detail view's title line: ` NAME · app registration · appId …`.
fn detail_name(screen: &str) -> Option<String> {
    let line = screen
        .lines()
        .find(|l| l.contains(" · app registration · appId "))?;
    Some(line.split(" · app registration").next()?.trim().to_string())
}

/// `New keyId    GUID` on the result view.
fn new_key_id(screen: &str) -> Option<String> {
    let line = screen
        .lines()
        .find(|l| l.trim_start().starts_with("New keyId"))?;
    Some(line.split_whitespace().nth(2)?.to_string())
}

fn detail_loaded(s: &str) -> bool {
    s.contains("Credentials (")
        && !s.contains("loading owners")
        && !s.contains("loading audit events")
}

/// On the plan screen: type the app's name, Tab to Confirm, Enter; wait for the result view.
fn approve_and_wait(tmux: &Tmux, name: &str) -> String {
    tmux.wait_for("the plan screen", |s| {
        s.contains(&format!("Type {name} to approve")) && s.contains("[ Confirm ]")
    });
    tmux.type_text(name);
    tmux.wait_for("the typed name to be accepted", |s| {
        s.lines()
            .any(|l| l.starts_with(" > ") && l.contains(name) && l.contains('✔'))
    });
    tmux.key("Tab");
    tmux.key("Enter");
    // The whole result view: a capture can catch the terminal mid-redraw.
    tmux.wait_for("the rotation's result", |s| {
        s.lines()
            .any(|l| l.starts_with(" Rotation ") && l.contains(" · "))
            && s.contains("keyturn journal show")
            && (s.contains("New keyId") || s.contains(" ✖ ") || s.contains(" ⚠ "))
    })
}

#[test]
fn demo_rotation_in_tmux() {
    if !require_tmux("demo_rotation_in_tmux") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(home.path());
    shell(&tmux);
    tmux.type_text(&format!("{} demo", env!("CARGO_BIN_EXE_keyturn")));
    tmux.key("Enter");
    tmux.wait_for("the app list to load", loaded);

    // Walk down the list to the first app whose selected secret is stored in the demo vault.
    let mut found = None;
    for _ in 0..25 {
        tmux.key("Enter");
        let s = tmux.wait_for("the detail view", detail_loaded);
        if let Some(line) = selected_credential(&s)
            && line.starts_with("▶ secret")
            && !line.trim_end().ends_with('–')
        {
            found = Some(s);
            break;
        }
        tmux.key("Escape");
        tmux.wait_for("the list", |s| s.contains("sort:"));
        tmux.type_text("j");
    }
    let detail = found.expect("no app in the first 25 rows has a secret stored in the demo vault");
    let name = detail_name(&detail).expect("the detail view names the app");
    let old = selected_credential(&detail).unwrap().to_string();

    tmux.type_text("r");
    let result = approve_and_wait(&tmux, &name);
    assert!(
        result.contains("✔ Done: the new secret is on the app, in the vault and verified"),
        "{result}"
    );
    let new_key = new_key_id(&result).expect("the result view shows the new keyId");
    assert!(result.contains("removed from the app"), "{result}");

    // Back in the detail view the new secret shows, stored in the vault, and the old one is gone.
    tmux.key("Escape");
    // The app and the vault's "stored in" are read again separately: wait for both.
    let after = tmux.wait_for(
        "the new secret, stored in the vault, in the detail view",
        |s| {
            selected_credential(s)
                .is_some_and(|l| l.contains(&new_key[..8]) && !l.trim_end().ends_with('–'))
        },
    );
    assert!(!after.contains(&old), "the old secret is gone: {after}");

    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        !s.contains("sort:") && s.contains("e2e$")
    });

    // The demo's own journal has the rotation, Done; the real journal (what `keyturn journal` shows and every
    // real start resumes from) has nothing of the emulated tenant's.
    let data = std::path::PathBuf::from(tmux.env_value("XDG_DATA_HOME")).join("keyturn");
    let demo =
        keyturn::store::Journal::open(&data.join(keyturn::store::journal::DEMO_JOURNAL_FILE))
            .expect("the demo journal");
    let entries = demo.list(10).expect("demo journal entries");
    let entry = entries
        .iter()
        .find(|e| e.new_key_id.as_ref().map(|k| k.as_str()) == Some(new_key.as_str()))
        .unwrap_or_else(|| panic!("rotation to {new_key} not in the demo journal: {entries:?}"));
    assert_eq!(
        entry.state_kind,
        keyturn::rotation::StateKind::Done,
        "{entry:?}"
    );
    let out = tmux.keyturn(&["journal", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("journal JSON");
    assert!(
        !list.to_string().contains(new_key.as_str()),
        "a demo rotation leaked into the real journal: {list}"
    );
}

/// The continuity promise as a person sees it: the demo rotates a secret with days left, the progress view shows
/// the wait for Entra to accept the new secret, and afterwards the old secret is a pending removal: named with its
/// due date on the result, counted in the header, marked in the list, listed by `P`, and journaled.
#[test]
fn demo_rotation_waits_for_entra_and_keeps_the_old_secret_pending() {
    if !require_tmux("demo_rotation_waits_for_entra_and_keeps_the_old_secret_pending") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(home.path());
    shell(&tmux);
    // A longer refusal than the demo's default 5 s: on a loaded machine the vault write and read-back can take
    // longer than 5 s, and the proof would then succeed before the wait could be seen.
    tmux.type_text(&format!(
        "{} demo --propagation-delay-secs 12",
        env!("CARGO_BIN_EXE_keyturn")
    ));
    tmux.key("Enter");
    tmux.wait_for("the app list to load", loaded);

    // The first app whose selected secret is stored in the demo vault and has not expired (an expired old
    // secret is removed once the new one is proven: nothing can be using it).
    let mut found = None;
    for _ in 0..40 {
        tmux.key("Enter");
        let s = tmux.wait_for("the detail view", detail_loaded);
        if let Some(line) = selected_credential(&s)
            && line.starts_with("▶ secret")
            && !line.trim_end().ends_with('–')
            && !line.contains("expired")
        {
            found = Some(s);
            break;
        }
        tmux.key("Escape");
        tmux.wait_for("the list", |s| s.contains("sort:"));
        tmux.type_text("j");
    }
    let detail =
        found.expect("no app in the first 40 rows has an unexpired secret in the demo vault");
    let name = detail_name(&detail).expect("the detail view names the app");
    let old_line = selected_credential(&detail).unwrap().to_string();
    // `▶ secret NAME KEYID8 START END DAYS …`: the short keyId is the first 8-hex-digit word.
    let old_short = old_line
        .split_whitespace()
        .find(|w| w.len() == 8 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("the credential row shows the short keyId")
        .to_string();
    assert!(
        !detail.contains("pending removal"),
        "nothing is pending before the rotation: {detail}"
    );

    let is_date = |w: &&str| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-';
    let old_end = old_line
        .split_whitespace()
        .filter(is_date)
        .nth(1)
        .expect("the credential row shows start and end dates")
        .to_string();

    tmux.type_text("r");
    let plan = tmux.wait_for("the plan screen", |s| {
        s.contains(&format!("Type {name} to approve")) && s.contains("[ Confirm ]")
    });
    // The default keeps the old secret, never past its own end, and the plan says the date that will happen.
    let keep = plan
        .lines()
        .find(|l| l.trim_start().starts_with("Keep old"))
        .expect("the plan shows the old secret's disposition");
    let until = keep
        .split_whitespace()
        .rfind(is_date)
        .unwrap_or_else(|| panic!("the plan says until when: {keep}"));
    assert!(keep.contains("keep it until"), "{keep}");
    assert!(
        until <= old_end.as_str(),
        "{keep} (the old secret ends {old_end})"
    );
    tmux.type_text(&name);
    tmux.wait_for("the typed name to be accepted", |s| {
        s.lines()
            .any(|l| l.starts_with(" > ") && l.contains(&name) && l.contains('✔'))
    });
    tmux.key("Tab");
    tmux.key("Enter");
    // The demo's emulator refuses a new secret for a few seconds, as Entra does while it propagates.
    let waiting = tmux.wait_for("the wait for Entra in the progress view", |s| {
        s.contains("waiting for Entra to accept the new secret: ")
    });
    assert!(waiting.contains("sign in"), "{waiting}");
    let result = tmux.wait_for("the rotation's result", |s| {
        s.lines()
            .any(|l| l.starts_with(" Rotation ") && l.contains(" · "))
            && s.contains("keyturn journal show")
            && (s.contains("New keyId") || s.contains(" ✖ ") || s.contains(" ⚠ "))
    });
    assert!(result.contains("✔ Done:"), "{result}");
    let new_key = new_key_id(&result).expect("the result view shows the new keyId");
    let old_row = result
        .lines()
        .find(|l| l.trim_start().starts_with("Old keyId"))
        .unwrap_or_else(|| panic!("the result names the old keyId: {result}"));
    assert!(old_row.contains(&old_short), "{old_row}");
    assert!(
        old_row.contains("pending removal after 20") && old_row.contains("keyturn cleanup"),
        "{old_row}"
    );
    assert!(!result.contains("removed from the app"), "{result}");

    // Back in the app: both secrets, and the header counts one pending removal.
    tmux.key("Escape");
    let after = tmux.wait_for("both secrets in the detail view", |s| {
        s.contains(&old_short) && s.contains(&new_key[..8]) && detail_loaded(s)
    });
    assert!(after.contains("⌛ 1 pending removal (P)"), "{after}");
    tmux.key("Escape");
    let list = tmux.wait_for("the list with the app marked", |s| {
        s.contains("sort:") && s.lines().any(|l| l.contains(&name) && l.contains('⌛'))
    });
    assert!(list.contains("⌛ 1 pending removal (P)"), "{list}");
    tmux.type_text("P");
    let pending = tmux.wait_for("the pending removals list", |s| {
        s.contains("Old secrets waiting for removal")
    });
    assert!(
        pending.contains(&format!("old secret {old_short}")) && pending.contains("due"),
        "{pending}"
    );
    tmux.key("Escape");
    // Wait for the popup to close: an Escape followed at once by `q` reads as Alt-q.
    tmux.wait_for("the popup to close", |s| {
        !s.contains("Old secrets waiting for removal") && s.contains("sort:")
    });
    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        !s.contains("sort:") && s.contains("e2e$")
    });

    // The journal agrees: proven, the old secret a pending removal until a date in the future.
    let data = std::path::PathBuf::from(tmux.env_value("XDG_DATA_HOME")).join("keyturn");
    let demo =
        keyturn::store::Journal::open(&data.join(keyturn::store::journal::DEMO_JOURNAL_FILE))
            .expect("the demo journal");
    let entry = demo
        .list(10)
        .expect("demo journal entries")
        .into_iter()
        .find(|e| e.new_key_id.as_ref().map(|k| k.as_str()) == Some(new_key.as_str()))
        .expect("the rotation is in the demo journal");
    assert_eq!(
        entry.state_kind,
        keyturn::rotation::StateKind::OldRemovalPending
    );
    assert!(entry.proven_at.is_some(), "{entry:?}");
    assert!(
        entry.old_key_id.as_str().starts_with(&old_short),
        "{entry:?}"
    );
    let keep = entry.keep_until.expect("the old secret is kept");
    assert!(keep > chrono::Utc::now(), "{entry:?}");
    assert!(entry.old_end.is_none_or(|end| keep <= end), "{entry:?}");
}

/// `keyturn emulator --state` as a subprocess, killed on drop.
pub(crate) struct EmulatorProcess {
    child: std::process::Child,
    pub(crate) ready: serde_json::Value,
}

impl EmulatorProcess {
    pub(crate) fn start(home: &Path) -> EmulatorProcess {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyturn"))
            .args(["emulator", "--state"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TMPDIR", home)
            .env("XDG_CONFIG_HOME", home.join("emulator-config"))
            .env("XDG_STATE_HOME", home.join("emulator-state"))
            .env("XDG_DATA_HOME", home.join("emulator-data"))
            .env("XDG_CACHE_HOME", home.join("emulator-cache"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start keyturn emulator");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the emulator's ready line");
        let ready = serde_json::from_str(&line).expect("the ready line is JSON");
        EmulatorProcess { child, ready }
    }

    pub(crate) fn s(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap_or_default().to_string()
    }

    /// `GET {graphUrl}/_emulator/state`: the whole tenant and vault, secret values included.
    pub(crate) fn state(&self) -> serde_json::Value {
        let url = format!("{}/_emulator/state", self.s("graphUrl"));
        let ca = PathBuf::from(self.s("caCert"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = keyturn::net::http_client(&keyturn::net::HttpOptions {
                ca_cert: Some(ca),
                timeout: Some(WAIT),
            })
            .expect("a client trusting the emulator's CA");
            let resp = client
                .get(&url)
                .send()
                .await
                .expect("the state route answers");
            assert!(resp.status().is_success(), "state route: {}", resp.status());
            resp.json().await.expect("state JSON")
        })
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The new secret's value must never leave the engine: rotate through the interactive TUI (`keyturn`, with a
/// config-file mapping), then look for the value, read from the emulator's state, everywhere keyturn writes.
#[test]
fn rotation_secret_hygiene_in_tmux() {
    if !require_tmux("rotation_secret_hygiene_in_tmux") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(home.path());
    let vault = emu.ready["vaultUrls"][0].as_str().unwrap().to_string();
    let state = emu.state();

    // An app with client secrets only, not mapped by the vault's tags, whose name no service principal shares:
    // the config file maps it to a secret that does not exist yet.
    let mapped_by_tags: Vec<&str> = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["versions"].as_array()?.last()?["tags"]["ProviderAddress"].as_str())
        .collect();
    // Service principals are listed only when they have credentials of their own.
    let has = |v: &serde_json::Value, k: &str| v[k].as_array().is_some_and(|l| !l.is_empty());
    let sp_names: Vec<&str> = state["servicePrincipals"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|s| has(s, "passwordCredentials") || has(s, "keyCredentials"))
                .filter_map(|s| s["displayName"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            let name = a["displayName"].as_str().unwrap_or("");
            a["passwordCredentials"]
                .as_array()
                .is_some_and(|p| p.len() == 1)
                && a["keyCredentials"].as_array().is_none_or(|k| k.is_empty())
                && !mapped_by_tags.contains(&a["id"].as_str().unwrap_or(""))
                && !sp_names.contains(&name)
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        })
        .expect("the demo tenant has an unmapped app with one client secret");
    let name = app["displayName"].as_str().unwrap().to_string();
    let app_id = app["appId"].as_str().unwrap().to_string();
    let secret_name = "keyturn-e2e-hygiene";

    let config = home.path().join("keyturn-e2e.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nvaults = [\"{vault}\"]\noperator = \"e2e\"\n\n[[profiles.default.mappings]]\napp = \"{app_id}\"\nvault = \"{vault}\"\nsecret = \"{secret_name}\"\n"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let (tenant, client, secret, authority, graph, ca) = (
        emu.s("tenantId"),
        emu.s("clientId"),
        emu.s("clientSecret"),
        emu.s("authorityHost"),
        emu.s("graphUrl"),
        emu.s("caCert"),
    );
    let tmux = Tmux::start_with(
        home.path(),
        &[
            ("AZURE_TENANT_ID", &tenant),
            ("AZURE_CLIENT_ID", &client),
            ("AZURE_CLIENT_SECRET", &secret),
            ("AZURE_AUTHORITY_HOST", &authority),
            ("KEYTURN_GRAPH_URL", &graph),
            ("KEYTURN_CA_CERT", &ca),
            ("KEYTURN_CONFIG", &config),
            ("KEYTURN_LOG", "trace"),
        ],
    );
    shell(&tmux);
    // Every byte keyturn writes to the terminal, and its stderr, are kept for the check.
    let pane_log = home.path().join("pane.out");
    let stderr_log = home.path().join("stderr.out");
    tmux.run(&[
        "pipe-pane",
        "-t",
        "e2e",
        "-o",
        &format!("cat >> {}", pane_log.display()),
    ]);
    tmux.type_text(&format!(
        "{} 2>{}",
        env!("CARGO_BIN_EXE_keyturn"),
        stderr_log.display()
    ));
    tmux.key("Enter");
    tmux.wait_for("the app list to load", loaded);

    tmux.type_text("/");
    tmux.type_text(&name);
    tmux.key("Enter");
    tmux.wait_for("the filtered list", |s| {
        selected_line(s).is_some_and(|l| l.contains(&name))
    });
    tmux.key("Enter");
    tmux.wait_for("the detail view", |s| {
        detail_loaded(s) && selected_credential(s).is_some_and(|l| l.starts_with("▶ secret"))
    });
    tmux.type_text("r");
    let plan = tmux.wait_for("the plan", |s| {
        s.contains("to approve") && s.contains("found in:") && s.contains("Approver")
    });
    assert!(plan.contains("found in: config file"), "{plan}");
    assert!(plan.contains("does not exist yet"), "{plan}");
    let result = approve_and_wait(&tmux, &name);
    assert!(result.contains("✔ Done:"), "{result}");
    let new_key = new_key_id(&result).expect("the result view shows the new keyId");
    tmux.key("Escape");
    // The old secret is kept (pending removal), so the new one is listed beside it.
    tmux.wait_for("the new secret in the detail view", |s| {
        s.lines()
            .any(|l| l.contains(" secret ") && l.contains(&new_key[..8]))
    });
    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        !s.contains("sort:") && s.contains("e2e$")
    });
    tmux.run(&["pipe-pane", "-t", "e2e"]);

    // The new value, as only the emulator can tell: on the app (secretText) and in the vault (latest version).
    let state = emu.state();
    let value = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["passwordCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["keyId"].as_str() == Some(new_key.as_str()))
        .and_then(|c| c["secretText"].as_str().map(str::to_string))
        .expect("the emulator knows the new secret's value");
    let stored = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == secret_name)
        .and_then(|s| {
            s["versions"].as_array()?.last()?["value"]
                .as_str()
                .map(str::to_string)
        })
        .expect("the mapped vault secret was created");
    assert_eq!(stored, value, "the vault holds the new value");
    assert!(value.len() >= 16, "a real secret value: {}", value.len());

    let captures = tmux.captures.borrow();
    assert!(captures.len() > 10, "screens were read during the flow");
    for (i, screen) in captures.iter().enumerate() {
        assert!(
            !screen.contains(&value),
            "the secret is on screen capture {i}"
        );
    }
    let mut checked = Vec::new();
    let mut files = vec![pane_log.clone(), stderr_log.clone()];
    for dir in [
        "XDG_STATE_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
    ] {
        files.extend(walk(Path::new(&tmux.env_value(dir))));
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let hit = bytes.windows(value.len()).any(|w| w == value.as_bytes());
        assert!(!hit, "the new secret's value is in {}", f.display());
        checked.push(f);
    }
    let log = Path::new(&tmux.env_value("XDG_STATE_HOME")).join("keyturn/keyturn.log");
    let log_text = std::fs::read_to_string(&log).expect("the trace log exists");
    assert!(
        log_text.contains("TRACE") || log_text.contains("trace"),
        "the log is at trace level"
    );
    assert!(
        checked
            .iter()
            .any(|f| f.starts_with(tmux.env_value("XDG_DATA_HOME"))
                && f.to_string_lossy().contains("keyturn")),
        "the journal files were checked: {checked:?}"
    );
    assert!(
        std::fs::metadata(&pane_log).is_ok_and(|m| m.len() > 1000),
        "the terminal output was recorded"
    );
}

/// Every file and directory under keyturn's own data and state directories, with its permission bits.
fn private_tree(home: &Path) -> Vec<(PathBuf, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(p: &Path, out: &mut Vec<(PathBuf, u32, bool)>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return; // removed meanwhile (SQLite's -shm/-wal on close)
        };
        out.push((
            p.to_path_buf(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(p).unwrap().flatten() {
                walk(&entry.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for base in ["data", "state", "config", "cache"] {
        walk(&home.join(base).join("keyturn"), &mut out);
    }
    out
}

fn assert_private(home: &Path, when: &str) -> Vec<String> {
    let tree = private_tree(home);
    for (path, mode, dir) in &tree {
        let want = if *dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{when}: {} is {mode:o}", path.display());
    }
    tree.iter()
        .filter(|(_, _, dir)| !dir)
        .filter_map(|(p, _, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// Item 5 of issue 16: a rotation, a check and a TUI run with the real binary; every file keyturn created is 0600
/// and every directory 0700, looked at while the TUI runs (SQLite's -wal and -shm exist then) and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_keyturn_creates_is_private() {
    if !require_tmux("every_file_keyturn_creates_is_private") {
        return;
    }
    let env = crate::rotation::env().await;
    let home = tempfile::tempdir().unwrap();
    let out = crate::rotation::keyturn_cmd(&env.info, home.path())
        .args(crate::rotation::rotate_argv(&env.subject))
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = crate::rotation::keyturn_cmd(&env.info, home.path())
        .arg("check")
        .output()
        .await
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = assert_private(home.path(), "after rotate and check");
    for name in ["journal.sqlite3", "keyturn.log"] {
        assert!(files.iter().any(|f| f == name), "{name} in {files:?}");
    }

    let info = &env.info;
    let ca = info.ca_cert.display().to_string();
    let tmux = Tmux::start_with(
        home.path(),
        &[
            ("AZURE_TENANT_ID", &info.tenant_id),
            ("AZURE_CLIENT_ID", &info.client_id),
            ("AZURE_CLIENT_SECRET", &info.client_secret),
            ("AZURE_AUTHORITY_HOST", &info.authority_host),
            ("KEYTURN_GRAPH_URL", &info.graph_url),
            ("KEYTURN_CA_CERT", &ca),
        ],
    );
    shell(&tmux);
    tmux.type_text(env!("CARGO_BIN_EXE_keyturn"));
    tmux.key("Enter");
    tmux.wait_for("the app list to load", loaded);
    // The cache is written after the list is on screen: wait for it (bounded) while the TUI still runs.
    let cache = home.path().join("data/keyturn/inventory-cache.sqlite");
    let start = Instant::now();
    while !cache.exists() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cache.exists(), "the TUI writes its inventory cache");
    let files = assert_private(home.path(), "while the TUI runs");
    // The journal is open: its write-ahead log and shared memory are there to be checked too.
    for suffix in ["-wal", "-shm"] {
        assert!(files.iter().any(|f| f.ends_with(suffix)), "{files:?}");
    }
    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        !s.contains("sort:") && s.contains("e2e$")
    });
    assert_private(home.path(), "after the TUI");
}
