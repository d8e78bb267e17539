//! Local state in SQLite under the data dir: the rotation journal, and beside it the inventory cache.
pub mod cache;
pub mod journal;
pub mod private_fs;

pub use journal::{
    Changes, Journal, JournalEntry, JournalError, JournalEvent, NewEntry, NewRemoval, ProcessOwner,
    RemovalEntry, RemovalState,
};
