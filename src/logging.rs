//! tracing to a log file under the state dir; never to the terminal, which the TUI owns and `check` keeps clean for
//! scripts. `KEYTURN_LOG` (an `EnvFilter` directive, e.g. `debug`) sets the level; the default is `info`.
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

pub const LOG_FILE_NAME: &str = "keyturn.log";

/// Start logging to `<dir>/keyturn.log`. Keep the guard alive until exit so the last lines are flushed.
/// Returns `None` when the directory cannot be created: keyturn still works, it just does not log.
pub fn init(dir: &Path) -> Option<(WorkerGuard, PathBuf)> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(LOG_FILE_NAME);
    let appender = tracing_appender::rolling::never(dir, LOG_FILE_NAME);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("KEYTURN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ok = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .is_ok();
    ok.then_some((guard, path))
}

/// The log file's path in the default state dir (shown in `--help` and the help screen).
pub fn default_log_path() -> Option<PathBuf> {
    crate::config::state_dir()
        .ok()
        .map(|d| d.join(LOG_FILE_NAME))
}
