//! Which folders of the document store have their own entry made durable by this process.
//!
//! A document's rename is synced in its folder, but that folder's entry in the folder above
//! must survive a crash too, and an upload cannot tell from a folder being there whether the
//! upload that created it has synced that entry yet (a customer may send two documents to a
//! new application at once, and the second may finish first). So the first upload to finish in
//! a folder syncs the folder above, and the folders above that up to the store's root, once per
//! folder and process. The set forgets everything once it holds its capacity of folders:
//! forgetting costs one more sync per folder, never durability.

use crate::adapters::durable_dir::directory_of;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Folders remembered before the set starts again (an application's folder path is ~100 bytes).
const CAPACITY: usize = 65_536;

pub(super) struct DurableFolders {
    /// The store's root; its own entry, in the folder above it, is made durable too.
    root: PathBuf,
    /// Folders whose entry, and every entry between them and the root, this process synced.
    known: Mutex<HashSet<PathBuf>>,
    capacity: usize,
}

impl DurableFolders {
    pub(super) fn new(root: PathBuf) -> Self {
        Self::with_capacity(root, CAPACITY)
    }

    fn with_capacity(root: PathBuf, capacity: usize) -> Self {
        Self {
            root,
            known: Mutex::new(HashSet::new()),
            capacity,
        }
    }

    /// Makes the entries of `folder` and of the folders between it and the root (the root's
    /// included) durable with `sync_dir` on the folder above each, from the root down, unless
    /// this process did so before. A failed sync leaves its folder and those below unknown.
    pub(super) fn ensure(
        &self,
        folder: &Path,
        sync_dir: impl Fn(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        let chain: Vec<&Path> = folder
            .ancestors()
            .take_while(|f| f.starts_with(&self.root))
            .collect();
        for current in chain.into_iter().rev() {
            if self.is_known(current) {
                continue;
            }
            // A relative root (`--data-dir data`) sits in the working directory.
            if let Some(above) = directory_of(current) {
                sync_dir(above)?;
            }
            self.remember(current);
        }
        Ok(())
    }

    fn is_known(&self, folder: &Path) -> bool {
        self.known
            .lock()
            .map(|known| known.contains(folder))
            .unwrap_or(false)
    }

    fn remember(&self, folder: &Path) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= self.capacity {
                known.clear();
            }
            known.insert(folder.to_path_buf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Runs `ensure` for `folder`, returning the folders it synced, in order.
    fn synced_by(folders: &DurableFolders, folder: &Path) -> Vec<PathBuf> {
        let synced = RefCell::new(Vec::new());
        folders
            .ensure(folder, |dir| {
                synced.borrow_mut().push(dir.to_path_buf());
                Ok(())
            })
            .unwrap();
        synced.into_inner()
    }

    #[test]
    fn each_folder_is_made_durable_once_from_the_root_down() {
        let root = PathBuf::from("/data/documents");
        let folders = DurableFolders::new(root.clone());
        let (first, second) = (root.join("app-1"), root.join("app-2"));
        assert_eq!(
            synced_by(&folders, &first),
            [PathBuf::from("/data"), root.clone()]
        );
        assert_eq!(synced_by(&folders, &first), Vec::<PathBuf>::new());
        assert_eq!(synced_by(&folders, &second), vec![root.clone()]);
        assert_eq!(synced_by(&folders, &second), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_relative_root_is_synced_in_the_working_directory() {
        let root = PathBuf::from("documents");
        let folders = DurableFolders::new(root.clone());
        assert_eq!(
            synced_by(&folders, &root.join("app-1")),
            [PathBuf::from("."), root.clone()]
        );
    }

    #[test]
    fn a_folder_whose_sync_failed_is_synced_again_next_time() {
        let root = PathBuf::from("/data/documents");
        let folders = DurableFolders::new(root.clone());
        let folder = root.join("app-1");
        let failed = folders.ensure(&folder, |dir| {
            if dir == root {
                Err(io::Error::other("disk gone"))
            } else {
                Ok(())
            }
        });
        assert!(failed.is_err());
        // The root's own entry was synced before the failure; the folder's was not.
        assert_eq!(synced_by(&folders, &folder), vec![root.clone()]);
    }

    #[test]
    fn a_full_set_forgets_and_syncs_again_rather_than_growing() {
        let root = PathBuf::from("/data/documents");
        let folders = DurableFolders::with_capacity(root.clone(), 3);
        for app in ["app-1", "app-2", "app-3"] {
            synced_by(&folders, &root.join(app));
            assert!(folders.known.lock().unwrap().len() <= 3);
        }
        assert_eq!(
            synced_by(&folders, &root.join("app-1")),
            [PathBuf::from("/data"), root.clone()]
        );
        assert!(folders.known.lock().unwrap().len() <= 3);
    }
}
