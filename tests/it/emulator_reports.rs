//! The emulator's impact routes: the beta sign-in activity reports fed by its own token endpoint (and their 403s:
//! no AuditLog.Read.All, no Entra ID P1), application permissions (appRoleAssignments named by Microsoft Graph's
//! appRoles, and the roles in the app's own tokens), and the tenant app management policy that caps a new
//! secret's lifetime.
use crate::support::{GRAPH_SCOPE, graph_get, graph_post, graph_token, start, token_as};
use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use keyturn::emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::time::Duration;

fn cfg() -> EmulatorConfig {
    EmulatorConfig {
        propagation_delay: Duration::ZERO,
        ..Default::default()
    }
}

async fn beta_get(emu: &Emulator, token: &str, path: &str) -> (u16, Value) {
    graph_get(emu, token, &format!("{}/beta{path}", emu.info().graph_url)).await
}

/// A new app with a secret; returns `(object_id, app_id, key_id, secret)`.
async fn app_with_secret(emu: &Emulator, name: &str) -> (String, String, String, String) {
    let (object_id, app_id) = emu.create_app(name);
    let token = graph_token(emu).await;
    let (status, v) = graph_post(
        emu,
        &token,
        &format!("/applications/{object_id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    (
        object_id,
        app_id,
        v["keyId"].as_str().unwrap().to_string(),
        v["secretText"].as_str().unwrap().to_string(),
    )
}

fn password<'a>(state: &'a Value, object_id: &str, key_id: &str) -> &'a Value {
    state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == object_id)
        .unwrap()["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["keyId"] == key_id)
        .unwrap()
}

