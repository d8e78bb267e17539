//! The emulator's token endpoint for the tenant's own applications: sign-in with an app's own secrets and the
//! real refusals (AADSTS7000215 wrong or not yet propagated, 7000222 expired, 7000229 no service principal), the
//! record of every attempt in the state route, lost answers on addPassword/removePassword (the change is made,
//! the connection drops), and the read replication lag knob.
use crate::support::{
    GRAPH_SCOPE, client, graph_get, graph_post, graph_token, start, token_response,
};
use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use keyturn::emulator::{AppChange, Emulator, EmulatorConfig, Fault, FaultKind, Op};
use serde_json::{Value, json};
use std::time::Duration;

fn no_propagation() -> EmulatorConfig {
    EmulatorConfig {
        propagation_delay: Duration::ZERO,
        ..Default::default()
    }
}

/// addPassword through Graph as the default client; returns `(keyId, secretText)`.
async fn add_password(emu: &Emulator, object_id: &str, body: Value) -> (String, String) {
    let token = graph_token(emu).await;
    let (status, v) = graph_post(
        emu,
        &token,
        &format!("/applications/{object_id}/addPassword"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    (
        v["keyId"].as_str().unwrap().to_string(),
        v["secretText"].as_str().unwrap().to_string(),
    )
}

async fn sign_in(emu: &Emulator, app_id: &str, secret: &str) -> (u16, Value) {
    let resp = token_response(emu, app_id, secret, GRAPH_SCOPE).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// The AADSTS body: `error`, the code in `error_codes`, and the description's first line (the message).
fn assert_aadsts(body: &Value, error: &str, code: u64, message: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let first_line = body["error_description"]
        .as_str()
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    assert_eq!(first_line, format!("AADSTS{code}: {message}"));
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}

fn sign_ins_of(state: &Value, app_id: &str) -> Vec<Value> {
    state["signIns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["appId"] == app_id)
        .cloned()
        .collect()
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[tokio::test]
async fn tenant_apps_sign_in_with_their_own_secrets_and_get_the_real_refusals() {
    let emu = start(no_propagation()).await;
    let tenant_id = emu.info().tenant_id.clone();
    let (object_id, app_id) = emu.create_app("Nightly Export");
    let (good_key, good) = add_password(&emu, &object_id, json!({"passwordCredential": {}})).await;
    let now = Utc::now();
    let (expired_key, expired) = add_password(
        &emu,
        &object_id,
        json!({"passwordCredential": {
            "startDateTime": rfc3339(now - ChronoDuration::days(30)),
            "endDateTime": rfc3339(now - ChronoDuration::days(1)),
        }}),
    )
    .await;

    // Its own valid secret: a token for the app's service principal.
    let (status, v) = sign_in(&emu, &app_id, &good).await;
    assert_eq!(status, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["appid"], app_id);
    assert_eq!(claims["app_displayname"], "Nightly Export");
    let state = emu.state();
    let sp = state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appId"] == app_id)
        .unwrap();
    assert_eq!(claims["oid"], sp["id"]);
    // Graph accepts the token (authenticated) and refuses the call: no application permission is granted.
    let (status, body) = graph_get(&emu, &token, "/applications?$top=1").await;
    assert_eq!(status, 403, "{body}");

    // Another app's secret, and garbage: AADSTS7000215.
    // The good secret with its last character changed (to one it is not: a secret ending in "x" stays wrong).
    let last = if good.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &good[..good.len() - 1]);
    assert_ne!(wrong, good);
    let (status, v) = sign_in(&emu, &app_id, &wrong).await;
    assert_eq!(status, 401);
    let invalid = format!(
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, \
         not the client secret ID, for a secret added to app '{app_id}'."
    );
    assert_aadsts(&v, "invalid_client", 7000215, &invalid);

    // Expired: AADSTS7000222.
    let (status, v) = sign_in(&emu, &app_id, &expired).await;
    assert_eq!(status, 401);
    assert_aadsts(
        &v,
        "invalid_client",
        7000222,
        &format!(
            "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new \
             keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for \
             added security: https://aka.ms/certCreds."
        ),
    );

    // No service principal: even the valid secret is refused, AADSTS7000229.
    assert!(emu.mutate_app(&object_id, AppChange::DeleteServicePrincipal));
    let (status, v) = sign_in(&emu, &app_id, &good).await;
    assert_eq!(status, 401);
    assert_aadsts(
        &v,
        "invalid_client",
        7000229,
        &format!(
            "The client application {app_id} is missing service principal in the tenant {tenant_id}. See \
             instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"
        ),
    );

    // Every attempt is in the state, in order, with the keyId the secret matched.
    let state = emu.state();
    let attempts = sign_ins_of(&state, &app_id);
    let summary: Vec<(Value, Value, Value, Value)> = attempts
        .iter()
        .map(|a| {
            (
                a["keyId"].clone(),
                a["success"].clone(),
                a["errorCode"].clone(),
                a["failureReason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!(good_key), json!(true), Value::Null, Value::Null),
            (
                Value::Null,
                json!(false),
                json!(7000215),
                json!("wrongSecret")
            ),
            (
                json!(expired_key),
                json!(false),
                json!(7000222),
                json!("expired")
            ),
            (
                json!(good_key),
                json!(false),
                json!(7000229),
                json!("noServicePrincipal")
            ),
        ]
    );
    assert_eq!(attempts[0]["resource"], "https://graph.microsoft.com");
    assert_eq!(attempts[0]["credentialType"], "clientSecret");
    // Last use: the successful sign-in's time, on the credential and on the app; none on the expired one.
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appId"] == app_id)
        .unwrap();
    let cred = |k: &str| {
        app["passwordCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["keyId"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(
        cred(&good_key)["lastSignInDateTime"],
        attempts[0]["dateTime"]
    );
    assert_eq!(cred(&expired_key)["lastSignInDateTime"], Value::Null);
    assert_eq!(app["lastSignInDateTime"], attempts[0]["dateTime"]);

    // An appId the tenant does not know: AADSTS700016, recorded too.
    let stranger = uuid::Uuid::new_v4().to_string();
    let (status, v) = sign_in(&emu, &stranger, &good).await;
    assert_eq!(status, 400);
    assert_eq!(v["error_codes"], json!([700016]));
    assert_eq!(
        sign_ins_of(&emu.state(), &stranger)[0]["failureReason"],
        "unknownClient"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_new_secret_is_refused_as_unknown_until_it_has_propagated() {
    let emu = start(EmulatorConfig {
        propagation_delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    assert_eq!(
        emu.faults().propagation_delay(),
        Duration::from_millis(1500)
    );
    let (object_id, app_id) = emu.create_app("Propagating App");
    let (key, secret) = add_password(&emu, &object_id, json!({})).await;
    let added = std::time::Instant::now();

    let (status, v) = sign_in(&emu, &app_id, &secret).await;
    assert!(
        added.elapsed() < Duration::from_millis(1500),
        "the test machine is too slow"
    );
    assert_eq!(status, 401);
    // Exactly what an unknown secret gets.
    let (_, unknown) = sign_in(&emu, &app_id, "not-a-secret-of-this-app").await;
    for field in ["error", "error_codes", "error_uri"] {
        assert_eq!(v[field], unknown[field]);
    }
    let first = |b: &Value| {
        b["error_description"]
            .as_str()
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(first(&v), first(&unknown));

    tokio::time::sleep(
        Duration::from_millis(1500).saturating_sub(added.elapsed()) + Duration::from_millis(100),
    )
    .await;
    let (status, v) = sign_in(&emu, &app_id, &secret).await;
    assert_eq!(status, 200, "{v}");

    let attempts = sign_ins_of(&emu.state(), &app_id);
    let reasons: Vec<(&Value, &Value)> = attempts
        .iter()
        .map(|a| (&a["keyId"], &a["failureReason"]))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (&json!(key), &json!("notYetPropagated")),
            (&Value::Null, &json!("wrongSecret")),
            (&json!(key), &Value::Null),
        ]
    );

    // The knob turns at runtime: zero accepts a new secret at once.
    emu.faults().set_propagation_delay(Duration::ZERO);
    let (_, fresh) = add_password(&emu, &object_id, json!({})).await;
    assert_eq!(sign_in(&emu, &app_id, &fresh).await.0, 200);
    emu.shutdown().await;
}

fn password_ids(state: &Value, object_id: &str) -> Vec<String> {
    state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == object_id)
        .unwrap()["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keyId"].as_str().unwrap().to_string())
        .collect()
}

/// A lost answer: the write is made, the client gets no status line at all (an error from `send`), over HTTP/1.1
/// and over HTTP/2; the next request works on a new connection.
#[tokio::test]
async fn lost_answers_on_add_and_remove_password() {
    let emu = start(no_propagation()).await;
    let (object_id, _) = emu.create_app("Lost Answers");
    // removePassword right after addPassword is refused by default (replication); not what this test is about.
    emu.faults().set_replication_lag(Duration::ZERO);
    let token = graph_token(&emu).await;
    let url = |op: &str| {
        format!(
            "{}/v1.0/applications/{object_id}/{op}",
            emu.info().graph_url
        )
    };
    let http1 = reqwest::Client::builder()
        .http1_only()
        .tls_certs_merge(keyturn::net::load_ca_certs(&emu.info().ca_cert).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for (name, c) in [("default (h2 by ALPN)", client(&emu)), ("HTTP/1.1", http1)] {
        let before = password_ids(&emu.state(), &object_id);
        emu.faults()
            .add("AddPassword=apply-then-drop".parse::<Fault>().unwrap());
        let sent = c
            .post(url("addPassword"))
            .bearer_auth(&token)
            .json(&json!({"passwordCredential": {"displayName": "lost"}}))
            .send()
            .await;
        assert!(
            sent.is_err(),
            "{name}: no answer expected, got {:?}",
            sent.map(|r| r.status())
        );
        let after = password_ids(&emu.state(), &object_id);
        assert_eq!(
            after.len(),
            before.len() + 1,
            "{name}: the password was added"
        );
        let new_key = after.iter().find(|k| !before.contains(k)).unwrap().clone();

        emu.faults().add(Fault {
            op: Op::RemovePassword,
            kind: FaultKind::ApplyThenDrop,
            times: 1,
        });
        let sent = c
            .post(url("removePassword"))
            .bearer_auth(&token)
            .json(&json!({"keyId": new_key}))
            .send()
            .await;
        assert!(sent.is_err(), "{name}: no answer expected");
        assert_eq!(
            password_ids(&emu.state(), &object_id),
            before,
            "{name}: the password was removed"
        );

        // Drop: the request is lost, nothing changes.
        emu.faults()
            .add("AddPassword=drop".parse::<Fault>().unwrap());
        let sent = c
            .post(url("addPassword"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await;
        assert!(sent.is_err(), "{name}");
        assert_eq!(
            password_ids(&emu.state(), &object_id),
            before,
            "{name}: nothing added"
        );

        // The same client carries on.
        let resp = c
            .post(url("addPassword"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
    }
    assert!(emu.faults().pending().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn read_lag_hides_a_new_secret_from_reads_for_a_while() {
    let emu = start(no_propagation()).await;
    let (object_id, app_id) = emu.create_app("Replicating App");
    let token = graph_token(&emu).await;
    let listed = |v: &Value| -> Vec<String> {
        v["passwordCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["keyId"].as_str().unwrap().to_string())
            .collect()
    };
    // Off by default.
    let (first, _) = add_password(&emu, &object_id, json!({})).await;
    let (_, v) = graph_get(&emu, &token, &format!("/applications/{object_id}")).await;
    assert_eq!(listed(&v), vec![first.clone()]);

    // The lag applies to every password younger than it: let the first one age past it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    emu.faults().set_read_lag(Duration::from_millis(700));
    let (second, _) = add_password(&emu, &object_id, json!({})).await;
    let added = std::time::Instant::now();
    let (_, v) = graph_get(&emu, &token, &format!("/applications/{object_id}")).await;
    assert_eq!(listed(&v), vec![first.clone()], "GET does not show it yet");
    let (_, v) = graph_get(
        &emu,
        &token,
        &format!("/applications?$filter=appId eq '{app_id}'&$select=id,passwordCredentials"),
    )
    .await;
    assert_eq!(
        listed(&v["value"][0]),
        vec![first.clone()],
        "nor does a list"
    );
    assert_eq!(
        password_ids(&emu.state(), &object_id),
        vec![first.clone(), second.clone()]
    );
    assert!(
        added.elapsed() < Duration::from_millis(700),
        "the test machine is too slow"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, v) = graph_get(&emu, &token, &format!("/applications/{object_id}")).await;
    assert_eq!(listed(&v), vec![first, second]);
    emu.shutdown().await;
}

/// The knobs reach the emulator through the real binary's flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_the_propagation_delay_and_lost_answer_flags() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("keyturn"))
        .args([
            "emulator",
            "--state",
            "--propagation-delay-secs",
            "0",
            "--fault",
            "AddPassword=apply-then-drop",
        ])
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let info: keyturn::emulator::ReadyInfo = serde_json::from_str(line.trim()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge(keyturn::net::load_ca_certs(&info.ca_cert).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let state = || async {
        http.get(format!("{}/_emulator/state", info.graph_url))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let token: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", info.client_id.as_str()),
            ("client_secret", info.client_secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let before = state().await;
    let app = &before["applications"][0];
    let (object_id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    let add = || {
        http.post(format!(
            "{}/v1.0/applications/{object_id}/addPassword",
            info.graph_url
        ))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
    };
    assert!(
        add().await.is_err(),
        "the first addPassword loses its answer"
    );
    assert_eq!(
        password_ids(&state().await, object_id).len(),
        password_ids(&before, object_id).len() + 1,
        "and its secret was added"
    );
    let created: Value = add().await.unwrap().json().await.unwrap();
    let secret = created["secretText"].as_str().unwrap();
    // No propagation delay: the new secret signs in at once.
    let resp = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", app_id),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let signed = sign_ins_of(&state().await, app_id);
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0]["keyId"], created["keyId"]);
    assert_eq!(signed[0]["success"], true);
}
