//! Making a directory's entries durable: after a file is created, renamed or removed in a
//! directory, the change lasts a crash only once the directory itself is synced (its entries
//! live in its own blocks). Shared by every adapter that writes files: the embedded bus, the
//! Maildir and the document store.

use std::fs::File;
use std::io;
use std::path::Path;

/// The directory whose entries hold `path`: its parent, or the working directory (`.`) for a
/// bare relative name (whose parent is empty); `None` for a root.
pub fn directory_of(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Some(Path::new(".")),
        parent => parent,
    }
}

/// Fsyncs `dir`, so the entries created, renamed or removed in it last.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened for syncing; its entries last as the platform makes
/// them.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_relative_name_lives_in_the_working_directory() {
        assert_eq!(directory_of(Path::new("data")), Some(Path::new(".")));
        assert_eq!(directory_of(Path::new("data/bus")), Some(Path::new("data")));
        assert_eq!(directory_of(Path::new("/data")), Some(Path::new("/")));
        assert_eq!(directory_of(Path::new("/")), None);
    }
}
