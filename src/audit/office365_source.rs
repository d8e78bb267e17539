//! Source `office365`: the Office 365 Management Activity API, the route Microsoft documents for audit feeds.
//! `subscriptions/start` for `Audit.AzureActiveDirectory` (idempotent: the service's 400 AF20024 "already enabled" is
//! the desired state), `subscriptions/content` in windows of at most 24 hours within the last 7 days with
//! `NextPageUri` paging, then each content blob. Records are mapped onto the directory audit model, so that both
//! sources give the same rows through [`super::graph_source::rows`].
//!
//! The token names the resource (`https://manage.office.com`, or the government cloud's), never the URL it is sent
//! to: `--office365-url` may point at a proxy or the emulator.
use crate::graph::client::Op;
use crate::graph::{
    AppIdentity, AuditInitiator, DirectoryAudit, GraphClient, GraphError, ModifiedProperty,
    TargetResource, UserIdentity,
};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use std::collections::HashSet;

/// The public cloud's endpoint, overridable with `--office365-url` / `KEYTURN_OFFICE365_URL`.
pub const DEFAULT_OFFICE365_URL: &str = "https://manage.office.com";
pub const CONTENT_TYPE: &str = "Audit.AzureActiveDirectory";
/// How far back the API lists content.
pub const RETENTION_DAYS: i64 = 7;
/// Microsoft documents up to 12 hours before a first subscription's content appears.
pub const FIRST_SUBSCRIPTION_DELAY_HOURS: i64 = 12;

pub mod ops {
    use super::Op;
    pub const START: Op = Op {
        name: "start the Audit.AzureActiveDirectory subscription",
        permission: "ActivityFeed.Read (Office 365 Management APIs)",
        // Starting an enabled subscription again only answers "already enabled".
        idempotent: true,
    };
    pub const LIST_CONTENT: Op = Op {
        name: "list audit content",
        permission: "ActivityFeed.Read (Office 365 Management APIs)",
        idempotent: true,
    };
    pub const GET_CONTENT: Op = Op {
        name: "read an audit content blob",
        permission: "ActivityFeed.Read (Office 365 Management APIs)",
        idempotent: true,
    };
}

/// The token scope for the Management Activity API of the authority's cloud (DESIGN's cloud table).
pub fn scope_for(authority_host: &str) -> String {
    let host = url::Url::parse(authority_host)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let resource = if host == "login.microsoftonline.us" {
        "https://manage.office365.us"
    } else {
        DEFAULT_OFFICE365_URL
    };
    format!("{resource}/.default")
}

/// A listed content blob.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlob {
    pub content_type: Option<String>,
    pub content_id: Option<String>,
    pub content_uri: String,
    pub content_created: Option<String>,
    pub content_expiration: Option<String>,
}

/// `{ID, Type}`: Type 1 a name, 2 other (object ids, `User_<id>`), 3 a PUID, 4 an SPN, 5 a UPN.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IdentityPair {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Type")]
    pub kind: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordModifiedProperty {
    pub name: Option<String>,
    pub new_value: Option<String>,
    pub old_value: Option<String>,
}

/// One `Audit.AzureActiveDirectory` record: the fields the feed reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivityRecord {
    pub creation_time: String,
    pub id: String,
    pub operation: String,
    pub result_status: Option<String>,
    pub workload: Option<String>,
    pub object_id: Option<String>,
    pub user_id: Option<String>,
    #[serde(default)]
    pub actor: Vec<IdentityPair>,
    pub actor_ip_address: Option<String>,
    #[serde(default)]
    pub target: Vec<IdentityPair>,
    #[serde(default)]
    pub modified_properties: Vec<RecordModifiedProperty>,
    pub inter_systems_id: Option<String>,
}

/// One entry of `subscriptions/list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub content_type: String,
    pub status: Option<String>,
}

/// What `subscriptions/start` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Just started: content may take up to 12 hours to appear.
    Started,
    AlreadyEnabled,
}

/// `CreationTime` is UTC without an offset ("2015-06-29T20:04:55").
fn creation_time(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
        .or_else(|| s.parse().ok())
}

