//! Which messages a mail client has moved into `cur/` (as `NAME:2,FLAGS`), without listing
//! `cur/` for every delivery: the listing is kept and read again only when the folder changed.
//! Listing a folder of 30,000 read messages takes milliseconds; one per delivery made a
//! well-read Maildir slow down every delivery after it.
//!
//! The folder's modification time says whether it changed, but the kernel stamps it from a
//! coarse clock: a rename in the same tick as the listing leaves the time as it was. So a
//! listing of a folder that changed less than [`SETTLED`] before it was taken is not kept.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A folder unchanged this long before it is listed cannot change within the same clock tick
/// as the listing without its modification time moving.
const SETTLED: Duration = Duration::from_secs(1);

/// The message names in one `cur/` folder, listed again when it changes.
#[derive(Debug)]
pub(super) struct CurIndex {
    dir: PathBuf,
    listing: Mutex<Option<Listing>>,
}

#[derive(Debug)]
struct Listing {
    /// The folder's modification time when it was listed.
    modified: SystemTime,
    /// Message names without their `:2,FLAGS` suffix.
    names: HashSet<String>,
}

impl CurIndex {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            listing: Mutex::new(None),
        }
    }

    /// Whether the message `name` sits in the folder, with or without flags.
    pub(super) fn contains(&self, name: &str) -> io::Result<bool> {
        let modified = fs::metadata(&self.dir)?.modified()?;
        let mut listing = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = listing.as_ref().filter(|kept| kept.modified == modified) {
            return Ok(kept.names.contains(name));
        }
        let listed_at = SystemTime::now();
        let mut names = HashSet::new();
        for entry in fs::read_dir(&self.dir)? {
            let file = entry?.file_name();
            let file = file.to_string_lossy();
            let base = file.split_once(':').map_or(&*file, |(base, _)| base);
            names.insert(base.to_owned());
        }
        let found = names.contains(name);
        let settled = listed_at
            .duration_since(modified)
            .is_ok_and(|age| age >= SETTLED);
        *listing = settled.then_some(Listing { modified, names });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets the folder's modification time, as if its last change were `ago` in the past.
    fn changed_ago(dir: &std::path::Path, ago: Duration) {
        let time = SystemTime::now() - ago;
        fs::File::open(dir)
            .and_then(|d| d.set_times(fs::FileTimes::new().set_modified(time)))
            .expect("set the folder's time");
    }

    #[test]
    fn a_message_is_found_with_or_without_flags_and_only_under_its_own_name() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for file in ["a.onboard:2,S", "b.onboard", "c.onboard.more:2,"] {
            fs::write(dir.path().join(file), "x").expect("write");
        }
        let index = CurIndex::new(dir.path().to_path_buf());
        assert!(index.contains("a.onboard").unwrap());
        assert!(index.contains("b.onboard").unwrap());
        assert!(!index.contains("c.onboard").unwrap(), "a longer name");
        assert!(
            !index.contains("a.onboard:2,S").unwrap(),
            "names carry no flags"
        );
    }

    #[test]
    fn a_message_moved_in_after_a_kept_listing_is_found() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("a.onboard:2,S"), "x").expect("write");
        changed_ago(dir.path(), Duration::from_secs(60));
        let index = CurIndex::new(dir.path().to_path_buf());
        assert!(!index.contains("b.onboard").unwrap());
        assert!(
            index.listing.lock().unwrap().is_some(),
            "a settled folder's listing is kept"
        );

        fs::write(dir.path().join("b.onboard:2,RS"), "x").expect("write");
        assert!(index.contains("b.onboard").unwrap());
    }

    #[test]
    fn a_folder_that_just_changed_is_listed_again_even_if_its_time_stands_still() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let index = CurIndex::new(dir.path().to_path_buf());
        changed_ago(dir.path(), Duration::ZERO);
        assert!(!index.contains("a.onboard").unwrap());
        // A rename in the same clock tick: the folder's time does not move.
        let before = fs::metadata(dir.path()).unwrap().modified().unwrap();
        fs::write(dir.path().join("a.onboard:2,S"), "x").expect("write");
        fs::File::open(dir.path())
            .and_then(|d| d.set_times(fs::FileTimes::new().set_modified(before)))
            .expect("keep the folder's time");
        assert!(index.contains("a.onboard").unwrap());
    }
}
