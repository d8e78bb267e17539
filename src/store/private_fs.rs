//! Files and directories private to the user: keyturn's data and state directories are 0700, every file it creates
//! in them (journal, inventory cache, their SQLite -wal/-shm, the log) is 0600. They hold no secret, but they
//! describe the tenant. Created with the mode from the start (no window at the umask's 0644), and tightened when an
//! older keyturn left them wider. A no-op off Unix.
use std::path::Path;

/// Create `dir` (and missing parents) as 0700; an existing `dir` is tightened to 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    restrict(dir, 0o700)
}

/// Create `path` as an empty 0600 file unless it exists; an existing one is tightened to 0600. Its directory is
/// created private.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?;
    restrict(path, 0o600)
}

/// Write `bytes` to a new file at `path`, created 0600 from the start (a file the operator names, such as a plan
/// file: its directory is theirs, so it is left as it is). Fails when `path` exists, so a temp file of a writer
/// that renames is never shared.
pub fn write_new_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // The umask can only narrow the mode; this makes 0600 exact whatever it is.
    restrict(path, 0o600)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// An SQLite database at `path` and its companions (`-wal`, `-shm`, `-journal`) that exist: 0600. SQLite gives the
/// companions the database's mode; this also covers ones left by an older keyturn.
pub fn restrict_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists()
            && let Err(e) = restrict(&p, 0o600)
        {
            tracing::warn!(path = %p.display(), error = %e, "cannot restrict permissions to 0600");
        }
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_paths_end_private() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a/b/f.db");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        // Left wide by someone else: tightened, content kept.
        std::fs::write(&file, b"kept").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(
            file.parent().unwrap(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");
        let wal = tmp.path().join("a/b/f.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict_sqlite(&file);
        assert_eq!(mode(&wal), 0o600);
    }

    #[test]
    fn a_new_private_file_is_0600_and_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = tmp.path().join("plan.json");
        write_new_private_file(&file, b"{}").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"{}");
        // The operator's directory is theirs: not tightened.
        assert_eq!(mode(tmp.path()), 0o755);
        let again = write_new_private_file(&file, b"x").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).unwrap(), b"{}");
    }
}
