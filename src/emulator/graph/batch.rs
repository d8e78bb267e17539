//! JSON batching (`$batch`): sub-requests run in order through the same dispatcher as top-level requests.
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// $batch

#[derive(Deserialize)]
struct BatchIn {
    requests: Vec<BatchRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// JSON batching (tests/fixtures/microsoft/graph/json_batching/): at most 20 requests with unique ids, run in order
/// (which satisfies any dependsOn), each answered as `{id, status, headers, body}`; a failed dependency gives 424.
pub(super) async fn batch(
    shared: &Shared,
    ctx: &Ctx,
    version: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let parsed: BatchIn = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return ctx.error(400, "BadRequest", "Invalid batch payload format."),
    };
    if parsed.requests.is_empty() || parsed.requests.len() > MAX_BATCH {
        return ctx.error(
            400,
            "BadRequest",
            "A batch must contain between 1 and 20 requests.",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for r in &parsed.requests {
        if !seen.insert(r.id.to_ascii_lowercase()) {
            return ctx.error(
                400,
                "BadRequest",
                &format!(
                    "Batch request ids must be unique; '{}' is used more than once.",
                    r.id
                ),
            );
        }
    }
    if let Err(e) = authenticate(shared, headers, super::token::Audience::Graph) {
        let message = if e == AuthError::Missing {
            "Access token is empty."
        } else {
            "Access token validation failure."
        };
        return ctx.error(401, "InvalidAuthenticationToken", message);
    }
    let mut statuses: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    let mut responses = Vec::new();
    for r in parsed.requests {
        let sub_ctx = Ctx {
            request_id: Uuid::new_v4().to_string(),
            client_request_id: r
                .headers
                .get("client-request-id")
                .cloned()
                .unwrap_or_else(|| ctx.client_request_id.clone()),
            base: ctx.base.clone(),
        };
        let failed_dep = r.depends_on.iter().any(|d| {
            statuses
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| *s >= 400)
        });
        let reply = if failed_dep {
            sub_ctx.error(
                424,
                "FailedDependency",
                "The request depends on a request that failed or was not in this batch.",
            )
        } else {
            let url = r.url.trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let mut segs: Vec<String> = vec![version.to_string()];
            segs.extend(path.split('/').map(pct_decode));
            let mut sub_headers = HeaderMap::new();
            if let Some(a) = headers.get(axum::http::header::AUTHORIZATION) {
                sub_headers.insert(axum::http::header::AUTHORIZATION, a.clone());
            }
            for (k, v) in &r.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    sub_headers.insert(n, v);
                }
            }
            let sub_body = r
                .body
                .as_ref()
                .map(|b| serde_json::to_vec(b).unwrap_or_default())
                .unwrap_or_default();
            match Method::from_bytes(r.method.to_ascii_uppercase().as_bytes()) {
                Ok(m)
                    if segs
                        .get(1)
                        .is_some_and(|s| s.eq_ignore_ascii_case("$batch")) =>
                {
                    let _ = m;
                    sub_ctx.error(
                        400,
                        "BadRequest",
                        "Nested $batch requests are not supported.",
                    )
                }
                Ok(m) => {
                    Box::pin(dispatch(
                        shared,
                        &sub_ctx,
                        &m,
                        &segs,
                        query,
                        &sub_headers,
                        &sub_body,
                    ))
                    .await
                }
                Err(_) => sub_ctx.method_not_allowed(),
            }
        };
        if reply.drop_connection {
            // A lost answer loses the whole batch response: it travels on the same connection.
            return Reply::dropped();
        }
        statuses.insert(r.id.to_ascii_lowercase(), reply.status);
        let mut h = serde_json::Map::new();
        h.insert("Cache-Control".into(), json!("no-cache"));
        h.insert("x-ms-resource-unit".into(), json!("1"));
        if let Some((_, ct)) = &reply.body {
            h.insert("Content-Type".into(), json!(ct));
            // Like Microsoft's sample (tests/fixtures/microsoft/graph/json_batching/): a sub-response with a body says
            // its OData version, as a top-level response does.
            if reply.status < 300 {
                h.insert("OData-Version".into(), json!("4.0"));
            }
        }
        if let Some(ra) = reply.header("Retry-After") {
            h.insert("Retry-After".into(), json!(ra));
        }
        let body = reply.body.as_ref().map(|(b, _)| {
            serde_json::from_slice::<Value>(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        });
        let mut item = Obj::new()
            .with("id", r.id)
            .with("status", reply.status)
            .with("headers", Value::Object(h));
        if let Some(b) = body {
            item.push("body", b);
        }
        responses.push(item.into_value());
    }
    Reply::json(
        200,
        GRAPH_JSON,
        &Obj::new().with("responses", Value::Array(responses)),
    )
}
