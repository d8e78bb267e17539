//! Conformance of the emulator and of keyturn's client models with the examples Microsoft publishes, carried by
//! the repository as fixtures (`tests/fixtures/microsoft/<area>/<topic>/<payload>.json`, one payload per file,
//! byte for byte, each area's SOURCES.md naming where every payload was recorded from).
//!
//! Every fixture is claimed by one entry of [`TABLE`]: compared with the emulator's answer to the same request
//! (same keys, JSON types, string kinds and `@odata` annotations; values may differ), parsed by the client model
//! that reads it in production, or set aside with the reason written next to it. `every_fixture_is_claimed` fails
//! when a fixture appears, disappears or is claimed twice, so the table cannot drift from the fixtures. Exact
//! strings are asserted where Microsoft's service is exact (error codes and messages, the en-dash activity name,
//! the double-encoded KeyDescription values, the Key Vault challenge). tests/FIDELITY.md explains the choices,
//! including where Microsoft's own examples contradict each other.
mod crosscheck;

use crate::support::{self, GRAPH_SCOPE, VAULT_SCOPE, client, graph_token, start, vault_token};
use keyturn::emulator::{AppChange, Emulator, EmulatorConfig, Fault, FaultKind, Op};
use keyturn::graph::{GraphClient, GraphError, ObjectId, ObjectType, RetryPolicy};
use serde_json::{Value, json};
use shape::{Allow, Difference, Mode, Rules};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Microsoft's published examples, carried by the repository (`tests/fixtures/microsoft/`, each area's SOURCES.md
/// names where every payload was recorded from). A missing directory or file fails the suite: silently testing
/// nothing is the failure this prevents.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/microsoft");

// =============================================================================================================
// Structural diff

/// Compares the shape of two JSON documents and names the path of the first difference.
///
/// Shape means: the same keys (all of them, or the example's keys at least for examples Microsoft truncated), the
/// same JSON types (integers apart from other numbers), strings of the same kind where the example's string has a
/// recognisable one (GUID, RFC 3339 timestamp, Graph's `innerError.date`, the token endpoint's timestamp, https
/// URL), the same `@odata.context` fragment and the same kind of paging link. Arrays are compared by element shape:
/// every element of the emulator's array must match one of the example's elements. `null` stands for any value of a
/// nullable property, but never for a collection (Graph and Key Vault collections are never null).
pub(crate) mod shape {
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::fmt;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// Same key sets at every level.
        Exact,
        /// The example's keys must be there; the emulator may send more plain properties (Microsoft truncates its
        /// samples), but not more `@` annotations.
        Covers,
    }

    /// A named exception for one entry, each with its reason in the table. Unused exceptions fail the test, so
    /// none outlives the difference it excused.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Allow {
        /// The example has this key; the emulator may lack it.
        Missing(&'static str),
        /// The emulator may add this key (an annotation in Covers mode, any key in Exact mode).
        Extra(&'static str),
        /// The example spells the key `.0`, the emulator `.1`.
        Renamed(&'static str, &'static str),
        /// The value at this path (indices written `[*]`) is not compared.
        Skip(&'static str),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Difference {
        pub path: String,
        pub what: String,
    }

    impl fmt::Display for Difference {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: {}", self.path, self.what)
        }
    }

    pub struct Rules<'a> {
        pub mode: Mode,
        pub allow: &'a [Allow],
    }

    pub const EXACT: Rules<'static> = Rules {
        mode: Mode::Exact,
        allow: &[],
    };

    /// `Ok` with the exceptions that were needed, or the first difference.
    pub fn diff(
        expected: &Value,
        actual: &Value,
        rules: &Rules,
    ) -> Result<BTreeSet<Allow>, Difference> {
        let mut w = Walk {
            rules,
            used: BTreeSet::new(),
            empty: std::collections::BTreeMap::new(),
            compared: BTreeSet::new(),
        };
        w.value("$", None, expected, actual)?;
        // An empty array where the example shows elements is fine (values differ) as long as the same place holds
        // elements elsewhere in the answer, so that their shape was compared at least once.
        if let Some((pat, path)) = w.empty.iter().find(|(p, _)| !w.compared.contains(*p)) {
            return Err(differ(
                path,
                format!(
                    "every {pat} of the emulator's answer is empty, so the example's element shape was never compared"
                ),
            ));
        }
        Ok(w.used)
    }

    pub fn type_name(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// What a string value is, as far as its format tells.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum StrKind {
        Guid,
        /// RFC 3339 with `Z` or an offset: Graph's DateTimeOffset.
        Timestamp,
        /// `YYYY-MM-DDTHH:MM:SS` without zone: Graph's `innerError.date`.
        NaiveDate,
        /// `YYYY-MM-DD HH:MM:SSZ`: the token endpoint's `timestamp`.
        AadTimestamp,
        Url,
        Other,
    }

    pub fn str_kind(s: &str) -> StrKind {
        if s.len() == 36 && uuid::Uuid::parse_str(s).is_ok() {
            StrKind::Guid
        } else if chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%SZ").is_ok() {
            // Before RFC 3339, which also accepts a space for the T.
            StrKind::AadTimestamp
        } else if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
            StrKind::Timestamp
        } else if s.len() == 19
            && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
        {
            StrKind::NaiveDate
        } else if s.starts_with("https://") && url::Url::parse(s).is_ok() {
            StrKind::Url
        } else {
            StrKind::Other
        }
    }

    struct Walk<'a> {
        rules: &'a Rules<'a>,
        used: BTreeSet<Allow>,
        /// Array patterns that were empty in the emulator's answer, with the first path seen.
        empty: std::collections::BTreeMap<String, String>,
        /// Array patterns whose elements were compared.
        compared: BTreeSet<String>,
    }

    fn differ(path: &str, what: impl Into<String>) -> Difference {
        Difference {
            path: path.to_string(),
            what: what.into(),
        }
    }

    /// `$.value[3].hint` -> `$.value[*].hint`.
    fn pattern(path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => {
                    in_index = true;
                    out.push_str("[*");
                }
                ']' => {
                    in_index = false;
                    out.push(']');
                }
                _ if in_index => {}
                c => out.push(c),
            }
        }
        out
    }

    impl Walk<'_> {
        fn allowed(&mut self, a: Allow) -> bool {
            if self.rules.allow.contains(&a) {
                self.used.insert(a);
                true
            } else {
                false
            }
        }

        fn value(
            &mut self,
            path: &str,
            key: Option<&str>,
            e: &Value,
            a: &Value,
        ) -> Result<(), Difference> {
            let pat = pattern(path);
            if let Some(skip) = self
                .rules
                .allow
                .iter()
                .find(|x| matches!(x, Allow::Skip(p) if *p == pat))
            {
                self.used.insert(*skip);
                return Ok(());
            }
            match (e, a) {
                (Value::Null, Value::Array(_)) | (Value::Array(_), Value::Null) => Err(differ(
                    path,
                    format!(
                        "the example has {}, the emulator {}: a collection is never null",
                        type_name(e),
                        type_name(a)
                    ),
                )),
                (Value::Null, _) | (_, Value::Null) => Ok(()),
                (Value::Object(eo), Value::Object(ao)) => self.object(path, eo, ao),
                (Value::Array(ea), Value::Array(aa)) => self.array(path, ea, aa),
                (Value::String(es), Value::String(as_)) => self.string(path, key, es, as_),
                _ if type_name(e) != type_name(a) => Err(differ(
                    path,
                    format!(
                        "the example has {} ({e}), the emulator {} ({a})",
                        type_name(e),
                        type_name(a)
                    ),
                )),
                _ => Ok(()),
            }
        }

        fn string(
            &mut self,
            path: &str,
            key: Option<&str>,
            e: &str,
            a: &str,
        ) -> Result<(), Difference> {
            match key {
                Some("@odata.context") => {
                    let frag = |s: &str| s.split_once("$metadata#").map(|x| x.1.to_string());
                    // Microsoft's own samples differ in case (`auditlogs/directoryaudits`): compare ignoring it.
                    match (frag(e), frag(a)) {
                        (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => Ok(()),
                        _ => Err(differ(
                            path,
                            format!("context {a:?} does not name the same entity set as {e:?}"),
                        )),
                    }
                }
                Some("@odata.nextLink" | "@odata.deltaLink" | "nextLink") => link(path, e, a),
                _ => {
                    let (ek, ak) = (str_kind(e), str_kind(a));
                    if ek != StrKind::Other && ek != ak {
                        Err(differ(
                            path,
                            format!("the example's {e:?} is a {ek:?}, the emulator's {a:?} is not"),
                        ))
                    } else {
                        Ok(())
                    }
                }
            }
        }

        fn object(
            &mut self,
            path: &str,
            e: &serde_json::Map<String, Value>,
            a: &serde_json::Map<String, Value>,
        ) -> Result<(), Difference> {
            let mut seen = BTreeSet::new();
            for (ek, ev) in e {
                let renamed = self.rules.allow.iter().find_map(|x| match x {
                    Allow::Renamed(from, to) if from == ek && a.contains_key(*to) => {
                        Some((*x, *to))
                    }
                    _ => None,
                });
                let ak = match renamed {
                    Some((allow, to)) => {
                        self.used.insert(allow);
                        to
                    }
                    None => ek.as_str(),
                };
                let child = format!("{path}.{ak}");
                match a.get(ak) {
                    Some(av) => {
                        seen.insert(ak.to_string());
                        self.value(&child, Some(ak), ev, av)?;
                    }
                    None if self.allowed(Allow::Missing(leak(ek))) => {}
                    None => {
                        return Err(differ(
                            &child,
                            "missing in the emulator's answer (the example has it)",
                        ));
                    }
                }
            }
            for ak in a.keys().filter(|k| !seen.contains(*k)) {
                let plain_extra = self.rules.mode == Mode::Covers && !ak.starts_with('@');
                if !plain_extra && !self.allowed(Allow::Extra(leak(ak))) {
                    return Err(differ(
                        &format!("{path}.{ak}"),
                        "sent by the emulator, absent from the example",
                    ));
                }
            }
            Ok(())
        }

        fn array(&mut self, path: &str, e: &[Value], a: &[Value]) -> Result<(), Difference> {
            if e.is_empty() {
                return Ok(());
            }
            if a.is_empty() {
                self.empty
                    .entry(pattern(path))
                    .or_insert_with(|| path.to_string());
                return Ok(());
            }
            self.compared.insert(pattern(path));
            let mut matched = vec![false; e.len()];
            for (i, av) in a.iter().enumerate() {
                let child = format!("{path}[{i}]");
                let mut first: Option<Difference> = None;
                let mut preferred: Option<Difference> = None;
                let mut ok = false;
                for (j, ev) in e.iter().enumerate() {
                    let mut sub = Walk {
                        rules: self.rules,
                        used: BTreeSet::new(),
                        empty: std::collections::BTreeMap::new(),
                        compared: BTreeSet::new(),
                    };
                    match sub.value(&child, None, ev, av) {
                        Ok(()) => {
                            self.used.extend(sub.used);
                            for (p, first) in sub.empty {
                                self.empty.entry(p).or_insert(first);
                            }
                            self.compared.extend(sub.compared);
                            matched[j] = true;
                            ok = true;
                            break;
                        }
                        Err(d) => {
                            let same_type = ev.get("@odata.type").is_some()
                                && ev.get("@odata.type") == av.get("@odata.type");
                            if same_type && preferred.is_none() {
                                preferred = Some(d.clone());
                            }
                            first.get_or_insert(d);
                        }
                    }
                }
                if !ok {
                    return Err(preferred
                        .or(first)
                        .unwrap_or_else(|| differ(&child, "no match")));
                }
            }
            if self.rules.mode == Mode::Exact
                && let Some(j) = matched.iter().position(|m| !m)
            {
                return Err(differ(
                    &format!("{path}[{j}]"),
                    "no element of the emulator's array has the shape of this element of the example",
                ));
            }
            Ok(())
        }
    }

    /// Paging links: both absolute https URLs, the same last path segment and the same query parameter names.
    fn link(path: &str, e: &str, a: &str) -> Result<(), Difference> {
        let parse = |s: &str| url::Url::parse(s).ok().filter(|u| u.scheme() == "https");
        let (Some(eu), Some(au)) = (parse(e), parse(a)) else {
            return Err(differ(
                path,
                format!("{a:?} is not an absolute https link like {e:?}"),
            ));
        };
        let last = |u: &url::Url| {
            u.path_segments()
                .and_then(|mut s| s.next_back())
                .map(str::to_string)
        };
        let names = |u: &url::Url| {
            u.query_pairs()
                .map(|(k, _)| k.into_owned())
                .collect::<BTreeSet<_>>()
        };
        if last(&eu) != last(&au) {
            return Err(differ(path, format!("{a:?} does not end like {e:?}")));
        }
        if names(&eu) != names(&au) {
            return Err(differ(
                path,
                format!(
                    "query parameters {:?}, the example has {:?}",
                    names(&au),
                    names(&eu)
                ),
            ));
        }
        Ok(())
    }

    /// Allowances are matched by `&'static str`; keys from documents are not static, so look the key up among the
    /// declared ones instead of leaking it.
    fn leak(k: &str) -> &'static str {
        thread_local! {
            static KEYS: std::cell::RefCell<std::collections::HashMap<String, &'static str>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        KEYS.with(|m| {
            *m.borrow_mut()
                .entry(k.to_string())
                .or_insert_with(|| Box::leak(k.to_string().into_boxed_str()))
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn emulator_credential() -> Value {
            json!({"customKeyIdentifier": null, "displayName": "x", "endDateTime": "2030-01-01T00:00:00.1234567Z",
                   "hint": "abc", "keyId": "f0b0b335-1d71-4883-8f98-567911bfdca6", "secretText": null,
                   "startDateTime": "2028-01-01T00:00:00Z"})
        }

        #[test]
        fn identical_shapes_differ_in_values_only() {
            let mut other = emulator_credential();
            other["displayName"] = json!("something else");
            other["keyId"] = json!("00000000-0000-0000-0000-000000000001");
            assert!(diff(&emulator_credential(), &other, &EXACT).is_ok());
        }

        #[test]
        fn a_renamed_key_is_caught_with_its_path() {
            let expected = json!({"value": [emulator_credential()]});
            let mut renamed = emulator_credential();
            let hint = renamed.as_object_mut().unwrap().remove("hint").unwrap();
            renamed["hnt"] = hint;
            let d = diff(&expected, &json!({"value": [renamed]}), &EXACT).unwrap_err();
            assert_eq!(d.path, "$.value[0].hint");
            assert!(d.what.contains("missing"), "{d}");
        }

        #[test]
        fn an_added_key_is_caught_in_exact_mode_only() {
            let mut more = emulator_credential();
            more["extra"] = json!(1);
            let d = diff(&emulator_credential(), &more, &EXACT).unwrap_err();
            assert_eq!(d.path, "$.extra");
            let covers = Rules {
                mode: Mode::Covers,
                allow: &[],
            };
            assert!(diff(&emulator_credential(), &more, &covers).is_ok());
        }

        #[test]
        fn annotations_must_match_even_in_covers_mode() {
            let covers = Rules {
                mode: Mode::Covers,
                allow: &[],
            };
            let d = diff(
                &json!({"value": []}),
                &json!({"@odata.count": 3, "value": []}),
                &covers,
            )
            .unwrap_err();
            assert_eq!(d.path, "$.@odata.count");
            let d = diff(
                &json!({"@odata.count": 3, "value": []}),
                &json!({"value": []}),
                &covers,
            )
            .unwrap_err();
            assert_eq!(d.path, "$.@odata.count");
        }

        #[test]
        fn types_and_string_kinds() {
            let d = diff(&json!({"n": 1}), &json!({"n": "1"}), &EXACT).unwrap_err();
            assert_eq!(d.path, "$.n");
            let d = diff(&json!({"n": 1}), &json!({"n": 1.5}), &EXACT).unwrap_err();
            assert!(d.what.contains("integer"), "{d}");
            let d = diff(
                &json!({"at": "2021-09-09T19:50:29.3086381Z"}),
                &json!({"at": "09/09/2021"}),
                &EXACT,
            )
            .unwrap_err();
            assert!(d.what.contains("Timestamp"), "{d}");
            // A placeholder in the example ("id-value") constrains nothing.
            assert!(
                diff(
                    &json!({"id": "id-value"}),
                    &json!({"id": "anything"}),
                    &EXACT
                )
                .is_ok()
            );
            assert!(
                diff(
                    &json!({"date": "2020-08-18T12:51:51"}),
                    &json!({"date": "2020-08-18T12:51:51Z"}),
                    &EXACT
                )
                .is_err(),
                "innerError.date has no zone"
            );
        }

        #[test]
        fn null_is_any_value_but_never_a_collection() {
            assert!(diff(&json!({"a": null}), &json!({"a": {"x": 1}}), &EXACT).is_ok());
            assert!(diff(&json!({"a": "s"}), &json!({"a": null}), &EXACT).is_ok());
            let d = diff(&json!({"a": []}), &json!({"a": null}), &EXACT).unwrap_err();
            assert!(d.what.contains("never null"), "{d}");
        }

        #[test]
        fn arrays_compare_element_shapes() {
            let user = json!({"@odata.type": "#microsoft.graph.user", "id": "x", "userPrincipalName": "u"});
            let sp = json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "x", "appId": "a"});
            let expected = json!([user, sp]);
            assert!(diff(&expected, &json!([sp, user, user]), &EXACT).is_ok());
            // Exact mode: every element shape of the example must appear.
            let d = diff(&expected, &json!([user]), &EXACT).unwrap_err();
            assert_eq!(d.path, "$[1]");
            // The difference reported is the one against the element of the same @odata.type.
            let bad_sp = json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "x", "appID": "a"});
            let d = diff(&expected, &json!([user, bad_sp]), &EXACT).unwrap_err();
            assert_eq!(d.path, "$[1].appId");
            let d = diff(&json!([user]), &json!([]), &EXACT).unwrap_err();
            assert!(d.what.contains("empty"), "{d}");
            // Empty in one element is fine when another element shows the shape.
            let e = json!({"value": [{"uris": ["a"]}]});
            assert!(
                diff(
                    &e,
                    &json!({"value": [{"uris": []}, {"uris": ["b"]}]}),
                    &EXACT
                )
                .is_ok()
            );
            let d = diff(&e, &json!({"value": [{"uris": []}, {"uris": []}]}), &EXACT).unwrap_err();
            assert_eq!(d.path, "$.value[0].uris");
        }

        #[test]
        fn contexts_and_links() {
            let e = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditlogs/directoryaudits",
                           "@odata.nextLink": "https://graph.microsoft.com/v1.0/applications/delta?$skiptoken=abc"});
            let a = json!({"@odata.context": "https://127.0.0.1:4/v1.0/$metadata#auditLogs/directoryAudits",
                           "@odata.nextLink": "https://127.0.0.1:4/v1.0/applications/delta?$skiptoken=xyz"});
            assert!(diff(&e, &a, &EXACT).is_ok());
            let mut wrong = a.clone();
            wrong["@odata.context"] = json!("https://127.0.0.1:4/v1.0/$metadata#applications");
            assert_eq!(
                diff(&e, &wrong, &EXACT).unwrap_err().path,
                "$.@odata.context"
            );
            let mut wrong = a.clone();
            wrong["@odata.nextLink"] =
                json!("https://127.0.0.1:4/v1.0/applications/delta?$deltatoken=xyz");
            assert_eq!(
                diff(&e, &wrong, &EXACT).unwrap_err().path,
                "$.@odata.nextLink"
            );
        }

        #[test]
        fn allowances_are_reported_when_used() {
            let rules = Rules {
                mode: Mode::Exact,
                allow: &[
                    Allow::Renamed("Type", "type"),
                    Allow::Missing("@microsoft.graph.tips"),
                    Allow::Extra("ext_expires_in"),
                    Allow::Skip("$.body.value[*]"),
                ],
            };
            let e = json!({"Type": "Group", "@microsoft.graph.tips": "t", "body": {"value": [{"a": 1}]}});
            let a = json!({"type": "App", "ext_expires_in": 1, "body": {"value": [{"b": "x"}]}});
            let used = diff(&e, &a, &rules).unwrap();
            assert_eq!(used.len(), 4, "{used:?}");
        }
    }
}

