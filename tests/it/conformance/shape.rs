//! Compares the shape of two JSON documents and names the path of the first difference.
//!
//! Shape means: the same keys (all of them, or the example's keys at least for examples Microsoft truncated), the
//! same JSON types (integers apart from other numbers), strings of the same kind where the example's string has a
//! recognisable one (GUID, RFC 3339 timestamp, Graph's `innerError.date`, the token endpoint's timestamp, https
//! URL), the same `@odata.context` fragment and the same kind of paging link. Arrays are compared by element shape:
//! every element of the emulator's array must match one of the example's elements. `null` stands for any value of a
//! nullable property, but never for a collection (Graph and Key Vault collections are never null).
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
    } else if s.len() == 19 && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
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
                Allow::Renamed(from, to) if from == ek && a.contains_key(*to) => Some((*x, *to)),
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
        let user =
            json!({"@odata.type": "#microsoft.graph.user", "id": "x", "userPrincipalName": "u"});
        let sp =
            json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "x", "appId": "a"});
        let expected = json!([user, sp]);
        assert!(diff(&expected, &json!([sp, user, user]), &EXACT).is_ok());
        // Exact mode: every element shape of the example must appear.
        let d = diff(&expected, &json!([user]), &EXACT).unwrap_err();
        assert_eq!(d.path, "$[1]");
        // The difference reported is the one against the element of the same @odata.type.
        let bad_sp =
            json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "x", "appID": "a"});
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
        let e =
            json!({"Type": "Group", "@microsoft.graph.tips": "t", "body": {"value": [{"a": 1}]}});
        let a = json!({"type": "App", "ext_expires_in": 1, "body": {"value": [{"b": "x"}]}});
        let used = diff(&e, &a, &rules).unwrap();
        assert_eq!(used.len(), 4, "{used:?}");
    }
}
