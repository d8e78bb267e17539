//! List, get and owners of applications and service principals; the addPassword/removePassword bodies.
use super::filters::{expired_token, matches, parse_select, parse_top};
use super::render::{context, render};
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// list / get / owners

/// Position in a listing; tied to this emulator run by the nonce.
#[derive(Serialize, Deserialize)]
struct PageToken {
    n: String,
    k: char,
    o: usize,
}

pub(super) fn kind_char(kind: Kind) -> char {
    if kind == Kind::Application { 'a' } else { 's' }
}

pub(super) fn list(
    shared: &Shared,
    ctx: &Ctx,
    kind: Kind,
    q: &QueryOptions,
    advanced: bool,
) -> Reply {
    let read_lag = shared.faults.read_lag();
    let top = match parse_top(ctx, q.top.as_deref(), DEFAULT_PAGE, MAX_PAGE) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let select = match parse_select(ctx, kind, q.select.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let advanced = advanced && q.count_requested();
    let filter = match q
        .filter
        .as_deref()
        .map(|f| odata::compile(f, schema(kind), advanced))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return ctx.filter_error(&e),
    };
    let start = match q.skiptoken.as_deref() {
        None => 0,
        Some(t) => match decode_token::<PageToken>(t)
            .filter(|p| p.n == shared.nonce && p.k == kind_char(kind))
        {
            Some(p) => p.o,
            None => return expired_token(ctx),
        },
    };
    let tenant = lock(&shared.tenant);
    let len = match kind {
        Kind::Application => tenant.apps.len(),
        Kind::ServicePrincipal => tenant.sps.len(),
    };
    let live = |i: usize| match kind {
        Kind::Application => !tenant.apps[i].deleted,
        Kind::ServicePrincipal => !tenant.sps[i].deleted,
    };
    let mut value = Vec::with_capacity(top.min(len));
    let mut next = None;
    for i in start..len {
        if !live(i) || !matches(&tenant, kind, i, filter.as_ref()) {
            continue;
        }
        if value.len() == top {
            // Only hand out a nextLink when another match exists: no empty last page.
            next = Some(i);
            break;
        }
        value.push(render(&tenant, kind, i, select.as_deref(), read_lag));
    }
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), false),
    );
    if advanced {
        let count = (0..len)
            .filter(|i| live(*i) && matches(&tenant, kind, *i, filter.as_ref()))
            .count();
        o.push("@odata.count", count);
    }
    if let Some(next) = next {
        let token = encode_token(&PageToken {
            n: shared.nonce.clone(),
            k: kind_char(kind),
            o: next,
        });
        let mut link = format!("{}/{}?", ctx.base, kind.set_name());
        for (name, v) in [
            ("$top", &q.top),
            ("$select", &q.select),
            ("$filter", &q.filter),
            ("$count", &q.count),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("{name}={}&", pct_encode_query(v)));
            }
        }
        link.push_str(&format!("$skiptoken={token}"));
        o.push("@odata.nextLink", link);
    }
    o.push(
        "value",
        Value::Array(value.into_iter().map(Obj::into_value).collect()),
    );
    Reply::json(200, GRAPH_JSON, &o)
}

