//! The emulator over real HTTPS (reqwest trusting the generated CA): Microsoft's wire formats
//! (tests/fixtures/microsoft/), paging, filters, writes and their audit records, Key Vault, throttling, every fault
//! kind, delta, and the test-only state route.
use crate::support::{
    self, GRAPH_SCOPE, VAULT_SCOPE, client, client_with_timeout, graph_get, graph_post,
    graph_token, graph_url, start, token_as, token_response, vault_token,
};
use base64::Engine;
use keyturn::emulator::{
    AppChange, DeviceCodeOutcome, Emulator, EmulatorConfig, Fault, FaultKind, Op, TenantSource,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const GRAPH_CT: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const CRED_ACTIVITY: &str = "Update application \u{2013} Certificates and secrets management ";

fn generated(apps: usize) -> EmulatorConfig {
    EmulatorConfig {
        tenant: TenantSource::Generated { apps, seed: 42 },
        ..Default::default()
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Graph's error envelope: code, message and innerError{date, request-id, client-request-id}.
fn assert_graph_error(body: &Value, code: &str, message: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    let inner = &body["error"]["innerError"];
    let date = inner["date"].as_str().expect("innerError.date");
    assert_eq!(date.len(), 19, "YYYY-MM-DDTHH:MM:SS, got {date}");
    assert!(chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok());
    assert!(uuid::Uuid::parse_str(inner["request-id"].as_str().unwrap()).is_ok());
    assert!(inner["client-request-id"].is_string());
}

fn app_by_name<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == name)
        .expect(name)
}

fn vault_url(emu: &Emulator, path: &str, api: &str) -> String {
    format!("{}{path}?api-version={api}", emu.info().vault_urls[0])
}

mod faults;
mod graph;
mod sdk_conformance;
mod signin_state;
mod token;
mod vault;
