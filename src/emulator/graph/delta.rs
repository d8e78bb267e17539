//! Delta queries of applications and service principals, with their `$skiptoken`/`$deltatoken` state.
use super::collections::kind_char;
use super::filters::{matches, parse_select, parse_top};
use super::render::{context, render};
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// delta

/// Delta state inside `$skiptoken` (mid-round) and `$deltatoken` (between rounds). Like Graph, the query options
/// of the first request (`$select`, `$filter`, `$top`) live inside the token, so follow-up links carry nothing else.
#[derive(Serialize, Deserialize, Clone)]
struct DeltaToken {
    n: String,
    k: char,
    /// Changes after this sequence number (0 = initial round: everything live).
    s: u64,
    /// Round snapshot: changes up to this number belong to this round.
    u: u64,
    /// Next index to scan (mid-round only).
    o: usize,
    sel: Option<String>,
    f: Option<String>,
    t: Option<String>,
}

pub(super) fn delta(shared: &Shared, ctx: &Ctx, kind: Kind, q: &QueryOptions) -> Reply {
    let read_lag = shared.faults.read_lag();
    // An unknown, foreign or future token: 400 Request_BadRequest. The directory family of errors
    // (tests/fixtures/microsoft/graph/graph_errors/) rather than OneDrive's `resyncRequired`/410, because
    // applications and service principals are directory objects; third-party evidence says "HTTP 400"
    // (reports on real tenants).
    let invalid = || {
        ctx.bad_request(
            "The delta token is invalid or has expired. Start a new delta round without a token.",
        )
    };
    let current = lock(&shared.tenant).seq;
    let mut state = if let Some(t) = q.skiptoken.as_deref() {
        match decode_token::<DeltaToken>(t)
            .filter(|d| d.n == shared.nonce && d.k == kind_char(kind) && d.u <= current)
        {
            Some(d) => d,
            None => return invalid(),
        }
    } else if let Some(t) = q.deltatoken.as_deref() {
        if t.eq_ignore_ascii_case("latest") {
            let token = DeltaToken {
                n: shared.nonce.clone(),
                k: kind_char(kind),
                s: current,
                u: current,
                o: 0,
                sel: q.select.clone(),
                f: q.filter.clone(),
                t: q.top.clone(),
            };
            let o = Obj::new()
                .with("@odata.context", context(ctx, kind.set_name(), None, false))
                .with(
                    "@odata.deltaLink",
                    format!(
                        "{}/{}/delta?$deltatoken={}",
                        ctx.base,
                        kind.set_name(),
                        encode_token(&token)
                    ),
                )
                .with("value", json!([]));
            return Reply::json(200, GRAPH_JSON, &o);
        }
        match decode_token::<DeltaToken>(t)
            .filter(|d| d.n == shared.nonce && d.k == kind_char(kind) && d.s <= current)
        {
            Some(d) => DeltaToken {
                u: current,
                o: 0,
                ..d
            },
            None => return invalid(),
        }
    } else {
        DeltaToken {
            n: shared.nonce.clone(),
            k: kind_char(kind),
            s: 0,
            u: current,
            o: 0,
            sel: q.select.clone(),
            f: q.filter.clone(),
            t: q.top.clone(),
        }
    };
    let top = match parse_top(ctx, state.t.as_deref(), DEFAULT_PAGE, MAX_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut select = match parse_select(ctx, kind, state.sel.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Delta always returns the id.
    if let Some(sel) = select.as_mut()
        && !sel.contains(&"id")
    {
        sel.insert(0, "id");
    }
    let filter = match state
        .f
        .as_deref()
        .map(|f| odata::compile(f, schema(kind), false))
        .transpose()
    {
        Ok(Some(f)) if !odata::is_id_filter(&f) => {
            return ctx.error(
                400,
                "Request_UnsupportedQuery",
                "The only supported $filter expression for delta is 'id eq'.",
            );
        }
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let tenant = lock(&shared.tenant);
    let len = match kind {
        Kind::Application => tenant.apps.len(),
        Kind::ServicePrincipal => tenant.sps.len(),
    };
    let mut value = Vec::new();
    let mut next = None;
    for i in state.o..len {
        let (seq, deleted, id) = match kind {
            Kind::Application => (
                tenant.apps[i].seq,
                tenant.apps[i].deleted,
                tenant.apps[i].id,
            ),
            Kind::ServicePrincipal => (tenant.sps[i].seq, tenant.sps[i].deleted, tenant.sps[i].id),
        };
        let in_round = if state.s == 0 {
            !deleted && seq <= state.u
        } else {
            seq > state.s && seq <= state.u
        };
        if !in_round || !matches(&tenant, kind, i, filter.as_ref()) {
            continue;
        }
        if value.len() == top {
            next = Some(i);
            break;
        }
        if deleted {
            value.push(json!({"@odata.type": kind.odata_type(), "id": id.to_string(), "@removed": {"reason": "deleted"}}));
        } else {
            value.push(render(&tenant, kind, i, select.as_deref(), read_lag).into_value());
        }
    }
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), false),
    );
    match next {
        Some(i) => {
            state.o = i;
            o.push(
                "@odata.nextLink",
                format!(
                    "{}/{}/delta?$skiptoken={}",
                    ctx.base,
                    kind.set_name(),
                    encode_token(&state)
                ),
            );
        }
        None => {
            let link = DeltaToken {
                s: state.u,
                o: 0,
                ..state
            };
            o.push(
                "@odata.deltaLink",
                format!(
                    "{}/{}/delta?$deltatoken={}",
                    ctx.base,
                    kind.set_name(),
                    encode_token(&link)
                ),
            );
        }
    }
    o.push("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}
