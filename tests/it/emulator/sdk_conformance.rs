//! Conformance: Microsoft's own Rust SDKs against the emulator, and added latency.
use super::*;

#[tokio::test]
async fn official_rust_sdks_sign_in_and_use_the_vault() {
    use azure_core::credentials::TokenCredential;
    use azure_security_keyvault_secrets::models::{
        SetSecretParameters, UpdateSecretPropertiesParameters,
    };
    use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
    use futures::TryStreamExt;

    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let options = || crate::support::sdk_options(&emu);
    let credential = crate::support::sdk_credential(&emu);

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
