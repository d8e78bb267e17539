//! Microsoft Graph v1.0: models, a typed client with paging and retries, and audit decoding.
pub mod audit;
pub mod client;
pub mod error;
pub mod ids;
pub mod models;

pub use client::{GraphClient, Notice, Notifier, Page, Pager, RetryPolicy};
pub use error::GraphError;
pub use ids::{AppId, KeyId, ObjectId};
pub use models::*;
