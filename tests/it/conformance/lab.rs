//! The emulator side: one emulator and every request of the table, observed once per suite run.
use super::*;

/// What the emulator answered.
#[derive(Debug, Clone)]
pub(super) struct Observed {
    pub(super) status: u16,
    /// Lower-case names.
    pub(super) headers: BTreeMap<String, String>,
    pub(super) text: String,
    pub(super) json: Value,
}

impl Observed {
    pub(super) async fn from(resp: reqwest::Response) -> Observed {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = resp.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Observed {
            status,
            headers,
            text,
            json,
        }
    }

    pub(super) fn part(&self, json: Value) -> Observed {
        Observed {
            json,
            ..self.clone()
        }
    }
}

/// One emulator (the demo tenant) and everything the requests of [`Req`] need.
pub(super) struct Lab {
    pub(super) emu: Emulator,
    pub(super) http: reqwest::Client,
    pub(super) graph: String,
    pub(super) vault: String,
    /// Tokens of a client with no Graph roles and no vault role.
    pub(super) graph_none: String,
    pub(super) vault_none: String,
    /// The application addPassword and owners are run on.
    pub(super) app_id: String,
    pub(super) app_object_id: String,
    pub(super) seen: HashMap<Req, Observed>,
}

pub(super) const KV_API: &str = "2026-04-01";

impl Lab {
    pub(super) async fn new() -> Lab {
        let emu = start(EmulatorConfig::default()).await;
        let http = client(&emu);
        let graph = graph_token(&emu).await;
        let vault = vault_token(&emu).await;
        let (none_id, none_secret) = emu.add_client("conformance without roles", &[]);
        let graph_none = support::token_as(&emu, &none_id, &none_secret, GRAPH_SCOPE).await;
        let vault_none = support::token_as(&emu, &none_id, &none_secret, VAULT_SCOPE).await;
        // An application with user owners and a secret, as the demo tenant's first ones are.
        let state = emu.state();
        let app = state["applications"]
            .as_array()
            .and_then(|apps| {
                apps.iter().find(|a| {
                    a["owners"].as_array().is_some_and(|o| o.len() >= 2)
                        && a["passwordCredentials"]
                            .as_array()
                            .is_some_and(|p| !p.is_empty())
                })
            })
            .expect("the demo tenant has an application with two owners and a secret")
            .clone();
        Lab {
            http,
            graph,
            vault,
            graph_none,
            vault_none,
            app_id: app["appId"].as_str().unwrap_or_default().to_string(),
            app_object_id: app["id"].as_str().unwrap_or_default().to_string(),
            emu,
            seen: HashMap::new(),
        }
    }

