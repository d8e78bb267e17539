//! The Office 365 Management Activity API on the Graph port (`/api/v1.0/{tenant}/activity/feed/...`), served from the
//! same audit history as `/auditLogs/directoryAudits`: `subscriptions/start` (its second call answers 400 AF20024
//! "already enabled", as the service does), `subscriptions/list`, `subscriptions/content` (windows of at most 24 hours
//! within the last 7 days, paged with a `NextPageUri` header) and the content blobs, one per hour of events, holding
//! `Audit.AzureActiveDirectory` records (tests/fixtures/microsoft/o365/management_activity_api/).
use super::Shared;
use super::audit::{AuditEvent, Caller};
use super::http::{PLAIN_JSON, Reply, lock};
use super::model::graph_now;
use super::token::{Audience, AuthError, authenticate};
use axum::http::{HeaderMap, Method};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

const AAD: &str = "Audit.AzureActiveDirectory";
const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];
/// Blobs per content listing page: small, so that paging is exercised by the demo's history.
const PAGE: usize = 1;
const RETENTION_DAYS: i64 = 7;

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        PLAIN_JSON,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn query<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` (UTC; a trailing `Z` or fraction tolerated).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim().trim_end_matches('Z');
    let s = s.split('.').next().unwrap_or(s);
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

fn content_id(tenant: Uuid, hour: DateTime<Utc>) -> String {
    let t = tenant.simple();
    let h = hour.format("%Y%m%d%H");
    format!("{h}${t}aad{h}${t}$04")
}

fn hour_of_content_id(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.split('$').next()?;
    NaiveDateTime::parse_from_str(&format!("{stamp}0000"), "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// A stable record id from the directory audit id.
fn record_id(e: &AuditEvent) -> Uuid {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in e.id.bytes() {
        a = (a ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        b = (b ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x5bd1);
    }
    Uuid::from_u128(((a as u128) << 64) | b as u128)
}

/// One `Audit.AzureActiveDirectory` record of a directory audit event.
pub(crate) fn record(e: &AuditEvent, tenant: Uuid) -> Value {
    let (actor, user_id, user_key, user_type, ip) = match &e.initiated_by {
        Caller::User {
            id,
            user_principal_name,
            ..
        } => (
            json!([
                {"ID": user_principal_name, "Type": 5},
                {"ID": format!("User_{id}"), "Type": 2},
                {"ID": id.to_string(), "Type": 2},
                {"ID": "User", "Type": 2},
            ]),
            user_principal_name.clone(),
            id.to_string(),
            0,
            Some("127.0.0.1"),
        ),
        Caller::App {
            app_id,
            display_name,
            service_principal_id,
        } => (
            json!([
                {"ID": display_name, "Type": 1},
                {"ID": format!("ServicePrincipal_{service_principal_id}"), "Type": 2},
                {"ID": service_principal_id.to_string(), "Type": 2},
                {"ID": "ServicePrincipal", "Type": 2},
                {"ID": app_id, "Type": 2},
            ]),
            format!("ServicePrincipal_{service_principal_id}"),
            "Not Available".to_string(),
            6,
            None,
        ),
    };
    let kind = if e.target.kind.eq_ignore_ascii_case("ServicePrincipal") {
        "ServicePrincipal"
    } else {
        "Application"
    };
    let modified: Vec<Value> = e
        .target
        .modified_properties
        .iter()
        .map(|m| {
            json!({
                "Name": m.display_name,
                "NewValue": m.new_value.clone().unwrap_or_default(),
                "OldValue": m.old_value.clone().unwrap_or_default(),
            })
        })
        .collect();
    let mut r = json!({
        "CreationTime": e.activity_date_time.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "Id": record_id(e).to_string(),
        "Operation": format!("{}.", e.activity_display_name),
        "OrganizationId": tenant.to_string(),
        "RecordType": 8,
        "ResultStatus": "Success",
        "UserKey": user_key,
        "UserType": user_type,
        "Version": 1,
        "Workload": "AzureActiveDirectory",
        "ObjectId": e.target.id.to_string(),
        "UserId": user_id,
        "AzureActiveDirectoryEventType": 1,
        "ExtendedProperties": [
            {"Name": "additionalDetails", "Value": "{}"},
            {"Name": "extendedAuditEventCategory", "Value": kind},
        ],
        "ModifiedProperties": modified,
        "Actor": actor,
        "ActorContextId": tenant.to_string(),
        "InterSystemsId": e.correlation_id.to_string(),
        "IntraSystemId": record_id(e).to_string(),
        "SupportTicketId": "",
        "Target": [
            {"ID": format!("{kind}_{}", e.target.id), "Type": 2},
            {"ID": e.target.id.to_string(), "Type": 2},
            {"ID": kind, "Type": 2},
            {"ID": e.target.display_name, "Type": 1},
        ],
        "TargetContextId": tenant.to_string(),
    });
    if let Some(ip) = ip {
        r["ActorIpAddress"] = json!(ip);
        r["ClientIP"] = json!(ip);
    }
    r
}

/// `Some` for requests under `/api/v1.0/{tenant}/activity/feed/`.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    segs: &[String],
    q: &[(String, String)],
    headers: &HeaderMap,
) -> Option<Reply> {
    let [api, version, tenant, activity, feed, rest @ ..] = segs else {
        return None;
    };
    if !api.eq_ignore_ascii_case("api")
        || !activity.eq_ignore_ascii_case("activity")
        || !feed.eq_ignore_ascii_case("feed")
    {
        return None;
    }
    if version != "v1.0" && version != "v1" {
        return Some(error(404, "AF20052", "Unknown API version."));
    }
    let auth = match authenticate(shared, headers, Audience::Office365) {
        Ok(a) => a,
        Err(AuthError::WrongAudience { .. }) => {
            return Some(error(
                401,
                "AF10001",
                "The access token was not issued for https://manage.office.com.",
            ));
        }
        Err(_) => {
            return Some(error(
                401,
                "AF10001",
                "Authorization has been denied for this request.",
            ));
        }
    };
    if !auth.has_role("ActivityFeed.Read") {
        return Some(error(
            403,
            "AF10001",
            &format!(
                "The permission set ({}) sent in the request did not include the expected permission ActivityFeed.Read.",
                auth.roles.join(",")
            ),
        ));
    }
    let tenant_id = lock(&shared.tenant).tenant_id;
    if !tenant.eq_ignore_ascii_case(&tenant_id.to_string()) {
        return Some(error(
            400,
            "AF20010",
            &format!(
                "The tenant ID passed in the URL ({tenant}) does not match the tenant ID passed in the access token ({tenant_id})."
            ),
        ));
    }
    let base = format!(
        "{}/api/v1.0/{tenant_id}/activity/feed",
        shared.info.graph_url.trim_end_matches('/')
    );
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    Some(match (method, rest.as_slice()) {
        (&Method::POST, ["subscriptions", "start"]) => start(shared, q),
        (&Method::POST, ["subscriptions", "stop"]) => stop(shared, q),
        (&Method::GET, ["subscriptions", "list"]) => list(shared),
        (&Method::GET, ["subscriptions", "content"]) => content(shared, q, &base),
        (&Method::GET, ["audit", id]) => blob(shared, id),
        _ => error(404, "AF20050", "The specified resource does not exist."),
    })
}

fn content_type(q: &[(String, String)]) -> Result<String, Reply> {
    match query(q, "contentType") {
        None => Err(error(400, "AF20001", "Missing parameter: contentType.")),
        Some(c) => CONTENT_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(c))
            .map(|t| t.to_string())
            .ok_or_else(|| error(400, "AF20020", "The specified content type is not valid.")),
    }
}

fn subscription(content_type: &str) -> Value {
    json!({"contentType": content_type, "status": "enabled", "webhook": null})
}

fn start(shared: &Shared, q: &[(String, String)]) -> Reply {
    let ct = match content_type(q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut tenant = lock(&shared.tenant);
    if tenant.office365_subscriptions.contains(&ct) {
        return error(
            400,
            "AF20024",
            "The subscription is already enabled. No property change.",
        );
    }
    tenant.office365_subscriptions.push(ct.clone());
    Reply::json(200, PLAIN_JSON, &subscription(&ct))
}

fn stop(shared: &Shared, q: &[(String, String)]) -> Reply {
    let ct = match content_type(q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    lock(&shared.tenant)
        .office365_subscriptions
        .retain(|c| *c != ct);
    Reply::empty(200)
}

fn list(shared: &Shared) -> Reply {
    let subs: Vec<Value> = lock(&shared.tenant)
        .office365_subscriptions
        .iter()
        .map(|c| subscription(c))
        .collect();
    Reply::json(200, PLAIN_JSON, &subs)
}

/// The hours holding events, each a blob available at the end of its hour (or now, for the current hour).
fn blobs(shared: &Shared, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let tenant = lock(&shared.tenant);
    let mut hours: Vec<DateTime<Utc>> = tenant
        .audits
        .iter()
        .map(|e| hour_of(e.activity_date_time))
        .filter(|h| *h >= hour_of(now - Duration::days(RETENTION_DAYS)))
        .collect();
    hours.sort();
    hours.dedup();
    hours
        .into_iter()
        .map(|h| (h, (h + Duration::hours(1)).min(now)))
        .collect()
}

fn window_error() -> Reply {
    error(
        400,
        "AF20055",
        "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours \
         apart, with the start time prior to end time and start time no more than 7 days in the past.",
    )
}

fn content(shared: &Shared, q: &[(String, String)], base: &str) -> Reply {
    let ct = match content_type(q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !lock(&shared.tenant).office365_subscriptions.contains(&ct) {
        return error(
            400,
            "AF20022",
            "No subscription found for the specified content type.",
        );
    }
    let now = graph_now();
    let (start, end) = match (query(q, "startTime"), query(q, "endTime")) {
        (None, None) => (now - Duration::hours(24), now),
        (Some(s), Some(e)) => match (parse_time(s), parse_time(e)) {
            (Some(s), Some(e)) => (s, e),
            _ => {
                return error(
                    400,
                    "AF20002",
                    "Invalid parameter type: startTime. Expected type: datetime",
                );
            }
        },
        _ => return window_error(),
    };
    if start >= end
        || end - start > Duration::hours(24)
        || start < now - Duration::days(RETENTION_DAYS)
    {
        return window_error();
    }
    let tenant_id = lock(&shared.tenant).tenant_id;
    let listed: Vec<Value> = if ct == AAD {
        blobs(shared, now)
            .into_iter()
            .filter(|(_, created)| *created >= start && *created < end)
            .map(|(hour, created)| {
                let id = content_id(tenant_id, hour);
                json!({
                    "contentType": AAD,
                    "contentId": id,
                    "contentUri": format!("{base}/audit/{id}"),
                    "contentCreated": created.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                    "contentExpiration": (created + Duration::days(RETENTION_DAYS))
                        .format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let offset: usize = match query(q, "nextPage") {
        None => 0,
        Some(p) => match p.parse() {
            Ok(n) if n <= listed.len() => n,
            _ => return error(400, "AF20031", &format!("Invalid nextPage Input: {p}.")),
        },
    };
    let page: Vec<Value> = listed.iter().skip(offset).take(PAGE).cloned().collect();
    let mut reply = Reply::json(200, PLAIN_JSON, &page);
    if offset + PAGE < listed.len() {
        let fmt = "%Y-%m-%dT%H:%M:%S";
        reply = reply.with_header(
            "NextPageUri",
            format!(
                "{base}/subscriptions/content?contentType={ct}&startTime={}&endTime={}&nextPage={}",
                start.format(fmt),
                end.format(fmt),
                offset + PAGE
            ),
        );
    }
    reply
}

fn blob(shared: &Shared, id: &str) -> Reply {
    let now = graph_now();
    let Some(hour) = hour_of_content_id(id) else {
        return error(
            400,
            "AF20052",
            &format!("Content ID {id} in the URL is invalid."),
        );
    };
    if hour + Duration::hours(1) < now - Duration::days(RETENTION_DAYS) {
        return error(
            400,
            "AF20051",
            &format!(
                "Content requested with the key {id} has already expired. Content older than 7 days cannot be retrieved."
            ),
        );
    }
    let tenant = lock(&shared.tenant);
    if content_id(tenant.tenant_id, hour) != id {
        return error(
            404,
            "AF20050",
            &format!("The specified content ({id}) does not exist."),
        );
    }
    let records: Vec<Value> = tenant
        .audits
        .iter()
        .filter(|e| hour_of(e.activity_date_time) == hour)
        .map(|e| record(e, tenant.tenant_id))
        .collect();
    Reply::json(200, PLAIN_JSON, &records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_content_ids_round_trip() {
        let t = parse_time("2026-11-30T10:15").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T10:15:00+00:00");
        assert_eq!(
            parse_time("2026-11-30").unwrap().to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert!(parse_time("yesterday").is_none());
        let hour = hour_of(t);
        let id = content_id(Uuid::nil(), hour);
        assert_eq!(hour_of_content_id(&id), Some(hour));
    }
}
