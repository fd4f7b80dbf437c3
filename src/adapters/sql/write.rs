//! How writes reach the database. PostgreSQL: each writer has a transaction of its own on a
//! pooled connection. SQLite (one writer per database): **group commit**. Writers that arrive
//! while another one writes join its transaction, each inside its own savepoint (so one that
//! fails or gives up rolls back alone), and the group ends with one `COMMIT`, i.e. one fsync
//! for all of them instead of one each. A writer's `commit` returns only once the group's
//! `COMMIT` is durable; if that fails, every writer of the group gets the error, as each would
//! have had it alone.
//!
//! The group stays open while writers are queued for the connection, at most
//! [`MAX_GROUP_AGE`] and [`MAX_GROUP_WRITERS`]: a lone writer commits at once, so latency
//! without contention is unchanged, and under load the fsyncs are shared.
//!
//! Statements inside the open transaction run on the calling task's thread, but `BEGIN` and
//! `COMMIT` are each a round trip to the connection's own thread (`vendor/README.md`), and every
//! statement is a call of its own, so the bookkeeping rides along with others: `BEGIN` goes with
//! the first writer's `SAVEPOINT`, and a writer that hands the group on sends its `RELEASE` with
//! the next writer's `SAVEPOINT` (left open, empty, for whoever comes), or with the `COMMIT`
//! when it is the last. Every step that touches the connection between statements (opening the
//! group and the savepoint, releasing or rolling it back, committing) runs to its end whatever
//! becomes of its caller, so a caller that is cancelled halfway never leaves the shared
//! transaction in between: it starts on the caller's task, where it usually ends at once, and
//! what has to wait (the connection's thread, the pool) moves to a task of its own
//! ([`finish_uncancelled`]).

use super::query::{answered, sql};
use super::Dialect;
use crate::ports::store::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::Pool;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};
use tokio::time::Instant;

/// A group commits once this long has passed since its first writer committed, even while
/// writers are queued: the most a group commit adds to a writer's wait.
pub(crate) const MAX_GROUP_AGE: Duration = Duration::from_millis(10);
/// A group commits once this many writers are in it, even while writers are queued.
pub(crate) const MAX_GROUP_WRITERS: usize = 512;
/// A writer whose group was handed on waits this long for its `COMMIT` before it looks
/// whether the writers it was handed to went away, and commits the group itself.
const HANDED_ON_PATIENCE: Duration = Duration::from_millis(50);

const SAVEPOINT: &str = "SAVEPOINT onboard_writer";
const RELEASE: &str = "RELEASE onboard_writer";
const ROLLBACK_TO: &str = "ROLLBACK TO onboard_writer";
/// A writer's `RELEASE` and, in the same round trip, an empty savepoint for the next one.
const RELEASE_AND_NEXT_SAVEPOINT: &str = "RELEASE onboard_writer; SAVEPOINT onboard_writer";
/// The last writer's `RELEASE` and the group's `COMMIT`, in one round trip. Either failing
/// ends the group with the error for all its writers, as each would alone.
const RELEASE_AND_COMMIT: &str = "RELEASE onboard_writer; COMMIT";

/// A write transaction of the store, its connection reachable through `Deref`.
pub(crate) enum WriteTx<D: Dialect> {
    Own(sqlx::Transaction<'static, D>),
    InGroup(GroupWriter<D>),
}

impl<D: Dialect> WriteTx<D> {
    /// Makes the writes durable; on SQLite returns once the group's `COMMIT` did.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Self::Own(tx) => answered::<D, _>(tx.commit()).await.map_err(D::classify),
            Self::InGroup(writer) => writer.commit().await,
        }
    }
}

impl<D: Dialect> Deref for WriteTx<D> {
    type Target = D::Connection;

    fn deref(&self) -> &D::Connection {
        match self {
            Self::Own(tx) => tx,
            Self::InGroup(writer) => writer.connection(),
        }
    }
}

impl<D: Dialect> DerefMut for WriteTx<D> {
    fn deref_mut(&mut self) -> &mut D::Connection {
        match self {
            Self::Own(tx) => &mut *tx,
            Self::InGroup(writer) => writer.connection_mut(),
        }
    }
}

