//! A consumer group: its members, who owns which partition, and its durable committed offsets.
//!
//! Acknowledged positions live here (not in the member), so a partition handed to another
//! member continues right after the last acknowledged record even before a commit; `flush`
//! writes them durably.
//!
//! On disk, two slot files, `groups/<group>.0.json` and `.1.json`, written in turn, each in
//! place with its own serial number: a flush overwrites the older slot and syncs it, so a crash
//! halfway leaves the other slot (one flush older) valid, and loading takes the valid slot with
//! the highest serial. Writing in place keeps each file's inode: a file replaced by rename cost
//! a new inode, a rename and two fsyncs per commit, every consumer batch. A
//! `groups/<group>.json` from before the slots is read as serial 0 and removed by the first
//! flush.

use super::durable;
use crate::ports::bus::BusError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A topic name and partition number.
pub type TopicPartition = (String, i32);

const FILE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct GroupFile {
    version: u32,
    /// Which flush wrote it: the valid slot with the highest serial is the newest (0 in a file
    /// from before the slots).
    #[serde(default)]
    serial: u64,
    offsets: Vec<CommittedOffset>,
}

/// Where the next flush goes.
struct Slots {
    /// `groups/<group>.0.json` and `.1.json`.
    paths: [PathBuf; 2],
    /// The slot the next flush overwrites (the one not holding the newest offsets).
    next: usize,
    next_serial: u64,
    /// Whether each slot's directory entry is known durable (it existed at load, or was
    /// created and its directory synced since).
    durable_entry: [bool; 2],
    /// A file from before the slots, removed after the first flush.
    legacy: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommittedOffset {
    topic: String,
    partition: i32,
    /// The next offset the group reads.
    offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    member: u64,
    /// Generation at which `member` got the partition; a member that lost and regained a
    /// partition sees a new value and must not continue from its old in-memory position.
    since: u64,
}

struct GroupState {
    generation: u64,
    next_member: u64,
    /// Member id -> the topics it subscribed to, with their partition counts.
    members: BTreeMap<u64, Vec<(String, i32)>>,
    /// Partition -> the one member that owns it now, and the generation since which it has.
    owners: HashMap<TopicPartition, Owner>,
    /// Latest acknowledged position (offset + 1) per partition, committed or not.
    positions: HashMap<TopicPartition, i64>,
    /// What the group file on disk holds.
    committed: HashMap<TopicPartition, i64>,
    last_flush: Instant,
}

impl GroupState {
    fn is_dirty(&self) -> bool {
        self.positions
            .iter()
            .any(|(tp, pos)| self.committed.get(tp) != Some(pos))
    }

    /// Round-robin over all partitions of all subscribed topics (Kafka's RoundRobinAssignor):
    /// spreads partitions evenly across members even when every topic has few partitions.
    fn rebalance(&mut self) {
        let partitions: BTreeSet<TopicPartition> = self
            .members
            .values()
            .flatten()
            .flat_map(|(topic, count)| (0..*count).map(move |p| (topic.clone(), p)))
            .collect();
        let ids: Vec<u64> = self.members.keys().copied().collect();
        let generation = self.generation + 1;
        let previous = std::mem::take(&mut self.owners);
        let mut cursor = 0;
        for tp in partitions {
            for step in 0..ids.len() {
                let member = ids[(cursor + step) % ids.len()];
                if self.members[&member].iter().any(|(t, _)| *t == tp.0) {
                    let since = match previous.get(&tp) {
                        Some(old) if old.member == member => old.since,
                        _ => generation,
                    };
                    self.owners.insert(tp, Owner { member, since });
                    cursor = (cursor + step + 1) % ids.len();
                    break;
                }
            }
        }
        self.generation = generation;
    }
}

/// The partitions a member owns at one generation, each with where to resume if known.
pub struct Assignment {
    pub generation: u64,
    pub partitions: Vec<Owned>,
}

/// One partition a member owns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    pub tp: TopicPartition,
    /// Generation since which the member owns it without interruption.
    pub since: u64,
    /// The acknowledged or committed position, if the group has one.
    pub position: Option<i64>,
}

