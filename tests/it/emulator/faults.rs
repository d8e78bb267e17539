//! Throttling, every fault kind, and delta rounds.
use super::*;

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
