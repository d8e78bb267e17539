//! `$filter` schemas of applications, service principals and directory audits; `$top`/`$select` parsing.
use super::render::{APP_PROPS, SP_PROPS, sp_signing_end};
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// filters

struct AppView<'a>(&'a Application, &'a str);
struct SpView<'a>(&'a ServicePrincipal);

impl Filterable for AppView<'_> {
    fn get(&self, path: &str) -> Val<'_> {
        let a = self.0;
        match path {
            "id" => Val::Str(Cow::Owned(a.id.to_string())),
            "appId" => Val::Str(Cow::Owned(a.app_id.to_string())),
            "displayName" => Val::Str(Cow::Borrowed(&a.display_name)),
            "publisherDomain" => Val::Str(Cow::Borrowed(self.1)),
            "signInAudience" => Val::Str(Cow::Borrowed(a.sign_in_audience)),
            "createdDateTime" => Val::Time(a.created),
            "notes" => a
                .notes
                .as_deref()
                .map(|n| Val::Str(Cow::Borrowed(n)))
                .unwrap_or(Val::Null),
            _ => Val::Null,
        }
    }
    fn any(&self, coll: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        let items = match coll {
            "identifierUris" => &self.0.identifier_uris,
            "tags" => &self.0.tags,
            _ => return false,
        };
        items.iter().any(|s| pred(&StrItem(s)))
    }
}

impl Filterable for SpView<'_> {
    fn get(&self, path: &str) -> Val<'_> {
        let s = self.0;
        match path {
            "id" => Val::Str(Cow::Owned(s.id.to_string())),
            "appId" => Val::Str(Cow::Owned(s.app_id.to_string())),
            "displayName" => Val::Str(Cow::Borrowed(&s.display_name)),
            "servicePrincipalType" => Val::Str(Cow::Borrowed("Application")),
            "accountEnabled" => Val::Bool(s.account_enabled),
            "appOwnerOrganizationId" => {
                Val::Str(Cow::Owned(s.app_owner_organization_id.to_string()))
            }
            "preferredSingleSignOnMode" => s
                .preferred_single_sign_on_mode
                .map(|m| Val::Str(Cow::Borrowed(m)))
                .unwrap_or(Val::Null),
            "preferredTokenSigningKeyEndDateTime" => {
                sp_signing_end(s).map(Val::Time).unwrap_or(Val::Null)
            }
            _ => Val::Null,
        }
    }
    fn any(&self, coll: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        match coll {
            "tags" => self.0.tags.iter().any(|s| pred(&StrItem(s))),
            "servicePrincipalNames" => pred(&StrItem(&self.0.app_id.to_string())),
            _ => false,
        }
    }
}

const EQ: &[CmpOp] = &[CmpOp::Eq, CmpOp::In, CmpOp::Ne];
const EQ_SW: &[CmpOp] = &[CmpOp::Eq, CmpOp::In, CmpOp::Ne, CmpOp::StartsWith];
const RANGE: &[CmpOp] = &[CmpOp::Ge, CmpOp::Le, CmpOp::Eq, CmpOp::Gt, CmpOp::Lt];
const STR_ITEMS: &[Prop] = &[Prop {
    path: "",
    ty: Ty::Str,
    ops: EQ_SW,
}];

/// Default + advanced filters from Microsoft's "advanced query capabilities" table of directory objects.
static APP_SCHEMA: Schema = Schema {
    resource: "Application",
    props: &[
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "appId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "displayName",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "publisherDomain",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "signInAudience",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "createdDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
        Prop {
            path: "notes",
            ty: Ty::Str,
            ops: EQ_SW,
        },
    ],
    colls: &[
        Coll {
            path: "identifierUris",
            items: STR_ITEMS,
        },
        Coll {
            path: "tags",
            items: STR_ITEMS,
        },
    ],
    complex_unsupported: &["passwordCredentials", "keyCredentials"],
    advanced_only: &[CmpOp::Ne],
};

