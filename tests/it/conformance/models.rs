//! keyturn's client models (and the SDKs') reading Microsoft's examples and the emulator's answers.
use super::*;

/// Every value a model captured equals the source's value (dates compared as instants): a model field whose name
/// drifted from the wire reads `null` and serialises a key the source does not have with a non-default value, or
/// loses a value. `complete` (a full emulator object, every property present): every model key must exist in the
/// source, which catches a renamed model field even when its value is null.
pub(super) fn captured(
    model: &Value,
    source: &Value,
    renames: &[(&str, &str)],
    complete: bool,
    path: &str,
) -> Result<(), String> {
    match (model, source) {
        (Value::Object(m), Value::Object(s)) => {
            for (k, mv) in m {
                let sk = renames
                    .iter()
                    .find(|(_, to)| to == k)
                    .map(|(from, _)| *from)
                    .filter(|from| s.contains_key(*from))
                    .unwrap_or(k.as_str());
                let child = format!("{path}.{k}");
                match s.get(sk) {
                    Some(sv) => captured(mv, sv, renames, complete, &child)?,
                    None if complete => {
                        return Err(format!(
                            "{child}: the model has a field the wire object lacks"
                        ));
                    }
                    None => {
                        let default = mv.is_null()
                            || mv.as_array().is_some_and(Vec::is_empty)
                            || mv.as_object().is_some_and(|o| o.is_empty());
                        if !default {
                            return Err(format!(
                                "{child}: the model holds {mv} but the wire object has no {k}"
                            ));
                        }
                    }
                }
            }
            Ok(())
        }
        (Value::Array(m), Value::Array(s)) if m.len() == s.len() => {
            m.iter().zip(s).enumerate().try_for_each(|(i, (mv, sv))| {
                captured(mv, sv, renames, complete, &format!("{path}[{i}]"))
            })
        }
        (Value::String(a), Value::String(b)) => {
            let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            match (instant(a), instant(b)) {
                (Some(x), Some(y)) if x == y => Ok(()),
                _ if a == b => Ok(()),
                _ => Err(format!("{path}: the model read {a:?} from {b:?}")),
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (Value::Null, Value::Null) => Ok(()),
        (Value::Null, s) => Err(format!("{path}: the model lost the value {s}")),
        (m, s) if m == s => Ok(()),
        (m, s) => Err(format!("{path}: the model holds {m}, the wire has {s}")),
    }
}

/// A token credential that hands out one fixed token, for clients pointed at a replay server.
#[derive(Debug)]
pub(super) struct FixedToken;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for FixedToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Ok(azure_core::credentials::AccessToken::new(
            "replay-token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

/// A one-route HTTP/1.1 server on 127.0.0.1 answering every request with the same status, headers and body, and
/// keeping the request bodies: feeds Microsoft's bytes to keyturn's own `GraphClient`.
pub(super) struct Replay {
    pub(super) url: String,
    pub(super) bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) async fn replay(status: u16, headers: &[(&str, &str)], body: &str) -> Replay {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut head = format!("HTTP/1.1 {status} Replay\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let answer = [head.into_bytes(), body.as_bytes().to_vec()].concat();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let header_end = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(p + 4);
                }
            };
            let Some(header_end) = header_end else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < header_end + length {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            seen.lock()
                .expect("replay lock")
                .push(buf[header_end..].to_vec());
            let _ = sock.write_all(&answer).await;
            let _ = sock.shutdown().await;
        }
    });
    Replay { url, bodies, task }
}

pub(super) fn replay_client(r: &Replay) -> GraphClient {
    let http = keyturn::net::http_client(&keyturn::net::HttpOptions {
        ca_cert: None,
        timeout: Some(Duration::from_secs(10)),
    })
    .expect("an HTTP client");
    GraphClient::new(&r.url, http, Arc::new(FixedToken))
        .expect("a Graph client")
        .with_retry(RetryPolicy {
            max_attempts: 1,
            max_wait: Duration::from_millis(10),
            backoff: Duration::from_millis(10),
        })
}

/// Microsoft's samples of a list item may omit `id`, which Graph always returns ("Key. Not nullable." in
/// application.md) and which keyturn's models require: supply one, and only when it is missing.
pub(super) fn with_ids(mut v: Value) -> Value {
    if let Some(items) = v.get_mut("value").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(o) = item.as_object_mut()
                && !o.contains_key("id")
            {
                o.insert("id".into(), json!("00000000-0000-0000-0000-00000000001d"));
            }
        }
    }
    v
}