    pub(super) fn graph_url(&self, path: &str) -> String {
        if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/v1.0{path}", self.emu.info().graph_url)
        }
    }

    pub(super) async fn graph_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Observed {
        let mut req = self.http.request(method, self.graph_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Observed::from(req.send().await.expect("Graph answers")).await
    }

    pub(super) async fn get(&self, path: &str) -> Observed {
        self.graph_call(reqwest::Method::GET, path, Some(&self.graph), None)
            .await
    }

    pub(super) async fn vault_call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Observed {
        let url = format!("{}{path}?{query}", self.emu.info().vault_urls[0]);
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Observed::from(req.send().await.expect("the vault answers")).await
    }

    pub(super) async fn token_call(&self, form: &[(&str, &str)], path: &str) -> Observed {
        let info = self.emu.info();
        let url = format!(
            "{}/{}/oauth2/v2.0/{path}",
            info.authority_host, info.tenant_id
        );
        Observed::from(
            self.http
                .post(url)
                .form(form)
                .send()
                .await
                .expect("the token endpoint answers"),
        )
        .await
    }

    /// The example request body of a fixture (requests are sent as Microsoft wrote them).
    pub(super) fn example(&self, file: &str, anchor: &str) -> Value {
        let entry = Entry {
            file: leak_str(file),
            anchor: leak_str(anchor),
            claim: Claim::Notation { reason: "" },
        };
        block_for(&entry).json.expect("a JSON example")
    }

    pub(super) fn first(
        &self,
        obs: &Observed,
        what: &str,
        pick: impl Fn(&Value) -> Option<Value>,
    ) -> Observed {
        let v = pick(&obs.json).unwrap_or_else(|| panic!("{what} not found in {}", obs.text));
        obs.part(v)
    }

    /// Run every request once, in an order where each finds what it needs.
    pub(super) async fn observe_all(&mut self) {
        let order = [
            Req::ListApplications,
            Req::ListApplicationsCounted,
            Req::PasswordCredentials,
            Req::KeyCredentials,
            Req::KeyCredentialFilterOnServicePrincipals,
            Req::AddPassword,
            Req::RemovePassword,
            Req::KeyDescription,
            Req::IncludedUpdatedProperties,
            Req::AuditAppInitiator,
            Req::Owners,
            Req::Audits,
            Req::AuditsByUser,
            Req::DeltaFirstPage,
            Req::DeltaLastPage,
            Req::DeltaRemoved,
            Req::BatchOk,
            Req::BatchForbidden,
            Req::BatchMethodNotAllowed,
            Req::Throttled,
            Req::Forbidden,
            Req::MethodNotAllowed,
            Req::NotFound,
            Req::NoToken,
            Req::CredentialSignIns,
            Req::CredentialSignInRows,
            Req::AppSignIns,
            Req::ReportNotPremium,
            Req::AppRoleAssignments,
            Req::ResourceAppRoles,
            Req::DefaultAppManagementPolicy,
            Req::KvSet,
            Req::KvGet,
            Req::KvVersions,
            Req::KvUpdate,
            Req::KvList,
            Req::KvUnauthorized,
            Req::KvNotFound,
            Req::KvForbidden,
            Req::KvBadParameter,
            Req::Token,
            Req::TokenInvalidScope,
            Req::TokenInvalidClient,
            Req::DeviceCodeToken,
        ];
        for req in order {
            let obs = self.observe(req).await;
            self.seen.insert(req, obs);
        }
    }

    /// `{graphUrl}/beta/reports/{report}?$filter=appId eq '{app_id}'`.
    fn beta_report(&self, report: &str, app_id: &str) -> String {
        let filter = format!("appId eq '{app_id}'");
        format!(
            "{}/beta/reports/{report}?$filter={}",
            self.emu.info().graph_url,
            keyturn::graph::client::urlencode(&filter)
        )
    }

    /// An application with a service principal signs in with one of its own valid secrets (so the sign-in
    /// reports have a row); its appId.
    async fn signed_in_app(&self) -> String {
        let state = self.emu.state();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for app in state["applications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let app_id = app["appId"].as_str().unwrap_or_default();
            let has_sp = state["servicePrincipals"]
                .as_array()
                .is_some_and(|s| s.iter().any(|sp| sp["appId"] == app_id));
            let secret = app["passwordCredentials"]
                .as_array()
                .and_then(|p| {
                    p.iter().find(|c| {
                        c["endDateTime"].as_str().is_some_and(|e| e > now.as_str())
                            && c["startDateTime"]
                                .as_str()
                                .is_some_and(|s| s < now.as_str())
                    })
                })
                .and_then(|c| c["secretText"].as_str());
            if let (true, Some(secret)) = (has_sp, secret) {
                let resp = support::token_response(&self.emu, app_id, secret, GRAPH_SCOPE).await;
                assert_eq!(resp.status(), 200, "{app_id} signs in with its own secret");
                return app_id.to_string();
            }
        }
        panic!("the demo tenant has an app with a valid secret and a service principal");
    }

    pub(super) fn seen(&self, req: Req) -> &Observed {
        self.seen
            .get(&req)
            .unwrap_or_else(|| panic!("{req:?} was not observed"))
    }

    pub(super) async fn observe(&mut self, req: Req) -> Observed {
        use reqwest::Method;
        let creds_event = |obs: &Observed| -> Option<Value> {
            obs.json["value"]
                .as_array()?
                .iter()
                .find(|e| {
                    e["activityDisplayName"]
                        .as_str()
                        .is_some_and(keyturn::graph::audit::is_credential_activity)
                })
                .cloned()
        };
        match req {
            Req::ListApplications => self.get("/applications").await,
            Req::ListApplicationsCounted => {
                let resp = self
                    .http
                    .get(self.graph_url(
                        "/applications?$filter=startswith(displayName, 'h')&$count=true&$top=1&$orderby=displayName",
                    ))
                    .bearer_auth(&self.graph)
                    .header("ConsistencyLevel", "eventual")
                    .send()
                    .await
                    .expect("Graph answers");
                Observed::from(resp).await
            }
            Req::PasswordCredentials | Req::KeyCredentials => {
                let prop = if req == Req::PasswordCredentials {
                    "passwordCredentials"
                } else {
                    "keyCredentials"
                };
                let apps = self.get("/applications?$top=999").await;
                let sps = self.get("/servicePrincipals?$top=999").await;
                let all: Vec<Value> = [&apps, &sps]
                    .iter()
                    .flat_map(|o| o.json["value"].as_array().cloned().unwrap_or_default())
                    .flat_map(|o| o[prop].as_array().cloned().unwrap_or_default())
                    .collect();
                apps.part(Value::Array(all))
            }
            Req::KeyCredentialFilterOnServicePrincipals => {
                self.get("/servicePrincipals?$filter=keyCredentials/any(k:k/endDateTime le 2021-01-02T12:00:00Z)")
                    .await
            }
            Req::AddPassword => {
                let body = self.example("graph/addPassword_removePassword", "\"passwordCredential\": {");
                let path = format!("/applications/{}/addPassword", self.app_object_id);
                self.graph_call(Method::POST, &path, Some(&self.graph), Some(&body))
                    .await
            }
            Req::RemovePassword => {
                let added = self.seen(Req::AddPassword).json["keyId"].clone();
                let mut body = self.example(
                    "graph/addPassword_removePassword",
                    "{\"keyId\":\"f0b0b335-1d71-4883-8f98-567911bfdca6\"}",
                );
                body["keyId"] = added;
                let path = format!("/applications/{}/removePassword", self.app_object_id);
                // A real tenant refuses a removal this soon after the add for a moment (replication): retry.
                let mut last = None;
                for _ in 0..20 {
                    let obs = self
                        .graph_call(Method::POST, &path, Some(&self.graph), Some(&body))
                        .await;
                    if obs.status != 400 {
                        return obs;
                    }
                    last = Some(obs);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                last.expect("an answer")
            }
            Req::KeyDescription | Req::IncludedUpdatedProperties | Req::AuditAppInitiator => {
                let filter = format!("targetResources/any(t:t/id eq '{}')", self.app_object_id);
                let obs = self
                    .get(&format!(
                        "/auditLogs/directoryAudits?$filter={}",
                        keyturn::graph::client::urlencode(&filter)
                    ))
                    .await;
                // Newest first: the removal's event, then the addition's. The addition is the one whose
                // KeyDescription gains the key (newValue has it, oldValue not).
                let added = self.seen(Req::AddPassword).json["keyId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let event = obs.json["value"]
                    .as_array()
                    .and_then(|events| {
                        events.iter().find(|e| {
                            let props = &e["targetResources"][0]["modifiedProperties"];
                            creds_event(&obs.part(json!({"value": [e]}))).is_some()
                                && props.as_array().is_some_and(|p| {
                                    p.iter().any(|m| {
                                        m["displayName"] == "KeyDescription"
                                            && m["newValue"].as_str().is_some_and(|v| v.contains(&added))
                                            && !m["oldValue"].as_str().is_some_and(|v| v.contains(&added))
                                    })
                                })
                        })
                    })
                    .cloned()
                    .unwrap_or_else(|| panic!("no credential event for the added key in {}", obs.text));
                let name = match req {
                    Req::KeyDescription => "KeyDescription",
                    Req::IncludedUpdatedProperties => "Included Updated Properties",
                    _ => return obs.part(event["initiatedBy"]["app"].clone()),
                };
                self.first(&obs.part(event), name, |e| {
                    e["targetResources"][0]["modifiedProperties"]
                        .as_array()?
                        .iter()
                        .find(|m| m["displayName"] == name)
                        .cloned()
                })
            }
            Req::Owners => {
                // Two users own the application; make the signed-in client's service principal a third owner.
                let client_id = self.emu.info().client_id.clone();
                assert!(self.emu.add_owner(&self.app_id, &client_id));
                self.get(&format!("/applications/{}/owners", self.app_object_id))
                    .await
            }
            Req::Audits => self.get("/auditLogs/directoryaudits").await,
            Req::AuditsByUser => {
                let all = self.get("/auditLogs/directoryAudits?$top=999").await;
                let user = all.json["value"]
                    .as_array()
                    .and_then(|v| v.iter().find_map(|e| e["initiatedBy"]["user"]["id"].as_str()))
                    .expect("the demo tenant's audit trail has changes made by users")
                    .to_string();
                let filter = format!("initiatedBy/user/id eq '{user}'");
                self.get(&format!(
                    "/auditLogs/directoryAudits?$filter={}",
                    keyturn::graph::client::urlencode(&filter)
                ))
                .await
            }
            Req::DeltaFirstPage => self.get("/applications/delta?$top=5").await,
            Req::DeltaLastPage => {
                let mut obs = self.seen(Req::DeltaFirstPage).clone();
                while let Some(next) = obs.json["@odata.nextLink"].as_str().map(str::to_string) {
                    obs = self.get(&next).await;
                }
                obs
            }
            Req::DeltaRemoved => {
                let delta = self.seen(Req::DeltaLastPage).json["@odata.deltaLink"]
                    .as_str()
                    .expect("a deltaLink")
                    .to_string();
                let state = self.emu.state();
                let victim = state["applications"]
                    .as_array()
                    .and_then(|a| a.iter().rev().find(|x| x["id"] != self.app_object_id.as_str()))
                    .and_then(|a| a["id"].as_str())
                    .expect("another application")
                    .to_string();
                assert!(self.emu.mutate_app(&victim, AppChange::Delete));
                let obs = self.get(&delta).await;
                self.first(&obs, "the removed application", |v| {
                    v["value"].as_array()?.iter().find(|x| x["id"] == victim.as_str()).cloned()
                })
            }
            Req::BatchOk | Req::BatchForbidden | Req::BatchMethodNotAllowed => {
                let (token, method) = match req {
                    Req::BatchOk => (self.graph.clone(), "GET"),
                    Req::BatchForbidden => (self.graph_none.clone(), "GET"),
                    _ => (self.graph.clone(), "DELETE"),
                };
                let id = match req {
                    Req::BatchOk => "1",
                    Req::BatchForbidden => "3",
                    _ => "4",
                };
                let body = json!({"requests": [{"id": id, "method": method, "url": "/applications?$top=1"}]});
                let obs = self
                    .graph_call(Method::POST, "/$batch", Some(&token), Some(&body))
                    .await;
                assert_eq!(obs.status, 200, "{}", obs.text);
                self.first(&obs, "the sub-response", |v| v["responses"].get(0).cloned())
            }
            Req::Throttled => {
                self.emu.faults().add(Fault {
                    op: Op::ListApplications,
                    kind: FaultKind::Throttle {
                        retry_after: "2.128".into(),
                    },
                    times: 1,
                });
                self.get("/applications").await
            }
            Req::Forbidden => {
                self.graph_call(Method::GET, "/applications", Some(&self.graph_none), None)
                    .await
            }
            Req::CredentialSignIns => {
                let app_id = self.signed_in_app().await;
                self.get(&self.beta_report("appCredentialSignInActivities", &app_id))
                    .await
            }
            Req::CredentialSignInRows => {
                let obs = self.seen(Req::CredentialSignIns).clone();
                let rows = obs.json["value"].clone();
                obs.part(rows)
            }
            Req::AppSignIns => {
                let app_id = self.seen(Req::CredentialSignIns).json["value"][0]["appId"]
                    .as_str()
                    .expect("a credential row")
                    .to_string();
                self.get(&self.beta_report("servicePrincipalSignInActivities", &app_id))
                    .await
            }
            Req::ReportNotPremium => {
                let app_id = self.seen(Req::CredentialSignIns).json["value"][0]["appId"]
                    .as_str()
                    .expect("a credential row")
                    .to_string();
                self.emu.faults().set_entra_id_p1(false);
                let obs = self
                    .get(&self.beta_report("appCredentialSignInActivities", &app_id))
                    .await;
                self.emu.faults().set_entra_id_p1(true);
                obs
            }
            Req::AppRoleAssignments => {
                // A service principal the demo tenant grants Graph permissions to.
                let sps = self.get("/servicePrincipals?$top=999").await;
                let mut found = None;
                for sp in sps.json["value"].as_array().cloned().unwrap_or_default() {
                    let id = sp["id"].as_str().unwrap_or_default();
                    let obs = self
                        .get(&format!("/servicePrincipals/{id}/appRoleAssignments"))
                        .await;
                    if obs.json["value"].as_array().is_some_and(|v| !v.is_empty()) {
                        found = Some(obs);
                        break;
                    }
                }
                found.expect("the demo tenant grants application permissions")
            }
            Req::ResourceAppRoles => {
                let resource = self.seen(Req::AppRoleAssignments).json["value"][0]["resourceId"]
                    .as_str()
                    .expect("an assignment")
                    .to_string();
                self.get(&format!(
                    "/servicePrincipals/{resource}?$select=id,appId,displayName,appRoles"
                ))
                .await
            }
            Req::DefaultAppManagementPolicy => self.get("/policies/defaultAppManagementPolicy").await,
            Req::MethodNotAllowed => {
                self.graph_call(Method::DELETE, "/applications", Some(&self.graph), None)
                    .await
            }
            Req::NotFound => {
                self.get("/applications/5b31c38c-2584-42f0-aa47-657fb3a84230")
                    .await
            }
            Req::NoToken => self.graph_call(Method::GET, "/applications", None, None).await,
            Req::KvSet => {
                let body = self.example("keyvault/kv_secrets_examples.json", "/SetSecret/parameters/parameters");
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::PUT, "/secrets/crpsecret", &q, Some(&self.vault), Some(&body))
                    .await
            }
            Req::KvGet => {
                let version = self.version_of(Req::KvSet);
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, &format!("/secrets/crpsecret/{version}"), &q, Some(&self.vault), None)
                    .await
            }
            Req::KvVersions => {
                let body = json!({"value": "a second version"});
                let q = format!("api-version={KV_API}");
                let second = self
                    .vault_call(Method::PUT, "/secrets/crpsecret", &q, Some(&self.vault), Some(&body))
                    .await;
                assert_eq!(second.status, 200, "{}", second.text);
                let q = format!("api-version={KV_API}&maxresults=1");
                self.vault_call(Method::GET, "/secrets/crpsecret/versions", &q, Some(&self.vault), None)
                    .await
            }
            Req::KvUpdate => {
                let body = self.example("keyvault/kv_secrets_examples.json", "/UpdateSecret/parameters/parameters");
                let version = self.version_of(Req::KvSet);
                let q = format!("api-version={KV_API}");
                self.vault_call(
                    Method::PATCH,
                    &format!("/secrets/crpsecret/{version}"),
                    &q,
                    Some(&self.vault),
                    Some(&body),
                )
                .await
            }
            Req::KvList => {
                let q = format!("api-version={KV_API}&maxresults=1");
                self.vault_call(Method::GET, "/secrets", &q, Some(&self.vault), None).await
            }
            Req::KvUnauthorized => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::PUT, "/secrets/crpsecret", &q, None, None).await
            }
            Req::KvNotFound => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, "/secrets/not-there/", &q, Some(&self.vault), None)
                    .await
            }
            Req::KvForbidden => {
                let q = format!("api-version={KV_API}");
                self.vault_call(Method::GET, "/secrets/crpsecret/", &q, Some(&self.vault_none), None)
                    .await
            }
            Req::KvBadParameter => {
                self.vault_call(Method::GET, "/secrets/crpsecret/", "", Some(&self.vault), None)
                    .await
            }
            Req::Token | Req::TokenInvalidScope | Req::TokenInvalidClient => {
                let info = self.emu.info().clone();
                let (secret, scope) = match req {
                    Req::Token => (info.client_secret.as_str(), GRAPH_SCOPE),
                    Req::TokenInvalidScope => (info.client_secret.as_str(), "https://foo.microsoft.com/.default"),
                    _ => ("not-the-secret", GRAPH_SCOPE),
                };
                self.token_call(
                    &[
                        ("client_id", info.client_id.as_str()),
                        ("scope", scope),
                        ("client_secret", secret),
                        ("grant_type", "client_credentials"),
                    ],
                    "token",
                )
                .await
            }
            Req::DeviceCodeToken => {
                let info = self.emu.info().clone();
                let scope = "https://graph.microsoft.com/.default openid profile offline_access";
                let code = self
                    .token_call(&[("client_id", info.client_id.as_str()), ("scope", scope)], "devicecode")
                    .await;
                assert_eq!(code.status, 200, "{}", code.text);
                let device_code = code.json["device_code"].as_str().expect("device_code").to_string();
                let interval = code.json["interval"].as_u64().unwrap_or(1);
                for _ in 0..30 {
                    tokio::time::sleep(Duration::from_secs(interval)).await;
                    let obs = self
                        .token_call(
                            &[
                                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                                ("client_id", info.client_id.as_str()),
                                ("device_code", device_code.as_str()),
                            ],
                            "token",
                        )
                        .await;
                    if obs.json["error"] != "authorization_pending" {
                        return obs;
                    }
                }
                panic!("the device code was never approved")
            }
        }
    }

    pub(super) fn version_of(&self, req: Req) -> String {
        self.seen(req).json["id"]
            .as_str()
            .and_then(|id| id.rsplit('/').next())
            .expect("a secret id with a version")
            .to_string()
    }
}

/// The first 400 characters, for failure messages.
pub(super) fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(400).collect();
    if e.len() < s.len() {
        e.push_str("...");
    }
    e
}

/// `Entry` holds `&'static str`s; a lookup by runtime text only needs them for the lifetime of the test process.
pub(super) fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}