static SP_SCHEMA: Schema = Schema {
    resource: "ServicePrincipal",
    props: &[
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "appId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "displayName",
            ty: Ty::Str,
            ops: EQ_SW,
        },
        Prop {
            path: "servicePrincipalType",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "accountEnabled",
            ty: Ty::Bool,
            ops: EQ,
        },
        Prop {
            path: "appOwnerOrganizationId",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "preferredSingleSignOnMode",
            ty: Ty::Str,
            ops: EQ,
        },
        Prop {
            path: "preferredTokenSigningKeyEndDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
    ],
    colls: &[
        Coll {
            path: "tags",
            items: STR_ITEMS,
        },
        Coll {
            path: "servicePrincipalNames",
            items: STR_ITEMS,
        },
    ],
    complex_unsupported: &["passwordCredentials", "keyCredentials"],
    advanced_only: &[CmpOp::Ne],
};

const AUDIT_STR: &[CmpOp] = &[CmpOp::Eq, CmpOp::StartsWith];
const AUDIT_EQ: &[CmpOp] = &[CmpOp::Eq];

/// directoryAudit filters (the filter table of Microsoft's directoryAudit resource page), plus `category eq` which
/// clients use.
pub(super) static AUDIT_SCHEMA: Schema = Schema {
    resource: "directoryAudit",
    props: &[
        Prop {
            path: "activityDateTime",
            ty: Ty::Time,
            ops: RANGE,
        },
        Prop {
            path: "activityDisplayName",
            ty: Ty::Str,
            ops: AUDIT_STR,
        },
        Prop {
            path: "loggedByService",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "category",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "correlationId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "id",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "operationType",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "result",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/id",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/displayName",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/user/userPrincipalName",
            ty: Ty::Str,
            ops: AUDIT_STR,
        },
        Prop {
            path: "initiatedBy/app/appId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/app/displayName",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
        Prop {
            path: "initiatedBy/app/servicePrincipalId",
            ty: Ty::Str,
            ops: AUDIT_EQ,
        },
    ],
    colls: &[Coll {
        path: "targetResources",
        items: &[
            Prop {
                path: "id",
                ty: Ty::Str,
                ops: AUDIT_EQ,
            },
            Prop {
                path: "displayName",
                ty: Ty::Str,
                ops: AUDIT_STR,
            },
            Prop {
                path: "type",
                ty: Ty::Str,
                ops: AUDIT_EQ,
            },
        ],
    }],
    complex_unsupported: &[],
    advanced_only: &[],
};

pub(in crate::emulator) fn schema(kind: Kind) -> &'static Schema {
    match kind {
        Kind::Application => &APP_SCHEMA,
        Kind::ServicePrincipal => &SP_SCHEMA,
    }
}

pub(super) fn matches(tenant: &Tenant, kind: Kind, idx: usize, filter: Option<&Filter>) -> bool {
    let Some(f) = filter else { return true };
    match kind {
        Kind::Application => odata::eval(f, &AppView(&tenant.apps[idx], &tenant.domain)),
        Kind::ServicePrincipal => odata::eval(f, &SpView(&tenant.sps[idx])),
    }
}

pub(super) fn parse_top(
    ctx: &Ctx,
    top: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, Reply> {
    let Some(t) = top else { return Ok(default) };
    match t.trim().parse::<i64>() {
        Ok(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Ok(_) => Err(ctx.bad_request(&format!(
            "Invalid page size specified: '{t}'. Must be between 1 and {max} inclusive."
        ))),
        Err(_) => Err(ctx.error(
            400,
            "BadRequest",
            &format!("Invalid value '{t}' for query option '$top': it must be a positive integer."),
        )),
    }
}

pub(super) fn parse_select(
    ctx: &Ctx,
    kind: Kind,
    raw: Option<&str>,
) -> Result<Option<Vec<&'static str>>, Reply> {
    let Some(raw) = raw else { return Ok(None) };
    let props = if kind == Kind::Application {
        APP_PROPS
    } else {
        SP_PROPS
    };
    let type_name = if kind == Kind::Application {
        "application"
    } else {
        "servicePrincipal"
    };
    odata::parse_select(raw, props).map(Some).map_err(|name| {
        ctx.error(
            400,
            "Request_BadRequest",
            &format!(
                "Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'."
            ),
        )
    })
}

pub(super) fn expired_token(ctx: &Ctx) -> Reply {
    ctx.error(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}