pub struct Group {
    state: Mutex<GroupState>,
    /// Bumped on every rebalance so members notice without polling.
    generation_tx: watch::Sender<u64>,
    /// Serialises flushes so a slower, older snapshot never overwrites a newer one; holds where
    /// the next one goes.
    slots: Mutex<Slots>,
}

/// A file's content, or `None` when there is no such file.
fn read_if_present(path: &std::path::Path) -> Result<Option<Vec<u8>>, BusError> {
    match std::fs::read(path) {
        Ok(raw) => Ok(Some(raw)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(durable::storage("cannot read", path, e)),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Group {
    /// Loads the committed offsets of the group whose file is `path` (`groups/<group>.json`):
    /// the newest valid slot, else the file from before the slots; none of them is a group that
    /// never committed. Blocking (small file reads).
    pub fn load(path: PathBuf) -> Result<Self, BusError> {
        let paths = [path.with_extension("0.json"), path.with_extension("1.json")];
        let mut newest: Option<(usize, GroupFile)> = None;
        let mut durable_entry = [false; 2];
        for (slot, slot_path) in paths.iter().enumerate() {
            let Some(raw) = read_if_present(slot_path)? else {
                continue;
            };
            durable_entry[slot] = true;
            // A slot that does not parse was being written when the process stopped: the
            // other one holds the flush before.
            let Ok(file) = serde_json::from_slice::<GroupFile>(&raw) else {
                tracing::warn!(path = %slot_path.display(), "Ignoring a group offsets slot that was written halfway.");
                continue;
            };
            if newest.as_ref().is_none_or(|(_, n)| file.serial > n.serial) {
                newest = Some((slot, file));
            }
        }
        let legacy = match read_if_present(&path)? {
            Some(raw) => {
                let file: GroupFile = serde_json::from_slice(&raw).map_err(|e| {
                    BusError::Storage(format!("{} is not valid: {e}", path.display()))
                })?;
                if newest.is_none() {
                    newest = Some((1, file));
                }
                Some(path.clone())
            }
            None => None,
        };
        let (next, next_serial, committed) = match newest {
            Some((slot, file)) => (
                1 - slot,
                file.serial + 1,
                file.offsets
                    .into_iter()
                    .map(|o| ((o.topic, o.partition), o.offset))
                    .collect(),
            ),
            None => (0, 1, HashMap::new()),
        };
        let (generation_tx, _) = watch::channel(0);
        Ok(Self {
            state: Mutex::new(GroupState {
                generation: 0,
                next_member: 1,
                members: BTreeMap::new(),
                owners: HashMap::new(),
                positions: HashMap::new(),
                committed,
                last_flush: Instant::now(),
            }),
            generation_tx,
            slots: Mutex::new(Slots {
                paths,
                next,
                next_serial,
                durable_entry,
                legacy,
            }),
        })
    }

    /// Adds a member subscribed to `topics` (name, partition count), rebalances, returns its id.
    pub fn join(&self, topics: Vec<(String, i32)>) -> u64 {
        let mut state = lock(&self.state);
        let id = state.next_member;
        state.next_member += 1;
        state.members.insert(id, topics);
        state.rebalance();
        self.generation_tx.send_replace(state.generation);
        id
    }

    /// Removes a member and hands its partitions to the others.
    pub fn leave(&self, member: u64) {
        let mut state = lock(&self.state);
        if state.members.remove(&member).is_some() {
            state.rebalance();
            self.generation_tx.send_replace(state.generation);
        }
    }

    pub fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    pub fn watch_generation(&self) -> watch::Receiver<u64> {
        self.generation_tx.subscribe()
    }

    /// The partitions `member` owns now.
    pub fn assignment(&self, member: u64) -> Assignment {
        let state = lock(&self.state);
        let mut partitions: Vec<_> = state
            .owners
            .iter()
            .filter(|(_, owner)| owner.member == member)
            .map(|(tp, owner)| Owned {
                tp: tp.clone(),
                since: owner.since,
                position: state
                    .positions
                    .get(tp)
                    .or_else(|| state.committed.get(tp))
                    .copied(),
            })
            .collect();
        partitions.sort();
        Assignment {
            generation: state.generation,
            partitions,
        }
    }

    /// Stores `position` for `tp` if `member` owns it now; returns whether it was stored.
    pub fn ack(&self, member: u64, tp: TopicPartition, position: i64) -> bool {
        let mut state = lock(&self.state);
        if state.owners.get(&tp).map(|o| o.member) != Some(member) {
            return false;
        }
        state.positions.insert(tp, position);
        true
    }

    /// The durably committed position of `tp`.
    pub fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        lock(&self.state).committed.get(tp).copied()
    }

    /// When the next automatic commit is due, if anything acknowledged is not committed yet.
    pub fn auto_commit_due(&self, every: Duration) -> Option<Instant> {
        let state = lock(&self.state);
        state.is_dirty().then(|| state.last_flush + every)
    }

    /// Persists every acknowledged position into the older slot (see the module header).
    /// Blocking.
    pub fn flush_blocking(&self) -> Result<(), BusError> {
        let mut slots = lock(&self.slots);
        let merged = {
            let state = lock(&self.state);
            if !state.is_dirty() {
                return Ok(());
            }
            let mut merged = state.committed.clone();
            merged.extend(state.positions.iter().map(|(tp, p)| (tp.clone(), *p)));
            merged
        };
        let mut offsets: Vec<CommittedOffset> = merged
            .iter()
            .map(|((topic, partition), offset)| CommittedOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect();
        offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let json = serde_json::to_vec_pretty(&GroupFile {
            version: FILE_VERSION,
            serial: slots.next_serial,
            offsets,
        })
        .map_err(|e| BusError::Storage(format!("cannot encode group offsets: {e}")))?;
        let slot = slots.next;
        durable::write_in_place(&slots.paths[slot], &json)?;
        if !slots.durable_entry[slot] {
            durable::sync_parent(&slots.paths[slot])?;
            slots.durable_entry[slot] = true;
        }
        slots.next = 1 - slot;
        slots.next_serial += 1;
        if let Some(legacy) = slots.legacy.take() {
            // A left-over copy is harmless: serial 0 is older than every slot.
            let _ = std::fs::remove_file(legacy);
        }
        let mut state = lock(&self.state);
        state.committed = merged;
        state.last_flush = Instant::now();
        Ok(())
    }

    /// [`Self::flush_blocking`] off the async runtime's threads.
    pub async fn flush(self: &Arc<Self>) -> Result<(), BusError> {
        let group = self.clone();
        tokio::task::spawn_blocking(move || group.flush_blocking())
            .await
            .map_err(|e| BusError::Storage(format!("the offset commit failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(dir: &tempfile::TempDir) -> Group {
        Group::load(dir.path().join("g.json")).expect("load")
    }

    fn owned(g: &Group, member: u64) -> Vec<TopicPartition> {
        g.assignment(member)
            .partitions
            .into_iter()
            .map(|owned| owned.tp)
            .collect()
    }

    #[test]
    fn members_split_partitions_and_a_leaver_hands_them_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = group(&dir);
        let a = g.join(vec![("t".into(), 3)]);
        assert_eq!(owned(&g, a).len(), 3);
        let b = g.join(vec![("t".into(), 3)]);
        let (pa, pb) = (owned(&g, a), owned(&g, b));
        assert_eq!(pa.len() + pb.len(), 3);
        assert!(!pa.is_empty() && !pb.is_empty());
        assert!(pa.iter().all(|tp| !pb.contains(tp)));
        g.leave(a);
        assert_eq!(owned(&g, b).len(), 3);
    }

    #[test]
    fn a_partition_goes_only_to_members_subscribed_to_its_topic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = group(&dir);
        let a = g.join(vec![("x".into(), 2)]);
        let b = g.join(vec![("y".into(), 2)]);
        assert!(owned(&g, a).iter().all(|(t, _)| t == "x"));
        assert!(owned(&g, b).iter().all(|(t, _)| t == "y"));
    }

    #[test]
    fn acks_from_a_member_that_lost_the_partition_are_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = group(&dir);
        let a = g.join(vec![("t".into(), 1)]);
        assert!(g.ack(a, ("t".into(), 0), 5));
        let b = g.join(vec![("t".into(), 1)]);
        let (winner, loser) = if owned(&g, b).is_empty() {
            (a, b)
        } else {
            (b, a)
        };
        assert!(!g.ack(loser, ("t".into(), 0), 9));
        assert_eq!(g.assignment(winner).partitions[0].position, Some(5));
    }

    #[test]
    fn flushed_positions_survive_a_reload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = group(&dir);
        let a = g.join(vec![("t".into(), 1)]);
        g.ack(a, ("t".into(), 0), 4);
        assert!(g.auto_commit_due(Duration::from_secs(1)).is_some());
        g.flush_blocking().expect("flush");
        assert!(g.auto_commit_due(Duration::from_secs(1)).is_none());
        assert_eq!(group(&dir).committed(&("t".into(), 0)), Some(4));
    }

    /// The group file of `group()`'s group, and its two slots.
    fn files(dir: &tempfile::TempDir) -> [PathBuf; 3] {
        let path = dir.path().join("g.json");
        [
            path.with_extension("0.json"),
            path.with_extension("1.json"),
            path,
        ]
    }

    fn flush_at(g: &Group, member: u64, position: i64) {
        g.ack(member, ("t".into(), 0), position);
        g.flush_blocking().expect("flush");
    }

    #[test]
    fn flushes_take_turns_between_two_slots_and_a_reload_takes_the_newest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [slot0, slot1, _] = files(&dir);
        let g = group(&dir);
        let a = g.join(vec![("t".into(), 1)]);
        flush_at(&g, a, 4);
        let first_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&slot0).unwrap());
        assert!(!slot1.exists(), "the first flush writes one slot");
        flush_at(&g, a, 9);
        assert!(slot1.exists(), "the second flush writes the other");
        assert_eq!(group(&dir).committed(&("t".into(), 0)), Some(9));
        flush_at(&g, a, 12);
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&slot0).unwrap());
        assert_eq!(inode, first_inode, "a slot is written in place");
        assert_eq!(group(&dir).committed(&("t".into(), 0)), Some(12));
    }

    #[test]
    fn a_slot_written_halfway_leaves_the_flush_before() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [_, slot1, _] = files(&dir);
        let g = group(&dir);
        let a = g.join(vec![("t".into(), 1)]);
        flush_at(&g, a, 4);
        flush_at(&g, a, 9);
        // The process stopped while the second flush wrote its slot.
        let written = std::fs::read(&slot1).expect("slot 1");
        std::fs::write(&slot1, &written[..written.len() / 2]).expect("tear slot 1");
        let reloaded = group(&dir);
        assert_eq!(reloaded.committed(&("t".into(), 0)), Some(4));
        // The next flush overwrites the torn slot, not the good one.
        let b = reloaded.join(vec![("t".into(), 1)]);
        flush_at(&reloaded, b, 15);
        assert_eq!(group(&dir).committed(&("t".into(), 0)), Some(15));
    }

    #[test]
    fn a_group_file_from_before_the_slots_is_read_then_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [slot0, _, legacy] = files(&dir);
        std::fs::write(
            &legacy,
            r#"{"version":1,"offsets":[{"topic":"t","partition":0,"offset":7}]}"#,
        )
        .expect("legacy file");
        let g = group(&dir);
        assert_eq!(g.committed(&("t".into(), 0)), Some(7));
        let a = g.join(vec![("t".into(), 1)]);
        flush_at(&g, a, 8);
        assert!(slot0.exists() && !legacy.exists());
        assert_eq!(group(&dir).committed(&("t".into(), 0)), Some(8));
    }
}
