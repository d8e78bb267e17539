//! Typed Microsoft Graph v1.0 client over the shared `reqwest::Client`, with tokens from any azure_core
//! `TokenCredential`, bounded retries that honour `Retry-After`, and a pager over `@odata.nextLink`.
use super::error::{ErrorBody, GraphError, excerpt};
use super::ids::{KeyId, ObjectId};
use super::models::{
    Application, DirectoryAudit, NewPasswordCredential, ObjectType, Owner, ServicePrincipal,
};
use azure_core::credentials::TokenCredential;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The public Graph endpoint, overridable with `--graph-url` / `KEYTURN_GRAPH_URL`.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// Properties the inventory needs; nothing more, since every property costs bytes on 50,000 apps.
pub const APPLICATION_SELECT: &str =
    "id,appId,displayName,createdDateTime,passwordCredentials,keyCredentials";
pub const SERVICE_PRINCIPAL_SELECT: &str =
    "id,appId,displayName,servicePrincipalType,passwordCredentials,keyCredentials";

/// Graph's maximum page size for directory objects.
pub const MAX_PAGE_SIZE: u32 = 999;

/// What the operator should be told while a call waits (status line / stderr).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// 429: waiting `wait` before attempt `attempt`.
    Throttled {
        operation: &'static str,
        wait: Duration,
        attempt: u32,
    },
    /// 5xx or a network error on a safe request: retrying.
    Retrying {
        operation: &'static str,
        wait: Duration,
        attempt: u32,
        reason: String,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Throttled {
                operation,
                wait,
                attempt,
            } => write!(
                f,
                "throttled by Graph ({operation}): retrying in {:.1} s (attempt {attempt})",
                wait.as_secs_f64()
            ),
            Notice::Retrying {
                operation,
                wait,
                attempt,
                reason,
            } => write!(
                f,
                "{operation}: {reason}; retrying in {:.1} s (attempt {attempt})",
                wait.as_secs_f64()
            ),
        }
    }
}

pub type Notifier = Arc<dyn Fn(Notice) + Send + Sync>;

/// Bounded retries. Throttling waits what the service asks, capped by `max_wait`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_wait: Duration,
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_wait: Duration::from_secs(60),
            backoff: Duration::from_millis(300),
        }
    }
}

/// One kind of call: its name for messages, the permission a 403 means is missing, and whether it may be repeated
/// after an ambiguous failure (a POST that may have been applied is never repeated blindly).
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub name: &'static str,
    pub permission: &'static str,
    pub idempotent: bool,
}

pub mod ops {
    use super::Op;
    pub const LIST_APPLICATIONS: Op = Op {
        name: "list applications",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const LIST_SERVICE_PRINCIPALS: Op = Op {
        name: "list service principals",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const GET_APPLICATION: Op = Op {
        name: "read application",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const LIST_OWNERS: Op = Op {
        name: "list owners",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const LIST_AUDITS: Op = Op {
        name: "read audit events",
        permission: "AuditLog.Read.All and Directory.Read.All",
        idempotent: true,
    };
    pub const ADD_PASSWORD: Op = Op {
        name: "addPassword",
        permission: "Application.ReadWrite.OwnedBy or Application.ReadWrite.All",
        idempotent: false,
    };
    pub const REMOVE_PASSWORD: Op = Op {
        name: "removePassword",
        permission: "Application.ReadWrite.OwnedBy or Application.ReadWrite.All",
        idempotent: false,
    };
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    retry: RetryPolicy,
    notifier: Option<Notifier>,
    limits: Limits,
}

/// How much keyturn reads from Graph before it stops with a clear error: one answer's body, and the pages of one
/// listing (a nextLink chain that never ends is a broken or hostile endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_pages: u32,
}

/// Pages of one listing: 20,000 pages of 999 objects is far past any tenant.
pub const MAX_PAGES: u32 = 20_000;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::net::MAX_BODY_BYTES,
            max_pages: MAX_PAGES,
        }
    }
}

/// Cheap to clone: one shared connection pool and credential.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A page of a collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub value: Vec<T>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
    /// 1-based page number within this listing.
    pub number: u32,
}

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

