//! The ready line and the token endpoint: client credentials, their errors, tokens per resource.
use super::*;

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
