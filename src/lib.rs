//! keyturn: find Entra ID client secrets and certificates that expire soon, and rotate them into Azure Key Vault
//! with a human's approval.
//!
//! Domain below, faces above: `graph`, `keyvault`, `auth`, `inventory`, `rotation` and `store` never import `tui`
//! or `report`; the TUI and the `check` report are two faces over the same domain code.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod doctor;
pub mod emulator;
pub mod graph;
pub mod impact;
pub mod inventory;
pub mod keyvault;
pub mod logging;
pub mod machine;
pub mod net;
pub mod notify;
pub mod parallel;
pub mod removal;
pub mod report;
pub mod review;
pub mod rotation;
pub mod safe_text;
pub mod session;
pub mod store;
pub mod tui;
