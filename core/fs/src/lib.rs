//! keeperdb-fs: how keeperdb writes its local state, in one place.
//!
//! Every state file (connections, preferences, installed plugins, the compiled-component cache)
//! is written atomically (temp file in the same directory, fsync, rename, fsync the directory),
//! read-modify-write cycles run under an exclusive lock file so two processes never lose each
//! other's update, and directories holding state are created owner-only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Write a file atomically: temp file in the same dir, fsync, rename, fsync the dir. A crash
/// leaves either the old file or the new one, never half of either.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all())?;
    Ok(())
}

/// A file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Create `dir` and its parents if missing; a directory this creates is owner-only on Unix.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Run `f` holding an exclusive lock on `lock_path` (created if missing), so read-modify-write
/// cycles of concurrent processes serialise instead of overwriting each other. The error is
/// about taking the lock; `f`'s own result comes back inside `Ok`.
pub fn with_lock<T>(lock_path: &Path, f: impl FnOnce() -> T) -> io::Result<T> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)?;
    lock.lock()?;
    let result = f();
    // Dropping the file releases the lock too; unlock explicitly to be clear about when.
    let _ = lock.unlock();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_whole_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        write_atomic(&path, b"first, and longer than the second").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.toml"]);
    }

    #[test]
    fn a_missing_file_reads_as_none_and_other_errors_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_optional(&dir.path().join("nope")).unwrap(), None);
        assert!(
            read_optional(dir.path()).is_err(),
            "a directory is not a file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_created_state_dir_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/b");
        ensure_private_dir(&state).unwrap();
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
