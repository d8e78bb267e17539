//! Microsoft Graph v1.0 (and the beta reports keyturn reads): models, a typed client with paging and retries,
//! audit decoding, last use, application permissions and app management policies.
pub mod audit;
pub mod client;
pub mod credentials;
pub mod error;
pub mod ids;
pub mod models;
pub mod permissions;
pub mod policy;
pub mod signins;

pub use client::{GraphClient, Notice, Notifier, Page, Pager, RetryPolicy};
pub use error::GraphError;
pub use ids::{AppId, KeyId, ObjectId};
pub use models::*;
pub use permissions::{GrantedPermission, is_privileged};
pub use policy::LifetimeCap;
pub use signins::{
    AppCredentialSignInActivity, LAST_USE_UNKNOWN, LastUse, ServicePrincipalSignInActivity,
};