/// The open transaction writers join.
struct OpenGroup {
    id: u64,
    /// When its first writer released its savepoint into it: the wait a group adds is
    /// counted from there.
    first_release: Option<Instant>,
    /// Writers whose savepoint was released into it.
    writers: usize,
    /// An empty savepoint is open, waiting for the next writer (opened with the last
    /// `RELEASE`).
    spare_savepoint: bool,
    outcome: watch::Sender<Option<Result<(), StoreError>>>,
}

/// The write connection (taken from the pool while a group is open) and the open group.
struct Slot<D: Dialect> {
    connection: Option<PoolConnection<D>>,
    group: Option<OpenGroup>,
    next_group: u64,
    /// Groups committed with at least one writer.
    commits: u64,
}

/// Group commit over a pool of one connection (see the module header).
pub(crate) struct GroupCommit<D: Dialect> {
    pool: Pool<D>,
    slot: Arc<Mutex<Slot<D>>>,
    /// Writers waiting for the slot: while there are some, a group is handed on.
    queued: Arc<AtomicUsize>,
    /// [`MAX_GROUP_AGE`] but in tests.
    max_age: Duration,
}

/// Counts a writer as queued until it has the slot (or gave up waiting).
struct Queued(Arc<AtomicUsize>);

impl Queued {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<D: Dialect> GroupCommit<D> {
    pub(crate) fn new(pool: Pool<D>) -> Self {
        Self {
            pool,
            slot: Arc::new(Mutex::new(Slot {
                connection: None,
                group: None,
                next_group: 0,
                commits: 0,
            })),
            queued: Arc::default(),
            max_age: MAX_GROUP_AGE,
        }
    }

    /// A writer in the open group (opening one if none is), inside its own savepoint.
    pub(crate) async fn begin(&self) -> StoreResult<GroupWriter<D>> {
        let queued = Queued::new(&self.queued);
        let slot = self.slot.clone().lock_owned().await;
        drop(queued);
        let mut writer = GroupWriter {
            slot: Some(slot),
            savepoint: false,
            shared: self.shared(),
        };
        let pool = self.pool.clone();
        // A caller that went away while the task ran drops the writer there, which rolls it back.
        finish_uncancelled(async move { writer.open(&pool).await.map(|()| writer) }).await?
    }

    fn shared(&self) -> Shared<D> {
        Shared {
            slot: self.slot.clone(),
            queued: self.queued.clone(),
            max_age: self.max_age,
        }
    }
}

/// What a writer keeps of its group commit.
struct Shared<D: Dialect> {
    slot: Arc<Mutex<Slot<D>>>,
    queued: Arc<AtomicUsize>,
    max_age: Duration,
}

impl<D: Dialect> Clone for Shared<D> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
            queued: self.queued.clone(),
            max_age: self.max_age,
        }
    }
}

/// One writer of a group: holds the connection until `commit` or drop.
pub(crate) struct GroupWriter<D: Dialect> {
    slot: Option<OwnedMutexGuard<Slot<D>>>,
    /// Its savepoint is open.
    savepoint: bool,
    shared: Shared<D>,
}

impl<D: Dialect> GroupWriter<D> {
    fn connection(&self) -> &D::Connection {
        self.slot
            .as_ref()
            .and_then(|slot| slot.connection.as_deref())
            .expect("a writer in a group holds the connection")
    }

    fn connection_mut(&mut self) -> &mut D::Connection {
        self.slot
            .as_mut()
            .and_then(|slot| slot.connection.as_deref_mut())
            .expect("a writer in a group holds the connection")
    }

