//! tracing to a log file under the state dir; never to the terminal, which the TUI owns and `check` keeps clean for
//! scripts. `KEYTURN_LOG` (an `EnvFilter` directive, e.g. `debug`) sets the level; the default is `info`.
//! The file is 0600 in a 0700 directory and rotated by size: past [`MAX_LOG_BYTES`] it becomes `keyturn.log.1`
//! (replacing the previous one), so a cron `check` every minute for years holds at most twice the cap.
use crate::store::private_fs;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

pub const LOG_FILE_NAME: &str = "keyturn.log";
/// The log file's size cap.
pub const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;

/// Start logging to `<dir>/keyturn.log`. Keep the guard alive until exit so the last lines are flushed.
/// Returns `None` when the directory cannot be created: keyturn still works, it just does not log.
pub fn init(dir: &Path) -> Option<(WorkerGuard, PathBuf)> {
    let path = dir.join(LOG_FILE_NAME);
    let file = SizeCappedFile::open(path.clone(), MAX_LOG_BYTES).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
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

/// An append-only file that moves itself aside to `<name>.1` before a write would take it past `max` bytes.
/// (tracing-appender rotates by time only.) A failed rotation keeps writing to the current file rather than lose
/// lines.
pub struct SizeCappedFile {
    path: PathBuf,
    file: File,
    written: u64,
    max: u64,
}

impl SizeCappedFile {
    pub fn open(path: PathBuf, max: u64) -> std::io::Result<Self> {
        let file = Self::open_file(&path)?;
        let written = file.metadata().map_or(0, |m| m.len());
        Ok(Self {
            path,
            file,
            written,
            max,
        })
    }

    fn open_file(path: &Path) -> std::io::Result<File> {
        private_fs::create_private_file(path)?;
        std::fs::OpenOptions::new().append(true).open(path)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let mut old = self.path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(&self.path, PathBuf::from(old))?;
        self.file = Self::open_file(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for SizeCappedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if self.written > 0 && self.written.saturating_add(len) > self.max {
            // On failure keep appending: the only place to say so is stderr, which the TUI owns.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.written = self.written.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_log_rotates_past_its_cap_and_stays_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/keyturn");
        let path = dir.join(LOG_FILE_NAME);
        let mut f = SizeCappedFile::open(path.clone(), 100).unwrap();
        let line = [b'x'; 39]; // 40 bytes with the newline
        for _ in 0..6 {
            f.write_all(&line).unwrap();
            f.write_all(b"\n").unwrap();
        }
        f.flush().unwrap();
        let old = dir.join("keyturn.log.1");
        let (cur, prev) = (
            std::fs::metadata(&path).unwrap(),
            std::fs::metadata(&old).unwrap(),
        );
        // 6 lines of 40 bytes, at most 100 a file: two lines a file, rotated twice; the oldest two are gone.
        assert_eq!((cur.len(), prev.len()), (80, 80));
        for p in [&path, &old] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Reopened, it counts what is there.
        let f = SizeCappedFile::open(path.clone(), 100).unwrap();
        assert_eq!(f.written, cur.len());
    }
}