// =============================================================================================================
// Fixture blocks

/// One payload: a fixture file of a group, or an example or definition inside a JSON document (the Key Vault
/// examples and OpenAPI excerpt); the cross-check also cuts research notes into blocks.
#[derive(Debug, Clone)]
struct Block {
    /// The group, e.g. `graph/addPassword_removePassword` or `keyvault/kv_secrets_examples.json`.
    file: String,
    /// The fixture's file name, the JSON pointer in a JSON document, `line N` in a note.
    locator: String,
    text: String,
    /// `None` when the text is not JSON (Microsoft's notation, truncation marks).
    json: Option<Value>,
}

impl Block {
    fn compact(&self) -> String {
        self.json
            .as_ref()
            .map(|j| serde_json::to_string(j).unwrap_or_default())
            .unwrap_or_default()
    }

    /// .json blocks are named by their pointer (their text holds `$ref`s to other pointers); .md blocks by text.
    fn matches(&self, anchor: &str) -> bool {
        if self.locator.starts_with('/') {
            self.locator == anchor
        } else {
            self.text.contains(anchor) || self.compact().contains(anchor)
        }
    }
}

fn fixture_dir() -> PathBuf {
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
fn fixture_groups() -> Vec<String> {
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

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .collect();
    out.sort();
    out
}

fn read_fixture(file: &str) -> String {
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
fn exact_string(name: &str) -> String {
    let doc: Value = serde_json::from_str(&read_fixture("exact-strings.json"))
        .expect("exact-strings.json is JSON");
    doc[name]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("exact-strings.json has no string {name:?}"))
        .to_string()
}

/// The blocks of one group. A payload file holds the bytes Microsoft published plus one final newline; `.txt`
/// files hold Microsoft's notation or truncated samples, which are not JSON.
fn blocks_of(group: &str) -> Vec<Block> {
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
fn json_file_blocks(file: &str, doc: &Value) -> Vec<Block> {
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
fn md_blocks(file: &str, text: &str) -> Vec<Block> {
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

fn matching_bracket(bytes: &[u8], start: usize) -> Option<usize> {
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

// =============================================================================================================
// The table

/// What a fixture is used for.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// A response example: the emulator's answer to `req` has the same shape; `same` lists JSON pointers whose
    /// values must be equal (where Microsoft's service is exact); `model` parses the example and the emulator's
    /// answer. `repair` turns an annotated block into JSON first (each replacement must apply).
    Response {
        req: Req,
        mode: Mode,
        allow: &'static [Allow],
        same: &'static [&'static str],
        model: Model,
        repair: &'static [(&'static str, &'static str)],
    },
    /// Microsoft's "JSON representation" of a resource, values written as type names ("String (timestamp)",
    /// "Guid", "Binary"): every object the emulator returns for `req` has exactly these properties, of these
    /// types. An `@odata.type` line names the resource and is not on the wire for a non-polymorphic value.
    Representation { req: Req, model: Model },
    /// A definition of the Key Vault OpenAPI excerpt: every object the emulator returns for `req` has only
    /// declared properties, of the declared types.
    OpenApi { req: Req },
    /// A request example: the emulator accepts it verbatim (`req` sends it) and `model` (the client) either parses
    /// it or sends a request of the same shape.
    Request { req: Req, model: Model },
    /// Not comparable with the emulator (see `reason`); still parsed by `model` where keyturn has one.
    NotApplicable { reason: &'static str, model: Model },
    /// Microsoft's type notation or an abbreviation, not JSON; `reason` says where its content is tested.
    Notation { reason: &'static str },
}

/// A client model that reads a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    None,
    /// `{value:[appCredentialSignInActivity]}` through `GraphClient::credential_sign_ins` (beta).
    CredentialSignIns,
    /// `{value:[servicePrincipalSignInActivity]}` through `GraphClient::app_sign_ins` (beta).
    AppSignIns,
    /// `{value:[appRoleAssignment]}` through `GraphClient::app_role_assignments`.
    AppRoleAssignments,
    /// `tenantAppManagementPolicy` through `GraphClient::default_app_management_policy`.
    TenantAppManagementPolicy,
    /// `{value:[appManagementPolicy]}` through `GraphClient::app_management_policies`.
    AppManagementPolicies,
    /// A beta report's 403 through `GraphClient::credential_sign_ins`: last use unavailable, not a failure.
    LastUseUnavailable,
    /// `{value:[application]}` through `GraphClient`'s pager and `keyturn::graph::Application`.
    ApplicationPage,
    /// `{value:[owner]}` through `GraphClient::owners` (`keyturn::graph::Owner`).
    OwnersPage,
    /// `{value:[directoryAudit]}` through `GraphClient::audit_events`.
    AuditPage,
    /// The addPassword answer through `GraphClient::add_password`.
    NewPassword,
    /// `keyturn::graph::ModifiedProperty` and the KeyDescription decoder.
    ModifiedProperty,
    /// `keyturn::graph::AppIdentity`.
    AppIdentity,
    /// A Graph error body with this status, through `GraphClient`'s error mapping.
    GraphError(u16),
    /// The body `GraphClient::add_password` / `remove_password` sends has the example's shape.
    AddPasswordRequest,
    RemovePasswordRequest,
    /// `azure_security_keyvault_secrets` models.
    KvSecret,
    KvListResult,
    KvError,
    KvSetParameters,
    KvUpdateParameters,
    /// azure_identity's client-secret credential reading a token-endpoint answer with this status.
    Token(u16),
}

/// A request to the emulator (executed once per suite run by [`Lab`]); what is compared is the body, or the part
/// of it the variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Req {
    /// `GET /applications` (Microsoft's example 1; the demo tenant fits in the default page of 100).
    ListApplications,
    /// Microsoft's example 3: `startswith`, `$count`, `$top=1`, `$orderby`, ConsistencyLevel; the letter is 'h'
    /// so that the one match of the demo tenant has identifierUris, like the example's.
    ListApplicationsCounted,
    /// Every passwordCredential of every application (`GET /applications?$top=999`), one sample each.
    PasswordCredentials,
    /// Every keyCredential of every application and service principal.
    KeyCredentials,
    /// `GET /servicePrincipals?$filter=keyCredentials/any(k:k/endDateTime le 2021-01-02T12:00:00Z)`.
    KeyCredentialFilterOnServicePrincipals,
    /// addPassword with Microsoft's request example as the body.
    AddPassword,
    /// removePassword of the key just added, Microsoft's body with that keyId (retried past replication lag).
    RemovePassword,
    /// Owners of an application owned by two users and a service principal.
    Owners,
    /// `GET /auditLogs/directoryaudits` (Microsoft's example 1 path, lower-case segment included).
    Audits,
    /// Microsoft's example 2: `$filter=initiatedBy/user/id eq '<a user who changed credentials>'`.
    AuditsByUser,
    /// The KeyDescription / Included Updated Properties entries of the credential event addPassword wrote.
    KeyDescription,
    IncludedUpdatedProperties,
    /// `initiatedBy.app` of that event (client credentials).
    AuditAppInitiator,
    /// Applications delta: first page of `$top=5`, the last page (deltaLink), and a removed item.
    DeltaFirstPage,
    DeltaLastPage,
    DeltaRemoved,
    /// `$batch` sub-responses: a 200 list page, a 403 (caller without roles), a 405 (DELETE on a collection).
    BatchOk,
    BatchForbidden,
    BatchMethodNotAllowed,
    /// `GET /applications` answered 429 (injected, `Retry-After: 2.128`).
    Throttled,
    /// `GET /applications` by a caller without Graph roles.
    Forbidden,
    /// `DELETE /applications`.
    MethodNotAllowed,
    /// `GET /applications/{unknown id}`.
    NotFound,
    /// `GET /applications` without a token.
    NoToken,
    /// Key Vault, api-version 2026-04-01 (the examples' version), Microsoft's SetSecret/UpdateSecret bodies.
    KvSet,
    KvGet,
    /// `GET /secrets/{name}/versions?maxresults=1` of a secret with two versions (so there is a nextLink).
    KvVersions,
    KvUpdate,
    /// `GET /secrets?maxresults=1`.
    KvList,
    /// PUT without a token: the challenge.
    KvUnauthorized,
    KvNotFound,
    /// A caller without a vault role.
    KvForbidden,
    /// No api-version.
    KvBadParameter,
    /// Token endpoint: client credentials, an invalid scope, a wrong secret, the device-code flow.
    Token,
    TokenInvalidScope,
    TokenInvalidClient,
    DeviceCodeToken,
}

impl Req {
    /// Requests whose observed body is a list of samples, each compared on its own.
    fn samples(self) -> bool {
        matches!(self, Req::PasswordCredentials | Req::KeyCredentials)
    }
}

struct Entry {
    file: &'static str,
    anchor: &'static str,
    claim: Claim,
}

const fn response(req: Req, mode: Mode, model: Model) -> Claim {
    Claim::Response {
        req,
        mode,
        allow: &[],
        same: &[],
        model,
        repair: &[],
    }
}

const ERROR_SAME: &[&str] = &["/error/code", "/error/message"];
const GRAPH_ERROR_MISSING_CLIENT_REQUEST_ID: &[Allow] = &[Allow::Extra("client-request-id")];

/// Which example maps to which emulator request and client model. Anchors are text that occurs in exactly one
/// fixture of the group (for a JSON document, the JSON pointer).
const TABLE: &[Entry] = &[
    // ---------------------------------------------------------------------------------------------- graph/01
    Entry {
        file: "graph/application_list_and_query",
        anchor: "\"displayName\": \"My app\"",
        // Truncated by Microsoft (5 properties of ~30, no id): the emulator must have these, of these types.
        claim: response(Req::ListApplications, Mode::Covers, Model::ApplicationPage),
    },
    Entry {
        file: "graph/application_list_and_query",
        anchor: "\"@odata.count\":1",
        claim: response(
            Req::ListApplicationsCounted,
            Mode::Covers,
            Model::ApplicationPage,
        ),
    },
    Entry {
        file: "graph/filter_on_credentials_issues",
        anchor: "Complex query on property keyCredentials",
        claim: Claim::Response {
            req: Req::KeyCredentialFilterOnServicePrincipals,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(400),
            repair: &[],
        },
    },
    Entry {
        file: "graph/filter_on_credentials_issues",
        anchor: "NotEqualsMatch",
        claim: Claim::NotApplicable {
            reason: "a /users query; the emulator serves no users collection",
            model: Model::GraphError(400),
        },
    },
    Entry {
        file: "graph/passwordCredential_keyCredential",
        anchor: "\"hint\": \"String\"",
        claim: Claim::Representation {
            req: Req::PasswordCredentials,
            model: Model::None,
        },
    },
    Entry {
        file: "graph/passwordCredential_keyCredential",
        anchor: "#microsoft.graph.keyCredential",
        claim: Claim::Representation {
            req: Req::KeyCredentials,
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/03
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"passwordCredential\": {",
        claim: Claim::Request {
            req: Req::AddPassword,
            model: Model::AddPasswordRequest,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"secretText\"",
        claim: Claim::Response {
            req: Req::AddPassword,
            mode: Mode::Exact,
            // The doc sample shows no context; the real service answers with one (reference README, "GUESS").
            allow: &[Allow::Extra("@odata.context")],
            same: &[],
            model: Model::NewPassword,
            repair: &[],
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "{\"keyId\":\"f0b0b335-1d71-4883-8f98-567911bfdca6\"}",
        claim: Claim::Request {
            req: Req::RemovePassword,
            model: Model::RemovePasswordRequest,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"proof\":\"eyJ",
        claim: Claim::NotApplicable {
            reason: "addKey needs a proof-of-possession JWT; keyturn rotates client secrets only and the emulator \
                     serves no addKey",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "$metadata#microsoft.graph.keyCredential",
        claim: Claim::NotApplicable {
            reason: "addKey answer, truncated by Microsoft to its @odata.context; addKey is not served",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"proof\": \"<jwt>\"",
        claim: Claim::NotApplicable {
            reason: "removeKey body marked GUESS in the reference; removeKey is not served",
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/04
    Entry {
        file: "graph/list_owners",
        anchor: "\"id-value\"",
        claim: Claim::Response {
            req: Req::Owners,
            mode: Mode::Covers,
            // Microsoft's sample is truncated to ids; the service's directoryObject collections carry a context
            // and a type per item (the reference's own inferred shape, next block).
            allow: &[Allow::Extra("@odata.context"), Allow::Extra("@odata.type")],
            same: &[],
            model: Model::OwnersPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/list_owners",
        anchor: "#microsoft.graph.servicePrincipal",
        claim: response(Req::Owners, Mode::Covers, Model::OwnersPage),
    },
    // ---------------------------------------------------------------------------------------------- graph/05
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"Audry Oliver\"",
        claim: Claim::Response {
            req: Req::Audits,
            mode: Mode::Covers,
            // Example 1 capitalises "Type"; example 2 and the resource's field list write "type". The emulator
            // records no additionalDetails (an empty list is valid); the keyValue shape is read by the model.
            allow: &[
                Allow::Renamed("Type", "type"),
                Allow::Skip("$.value[*].additionalDetails"),
            ],
            same: &[],
            model: Model::AuditPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "GroupLifecyclePolicies_Get",
        claim: Claim::Response {
            req: Req::AuditsByUser,
            mode: Mode::Exact,
            // An advisory annotation; example 1 of the same page (no $select either) has none.
            allow: &[Allow::Missing("@microsoft.graph.tips")],
            same: &[],
            model: Model::AuditPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "userIdentity|null",
        claim: Claim::Notation {
            reason: "type notation of initiatedBy; both shapes are compared through examples 1 and 2 and the \
                     appIdentity representation",
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"servicePrincipalName\": \"String\"",
        claim: Claim::Representation {
            req: Req::AuditAppInitiator,
            model: Model::AppIdentity,
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "kavachiq-wi05-spike",
        claim: Claim::Response {
            req: Req::KeyDescription,
            mode: Mode::Exact,
            allow: &[],
            same: &["/displayName"],
            model: Model::ModifiedProperty,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"Included Updated Properties\"",
        claim: Claim::Response {
            req: Req::IncludedUpdatedProperties,
            // A third-party excerpt that leaves oldValue out; the emulator sends it as null like the other entries.
            mode: Mode::Covers,
            allow: &[],
            same: &["/displayName", "/newValue"],
            model: Model::ModifiedProperty,
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/06
    Entry {
        file: "graph/applications_delta",
        anchor: "pqwSUjGY",
        claim: Claim::Response {
            req: Req::DeltaFirstPage,
            mode: Mode::Covers,
            allow: &[],
            same: &[],
            model: Model::ApplicationPage,
            // "The body of the doc sample is junk from an older schema": its item is elided.
            repair: &[("{ ... application ... }", "{}")],
        },
    },
    Entry {
        file: "graph/applications_delta",
        anchor: "\"@removed\"",
        claim: response(Req::DeltaRemoved, Mode::Exact, Model::None),
    },
    Entry {
        file: "graph/applications_delta",
        anchor: "$deltatoken=<opaque>",
        claim: Claim::Response {
            req: Req::DeltaLastPage,
            mode: Mode::Covers,
            allow: &[],
            same: &[],
            model: Model::ApplicationPage,
            repair: &[("[ ... ]", "[]")],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/07
    Entry {
        file: "graph/json_batching",
        anchor: "\"requests\": [ ... ]",
        claim: Claim::Notation {
            reason: "abbreviated request envelope; the $batch requests of BatchOk/Forbidden/MethodNotAllowed use it",
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"ConsistencyLevel\": \"eventual\"",
        claim: Claim::NotApplicable {
            reason: "a sub-request's header map, not a body; ConsistencyLevel is sent by ListApplicationsCounted",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "{ \"id\", \"status\", \"headers\", \"body\" }",
        claim: Claim::Notation {
            reason: "abbreviated response envelope; the three sub-response examples are compared in full",
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"1\"",
        claim: Claim::Response {
            req: Req::BatchOk,
            mode: Mode::Covers,
            // The sample's body lists directoryRoles of /me/memberOf (beta), which the emulator does not serve:
            // the envelope, headers and the annotations' presence are compared; the entity set, its link and its
            // items are not.
            allow: &[
                Allow::Skip("$.body.value[*]"),
                Allow::Skip("$.body.@odata.context"),
                Allow::Skip("$.body.@odata.nextLink"),
            ],
            same: &["/headers/Content-Type", "/headers/Cache-Control"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"3\"",
        claim: Claim::Response {
            req: Req::BatchForbidden,
            mode: Mode::Covers,
            allow: &[],
            same: &["/status", "/body/error/code", "/body/error/message"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"4\"",
        claim: Claim::Response {
            req: Req::BatchMethodNotAllowed,
            mode: Mode::Covers,
            allow: &[],
            same: &["/status", "/body/error/code", "/body/error/message"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/throttling",
        anchor: "TooManyRequests",
        claim: Claim::Response {
            req: Req::Throttled,
            mode: Mode::Exact,
            allow: &[],
            same: &[
                "/error/code",
                "/error/message",
                "/error/innerError/code",
                "/error/innerError/message",
                "/error/innerError/status",
            ],
            model: Model::GraphError(429),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/08
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "\"#microsoft.graph.appCredentialSignInActivity\"",
        claim: Claim::NotApplicable {
            reason: "beta reports API; keyturn reads v1.0 only and the emulator serves no reports",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "\"expirationDate\"",
        claim: Claim::NotApplicable {
            reason: "the sample contradicts its own schema (expirationDate, \"-8:00\"); the client reads it anyway",
            model: Model::CredentialSignIns,
        },
    },
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "servicePrincipalSignInActivities",
        claim: Claim::NotApplicable {
            reason: "beta reports API: not compared with the emulator yet; read by the client",
            model: Model::AppSignIns,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/09
    Entry {
        file: "graph/graph_errors",
        anchor: "invalidRange",
        claim: Claim::Response {
            req: Req::NotFound,
            mode: Mode::Exact,
            // The generic (OneDrive-flavoured) doc sample predates client-request-id, which directory errors carry.
            allow: GRAPH_ERROR_MISSING_CLIENT_REQUEST_ID,
            same: &[],
            model: Model::GraphError(416),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "\"innererror\": { ... }",
        claim: Claim::Notation {
            reason: "the OData spec's error notation; Graph's concrete bodies are the blocks below",
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Authorization_RequestDenied",
        claim: Claim::Response {
            req: Req::Forbidden,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(403),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Specified HTTP method",
        claim: Claim::Response {
            req: Req::MethodNotAllowed,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(405),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Request_ResourceNotFound",
        claim: Claim::Response {
            req: Req::NotFound,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::GraphError(404),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Access token is empty",
        claim: Claim::Response {
            req: Req::NoToken,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(401),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Complex query",
        claim: Claim::Response {
            req: Req::KeyCredentialFilterOnServicePrincipals,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(400),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- keyvault
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/SetSecret/parameters/parameters",
        claim: Claim::Request {
            req: Req::KvSet,
            model: Model::KvSetParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/SetSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvSet,
            mode: Mode::Covers,
            allow: &[],
            same: &["/value", "/attributes/recoveryLevel"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/GetSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvGet,
            mode: Mode::Covers,
            allow: &[],
            same: &["/value", "/attributes/recoveryLevel"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/GetSecretVersions/responses/200/body",
        claim: response(Req::KvVersions, Mode::Covers, Model::KvListResult),
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/UpdateSecret/parameters/parameters",
        claim: Claim::Request {
            req: Req::KvUpdate,
            model: Model::KvUpdateParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/UpdateSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvUpdate,
            mode: Mode::Covers,
            allow: &[],
            same: &["/contentType", "/tags", "/attributes/enabled"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretBundle",
        claim: Claim::OpenApi { req: Req::KvGet },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretAttributes",
        claim: Claim::OpenApi { req: Req::KvSet },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/DeletionRecoveryLevel",
        claim: Claim::OpenApi { req: Req::KvUpdate },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretItem",
        claim: Claim::OpenApi { req: Req::KvList },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretListResult",
        claim: Claim::OpenApi {
            req: Req::KvVersions,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretSetParameters",
        claim: Claim::Request {
            req: Req::KvSet,
            model: Model::KvSetParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretUpdateParameters",
        claim: Claim::Request {
            req: Req::KvUpdate,
            model: Model::KvUpdateParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/DeletedSecretBundle",
        claim: Claim::Notation {
            reason: "a prose summary of the definition; keyturn never deletes secrets and the emulator does not",
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/KeyVaultError",
        claim: Claim::OpenApi {
            req: Req::KvForbidden,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/Error",
        claim: Claim::OpenApi {
            req: Req::KvNotFound,
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "BadArgument",
        claim: Claim::Response {
            req: Req::KvBadParameter,
            mode: Mode::Exact,
            allow: &[],
            same: &[],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "AKV10000",
        claim: Claim::Response {
            req: Req::KvUnauthorized,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "SecretNotFound",
        claim: Claim::Response {
            req: Req::KvNotFound,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "\"Forbidden\"",
        claim: Claim::Response {
            req: Req::KvForbidden,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            // One of the alternatives the reference lists; the emulator's RBAC denial uses it.
            repair: &[(
                "\"AccessDenied\" | \"ForbiddenByPolicy\" | \"ForbiddenByRbac\"",
                "\"ForbiddenByRbac\"",
            )],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "BadParameter",
        claim: Claim::Response {
            req: Req::KvBadParameter,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "\"message\":\"Request is missing",
        // The 2021 wording; the service now prefixes AKV10000 (previous entry): shape only.
        claim: response(Req::KvUnauthorized, Mode::Exact, Model::KvError),
    },
    // ---------------------------------------------------------------------------------------------- entra
    Entry {
        file: "entra/token_endpoint",
        anchor: "\"token_type\": \"Bearer\"",
        claim: Claim::Response {
            req: Req::Token,
            mode: Mode::Exact,
            allow: &[Allow::Extra("ext_expires_in")],
            same: &["/token_type", "/expires_in"],
            model: Model::Token(200),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "\"invalid_scope\"",
        claim: Claim::Response {
            req: Req::TokenInvalidScope,
            mode: Mode::Exact,
            // Added to error bodies after this 2016 sample (the 2020 and 2023 bodies below have it).
            allow: &[Allow::Extra("error_uri")],
            same: &["/error", "/error_codes"],
            model: Model::Token(400),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "for a secret added to app",
        claim: Claim::Response {
            req: Req::TokenInvalidClient,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error", "/error_codes", "/error_uri"],
            model: Model::Token(401),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "Invalid client secret is provided",
        // Same shape, the 2020 wording (the 2023 wording above is what the emulator sends).
        claim: Claim::Response {
            req: Req::TokenInvalidClient,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error", "/error_codes", "/error_uri"],
            model: Model::Token(401),
            repair: &[],
        },
    },
    Entry {
        file: "entra/device_code_flow",
        anchor: "\"refresh_token\"",
        claim: Claim::Response {
            req: Req::DeviceCodeToken,
            mode: Mode::Exact,
            allow: &[Allow::Extra("ext_expires_in")],
            same: &["/token_type", "/expires_in"],
            model: Model::Token(200),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- o365
    Entry {
        file: "o365/management_activity_api",
        anchor: "{\"webhook\":{\"address\"",
        claim: Claim::Notation {
            reason: "Management Activity API notation; keyturn reads Graph's directoryAudits instead",
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"status\": \"enabled\"",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"contentId\"",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"RecordType\": 8",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API record: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "{Name, NewValue, OldValue}",
        claim: Claim::Notation {
            reason: "field-list notation of an O365 record; not used",
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "AF50000",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API error: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/16
    Entry {
        file: "graph/app_role_assignments_and_app_management_policy",
        anchor: "$metadata#appRoleAssignments",
        claim: Claim::NotApplicable {
            reason: "appRoleAssignments of a service principal: not compared with the emulator yet",
            model: Model::AppRoleAssignments,
        },
    },
    Entry {
        file: "graph/app_role_assignments_and_app_management_policy",
        anchor: "defaultAppManagementPolicy",
        claim: Claim::NotApplicable {
            reason: "the tenant's default app management policy: not compared with the emulator yet",
            model: Model::TenantAppManagementPolicy,
        },
    },
    Entry {
        file: "graph/app_management_policies_of_an_app",
        anchor: "Custom app management policy",
        claim: Claim::NotApplicable {
            reason: "an app's own app management policies: not compared with the emulator yet",
            model: Model::AppManagementPolicies,
        },
    },
    Entry {
        file: "graph/beta_reports_errors",
        anchor: "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        claim: Claim::NotApplicable {
            reason: "a tenant without Entra ID P1/P2: not compared with the emulator yet",
            model: Model::LastUseUnavailable,
        },
    },
];

fn block_for(entry: &Entry) -> Block {
    let found: Vec<Block> = blocks_of(entry.file)
        .into_iter()
        .filter(|b| b.matches(entry.anchor))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{}: anchor {:?} must match exactly one block, matched {}",
        entry.file,
        entry.anchor,
        found.len()
    );
    found.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// The example as JSON, after the entry's documented repairs.
fn example_json(entry: &Entry, block: &Block) -> Value {
    let repair = match entry.claim {
        Claim::Response { repair, .. } => repair,
        _ => &[][..],
    };
    if repair.is_empty() {
        return block.json.clone().unwrap_or_else(|| {
            panic!(
                "{} {}: the block is not JSON and the entry names no repair: {}",
                block.file, block.locator, block.text
            )
        });
    }
    let mut text = block.text.clone();
    for (from, to) in repair {
        assert!(
            text.contains(from),
            "{} {}: repair {from:?} no longer applies",
            block.file,
            block.locator
        );
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} {}: still not JSON after the repairs ({e}): {text}",
            block.file, block.locator
        )
    })
}

// =============================================================================================================
// Checks of Microsoft's "JSON representation" blocks and of the Key Vault OpenAPI definitions

/// `"String (timestamp)"` and friends: the type a representation block writes in place of a value.
fn representation_check(repr: &Value, actual: &Value) -> Result<(), Difference> {
    let (Some(r), Some(a)) = (repr.as_object(), actual.as_object()) else {
        return Err(Difference {
            path: "$".into(),
            what: format!("expected an object, the emulator sent {actual}"),
        });
    };
    for (k, t) in r {
        if k == "@odata.type" {
            continue; // names the resource; not on the wire for non-polymorphic values
        }
        let path = format!("$.{k}");
        let Some(v) = a.get(k) else {
            return Err(Difference {
                path,
                what: "a property of the resource, missing in the emulator's object".into(),
            });
        };
        let t = t.as_str().unwrap_or_default();
        let ok = match (t, v) {
            (_, Value::Null) => true, // every property of these resources is nullable in Graph's metadata
            ("String", Value::String(_)) => true,
            ("Guid", Value::String(s)) => shape::str_kind(s) == shape::StrKind::Guid,
            ("String (timestamp)", Value::String(s)) => {
                shape::str_kind(s) == shape::StrKind::Timestamp
            }
            ("Binary", Value::String(s)) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            }
            _ => false,
        };
        if !ok {
            return Err(Difference {
                path,
                what: format!("{v} is not a {t}"),
            });
        }
    }
    if let Some(extra) = a.keys().find(|k| !r.contains_key(*k)) {
        return Err(Difference {
            path: format!("$.{extra}"),
            what: "not a property of the resource's representation".into(),
        });
    }
    Ok(())
}

/// Validate `actual` against definition `name` of the Key Vault OpenAPI excerpt: only declared properties, of the
/// declared types, enums respected; `$ref` followed.
fn openapi_check(defs: &Value, name: &str, actual: &Value, path: &str) -> Result<(), Difference> {
    let def = defs
        .get(name)
        .unwrap_or_else(|| panic!("definition {name} is not in the OpenAPI excerpt"));
    schema_check(defs, def, actual, path)
}

fn schema_check(defs: &Value, schema: &Value, v: &Value, path: &str) -> Result<(), Difference> {
    let fail = |what: String| {
        Err(Difference {
            path: path.to_string(),
            what,
        })
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return openapi_check(defs, name, v, path);
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        return fail(format!("{v} is not one of {options:?}"));
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    match (ty, v) {
        ("object", Value::Object(o)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, val) in o {
                let child = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) | (None, Some(s)) => schema_check(defs, s, val, &child)?,
                    (None, None) => {
                        return Err(Difference {
                            path: child,
                            what: "not a property of the definition".into(),
                        });
                    }
                }
            }
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !o.contains_key(req) {
                    return fail(format!("required property {req} is missing"));
                }
            }
            Ok(())
        }
        ("array", Value::Array(items)) => {
            let item_schema = schema.get("items").cloned().unwrap_or(json!({}));
            for (i, item) in items.iter().enumerate() {
                schema_check(defs, &item_schema, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => Ok(()),
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (_, Value::Null) if schema.get("x-nullable") == Some(&json!(true)) => Ok(()),
        _ => fail(format!("{v} is not of type {ty}")),
    }
}

// =============================================================================================================
// Client models

/// Every value a model captured equals the source's value (dates compared as instants): a model field whose name
/// drifted from the wire reads `null` and serialises a key the source does not have with a non-default value, or
/// loses a value. `complete` (a full emulator object, every property present): every model key must exist in the
/// source, which catches a renamed model field even when its value is null.
fn captured(
    model: &Value,
    source: &Value,
    renames: &[(&str, &str)],
    complete: bool,
    path: &str,
) -> Result<(), String> {
    match (model, source) {
        (Value::Object(m), Value::Object(s)) => {
            for (k, mv) in m {
                let sk = renames
                    .iter()
                    .find(|(_, to)| to == k)
                    .map(|(from, _)| *from)
                    .filter(|from| s.contains_key(*from))
                    .unwrap_or(k.as_str());
                let child = format!("{path}.{k}");
                match s.get(sk) {
                    Some(sv) => captured(mv, sv, renames, complete, &child)?,
                    None if complete => {
                        return Err(format!(
                            "{child}: the model has a field the wire object lacks"
                        ));
                    }
                    None => {
                        let default = mv.is_null()
                            || mv.as_array().is_some_and(Vec::is_empty)
                            || mv.as_object().is_some_and(|o| o.is_empty());
                        if !default {
                            return Err(format!(
                                "{child}: the model holds {mv} but the wire object has no {k}"
                            ));
                        }
                    }
                }
            }
            Ok(())
        }
        (Value::Array(m), Value::Array(s)) if m.len() == s.len() => {
            m.iter().zip(s).enumerate().try_for_each(|(i, (mv, sv))| {
                captured(mv, sv, renames, complete, &format!("{path}[{i}]"))
            })
        }
        (Value::String(a), Value::String(b)) => {
            let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            match (instant(a), instant(b)) {
                (Some(x), Some(y)) if x == y => Ok(()),
                _ if a == b => Ok(()),
                _ => Err(format!("{path}: the model read {a:?} from {b:?}")),
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (Value::Null, Value::Null) => Ok(()),
        (Value::Null, s) => Err(format!("{path}: the model lost the value {s}")),
        (m, s) if m == s => Ok(()),
        (m, s) => Err(format!("{path}: the model holds {m}, the wire has {s}")),
    }
}

/// A token credential that hands out one fixed token, for clients pointed at a replay server.
#[derive(Debug)]
struct FixedToken;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for FixedToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Ok(azure_core::credentials::AccessToken::new(
            "replay-token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

/// A one-route HTTP/1.1 server on 127.0.0.1 answering every request with the same status, headers and body, and
/// keeping the request bodies: feeds Microsoft's bytes to keyturn's own `GraphClient`.
struct Replay {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn replay(status: u16, headers: &[(&str, &str)], body: &str) -> Replay {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut head = format!("HTTP/1.1 {status} Replay\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let answer = [head.into_bytes(), body.as_bytes().to_vec()].concat();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let header_end = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(p + 4);
                }
            };
            let Some(header_end) = header_end else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < header_end + length {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            seen.lock()
                .expect("replay lock")
                .push(buf[header_end..].to_vec());
            let _ = sock.write_all(&answer).await;
            let _ = sock.shutdown().await;
        }
    });
    Replay { url, bodies, task }
}

fn replay_client(r: &Replay) -> GraphClient {
    let http = keyturn::net::http_client(&keyturn::net::HttpOptions {
        ca_cert: None,
        timeout: Some(Duration::from_secs(10)),
    })
    .expect("an HTTP client");
    GraphClient::new(&r.url, http, Arc::new(FixedToken))
        .expect("a Graph client")
        .with_retry(RetryPolicy {
            max_attempts: 1,
            max_wait: Duration::from_millis(10),
            backoff: Duration::from_millis(10),
        })
}

/// Microsoft's samples of a list item may omit `id`, which Graph always returns ("Key. Not nullable." in
/// application.md) and which keyturn's models require: supply one, and only when it is missing.
fn with_ids(mut v: Value) -> Value {
    if let Some(items) = v.get_mut("value").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(o) = item.as_object_mut()
                && !o.contains_key("id")
            {
                o.insert("id".into(), json!("00000000-0000-0000-0000-00000000001d"));
            }
        }
    }
    v
}

/// Parse `source` (an example or the emulator's answer) with the client model; `complete` when every property of
/// the wire objects is present (emulator answers without $select).
async fn parse_with(
    model: Model,
    source: &Value,
    renames: &[(&str, &str)],
    complete: bool,
) -> Result<(), String> {
    use azure_security_keyvault_secrets::models as kv;
    let via_serde = |item: &Value, parsed: Result<Value, serde_json::Error>| match parsed {
        Ok(m) => captured(&m, item, renames, complete, "$"),
        Err(e) => Err(format!("does not parse: {e}")),
    };
    match model {
        Model::None => Ok(()),
        Model::ApplicationPage => {
            let body = with_ids(source.clone());
            let r = replay(200, &[], &body.to_string()).await;
            // One page only: a sample's nextLink points at the real service.
            let mut pager = replay_client(&r).pager::<keyturn::graph::Application>(
                format!("{}/v1.0/applications", r.url),
                keyturn::graph::client::ops::LIST_APPLICATIONS,
            );
            let page = pager
                .next_page()
                .await
                .ok_or("no page")?
                .map_err(|e| format!("GraphClient's pager: {e}"))?;
            let items = body["value"].as_array().cloned().unwrap_or_default();
            if page.value.len() != items.len()
                || page.next_link.as_deref() != body["@odata.nextLink"].as_str()
                || page.delta_link.as_deref() != body["@odata.deltaLink"].as_str()
            {
                return Err(format!(
                    "the pager read {} items, next {:?}, delta {:?}",
                    page.value.len(),
                    page.next_link,
                    page.delta_link
                ));
            }
            for (item, app) in items.iter().zip(&page.value) {
                via_serde(item, serde_json::to_value(app))?;
            }
            Ok(())
        }
        Model::CredentialSignIns => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .credential_sign_ins(&keyturn::graph::AppId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::credential_sign_ins: {e}"))?;
            let keyturn::graph::LastUse::Known(got) = got else {
                return Err("a 200 read as unavailable".into());
            };
            let want: Vec<&str> = source["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["keyId"].as_str()).collect())
                .unwrap_or_default();
            let read: Vec<&str> = got.iter().map(|a| a.key_id.as_str()).collect();
            if read != want || got.iter().any(|a| a.last_sign_in().is_none()) {
                return Err(format!("credential_sign_ins read {read:?}, want {want:?}"));
            }
            Ok(())
        }
        Model::AppSignIns => {
            let r = replay(200, &[], &source.to_string()).await;
            let app = source["value"][0]["appId"].as_str().unwrap_or_default();
            let got = replay_client(&r)
                .app_sign_ins(&keyturn::graph::AppId::new(app))
                .await
                .map_err(|e| format!("GraphClient::app_sign_ins: {e}"))?;
            match got {
                keyturn::graph::LastUse::Known(Some(a)) if a.last_sign_in().is_some() => Ok(()),
                other => Err(format!("app_sign_ins read {other:?}")),
            }
        }
        Model::AppRoleAssignments => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .app_role_assignments(&ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::app_role_assignments: {e}"))?;
            let want: Vec<&str> = source["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["appRoleId"].as_str()).collect())
                .unwrap_or_default();
            let read: Vec<&str> = got.iter().map(|a| a.app_role_id.as_str()).collect();
            (read == want)
                .then_some(())
                .ok_or_else(|| format!("app_role_assignments read {read:?}, want {want:?}"))
        }
        Model::TenantAppManagementPolicy => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .default_app_management_policy()
                .await
                .map_err(|e| format!("GraphClient::default_app_management_policy: {e}"))?;
            let same = Some(got.is_enabled) == source["isEnabled"].as_bool()
                && got.application_restrictions.password_credentials.len()
                    == source["applicationRestrictions"]["passwordCredentials"]
                        .as_array()
                        .map_or(0, Vec::len);
            same.then_some(())
                .ok_or_else(|| format!("default_app_management_policy read {got:?}"))
        }
        Model::AppManagementPolicies => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .app_management_policies(&ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::app_management_policies: {e}"))?;
            let want: Vec<usize> = source["value"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            p["restrictions"]["passwordCredentials"]
                                .as_array()
                                .map_or(0, Vec::len)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let read: Vec<usize> = got
                .iter()
                .map(|p| p.restrictions.password_credentials.len())
                .collect();
            (read == want)
                .then_some(())
                .ok_or_else(|| format!("app_management_policies read {read:?}, want {want:?}"))
        }
        Model::LastUseUnavailable => {
            let r = replay(403, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .credential_sign_ins(&keyturn::graph::AppId::new("x"))
                .await
                .map_err(|e| {
                    format!("a 403 report failed instead of reading as unavailable: {e}")
                })?;
            match got {
                keyturn::graph::LastUse::Unavailable { reason }
                    if reason.starts_with(keyturn::graph::LAST_USE_UNKNOWN)
                        && reason.contains(source["error"]["code"].as_str().unwrap_or("?")) =>
                {
                    Ok(())
                }
                other => Err(format!("a 403 report read as {other:?}")),
            }
        }
        Model::OwnersPage => {
            let r = replay(200, &[], &source.to_string()).await;
            let owners = replay_client(&r)
                .owners(ObjectType::Application, &ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::owners: {e}"))?;
            let items = source["value"].as_array().cloned().unwrap_or_default();
            if owners.len() != items.len() {
                return Err(format!("owners read {} of {}", owners.len(), items.len()));
            }
            for (item, owner) in items.iter().zip(&owners) {
                if !matches!(owner, keyturn::graph::Owner::Other) {
                    via_serde(item, serde_json::to_value(owner))?;
                }
            }
            Ok(())
        }
        Model::AuditPage => {
            let r = replay(200, &[], &source.to_string()).await;
            let events = replay_client(&r)
                .audit_events(&ObjectId::new("x"), chrono::Utc::now())
                .await
                .map_err(|e| format!("GraphClient::audit_events: {e}"))?;
            let items = source["value"].as_array().cloned().unwrap_or_default();
            if events.len() != items.len() {
                return Err(format!(
                    "audit_events read {} of {}",
                    events.len(),
                    items.len()
                ));
            }
            for item in &items {
                let m: keyturn::graph::DirectoryAudit = serde_json::from_value(item.clone())
                    .map_err(|e| format!("DirectoryAudit does not parse: {e}"))?;
                via_serde(item, serde_json::to_value(&m))?;
            }
            Ok(())
        }
        Model::NewPassword => {
            use secrecy::ExposeSecret;
            let r = replay(200, &[], &source.to_string()).await;
            let p = replay_client(&r)
                .add_password(ObjectType::Application, &ObjectId::new("x"), "n", None)
                .await
                .map_err(|e| format!("GraphClient::add_password: {e}"))?;
            let same = p.key_id.as_str() == source["keyId"]
                && p.hint.as_deref() == source["hint"].as_str()
                && p.display_name.as_deref() == source["displayName"].as_str()
                && Some(p.secret_text.expose_secret()) == source["secretText"].as_str()
                && p.end_date_time.map(|d| d.timestamp())
                    == source["endDateTime"]
                        .as_str()
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|d| d.timestamp());
            if same {
                Ok(())
            } else {
                Err(format!("NewPasswordCredential read {p:?} from {source}"))
            }
        }
        Model::ModifiedProperty => {
            let m: keyturn::graph::ModifiedProperty = serde_json::from_value(source.clone())
                .map_err(|e| format!("ModifiedProperty does not parse: {e}"))?;
            via_serde(source, serde_json::to_value(&m))?;
            if m.display_name.as_deref() == Some("KeyDescription") {
                let decoded = keyturn::graph::audit::decode_key_description(m.new_value.as_deref());
                let raw: Vec<String> = m
                    .new_value
                    .as_deref()
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default();
                if decoded.len() != raw.len() || decoded.is_empty() {
                    return Err(format!("KeyDescription decoded {decoded:?} from {raw:?}"));
                }
                for (d, r) in decoded.iter().zip(&raw) {
                    let text = format!(
                        "[KeyIdentifier={},KeyType={},KeyUsage={},DisplayName={}]",
                        d.key_id, d.key_type, d.key_usage, d.display_name
                    );
                    if &text != r {
                        return Err(format!("KeyDescription decoded {d:?} from {r:?}"));
                    }
                }
            }
            Ok(())
        }
        Model::AppIdentity => via_serde(
            source,
            serde_json::from_value::<keyturn::graph::AppIdentity>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::GraphError(status) => {
            let r = replay(status, &[("Retry-After", "2.128")], &source.to_string()).await;
            let e = replay_client(&r)
                .get_json::<Value>(
                    &format!("{}/v1.0/applications", r.url),
                    keyturn::graph::client::ops::LIST_APPLICATIONS,
                )
                .await
                .expect_err("an error status");
            let (code, message) = (
                source["error"]["code"].as_str().unwrap_or_default(),
                source["error"]["message"].as_str().unwrap_or_default(),
            );
            let ok = match &e {
                GraphError::Throttled { retry_after, .. } => {
                    *retry_after == Duration::from_millis(2128)
                }
                GraphError::NotFound { message: m, .. } => m == message,
                GraphError::Forbidden {
                    code: c,
                    message: m,
                    ..
                }
                | GraphError::Unauthorized {
                    code: c,
                    message: m,
                }
                | GraphError::BadRequest {
                    code: c,
                    message: m,
                    ..
                }
                | GraphError::Server {
                    code: c,
                    message: m,
                    ..
                } => c == code && m == message,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("GraphClient read {e:?} from {source}"))
            }
        }
        Model::AddPasswordRequest | Model::RemovePasswordRequest => Ok(()), // see client_request_shape
        Model::KvSecret => via_serde(
            source,
            serde_json::from_value::<kv::Secret>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::KvListResult => {
            let m: kv::ListSecretPropertiesResult = serde_json::from_value(source.clone())
                .map_err(|e| format!("ListSecretPropertiesResult does not parse: {e}"))?;
            if m.next_link.as_deref() != source["nextLink"].as_str() {
                return Err(format!("nextLink read as {:?}", m.next_link));
            }
            via_serde(source, serde_json::to_value(&m))
        }
        Model::KvError => {
            let m: kv::KeyVaultError = serde_json::from_value(source.clone())
                .map_err(|e| format!("KeyVaultError does not parse: {e}"))?;
            let err = m.error.ok_or("no error member")?;
            if err.code.as_deref() == source["error"]["code"].as_str()
                && err.message.as_deref() == source["error"]["message"].as_str()
            {
                Ok(())
            } else {
                Err(format!(
                    "KeyVaultError read {:?} / {:?}",
                    err.code, err.message
                ))
            }
        }
        Model::KvSetParameters => via_serde(
            source,
            serde_json::from_value::<kv::SetSecretParameters>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::KvUpdateParameters => via_serde(
            source,
            serde_json::from_value::<kv::UpdateSecretPropertiesParameters>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::Token(status) => token_model(status, source).await,
    }
}

/// An azure_core transport that answers every request with one canned token-endpoint response.
#[derive(Debug)]
struct CannedTransport {
    status: u16,
    body: String,
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for CannedTransport {
    async fn execute_request(
        &self,
        _request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let mut headers = azure_core::http::headers::Headers::new();
        headers.insert("content-type", "application/json; charset=utf-8");
        Ok(azure_core::http::AsyncRawResponse::from_bytes(
            azure_core::http::StatusCode::from(self.status),
            headers,
            self.body.clone().into_bytes(),
        ))
    }
}

/// azure_identity's ClientSecretCredential (the credential keyturn signs in with) reads the token response: the
/// access token of a success, the AADSTS code of an error.
async fn token_model(status: u16, source: &Value) -> Result<(), String> {
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    let transport = CannedTransport {
        status,
        body: source.to_string(),
    };
    let credential = ClientSecretCredential::new(
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002".into(),
        "secret".to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(transport))),
                ..Default::default()
            },
        }),
    )
    .map_err(|e| e.to_string())?;
    let got = credential.get_token(&[GRAPH_SCOPE], None).await;
    match (status, got) {
        (200, Ok(t)) if t.token.secret() == source["access_token"].as_str().unwrap_or_default() => {
            let expected = source["expires_in"].as_i64().unwrap_or_default();
            let left = (t.expires_on - azure_core::time::OffsetDateTime::now_utc()).whole_seconds();
            if (left - expected).abs() <= 5 {
                Ok(())
            } else {
                Err(format!("expires in {left} s, the body says {expected}"))
            }
        }
        (200, other) => Err(format!("azure_identity read {other:?}")),
        (_, Ok(_)) => Err("azure_identity accepted an error body".into()),
        (_, Err(e)) => {
            let text = keyturn::graph::client::error_chain(&e);
            let code = source["error_codes"][0].to_string();
            if text.contains(&format!("AADSTS{code}")) {
                Ok(())
            } else {
                Err(format!(
                    "azure_identity's error does not name AADSTS{code}: {text}"
                ))
            }
        }
    }
}

// =============================================================================================================
// The emulator side

/// What the emulator answered.
#[derive(Debug, Clone)]
struct Observed {
    status: u16,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    text: String,
    json: Value,
}

impl Observed {
    async fn from(resp: reqwest::Response) -> Observed {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = resp.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Observed {
            status,
            headers,
            text,
            json,
        }
    }

    fn part(&self, json: Value) -> Observed {
        Observed {
            json,
            ..self.clone()
        }
    }
}

/// One emulator (the demo tenant) and everything the requests of [`Req`] need.
struct Lab {
    emu: Emulator,
    http: reqwest::Client,
    graph: String,
    vault: String,
    /// Tokens of a client with no Graph roles and no vault role.
    graph_none: String,
    vault_none: String,
    /// The application addPassword and owners are run on.
    app_id: String,
    app_object_id: String,
    seen: HashMap<Req, Observed>,
}

const KV_API: &str = "2026-04-01";

impl Lab {
    async fn new() -> Lab {
        let emu = start(EmulatorConfig::default()).await;
        let http = client(&emu);
        let graph = graph_token(&emu).await;
        let vault = vault_token(&emu).await;
        let (none_id, none_secret) = emu.add_client("conformance without roles", &[]);
        let graph_none = support::token_as(&emu, &none_id, &none_secret, GRAPH_SCOPE).await;
        let vault_none = support::token_as(&emu, &none_id, &none_secret, VAULT_SCOPE).await;
        // An application with user owners and a secret, as the demo tenant's first ones are.
        let state = emu.state();
        let app = state["applications"]
            .as_array()
            .and_then(|apps| {
                apps.iter().find(|a| {
                    a["owners"].as_array().is_some_and(|o| o.len() >= 2)
                        && a["passwordCredentials"]
                            .as_array()
                            .is_some_and(|p| !p.is_empty())
                })
            })
            .expect("the demo tenant has an application with two owners and a secret")
            .clone();
        Lab {
            http,
            graph,
            vault,
            graph_none,
            vault_none,
            app_id: app["appId"].as_str().unwrap_or_default().to_string(),
            app_object_id: app["id"].as_str().unwrap_or_default().to_string(),
            emu,
            seen: HashMap::new(),
        }
    }

    fn graph_url(&self, path: &str) -> String {
        if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/v1.0{path}", self.emu.info().graph_url)
        }
    }

    async fn graph_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Observed {
        let mut req = self.http.request(method, self.graph_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Observed::from(req.send().await.expect("Graph answers")).await
    }

    async fn get(&self, path: &str) -> Observed {
        self.graph_call(reqwest::Method::GET, path, Some(&self.graph), None)
            .await
    }

    async fn vault_call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Observed {
        let url = format!("{}{path}?{query}", self.emu.info().vault_urls[0]);
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Observed::from(req.send().await.expect("the vault answers")).await
    }

    async fn token_call(&self, form: &[(&str, &str)], path: &str) -> Observed {
        let info = self.emu.info();
        let url = format!(
            "{}/{}/oauth2/v2.0/{path}",
            info.authority_host, info.tenant_id
        );
        Observed::from(
            self.http
                .post(url)
                .form(form)
                .send()
                .await
                .expect("the token endpoint answers"),
        )
        .await
    }

    /// The example request body of a fixture (requests are sent as Microsoft wrote them).
    fn example(&self, file: &str, anchor: &str) -> Value {
        let entry = Entry {
            file: leak_str(file),
            anchor: leak_str(anchor),
            claim: Claim::Notation { reason: "" },
        };
        block_for(&entry).json.expect("a JSON example")
    }

    fn first(
        &self,
        obs: &Observed,
        what: &str,
        pick: impl Fn(&Value) -> Option<Value>,
    ) -> Observed {
        let v = pick(&obs.json).unwrap_or_else(|| panic!("{what} not found in {}", obs.text));
        obs.part(v)
    }

    /// Run every request once, in an order where each finds what it needs.
    async fn observe_all(&mut self) {
        let order = [
            Req::ListApplications,
            Req::ListApplicationsCounted,
            Req::PasswordCredentials,
            Req::KeyCredentials,
            Req::KeyCredentialFilterOnServicePrincipals,
            Req::AddPassword,
            Req::RemovePassword,
            Req::KeyDescription,
            Req::IncludedUpdatedProperties,
            Req::AuditAppInitiator,
            Req::Owners,
            Req::Audits,
            Req::AuditsByUser,
            Req::DeltaFirstPage,
            Req::DeltaLastPage,
            Req::DeltaRemoved,
            Req::BatchOk,
            Req::BatchForbidden,
            Req::BatchMethodNotAllowed,
            Req::Throttled,
            Req::Forbidden,
            Req::MethodNotAllowed,
            Req::NotFound,
            Req::NoToken,
            Req::KvSet,
            Req::KvGet,
            Req::KvVersions,
            Req::KvUpdate,
            Req::KvList,
            Req::KvUnauthorized,
            Req::KvNotFound,
            Req::KvForbidden,
            Req::KvBadParameter,
            Req::Token,
            Req::TokenInvalidScope,
            Req::TokenInvalidClient,
            Req::DeviceCodeToken,
        ];
        for req in order {
            let obs = self.observe(req).await;
            self.seen.insert(req, obs);
        }
    }

    fn seen(&self, req: Req) -> &Observed {
        self.seen
            .get(&req)
            .unwrap_or_else(|| panic!("{req:?} was not observed"))
    }

    async fn observe(&mut self, req: Req) -> Observed {
        use reqwest::Method;
        let creds_event = |obs: &Observed| -> Option<Value> {
            obs.json["value"]
                .as_array()?
                .iter()
                .find(|e| {
                    e["activityDisplayName"]
                        .as_str()
                        .is_some_and(keyturn::graph::audit::is_credential_activity)
                })
                .cloned()
        };
        match req {
            Req::ListApplications => self.get("/applications").await,
            Req::ListApplicationsCounted => {
                let resp = self
                    .http
                    .get(self.graph_url(
                        "/applications?$filter=startswith(displayName, 'h')&$count=true&$top=1&$orderby=displayName",
                    ))
                    .bearer_auth(&self.graph)
                    .header("ConsistencyLevel", "eventual")
                    .send()
                    .await
                    .expect("Graph answers");
                Observed::from(resp).await
            }
            Req::PasswordCredentials | Req::KeyCredentials => {
                let prop = if req == Req::PasswordCredentials {
                    "passwordCredentials"
                } else {
                    "keyCredentials"
                };
                let apps = self.get("/applications?$top=999").await;
                let sps = self.get("/servicePrincipals?$top=999").await;
                let all: Vec<Value> = [&apps, &sps]
                    .iter()
                    .flat_map(|o| o.json["value"].as_array().cloned().unwrap_or_default())
                    .flat_map(|o| o[prop].as_array().cloned().unwrap_or_default())
                    .collect();
                apps.part(Value::Array(all))
            }
            Req::KeyCredentialFilterOnServicePrincipals => {
                self.get("/servicePrincipals?$filter=keyCredentials/any(k:k/endDateTime le 2021-01-02T12:00:00Z)")
                    .await
            }
            Req::AddPassword => {
                let body = self.example("graph/addPassword_removePassword", "\"passwordCredential\": {");
                let path = format!("/applications/{}/addPassword", self.app_object_id);
                self.graph_call(Method::POST, &path, Some(&self.graph), Some(&body))
                    .await
            }
            Req::RemovePassword => {
                let added = self.seen(Req::AddPassword).json["keyId"].clone();
                let mut body = self.example(
                    "graph/addPassword_removePassword",
                    "{\"keyId\":\"f0b0b335-1d71-4883-8f98-567911bfdca6\"}",
                );
                body["keyId"] = added;
                let path = format!("/applications/{}/removePassword", self.app_object_id);
                // A real tenant refuses a removal this soon after the add for a moment (replication): retry.
                let mut last = None;
                for _ in 0..20 {
                    let obs = self
                        .graph_call(Method::POST, &path, Some(&self.graph), Some(&body))
                        .await;
                    if obs.status != 400 {
                        return obs;
                    }
                    last = Some(obs);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                last.expect("an answer")
            }
            Req::KeyDescription | Req::IncludedUpdatedProperties | Req::AuditAppInitiator => {
                let filter = format!("targetResources/any(t:t/id eq '{}')", self.app_object_id);
                let obs = self
                    .get(&format!(
                        "/auditLogs/directoryAudits?$filter={}",
                        keyturn::graph::client::urlencode(&filter)
                    ))
                    .await;
                // Newest first: the removal's event, then the addition's. The addition is the one whose
                // KeyDescription gains the key (newValue has it, oldValue not).
                let added = self.seen(Req::AddPassword).json["keyId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let event = obs.json["value"]
                    .as_array()
                    .and_then(|events| {
                        events.iter().find(|e| {
                            let props = &e["targetResources"][0]["modifiedProperties"];
                            creds_event(&obs.part(json!({"value": [e]}))).is_some()
                                && props.as_array().is_some_and(|p| {
                                    p.iter().any(|m| {
                                        m["displayName"] == "KeyDescription"
                                            && m["newValue"].as_str().is_some_and(|v| v.contains(&added))
                                            && !m["oldValue"].as_str().is_some_and(|v| v.contains(&added))
                                    })
                                })
                        })
                    })
                    .cloned()
                    .unwrap_or_else(|| panic!("no credential event for the added key in {}", obs.text));
                let name = match req {
                    Req::KeyDescription => "KeyDescription",
                    Req::IncludedUpdatedProperties => "Included Updated Properties",
                    _ => return obs.part(event["initiatedBy"]["app"].clone()),
                };
                self.first(&obs.part(event), name, |e| {
                    e["targetResources"][0]["modifiedProperties"]
                        .as_array()?
                        .iter()
                        .find(|m| m["displayName"] == name)
                        .cloned()
                })
            }
            Req::Owners => {
                // Two users own the application; make the signed-in client's service principal a third owner.
                let client_id = self.emu.info().client_id.clone();
                assert!(self.emu.add_owner(&self.app_id, &client_id));
                self.get(&format!("/applications/{}/owners", self.app_object_id))
                    .await
            }
            Req::Audits => self.get("/auditLogs/directoryaudits").await,
            Req::AuditsByUser => {
                let all = self.get("/auditLogs/directoryAudits?$top=999").await;
                let user = all.json["value"]
                    .as_array()
                    .and_then(|v| v.iter().find_map(|e| e["initiatedBy"]["user"]["id"].as_str()))
                    .expect("the demo tenant's audit trail has changes made by users")
                    .to_string();
                let filter = format!("initiatedBy/user/id eq '{user}'");
                self.get(&format!(
                    "/auditLogs/directoryAudits?$filter={}",
                    keyturn::graph::client::urlencode(&filter)
                ))
                .await
            }
            Req::DeltaFirstPage => self.get("/applications/delta?$top=5").await,
            Req::DeltaLastPage => {
                let mut obs = self.seen(Req::DeltaFirstPage).clone();
                while let Some(next) = obs.json["@odata.nextLink"].as_str().map(str::to_string) {
                    obs = self.get(&next).await;
                }
                obs
            }
            Req::DeltaRemoved => {
                let delta = self.seen(Req::DeltaLastPage).json["@odata.deltaLink"]
                    .as_str()
                    .expect("a deltaLink")
                    .to_string();
                let state = self.emu.state();
                let victim = state["applications"]
                    .as_array()
                    .and_then(|a| a.iter().rev().find(|x| x["id"] != self.app_object_id.as_str()))
                    .and_then(|a| a["id"].as_str())
                    .expect("another application")
                    .to_string();
                assert!(self.emu.mutate_app(&victim, AppChange::Delete));
                let obs = self.get(&delta).await;
                self.first(&obs, "the removed application", |v| {
                    v["value"].as_array()?.iter().find(|x| x["id"] == victim.as_str()).cloned()
                })
            }
            Req::BatchOk | Req::BatchForbidden | Req::BatchMethodNotAllowed => {
                let (token, method) = match req {
                    Req::BatchOk => (self.graph.clone(), "GET"),
                    Req::BatchForbidden => (self.graph_none.clone(), "GET"),
                    _ => (self.graph.clone(), "DELETE"),
                };
                let id = match req {
                    Req::BatchOk => "1",
                    Req::BatchForbidden => "3",
                    _ => "4",
                };
                let body = json!({"requests": [{"id": id, "method": method, "url": "/applications?$top=1"}]});
                let obs = self
                    .graph_call(Method::POST, "/$batch", Some(&token), Some(&body))
                    .await;
                assert_eq!(obs.status, 200, "{}", obs.text);
                self.first(&obs, "the sub-response", |v| v["responses"].get(0).cloned())
            }
            Req::Throttled => {
                self.emu.faults().add(Fault {
                    op: Op::ListApplications,
                    kind: FaultKind::Throttle {
                        retry_after: "2.128".into(),
                    },
                    times: 1,
                });
                self.get("/applications").await
            }
            Req::Forbidden => {
                self.graph_call(Method::GET, "/applications", Some(&self.graph_none), None)
                    .await
            }
            Req::MethodNotAllowed => {
                self.graph_call(Method::DELETE, "/applications", Some(&self.graph), None)
                    .await
            }
            Req::NotFound => {
                self.get("/applications/5b31c38c-2584-42f0-aa47-657fb3a84230")
                    .await
            }
            Req::NoToken => self.graph_call(Method::GET, "/applications", None, None).await,
            Req::KvSet => {
                let body = self.example("keyvault/kv_secrets_examples.json", "/SetSecret/parameters/parameters");
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::PUT, "/secrets/crpsecret", &q, Some(&self.vault), Some(&body))
                    .await
            }
            Req::KvGet => {
                let version = self.version_of(Req::KvSet);
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, &format!("/secrets/crpsecret/{version}"), &q, Some(&self.vault), None)
                    .await
            }
            Req::KvVersions => {
                let body = json!({"value": "a second version"});
                let q = format!("api-version={KV_API}");
                let second = self
                    .vault_call(Method::PUT, "/secrets/crpsecret", &q, Some(&self.vault), Some(&body))
                    .await;
                assert_eq!(second.status, 200, "{}", second.text);
                let q = format!("api-version={KV_API}&maxresults=1");
                self.vault_call(Method::GET, "/secrets/crpsecret/versions", &q, Some(&self.vault), None)
                    .await
            }
            Req::KvUpdate => {
                let body = self.example("keyvault/kv_secrets_examples.json", "/UpdateSecret/parameters/parameters");
                let version = self.version_of(Req::KvSet);
                let q = format!("api-version={KV_API}");
                self.vault_call(
                    Method::PATCH,
                    &format!("/secrets/crpsecret/{version}"),
                    &q,
                    Some(&self.vault),
                    Some(&body),
                )
                .await
            }
            Req::KvList => {
                let q = format!("api-version={KV_API}&maxresults=1");
                self.vault_call(Method::GET, "/secrets", &q, Some(&self.vault), None).await
            }
            Req::KvUnauthorized => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::PUT, "/secrets/crpsecret", &q, None, None).await
            }
            Req::KvNotFound => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, "/secrets/not-there/", &q, Some(&self.vault), None)
                    .await
            }
            Req::KvForbidden => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, "/secrets/crpsecret/", &q, Some(&self.vault_none), None)
                    .await
            }
            Req::KvBadParameter => {
                self.vault_call(Method::GET, "/secrets/crpsecret/", "", Some(&self.vault), None)
                    .await
            }
            Req::Token | Req::TokenInvalidScope | Req::TokenInvalidClient => {
                let info = self.emu.info().clone();
                let (secret, scope) = match req {
                    Req::Token => (info.client_secret.as_str(), GRAPH_SCOPE),
                    Req::TokenInvalidScope => (info.client_secret.as_str(), "https://foo.microsoft.com/.default"),
                    _ => ("not-the-secret", GRAPH_SCOPE),
                };
                self.token_call(
                    &[
                        ("client_id", info.client_id.as_str()),
                        ("scope", scope),
                        ("client_secret", secret),
                        ("grant_type", "client_credentials"),
                    ],
                    "token",
                )
                .await
            }
            Req::DeviceCodeToken => {
                let info = self.emu.info().clone();
                let scope = "https://graph.microsoft.com/.default openid profile offline_access";
                let code = self
                    .token_call(&[("client_id", info.client_id.as_str()), ("scope", scope)], "devicecode")
                    .await;
                assert_eq!(code.status, 200, "{}", code.text);
                let device_code = code.json["device_code"].as_str().expect("device_code").to_string();
                let interval = code.json["interval"].as_u64().unwrap_or(1);
                for _ in 0..30 {
                    tokio::time::sleep(Duration::from_secs(interval)).await;
                    let obs = self
                        .token_call(
                            &[
                                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                                ("client_id", info.client_id.as_str()),
                                ("device_code", device_code.as_str()),
                            ],
                            "token",
                        )
                        .await;
                    if obs.json["error"] != "authorization_pending" {
                        return obs;
                    }
                }
                panic!("the device code was never approved")
            }
        }
    }

    fn version_of(&self, req: Req) -> String {
        self.seen(req).json["id"]
            .as_str()
            .and_then(|id| id.rsplit('/').next())
            .expect("a secret id with a version")
            .to_string()
    }
}

/// The first 400 characters, for failure messages.
fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(400).collect();
    if e.len() < s.len() {
        e.push_str("...");
    }
    e
}

/// `Entry` holds `&'static str`s; a lookup by runtime text only needs them for the lifetime of the test process.
fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

// =============================================================================================================
// Tests

#[test]
fn every_fixture_is_claimed() {
    let mut problems = Vec::new();
    let files = fixture_groups();
    for required in ["graph", "keyvault", "entra"] {
        assert!(
            files.iter().any(|f| f.starts_with(required)),
            "no fixtures under {required}/"
        );
    }
    let mut blocks_seen = 0;
    for file in &files {
        let blocks = blocks_of(file);
        blocks_seen += blocks.len();
        for b in &blocks {
            let claims: Vec<&Entry> = TABLE
                .iter()
                .filter(|e| e.file == file && b.matches(e.anchor))
                .collect();
            match claims.len() {
                1 => {}
                0 => problems.push(format!(
                    "{file} {}: no table entry claims this block: {}",
                    b.locator,
                    b.text.chars().take(120).collect::<String>()
                )),
                n => problems.push(format!("{file} {}: claimed by {n} entries", b.locator)),
            }
        }
    }
    for e in TABLE {
        assert!(
            files.iter().any(|f| f == e.file),
            "the table names {} which is not among the fixtures",
            e.file
        );
        let n = blocks_of(e.file)
            .iter()
            .filter(|b| b.matches(e.anchor))
            .count();
        if n != 1 {
            problems.push(format!(
                "{}: anchor {:?} matches {n} blocks",
                e.file, e.anchor
            ));
        }
        if let Claim::Response { .. }
        | Claim::Request { .. }
        | Claim::Representation { .. }
        | Claim::OpenApi { .. } = e.claim
        {
            let b = block_for(e);
            if b.json.is_none()
                && !matches!(e.claim, Claim::Response { repair, .. } if !repair.is_empty())
            {
                problems.push(format!("{} {}: compared but not JSON", e.file, b.locator));
            }
        }
    }
    // A JSON example is never waved through as "notation": it is compared, parsed, or set aside with a reason.
    for e in TABLE {
        if let Claim::Notation { .. } = e.claim {
            let b = block_for(e);
            if b.json
                .as_ref()
                .is_some_and(|j| j.is_object() || j.is_array())
            {
                problems.push(format!(
                    "{} {}: a JSON example claimed as notation",
                    e.file, b.locator
                ));
            }
        }
    }
    // The blocks set aside, with why: visible with --nocapture.
    for e in TABLE {
        if let Claim::NotApplicable { reason, .. } | Claim::Notation { reason } = e.claim {
            println!("set aside: {} {:?}: {reason}", e.file, e.anchor);
        }
    }
    assert!(
        blocks_seen > 60,
        "only {blocks_seen} blocks found: is the extractor broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn microsoft_examples_match_the_emulator_and_the_client_models() {
    let openapi: Value =
        serde_json::from_str(&read_fixture("keyvault/kv_secrets_openapi_excerpt.json"))
            .expect("the OpenAPI excerpt is JSON");
    let defs = &openapi["definitions"];
    let mut lab = Lab::new().await;
    lab.observe_all().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in TABLE {
        let block = block_for(entry);
        let whereabouts = format!("{} {} ({:?})", entry.file, block.locator, entry.anchor);
        let mut fail = |what: String| failures.push(format!("{whereabouts}: {what}"));
        match entry.claim {
            Claim::Response {
                req,
                mode,
                allow,
                same,
                model,
                repair,
            } => {
                checked += 1;
                let example = example_json(entry, &block);
                let obs = lab.seen(req);
                if !(200..300).contains(&obs.status)
                    && example.get("error").is_none()
                    && req != Req::BatchForbidden
                    && req != Req::BatchMethodNotAllowed
                {
                    fail(format!(
                        "the emulator answered {}: {}",
                        obs.status, obs.text
                    ));
                    continue;
                }
                match shape::diff(&example, &obs.json, &Rules { mode, allow }) {
                    Ok(used) => {
                        for a in allow.iter().filter(|a| !used.contains(a)) {
                            fail(format!("allowance {a:?} was not needed: remove it"));
                        }
                    }
                    Err(d) => fail(format!("emulator differs at {d}\n  emulator: {}", obs.text)),
                }
                for pointer in same {
                    let (e, a) = (example.pointer(pointer), obs.json.pointer(pointer));
                    if e.is_none() || e != a {
                        fail(format!(
                            "{pointer}: the example has {e:?}, the emulator {a:?}"
                        ));
                    }
                }
                let renames: Vec<(&str, &str)> = allow
                    .iter()
                    .filter_map(|a| match a {
                        Allow::Renamed(x, y) => Some((*x, *y)),
                        _ => None,
                    })
                    .collect();
                // A block published as non-JSON is compared after repair, but a model is only fed real samples.
                if repair.is_empty()
                    && let Err(e) = parse_with(model, &example, &renames, false).await
                {
                    fail(format!("the client model on Microsoft's example: {e}"));
                }
                let status_model = matches!(model, Model::GraphError(_) | Model::Token(_));
                let emulator_model = match model {
                    Model::GraphError(_) => Model::GraphError(obs.status),
                    Model::Token(_) => Model::Token(obs.status),
                    m => m,
                };
                if (status_model || (200..300).contains(&obs.status))
                    && let Err(e) = parse_with(emulator_model, &obs.json, &[], true).await
                {
                    fail(format!("the client model on the emulator's answer: {e}"));
                }
            }
            Claim::Representation { req, model } => {
                checked += 1;
                let repr = block.json.clone().expect("a representation is JSON");
                let obs = lab.seen(req);
                let samples = if req.samples() {
                    obs.json.as_array().cloned().unwrap_or_default()
                } else {
                    vec![obs.json.clone()]
                };
                if samples.is_empty() {
                    fail(format!("{req:?}: the emulator returned nothing to compare"));
                }
                for s in &samples {
                    if let Err(d) = representation_check(&repr, s) {
                        fail(format!(
                            "emulator differs at {d}\n  emulator: {}",
                            excerpt(&s.to_string())
                        ));
                        break;
                    }
                    if let Err(e) = parse_with(model, s, &[], true).await {
                        fail(format!("the client model on the emulator's answer: {e}"));
                        break;
                    }
                }
            }
            Claim::OpenApi { req } => {
                checked += 1;
                let name = block.locator.trim_start_matches("/definitions/");
                let obs = lab.seen(req);
                let target = match name {
                    // Checked where they occur: the attributes of a bundle, the level of those attributes, the
                    // items of a list, the inner error of a KeyVaultError.
                    "SecretAttributes" => obs.json["attributes"].clone(),
                    "DeletionRecoveryLevel" => obs.json["attributes"]["recoveryLevel"].clone(),
                    "SecretItem" => obs.json["value"][0].clone(),
                    "Error" => obs.json["error"].clone(),
                    _ => obs.json.clone(),
                };
                if target.is_null() {
                    fail(format!(
                        "{req:?} has nothing to check against {name}: {}",
                        obs.text
                    ));
                } else if let Err(d) = openapi_check(defs, name, &target, "$") {
                    fail(format!(
                        "emulator differs from the definition at {d}\n  emulator: {}",
                        excerpt(&obs.text)
                    ));
                }
            }
            Claim::Request { req, model } => {
                checked += 1;
                let example = block.json.clone().expect("a request example is JSON");
                let obs = lab.seen(req);
                if !(200..300).contains(&obs.status) {
                    fail(format!(
                        "the emulator refused the request ({}): {}",
                        obs.status, obs.text
                    ));
                }
                if block.locator.starts_with("/definitions/") {
                    // The definition validates the example request Microsoft publishes next to it and what the
                    // SDK's parameter type serialises.
                    let name = block.locator.trim_start_matches("/definitions/");
                    let (pointer, sdk) = if name == "SecretSetParameters" {
                        ("/SetSecret/parameters/parameters", sdk_set_parameters())
                    } else {
                        (
                            "/UpdateSecret/parameters/parameters",
                            sdk_update_parameters(),
                        )
                    };
                    let examples: Value =
                        serde_json::from_str(&read_fixture("keyvault/kv_secrets_examples.json"))
                            .expect("examples are JSON");
                    for (what, v) in [
                        ("Microsoft's example", examples.pointer(pointer).cloned()),
                        ("the SDK", Some(sdk)),
                    ] {
                        if let Err(d) = openapi_check(defs, name, &v.unwrap_or(Value::Null), "$") {
                            fail(format!("{what} differs from {name} at {d}"));
                        }
                    }
                } else if let Err(e) = client_request_shape(model, &example, &lab).await {
                    fail(e);
                }
            }
            Claim::NotApplicable { model, .. } => {
                if model != Model::None {
                    checked += 1;
                    let example = block.json.clone().expect("a parsed example is JSON");
                    if let Err(e) = parse_with(model, &example, &[], false).await {
                        fail(format!("the client model on Microsoft's example: {e}"));
                    }
                }
            }
            Claim::Notation { .. } => {}
        }
    }
    assert!(checked > 50, "only {checked} checks ran");
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn sdk_set_parameters() -> Value {
    use azure_security_keyvault_secrets::models::{SecretAttributes, SetSecretParameters};
    let p = SetSecretParameters {
        value: Some("v".into()),
        content_type: Some("text/plain".into()),
        secret_attributes: Some(SecretAttributes {
            enabled: Some(true),
            not_before: azure_core::time::OffsetDateTime::from_unix_timestamp(1_700_000_000).ok(),
            expires: azure_core::time::OffsetDateTime::from_unix_timestamp(1_800_000_000).ok(),
            ..Default::default()
        }),
        tags: Some(
            [("CredentialId".to_string(), "k".to_string())]
                .into_iter()
                .collect(),
        ),
    };
    serde_json::to_value(&p).expect("serialises")
}

fn sdk_update_parameters() -> Value {
    use azure_security_keyvault_secrets::models::{
        SecretAttributes, UpdateSecretPropertiesParameters,
    };
    let p = UpdateSecretPropertiesParameters {
        content_type: Some("text/plain".into()),
        secret_attributes: Some(SecretAttributes {
            enabled: Some(false),
            ..Default::default()
        }),
        tags: Some([("a".to_string(), "b".to_string())].into_iter().collect()),
    };
    serde_json::to_value(&p).expect("serialises")
}

/// keyturn's GraphClient sends a body of the example's shape (captured by a replay server).
async fn client_request_shape(model: Model, example: &Value, lab: &Lab) -> Result<(), String> {
    match model {
        Model::AddPasswordRequest | Model::RemovePasswordRequest => {
            let add = model == Model::AddPasswordRequest;
            let answer = if add {
                lab.seen(Req::AddPassword).text.clone()
            } else {
                String::new()
            };
            let r = replay(if add { 200 } else { 204 }, &[], &answer).await;
            let c = replay_client(&r);
            let id = ObjectId::new("x");
            let sent = if add {
                let end = chrono::Utc::now() + chrono::Duration::days(30);
                c.add_password(ObjectType::Application, &id, "keyturn", Some(end))
                    .await
                    .map(|_| ())
            } else {
                c.remove_password(
                    ObjectType::Application,
                    &id,
                    &keyturn::graph::KeyId::new("f0b0b335-1d71-4883-8f98-567911bfdca6"),
                )
                .await
            };
            sent.map_err(|e| format!("GraphClient against the replay: {e}"))?;
            let bodies = r.bodies.lock().expect("lock").clone();
            let body: Value = serde_json::from_slice(bodies.first().ok_or("no request")?)
                .map_err(|e| format!("the client's body is not JSON: {e}"))?;
            // The client may send more of the documented request properties (endDateTime), never other keys.
            let mode = if add { Mode::Covers } else { Mode::Exact };
            shape::diff(example, &body, &Rules { mode, allow: &[] })
                .map(|_| ())
                .map_err(|d| format!("the client's request differs at {d}: {body}"))
        }
        Model::KvSetParameters | Model::KvUpdateParameters => {
            parse_with(model, example, &[], false).await
        }
        other => Err(format!("{other:?} is not a request model")),
    }
}

// =============================================================================================================
// Exact strings, where Microsoft's service is exact. Expected values are the recorded ones (exact-strings.json and
// the payload fixtures).

async fn audit_events_of(lab: &Lab, object_id: &str) -> Vec<Value> {
    let filter = format!("targetResources/any(t:t/id eq '{object_id}')");
    let obs = lab
        .get(&format!(
            "/auditLogs/directoryAudits?$filter={}",
            keyturn::graph::client::urlencode(&filter)
        ))
        .await;
    assert_eq!(obs.status, 200, "{}", obs.text);
    obs.json["value"].as_array().cloned().unwrap_or_default()
}

fn key_description(event: &Value) -> (Vec<String>, Vec<String>) {
    let prop = event["targetResources"][0]["modifiedProperties"]
        .as_array()
        .and_then(|p| p.iter().find(|m| m["displayName"] == "KeyDescription"))
        .unwrap_or_else(|| panic!("no KeyDescription in {event}"));
    let decode = |v: &Value| -> Vec<String> {
        serde_json::from_str(v.as_str().expect("a JSON string inside the JSON"))
            .expect("the string holds a JSON array of strings")
    };
    (decode(&prop["oldValue"]), decode(&prop["newValue"]))
}

#[tokio::test]
async fn credential_changes_are_audited_with_the_services_exact_strings() {
    let activity = exact_string("credentialActivityName");
    assert!(
        activity.contains('\u{2013}') && activity.ends_with(' '),
        "the service's string has an en dash and a trailing space: {activity:?}"
    );
    // The sample entry of a KeyDescription list, with its key id and name as placeholders.
    let sample_block = block_for(&Entry {
        file: "graph/directoryAudits",
        anchor: "kavachiq-wi05-spike",
        claim: Claim::Notation { reason: "" },
    });
    let sample: Vec<String> = serde_json::from_str(
        sample_block.json.as_ref().expect("JSON")["newValue"]
            .as_str()
            .expect("a string"),
    )
    .expect("double-encoded");
    let template = sample[0]
        .replace("c7890f61-2f17-478f-bc60-60fd19c09588", "{key}")
        .replace("kavachiq-wi05-spike", "{name}");

    let mut lab = Lab::new().await;
    for req in [Req::AddPassword, Req::RemovePassword] {
        let obs = lab.observe(req).await;
        assert!((200..300).contains(&obs.status), "{req:?}: {}", obs.text);
        lab.seen.insert(req, obs);
    }
    let key = lab.seen(Req::AddPassword).json["keyId"]
        .as_str()
        .expect("keyId")
        .to_string();
    let name = lab.seen(Req::AddPassword).json["displayName"]
        .as_str()
        .expect("displayName")
        .to_string();
    let entry = template.replace("{key}", &key).replace("{name}", &name);
    let events = audit_events_of(&lab, &lab.app_object_id).await;
    let credential_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["activityDisplayName"] == activity.as_str())
        .collect();
    let added = credential_events
        .iter()
        .find(|e| key_description(e).1.contains(&entry))
        .unwrap_or_else(|| panic!("no event named {activity:?} adds {entry:?}: {events:#?}"));
    assert!(!key_description(added).0.contains(&entry), "the key is new");
    let removed = credential_events
        .iter()
        .find(|e| key_description(e).0.contains(&entry) && !key_description(e).1.contains(&entry))
        .unwrap_or_else(|| panic!("no event named {activity:?} removes {entry:?}"));
    // Each credential event comes with an "Update application" event of the same correlation.
    for e in [added, removed] {
        assert!(
            events
                .iter()
                .any(|c| c["activityDisplayName"] == "Update application"
                    && c["correlationId"] == e["correlationId"]),
            "no companion event for {e}"
        );
    }
    // keyturn's client matches the service's string and the docs' hyphenated one alike.
    assert!(keyturn::graph::audit::is_credential_activity(&activity));
    assert!(keyturn::graph::audit::is_credential_activity(
        "Update application - Certificates and secrets management"
    ));
}

#[tokio::test]
async fn vault_challenge_and_its_body_are_exact() {
    let lab = Lab::new().await;
    let info = lab.emu.info().clone();
    let obs = lab
        .vault_call(
            reqwest::Method::PUT,
            "/secrets/probe",
            &format!("api-version={KV_API}"),
            None,
            None,
        )
        .await;
    assert_eq!(obs.status, 401);
    // The service's header format, with the emulator's authority: a challenge naming login.microsoftonline.com
    // would send SDKs to the real Entra ID for a token the emulator cannot check.
    let expected = exact_string("vaultChallengeHeader")
        .replace("https://login.microsoftonline.com", &info.authority_host)
        .replace("{tenant}", &info.tenant_id);
    assert_eq!(obs.headers.get("www-authenticate"), Some(&expected));
    // Body and Content-Type byte for byte as in Microsoft's recording (Content-Length 97).
    let recorded = block_for(&Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "AKV10000",
        claim: Claim::Notation { reason: "" },
    });
    assert_eq!(obs.text, recorded.text);
    assert_eq!(
        obs.text.len().to_string(),
        exact_string("vaultChallengeContentLength")
    );
    assert_eq!(
        obs.headers.get("content-type"),
        Some(&exact_string("vaultChallengeContentType"))
    );
}

/// An error_description with the body's own trace id, correlation id and timestamp replaced by placeholders.
fn description_template(body: &Value) -> String {
    let mut d = body["error_description"]
        .as_str()
        .expect("error_description")
        .to_string();
    for (field, placeholder) in [
        ("trace_id", "{trace}"),
        ("correlation_id", "{correlation}"),
        ("timestamp", "{ts}"),
    ] {
        if let Some(v) = body[field].as_str().filter(|v| !v.is_empty()) {
            d = d.replace(v, placeholder);
        }
    }
    d
}

#[tokio::test]
async fn token_endpoint_errors_have_the_services_description_format() {
    let mut lab = Lab::new().await;
    for (req, anchor, status) in [
        (Req::TokenInvalidScope, "\"invalid_scope\"", 400),
        (Req::TokenInvalidClient, "for a secret added to app", 401),
    ] {
        let example = block_for(&Entry {
            file: "entra/token_endpoint",
            anchor,
            claim: Claim::Notation { reason: "" },
        })
        .json
        .expect("JSON");
        let obs = lab.observe(req).await;
        assert_eq!(obs.status, status, "{}", obs.text);
        let mut emulator = obs.json.clone();
        if req == Req::TokenInvalidClient {
            // Microsoft's recording redacted the app id (its doubled quotes come from the redaction), the trace
            // and correlation ids: redact the emulator's answer the same way.
            let client_id = lab.emu.info().client_id.clone();
            let text = description_template(&emulator)
                .replace(&format!("'{client_id}'"), "''[REDACTED]''")
                .replace("{trace}", "[REDACTED]")
                .replace("{correlation}", "[REDACTED]");
            emulator["error_description"] = json!(text);
            let expected = example["error_description"]
                .as_str()
                .expect("a description")
                .replace(example["timestamp"].as_str().expect("timestamp"), "{ts}");
            assert_eq!(emulator["error_description"], json!(expected));
        } else {
            assert_eq!(
                description_template(&emulator),
                description_template(&example)
            );
        }
        assert_eq!(
            shape::str_kind(obs.json["timestamp"].as_str().unwrap_or_default()),
            shape::StrKind::AadTimestamp
        );
        lab.seen.insert(req, obs);
    }
}

#[tokio::test]
async fn graph_answers_match_the_exact_details_of_the_samples() {
    let mut lab = Lab::new().await;
    // 404 names the requested id in Microsoft's sentence.
    let example = block_for(&Entry {
        file: "graph/graph_errors",
        anchor: "Request_ResourceNotFound",
        claim: Claim::Notation { reason: "" },
    })
    .json
    .expect("JSON");
    let missing = "0a0a0a0a-0000-4000-8000-000000000404";
    let obs = lab.get(&format!("/applications/{missing}")).await;
    assert_eq!(obs.status, 404);
    let expected = example["error"]["message"]
        .as_str()
        .expect("message")
        .replace("5b31c38c-2584-42f0-aa47-657fb3a84230", missing);
    assert_eq!(obs.json["error"]["message"], json!(expected));

    // With $select the context lists the selected properties (example 4 of List applications).
    let fragment = exact_string("applicationsSelectContext");
    let select = fragment
        .trim_start_matches("applications(")
        .trim_end_matches(')');
    let obs = lab.get(&format!("/applications?$select={select}")).await;
    let context = obs.json["@odata.context"].as_str().expect("a context");
    assert!(
        context.ends_with(&format!("$metadata#{fragment}")),
        "{context}"
    );

    // $count is plain text (example 2), and needs ConsistencyLevel.
    let resp = lab
        .http
        .get(lab.graph_url("/applications/$count"))
        .bearer_auth(&lab.graph)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .expect("Graph answers");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let count: usize = resp
        .text()
        .await
        .expect("a body")
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(
        count,
        lab.emu.state()["applications"]
            .as_array()
            .map_or(0, Vec::len)
    );

    // addPassword: hint is the first three characters of secretText, which is 16 to 64 characters long, and the
    // timestamps carry as many fractional digits as Microsoft's sample.
    let sample = block_for(&Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"secretText\"",
        claim: Claim::Notation { reason: "" },
    })
    .json
    .expect("JSON");
    let digits = |v: &Value| {
        v.as_str()
            .and_then(|s| s.split_once('.'))
            .map(|(_, f)| f.trim_end_matches('Z').len())
    };
    let obs = lab.observe(Req::AddPassword).await;
    let secret = obs.json["secretText"].as_str().expect("secretText");
    assert!((16..=64).contains(&secret.chars().count()));
    assert_eq!(obs.json["hint"].as_str(), secret.get(..3));
    for field in ["startDateTime", "endDateTime"] {
        assert_eq!(
            digits(&obs.json[field]),
            digits(&sample[field]),
            "{field}: {}",
            obs.json[field]
        );
    }
}

/// The wording recorded for `keyCredentials/any(...)` on applications (an issue thread quoting the service) must
/// be what the emulator answers, word for word.
#[tokio::test]
async fn application_key_credential_filter_wording_is_the_recorded_one() {
    let recorded = exact_string("applicationKeyCredentialFilterMessage");
    assert!(recorded.contains("'Application'"), "{recorded}");

    let emu = start_emulator().await;
    let token = graph_token(&emu).await;
    let (status, body) = support::graph_get(
        &emu,
        &token,
        "/applications?$filter=keyCredentials/any(k:k/endDateTime ge 2021-01-02T12:00:00Z)",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
    assert_eq!(body["error"]["message"], recorded);
    emu.shutdown().await;
}

async fn start_emulator() -> Emulator {
    start(EmulatorConfig::default()).await
}