impl GraphClient {
    /// `base_url` is the Graph origin (`https://graph.microsoft.com`); the token scope comes from the cloud of the
    /// Graph host (`crate::cloud::graph_scope`: public Graph for any host that is not a national cloud's Graph,
    /// loopback included); [`GraphClient::with_scope`] sets another.
    pub fn new(
        base_url: &str,
        http: reqwest::Client,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self, GraphError> {
        let base = Url::parse(base_url.trim_end_matches('/')).map_err(|e| GraphError::Network {
            operation: "configure",
            detail: format!("invalid Graph URL {base_url:?}: {e}"),
        })?;
        let scope =
            crate::cloud::graph_scope("https://login.microsoftonline.com", base.as_str(), None);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                credential,
                scope,
                retry: RetryPolicy::default(),
                notifier: None,
                limits: Limits::default(),
            }),
        })
    }

    /// The scope of the tokens this client asks for. [`GraphClient::new`] assumes the public cloud's Graph
    /// (`https://graph.microsoft.com/.default`) whatever the URL: a token names its resource, never the URL it is
    /// sent to. Sessions set the scope of their cloud (`crate::cloud::graph_scope`).
    pub fn with_scope(self, scope: String) -> Self {
        self.rebuild(|i| i.scope = scope)
    }

    /// Replace the retry policy (tests use short waits).
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        self.rebuild(|i| i.retry = retry)
    }

    /// Replace the body and page limits (tests use small ones).
    pub fn with_limits(self, limits: Limits) -> Self {
        self.rebuild(|i| i.limits = limits)
    }

    /// The body and page limits in force.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The error for a listing that went past [`Limits::max_pages`].
    pub fn too_many_pages(&self, op: Op) -> GraphError {
        GraphError::TooManyPages {
            operation: op.name,
            limit: self.inner.limits.max_pages,
        }
    }

    /// Receive a notice whenever a call waits (throttling, retry).
    pub fn with_notifier(self, notifier: Notifier) -> Self {
        self.rebuild(|i| i.notifier = Some(notifier))
    }

    /// The same client (pool, credential, retries, limits) for another origin, e.g. the Office 365 Management
    /// Activity API; requests then go only there. Set the scope of that resource with [`GraphClient::with_scope`].
    pub fn with_base(self, base_url: &str) -> Result<Self, GraphError> {
        let base = Url::parse(base_url.trim_end_matches('/')).map_err(|e| GraphError::Network {
            operation: "configure",
            detail: format!("invalid URL {base_url:?}: {e}"),
        })?;
        Ok(self.rebuild(|i| i.base = base))
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        let i = &self.inner;
        let mut inner = Inner {
            http: i.http.clone(),
            base: i.base.clone(),
            credential: i.credential.clone(),
            scope: i.scope.clone(),
            retry: i.retry.clone(),
            notifier: i.notifier.clone(),
            limits: i.limits,
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The scope of the Graph tokens this client asks for.
    pub fn scope(&self) -> &str {
        &self.inner.scope
    }

    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Absolute URL for a v1.0 path like `applications?$top=999`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}/v1.0/{}",
            self.inner.base.as_str().trim_end_matches('/'),
            path_and_query.trim_start_matches('/')
        )
    }

    /// Pages of applications with the inventory's `$select`, 999 a page.
    pub fn applications(&self) -> Pager<Application> {
        let url = self.url(&format!(
            "applications?$top={MAX_PAGE_SIZE}&$select={APPLICATION_SELECT}"
        ));
        self.pager(url, ops::LIST_APPLICATIONS)
    }

    /// Pages of service principals with the inventory's `$select`, 999 a page.
    pub fn service_principals(&self) -> Pager<ServicePrincipal> {
        let url = self.url(&format!(
            "servicePrincipals?$top={MAX_PAGE_SIZE}&$select={SERVICE_PRINCIPAL_SELECT}"
        ));
        self.pager(url, ops::LIST_SERVICE_PRINCIPALS)
    }

    /// A pager from any first URL (absolute), e.g. a delta link.
    pub fn pager<T: DeserializeOwned>(&self, first_url: String, op: Op) -> Pager<T> {
        Pager {
            client: self.clone(),
            next: Some(first_url),
            op,
            number: 0,
            prefetch: None,
            _item: PhantomData,
        }
    }

    /// Every item of a collection, following nextLinks.
    pub async fn collect_all<T: DeserializeOwned>(
        &self,
        first_url: String,
        op: Op,
    ) -> Result<Vec<T>, GraphError> {
        let mut pager = self.pager::<T>(first_url, op);
        let mut all = Vec::new();
        while let Some(page) = pager.next_page().await {
            all.extend(page?.value);
        }
        Ok(all)
    }

    /// An application by appId or object id: both are GUIDs, so try the appId form first.
    pub async fn find_application(&self, id_or_app_id: &str) -> Result<Application, GraphError> {
        let quoted = id_or_app_id.replace('\'', "''");
        let by_app_id = self.url(&format!(
            "applications(appId='{quoted}')?$select={APPLICATION_SELECT}"
        ));
        match self
            .get_json::<Application>(&by_app_id, ops::GET_APPLICATION)
            .await
        {
            Err(GraphError::NotFound { .. }) => {
                let by_id = self.url(&format!(
                    "applications/{}?$select={APPLICATION_SELECT}",
                    urlencode(id_or_app_id)
                ));
                self.get_json(&by_id, ops::GET_APPLICATION)
                    .await
                    .map_err(|e| match e {
                        GraphError::NotFound { message, .. } => GraphError::NotFound {
                            what: format!("no application with appId or object id {id_or_app_id}"),
                            message,
                        },
                        e => e,
                    })
            }
            other => other,
        }
    }

    /// Owners of an application or service principal (users and service principals).
    pub async fn owners(&self, kind: ObjectType, id: &ObjectId) -> Result<Vec<Owner>, GraphError> {
        let url = self.url(&format!(
            "{}/{}/owners?$top=100",
            kind.collection(),
            urlencode(id.as_str())
        ));
        self.collect_all(url, ops::LIST_OWNERS).await
    }

    /// Audit events that targeted an object since `since`, newest first.
    pub async fn audit_events(
        &self,
        target: &ObjectId,
        since: DateTime<Utc>,
    ) -> Result<Vec<DirectoryAudit>, GraphError> {
        let filter = format!(
            "targetResources/any(t:t/id eq '{}') and activityDateTime ge {}",
            target.as_str().replace('\'', "''"),
            since.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let url = self.url(&format!(
            "auditLogs/directoryAudits?$filter={}&$top=100",
            urlencode(&filter)
        ));
        let mut events: Vec<DirectoryAudit> = self.collect_all(url, ops::LIST_AUDITS).await?;
        events.sort_by_key(|e| std::cmp::Reverse(e.activity_date_time));
        Ok(events)
    }

    /// `addPassword`: a new client secret. The value is only in the returned `SecretString`.
    pub async fn add_password(
        &self,
        kind: ObjectType,
        id: &ObjectId,
        display_name: &str,
        end: Option<DateTime<Utc>>,
    ) -> Result<NewPasswordCredential, GraphError> {
        let mut cred = serde_json::json!({ "displayName": display_name });
        if let Some(end) = end {
            cred["endDateTime"] =
                serde_json::Value::String(end.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        let body = serde_json::json!({ "passwordCredential": cred });
        let url = self.url(&format!(
            "{}/{}/addPassword",
            kind.collection(),
            urlencode(id.as_str())
        ));
        let text = self
            .send(ops::ADD_PASSWORD, Method::POST, &url, Some(&body))
            .await?;
        parse(&text, ops::ADD_PASSWORD)
    }

    /// `removePassword` (204 on success).
    pub async fn remove_password(
        &self,
        kind: ObjectType,
        id: &ObjectId,
        key_id: &KeyId,
    ) -> Result<(), GraphError> {
        let body = serde_json::json!({ "keyId": key_id.as_str() });
        let url = self.url(&format!(
            "{}/{}/removePassword",
            kind.collection(),
            urlencode(id.as_str())
        ));
        self.send(ops::REMOVE_PASSWORD, Method::POST, &url, Some(&body))
            .await?;
        Ok(())
    }

    pub async fn get_json<T: DeserializeOwned>(&self, url: &str, op: Op) -> Result<T, GraphError> {
        let text = self.send(op, Method::GET, url, None).await?;
        parse(&text, op)
    }

    async fn token(&self) -> Result<String, GraphError> {
        let token = self
            .inner
            .credential
            .get_token(&[self.inner.scope.as_str()], None)
            .await
            .map_err(|e| GraphError::Auth(error_chain(&e)))?;
        Ok(token.token.secret().to_string())
    }

    /// Send with bounded retries; returns the body of a 2xx answer.
    pub async fn send(
        &self,
        op: Op,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<String, GraphError> {
        self.send_with_headers(op, method, url, body)
            .await
            .map(|(text, _)| text)
    }

    /// [`GraphClient::send`], with the answer's headers (APIs that page with a header, such as the Management
    /// Activity API's `NextPageUri`).
    pub async fn send_with_headers(
        &self,
        op: Op,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(String, reqwest::header::HeaderMap), GraphError> {
        let retry = &self.inner.retry;
        // Paging and delta links come from the answers (and the cache): the bearer token goes only to Graph.
        let on_origin = Url::parse(url).is_ok_and(|u| u.origin() == self.inner.base.origin());
        if !on_origin {
            return Err(GraphError::ForeignLink {
                operation: op.name,
                url: crate::graph::error::excerpt(url, 200),
            });
        }
        let mut attempt = 1;
        loop {
            let token = self.token().await?;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url)
                .bearer_auth(token)
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = match req.send().await {
                Err(e) => Err(e),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(resp.headers());
                    let headers = resp.headers().clone();
                    match crate::net::read_body(resp, self.inner.limits.max_body_bytes).await {
                        Ok(text) => Ok((status, retry_after, (text, headers))),
                        Err(crate::net::BodyError::Read(e)) => Err(e),
                        Err(crate::net::BodyError::TooLarge { limit }) => {
                            return Err(GraphError::TooLarge {
                                operation: op.name,
                                limit,
                            });
                        }
                    }
                }
            };
            let (status, retry_after, (text, headers)) = match outcome {
                Ok(t) => t,
                Err(e) => {
                    let detail = describe_reqwest(&e);
                    if op.idempotent && attempt < retry.max_attempts {
                        let wait = backoff(retry, attempt);
                        self.notify(Notice::Retrying {
                            operation: op.name,
                            wait,
                            attempt: attempt + 1,
                            reason: detail,
                        });
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(GraphError::Network {
                        operation: op.name,
                        detail,
                    });
                }
            };
            if status.is_success() {
                return Ok((text, headers));
            }
            let retryable_server = status.is_server_error() && op.idempotent;
            if status == StatusCode::TOO_MANY_REQUESTS || retryable_server {
                if attempt >= retry.max_attempts {
                    return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                        GraphError::Throttled {
                            retry_after: retry_after.unwrap_or(retry.backoff),
                            attempts: attempt,
                        }
                    } else {
                        server_error(op, status, attempt, &text)
                    });
                }
                let wait = match retry_after {
                    Some(w) => w.min(retry.max_wait),
                    None => backoff(retry, attempt),
                };
                self.notify(if status == StatusCode::TOO_MANY_REQUESTS {
                    Notice::Throttled {
                        operation: op.name,
                        wait,
                        attempt: attempt + 1,
                    }
                } else {
                    Notice::Retrying {
                        operation: op.name,
                        wait,
                        attempt: attempt + 1,
                        reason: format!("HTTP {}", status.as_u16()),
                    }
                });
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Err(map_error(op, status, attempt, &text));
        }
    }

    fn notify(&self, notice: Notice) {
        tracing::info!(%notice, "graph retry");
        if let Some(n) = &self.inner.notifier {
            n(notice);
        }
    }
}

/// Pages of a collection, in order. While one page is parsed the next one is already on its way: Graph pages are a
/// cursor, so the round trips cannot overlap each other, but parsing can overlap the next round trip.
pub struct Pager<T> {
    client: GraphClient,
    next: Option<String>,
    op: Op,
    number: u32,
    prefetch: Option<(String, tokio::task::JoinHandle<Result<String, GraphError>>)>,
    _item: PhantomData<fn() -> T>,
}

impl<T> Drop for Pager<T> {
    fn drop(&mut self) {
        if let Some((_, handle)) = self.prefetch.take() {
            handle.abort();
        }
    }
}

impl<T: DeserializeOwned> Pager<T> {
    /// The next page, or `None` when the last one has been returned.
    pub async fn next_page(&mut self) -> Option<Result<Page<T>, GraphError>> {
        let url = self.next.take()?;
        if self.number >= self.client.limits().max_pages {
            return Some(Err(self.client.too_many_pages(self.op)));
        }
        let text = match self.prefetch.take() {
            Some((prefetched, handle)) if prefetched == url => match handle.await {
                Ok(result) => result,
                // The task was cancelled or panicked: fetch again in the foreground.
                Err(_) => self.client.send(self.op, Method::GET, &url, None).await,
            },
            stale => {
                if let Some((_, handle)) = stale {
                    handle.abort();
                }
                self.client.send(self.op, Method::GET, &url, None).await
            }
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let guessed = scan_next_link(&text);
        if let Some(next) = &guessed
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let client = self.client.clone();
            let (op, next_url) = (self.op, next.clone());
            let handle =
                tokio::spawn(async move { client.send(op, Method::GET, &next_url, None).await });
            self.prefetch = Some((next.clone(), handle));
        }
        let raw: RawPage<T> = match parse(&text, self.op) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        self.number += 1;
        self.next = raw.next_link.clone();
        Some(Ok(Page {
            value: raw.value,
            next_link: raw.next_link,
            delta_link: raw.delta_link,
            number: self.number,
        }))
    }

    pub fn pages_fetched(&self) -> u32 {
        self.number
    }
}

/// The `@odata.nextLink` of a page found without parsing it, so the next request can start before the parse. In
/// valid JSON the quoted key followed by a colon can only be a key. A link with escapes is left to the parser; the
/// parsed link always decides (a wrong guess is dropped, never used).
fn scan_next_link(body: &str) -> Option<String> {
    const KEY: &str = "\"@odata.nextLink\"";
    let at = body.find(KEY)? + KEY.len();
    let rest = body[at..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    let link = &rest[..end];
    (!link.contains('\\')).then(|| link.to_string())
}

fn parse<T: DeserializeOwned>(text: &str, op: Op) -> Result<T, GraphError> {
    serde_json::from_str(text).map_err(|e| GraphError::Malformed {
        operation: op.name,
        detail: e.to_string(),
        body_excerpt: excerpt(text, 120),
    })
}

fn map_error(op: Op, status: StatusCode, attempts: u32, text: &str) -> GraphError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (String::new(), excerpt(text, 200)),
    };
    match status {
        StatusCode::UNAUTHORIZED => GraphError::Unauthorized { code, message },
        StatusCode::FORBIDDEN => GraphError::Forbidden {
            operation: op.name,
            missing_permission: op.permission,
            code,
            message,
        },
        StatusCode::NOT_FOUND => GraphError::NotFound {
            what: op.name.to_string(),
            message,
        },
        s if s.is_server_error() => server_error(op, status, attempts, text),
        s => GraphError::BadRequest {
            operation: op.name,
            status: s.as_u16(),
            code,
            message,
        },
    }
}

fn server_error(op: Op, status: StatusCode, attempts: u32, text: &str) -> GraphError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (String::new(), excerpt(text, 200)),
    };
    GraphError::Server {
        operation: op.name,
        status: status.as_u16(),
        attempts,
        code,
        message,
    }
}

