//! Key Vault: the challenge, secrets and their versions, names and api-versions.
use super::*;

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
