//! Removing a certificate. `removeKey` needs a proof-of-possession JWT signed with one of the app's existing
//! certificates, which an operator removing an unused (or leaked) certificate usually does not hold; Microsoft
//! Graph's documented alternative for applications is `PATCH /applications/{id}` with the whole `keyCredentials`
//! collection minus the one that goes. The collection is read with `$select=keyCredentials` (the only read that
//! returns each certificate's `key`) and sent back as it came, so the certificates that stay are unchanged.
use super::client::{GraphClient, Op, urlencode};
use super::{GraphError, KeyId, ObjectId, ObjectType};
use reqwest::Method;
use serde_json::{Value, json};

pub mod ops {
    use super::Op;
    pub const READ_KEY_CREDENTIALS: Op = Op {
        name: "read the app's certificates (keyCredentials)",
        permission: "Application.Read.All",
        idempotent: true,
    };
    pub const UPDATE_KEY_CREDENTIALS: Op = Op {
        name: "update the app's certificates (PATCH keyCredentials)",
        permission: "Application.ReadWrite.OwnedBy or Application.ReadWrite.All",
        idempotent: true,
    };
}

/// The keyIds that go when `key_id` is removed: the entry itself and the other usage (Sign / Verify) of the same
/// certificate, which shares its `customKeyIdentifier` (keyturn shows them as one certificate).
pub fn key_ids_of_certificate(key_credentials: &[Value], key_id: &KeyId) -> Vec<KeyId> {
    let same_key = |v: &Value| {
        v["keyId"]
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case(key_id.as_str()))
    };
    let Some(target) = key_credentials.iter().find(|v| same_key(v)) else {
        return Vec::new();
    };
    let thumb = target["customKeyIdentifier"]
        .as_str()
        .filter(|t| !t.is_empty());
    key_credentials
        .iter()
        .filter(|v| same_key(v) || (thumb.is_some() && v["customKeyIdentifier"].as_str() == thumb))
        .filter_map(|v| v["keyId"].as_str().map(KeyId::new))
        .collect()
}

impl GraphClient {
    /// Remove a certificate (both its Sign and Verify entries) from an application or service principal. Returns
    /// the keyIds removed; empty when the certificate is no longer there (nothing is sent then).
    pub async fn remove_key_credential(
        &self,
        kind: ObjectType,
        id: &ObjectId,
        key_id: &KeyId,
    ) -> Result<Vec<KeyId>, GraphError> {
        let url = self.url(&format!(
            "{}/{}?$select=id,keyCredentials",
            kind.collection(),
            urlencode(id.as_str())
        ));
        let current: Value = self.get_json(&url, ops::READ_KEY_CREDENTIALS).await?;
        let all = current["keyCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let going = key_ids_of_certificate(&all, key_id);
        if going.is_empty() {
            return Ok(going);
        }
        let keep: Vec<Value> = all
            .into_iter()
            .filter(|v| {
                !v["keyId"]
                    .as_str()
                    .is_some_and(|k| going.iter().any(|g| g.as_str().eq_ignore_ascii_case(k)))
            })
            .collect();
        let url = self.url(&format!("{}/{}", kind.collection(), urlencode(id.as_str())));
        self.send(
            ops::UPDATE_KEY_CREDENTIALS,
            Method::PATCH,
            &url,
            Some(&json!({ "keyCredentials": keep })),
        )
        .await?;
        Ok(going)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_goes_with_its_other_usage_and_nothing_else() {
        let creds = vec![
            json!({"keyId": "a", "customKeyIdentifier": "T1", "usage": "Verify"}),
            json!({"keyId": "b", "customKeyIdentifier": "T1", "usage": "Sign"}),
            json!({"keyId": "c", "customKeyIdentifier": "T2", "usage": "Verify"}),
            json!({"keyId": "d", "customKeyIdentifier": null, "usage": "Verify"}),
            json!({"keyId": "e", "customKeyIdentifier": null, "usage": "Verify"}),
        ];
        let ids = |v: Vec<KeyId>| v.iter().map(|k| k.as_str().to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(key_ids_of_certificate(&creds, &KeyId::new("A"))),
            ["a", "b"]
        );
        assert_eq!(ids(key_ids_of_certificate(&creds, &KeyId::new("c"))), ["c"]);
        assert_eq!(ids(key_ids_of_certificate(&creds, &KeyId::new("d"))), ["d"]);
        assert!(key_ids_of_certificate(&creds, &KeyId::new("z")).is_empty());
    }
}
