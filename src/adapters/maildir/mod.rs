//! The Maildir notifier: the embedded default that writes every notification as a real e-mail
//! into a local Maildir that any mail client (`mutt -f`, Thunderbird, `neomutt`) can open.
//!
//! Layout: **one** Maildir for every recipient, `root/{tmp,new,cur}`; the `To` header says who a
//! message is for. One folder keeps the operator's view simple (one place to look, one
//! `read_maildir` call in tests) and avoids turning e-mail addresses into directory names.
//!
//! A message is named `{notification id}.onboard` (unsafe bytes escaped), which makes delivery
//! idempotent: a name already present in `new/` or `cur/` (where a mail client adds the
//! `:2,FLAGS` suffix) means the notification was delivered before and nothing is written.
//! Delivery writes to `tmp/` under a per-attempt name, fsyncs, renames into `new/` and fsyncs
//! `new/` (one fsync for every delivery that renamed meanwhile: [`dir_sync`]), so a crash leaves
//! at most an orphan in `tmp/`, which readers ignore and which [`MaildirNotifier::new`] removes
//! once it is 36 hours old (the Maildir convention).

mod cur_index;
mod dir_sync;
mod reader;
#[cfg(test)]
mod tests;

pub use reader::{parse_message, read_maildir, StoredMail};

use crate::adapters::durable_dir::sync_dir;
use crate::adapters::email::{self, escaped_id};
use crate::ports::notifier::{Notifier, NotifyError};
use crate::ports::store::Notification;
use async_trait::async_trait;
use cur_index::CurIndex;
use dir_sync::GroupSync;
use lettre::message::Mailbox;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Suffix of every file this adapter writes, so our messages stand out in a shared Maildir.
const FILE_SUFFIX: &str = ".onboard";
/// A file in `tmp/` untouched this long is a dead delivery, not one in progress.
const STALE_TMP_AFTER: Duration = Duration::from_secs(36 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    #[error("the sender address '{0}' is not a valid e-mail address")]
    InvalidFrom(String),
    #[error("cannot create the Maildir folder {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
}

/// Delivers notifications into one Maildir.
#[derive(Debug)]
pub struct MaildirNotifier {
    root: PathBuf,
    from: Mailbox,
    /// Makes temporary names unique between concurrent attempts in this process.
    attempt: AtomicU64,
    /// The messages a mail client moved to `cur/`.
    cur: Arc<CurIndex>,
    /// Makes renames into `new/` durable, shared between concurrent deliveries.
    new_dir_sync: Arc<GroupSync>,
}

impl MaildirNotifier {
    /// Creates `root/{tmp,new,cur}` if missing and sweeps stale leftovers from `tmp/`;
    /// `from_address` is the `From` of every message.
    pub fn new(root: PathBuf, from_address: String) -> Result<Self, MaildirError> {
        let from: Mailbox = from_address
            .parse()
            .map_err(|_| MaildirError::InvalidFrom(from_address.clone()))?;
        for sub in ["tmp", "new", "cur"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(|source| MaildirError::CreateDir { path, source })?;
        }
        // Untidy, not harmful: a failed sweep must not stop notifications.
        if let Err(e) = sweep_stale_tmp(&root.join("tmp"), SystemTime::now()) {
            tracing::warn!(error = %e, "Cannot sweep stale files from the Maildir's tmp folder.");
        }
        let cur = Arc::new(CurIndex::new(root.join("cur")));
        Ok(Self {
            root,
            from,
            attempt: AtomicU64::new(0),
            cur,
            new_dir_sync: Arc::default(),
        })
    }

    /// The Maildir's root folder (holding `tmp`, `new` and `cur`).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl Notifier for MaildirNotifier {
    fn name(&self) -> &'static str {
        "maildir"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        let bytes = email::render(notification, &self.from)?;
        let name = file_name(&notification.id);
        let tmp_name = format!(
            "{name}.{}.{}",
            std::process::id(),
            self.attempt.fetch_add(1, Ordering::Relaxed)
        );
        let root = self.root.clone();
        let (cur, new_dir_sync) = (self.cur.clone(), self.new_dir_sync.clone());
        // File system calls block; keep them off the async workers.
        tokio::task::spawn_blocking(move || {
            store(&root, &cur, &new_dir_sync, &name, &tmp_name, &bytes)
        })
        .await
        .map_err(|e| NotifyError::Transient(format!("the delivery task failed: {e}")))?
        .map_err(|e| NotifyError::Transient(format!("cannot write to the Maildir: {e}")))
    }
}

/// The Maildir file name of a notification.
fn file_name(notification_id: &str) -> String {
    format!("{}{FILE_SUFFIX}", escaped_id(notification_id))
}

/// Whether a message with this name sits in `new/` or (read by a client) in `cur/`.
fn already_delivered(root: &Path, cur: &CurIndex, name: &str) -> io::Result<bool> {
    if root.join("new").join(name).exists() {
        return Ok(true);
    }
    cur.contains(name)
}

/// The Maildir delivery protocol: tmp, fsync, rename into new, fsync new (shared with the
/// deliveries that renamed meanwhile). When the message is already there nothing is written,
/// but new is still synced: the attempt that put it there may have failed before its sync.
fn store(
    root: &Path,
    cur: &CurIndex,
    new_dir_sync: &GroupSync,
    name: &str,
    tmp_name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let new = root.join("new");
    if !already_delivered(root, cur, name)? {
        rename_in(root, &new, name, tmp_name, bytes)?;
    }
    new_dir_sync.sync_after_change(|| sync_dir(&new))
}

/// Writes the message to tmp, fsyncs it and renames it into `new`.
fn rename_in(root: &Path, new: &Path, name: &str, tmp_name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = root.join("tmp").join(tmp_name);
    let written = write_synced(&tmp, bytes).and_then(|()| fs::rename(&tmp, new.join(name)));
    if let Err(e) = written {
        // Best effort: an orphan in tmp/ is harmless, only untidy.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sweep_stale_tmp(tmp: &Path, now: SystemTime) -> io::Result<()> {
    for entry in fs::read_dir(tmp)? {
        let entry = entry?;
        let modified = entry.metadata()?.modified()?;
        if now.duration_since(modified).unwrap_or_default() > STALE_TMP_AFTER {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
