//! Small durable-file helpers: atomic replace of a file and fsync of a directory entry.

use crate::ports::bus::BusError;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Maps an I/O failure to a storage error that names what was being done and where.
pub fn storage(what: &str, path: &Path, err: std::io::Error) -> BusError {
    BusError::Storage(format!("{what} {}: {err}", path.display()))
}

/// Replaces `path` with `bytes` so a crash leaves either the old or the new content, never a mix:
/// write a sibling temp file, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BusError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    write_in_place(tmp, bytes)?;
    fs::rename(tmp, path).map_err(|e| storage("cannot rename into", path, e))?;
    sync_parent(path)
}

/// Overwrites `path` (creating it if missing) with `bytes` in place and syncs its data; the
/// inode stays the same. Not atomic: a crash halfway leaves a torn file, so callers keep the
/// previous content elsewhere (see `group.rs`'s two slots). The directory entry of a new file
/// is the caller's to sync.
pub fn write_in_place(path: &Path, bytes: &[u8]) -> Result<(), BusError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| storage("cannot open", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| storage("cannot write", path, e))
}

/// Fsyncs the directory holding `path` so a created or renamed entry survives a power loss.
pub fn sync_parent(path: &Path) -> Result<(), BusError> {
    match crate::adapters::durable_dir::directory_of(path) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Fsyncs a directory.
pub fn sync_dir(dir: &Path) -> Result<(), BusError> {
    crate::adapters::durable_dir::sync_dir(dir)
        .map_err(|e| storage("cannot sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("g.json");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(fs::read(&path).expect("read back"), b"two");
        assert!(!dir.path().join("g.json.tmp").exists());
    }
}
