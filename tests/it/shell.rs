//! Shell integration: `keyturn completions SHELL` and `keyturn man`, run as a person would (the bash script sourced
//! into bash and asked to complete, the man page rendered by groff). The expected commands and flags are the
//! contract's, written out here, not read from keyturn's own definition.
use assert_cmd::Command;
use std::process::Stdio;

/// The subcommands a script or a person relies on.
const COMMANDS: [&str; 13] = [
    "check", "rotate", "show", "audit", "journal", "review", "cleanup", "remove", "login",
    "logout", "doctor", "demo", "emulator",
];

fn keyturn(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("keyturn")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// What bash's programmable completion offers for `words` (the last one being completed), with keyturn's script
/// sourced into a fresh bash.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT={}\n\
         _keyturn keyturn '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        line.len(),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_flags() {
    let (code, script, _) = keyturn(&["completions", "bash"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyturn.bash");
    std::fs::write(&path, script).unwrap();

    let commands = bash_complete(&path, &["keyturn", ""]);
    for c in COMMANDS {
        assert!(
            commands.iter().any(|w| w == c),
            "`keyturn <TAB>` offers {c}: {commands:?}"
        );
    }
    assert_eq!(
        bash_complete(&path, &["keyturn", "cle"]),
        vec!["cleanup"],
        "a prefix completes to the one command it names"
    );
    let flags = bash_complete(&path, &["keyturn", "rotate", "--pl"]);
    assert!(
        flags.contains(&"--plan-out".to_string()) && flags.contains(&"--plan".to_string()),
        "{flags:?}"
    );
    let formats = bash_complete(&path, &["keyturn", "check", "--format", ""]);
    for f in ["table", "json", "csv", "prometheus"] {
        assert!(
            formats.iter().any(|w| w == f),
            "check --format {f}: {formats:?}"
        );
    }
    let shells = bash_complete(&path, &["keyturn", "completions", ""]);
    for s in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.iter().any(|w| w == s), "completions {s}: {shells:?}");
    }
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_an_argument_error() {
    for (shell, marker) in [
        ("zsh", "#compdef keyturn"),
        ("fish", "complete -c keyturn"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, script, _) = keyturn(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(script.contains(marker), "{shell} script has {marker:?}");
        assert!(
            script.contains("plan-out"),
            "{shell} script knows rotate's flags"
        );
    }
    let (code, out, err) = keyturn(&["completions", "tcsh"]);
    assert_eq!((code, out.as_str()), (3, ""), "exit 3, nothing on stdout");
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // The scripts are larger than a pipe's buffer: closing the reader at once makes keyturn's write fail with EPIPE.
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("keyturn"))
            .args(args)
            .env("XDG_STATE_HOME", tempfile::tempdir().unwrap().path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?} did not panic"
        );
    }
}

fn require_groff(test: &str) -> bool {
    let ok = std::process::Command::new("groff")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        crate::support::prerequisite_missing(
            "groff",
            test,
            "groff is not installed (apt-get install groff-base; .ci/run installs it)",
        );
    }
    ok
}

/// The page rendered as `man` would show it, and groff's warnings (-ww: all of them).
fn render(page: &[u8]) -> (String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P", "-cbou"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_man_page_renders_and_names_every_command_and_variable() {
    if !require_groff("shell::the_man_page_renders_and_names_every_command_and_variable") {
        return;
    }
    let (code, page, _) = keyturn(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH keyturn 1"), "a section 1 page");
    let (text, warnings) = render(page.as_bytes());
    assert_eq!(warnings, "", "groff has nothing to warn about");
    for c in COMMANDS {
        assert!(text.contains(&format!("keyturn-{c}(1)")), "lists {c}");
    }
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "KEYTURN_GRAPH_URL",
        "KEYTURN_CA_CERT",
        "KEYTURN_PROFILE",
        "KEYTURN_CONFIG",
        "KEYTURN_READ_ONLY",
        "KEYTURN_OFFICE365_URL",
    ] {
        assert!(text.contains(var), "ENVIRONMENT names {var}");
    }
}

#[test]
fn man_out_dir_writes_a_page_per_command() {
    if !require_groff("shell::man_out_dir_writes_a_page_per_command") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let (code, stdout, stderr) = keyturn(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    for c in COMMANDS {
        let file = out_dir.join(format!("keyturn-{c}.1"));
        assert!(
            stderr.contains(&file.display().to_string()),
            "says it wrote {}",
            file.display()
        );
        let page = std::fs::read(&file).unwrap();
        let (text, warnings) = render(&page);
        assert_eq!(warnings, "", "{c}");
        assert!(
            text.contains(&format!("keyturn-{c}")),
            "{c}'s page is titled"
        );
    }
    let (check, _) = render(&std::fs::read(out_dir.join("keyturn-check.1")).unwrap());
    for flag in [
        "--warn-days",
        "--critical-days",
        "--all",
        "--format",
        "--output",
    ] {
        assert!(check.contains(flag), "check's page has {flag}");
    }
}
