//! The two services a rotation talks to, as traits: the executor is tested against in-memory fakes and runs
//! against `GraphClient` and the Key Vault SDK.
use crate::graph::client::{APPLICATION_SELECT, ops, urlencode};
use crate::graph::{
    AppId, Application, GraphClient, GraphError, KeyId, LastUse, LifetimeCap,
    NewPasswordCredential, ObjectId, ObjectType, PasswordCredential,
};
use crate::keyvault::{
    DeletedSecretInfo, KeyVaultError, KeyVaultSecrets, NewVersion, SecretSummary, SecretTarget,
    VaultSecret, VersionInfo,
};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::future::Future;

/// What a rotation needs from Microsoft Graph. Rotation is for app registrations (`/applications`).
pub trait GraphApi: Send + Sync {
    /// An application by appId or object id (planning).
    fn find_application(
        &self,
        id_or_app_id: &str,
    ) -> impl Future<Output = Result<Application, GraphError>> + Send;

    /// The app's current client secrets (to learn what an interrupted or ambiguous call did).
    fn password_credentials(
        &self,
        app: &ObjectId,
    ) -> impl Future<Output = Result<Vec<PasswordCredential>, GraphError>> + Send;

    fn add_password(
        &self,
        app: &ObjectId,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<NewPasswordCredential, GraphError>> + Send;

    fn remove_password(
        &self,
        app: &ObjectId,
        key_id: &KeyId,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;

    /// The tenant's `passwordLifetime` cap for a new secret of this app, when readable (`None`: no cap applies, or
    /// the policy cannot be read; addPassword's refusal is then explained instead).
    fn password_lifetime_cap(
        &self,
        app: &ObjectId,
        created: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Option<LifetimeCap>> + Send {
        let _ = (app, created);
        async { None }
    }

    /// When a credential of the app last signed in (`GET /beta/reports/appCredentialSignInActivities`):
    /// `Known(None)` when none is recorded, `Unavailable` when the tenant cannot tell (no P1/P2 licence, no
    /// AuditLog.Read.All), which `keyturn cleanup` tolerates (it then decides on its other checks).
    fn credential_last_sign_in(
        &self,
        app_id: &AppId,
        key_id: &KeyId,
    ) -> impl Future<Output = Result<LastUse<Option<DateTime<Utc>>>, GraphError>> + Send;
}

/// What a rotation needs from Key Vault. Targets carry their vault, so one implementation serves every vault.
pub trait VaultApi: Send + Sync {
    /// Write a new version; its properties come back.
    fn set_secret(
        &self,
        target: &SecretTarget,
        value: &SecretString,
        new: &NewVersion,
    ) -> impl Future<Output = Result<VersionInfo, KeyVaultError>> + Send;

    /// One version with its value (`None`: the latest). Also how a rollback fetches the previous value.
    fn get_secret(
        &self,
        target: &SecretTarget,
        version: Option<&str>,
    ) -> impl Future<Output = Result<VaultSecret, KeyVaultError>> + Send;

    /// The latest version's properties and tags, `None` when the secret does not exist.
    fn latest(
        &self,
        target: &SecretTarget,
    ) -> impl Future<Output = Result<Option<VersionInfo>, KeyVaultError>> + Send;

    /// Secrets of a vault with their tags (tag-based mapping).
    fn list_secrets(
        &self,
        vault_url: &str,
    ) -> impl Future<Output = Result<Vec<SecretSummary>, KeyVaultError>> + Send;

    /// A soft-deleted secret holding the name (Key Vault refuses to write it until recovered or purged).
    fn deleted(
        &self,
        target: &SecretTarget,
    ) -> impl Future<Output = Result<Option<DeletedSecretInfo>, KeyVaultError>> + Send {
        let _ = target;
        async { Ok(None) }
    }
}

impl GraphApi for GraphClient {
    async fn password_lifetime_cap(
        &self,
        app: &ObjectId,
        created: Option<DateTime<Utc>>,
    ) -> Option<LifetimeCap> {
        GraphClient::password_lifetime_cap(self, app, created).await
    }

    async fn find_application(&self, id_or_app_id: &str) -> Result<Application, GraphError> {
        GraphClient::find_application(self, id_or_app_id).await
    }

    async fn password_credentials(
        &self,
        app: &ObjectId,
    ) -> Result<Vec<PasswordCredential>, GraphError> {
        let url = self.url(&format!(
            "applications/{}?$select={APPLICATION_SELECT}",
            urlencode(app.as_str())
        ));
        let app: Application = self.get_json(&url, ops::GET_APPLICATION).await?;
        Ok(app.password_credentials)
    }

    async fn add_password(
        &self,
        app: &ObjectId,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPasswordCredential, GraphError> {
        GraphClient::add_password(self, ObjectType::Application, app, display_name, Some(end))
            .await
            .map_err(|e| match e {
                // An unreadable addPassword answer may carry the new secret in its first characters: keep the
                // error, drop the excerpt, so it cannot reach a log or the journal.
                GraphError::Malformed {
                    operation, detail, ..
                } => GraphError::Malformed {
                    operation,
                    detail: redact_serde_detail(&detail),
                    body_excerpt: "[withheld: may contain the secret]".into(),
                },
                // The tenant's lifetime policy refused it: say what that means and what to do.
                e if crate::graph::policy::is_lifetime_policy_refusal(&e) => {
                    match (crate::graph::policy::explain_lifetime_refusal(&e), e) {
                        (
                            Some(message),
                            GraphError::BadRequest {
                                operation,
                                status,
                                code,
                                ..
                            },
                        ) => GraphError::BadRequest {
                            operation,
                            status,
                            code,
                            message,
                        },
                        (_, e) => e,
                    }
                }
                e => e,
            })
    }

    async fn remove_password(&self, app: &ObjectId, key_id: &KeyId) -> Result<(), GraphError> {
        GraphClient::remove_password(self, ObjectType::Application, app, key_id).await
    }

    async fn credential_last_sign_in(
        &self,
        app_id: &AppId,
        key_id: &KeyId,
    ) -> Result<LastUse<Option<DateTime<Utc>>>, GraphError> {
        Ok(match GraphClient::credential_sign_in(self, key_id).await? {
            // The report is per keyId; a row of another app (keyIds are GUIDs, so never in practice) is ignored.
            LastUse::Known(row) => LastUse::Known(
                row.filter(|a| {
                    a.app_id
                        .as_ref()
                        .is_none_or(|x| x.as_str().eq_ignore_ascii_case(app_id.as_str()))
                })
                .and_then(|a| a.last_sign_in()),
            ),
            LastUse::Unavailable { reason } => LastUse::Unavailable { reason },
        })
    }
}

/// serde_json quotes offending values (`invalid type: string "..."`); keep only the position.
fn redact_serde_detail(detail: &str) -> String {
    match detail.find(" at line ") {
        Some(i) => format!("unreadable JSON{}", &detail[i..]),
        None => "unreadable JSON".to_string(),
    }
}

impl VaultApi for KeyVaultSecrets {
    async fn set_secret(
        &self,
        target: &SecretTarget,
        value: &SecretString,
        new: &NewVersion,
    ) -> Result<VersionInfo, KeyVaultError> {
        KeyVaultSecrets::set_secret(self, target, value, new).await
    }

    async fn get_secret(
        &self,
        target: &SecretTarget,
        version: Option<&str>,
    ) -> Result<VaultSecret, KeyVaultError> {
        KeyVaultSecrets::get_secret(self, target, version).await
    }

    async fn latest(&self, target: &SecretTarget) -> Result<Option<VersionInfo>, KeyVaultError> {
        KeyVaultSecrets::latest(self, target).await
    }

    async fn list_secrets(&self, vault_url: &str) -> Result<Vec<SecretSummary>, KeyVaultError> {
        KeyVaultSecrets::list_secrets(self, vault_url).await
    }

    async fn deleted(
        &self,
        target: &SecretTarget,
    ) -> Result<Option<DeletedSecretInfo>, KeyVaultError> {
        KeyVaultSecrets::deleted(self, target).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serde_detail_loses_the_value() {
        let d = super::redact_serde_detail(
            "invalid type: string \"hunter2secret\", expected u32 at line 1 column 40",
        );
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("line 1 column 40"));
    }
}
