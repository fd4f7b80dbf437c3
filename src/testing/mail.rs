//! Reading the Maildir in tests: a read error fails the test instead of looking like an empty
//! mailbox (every process that delivers mail creates its Maildir when it starts).

use crate::adapters::maildir::{read_maildir, StoredMail};
use std::path::Path;

/// Every message in the Maildir at `root`; panics when it cannot be read.
pub fn mails_in(root: &Path) -> Vec<StoredMail> {
    read_maildir(root)
        .unwrap_or_else(|error| panic!("reading the Maildir {} failed: {error}", root.display()))
}
