//! What an access token says about who holds it and what it may do. Read without verifying the signature: keyturn
//! only uses this to tell the operator (`doctor`, the header), never to decide what the service will allow.
use base64::Engine;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenClaims {
    /// Tenant.
    #[serde(default)]
    pub tid: Option<String>,
    /// Object id of the principal (the service principal for app tokens, the user for delegated ones).
    #[serde(default)]
    pub oid: Option<String>,
    /// Client id of the app the token was issued to (v1 tokens: `appid`, v2 tokens: `azp`).
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub app_displayname: Option<String>,
    /// Signed-in user, for delegated tokens (device code, Azure CLI).
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub unique_name: Option<String>,
    /// Application permissions (app roles) granted to the client.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated.
    #[serde(default)]
    pub scp: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("the access token is not a JWT (expected three dot-separated parts)")]
    NotJwt,
    #[error("the access token's payload is not base64url JSON: {0}")]
    Payload(String),
}

impl TokenClaims {
    /// Decode the payload of a JWT (`header.payload.signature`).
    pub fn from_jwt(token: &str) -> Result<TokenClaims, ClaimsError> {
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ClaimsError::NotJwt);
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| ClaimsError::Payload(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| ClaimsError::Payload(e.to_string()))
    }

    /// The client id, whichever token version carried it.
    pub fn client_id(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }

    pub fn user(&self) -> Option<&str> {
        self.upn.as_deref().or(self.unique_name.as_deref())
    }

    /// Every permission the token carries: app roles and delegated scopes.
    pub fn permissions(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.roles.iter().map(String::as_str).collect();
        if let Some(scp) = &self.scp {
            all.extend(scp.split_whitespace());
        }
        all
    }

    pub fn has_permission(&self, name: &str) -> bool {
        self.permissions()
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    }

    /// Whether this is a delegated (user) token: what the user may do then also depends on their directory roles.
    pub fn is_delegated(&self) -> bool {
        self.scp.is_some() || self.user().is_some()
    }

    /// One line for the header and `doctor`: "user alice@contoso.com" or "app Payroll sync (1111…)".
    pub fn describe(&self) -> String {
        if let Some(user) = self.user() {
            return format!("user {user}");
        }
        match (self.app_displayname.as_deref(), self.client_id()) {
            (Some(name), Some(id)) => format!("app {name} ({id})"),
            (None, Some(id)) => format!("app {id}"),
            (Some(name), None) => format!("app {name}"),
            (None, None) => self
                .oid
                .as_deref()
                .map(|o| format!("principal {o}"))
                .unwrap_or_else(|| "an unnamed principal".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"none"}"#),
            b64(payload.to_string().as_bytes())
        )
    }

    #[test]
    fn app_token_roles() {
        let c = TokenClaims::from_jwt(&jwt(&serde_json::json!({
            "tid": "t", "appid": "a", "app_displayname": "keyturn",
            "roles": ["Application.Read.All", "AuditLog.Read.All"]
        })))
        .unwrap();
        assert!(c.has_permission("application.read.all"));
        assert!(!c.has_permission("Application.ReadWrite.All"));
        assert!(!c.is_delegated());
        assert_eq!(c.describe(), "app keyturn (a)");
    }

    #[test]
    fn delegated_token_scopes() {
        let c = TokenClaims::from_jwt(&jwt(&serde_json::json!({
            "upn": "alice@contoso.com", "azp": "c", "scp": "Application.ReadWrite.All User.Read"
        })))
        .unwrap();
        assert!(c.has_permission("Application.ReadWrite.All"));
        assert!(c.is_delegated());
        assert_eq!(c.describe(), "user alice@contoso.com");
        assert_eq!(c.client_id(), Some("c"));
    }

    #[test]
    fn not_a_jwt() {
        assert_eq!(TokenClaims::from_jwt("opaque"), Err(ClaimsError::NotJwt));
        assert!(matches!(
            TokenClaims::from_jwt("a.!!!.c"),
            Err(ClaimsError::Payload(_))
        ));
    }
}