    /// The writer's savepoint: the spare one of the open group, a new one in it, or the first
    /// one of a new group (taking the connection; `BEGIN IMMEDIATE` in the same round trip).
    async fn open(&mut self, pool: &Pool<D>) -> StoreResult<()> {
        let slot = self.slot.as_mut().expect("the writer holds the slot");
        match slot.group.as_mut() {
            Some(group) if group.spare_savepoint => group.spare_savepoint = false,
            Some(_) => {
                let connection = slot
                    .connection
                    .as_deref_mut()
                    .expect("a group has the connection");
                sql::<D>(SAVEPOINT).execute(connection).await?;
            }
            None => {
                if slot.connection.is_none() {
                    slot.connection = Some(pool.acquire().await.map_err(D::classify)?);
                }
                let connection = slot.connection.as_deref_mut().expect("just taken");
                let begin = format!("{}; {SAVEPOINT}", D::LOCKING.begin());
                if let Err(error) = sql::<D>(&begin).execute(&mut *connection).await {
                    // The BEGIN may have taken effect before the SAVEPOINT failed.
                    let _ = sql::<D>("ROLLBACK").execute(connection).await;
                    slot.connection = None;
                    return Err(error);
                }
                let (outcome, _) = watch::channel(None);
                slot.group = Some(OpenGroup {
                    id: slot.next_group,
                    first_release: None,
                    writers: 0,
                    spare_savepoint: false,
                    outcome,
                });
                slot.next_group += 1;
            }
        }
        self.savepoint = true;
        Ok(())
    }

    /// Releases the savepoint into the group and waits for the group's `COMMIT`.
    async fn commit(mut self) -> StoreResult<()> {
        let slot = self.slot.take().expect("the writer holds the slot");
        let shared = self.shared.clone();
        let (group, mut outcome) =
            finish_uncancelled(async move { release_into_group(slot, &shared).await }).await??;
        loop {
            // The outcome is cloned out at once: its borrow must not live across an await.
            let waited =
                tokio::time::timeout(HANDED_ON_PATIENCE, outcome.wait_for(Option::is_some))
                    .await
                    .map(|settled| settled.map(|outcome| outcome.clone()));
            match waited {
                Ok(Ok(settled)) => return settled.expect("waited for Some"),
                Ok(Err(_)) => {
                    return Err(StoreError::Unavailable(
                        "the group commit ended without an outcome".into(),
                    ))
                }
                Err(_) => {
                    // The writers it was handed to may have given up: commit it if it is
                    // still open (in a task: a COMMIT is never cut short).
                    let slot = self.shared.slot.clone().lock_owned().await;
                    if slot.group.as_ref().is_some_and(|g| g.id == group) {
                        let _ = tokio::spawn(commit_group(slot)).await;
                    }
                }
            }
        }
    }
}

impl<D: Dialect> Drop for GroupWriter<D> {
    /// A writer dropped without `commit` rolls its savepoint back, then leaves the group to the
    /// writers after it (or commits what they wrote).
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let savepoint = self.savepoint;
            let shared = self.shared.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(abandon(slot, savepoint, shared));
                }
                // No runtime left (the process is ending): the connection closes with the
                // pool and SQLite rolls the open transaction back.
                Err(_) => drop(slot),
            }
        }
    }
}

/// Runs `work` to its end even if the caller is cancelled: polled once here, where it usually
/// finishes (a savepoint's statements run on the calling thread, a spare savepoint needs none),
/// and only when it has to wait (the connection's thread, the pool) moved into a task of its
/// own that finishes it whatever becomes of the caller. The move happens between two polls, so
/// no caller is ever dropped halfway through it; the write slot stays held while it runs, so
/// doing it here saves the writer two task switches with the slot held.
async fn finish_uncancelled<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> StoreResult<T> {
    let mut work = Box::pin(work);
    if let Poll::Ready(done) = poll_once(work.as_mut()).await {
        return Ok(done);
    }
    tokio::spawn(work)
        .await
        .map_err(|_| StoreError::Unavailable("the write task ended".into()))
}

/// Polls `work` once with the caller's context.
async fn poll_once<F: Future + ?Sized>(mut work: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|context| Poll::Ready(work.as_mut().poll(context))).await
}