/// Parse `source` (an example or the emulator's answer) with the client model; `complete` when every property of
/// the wire objects is present (emulator answers without $select).
pub(super) async fn parse_with(
    model: Model,
    source: &Value,
    renames: &[(&str, &str)],
    complete: bool,
) -> Result<(), String> {
    use azure_security_keyvault_secrets::models as kv;
    let via_serde = |item: &Value, parsed: Result<Value, serde_json::Error>| match parsed {
        Ok(m) => captured(&m, item, renames, complete, "$"),
        Err(e) => Err(format!("does not parse: {e}")),
    };
    match model {
        Model::None => Ok(()),
        Model::ApplicationPage => {
            let body = with_ids(source.clone());
            let r = replay(200, &[], &body.to_string()).await;
            // One page only: a sample's nextLink points at the real service.
            let mut pager = replay_client(&r).pager::<keyturn::graph::Application>(
                format!("{}/v1.0/applications", r.url),
                keyturn::graph::client::ops::LIST_APPLICATIONS,
            );
            let page = pager
                .next_page()
                .await
                .ok_or("no page")?
                .map_err(|e| format!("GraphClient's pager: {e}"))?;
            let items = body["value"].as_array().cloned().unwrap_or_default();
            if page.value.len() != items.len()
                || page.next_link.as_deref() != body["@odata.nextLink"].as_str()
                || page.delta_link.as_deref() != body["@odata.deltaLink"].as_str()
            {
                return Err(format!(
                    "the pager read {} items, next {:?}, delta {:?}",
                    page.value.len(),
                    page.next_link,
                    page.delta_link
                ));
            }
            for (item, app) in items.iter().zip(&page.value) {
                via_serde(item, serde_json::to_value(app))?;
            }
            Ok(())
        }
        Model::CredentialSignIns => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .credential_sign_ins(&keyturn::graph::AppId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::credential_sign_ins: {e}"))?;
            let keyturn::graph::LastUse::Known(got) = got else {
                return Err("a 200 read as unavailable".into());
            };
            let want: Vec<&str> = source["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["keyId"].as_str()).collect())
                .unwrap_or_default();
            let read: Vec<&str> = got.iter().map(|a| a.key_id.as_str()).collect();
            if read != want || got.iter().any(|a| a.last_sign_in().is_none()) {
                return Err(format!("credential_sign_ins read {read:?}, want {want:?}"));
            }
            Ok(())
        }
        Model::AppSignIns => {
            let r = replay(200, &[], &source.to_string()).await;
            let app = source["value"][0]["appId"].as_str().unwrap_or_default();
            let got = replay_client(&r)
                .app_sign_ins(&keyturn::graph::AppId::new(app))
                .await
                .map_err(|e| format!("GraphClient::app_sign_ins: {e}"))?;
            match got {
                keyturn::graph::LastUse::Known(Some(a)) if a.last_sign_in().is_some() => Ok(()),
                other => Err(format!("app_sign_ins read {other:?}")),
            }
        }
        Model::AppRoleAssignments => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .app_role_assignments(&ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::app_role_assignments: {e}"))?;
            let want: Vec<&str> = source["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["appRoleId"].as_str()).collect())
                .unwrap_or_default();
            let read: Vec<&str> = got.iter().map(|a| a.app_role_id.as_str()).collect();
            (read == want)
                .then_some(())
                .ok_or_else(|| format!("app_role_assignments read {read:?}, want {want:?}"))
        }
        Model::TenantAppManagementPolicy => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .default_app_management_policy()
                .await
                .map_err(|e| format!("GraphClient::default_app_management_policy: {e}"))?;
            let same = Some(got.is_enabled) == source["isEnabled"].as_bool()
                && got.application_restrictions.password_credentials.len()
                    == source["applicationRestrictions"]["passwordCredentials"]
                        .as_array()
                        .map_or(0, Vec::len);
            same.then_some(())
                .ok_or_else(|| format!("default_app_management_policy read {got:?}"))
        }
        Model::AppManagementPolicies => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .app_management_policies(&ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::app_management_policies: {e}"))?;
            let want: Vec<usize> = source["value"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            p["restrictions"]["passwordCredentials"]
                                .as_array()
                                .map_or(0, Vec::len)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let read: Vec<usize> = got
                .iter()
                .map(|p| p.restrictions.password_credentials.len())
                .collect();
            (read == want)
                .then_some(())
                .ok_or_else(|| format!("app_management_policies read {read:?}, want {want:?}"))
        }
        Model::ResourceAppRoles => {
            let r = replay(200, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .resource_app_roles(&ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::resource_app_roles: {e}"))?;
            let want: Vec<(&str, &str)> = source["appRoles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| Some((r["id"].as_str()?, r["value"].as_str()?)))
                        .collect()
                })
                .unwrap_or_default();
            let read: Vec<(&str, &str)> = got
                .app_roles
                .iter()
                .map(|r| (r.id.as_str(), r.value.as_deref().unwrap_or_default()))
                .collect();
            (read == want && got.display_name.as_deref() == source["displayName"].as_str())
                .then_some(())
                .ok_or_else(|| format!("resource_app_roles read {read:?}, want {want:?}"))
        }
        Model::LastUseUnavailable => {
            let r = replay(403, &[], &source.to_string()).await;
            let got = replay_client(&r)
                .credential_sign_ins(&keyturn::graph::AppId::new("x"))
                .await
                .map_err(|e| {
                    format!("a 403 report failed instead of reading as unavailable: {e}")
                })?;
            match got {
                keyturn::graph::LastUse::Unavailable { reason }
                    if reason.starts_with(keyturn::graph::LAST_USE_UNKNOWN)
                        && reason.contains(source["error"]["code"].as_str().unwrap_or("?")) =>
                {
                    Ok(())
                }
                other => Err(format!("a 403 report read as {other:?}")),
            }
        }
        Model::OwnersPage => {
            let r = replay(200, &[], &source.to_string()).await;
            let owners = replay_client(&r)
                .owners(ObjectType::Application, &ObjectId::new("x"))
                .await
                .map_err(|e| format!("GraphClient::owners: {e}"))?;
            let items = source["value"].as_array().cloned().unwrap_or_default();
            if owners.len() != items.len() {
                return Err(format!("owners read {} of {}", owners.len(), items.len()));
            }
            for (item, owner) in items.iter().zip(&owners) {
                if !matches!(owner, keyturn::graph::Owner::Other) {
                    via_serde(item, serde_json::to_value(owner))?;
                }
            }
            Ok(())
        }
        Model::AuditPage => {
            let r = replay(200, &[], &source.to_string()).await;
            let events = replay_client(&r)
                .audit_events(&ObjectId::new("x"), chrono::Utc::now())
                .await
                .map_err(|e| format!("GraphClient::audit_events: {e}"))?;
            let items = source["value"].as_array().cloned().unwrap_or_default();
            if events.len() != items.len() {
                return Err(format!(
                    "audit_events read {} of {}",
                    events.len(),
                    items.len()
                ));
            }
            for item in &items {
                let m: keyturn::graph::DirectoryAudit = serde_json::from_value(item.clone())
                    .map_err(|e| format!("DirectoryAudit does not parse: {e}"))?;
                via_serde(item, serde_json::to_value(&m))?;
            }
            Ok(())
        }
        Model::NewPassword => {
            use secrecy::ExposeSecret;
            let r = replay(200, &[], &source.to_string()).await;
            let p = replay_client(&r)
                .add_password(ObjectType::Application, &ObjectId::new("x"), "n", None)
                .await
                .map_err(|e| format!("GraphClient::add_password: {e}"))?;
            let same = p.key_id.as_str() == source["keyId"]
                && p.hint.as_deref() == source["hint"].as_str()
                && p.display_name.as_deref() == source["displayName"].as_str()
                && Some(p.secret_text.expose_secret()) == source["secretText"].as_str()
                && p.end_date_time.map(|d| d.timestamp())
                    == source["endDateTime"]
                        .as_str()
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|d| d.timestamp());
            if same {
                Ok(())
            } else {
                Err(format!("NewPasswordCredential read {p:?} from {source}"))
            }
        }
        Model::ModifiedProperty => {
            let m: keyturn::graph::ModifiedProperty = serde_json::from_value(source.clone())
                .map_err(|e| format!("ModifiedProperty does not parse: {e}"))?;
            via_serde(source, serde_json::to_value(&m))?;
            if m.display_name.as_deref() == Some("KeyDescription") {
                let decoded = keyturn::graph::audit::decode_key_description(m.new_value.as_deref());
                let raw: Vec<String> = m
                    .new_value
                    .as_deref()
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default();
                if decoded.len() != raw.len() || decoded.is_empty() {
                    return Err(format!("KeyDescription decoded {decoded:?} from {raw:?}"));
                }
                for (d, r) in decoded.iter().zip(&raw) {
                    let text = format!(
                        "[KeyIdentifier={},KeyType={},KeyUsage={},DisplayName={}]",
                        d.key_id, d.key_type, d.key_usage, d.display_name
                    );
                    if &text != r {
                        return Err(format!("KeyDescription decoded {d:?} from {r:?}"));
                    }
                }
            }
            Ok(())
        }
        Model::AppIdentity => via_serde(
            source,
            serde_json::from_value::<keyturn::graph::AppIdentity>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::GraphError(status) => {
            let r = replay(status, &[("Retry-After", "2.128")], &source.to_string()).await;
            let e = replay_client(&r)
                .get_json::<Value>(
                    &format!("{}/v1.0/applications", r.url),
                    keyturn::graph::client::ops::LIST_APPLICATIONS,
                )
                .await
                .expect_err("an error status");
            let (code, message) = (
                source["error"]["code"].as_str().unwrap_or_default(),
                source["error"]["message"].as_str().unwrap_or_default(),
            );
            let ok = match &e {
                GraphError::Throttled { retry_after, .. } => {
                    *retry_after == Duration::from_millis(2128)
                }
                GraphError::NotFound { message: m, .. } => m == message,
                GraphError::Forbidden {
                    code: c,
                    message: m,
                    ..
                }
                | GraphError::Unauthorized {
                    code: c,
                    message: m,
                }
                | GraphError::BadRequest {
                    code: c,
                    message: m,
                    ..
                }
                | GraphError::Server {
                    code: c,
                    message: m,
                    ..
                } => c == code && m == message,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("GraphClient read {e:?} from {source}"))
            }
        }
        Model::AddPasswordRequest | Model::RemovePasswordRequest => Ok(()), // see client_request_shape
        Model::KvSecret => via_serde(
            source,
            serde_json::from_value::<kv::Secret>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::KvListResult => {
            let m: kv::ListSecretPropertiesResult = serde_json::from_value(source.clone())
                .map_err(|e| format!("ListSecretPropertiesResult does not parse: {e}"))?;
            if m.next_link.as_deref() != source["nextLink"].as_str() {
                return Err(format!("nextLink read as {:?}", m.next_link));
            }
            via_serde(source, serde_json::to_value(&m))
        }
        Model::KvError => {
            let m: kv::KeyVaultError = serde_json::from_value(source.clone())
                .map_err(|e| format!("KeyVaultError does not parse: {e}"))?;
            let err = m.error.ok_or("no error member")?;
            if err.code.as_deref() == source["error"]["code"].as_str()
                && err.message.as_deref() == source["error"]["message"].as_str()
            {
                Ok(())
            } else {
                Err(format!(
                    "KeyVaultError read {:?} / {:?}",
                    err.code, err.message
                ))
            }
        }
        Model::KvSetParameters => via_serde(
            source,
            serde_json::from_value::<kv::SetSecretParameters>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::KvUpdateParameters => via_serde(
            source,
            serde_json::from_value::<kv::UpdateSecretPropertiesParameters>(source.clone())
                .and_then(|m| serde_json::to_value(&m)),
        ),
        Model::Token(status) => token_model(status, source).await,
    }
}

/// An azure_core transport that answers every request with one canned token-endpoint response.
#[derive(Debug)]
pub(super) struct CannedTransport {
    pub(super) status: u16,
    pub(super) body: String,
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for CannedTransport {
    async fn execute_request(
        &self,
        _request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let mut headers = azure_core::http::headers::Headers::new();
        headers.insert("content-type", "application/json; charset=utf-8");
        Ok(azure_core::http::AsyncRawResponse::from_bytes(
            azure_core::http::StatusCode::from(self.status),
            headers,
            self.body.clone().into_bytes(),
        ))
    }
}

/// azure_identity's ClientSecretCredential (the credential keyturn signs in with) reads the token response: the
/// access token of a success, the AADSTS code of an error.
pub(super) async fn token_model(status: u16, source: &Value) -> Result<(), String> {
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    let transport = CannedTransport {
        status,
        body: source.to_string(),
    };
    let credential = ClientSecretCredential::new(
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002".into(),
        "secret".to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(transport))),
                ..Default::default()
            },
        }),
    )
    .map_err(|e| e.to_string())?;
    let got = credential.get_token(&[GRAPH_SCOPE], None).await;
    match (status, got) {
        (200, Ok(t)) if t.token.secret() == source["access_token"].as_str().unwrap_or_default() => {
            let expected = source["expires_in"].as_i64().unwrap_or_default();
            let left = (t.expires_on - azure_core::time::OffsetDateTime::now_utc()).whole_seconds();
            if (left - expected).abs() <= 5 {
                Ok(())
            } else {
                Err(format!("expires in {left} s, the body says {expected}"))
            }
        }
        (200, other) => Err(format!("azure_identity read {other:?}")),
        (_, Ok(_)) => Err("azure_identity accepted an error body".into()),
        (_, Err(e)) => {
            let text = keyturn::graph::client::error_chain(&e);
            let code = source["error_codes"][0].to_string();
            if text.contains(&format!("AADSTS{code}")) {
                Ok(())
            } else {
                Err(format!(
                    "azure_identity's error does not name AADSTS{code}: {text}"
                ))
            }
        }
    }
}
