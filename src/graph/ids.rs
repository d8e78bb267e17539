//! Newtype ids, so an appId is never passed where an object id is expected.
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The first 8 characters, for narrow columns.
            pub fn short(&self) -> &str {
                self.0.get(..8).unwrap_or(&self.0)
            }
        }

        /// Ids come from the tenant: displayed through the sanitising boundary (a real id is unchanged).
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&crate::safe_text::Safe(&self.0), f)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

id_type!(
    /// Directory object id of an application, service principal, user (`id` in Graph).
    ObjectId
);
id_type!(
    /// Application (client) id (`appId` in Graph).
    AppId
);
id_type!(
    /// Credential id (`keyId` in Graph; `CredentialId` tag in Key Vault).
    KeyId
);