/// `RELEASE`s the writer's savepoint into its group and hands the group on (with a savepoint
/// for the next writer) or commits it, in one round trip; returns the group to wait for.
async fn release_into_group<D: Dialect>(
    mut slot: OwnedMutexGuard<Slot<D>>,
    shared: &Shared<D>,
) -> StoreResult<(u64, watch::Receiver<Option<Result<(), StoreError>>>)> {
    let group = slot.group.as_mut().expect("the writer is in a group");
    group.writers += 1;
    group.first_release.get_or_insert_with(Instant::now);
    let waiting = (group.id, group.outcome.subscribe());
    let hand_on = shared.hands_on(group);
    if hand_on {
        let connection = slot
            .connection
            .as_deref_mut()
            .expect("a group has the connection");
        if let Err(error) = sql::<D>(RELEASE_AND_NEXT_SAVEPOINT)
            .execute(connection)
            .await
        {
            // The transaction itself is gone (SQLite aborted it): so is the group.
            fail_group(slot, error.clone()).await;
            return Err(error);
        }
        slot.group
            .as_mut()
            .expect("the writer is in a group")
            .spare_savepoint = true;
    } else {
        finish_group(slot, RELEASE_AND_COMMIT).await;
    }
    Ok(waiting)
}

/// Rolls an abandoned writer's savepoint back and settles the group.
async fn abandon<D: Dialect>(
    mut slot: OwnedMutexGuard<Slot<D>>,
    savepoint: bool,
    shared: Shared<D>,
) {
    if savepoint {
        let connection = slot
            .connection
            .as_deref_mut()
            .expect("a group has the connection");
        let rolled_back = match sql::<D>(ROLLBACK_TO).execute(&mut *connection).await {
            Ok(_) => sql::<D>(RELEASE).execute(connection).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = rolled_back {
            fail_group(slot, error).await;
            return;
        }
    }
    settle(slot, &shared).await;
}

impl<D: Dialect> Shared<D> {
    /// With writers queued and the group young, the group is handed on: they write into it.
    fn hands_on(&self, group: &OpenGroup) -> bool {
        let age = group
            .first_release
            .map_or(Duration::ZERO, |at| at.elapsed());
        let young = age < self.max_age && group.writers < MAX_GROUP_WRITERS;
        young && self.queued.load(Ordering::SeqCst) > 0
    }
}

/// Hands the group on or commits it (see [`Shared::hands_on`]).
async fn settle<D: Dialect>(slot: OwnedMutexGuard<Slot<D>>, shared: &Shared<D>) {
    let Some(group) = slot.group.as_ref() else {
        return;
    };
    if shared.hands_on(group) {
        return;
    }
    commit_group(slot).await;
}

/// `COMMIT`s the open group, gives the connection back to the pool and tells every writer.
async fn commit_group<D: Dialect>(slot: OwnedMutexGuard<Slot<D>>) {
    finish_group(slot, "COMMIT").await;
}

/// Ends the open group with `ending` (a `COMMIT`, possibly after a `RELEASE`), rolling back if
/// that fails; gives the connection back to the pool and tells every writer the outcome.
async fn finish_group<D: Dialect>(mut slot: OwnedMutexGuard<Slot<D>>, ending: &str) {
    let Some(group) = slot.group.take() else {
        return;
    };
    let connection = slot
        .connection
        .as_deref_mut()
        .expect("a group has the connection");
    let result = sql::<D>(ending).execute(&mut *connection).await.map(|_| ());
    if result.is_err() {
        let _ = sql::<D>("ROLLBACK").execute(connection).await;
    }
    slot.connection = None;
    if group.writers > 0 {
        slot.commits += 1;
        metrics::counter!(crate::telemetry::STORE_GROUP_COMMITS).increment(1);
        metrics::counter!(crate::telemetry::STORE_GROUP_WRITERS).increment(group.writers as u64);
    }
    group.outcome.send_replace(Some(result));
}

/// Ends a group whose transaction SQLite aborted: every writer in it gets `error`.
async fn fail_group<D: Dialect>(mut slot: OwnedMutexGuard<Slot<D>>, error: StoreError) {
    if let Some(connection) = slot.connection.as_deref_mut() {
        let _ = sql::<D>("ROLLBACK").execute(connection).await;
    }
    slot.connection = None;
    if let Some(group) = slot.group.take() {
        group.outcome.send_replace(Some(Err(error)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sqlx::Sqlite;

    async fn group_on_new_database() -> (
        tempfile::TempDir,
        Arc<GroupCommit<Sqlite>>,
        sqlx::SqlitePool,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (writer TEXT PRIMARY KEY)")
            .execute(&write)
            .await
            .unwrap();
        let read = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        // Time plays no part in these tests: a group is handed on while writers are queued.
        let mut group = GroupCommit::new(write);
        group.max_age = Duration::from_secs(60);
        (dir, Arc::new(group), read)
    }

    /// A first writer that wrote `row` and is committing, and the writer queued behind it that
    /// the group was handed to (holding the connection, not committed).
    async fn first_committing_with_one_handed_on(
        group: &Arc<GroupCommit<Sqlite>>,
        row: &str,
    ) -> (
        tokio::task::JoinHandle<StoreResult<()>>,
        GroupWriter<Sqlite>,
    ) {
        let mut first = group.begin().await.unwrap();
        insert(&mut first, row).await;
        let second = {
            let group = group.clone();
            tokio::spawn(async move { group.begin().await.unwrap() })
        };
        until_queued(group, 1).await;
        let committing = tokio::spawn(first.commit());
        (committing, second.await.unwrap())
    }

    async fn insert(writer: &mut GroupWriter<Sqlite>, name: &str) {
        sql::<Sqlite>("INSERT INTO t (writer) VALUES ($1)")
            .text(name)
            .execute(writer.connection_mut())
            .await
            .unwrap();
    }

    /// A writer that writes `row` and commits, with nobody else around.
    async fn write_alone(group: &GroupCommit<Sqlite>, row: &str) {
        let mut writer = group.begin().await.unwrap();
        insert(&mut writer, row).await;
        writer.commit().await.unwrap();
    }

    async fn stored(read: &sqlx::SqlitePool) -> Vec<String> {
        sqlx::query_scalar("SELECT writer FROM t ORDER BY writer")
            .fetch_all(read)
            .await
            .unwrap()
    }

    async fn commits(group: &GroupCommit<Sqlite>) -> u64 {
        group.slot.lock().await.commits
    }

    async fn until_queued(group: &GroupCommit<Sqlite>, n: usize) {
        while group.queued.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn writers_queued_behind_one_share_its_commit() {
        let (_dir, group, read) = group_on_new_database().await;
        let mut first = group.begin().await.unwrap();
        insert(&mut first, "w00").await;
        let others: Vec<_> = (1..20)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move {
                    let mut writer = group.begin().await.unwrap();
                    insert(&mut writer, &format!("w{n:02}")).await;
                    writer.commit().await
                })
            })
            .collect();
        until_queued(&group, 19).await;
        first.commit().await.unwrap();
        for other in others {
            other.await.unwrap().unwrap();
        }
        assert_eq!(stored(&read).await.len(), 20);
        assert_eq!(commits(&group).await, 1, "one COMMIT for the twenty");
    }

    #[tokio::test]
    async fn a_lone_writer_commits_at_once() {
        let (_dir, group, read) = group_on_new_database().await;
        for n in 0..3 {
            write_alone(&group, &format!("w{n}")).await;
            assert_eq!(
                stored(&read).await.len(),
                n + 1,
                "visible once commit returned"
            );
        }
        assert_eq!(commits(&group).await, 3);
    }

    #[tokio::test]
    async fn commit_returns_only_once_the_group_is_committed() {
        let (_dir, group, read) = group_on_new_database().await;
        let (committing, mut second) = first_committing_with_one_handed_on(&group, "first").await;
        tokio::time::sleep(HANDED_ON_PATIENCE * 2).await;
        assert!(!committing.is_finished(), "answered before its COMMIT");
        assert!(stored(&read).await.is_empty(), "nothing is visible yet");
        insert(&mut second, "second").await;
        second.commit().await.unwrap();
        committing.await.unwrap().unwrap();
        assert_eq!(stored(&read).await, ["first", "second"]);
        assert_eq!(commits(&group).await, 1);
    }

    #[tokio::test]
    async fn a_dropped_writer_is_rolled_back_alone() {
        let (_dir, group, read) = group_on_new_database().await;
        let (committing, mut second) = first_committing_with_one_handed_on(&group, "kept").await;
        insert(&mut second, "dropped").await;
        drop(second);
        committing.await.unwrap().unwrap();
        assert_eq!(stored(&read).await, ["kept"]);
        // The connection is free for the next writer.
        write_alone(&group, "later").await;
        assert_eq!(stored(&read).await, ["kept", "later"]);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_writer_of_the_group_and_the_next_group_writes() {
        let (_dir, group, read) = group_on_new_database().await;
        // Checked at COMMIT, not at the INSERT: the group's last RELEASE-and-COMMIT fails.
        sqlx::query(
            "CREATE TABLE child (parent TEXT REFERENCES t (writer) DEFERRABLE INITIALLY DEFERRED)",
        )
        .execute(&group.pool)
        .await
        .unwrap();
        let (committing, mut second) = first_committing_with_one_handed_on(&group, "first").await;
        sql::<Sqlite>("INSERT INTO child (parent) VALUES ('nobody')")
            .execute(second.connection_mut())
            .await
            .unwrap();
        let second_error = second.commit().await.expect_err("the COMMIT fails");
        let first_error = committing
            .await
            .unwrap()
            .expect_err("so does the first writer's");
        assert_eq!(first_error.to_string(), second_error.to_string());
        assert!(
            stored(&read).await.is_empty(),
            "nothing of the group is kept"
        );
        write_alone(&group, "third").await;
        assert_eq!(stored(&read).await, ["third"]);
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_while_queued_holds_nobody_up() {
        let (_dir, group, read) = group_on_new_database().await;
        let mut first = group.begin().await.unwrap();
        insert(&mut first, "first").await;
        let impatient = tokio::time::timeout(Duration::from_millis(20), group.begin()).await;
        assert!(impatient.is_err(), "it waited behind the first writer");
        assert_eq!(group.queued.load(Ordering::SeqCst), 0);
        tokio::time::timeout(Duration::from_secs(5), first.commit())
            .await
            .expect("committed without waiting for the writer that left")
            .unwrap();
        assert_eq!(stored(&read).await, ["first"]);
    }

    #[tokio::test]
    async fn a_commit_cancelled_while_the_disk_is_awaited_still_ends_its_group() {
        let (_dir, group, read) = group_on_new_database().await;
        let mut writer = group.begin().await.unwrap();
        insert(&mut writer, "cancelled").await;
        // Polled once, then the caller is gone: the COMMIT is on the connection's thread, waiting
        // for the disk (unless that thread was done before the poll ended, which the outcome
        // below allows for too).
        let mut committing = Box::pin(writer.commit());
        let _ = poll_once(committing.as_mut()).await;
        drop(committing);
        tokio::time::timeout(Duration::from_secs(5), async {
            while commits(&group).await == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the group was committed and counted although its caller went away");
        assert_eq!(stored(&read).await, ["cancelled"]);
        write_alone(&group, "next").await;
        assert_eq!(stored(&read).await, ["cancelled", "next"]);
    }

    #[tokio::test]
    async fn a_begin_cancelled_while_the_group_opens_leaves_the_connection_to_the_next() {
        let (_dir, group, read) = group_on_new_database().await;
        // Another connection holds the write lock, so the group's BEGIN waits for it on the
        // connection's thread; the caller is gone after its first poll.
        let mut other = read.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *other)
            .await
            .unwrap();
        let mut beginning = Box::pin(group.begin());
        assert!(
            poll_once(beginning.as_mut()).await.is_pending(),
            "the BEGIN waits for the write lock"
        );
        drop(beginning);
        sqlx::query("ROLLBACK").execute(&mut *other).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), write_alone(&group, "next"))
            .await
            .expect("the abandoned group let the connection go");
        assert_eq!(stored(&read).await, ["next"]);
    }

    #[tokio::test]
    async fn a_writer_handed_the_group_that_goes_away_still_lets_it_commit() {
        let (_dir, group, read) = group_on_new_database().await;
        let mut first = group.begin().await.unwrap();
        insert(&mut first, "first").await;
        // Queued when the first commits, then cancelled before it gets the connection.
        let second = {
            let group = group.clone();
            tokio::spawn(async move { group.begin().await })
        };
        until_queued(&group, 1).await;
        let committing = tokio::spawn(first.commit());
        second.abort();
        tokio::time::timeout(Duration::from_secs(5), committing)
            .await
            .expect("the group was committed by its writer after all")
            .unwrap()
            .unwrap();
        assert_eq!(stored(&read).await, ["first"]);
    }
}
