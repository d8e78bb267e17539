//! `auditLogs/directoryAudits`: filtered, paged directory audit events.
use super::filters::{AUDIT_SCHEMA, expired_token, parse_top};
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// directoryAudits

#[derive(Serialize, Deserialize)]
struct AuditToken {
    n: String,
    /// Ascending: next index to read. Descending: exclusive upper bound.
    o: usize,
}

pub(super) fn audits(shared: &Shared, ctx: &Ctx, q: &QueryOptions) -> Reply {
    let top = match parse_top(ctx, q.top.as_deref(), DEFAULT_PAGE, MAX_AUDIT_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let filter = match q
        .filter
        .as_deref()
        .map(|f| odata::compile(f, &AUDIT_SCHEMA, false))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let ascending = match q.orderby.as_deref().map(|o| o.trim().to_ascii_lowercase()) {
        None => false,
        Some(o) if o == "activitydatetime desc" => false,
        Some(o) if o == "activitydatetime asc" || o == "activitydatetime" => true,
        Some(o) => {
            return ctx.error(
                400,
                "BadRequest",
                &format!("$orderby is only supported on activityDateTime, not '{o}'."),
            );
        }
    };
    let tenant = lock(&shared.tenant);
    let len = tenant.audits.len();
    let start = match q.skiptoken.as_deref() {
        None if ascending => 0,
        None => len,
        Some(t) => {
            match decode_token::<AuditToken>(t).filter(|a| a.n == shared.nonce && a.o <= len) {
                Some(a) => a.o,
                None => return expired_token(ctx),
            }
        }
    };
    // Entra keeps directory audits 30 days with P1/P2 and 7 days on Free: older events are gone.
    let retention_days = if shared.faults.entra_id_p1() {
        AUDIT_RETENTION_P1_DAYS
    } else {
        AUDIT_RETENTION_FREE_DAYS
    };
    let oldest = super::model::graph_now() - chrono::Duration::days(retention_days);
    let keep = |e: &AuditEvent| {
        e.activity_date_time >= oldest && filter.as_ref().is_none_or(|f| odata::eval(f, e))
    };
    let order: Box<dyn Iterator<Item = usize>> = if ascending {
        Box::new(start..len)
    } else {
        Box::new((0..start).rev())
    };
    let mut value = Vec::new();
    let mut next = None;
    for i in order {
        if !keep(&tenant.audits[i]) {
            continue;
        }
        if value.len() == top {
            next = Some(if ascending { i } else { i + 1 });
            break;
        }
        value.push(tenant.audits[i].to_json().into_value());
    }
    let mut o = Obj::new().with(
        "@odata.context",
        format!("{}/$metadata#auditLogs/directoryAudits", ctx.base),
    );
    if let Some(n) = next {
        let mut link = format!("{}/auditLogs/directoryAudits?", ctx.base);
        for (name, v) in [
            ("$top", &q.top),
            ("$filter", &q.filter),
            ("$orderby", &q.orderby),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("{name}={}&", pct_encode_query(v)));
            }
        }
        link.push_str(&format!(
            "$skiptoken={}",
            encode_token(&AuditToken {
                n: shared.nonce.clone(),
                o: n
            })
        ));
        o.push("@odata.nextLink", link);
    }
    o.push("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}
