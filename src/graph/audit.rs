//! Reading credential changes out of directory audit events.
//!
//! The service names the credential activity `Update application – Certificates and secrets management ` (en dash,
//! trailing space) while Microsoft's docs write it with a hyphen and no space: match after normalising dashes and
//! trimming. `modifiedProperties` values are JSON text inside JSON; `KeyDescription` lists entries like
//! `[KeyIdentifier=<guid>,KeyType=Password,KeyUsage=Verify,DisplayName=<name>]`.
use super::models::{DirectoryAudit, ModifiedProperty};

/// Dashes (hyphen, en dash, em dash, minus) folded to `-`, whitespace trimmed and collapsed.
pub fn normalize_activity(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c => c,
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True for the activity that records secret and certificate changes on an application.
pub fn is_credential_activity(name: &str) -> bool {
    let n = normalize_activity(name);
    n.eq_ignore_ascii_case("Update application - Certificates and secrets management")
        || n.eq_ignore_ascii_case("Add service principal credentials")
        || n.eq_ignore_ascii_case("Remove service principal credentials")
}

/// One entry of a `KeyDescription` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    pub key_id: String,
    pub key_type: String,
    pub key_usage: String,
    pub display_name: String,
}

impl KeyDescription {
    pub fn kind(&self) -> &'static str {
        if self.key_type.eq_ignore_ascii_case("Password") {
            "secret"
        } else {
            "certificate"
        }
    }
}

/// Decode a `modifiedProperties` value: a JSON string holding a JSON array of strings `"[KeyIdentifier=..,..]"`.
/// Unreadable input gives an empty list rather than an error: audit decoding is a convenience for the operator.
pub fn decode_key_description(value: Option<&str>) -> Vec<KeyDescription> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Ok(items) = serde_json::from_str::<Vec<String>>(value) else {
        return Vec::new();
    };
    items.iter().filter_map(|s| parse_entry(s)).collect()
}

fn parse_entry(s: &str) -> Option<KeyDescription> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut d = KeyDescription {
        key_id: String::new(),
        key_type: String::new(),
        key_usage: String::new(),
        display_name: String::new(),
    };
    // DisplayName is last and may itself contain commas: split the known keys off the front.
    let mut rest = inner;
    for key in ["KeyIdentifier=", "KeyType=", "KeyUsage="] {
        let after = rest.strip_prefix(key)?;
        let (value, tail) = after.split_once(',')?;
        match key {
            "KeyIdentifier=" => d.key_id = value.to_string(),
            "KeyType=" => d.key_type = value.to_string(),
            _ => d.key_usage = value.to_string(),
        }
        rest = tail;
    }
    d.display_name = rest
        .strip_prefix("DisplayName=")
        .unwrap_or(rest)
        .to_string();
    Some(d)
}

/// A decoded credential change: "added secret 'x' (keyId ..)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialChange {
    Added(KeyDescription),
    Removed(KeyDescription),
}

impl std::fmt::Display for CredentialChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (verb, d) = match self {
            CredentialChange::Added(d) => ("added", d),
            CredentialChange::Removed(d) => ("removed", d),
        };
        let short = d.key_id.get(..8).unwrap_or(&d.key_id);
        write!(
            f,
            "{verb} {} '{}' (keyId {short})",
            d.kind(),
            d.display_name
        )
    }
}

/// What an audit event changed in the credentials of its targets: entries in newValue but not oldValue were added,
/// and the reverse were removed.
pub fn credential_changes(event: &DirectoryAudit) -> Vec<CredentialChange> {
    let mut out = Vec::new();
    for target in &event.target_resources {
        for prop in &target.modified_properties {
            out.extend(changes_of(prop));
        }
    }
    out
}

fn changes_of(prop: &ModifiedProperty) -> Vec<CredentialChange> {
    if prop.display_name.as_deref() != Some("KeyDescription") {
        return Vec::new();
    }
    let old = decode_key_description(prop.old_value.as_deref());
    let new = decode_key_description(prop.new_value.as_deref());
    let mut out: Vec<CredentialChange> = new
        .iter()
        .filter(|n| !old.iter().any(|o| o.key_id == n.key_id))
        .cloned()
        .map(CredentialChange::Added)
        .collect();
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| n.key_id == o.key_id))
            .cloned()
            .map(CredentialChange::Removed),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn en_dash_and_trailing_space_match() {
        assert!(is_credential_activity(
            "Update application \u{2013} Certificates and secrets management "
        ));
        assert!(is_credential_activity(
            "Update application - Certificates and secrets management"
        ));
        assert!(!is_credential_activity("Update application"));
        assert_eq!(
            normalize_activity("Update application \u{2013} Certificates and secrets management "),
            "Update application - Certificates and secrets management"
        );
    }

    #[test]
    fn decodes_double_encoded_key_description() {
        let new = r#"["[KeyIdentifier=c7890f61-2f17-478f-bc60-60fd19c09588,KeyType=Password,KeyUsage=Verify,DisplayName=spike, with comma]"]"#;
        let d = decode_key_description(Some(new));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].key_id, "c7890f61-2f17-478f-bc60-60fd19c09588");
        assert_eq!(d[0].key_type, "Password");
        assert_eq!(d[0].display_name, "spike, with comma");
        assert!(decode_key_description(Some("[]")).is_empty());
        assert!(decode_key_description(Some("not json")).is_empty());
    }

    #[test]
    fn change_direction() {
        let entry = r#"["[KeyIdentifier=c7890f61-2f17-478f-bc60-60fd19c09588,KeyType=Password,KeyUsage=Verify,DisplayName=x]"]"#;
        let added = ModifiedProperty {
            display_name: Some("KeyDescription".into()),
            old_value: Some("[]".into()),
            new_value: Some(entry.into()),
        };
        let removed = ModifiedProperty {
            display_name: Some("KeyDescription".into()),
            old_value: Some(entry.into()),
            new_value: Some("[]".into()),
        };
        let a = changes_of(&added);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].to_string(), "added secret 'x' (keyId c7890f61)");
        assert!(matches!(
            changes_of(&removed)[0],
            CredentialChange::Removed(_)
        ));
    }
}

/// Property tests (issue 16 item 12): audit values are tenant text; no input panics, entries round-trip.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_value_decodes_without_panic(s in ".*") {
            let _ = decode_key_description(Some(&s));
        }

        #[test]
        fn any_list_of_strings_decodes_without_panic(v in proptest::collection::vec(".*", 0..6)) {
            let json = serde_json::to_string(&v).unwrap();
            let _ = decode_key_description(Some(&json));
        }

        #[test]
        fn entries_round_trip(
            key_id in "[0-9a-f-]{1,36}",
            key_type in "(Password|AsymmetricX509Cert)",
            key_usage in "(Verify|Sign|Encrypt)",
            display_name in ".*",
        ) {
            let entry = format!(
                "[KeyIdentifier={key_id},KeyType={key_type},KeyUsage={key_usage},DisplayName={display_name}]"
            );
            let json = serde_json::to_string(&vec![entry]).unwrap();
            prop_assert_eq!(
                decode_key_description(Some(&json)),
                vec![KeyDescription { key_id, key_type, key_usage, display_name }]
            );
        }
    }
}
