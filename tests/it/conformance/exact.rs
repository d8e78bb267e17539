//! Exact strings, where Microsoft's service is exact: the expected values are the recorded ones
//! (exact-strings.json and the payload fixtures).
use super::*;

pub(super) async fn audit_events_of(lab: &Lab, object_id: &str) -> Vec<Value> {
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

pub(super) fn key_description(event: &Value) -> (Vec<String>, Vec<String>) {
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
pub(super) async fn credential_changes_are_audited_with_the_services_exact_strings() {
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
pub(super) async fn vault_challenge_and_its_body_are_exact() {
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
pub(super) fn description_template(body: &Value) -> String {
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
pub(super) async fn token_endpoint_errors_have_the_services_description_format() {
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
pub(super) async fn graph_answers_match_the_exact_details_of_the_samples() {
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
pub(super) async fn application_key_credential_filter_wording_is_the_recorded_one() {
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

pub(super) async fn start_emulator() -> Emulator {
    start(EmulatorConfig::default()).await
}
