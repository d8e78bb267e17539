//! Local state in SQLite under the data dir: the rotation journal.
pub mod journal;

pub use journal::{
    Changes, Journal, JournalEntry, JournalError, JournalEvent, NewEntry, ProcessOwner,
};
