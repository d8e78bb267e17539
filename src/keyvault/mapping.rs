//! Which vault secret holds which app's client secret (docs/ARCHITECTURE.md section 4): (1) the config file's explicit
//! entries, (2) tags on secrets in the profile's listed vaults (`ProviderAddress` = app object id, `CredentialId` =
//! keyId), (3) asked for on the confirmation screen.
use super::{KeyVaultError, SecretSummary, SecretTarget, TAG_CREDENTIAL_ID, TAG_PROVIDER_ADDRESS};
use crate::graph::{AppId, KeyId, ObjectId};
use std::collections::HashMap;
use std::fmt;

/// One explicit mapping from the config file. `app` is an appId or an application object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingEntry {
    pub app: String,
    pub vault_url: String,
    pub secret_name: String,
}

impl MappingEntry {
    pub fn new(
        app: impl Into<String>,
        vault_url: impl Into<String>,
        secret_name: impl Into<String>,
    ) -> Self {
        Self {
            app: app.into(),
            vault_url: vault_url.into(),
            secret_name: secret_name.into(),
        }
    }

    fn is_for(&self, object_id: &ObjectId, app_id: &AppId) -> bool {
        let a = self.app.trim();
        a.eq_ignore_ascii_case(object_id.as_str()) || a.eq_ignore_ascii_case(app_id.as_str())
    }
}

impl From<&crate::config::Mapping> for MappingEntry {
    fn from(m: &crate::config::Mapping) -> Self {
        MappingEntry::new(m.app.clone(), m.vault.clone(), m.secret.clone())
    }
}

/// Where a target came from, shown on the plan screen next to the vault and secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingSource {
    /// `--vault` / `--secret-name` on the command line.
    Flag,
    /// An entry in the config file.
    Config,
    /// A secret tagged `ProviderAddress` = app object id and `CredentialId` = the old keyId.
    Tags,
    /// A secret tagged with the app's object id but without a `CredentialId` (a weaker match, said so on screen).
    ProviderTag,
    /// Typed in by the operator.
    Operator,
    /// A plan file written with `keyturn rotate --plan-out` (its vault secret, as reviewed).
    PlanFile,
}

impl fmt::Display for MappingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MappingSource::Flag => "command line",
            MappingSource::Config => "config file",
            MappingSource::Tags => "vault tags (ProviderAddress, CredentialId)",
            MappingSource::ProviderTag => "vault tag ProviderAddress (no CredentialId)",
            MappingSource::Operator => "typed in",
            MappingSource::PlanFile => "the plan file",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMapping {
    pub target: SecretTarget,
    pub source: MappingSource,
}

/// The first config entry for the app. An entry with an invalid vault URL or name is an error that names it,
/// rather than a silent fall-through to the tags.
pub fn from_config(
    entries: &[MappingEntry],
    object_id: &ObjectId,
    app_id: &AppId,
) -> Option<Result<ResolvedMapping, KeyVaultError>> {
    let e = entries.iter().find(|e| e.is_for(object_id, app_id))?;
    Some(
        SecretTarget::new(&e.vault_url, &e.secret_name).map(|target| ResolvedMapping {
            target,
            source: MappingSource::Config,
        }),
    )
}

fn tag<'a>(s: &'a SecretSummary, name: &str) -> Option<&'a str> {
    s.tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What the vault tags say about one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMatch {
    /// Exactly one secret claims it.
    One(ResolvedMapping),
    /// More than one secret claims it (anyone who can tag a secret in a listed vault can claim a credential):
    /// every candidate, for the operator to choose from. keyturn chooses none.
    Ambiguous(Vec<ResolvedMapping>),
    None,
}

/// The secret whose tags name this app and credential (`ProviderAddress` and `CredentialId`), or the one that names
/// the app and no credential. Any second claim, exact or by `ProviderAddress` only, makes it ambiguous.
pub fn from_tags(secrets: &[SecretSummary], object_id: &ObjectId, key_id: &KeyId) -> TagMatch {
    let mut exact = Vec::new();
    let mut weak = Vec::new();
    for s in secrets {
        if !tag(s, TAG_PROVIDER_ADDRESS).is_some_and(|v| v.eq_ignore_ascii_case(object_id.as_str()))
        {
            continue;
        }
        let Ok(target) = SecretTarget::new(&s.vault_url, &s.name) else {
            continue;
        };
        match tag(s, TAG_CREDENTIAL_ID) {
            Some(k) if k.eq_ignore_ascii_case(key_id.as_str()) => exact.push(ResolvedMapping {
                target,
                source: MappingSource::Tags,
            }),
            Some(_) => {}
            None => weak.push(ResolvedMapping {
                target,
                source: MappingSource::ProviderTag,
            }),
        }
    }
    let mut all: Vec<ResolvedMapping> = exact.into_iter().chain(weak).collect();
    // The same vault listed twice lists its secrets twice: one claim each.
    let mut seen = std::collections::HashSet::new();
    all.retain(|m| seen.insert(m.target.clone()));
    match all.len() {
        0 => TagMatch::None,
        1 => TagMatch::One(all.remove(0)),
        _ => TagMatch::Ambiguous(all),
    }
}

