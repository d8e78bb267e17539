//! `PATCH /applications/{id}` (and `/servicePrincipals/{id}`) with `keyCredentials`: how a certificate is removed
//! from an app without the proof-of-possession JWT that `removeKey` requires. The body is the whole collection to
//! keep; the emulator only accepts removals (every entry names a keyId the object has). Other properties are not
//! served. Like removePassword, the change is recorded in the audit log.
use super::Shared;
use super::graph::Ctx;
use super::http::{Reply, lock};
use super::model::Kind;
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn patch_key_credentials(
    shared: &Shared,
    ctx: &Ctx,
    kind: Kind,
    idx: usize,
    body: &[u8],
    caller: &super::audit::Caller,
) -> Reply {
    let invalid = |what: &str| {
        ctx.error(
            400,
            "Request_BadRequest",
            &format!(
                "Invalid value specified for property 'keyCredentials' of resource '{}': {what}",
                kind.resource_name()
            ),
        )
    };
    let Ok(Value::Object(props)) = serde_json::from_slice::<Value>(body) else {
        return ctx.error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    if let Some(other) = props.keys().find(|k| *k != "keyCredentials") {
        return ctx.error(
            400,
            "Request_BadRequest",
            &format!("The emulator only updates keyCredentials, not '{other}'."),
        );
    }
    let Some(Value::Array(list)) = props.get("keyCredentials") else {
        return invalid("a collection is required");
    };
    let mut keep = Vec::new();
    for entry in list {
        let Some(key_id) = entry["keyId"]
            .as_str()
            .and_then(|k| Uuid::parse_str(k).ok())
        else {
            return invalid("every entry needs its keyId");
        };
        keep.push(key_id);
    }
    let mut tenant = lock(&shared.tenant);
    match tenant.retain_key_credentials(kind, idx, &keep, caller) {
        Ok(()) => Reply::empty(204),
        Err(unknown) => invalid(&format!(
            "the emulator cannot add key {unknown} (only removals are served)"
        )),
    }
}
