//! `keyturn check --format prometheus [--output FILE]` against the emulator, parsed with a text-format parser that
//! is not keyturn's own; the values computed here from the emulator's state.
use crate::hardening::{
    BIDI_APP, EVIL_APP, FORMULA_APP, TITLE_APP, env_for, hostile_tenant, keyturn,
};
use crate::support;
use keyturn::emulator::{EmulatorConfig, TenantSource};
use openmetrics_parser::PrometheusValue;
use serde_json::Value;
use std::collections::BTreeMap;

fn gauge(v: &PrometheusValue) -> f64 {
    match v {
        PrometheusValue::Gauge(n) => n.as_f64(),
        other => panic!("not a gauge: {other:?}"),
    }
}

/// (object type, appId, keyId or cert:thumbprint) -> end as Unix seconds, from the emulator's state: every secret,
/// every certificate once (its Sign/Verify entries share a customKeyIdentifier).
fn expected_ends(state: &Value) -> BTreeMap<(String, String, String), i64> {
    let mut out = BTreeMap::new();
    for (coll, kind) in [
        ("applications", "application"),
        ("servicePrincipals", "servicePrincipal"),
    ] {
        for obj in state[coll].as_array().unwrap() {
            let app_id = obj["appId"].as_str().unwrap().to_string();
            let end = |c: &Value| {
                chrono::DateTime::parse_from_rfc3339(c["endDateTime"].as_str().unwrap())
                    .unwrap()
                    .timestamp()
            };
            for p in obj["passwordCredentials"].as_array().unwrap() {
                let key = p["keyId"].as_str().unwrap().to_string();
                out.insert((kind.to_string(), app_id.clone(), key), end(p));
            }
            for k in obj["keyCredentials"].as_array().unwrap() {
                let id = k["customKeyIdentifier"]
                    .as_str()
                    .or(k["keyId"].as_str())
                    .unwrap();
                out.insert(
                    (kind.to_string(), app_id.clone(), format!("cert:{id}")),
                    end(k),
                );
            }
        }
    }
    out
}

/// The thumbprint key of a certificate sample's keyId, looked up in the state.
fn cert_key(state: &Value, key_id: &str) -> String {
    for coll in ["applications", "servicePrincipals"] {
        for obj in state[coll].as_array().unwrap() {
            for k in obj["keyCredentials"].as_array().unwrap() {
                if k["keyId"] == key_id {
                    let id = k["customKeyIdentifier"].as_str().unwrap_or(key_id);
                    return format!("cert:{id}");
                }
            }
        }
    }
    panic!("no certificate {key_id} in the state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_output_parses_and_matches_the_tenant() {
    let emu = support::start(EmulatorConfig {
        tenant: TenantSource::Demo,
        ..EmulatorConfig::default()
    })
    .await;
    hostile_tenant(&emu).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("keyturn.prom");

    // Without --all: the Prometheus format still has every credential.
    let run = keyturn(
        env.clone(),
        &[
            "check",
            "--format",
            "prometheus",
            "--output",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        run.code, 2,
        "the demo has expired credentials: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let text = std::fs::read_to_string(&file).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c)),
        "raw control or bidi characters: {text:?}"
    );
    // Stdout gives the same samples.
    let stdout = keyturn(env, &["check", "--format", "prometheus"]).await;
    assert_eq!(stdout.code, 2);

    let expo = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not the text format ({e:?}):\n{text}"));
    let state = emu.state();
    let tenant = emu.info().tenant_id.clone();

    let generated = gauge(
        &expo.families["keyturn_check_generated_timestamp_seconds"]
            .iter_samples()
            .next()
            .unwrap()
            .value,
    ) as i64;
    let success = &expo.families["keyturn_check_success"];
    assert_eq!(gauge(&success.iter_samples().next().unwrap().value), 1.0);

    let family = &expo.families["keyturn_credential_expiry_timestamp_seconds"];
    let mut got = BTreeMap::new();
    let mut names = Vec::new();
    for s in family.iter_samples() {
        let l = s.get_labelset().unwrap();
        assert_eq!(l.get_label_value("tenant"), Some(tenant.as_str()));
        let kind = l.get_label_value("object_type").unwrap().to_string();
        let key_id = l.get_label_value("key_id").unwrap();
        let key = match l.get_label_value("type").unwrap() {
            "certificate" => cert_key(&state, key_id),
            "secret" => key_id.to_string(),
            t => panic!("type {t}"),
        };
        let app_id = l.get_label_value("app_id").unwrap().to_string();
        names.push(l.get_label_value("display_name").unwrap().to_string());
        assert!(
            got.insert((kind, app_id, key), gauge(&s.value) as i64)
                .is_none(),
            "a credential has two samples"
        );
    }
    let want = expected_ends(&state);
    assert_eq!(got, want);

    // Counts by status, from the state's end dates and the report's own time (30 / 7 days).
    let mut counts: BTreeMap<&str, i64> = ["expired", "critical", "warning", "ok"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for end in want.values() {
        let left = end - generated;
        let s = if left <= 0 {
            "expired"
        } else if left <= 7 * 86_400 {
            "critical"
        } else if left <= 30 * 86_400 {
            "warning"
        } else {
            "ok"
        };
        *counts.get_mut(s).unwrap() += 1;
    }
    let mut got_counts = BTreeMap::new();
    for s in expo.families["keyturn_credentials"].iter_samples() {
        let l = s.get_labelset().unwrap();
        got_counts.insert(
            l.get_label_value("status").unwrap().to_string(),
            gauge(&s.value) as i64,
        );
    }
    let want_counts: BTreeMap<String, i64> =
        counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got_counts, want_counts);
    assert!(counts["expired"] > 0 && counts["ok"] > 0);

    // Hostile names: each one sample whose label is the name with control and bidi characters as visible escapes
    // (computed here, not with keyturn's code); quotes kept exactly.
    let visible = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    for name in [EVIL_APP, TITLE_APP, BIDI_APP, FORMULA_APP] {
        let want = visible(name);
        assert_eq!(
            names.iter().filter(|n| **n == want).count(),
            1,
            "{want:?} in {names:?}"
        );
    }
    assert!(names.contains(&FORMULA_APP.to_string()));

    let parsed_stdout = openmetrics_parser::prometheus::parse_prometheus(&stdout.stdout).unwrap();
    assert_eq!(
        parsed_stdout.families["keyturn_credential_expiry_timestamp_seconds"]
            .iter_samples()
            .count(),
        want.len()
    );
}
