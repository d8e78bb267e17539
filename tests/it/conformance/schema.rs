//! Checks of Microsoft's "JSON representation" blocks and of the Key Vault OpenAPI definitions.
use super::*;

/// `"String (timestamp)"` and friends: the type a representation block writes in place of a value.
pub(super) fn representation_check(repr: &Value, actual: &Value) -> Result<(), Difference> {
    let (Some(r), Some(a)) = (repr.as_object(), actual.as_object()) else {
        return Err(Difference {
            path: "$".into(),
            what: format!("expected an object, the emulator sent {actual}"),
        });
    };
    for (k, t) in r {
        if k == "@odata.type" {
            continue; // names the resource; not on the wire for non-polymorphic values
        }
        let path = format!("$.{k}");
        let Some(v) = a.get(k) else {
            return Err(Difference {
                path,
                what: "a property of the resource, missing in the emulator's object".into(),
            });
        };
        let t = t.as_str().unwrap_or_default();
        let ok = match (t, v) {
            (_, Value::Null) => true, // every property of these resources is nullable in Graph's metadata
            ("String" | "String (identifier)", Value::String(_)) => true,
            // A complex property written as `{"@odata.type": "microsoft.graph.x"}`: an object.
            ("", Value::Object(_)) => t_is_complex(r.get(k)),
            ("Guid", Value::String(s)) => shape::str_kind(s) == shape::StrKind::Guid,
            ("String (timestamp)", Value::String(s)) => {
                shape::str_kind(s) == shape::StrKind::Timestamp
            }
            ("Binary", Value::String(s)) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            }
            _ => false,
        };
        if !ok {
            return Err(Difference {
                path,
                what: format!("{v} is not a {t}"),
            });
        }
    }
    if let Some(extra) = a.keys().find(|k| !r.contains_key(*k)) {
        return Err(Difference {
            path: format!("$.{extra}"),
            what: "not a property of the resource's representation".into(),
        });
    }
    Ok(())
}

/// `{"@odata.type": "microsoft.graph.x"}`: how a representation names a complex property's type.
fn t_is_complex(t: Option<&Value>) -> bool {
    t.and_then(|t| t.get("@odata.type"))
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with("microsoft.graph.") || n.starts_with("#microsoft.graph."))
}

/// Validate `actual` against definition `name` of the Key Vault OpenAPI excerpt: only declared properties, of the
/// declared types, enums respected; `$ref` followed.
pub(super) fn openapi_check(
    defs: &Value,
    name: &str,
    actual: &Value,
    path: &str,
) -> Result<(), Difference> {
    let def = defs
        .get(name)
        .unwrap_or_else(|| panic!("definition {name} is not in the OpenAPI excerpt"));
    schema_check(defs, def, actual, path)
}

pub(super) fn schema_check(
    defs: &Value,
    schema: &Value,
    v: &Value,
    path: &str,
) -> Result<(), Difference> {
    let fail = |what: String| {
        Err(Difference {
            path: path.to_string(),
            what,
        })
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return openapi_check(defs, name, v, path);
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        return fail(format!("{v} is not one of {options:?}"));
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    match (ty, v) {
        ("object", Value::Object(o)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, val) in o {
                let child = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) | (None, Some(s)) => schema_check(defs, s, val, &child)?,
                    (None, None) => {
                        return Err(Difference {
                            path: child,
                            what: "not a property of the definition".into(),
                        });
                    }
                }
            }
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !o.contains_key(req) {
                    return fail(format!("required property {req} is missing"));
                }
            }
            Ok(())
        }
        ("array", Value::Array(items)) => {
            let item_schema = schema.get("items").cloned().unwrap_or(json!({}));
            for (i, item) in items.iter().enumerate() {
                schema_check(defs, &item_schema, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => Ok(()),
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (_, Value::Null) if schema.get("x-nullable") == Some(&json!(true)) => Ok(()),
        _ => fail(format!("{v} is not of type {ty}")),
    }
}
