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
mod exact;
mod fixtures;
mod lab;
mod models;
mod schema;
pub(crate) mod shape;
mod table;

use crate::support::{self, GRAPH_SCOPE, VAULT_SCOPE, client, graph_token, start, vault_token};
use fixtures::*;
use keyturn::emulator::{AppChange, Emulator, EmulatorConfig, Fault, FaultKind, Op};
use keyturn::graph::{GraphClient, GraphError, ObjectId, ObjectType, RetryPolicy};
use lab::*;
use models::*;
use schema::*;
use serde_json::{Value, json};
use shape::{Allow, Difference, Mode, Rules};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use table::*;

/// Microsoft's published examples, carried by the repository (`tests/fixtures/microsoft/`, each area's SOURCES.md
/// names where every payload was recorded from). A missing directory or file fails the suite: silently testing
/// nothing is the failure this prevents.
pub(super) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/microsoft");

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