/// keyId -> the secret whose `CredentialId` tag names it: "stored in: vault/name" in the detail view.
pub fn stored_in_index(secrets: &[SecretSummary]) -> HashMap<KeyId, SecretTarget> {
    let mut index = HashMap::new();
    for s in secrets {
        if let Some(k) = tag(s, TAG_CREDENTIAL_ID)
            && let Ok(t) = SecretTarget::new(&s.vault_url, &s.name)
        {
            index.insert(KeyId::new(k.to_ascii_lowercase()), t);
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(vault: &str, name: &str, tags: &[(&str, &str)]) -> SecretSummary {
        SecretSummary {
            vault_url: vault.into(),
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            enabled: Some(true),
            updated: None,
        }
    }

    #[test]
    fn config_entry_by_app_id_or_object_id() {
        let entries = vec![
            MappingEntry::new("other", "https://a.vault.azure.net", "x"),
            MappingEntry::new("APP-1", "https://kv.vault.azure.net/", "payroll"),
        ];
        let m = from_config(&entries, &ObjectId::new("obj-1"), &AppId::new("app-1"))
            .unwrap()
            .unwrap();
        assert_eq!(m.target.vault_url, "https://kv.vault.azure.net");
        assert_eq!(m.source, MappingSource::Config);
        assert!(from_config(&entries, &ObjectId::new("o"), &AppId::new("a")).is_none());
        let bad = vec![MappingEntry::new("obj-1", "http://kv", "x")];
        assert!(
            from_config(&bad, &ObjectId::new("obj-1"), &AppId::new("a"))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn tags_exact_then_single_weak_match() {
        let v = "https://kv.vault.azure.net";
        let secrets = vec![
            summary(v, "unrelated", &[]),
            summary(
                v,
                "exact",
                &[("ProviderAddress", "obj-1"), ("CredentialId", "key-1")],
            ),
            summary(v, "weak", &[("ProviderAddress", "obj-1")]),
        ];
        let one = |s: &[SecretSummary], key: &str| match from_tags(
            s,
            &ObjectId::new("obj-1"),
            &KeyId::new(key),
        ) {
            TagMatch::One(m) => (m.target.name, m.source),
            other => panic!("{other:?}"),
        };
        let names = |m: TagMatch| match m {
            TagMatch::Ambiguous(all) => all
                .into_iter()
                .map(|m| (m.target.name, m.source))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        // The exact claim beside a ProviderAddress-only one: ambiguous, both shown.
        assert_eq!(
            names(from_tags(
                &secrets,
                &ObjectId::new("obj-1"),
                &KeyId::new("key-1")
            )),
            [
                ("exact".to_string(), MappingSource::Tags),
                ("weak".to_string(), MappingSource::ProviderTag)
            ]
        );
        let exact_only: Vec<SecretSummary> = secrets[..2].to_vec();
        assert_eq!(
            one(&exact_only, "key-1"),
            ("exact".into(), MappingSource::Tags)
        );
        // key-2 is claimed by no CredentialId: the single ProviderAddress-only secret.
        let weak_only = vec![secrets[0].clone(), secrets[2].clone()];
        assert_eq!(
            one(&weak_only, "key-2"),
            ("weak".into(), MappingSource::ProviderTag)
        );
        // The exact one names another credential, so for key-2 it does not count.
        assert_eq!(
            one(&secrets, "key-2"),
            ("weak".into(), MappingSource::ProviderTag)
        );
        // Two secrets claim key-1 exactly, one in another vault: ambiguous.
        let mut hijack = exact_only.clone();
        hijack.push(summary(
            "https://evil.vault.azure.net",
            "exact",
            &[("ProviderAddress", "obj-1"), ("CredentialId", "KEY-1")],
        ));
        assert_eq!(
            names(from_tags(
                &hijack,
                &ObjectId::new("obj-1"),
                &KeyId::new("key-1")
            ))
            .len(),
            2
        );
        // The same vault listed twice is one claim.
        let mut twice = exact_only.clone();
        twice.extend(exact_only.clone());
        assert_eq!(one(&twice, "key-1"), ("exact".into(), MappingSource::Tags));
        assert_eq!(
            from_tags(&secrets, &ObjectId::new("obj-9"), &KeyId::new("key-1")),
            TagMatch::None
        );
        let idx = stored_in_index(&secrets);
        assert_eq!(idx[&KeyId::new("key-1")].name, "exact");
    }
}
