//! The one test that reads outside the repository: the research folder the fixtures were copied from
//! (`../shared/reference` beside a development checkout). It checks that every example there has a fixture with the
//! same bytes and that every exact string still reads the same, so the fixtures cannot drift from their sources.
//! A clone of the repository alone has no such folder, so the test is ignored by default (the suite reads only
//! tests/fixtures/microsoft): run it beside the folder with
//! `cargo test --locked --test it crosscheck -- --ignored`. Without the folder it then fails with the reason instead
//! of passing having checked nothing.
use super::{FIXTURES, blocks_of, exact_string, md_blocks, sorted_entries};
use std::collections::BTreeMap;
use std::path::Path;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference");

#[test]
#[ignore = "needs ../shared/reference beside a development checkout: cargo test --test it crosscheck -- --ignored"]
fn fixtures_agree_with_the_reference_material() {
    let root = Path::new(REFERENCE);
    assert!(
        root.join("README.md").is_file(),
        "no reference material at {}: this cross-check runs only beside the research folder the fixtures were \
         copied from (the rest of the suite reads only tests/fixtures/microsoft)",
        root.display()
    );
    let mut problems = Vec::new();
    let mut compared = 0;
    for area in sorted_entries(root).into_iter().filter(|p| p.is_dir()) {
        let area_name = file_name(&area);
        for file in sorted_entries(&area) {
            let name = file_name(&file);
            let stem = fixture_stem(&name);
            let rel = format!("{area_name}/{name}");
            if name.ends_with(".json") {
                let fixture = Path::new(FIXTURES).join(format!("{area_name}/{stem}.json"));
                match std::fs::read(&fixture) {
                    Ok(bytes) if Some(&bytes) == std::fs::read(&file).ok().as_ref() => {
                        compared += 1
                    }
                    Ok(_) => problems.push(format!("{rel}: differs from {}", fixture.display())),
                    Err(e) => {
                        problems.push(format!("{rel}: no fixture {} ({e})", fixture.display()))
                    }
                }
                continue;
            }
            if !name.ends_with(".md") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let reference_blocks = md_blocks(&rel, &text);
            if reference_blocks.is_empty() {
                continue;
            }
            let group = format!("{area_name}/{stem}");
            if !Path::new(FIXTURES).join(&group).is_dir() {
                problems.push(format!(
                    "{rel}: {} examples and no fixture group {group}",
                    reference_blocks.len()
                ));
                continue;
            }
            // Same payloads, byte for byte, in any order.
            let mut counts: BTreeMap<String, i32> = BTreeMap::new();
            for b in &reference_blocks {
                *counts.entry(b.text.clone()).or_default() += 1;
            }
            for b in blocks_of(&group) {
                *counts.entry(b.text).or_default() -= 1;
            }
            for (text, n) in counts {
                let excerpt: String = text.chars().take(100).collect();
                match n {
                    0 => compared += 1,
                    n if n > 0 => {
                        problems.push(format!("{rel}: example without a fixture: {excerpt}"))
                    }
                    _ => problems.push(format!("{group}: fixture not in {rel}: {excerpt}")),
                }
            }
        }
    }
    for (name, recorded) in [
        (
            "credentialActivityName",
            quoted_after(root, "graph/05_audit_activity_names.md", "use exactly:"),
        ),
        (
            "applicationsSelectContext",
            read(root, "graph/01_application_list_and_query.md")
                .split("$metadata#")
                .skip(1)
                .find(|rest| rest.starts_with("applications("))
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string(),
        ),
        (
            "applicationKeyCredentialFilterMessage",
            between(
                &read(root, "graph/01_filter_on_credentials_issues.md"),
                r#"results in \""#,
                r#"\" even"#,
            ),
        ),
        (
            "vaultChallengeHeader",
            read(root, "keyvault/11_kv_challenge_auth_and_errors.md")
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("WWW-Authenticate: ")
                        .filter(|h| h.contains("{tenant}"))
                        .map(str::to_string)
                })
                .unwrap_or_default(),
        ),
        (
            "vaultChallengeContentLength",
            between(
                &read(root, "keyvault/11_kv_challenge_auth_and_errors.md"),
                "'Content-Length', '",
                "'",
            ),
        ),
        (
            "vaultChallengeContentType",
            between(
                &read(root, "keyvault/11_kv_challenge_auth_and_errors.md"),
                "'Content-Type', '",
                "'",
            ),
        ),
    ] {
        let fixture = exact_string(name);
        if fixture == recorded {
            compared += 1;
        } else {
            problems.push(format!(
                "exact-strings.json {name}: {fixture:?}, the reference reads {recorded:?}"
            ));
        }
    }
    println!("cross-checked {compared} fixtures and exact strings against {REFERENCE}");
    assert!(
        compared > 60,
        "only {compared} comparisons: is the walk broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `05_directoryAudits.md` -> `directoryAudits`: the fixture group drops the research folder's numbering.
fn fixture_stem(name: &str) -> String {
    let base = name.rsplit_once('.').map_or(name, |(b, _)| b);
    match base.split_once('_') {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
        _ => base.to_string(),
    }
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", root.join(file).display()))
}

fn between(text: &str, open: &str, close: &str) -> String {
    text.find(open)
        .map(|i| &text[i + open.len()..])
        .and_then(|rest| rest.find(close).map(|j| rest[..j].to_string()))
        .unwrap_or_default()
}

/// The text between the first pair of double quotes on the first line of `file` that contains `marker`.
fn quoted_after(root: &Path, file: &str, marker: &str) -> String {
    let text = read(root, file);
    let Some(line) = text.lines().find(|l| l.contains(marker)) else {
        return String::new();
    };
    let rest = &line[line.find(marker).unwrap_or(0)..];
    between(rest, "\"", "\"")
}
