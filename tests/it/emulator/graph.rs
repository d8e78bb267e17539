//! Graph over the emulator: wire format, collections, paging, filters, owners, credential writes and their audit records, roles.
use super::*;

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
