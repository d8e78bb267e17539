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

// -------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn ready_line_is_one_json_line_with_exactly_the_design_fields() {
    let emu = start(EmulatorConfig::default()).await;
    let line = emu.ready_line();
    assert!(!line.contains('\n'));
    let v: Value = serde_json::from_str(&line).unwrap();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let want: HashSet<&str> = [
        "authorityHost",
        "graphUrl",
        "vaultUrls",
        "tenantId",
        "clientId",
        "clientSecret",
        "caCert",
    ]
    .into();
    assert_eq!(keys, want);
    let info = emu.info();
    assert!(info.authority_host.starts_with("https://127.0.0.1:"));
    assert_eq!(
        info.authority_host, info.graph_url,
        "token endpoint and Graph share a port"
    );
    assert_eq!(info.vault_urls.len(), 1);
    assert_ne!(info.vault_urls[0], info.graph_url);
    let pem = std::fs::read_to_string(&info.ca_cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(pem, emu.ca_pem());
    emu.shutdown().await;
}

#[tokio::test]
async fn client_credentials_token_and_its_errors() {
    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();

    let resp = token_response(&emu, &info.client_id, &info.client_secret, GRAPH_SCOPE).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["ext_expires_in"], 3599);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{}/", info.tenant_id)
    );
    assert_eq!(c["tid"], info.tenant_id);
    assert_eq!(c["appid"], info.client_id);
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for r in [
        "Application.ReadWrite.All",
        "Application.Read.All",
        "AuditLog.Read.All",
        "Directory.Read.All",
    ] {
        assert!(roles.contains(&r), "{r} in {roles:?}");
    }
    assert!(c["exp"].as_i64().unwrap() > c["nbf"].as_i64().unwrap());

    // This emulator's own Graph URL is a Graph scope too.
    let own = token_as(
        &emu,
        &info.client_id,
        &info.client_secret,
        &format!("{}/.default", info.graph_url),
    )
    .await;
    assert_eq!(graph_get(&emu, &own, "/applications?$top=1").await.0, 200);

    // Wrong secret: 401 and the AADSTS7000215 body of Microsoft's token-endpoint example.
    let resp = token_response(&emu, &info.client_id, "not-the-secret", GRAPH_SCOPE).await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{d}"
    );
    assert!(d.contains(&format!("for a secret added to app '{}'.", info.client_id)));
    let trace = v["trace_id"].as_str().unwrap();
    let corr = v["correlation_id"].as_str().unwrap();
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        d.ends_with(&format!(
            "\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        )),
        "{d}"
    );
    assert!(
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%SZ").is_ok(),
        "{ts}"
    );
    assert_eq!(
        v["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );

    let resp = token_response(
        &emu,
        "11111111-2222-3333-4444-555555555555",
        "x",
        GRAPH_SCOPE,
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized_client");
    assert_eq!(v["error_codes"], json!([700016]));

    let resp = token_response(
        &emu,
        &info.client_id,
        &info.client_secret,
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");
    assert_eq!(v["error_codes"], json!([70011]));

    let resp = client(&emu)
        .post(format!(
            "{}/not-a-tenant/oauth2/v2.0/token",
            info.authority_host
        ))
        .form(&[
            ("client_id", info.client_id.as_str()),
            ("client_secret", info.client_secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error_codes"], json!([90002]));
}

#[tokio::test]
async fn tokens_are_refused_by_the_other_resource() {
    let emu = start(EmulatorConfig::default()).await;
    let graph = graph_token(&emu).await;
    let vault = vault_token(&emu).await;
    assert_eq!(claims(&vault)["aud"], "https://vault.azure.net");
    assert!(
        claims(&vault).get("roles").is_none(),
        "vault access is RBAC, not token roles"
    );

    let (status, body) = graph_get(&emu, &vault, "/applications").await;
    assert_eq!(status, 401);
    assert_graph_error(
        &body,
        "InvalidAuthenticationToken",
        "Access token validation failure. Invalid audience.",
    );

    let resp = client(&emu)
        .get(graph_url(&emu, "/applications"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_graph_error(
        &body,
        "InvalidAuthenticationToken",
        "Access token is empty.",
    );

    let resp = client(&emu)
        .get(vault_url(&emu, "/secrets", "2025-07-01"))
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer authorization=")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");
}

#[tokio::test]
async fn graph_responses_carry_odata_content_type_and_request_ids() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let resp = client(&emu)
        .get(graph_url(&emu, "/applications?$top=1"))
        .bearer_auth(&token)
        .header("client-request-id", "my-correlation-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], GRAPH_CT);
    assert_eq!(resp.headers()["client-request-id"], "my-correlation-123");
    assert!(uuid::Uuid::parse_str(resp.headers()["request-id"].to_str().unwrap()).is_ok());

    // Errors echo the client-request-id inside the body too.
    let resp = client(&emu)
        .get(graph_url(&emu, "/users"))
        .bearer_auth(&token)
        .header("client-request-id", "abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_graph_error(
        &body,
        "BadRequest",
        "Resource not found for the segment 'users'.",
    );
    assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-1");

    let resp = client(&emu)
        .delete(graph_url(&emu, "/applications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_graph_error(
        &body,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    );
}

#[tokio::test]
async fn listing_pages_with_absolute_next_links_and_select() {
    let emu = start(generated(250)).await;
    let token = graph_token(&emu).await;
    let first = "/applications?$top=100&$select=id,appId,displayName,passwordCredentials";
    let mut next = Some(graph_url(&emu, first));
    let mut ids = HashSet::new();
    let mut pages = 0;
    while let Some(url) = next {
        let (status, body) = graph_get(&emu, &token, &url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        assert_eq!(
            body["@odata.context"],
            format!(
                "{}/v1.0/$metadata#applications(id,appId,displayName,passwordCredentials)",
                emu.info().graph_url
            )
        );
        for app in body["value"].as_array().unwrap() {
            let keys: HashSet<&str> = app
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                ["id", "appId", "displayName", "passwordCredentials"].into()
            );
            assert!(app["passwordCredentials"].is_array(), "never null");
            assert!(
                ids.insert(app["id"].as_str().unwrap().to_string()),
                "each id once"
            );
        }
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(link) = &next {
            assert!(
                link.starts_with(&format!("{}/v1.0/applications?", emu.info().graph_url)),
                "{link}"
            );
            assert!(link.contains("$top=100"), "{link}");
            assert!(
                link.contains("$select=id,appId,displayName,passwordCredentials"),
                "{link}"
            );
            assert!(link.contains("$skiptoken="), "{link}");
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 250);

    let (status, body) = graph_get(&emu, &token, "/applications?$top=1000").await;
    assert_eq!(status, 400);
    assert_graph_error(
        &body,
        "Request_BadRequest",
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
    );

    // Default page size 100, full objects with credentials never null and keyCredentials' key null.
    let (_, body) = graph_get(&emu, &token, "/applications/").await;
    assert_eq!(body["value"].as_array().unwrap().len(), 100);
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#applications", emu.info().graph_url)
    );
    for app in body["value"].as_array().unwrap() {
        assert!(app["keyCredentials"].is_array() && app["passwordCredentials"].is_array());
        for k in app["keyCredentials"].as_array().unwrap() {
            assert!(k["key"].is_null());
            assert!(k["customKeyIdentifier"].is_string());
        }
        for p in app["passwordCredentials"].as_array().unwrap() {
            assert!(
                p["secretText"].is_null(),
                "secretText only in the addPassword answer"
            );
            assert_eq!(p["hint"].as_str().unwrap().len(), 3);
        }
    }

    let (status, body) = graph_get(&emu, &token, "/applications?$select=id,nope").await;
    assert_eq!(status, 400);
    assert_graph_error(
        &body,
        "Request_BadRequest",
        "Could not find a property named 'nope' on type 'microsoft.graph.application'.",
    );
    let (status, body) = graph_get(&emu, &token, "/applications?$skiptoken=garbage").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Directory_ExpiredPageToken");
}

#[tokio::test]
async fn filters_and_the_unsupported_credential_filter() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let names = |body: &Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = graph_get(
        &emu,
        &token,
        "/applications?$filter=displayName eq 'Backup Daemon'",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(names(&body), ["Backup Daemon"]);
    let app_id = body["value"][0]["appId"].as_str().unwrap().to_string();
    let id = body["value"][0]["id"].as_str().unwrap().to_string();

    let (_, body) = graph_get(
        &emu,
        &token,
        "/applications?$filter=startswith(displayName,'Backup')",
    )
    .await;
    let mut n = names(&body);
    n.sort();
    assert_eq!(n, ["Backup Daemon", "Backup Daemon (DR site)"]);
    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/applications?$filter=appId eq '{app_id}'"),
    )
    .await;
    assert_eq!(names(&body), ["Backup Daemon"]);
    let (_, body) = graph_get(&emu, &token, &format!("/applications?$filter=id eq '{id}'")).await;
    assert_eq!(names(&body), ["Backup Daemon"]);
    let (_, body) = graph_get(
        &emu,
        &token,
        "/servicePrincipals?$filter=displayName eq 'Salesforce' and accountEnabled eq true",
    )
    .await;
    assert_eq!(names(&body), ["Salesforce"]);

    for (prop, expr) in [
        (
            "passwordCredentials",
            "passwordCredentials/any(c:c/endDateTime le 2030-01-01T00:00:00Z)",
        ),
        (
            "keyCredentials",
            "keyCredentials/any(k: k/endDateTime ge 2021-01-02T12:00:00Z)",
        ),
    ] {
        for set in ["applications", "servicePrincipals"] {
            let (status, body) = graph_get(&emu, &token, &format!("/{set}?$filter={expr}")).await;
            assert_eq!(status, 400);
            // keyCredentials on applications has its own recorded wording (exact-strings.json,
            // applicationKeyCredentialFilterMessage).
            let message = if set == "applications" && prop == "keyCredentials" {
                "This query on 'Application' for 'KeyCredential' is not supported".to_string()
            } else {
                format!("Complex query on property {prop} is not supported.")
            };
            assert_graph_error(&body, "Request_UnsupportedQuery", &message);
        }
    }
    let (status, body) = graph_get(&emu, &token, "/applications?$filter=displayName ne 'x'").await;
    assert_eq!(status, 400);
    assert_graph_error(
        &body,
        "Request_UnsupportedQuery",
        "Unsupported property filter clause operator 'NotEqualsMatch'.",
    );
    let (status, _) = graph_get(&emu, &token, "/applications?$filter=displayName eq").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn get_by_id_and_by_app_id_and_the_404_message() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let app = app_by_name(&state, "Payroll Sync (Logic App)");
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());

    let (status, body) = graph_get(&emu, &token, &format!("/applications/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#applications/$entity",
            emu.info().graph_url
        )
    );
    assert_eq!(body["appId"], app_id);
    let (status, body) = graph_get(
        &emu,
        &token,
        &format!("/applications(appId='{app_id}')?$select=id,displayName"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], id);
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#applications(id,displayName)/$entity",
            emu.info().graph_url
        )
    );
    let (status, body) = graph_get(
        &emu,
        &token,
        &format!("/servicePrincipals(appId='{app_id}')"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["appId"], app_id);

    let missing = "5b31c38c-2584-42f0-aa47-657fb3a84230";
    for path in [
        format!("/applications/{missing}"),
        format!("/applications(appId='{missing}')"),
    ] {
        let (status, body) = graph_get(&emu, &token, &path).await;
        assert_eq!(status, 404);
        assert_graph_error(
            &body,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{missing}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
}

#[tokio::test]
async fn owners_are_users_or_service_principals() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let owners = |name: &str| {
        app_by_name(&state, name)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let (status, body) = graph_get(
        &emu,
        &token,
        &format!(
            "/applications/{}/owners",
            owners("Payroll Sync (Logic App)")
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#directoryObjects", emu.info().graph_url)
    );
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    for u in v {
        assert_eq!(u["@odata.type"], "#microsoft.graph.user");
        assert!(u["id"].is_string() && u["displayName"].is_string() && u["mail"].is_string());
        assert!(u["userPrincipalName"].as_str().unwrap().contains('@'));
    }

    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/applications/{}/owners", owners("HR Portal")),
    )
    .await;
    assert_eq!(body["value"], json!([]));

    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/applications/{}/owners", owners("SharePoint Archiver")),
    )
    .await;
    let sp = &body["value"][0];
    assert_eq!(sp["@odata.type"], "#microsoft.graph.servicePrincipal");
    assert_eq!(sp["displayName"], "ci-pipeline-deployer");
    assert!(sp["appId"].is_string());
}

#[tokio::test]
async fn add_password_answers_the_secret_and_writes_audit_events() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let app = app_by_name(&state, "Backup Daemon");
    let id = app["id"].as_str().unwrap().to_string();

    let (status, cred) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({"passwordCredential": {"displayName": "keyturn it"}}),
    )
    .await;
    assert_eq!(status, 200, "{cred}");
    let secret = cred["secretText"].as_str().unwrap();
    assert_eq!(secret.len(), 40);
    assert_eq!(cred["hint"], &secret[..3]);
    assert_eq!(cred["displayName"], "keyturn it");
    assert!(cred["customKeyIdentifier"].is_null());
    let start_s = cred["startDateTime"].as_str().unwrap();
    let end_s = cred["endDateTime"].as_str().unwrap();
    for s in [start_s, end_s] {
        let frac = s.split('.').nth(1).expect("fractional seconds");
        assert_eq!(frac.len(), 8, "7 digits + Z: {s}");
    }
    let start_t = chrono::DateTime::parse_from_rfc3339(start_s).unwrap();
    let end_t = chrono::DateTime::parse_from_rfc3339(end_s).unwrap();
    assert_eq!(
        (end_t - start_t).num_days(),
        730,
        "default lifetime: two years"
    );
    let key_id = cred["keyId"].as_str().unwrap().to_string();

    // The secret works as state shows it, and the list shows the hint but never the secret.
    let state = emu.state();
    let stored = app_by_name(&state, "Backup Daemon")["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["keyId"] == key_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(stored["secretText"], secret);

    let filter = format!(
        "targetResources/any(t: t/id eq '{id}') and activityDateTime ge 2020-01-01T00:00:00Z"
    );
    let (status, body) = graph_get(
        &emu,
        &token,
        &format!("/auditLogs/directoryAudits?$filter={filter}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#auditLogs/directoryAudits",
            emu.info().graph_url
        )
    );
    let events = body["value"].as_array().unwrap();
    let newest = &events[0];
    assert_eq!(
        newest["activityDisplayName"], CRED_ACTIVITY,
        "en dash and trailing space, newest first"
    );
    assert_eq!(newest["category"], "ApplicationManagement");
    assert_eq!(newest["loggedByService"], "Core Directory");
    assert_eq!(newest["operationType"], "Update");
    assert_eq!(newest["result"], "success");
    let ev_id = newest["id"].as_str().unwrap();
    let parts: Vec<&str> = ev_id.split('_').collect();
    assert_eq!(parts[0], "Directory");
    assert!(uuid::Uuid::parse_str(parts[1]).is_ok());
    assert_eq!(parts[2].len(), 5);
    assert!(parts[3].parse::<u64>().is_ok());
    assert!(newest["initiatedBy"]["user"].is_null());
    let app_init = &newest["initiatedBy"]["app"];
    assert_eq!(app_init["appId"], emu.info().client_id);
    assert!(app_init["displayName"].is_string() && app_init["servicePrincipalId"].is_string());
    assert!(app_init["servicePrincipalName"].is_string());
    let target = &newest["targetResources"][0];
    assert_eq!(target["id"], id.as_str());
    assert_eq!(target["type"], "Application");
    assert_eq!(target["displayName"], "Backup Daemon");
    let mods = target["modifiedProperties"].as_array().unwrap();
    let kd = mods
        .iter()
        .find(|m| m["displayName"] == "KeyDescription")
        .unwrap();
    let new_value = kd["newValue"].as_str().expect("a JSON string inside JSON");
    let entries: Vec<String> = serde_json::from_str(new_value).unwrap();
    let mine =
        format!("[KeyIdentifier={key_id},KeyType=Password,KeyUsage=Verify,DisplayName=keyturn it]");
    assert!(entries.contains(&mine), "{entries:?}");
    let old: Vec<String> = serde_json::from_str(kd["oldValue"].as_str().unwrap()).unwrap();
    assert!(!old.contains(&mine));
    assert_eq!(old.len() + 1, entries.len());
    let inc = mods
        .iter()
        .find(|m| m["displayName"] == "Included Updated Properties")
        .unwrap();
    assert!(inc["oldValue"].is_null());
    assert_eq!(inc["newValue"], "\"KeyDescription\"");
    let companion = &events[1];
    assert_eq!(companion["activityDisplayName"], "Update application");
    assert_eq!(companion["correlationId"], newest["correlationId"]);
    assert_eq!(
        companion["targetResources"][0]["modifiedProperties"],
        json!([])
    );

    // Other filter forms.
    let by_name = format!(
        "activityDisplayName eq '{CRED_ACTIVITY}' and targetResources/any(t:t/id eq '{id}')"
    );
    let (status, body) = graph_get(
        &emu,
        &token,
        &format!("/auditLogs/directoryAudits?$filter={}", urlencode(&by_name)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["activityDisplayName"] == CRED_ACTIVITY)
    );
    assert!(!body["value"].as_array().unwrap().is_empty());

    // By appId, and with the bodyless form (defaults).
    let app_id = app["appId"].as_str().unwrap();
    let resp = client(&emu)
        .post(graph_url(
            &emu,
            &format!("/applications(appId='{app_id}')/addPassword"),
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["displayName"].is_null());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn remove_password_lags_then_succeeds_and_is_audited() {
    let emu = start(EmulatorConfig::default()).await;
    // Far longer than any loaded machine needs to send the first removePassword; the window is read per request,
    // so it is shortened below instead of waited out (no race with the clock).
    emu.faults().set_replication_lag(Duration::from_secs(600));
    let token = graph_token(&emu).await;
    let state = emu.state();
    let id = app_by_name(&state, "Slack Alerts Webhook")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, cred) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    let key_id = cred["keyId"].as_str().unwrap().to_string();

    // Right after addPassword the keyId is not replicated yet: 400, like a real tenant.
    let (status, body) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/removePassword"),
        &json!({"keyId": key_id}),
    )
    .await;
    assert_eq!(status, 400);
    assert_graph_error(
        &body,
        "Request_BadRequest",
        "Invalid value specified for property 'keyId' of resource 'Application'.",
    );
    // Replicated: the same request now succeeds.
    emu.faults().set_replication_lag(Duration::ZERO);
    let resp = client(&emu)
        .post(graph_url(
            &emu,
            &format!("/applications/{id}/removePassword"),
        ))
        .bearer_auth(&token)
        .json(&json!({"keyId": key_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    let state = emu.state();
    assert!(
        !state.to_string().contains(&key_id) || {
            let app = app_by_name(&state, "Slack Alerts Webhook");
            !app["passwordCredentials"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["keyId"] == key_id.as_str())
        }
    );

    let (status, _) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/removePassword"),
        &json!({"keyId": key_id}),
    )
    .await;
    assert_eq!(status, 400, "an unknown keyId");

    let filter = format!("targetResources/any(t:t/id eq '{id}')");
    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/auditLogs/directoryAudits?$filter={filter}&$top=1"),
    )
    .await;
    let ev = &body["value"][0];
    assert_eq!(ev["activityDisplayName"], CRED_ACTIVITY);
    let kd = &ev["targetResources"][0]["modifiedProperties"][0];
    assert!(kd["oldValue"].as_str().unwrap().contains(&key_id));
    assert!(!kd["newValue"].as_str().unwrap().contains(&key_id));
    assert!(
        body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=")
    );
}

#[tokio::test]
async fn service_principal_credentials_have_their_own_activity() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let sp = state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["displayName"] == "Salesforce")
        .unwrap();
    let sp_id = sp["id"].as_str().unwrap();
    let (status, cred) = graph_post(
        &emu,
        &token,
        &format!("/servicePrincipals/{sp_id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/auditLogs/directoryAudits?$filter=targetResources/any(t:t/id eq '{sp_id}')"),
    )
    .await;
    assert_eq!(
        body["value"][0]["activityDisplayName"],
        "Add service principal credentials"
    );
    assert_eq!(
        body["value"][0]["targetResources"][0]["type"],
        "ServicePrincipal"
    );
    emu.faults().set_replication_lag(Duration::ZERO);
    let (status, _) = graph_post(
        &emu,
        &token,
        &format!("/servicePrincipals/{sp_id}/removePassword"),
        &json!({"keyId": cred["keyId"]}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = graph_get(
        &emu,
        &token,
        &format!("/auditLogs/directoryAudits?$filter=targetResources/any(t:t/id eq '{sp_id}')"),
    )
    .await;
    assert_eq!(
        body["value"][0]["activityDisplayName"],
        "Remove service principal credentials"
    );
}

#[tokio::test]
async fn a_client_without_the_role_gets_403() {
    let emu = start(EmulatorConfig::default()).await;
    let (reader, reader_secret) = emu.add_client("read-only auditor", &["Application.Read.All"]);
    let token = token_as(&emu, &reader, &reader_secret, GRAPH_SCOPE).await;
    assert_eq!(claims(&token)["roles"], json!(["Application.Read.All"]));
    assert_eq!(graph_get(&emu, &token, "/applications?$top=1").await.0, 200);
    let state = emu.state();
    let id = app_by_name(&state, "Backup Daemon")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert_graph_error(
        &body,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    );
    let (status, _) = graph_get(&emu, &token, "/auditLogs/directoryAudits").await;
    assert_eq!(
        status, 403,
        "audits need AuditLog.Read.All and Directory.Read.All"
    );

    // No vault role: 403 Forbidden with the spec's lowercase innererror.
    let vtoken = token_as(&emu, &reader, &reader_secret, VAULT_SCOPE).await;
    let resp = client(&emu)
        .get(vault_url(&emu, "/secrets", "7.6"))
        .bearer_auth(&vtoken)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByRbac");

    // Application.ReadWrite.OwnedBy writes only apps its service principal owns.
    let (owner, owner_secret) = emu.add_client(
        "pipeline-owner",
        &["Application.ReadWrite.OwnedBy", "Key Vault Secrets User"],
    );
    let token = token_as(&emu, &owner, &owner_secret, GRAPH_SCOPE).await;
    let (status, _) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(emu.add_owner(&id, &owner));
    let (status, _) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let full = graph_token(&emu).await;
    let (_, body) = graph_get(&emu, &full, &format!("/applications/{id}/owners")).await;
    assert!(
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["displayName"] == "pipeline-owner")
    );
    let (_, body) = graph_get(
        &emu,
        &full,
        &format!("/auditLogs/directoryAudits?$filter=initiatedBy/app/appId eq '{owner}'"),
    )
    .await;
    assert_eq!(
        body["value"][0]["initiatedBy"]["app"]["displayName"],
        "pipeline-owner"
    );
}

// -------------------------------------------------------------------------------------------------------------
// Key Vault

#[tokio::test]
async fn vault_challenge_is_exact() {
    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let resp = client(&emu)
        .put(vault_url(&emu, "/secrets/probe", "2025-07-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(
        h["www-authenticate"],
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            info.authority_host, info.tenant_id
        )
        .as_str()
    );
    for name in [
        "x-ms-keyvault-service-version",
        "x-ms-keyvault-region",
        "x-ms-keyvault-network-info",
        "x-ms-request-id",
    ] {
        assert!(h.contains_key(name), "{name}");
    }
    let body = resp.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#
    );
}

#[tokio::test]
async fn vault_set_get_versions_update_list() {
    let emu = start(EmulatorConfig::default()).await;
    let token = vault_token(&emu).await;
    let http = client(&emu);
    let vault = emu.info().vault_urls[0].clone();
    let api = "2025-07-01";

    let resp = http
        .put(vault_url(&emu, "/secrets/it-secret", api))
        .bearer_auth(&token)
        .json(&json!({"value": "v1", "contentType": "text/plain", "attributes": {"nbf": 1700000000, "exp": 1900000000}, "tags": {"CredentialId": "k1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v1: Value = resp.json().await.unwrap();
    assert_eq!(v1["value"], "v1");
    let id1 = v1["id"].as_str().unwrap().to_string();
    let version1 = id1.rsplit('/').next().unwrap().to_string();
    assert!(id1.starts_with(&format!("{vault}/secrets/it-secret/")));
    assert_eq!(version1.len(), 32);
    assert!(
        version1
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let attrs = &v1["attributes"];
    assert_eq!(attrs["enabled"], true);
    assert_eq!(attrs["nbf"], 1700000000);
    assert_eq!(attrs["exp"], 1900000000);
    assert!(attrs["created"].is_i64() && attrs["updated"].is_i64());
    assert_eq!(attrs["recoveryLevel"], "Recoverable+Purgeable");
    assert_eq!(attrs["recoverableDays"], 90);
    assert_eq!(v1["tags"]["CredentialId"], "k1");

    let resp = http
        .put(vault_url(&emu, "/secrets/it-secret", api))
        .bearer_auth(&token)
        .json(&json!({"value": "v2"}))
        .send()
        .await
        .unwrap();
    let v2: Value = resp.json().await.unwrap();

    // Latest (with and without the trailing slash, any case), and a given version.
    for path in [
        "/secrets/it-secret",
        "/secrets/it-secret/",
        "/secrets/IT-SECRET",
    ] {
        let got: Value = http
            .get(vault_url(&emu, path, api))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["value"], "v2", "{path}");
        assert_eq!(got["id"], v2["id"]);
    }
    let got: Value = http
        .get(vault_url(
            &emu,
            &format!("/secrets/it-secret/{version1}"),
            api,
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["value"], "v1");

    // Versions: no values, at most maxresults per page, nextLink to the rest.
    let mut url = format!("{vault}/secrets/it-secret/versions?api-version={api}&maxresults=1");
    let mut seen = Vec::new();
    loop {
        let page: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 1);
        for i in items {
            assert!(i.get("value").is_none());
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        match page["nextLink"].as_str() {
            Some(n) => {
                assert!(n.starts_with(&vault));
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 2);
    let resp = http
        .get(vault_url(&emu, "/secrets/it-secret/versions", api) + "&maxresults=26")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Update: attributes, tags, contentType; the value cannot change.
    let upd: Value = http
        .patch(vault_url(&emu, &format!("/secrets/it-secret/{version1}"), api))
        .bearer_auth(&token)
        .json(&json!({"contentType": "application/x-keyturn", "attributes": {"enabled": false}, "tags": {"a": "b"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(upd.get("value").is_none());
    assert_eq!(upd["contentType"], "application/x-keyturn");
    assert_eq!(upd["attributes"]["enabled"], false);
    assert_eq!(upd["tags"], json!({"a": "b"}));
    let resp = http
        .get(vault_url(
            &emu,
            &format!("/secrets/it-secret/{version1}"),
            api,
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "a disabled version cannot be read");
    let resp = http
        .patch(vault_url(
            &emu,
            &format!("/secrets/it-secret/{version1}"),
            api,
        ))
        .bearer_auth(&token)
        .json(&json!({"value": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // List: base ids, no values; the demo vault maps apps with the rotation sample's tags.
    let list: Value = http
        .get(vault_url(&emu, "/secrets", api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["value"].as_array().unwrap();
    assert!(items.iter().all(|i| i.get("value").is_none()));
    assert!(
        items
            .iter()
            .any(|i| i["id"] == format!("{vault}/secrets/it-secret"))
    );
    assert!(items.iter().any(|i| i["tags"]["CredentialId"].is_string()
        && i["tags"]["ProviderAddress"].is_string()
        && i["tags"]["ValidityPeriodDays"].is_string()));

    let resp = http
        .get(vault_url(&emu, "/secrets/never-set", api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SecretNotFound");
}

#[tokio::test]
async fn vault_names_and_api_versions() {
    let emu = start(EmulatorConfig {
        vaults: 2,
        ..Default::default()
    })
    .await;
    let token = vault_token(&emu).await;
    let http = client(&emu);
    let put = |path: &str, api: Option<&str>| {
        let mut url = format!("{}{path}", emu.info().vault_urls[0]);
        if let Some(a) = api {
            url.push_str(&format!("?api-version={a}"));
        }
        http.put(url)
            .bearer_auth(&token)
            .json(&json!({"value": "x"}))
            .send()
    };
    for bad in ["bad_name", "with.dot", &"a".repeat(128)] {
        let resp = put(&format!("/secrets/{bad}"), Some("7.6")).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadParameter");
    }
    assert_eq!(
        put(&format!("/secrets/{}", "a".repeat(127)), Some("7.6"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        put("/secrets/ok", None).await.unwrap().status(),
        400,
        "api-version is required"
    );
    assert_eq!(put("/secrets/ok", Some("1.0")).await.unwrap().status(), 400);
    for api in ["7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"] {
        assert_eq!(
            put("/secrets/ok", Some(api)).await.unwrap().status(),
            200,
            "{api}"
        );
    }
    // Each vault is its own store on its own port.
    let other = format!("{}/secrets/ok?api-version=7.6", emu.info().vault_urls[1]);
    assert_eq!(
        http.get(other)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

// -------------------------------------------------------------------------------------------------------------
// throttling and faults

#[tokio::test]
async fn every_kth_request_is_throttled() {
    let emu = start(EmulatorConfig {
        throttle_every: Some(3),
        ..Default::default()
    })
    .await;
    let token = graph_token(&emu).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = client(&emu)
            .get(graph_url(&emu, "/applications?$top=1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            let ra = resp.headers()["retry-after"].to_str().unwrap().to_string();
            assert!(ra.parse::<f64>().unwrap() <= 1.0, "small Retry-After: {ra}");
            let body: Value = resp.json().await.unwrap();
            let e = &body["error"];
            assert_eq!(e["code"], "TooManyRequests");
            assert_eq!(e["message"], "Please retry again later.");
            assert_eq!(e["innerError"]["code"], "429");
            assert_eq!(e["innerError"]["status"], "429");
            assert_eq!(e["innerError"]["message"], "Please retry after");
            assert!(
                e["innerError"]["request-id"].is_string() && e["innerError"]["date"].is_string()
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);

    // The vault throttles with a Key Vault body.
    let vtoken = vault_token(&emu).await;
    let mut throttled = None;
    for _ in 0..3 {
        let resp = client(&emu)
            .get(vault_url(&emu, "/secrets", "7.6"))
            .bearer_auth(&vtoken)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            throttled = Some(resp.json::<Value>().await.unwrap());
        }
    }
    assert_eq!(
        throttled.expect("one of three is throttled")["error"]["code"],
        "Throttled"
    );
}

#[tokio::test]
async fn each_fault_kind() {
    let emu = start(EmulatorConfig::default()).await;
    let faults = emu.faults();
    let token = graph_token(&emu).await;
    let vtoken = vault_token(&emu).await;
    let http = client(&emu);
    let list = || {
        http.get(graph_url(&emu, "/applications?$top=2"))
            .bearer_auth(&token)
            .send()
    };

    // Status: the Graph body of that status, once.
    faults.add("ListApplications=500x1".parse().unwrap());
    let resp = list().await.unwrap();
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_graph_error(
        &body,
        "Service_InternalServerError",
        "Encountered an internal server error.",
    );
    assert_eq!(list().await.unwrap().status(), 200, "used up");

    faults.add(Fault {
        op: Op::Any,
        kind: FaultKind::Status(503),
        times: 1,
    });
    assert_eq!(list().await.unwrap().status(), 503);

    // Throttle with a decimal Retry-After.
    faults.add(Fault {
        op: Op::ListApplications,
        kind: FaultKind::Throttle {
            retry_after: "2.128".into(),
        },
        times: 1,
    });
    let resp = list().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2.128");

    // Malformed: 200 and not JSON.
    faults.add("ListApplications=malformed".parse().unwrap());
    let resp = list().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).is_err());

    // Truncated: the real answer cut in half.
    let full = list().await.unwrap().bytes().await.unwrap().len();
    faults.add("ListApplications=truncated".parse().unwrap());
    let cut = list().await.unwrap().bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&cut).is_err());
    assert!(
        (cut.len() as i64 - (full / 2) as i64).abs() < 200,
        "{} vs {full}",
        cut.len()
    );

    // Delay: a short client timeout fires, the next call is fine.
    faults.add("ListApplications=delay:1500ms".parse().unwrap());
    let quick = client_with_timeout(&emu, Duration::from_millis(300));
    let err = quick
        .get(graph_url(&emu, "/applications?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // ApplyThenStatus on addPassword: the password exists although the answer was an error.
    let state = emu.state();
    let id = app_by_name(&state, "Dev Sandbox App")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let count = |s: &Value| {
        app_by_name(s, "Dev Sandbox App")["passwordCredentials"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count(&state);
    faults.add("AddPassword=apply-then-status:500".parse().unwrap());
    let (status, _) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(count(&emu.state()), before + 1);

    // ApplyThenDelay: the client times out, the write stands.
    faults.add("AddPassword=apply-then-delay:1500ms".parse().unwrap());
    let err = quick
        .post(graph_url(&emu, &format!("/applications/{id}/addPassword")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(count(&emu.state()), before + 2);

    // 403 on a write, with Graph's body.
    faults.add("AddPassword=403".parse().unwrap());
    let (status, body) = graph_post(
        &emu,
        &token,
        &format!("/applications/{id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");

    // Vault: ApplyThenStatus stores the version; CorruptReadBack answers another value.
    faults.add("VaultSet=apply-then-status:500".parse().unwrap());
    let resp = http
        .put(vault_url(&emu, "/secrets/faulty", "7.6"))
        .bearer_auth(&vtoken)
        .json(&json!({"value": "stored-anyway"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InternalServerError");
    faults.add("VaultGet=corrupt-read-back".parse().unwrap());
    let got: Value = http
        .get(vault_url(&emu, "/secrets/faulty", "7.6"))
        .bearer_auth(&vtoken)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(got["value"], "stored-anyway");
    assert_eq!(got["value"].as_str().unwrap().len(), "stored-anyway".len());
    let got: Value = http
        .get(vault_url(&emu, "/secrets/faulty", "7.6"))
        .bearer_auth(&vtoken)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["value"], "stored-anyway",
        "the stored value was never changed"
    );

    // The token endpoint answers faults with AADSTS bodies.
    faults.add("Token=503".parse().unwrap());
    let info = emu.info().clone();
    let resp = token_response(&emu, &info.client_id, &info.client_secret, GRAPH_SCOPE).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(faults.pending().is_empty());

    faults.add("Any=500x*".parse().unwrap());
    assert_eq!(list().await.unwrap().status(), 500);
    faults.clear();
    assert_eq!(list().await.unwrap().status(), 200);
}

// -------------------------------------------------------------------------------------------------------------
// delta

#[tokio::test]
async fn delta_rounds_report_changes_and_removals() {
    let emu = start(generated(25)).await;
    let token = graph_token(&emu).await;

    // Initial round: pages of 10, then a deltaLink.
    let mut url = graph_url(&emu, "/applications/delta?$top=10&$select=displayName");
    let mut ids = HashSet::new();
    let delta_link = loop {
        let (status, body) = graph_get(&emu, &token, &url).await;
        assert_eq!(status, 200, "{body}");
        for a in body["value"].as_array().unwrap() {
            assert!(a["id"].is_string(), "delta always returns id");
            assert!(a["displayName"].is_string());
            ids.insert(a["id"].as_str().unwrap().to_string());
        }
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("/applications/delta?$skiptoken="), "{next}");
            url = next.to_string();
        } else {
            break body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink on the last page")
                .to_string();
        }
    };
    assert_eq!(ids.len(), 25);
    assert!(delta_link.starts_with(&format!(
        "{}/v1.0/applications/delta?$deltatoken=",
        emu.info().graph_url
    )));

    // Nothing changed: an empty round.
    let (_, body) = graph_get(&emu, &token, &delta_link).await;
    assert_eq!(body["value"], json!([]));
    let delta_link = body["@odata.deltaLink"].as_str().unwrap().to_string();

    // Rename one, delete one, add a password to a third.
    let state = emu.state();
    let apps = state["applications"].as_array().unwrap();
    let (a, b, c) = (
        apps[0]["id"].as_str().unwrap(),
        apps[1]["id"].as_str().unwrap(),
        apps[2]["id"].as_str().unwrap(),
    );
    assert!(emu.mutate_app(a, AppChange::Rename("Renamed App".into())));
    assert!(emu.mutate_app(b, AppChange::Delete));
    graph_post(
        &emu,
        &token,
        &format!("/applications/{c}/addPassword"),
        &json!({}),
    )
    .await;
    let (_, body) = graph_get(&emu, &token, &delta_link).await;
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 3, "{body}");
    let renamed = v.iter().find(|x| x["id"] == a).unwrap();
    assert_eq!(renamed["displayName"], "Renamed App");
    let removed = v.iter().find(|x| x["id"] == b).unwrap();
    assert_eq!(removed["@removed"], json!({"reason": "deleted"}));
    assert_eq!(removed["@odata.type"], "#microsoft.graph.application");
    assert!(v.iter().any(|x| x["id"] == c));
    assert!(body["@odata.deltaLink"].is_string());

    // A new registration shows up in the next round, as a full object.
    let next_link = body["@odata.deltaLink"].as_str().unwrap().to_string();
    let (new_id, _) = emu.create_app("Created Later");
    let (_, body) = graph_get(&emu, &token, &next_link).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["value"][0]["id"], new_id.as_str());
    assert_eq!(body["value"][0]["displayName"], "Created Later");

    // The deleted app is gone from lists and gets.
    assert_eq!(
        graph_get(&emu, &token, &format!("/applications/{b}"))
            .await
            .0,
        404
    );

    // `latest`: a deltaLink and no data. Invalid tokens: 400.
    let (status, body) = graph_get(
        &emu,
        &token,
        "/applications/microsoft.graph.delta?$deltatoken=latest",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!([]));
    assert!(body["@odata.deltaLink"].is_string());
    for bad in [
        "not-a-token",
        "eyJuIjoiMTIzIiwiayI6ImEiLCJzIjo5OTk5LCJ1Ijo5OTk5LCJvIjowfQ",
    ] {
        let (status, body) = graph_get(
            &emu,
            &token,
            &format!("/applications/delta?$deltatoken={bad}"),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "Request_BadRequest");
    }
    let (status, _) = graph_get(&emu, &token, "/servicePrincipals/delta?$top=50").await;
    assert_eq!(status, 200);
}

// -------------------------------------------------------------------------------------------------------------
// sign-in extras, batch, state

#[tokio::test]
async fn device_code_flow_and_discovery_documents() {
    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let http = client(&emu);
    let oidc: Value = http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            info.authority_host, info.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        oidc["token_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        )
    );
    assert_eq!(
        oidc["issuer"],
        format!("{}/{}/v2.0", info.authority_host, info.tenant_id)
    );
    let disco: Value = http
        .get(format!(
            "{}/common/discovery/instance?api-version=1.1",
            info.authority_host
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        disco["tenant_discovery_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&info.authority_host)
    );

    let start_flow = || {
        http.post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", info.client_id.as_str()),
            (
                "scope",
                "https://graph.microsoft.com/.default offline_access",
            ),
        ])
        .send()
    };
    let poll = |code: String| {
        http.post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_string(),
            ),
            ("client_id", info.client_id.clone()),
            ("device_code", code),
        ])
        .send()
    };
    let dc: Value = start_flow().await.unwrap().json().await.unwrap();
    assert_eq!(dc["expires_in"], 900);
    assert!(dc["interval"].is_u64());
    assert!(
        dc["message"]
            .as_str()
            .unwrap()
            .contains(dc["user_code"].as_str().unwrap())
    );
    assert!(
        dc["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with(&info.authority_host)
    );
    let code = dc["device_code"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let resp = poll(code.clone()).await.unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "authorization_pending");
    }
    let resp = poll(code.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
    let access = body["access_token"].as_str().unwrap();
    assert!(claims(access)["upn"].is_string());
    // A user's change is audited with initiatedBy.user.
    let state = emu.state();
    let id = app_by_name(&state, "Jira Cloud Connector")["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        graph_post(
            &emu,
            access,
            &format!("/applications/{id}/addPassword"),
            &json!({})
        )
        .await
        .0,
        200
    );
    let (_, audits) = graph_get(
        &emu,
        access,
        &format!("/auditLogs/directoryAudits?$filter=targetResources/any(t:t/id eq '{id}')"),
    )
    .await;
    assert!(audits["value"][0]["initiatedBy"]["app"].is_null());
    assert!(audits["value"][0]["initiatedBy"]["user"]["userPrincipalName"].is_string());

    emu.faults()
        .set_device_code_outcome(DeviceCodeOutcome::Decline);
    let dc: Value = start_flow().await.unwrap().json().await.unwrap();
    let body: Value = poll(dc["device_code"].as_str().unwrap().to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "authorization_declined");
}

#[tokio::test]
async fn json_batch() {
    let emu = start(EmulatorConfig::default()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let id = app_by_name(&state, "HR Portal")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/applications?$top=2&$select=id"},
        {"id": "2", "method": "GET", "url": format!("applications/{id}/owners")},
        {"id": "3", "method": "GET", "url": "/applications/00000000-0000-0000-0000-000000000000"},
        {"id": "4", "method": "GET", "url": "/applications?$top=1", "dependsOn": ["3"]},
    ]});
    let (status, body) = graph_post(&emu, &token, "/$batch", &batch).await;
    assert_eq!(status, 200, "{body}");
    let r = body["responses"].as_array().unwrap();
    let by_id = |i: &str| r.iter().find(|x| x["id"] == i).unwrap();
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["value"].as_array().unwrap().len(), 2);
    assert_eq!(by_id("1")["headers"]["Content-Type"], GRAPH_CT);
    assert_eq!(by_id("2")["body"]["value"], json!([]));
    assert_eq!(by_id("3")["status"], 404);
    assert_eq!(
        by_id("3")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(by_id("4")["status"], 424);

    let dup = json!({"requests": [{"id": "a", "method": "GET", "url": "/applications"}, {"id": "A", "method": "GET", "url": "/applications"}]});
    assert_eq!(graph_post(&emu, &token, "/$batch", &dup).await.0, 400);
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/applications"}))
        .collect();
    assert_eq!(
        graph_post(&emu, &token, "/$batch", &json!({"requests": many}))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn state_route_only_with_the_flag() {
    let emu = start(EmulatorConfig::default()).await;
    let resp = client(&emu)
        .get(format!("{}/_emulator/state", emu.info().graph_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    emu.shutdown().await;

    let emu = start(EmulatorConfig {
        state_route: true,
        ..Default::default()
    })
    .await;
    let resp = client(&emu)
        .get(format!("{}/_emulator/state", emu.info().graph_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let state: Value = resp.json().await.unwrap();
    assert_eq!(state["tenantId"], emu.info().tenant_id);
    assert!(state["applications"].as_array().unwrap().len() >= 40);
    assert!(!state["auditEvents"].as_array().unwrap().is_empty());
    // Demo vault secrets hold the value of the credential they map.
    let vault = &state["vaults"][0];
    assert_eq!(vault["url"], emu.info().vault_urls[0]);
    let payroll = vault["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "payroll-sync-client-secret")
        .unwrap();
    let latest = payroll["versions"].as_array().unwrap().last().unwrap();
    let key_id = latest["tags"]["CredentialId"].as_str().unwrap();
    let app = app_by_name(&state, "Payroll Sync (Logic App)");
    assert_eq!(latest["tags"]["ProviderAddress"], app["id"]);
    let cred = app["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["keyId"] == key_id)
        .unwrap();
    assert_eq!(latest["value"], cred["secretText"]);
    assert_eq!(emu.state()["applications"], state["applications"]);
}

#[tokio::test]
async fn generated_tenant_of_50000_apps_starts_and_serves() {
    let t0 = Instant::now();
    let emu = start(EmulatorConfig {
        tenant: TenantSource::Generated {
            apps: 50_000,
            seed: 7,
        },
        ..Default::default()
    })
    .await;
    let started = t0.elapsed();
    println!("50,000-app tenant started in {started:?}");
    let token = graph_token(&emu).await;
    let (status, body) = graph_get(
        &emu,
        &token,
        "/applications?$top=999&$select=id,displayName,passwordCredentials,keyCredentials",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 999);
    let last = "/applications?$filter=displayName eq 'no such app'";
    let (status, body) = graph_get(&emu, &token, last).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!([]));
    let _ = support::GRAPH_SCOPE;
}

// -------------------------------------------------------------------------------------------------------------
// conformance: Microsoft's own Rust SDKs against the emulator

#[tokio::test]
async fn official_rust_sdks_sign_in_and_use_the_vault() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    use azure_security_keyvault_secrets::models::{
        SetSecretParameters, UpdateSecretPropertiesParameters,
    };
    use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
    use futures::TryStreamExt;
    use std::sync::Arc;

    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let http = client(&emu);
    let mut custom = CustomConfiguration::default();
    custom.authority_host = info.authority_host.clone();
    let options = || ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom.clone()))),
        ..Default::default()
    };
    let credential = ClientSecretCredential::new(
        &info.tenant_id,
        info.client_id.clone(),
        info.client_secret.clone().into(),
        Some(ClientSecretCredentialOptions {
            client_options: options(),
        }),
    )
    .unwrap();

    // azure_identity parses the token response and the token works on Graph.
    let graph = credential.get_token(&[GRAPH_SCOPE], None).await.unwrap();
    assert_eq!(
        graph_get(&emu, graph.token.secret(), "/applications?$top=1")
            .await
            .0,
        200
    );

    // The Key Vault SDK: challenge, token for the challenge's resource, then the data-plane calls and paging.
    let vault = SecretClient::new(
        &info.vault_urls[0],
        credential.clone(),
        Some(SecretClientOptions {
            client_options: options(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let params = SetSecretParameters {
        value: Some("from-the-sdk".into()),
        ..Default::default()
    };
    let set = vault
        .set_secret("sdk-secret", params.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(set.value.as_deref(), Some("from-the-sdk"));
    let version = set.resource_id().unwrap().version.expect("a version");
    assert_eq!(version.len(), 32);
    let got = vault
        .get_secret("sdk-secret", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("from-the-sdk"));
    let update = UpdateSecretPropertiesParameters {
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let updated = vault
        .update_secret_properties("sdk-secret", update.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(updated.content_type.as_deref(), Some("text/plain"));
    for i in 0..30 {
        let params = SetSecretParameters {
            value: Some(format!("v{i}")),
            ..Default::default()
        };
        vault
            .set_secret("many-versions", params.try_into().unwrap(), None)
            .await
            .unwrap();
    }
    let versions: Vec<_> = vault
        .list_secret_properties_versions("many-versions", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        versions.len(),
        30,
        "two pages of at most 25, joined by nextLink"
    );
    let names: Vec<String> = vault
        .list_secret_properties(None)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|s| s.resource_id().unwrap().name)
        .collect();
    assert!(
        names.contains(&"sdk-secret".to_string())
            && names.contains(&"payroll-sync-client-secret".to_string())
    );
    let missing = vault.get_secret("not-there", None).await.unwrap_err();
    assert_eq!(
        missing.http_status(),
        Some(azure_core::http::StatusCode::NotFound)
    );
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let emu = start(EmulatorConfig {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let t0 = Instant::now();
    let token = graph_token(&emu).await;
    assert!(t0.elapsed() >= Duration::from_millis(150), "token endpoint");
    let t1 = Instant::now();
    assert_eq!(graph_get(&emu, &token, "/applications?$top=1").await.0, 200);
    assert!(t1.elapsed() >= Duration::from_millis(150), "Graph");
    let t2 = Instant::now();
    let resp = client(&emu)
        .get(vault_url(&emu, "/secrets", "7.6"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(t2.elapsed() >= Duration::from_millis(150), "vault");
}