/// The GUID after a `User_` / `ServicePrincipal_` / `Application_` prefix among type-2 entries.
fn prefixed(pairs: &[IdentityPair], prefix: &str) -> Option<String> {
    pairs.iter().filter(|p| p.kind == 2).find_map(|p| {
        let rest = p.id.strip_prefix(prefix)?;
        uuid::Uuid::parse_str(rest).ok().map(|_| rest.to_string())
    })
}

fn of_type(pairs: &[IdentityPair], kind: i64) -> Option<String> {
    pairs.iter().find(|p| p.kind == kind).map(|p| p.id.clone())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// A record as the directory audit it reports, or `None` when it cannot be read (no time).
pub fn to_directory_audit(r: &ActivityRecord) -> Option<DirectoryAudit> {
    let when = creation_time(&r.creation_time)?;
    let upn = of_type(&r.actor, 5);
    let user_id = prefixed(&r.actor, "User_");
    let sp_id = prefixed(&r.actor, "ServicePrincipal_");
    let initiated_by = if upn.is_some() || user_id.is_some() {
        Some(AuditInitiator {
            user: Some(UserIdentity {
                id: user_id,
                display_name: None,
                user_principal_name: upn,
                ip_address: non_empty(&r.actor_ip_address),
            }),
            app: None,
        })
    } else if sp_id.is_some() {
        Some(AuditInitiator {
            user: None,
            app: Some(AppIdentity {
                app_id: None,
                display_name: of_type(&r.actor, 1),
                service_principal_id: sp_id,
                service_principal_name: None,
            }),
        })
    } else {
        None
    };
    let (kind, id) = if let Some(id) = prefixed(&r.target, "Application_") {
        (Some("Application"), Some(id))
    } else if let Some(id) = prefixed(&r.target, "ServicePrincipal_") {
        (Some("ServicePrincipal"), Some(id))
    } else {
        (None, non_empty(&r.object_id))
    };
    let operation = r.operation.trim();
    let operation = operation.strip_suffix('.').unwrap_or(operation);
    Some(DirectoryAudit {
        id: r.id.clone(),
        category: Some("ApplicationManagement".into()),
        correlation_id: non_empty(&r.inter_systems_id),
        result: r.result_status.as_ref().map(|s| s.to_ascii_lowercase()),
        result_reason: None,
        activity_display_name: operation.to_string(),
        activity_date_time: when,
        logged_by_service: Some("Core Directory".into()),
        operation_type: None,
        initiated_by,
        target_resources: vec![TargetResource {
            id,
            display_name: of_type(&r.target, 1),
            resource_type: kind.map(str::to_string),
            user_principal_name: None,
            modified_properties: r
                .modified_properties
                .iter()
                .map(|m| ModifiedProperty {
                    display_name: m.name.clone(),
                    old_value: non_empty(&m.old_value),
                    new_value: non_empty(&m.new_value),
                })
                .collect(),
        }],
        additional_details: Vec::new(),
    })
}

/// A client of the API at `base` for `tenant`, with the retry and token handling of the Graph client.
#[derive(Clone, Debug)]
pub struct ManagementClient {
    client: GraphClient,
    base: String,
    tenant: String,
}

impl ManagementClient {
    pub fn new(client: GraphClient, base: &str, tenant: &str) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
        }
    }

    fn feed(&self, path: &str) -> String {
        format!(
            "{}/api/v1.0/{}/activity/feed/{path}",
            self.base, self.tenant
        )
    }

    /// Tokens go only to the configured endpoint, whatever URL an answer names.
    fn check_origin(&self, url: &str) -> Result<(), GraphError> {
        let same = url::Url::parse(url).ok().map(|u| u.origin())
            == url::Url::parse(&self.base).ok().map(|u| u.origin());
        if same {
            Ok(())
        } else {
            Err(GraphError::Malformed {
                operation: ops::LIST_CONTENT.name,
                detail: format!("the API named a URL outside {}", self.base),
                body_excerpt: crate::graph::error::excerpt(url, 200),
            })
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `subscriptions/list`: the tenant's subscriptions (a read).
    pub async fn list_subscriptions(&self) -> Result<Vec<SubscriptionInfo>, GraphError> {
        self.client
            .get_json(&self.feed("subscriptions/list"), ops::LIST_CONTENT)
            .await
    }

    /// Start the subscription; "already enabled" is success.
    pub async fn start(&self) -> Result<Subscription, GraphError> {
        let url = self.feed(&format!("subscriptions/start?contentType={CONTENT_TYPE}"));
        match self.client.send(ops::START, Method::POST, &url, None).await {
            Ok(_) => Ok(Subscription::Started),
            Err(GraphError::BadRequest { code, message, .. })
                if code.eq_ignore_ascii_case("AF20024")
                    || message.to_ascii_lowercase().contains("already enabled") =>
            {
                Ok(Subscription::AlreadyEnabled)
            }
            Err(e) => Err(e),
        }
    }

    /// Every blob listed for `[start, end)` (at most 24 hours), following `NextPageUri`.
    pub async fn list_content(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<ContentBlob>, GraphError> {
        let fmt = "%Y-%m-%dT%H:%M:%S";
        let mut next = Some(self.feed(&format!(
            "subscriptions/content?contentType={CONTENT_TYPE}&startTime={}&endTime={}",
            start.format(fmt),
            end.format(fmt)
        )));
        let mut all = Vec::new();
        while let Some(url) = next.take() {
            self.check_origin(&url)?;
            let (text, headers) = self
                .client
                .send_with_headers(ops::LIST_CONTENT, Method::GET, &url, None)
                .await?;
            let page: Vec<ContentBlob> =
                serde_json::from_str(&text).map_err(|e| GraphError::Malformed {
                    operation: ops::LIST_CONTENT.name,
                    detail: e.to_string(),
                    body_excerpt: crate::graph::error::excerpt(&text, 200),
                })?;
            all.extend(page);
            next = headers
                .get("NextPageUri")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_string);
        }
        Ok(all)
    }

    pub async fn content(&self, blob: &ContentBlob) -> Result<Vec<ActivityRecord>, GraphError> {
        self.check_origin(&blob.content_uri)?;
        self.client
            .get_json(&blob.content_uri, ops::GET_CONTENT)
            .await
    }

    /// The records of the last 7 days at most since `since`, oldest window first, each once.
    pub async fn fetch(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<DirectoryAudit>, Subscription), GraphError> {
        let subscription = self.start().await?;
        // A minute's margin keeps the first window inside "no more than 7 days in the past" when it arrives.
        let floor = now - Duration::days(RETENTION_DAYS) + Duration::minutes(1);
        let mut start = since.max(floor);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while start < now {
            let end = (start + Duration::hours(24)).min(now);
            for blob in self.list_content(start, end).await? {
                for r in self.content(&blob).await? {
                    if r.workload
                        .as_deref()
                        .is_some_and(|w| !w.eq_ignore_ascii_case("AzureActiveDirectory"))
                        || !seen.insert(r.id.clone())
                    {
                        continue;
                    }
                    if let Some(a) = to_directory_audit(&r)
                        && a.activity_date_time >= since
                    {
                        out.push(a);
                    }
                }
            }
            start = end;
        }
        Ok((out, subscription))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsofts_sample_record_reads() {
        let r: ActivityRecord = serde_json::from_str(include_str!(
            "../../tests/fixtures/microsoft/o365/management_activity_api/audit-record.json"
        ))
        .unwrap();
        let a = to_directory_audit(&r).unwrap();
        assert_eq!(a.activity_display_name, "Add User");
        assert_eq!(
            a.activity_date_time.to_rfc3339(),
            "2015-06-29T20:04:55+00:00"
        );
        assert_eq!(a.result.as_deref(), Some("success"));
        let user = a.initiated_by.unwrap().user.unwrap();
        assert_eq!(
            user.user_principal_name.as_deref(),
            Some("admin@contoso.onmicrosoft.com")
        );
    }

    #[test]
    fn the_token_names_the_resource_of_the_cloud_not_the_url() {
        assert_eq!(
            scope_for("https://login.microsoftonline.com"),
            "https://manage.office.com/.default"
        );
        assert_eq!(
            scope_for("https://127.0.0.1:4443"),
            "https://manage.office.com/.default"
        );
        assert_eq!(
            scope_for("https://login.microsoftonline.us"),
            "https://manage.office365.us/.default"
        );
    }
}