#[tokio::test]
async fn sign_in_reports_show_what_the_token_endpoint_saw() {
    let emu = start(cfg()).await;
    let (object_id, app_id, key_id, secret) = app_with_secret(&emu, "Report Subject").await;
    let (_, _, other_key, _) = app_with_secret(&emu, "Never Signs In").await;
    let token = graph_token(&emu).await;

    // Before any sign-in: no row for it.
    let (status, v) = beta_get(
        &emu,
        &token,
        &format!("/reports/appCredentialSignInActivities?$filter=appId eq '{app_id}'"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["value"], json!([]));

    token_as(&emu, &app_id, &secret, GRAPH_SCOPE).await;
    let state = emu.state();
    let last = password(&state, &object_id, &key_id)["lastSignInDateTime"].clone();
    assert!(last.is_string());
    let graph_sp = state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appId"] == "00000003-0000-0000-c000-000000000000")
        .expect("Microsoft Graph's service principal")["id"]
        .clone();
    let sp_id = state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appId"] == app_id)
        .unwrap()["id"]
        .clone();

    for filter in [
        format!("appId eq '{app_id}'"),
        format!("keyId eq '{key_id}'"),
    ] {
        let (status, v) = beta_get(
            &emu,
            &token,
            &format!("/reports/appCredentialSignInActivities?$filter={filter}"),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["@odata.context"],
            format!(
                "{}/beta/$metadata#reports/appCredentialSignInActivities",
                emu.info().graph_url
            )
        );
        let rows = v["value"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{filter}: {v}");
        let row = &rows[0];
        assert_eq!(row["keyId"], key_id.as_str());
        assert_eq!(row["appId"], app_id.as_str());
        assert_eq!(row["appObjectId"], object_id.as_str());
        assert_eq!(row["servicePrincipalObjectId"], sp_id);
        assert_eq!(row["credentialOrigin"], "application");
        assert_eq!(row["keyType"], "clientSecret");
        assert_eq!(row["resourceId"], graph_sp);
        assert_eq!(row["signInActivity"]["lastSignInDateTime"], last);
        // id: base64 of "<keyId>|application", as in Microsoft's example.
        let id = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            row["id"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(id).unwrap(),
            format!("{key_id}|application")
        );
    }
    let (_, v) = beta_get(
        &emu,
        &token,
        &format!("/reports/appCredentialSignInActivities?$filter=keyId eq '{other_key}'"),
    )
    .await;
    assert_eq!(
        v["value"],
        json!([]),
        "a credential that never signed in has no row"
    );

    let (status, v) = beta_get(
        &emu,
        &token,
        &format!("/reports/servicePrincipalSignInActivities?$filter=appId eq '{app_id}'"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let row = &v["value"][0];
    assert_eq!(row["appId"], app_id.as_str());
    assert_eq!(
        row["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"],
        last
    );
    assert_eq!(row["lastSignInActivity"]["lastSignInDateTime"], last);
    assert_eq!(
        row["delegatedClientSignInActivity"]["lastSignInDateTime"],
        Value::Null
    );

    // Unsupported filters, v1.0, a caller without AuditLog.Read.All, a tenant without P1.
    let (status, _) = beta_get(
        &emu,
        &token,
        "/reports/appCredentialSignInActivities?$filter=displayName eq 'x'",
    )
    .await;
    assert_eq!(status, 400);
    let (status, v) = graph_get(&emu, &token, "/reports/appCredentialSignInActivities").await;
    assert_eq!(status, 400, "v1.0 has no such report: {v}");
    let (reader_id, reader_secret) = emu.add_client("reader", &["Application.Read.All"]);
    let reader = token_as(&emu, &reader_id, &reader_secret, GRAPH_SCOPE).await;
    let (status, v) = beta_get(&emu, &reader, "/reports/appCredentialSignInActivities").await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "Authorization_RequestDenied");
    emu.faults().set_entra_id_p1(false);
    for report in [
        "appCredentialSignInActivities",
        "servicePrincipalSignInActivities",
    ] {
        let (status, v) = beta_get(&emu, &token, &format!("/reports/{report}")).await;
        assert_eq!(status, 403);
        assert_eq!(
            v["error"]["code"],
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        );
        assert_eq!(
            v["error"]["message"],
            "Neither tenant is B2C or tenant doesn't have premium license"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn app_role_assignments_are_named_by_the_resources_app_roles_and_are_in_the_apps_tokens() {
    let emu = start(cfg()).await;
    let token = graph_token(&emu).await;
    let state = emu.state();
    let deployer = state["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["displayName"] == "ci-pipeline-deployer")
        .unwrap();
    let (status, v) = graph_get(
        &emu,
        &token,
        &format!(
            "/servicePrincipals/{}/appRoleAssignments",
            deployer["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["@odata.context"],
        format!("{}/v1.0/$metadata#appRoleAssignments", emu.info().graph_url)
    );
    let assignments = v["value"].as_array().unwrap();
    assert!(!assignments.is_empty());
    let resource = assignments[0]["resourceId"].as_str().unwrap();
    assert_eq!(assignments[0]["principalId"], deployer["id"]);
    assert_eq!(assignments[0]["principalType"], "ServicePrincipal");
    assert_eq!(assignments[0]["resourceDisplayName"], "Microsoft Graph");
    let (status, sp) = graph_get(
        &emu,
        &token,
        &format!("/servicePrincipals/{resource}?$select=id,displayName,appRoles"),
    )
    .await;
    assert_eq!(status, 200, "{sp}");
    let names: Vec<String> = assignments
        .iter()
        .map(|a| {
            sp["appRoles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == a["appRoleId"])
                .expect("every assignment names one of the resource's appRoles")["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        names.contains(&"Application.ReadWrite.All".to_string()),
        "{names:?}"
    );
    // Application.ReadWrite.All's id is the same in every tenant.
    assert!(
        sp["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
                && r["value"] == "Application.ReadWrite.All"
                && r["allowedMemberTypes"] == json!(["Application"]))
    );

    // A granted role is in the app's own token, and Graph honours it.
    let (_, app_id, _, secret) = app_with_secret(&emu, "Granted Reader").await;
    let before = token_as(&emu, &app_id, &secret, GRAPH_SCOPE).await;
    assert_eq!(
        graph_get(&emu, &before, "/applications?$top=1").await.0,
        403
    );
    assert!(emu.grant_app_role(&app_id, "Application.Read.All"));
    assert!(!emu.grant_app_role(&app_id, "No.Such.Permission"));
    let after = token_as(&emu, &app_id, &secret, GRAPH_SCOPE).await;
    assert_eq!(graph_get(&emu, &after, "/applications?$top=1").await.0, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_password_lifetime_policy_caps_add_password() {
    let emu = start(cfg()).await;
    let token = graph_token(&emu).await;
    let (status, v) = graph_get(&emu, &token, "/policies/defaultAppManagementPolicy").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(v["isEnabled"], false);
    assert_eq!(
        v["applicationRestrictions"]["passwordCredentials"],
        json!([])
    );

    emu.set_password_lifetime_policy(Some(180));
    let (_, v) = graph_get(&emu, &token, "/policies/defaultAppManagementPolicy").await;
    assert_eq!(v["isEnabled"], true);
    let restriction = &v["applicationRestrictions"]["passwordCredentials"][0];
    assert_eq!(restriction["restrictionType"], "passwordLifetime");
    assert_eq!(restriction["maxLifetime"], "P180D");
    assert_eq!(restriction["state"], "enabled");

    let (object_id, _) = emu.create_app("Capped App");
    let add = |end: Option<chrono::DateTime<Utc>>| {
        let body = match end {
            Some(e) => {
                json!({"passwordCredential": {"endDateTime": e.to_rfc3339_opts(SecondsFormat::Secs, true)}})
            }
            None => json!({}),
        };
        let token = token.clone();
        let path = format!("/applications/{object_id}/addPassword");
        let emu = &emu;
        async move { graph_post(emu, &token, &path, &body).await }
    };
    // The default two years, and 200 days: refused with the real message.
    for end in [None, Some(Utc::now() + ChronoDuration::days(200))] {
        let (status, v) = add(end).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(
            v["error"]["message"],
            "Credential lifetime exceeds the max value allowed as per assigned policy \
             00000000-0000-0000-0000-000000000000"
        );
    }
    let (status, v) = add(Some(Utc::now() + ChronoDuration::days(179))).await;
    assert_eq!(status, 200, "{v}");
    // Per-app policies: none assigned.
    let (status, v) = graph_get(
        &emu,
        &token,
        &format!("/applications/{object_id}/appManagementPolicies"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["value"], json!([]));
    emu.shutdown().await;
}

/// The demo's automations: each mapped vault secret's consumer signs in with the vault's latest value (and picks up
/// a new version); the hard-coded consumer keeps the first mapped app's old keyId signing in after a rotation.
#[tokio::test]
async fn demo_automations_sign_in_with_the_vault_value_and_one_keeps_an_old_copy() {
    let emu = start(cfg()).await;
    let state = emu.state();
    let mut mapped: Vec<(String, String, String)> = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let latest = s["versions"].as_array()?.last()?;
            Some((
                s["name"].as_str()?.to_string(),
                latest["tags"]["ProviderAddress"].as_str()?.to_string(),
                latest["tags"]["CredentialId"].as_str()?.to_string(),
            ))
        })
        .collect();
    mapped.sort_by_key(|m| m.0.to_ascii_lowercase());
    assert!(mapped.len() >= 2);
    let (secret_name, object_id, old_key) = mapped[0].clone();

    emu.start_automations(Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let state = emu.state();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    for (_, obj, key) in &mapped {
        let p = password(&state, obj, key);
        let expired = p["endDateTime"].as_str().unwrap() <= now.as_str();
        assert_eq!(
            p["lastSignInDateTime"].is_string(),
            !expired,
            "the consumer of {obj} signs in with {key} unless it expired"
        );
        if expired {
            assert!(
                state["signIns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["keyId"] == key.as_str() && a["errorCode"] == 7000222)
            );
        }
    }

    // Rotate the first mapped app: a new secret, a new vault version.
    let token = graph_token(&emu).await;
    let (status, created) = graph_post(
        &emu,
        &token,
        &format!("/applications/{object_id}/addPassword"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let new_key = created["keyId"].as_str().unwrap();
    let vault_token = crate::support::vault_token(&emu).await;
    let resp = crate::support::client(&emu)
        .put(format!(
            "{}/secrets/{secret_name}?api-version=7.5",
            emu.info().vault_urls[0]
        ))
        .bearer_auth(&vault_token)
        .json(&json!({"value": created["secretText"], "tags": {"CredentialId": new_key, "ProviderAddress": object_id}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let old_before = emu.state();
    let old_t1 = password(&old_before, &object_id, &old_key)["lastSignInDateTime"].clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = emu.state();
    assert!(
        password(&after, &object_id, new_key)["lastSignInDateTime"].is_string(),
        "the vault consumer picked up the new version"
    );
    let old_t2 = password(&after, &object_id, &old_key)["lastSignInDateTime"].clone();
    assert!(
        old_t2.as_str().unwrap() > old_t1.as_str().unwrap(),
        "the hard-coded copy keeps signing in with the old keyId: {old_t1} then {old_t2}"
    );
    emu.shutdown().await;
}