pub(super) fn get(shared: &Shared, ctx: &Ctx, kind: Kind, idx: usize, q: &QueryOptions) -> Reply {
    let select = match parse_select(ctx, kind, q.select.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tenant = lock(&shared.tenant);
    let mut o = Obj::new().with(
        "@odata.context",
        context(ctx, kind.set_name(), select.as_deref(), true),
    );
    let read_lag = shared.faults.read_lag();
    o.0.extend(render(&tenant, kind, idx, select.as_deref(), read_lag).0);
    Reply::json(200, GRAPH_JSON, &o)
}

/// An application's owners. `user_names` false: the caller may read applications but not users, and Graph returns
/// each user as its `@odata.type` and `id` with every other property null (Microsoft Graph's List owners page:
/// "limited information" for objects of a type the caller cannot read).
pub(super) fn owners(
    shared: &Shared,
    ctx: &Ctx,
    kind: Kind,
    idx: usize,
    user_names: bool,
) -> Reply {
    let tenant = lock(&shared.tenant);
    let value: Vec<Value> = tenant
        .owners(kind, idx)
        .iter()
        .filter_map(|id| tenant.principal(id))
        .map(|p| match p {
            Owner::User(u) if !user_names => json!({
                "@odata.type": "#microsoft.graph.user",
                "id": u.id.to_string(),
                "businessPhones": null,
                "displayName": null,
                "givenName": null,
                "jobTitle": null,
                "mail": null,
                "mobilePhone": null,
                "officeLocation": null,
                "preferredLanguage": null,
                "surname": null,
                "userPrincipalName": null,
            }),
            Owner::User(u) => json!({
                "@odata.type": "#microsoft.graph.user",
                "id": u.id.to_string(),
                "businessPhones": [],
                "displayName": u.display_name,
                "givenName": null,
                "jobTitle": null,
                "mail": u.mail,
                "mobilePhone": null,
                "officeLocation": null,
                "preferredLanguage": null,
                "surname": null,
                "userPrincipalName": u.user_principal_name,
            }),
            Owner::ServicePrincipal(s) => sp_owner_json(s.id, s.app_id, &s.display_name),
            Owner::Client {
                id,
                app_id,
                display_name,
            } => sp_owner_json(id, app_id, display_name),
        })
        .collect();
    let o = Obj::new()
        .with(
            "@odata.context",
            format!("{}/$metadata#directoryObjects", ctx.base),
        )
        .with("value", Value::Array(value));
    Reply::json(200, GRAPH_JSON, &o)
}

fn sp_owner_json(id: Uuid, app_id: Uuid, display_name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": id.to_string(),
        "accountEnabled": true,
        "appDisplayName": display_name,
        "appId": app_id.to_string(),
        "displayName": display_name,
        "servicePrincipalType": "Application",
    })
}

// ---------------------------------------------------------------------------------------------------------------
// addPassword / removePassword bodies

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AddPasswordBody {
    password_credential: Option<PasswordCredentialIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PasswordCredentialIn {
    display_name: Option<String>,
    start_date_time: Option<String>,
    end_date_time: Option<String>,
}

fn bad_json(ctx: &Ctx) -> Reply {
    ctx.error(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
    )
}

pub(super) fn parse_add_password(ctx: &Ctx, body: &[u8]) -> Result<NewPassword, Reply> {
    let parsed: AddPasswordBody = if body.iter().all(u8::is_ascii_whitespace) {
        AddPasswordBody::default()
    } else {
        serde_json::from_slice(body).map_err(|_| bad_json(ctx))?
    };
    let pc = parsed.password_credential.unwrap_or_default();
    let date = |v: Option<String>, name: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match v {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s).map(|d| Some(d.with_timezone(&Utc))).map_err(|_| {
                ctx.bad_request(&format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))
            }),
        }
    };
    let start = date(pc.start_date_time, "startDateTime")?;
    let end = date(pc.end_date_time, "endDateTime")?;
    if let (Some(s), Some(e)) = (start.or(Some(Utc::now())), end)
        && e <= s
    {
        return Err(ctx.bad_request(
            "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
        ));
    }
    Ok(NewPassword {
        display_name: pc.display_name,
        start,
        end,
    })
}

pub(super) fn parse_remove_password(ctx: &Ctx, kind: Kind, body: &[u8]) -> Result<Uuid, Reply> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RemoveBody {
        key_id: Option<String>,
    }
    let parsed: RemoveBody = serde_json::from_slice(body).map_err(|_| bad_json(ctx))?;
    parsed
        .key_id
        .and_then(|k| Uuid::parse_str(&k).ok())
        .ok_or_else(|| {
            ctx.bad_request(&format!(
                "Invalid value specified for property 'keyId' of resource '{}'.",
                kind.resource_name()
            ))
        })
}
