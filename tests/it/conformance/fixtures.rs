//! Reading the fixtures: each group's payloads as blocks, and cutting research notes into blocks for the
//! cross-check.
use super::*;

/// One payload: a fixture file of a group, or an example or definition inside a JSON document (the Key Vault
/// examples and OpenAPI excerpt); the cross-check also cuts research notes into blocks.
#[derive(Debug, Clone)]
pub(super) struct Block {
    /// The group, e.g. `graph/addPassword_removePassword` or `keyvault/kv_secrets_examples.json`.
    pub(super) file: String,
    /// The fixture's file name, the JSON pointer in a JSON document, `line N` in a note.
    pub(super) locator: String,
    pub(super) text: String,
    /// `None` when the text is not JSON (Microsoft's notation, truncation marks).
    pub(super) json: Option<Value>,
}

impl Block {
    pub(super) fn compact(&self) -> String {
        self.json
            .as_ref()
            .map(|j| serde_json::to_string(j).unwrap_or_default())
            .unwrap_or_default()
    }

    /// .json blocks are named by their pointer (their text holds `$ref`s to other pointers); .md blocks by text.
    pub(super) fn matches(&self, anchor: &str) -> bool {
        if self.locator.starts_with('/') {
            self.locator == anchor
        } else {
            self.text.contains(anchor) || self.compact().contains(anchor)
        }
    }
}

pub(super) fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(FIXTURES);
    assert!(
        dir.join("exact-strings.json").is_file(),
        "the fixtures of Microsoft's examples are missing at {}; the conformance suite reads them from there",
        dir.display()
    );
    dir
}

/// Every group of fixtures, as paths under the fixture directory: a directory `<area>/<topic>` whose files are
/// one payload each, or a JSON document `<area>/<name>.json` whose examples or definitions are the payloads.
pub(super) fn fixture_groups() -> Vec<String> {
    let root = fixture_dir();
    let mut out = Vec::new();
    for area in sorted_entries(&root).into_iter().filter(|p| p.is_dir()) {
        for path in sorted_entries(&area) {
            let is_json = path.extension().and_then(|e| e.to_str()) == Some("json");
            if path.is_dir() || is_json {
                let rel = path.strip_prefix(&root).expect("under the root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

pub(super) fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .collect();
    out.sort();
    out
}

pub(super) fn read_fixture(file: &str) -> String {
    let path = fixture_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing or unreadable ({e}); the conformance table names it",
            path.display()
        )
    })
}

/// One of the exact strings of `exact-strings.json` (strings Microsoft's service sends byte for byte, recorded
/// from the source named next to each).
pub(super) fn exact_string(name: &str) -> String {
    let doc: Value = serde_json::from_str(&read_fixture("exact-strings.json"))
        .expect("exact-strings.json is JSON");
    doc[name]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("exact-strings.json has no string {name:?}"))
        .to_string()
}

/// The blocks of one group. A payload file holds the bytes Microsoft published plus one final newline; `.txt`
/// files hold Microsoft's notation or truncated samples, which are not JSON.
pub(super) fn blocks_of(group: &str) -> Vec<Block> {
    if group.ends_with(".json") {
        let doc: Value = serde_json::from_str(&read_fixture(group))
            .unwrap_or_else(|e| panic!("{group} is not JSON: {e}"));
        return json_file_blocks(group, &doc);
    }
    let dir = fixture_dir().join(group);
    let blocks: Vec<Block> = sorted_entries(&dir)
        .into_iter()
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "txt")))
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let raw = read_fixture(&format!("{group}/{name}"));
            let text = raw.strip_suffix('\n').unwrap_or(&raw).to_string();
            let json = serde_json::from_str(&text).ok();
            assert_eq!(
                name.ends_with(".json"),
                json.is_some(),
                "{group}/{name}: .json fixtures are JSON, .txt fixtures are Microsoft's notation"
            );
            Block {
                file: group.to_string(),
                locator: name,
                text,
                json,
            }
        })
        .collect();
    assert!(!blocks.is_empty(), "{group}: no fixtures");
    blocks
}

/// In the Key Vault examples file, each example's request body (`parameters/parameters`) and response bodies; in
/// the OpenAPI excerpt, each definition. The other members (`_source`, `paths_summary`, security) are prose about
/// the files, not examples of the wire.
pub(super) fn json_file_blocks(file: &str, doc: &Value) -> Vec<Block> {
    let mut out = Vec::new();
    let mut push = |pointer: String, v: &Value| {
        out.push(Block {
            file: file.to_string(),
            locator: pointer,
            text: serde_json::to_string_pretty(v).unwrap_or_default(),
            json: Some(v.clone()),
        })
    };
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        for (name, def) in defs {
            push(format!("/definitions/{name}"), def);
        }
    } else if let Some(obj) = doc.as_object() {
        for (name, example) in obj.iter().filter(|(k, _)| !k.starts_with('_')) {
            if let Some(body) = example.pointer("/parameters/parameters") {
                push(format!("/{name}/parameters/parameters"), body);
            }
            if let Some(responses) = example.get("responses").and_then(Value::as_object) {
                for (status, r) in responses {
                    if let Some(body) = r.get("body") {
                        push(format!("/{name}/responses/{status}/body"), body);
                    }
                }
            }
        }
    }
    assert!(!out.is_empty(), "{file}: no examples or definitions found");
    out
}

/// Every top-level `{ "...` object and `[ {` array in the text, fenced or inline, found by bracket matching that
/// respects JSON strings. `{id}` in a URL template or `[KeyIdentifier=...]` in prose are not JSON and are skipped
/// (the character after the bracket tells). What does not parse is kept with `json: None`: Microsoft's notation
/// and truncated samples must be claimed explicitly too.
pub(super) fn md_blocks(file: &str, text: &str) -> Vec<Block> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' || c == b'[' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let starts_json = j < bytes.len()
                && ((c == b'{' && (bytes[j] == b'"' || bytes[j] == b'}'))
                    || (c == b'[' && bytes[j] == b'{'));
            if starts_json && let Some(end) = matching_bracket(bytes, i) {
                let block = &text[i..=end];
                out.push(Block {
                    file: file.to_string(),
                    locator: format!("line {}", text[..i].matches('\n').count() + 1),
                    text: block.to_string(),
                    json: serde_json::from_str(block).ok(),
                });
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

pub(super) fn matching_bracket(bytes: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (k, &ch) in bytes.iter().enumerate().skip(start) {
        if in_str {
            match ch {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match ch {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}