/// The longest `Retry-After` keyturn believes: a service (or anything between) may send any number; the wait itself
/// is capped again by [`RetryPolicy::max_wait`].
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// `Retry-After` in seconds, possibly decimal (`2.128`), or an HTTP date; capped at [`RETRY_AFTER_CAP`] (`1e20`, a
/// date in the year 9999), `None` when negative or unreadable.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(v, Utc::now())
}

/// [`retry_after`] of one header value at `now`.
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        // Infinite and huge values do not fit a Duration: they are the cap.
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(RETRY_AFTER_CAP)
                .min(RETRY_AFTER_CAP),
        );
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&Utc).signed_duration_since(now);
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CAP),
    )
}

fn backoff(retry: &RetryPolicy, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1)).min(64);
    retry
        .backoff
        .checked_mul(factor)
        .unwrap_or(retry.max_wait)
        .min(retry.max_wait)
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect ({})", root_cause(e))
    } else if e.is_body() || e.is_decode() {
        format!("the response body was cut off ({})", root_cause(e))
    } else {
        root_cause(e)
    }
}

/// The innermost error text: reqwest's own Display hides the TLS or IO reason an admin needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The error and its causes on one line, without repeats: azure_core's top-level message ("authentication failed")
/// hides the reason an admin needs (AADSTS code, TLS certificate problem).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if !line.is_empty() && !parts.iter().any(|p| p.contains(&line)) {
            parts.push(line);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Percent-encode a path segment or query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_decimal_and_integer() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2.128"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(2128)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("10"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(10)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn hostile_retry_after_is_capped_never_a_panic() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let hour = Duration::from_secs(3600);
        for (v, want) in [
            ("1e20", Some(hour)),
            ("1e308", Some(hour)),
            ("inf", Some(hour)),
            ("18446744073709551616", Some(hour)),
            ("3599.5", Some(Duration::from_millis(3_599_500))),
            ("NaN", None),
            ("-0.5", None),
            ("-1e20", None),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(hour)),
            (
                "Thu, 03 Dec 2026 08:00:30 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("Mon, 01 Jan 1900 00:00:00 GMT", Some(Duration::ZERO)),
        ] {
            assert_eq!(parse_retry_after(v, now), want, "{v}");
        }
    }

    #[test]
    fn backoff_never_overflows() {
        let r = RetryPolicy {
            max_attempts: u32::MAX,
            max_wait: Duration::from_secs(60),
            backoff: Duration::MAX,
        };
        assert_eq!(backoff(&r, u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn forbidden_names_the_permission() {
        let body = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        let e = map_error(ops::LIST_AUDITS, StatusCode::FORBIDDEN, 1, body);
        let text = e.to_string();
        assert!(text.contains("AuditLog.Read.All"), "{text}");
        assert!(text.contains("Authorization_RequestDenied"), "{text}");
    }

    #[test]
    fn next_link_scan() {
        let body = r#"{"@odata.context":"x","@odata.nextLink" : "https://g/v1.0/applications?$skiptoken=ab","value":[]}"#;
        assert_eq!(
            scan_next_link(body).as_deref(),
            Some("https://g/v1.0/applications?$skiptoken=ab")
        );
        assert_eq!(
            scan_next_link(r#"{"value":[{"displayName":"@odata.nextLink"}]}"#),
            None
        );
        assert_eq!(scan_next_link(r#"{"@odata.nextLink":"https:\/\/g"}"#), None);
        assert_eq!(scan_next_link(r#"{"value":[]}"#), None);
    }

    #[test]
    fn backoff_is_capped() {
        let r = RetryPolicy {
            max_attempts: 10,
            max_wait: Duration::from_secs(3),
            backoff: Duration::from_millis(500),
        };
        assert_eq!(backoff(&r, 1), Duration::from_millis(500));
        assert_eq!(backoff(&r, 2), Duration::from_secs(1));
        assert_eq!(backoff(&r, 9), Duration::from_secs(3));
    }
}

/// Property tests (issue 16 item 12): `Retry-After` and Graph error bodies come from the network.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    proptest! {
        #[test]
        fn any_retry_after_is_capped_never_a_panic(s in ".*") {
            if let Some(d) = parse_retry_after(&s, now()) {
                prop_assert!(d <= RETRY_AFTER_CAP);
            }
        }

        #[test]
        fn any_number_of_seconds_is_capped(x in any::<f64>()) {
            let got = parse_retry_after(&x.to_string(), now());
            if x.is_nan() || x < 0.0 {
                prop_assert_eq!(got, None);
            } else {
                prop_assert!(got.is_some_and(|d| d <= RETRY_AFTER_CAP));
            }
        }

        #[test]
        fn whole_seconds_round_trip_up_to_the_cap(n in 0u64..10_000_000) {
            prop_assert_eq!(
                parse_retry_after(&n.to_string(), now()),
                Some(Duration::from_secs(n).min(RETRY_AFTER_CAP))
            );
        }

        #[test]
        fn any_error_body_maps_without_panic(status in 400u16..600, body in ".*") {
            let status = StatusCode::from_u16(status).unwrap();
            let _ = map_error(ops::LIST_APPLICATIONS, status, 1, &body).to_string();
        }

        #[test]
        fn graph_error_bodies_keep_code_and_message(code in "[A-Za-z_]{1,30}", message in ".*") {
            let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
            match map_error(ops::LIST_APPLICATIONS, StatusCode::BAD_REQUEST, 1, &body) {
                GraphError::BadRequest { code: c, message: m, status: 400, .. } => {
                    prop_assert_eq!(c, code);
                    prop_assert_eq!(m, message);
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
