//! Sign-in extras (device code, discovery), JSON batch, the test-only state route, a large generated tenant.
use super::*;

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
