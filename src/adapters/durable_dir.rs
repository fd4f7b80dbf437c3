//! Making a directory's entries durable: after a file is created, renamed or removed in a
//! directory, the change lasts a crash only once the directory itself is synced (its entries
//! live in its own blocks). Shared by every adapter that writes files: the embedded bus, the
//! Maildir and the document store.

use std::fs::File;
use std::io;
use std::path::Path;

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
