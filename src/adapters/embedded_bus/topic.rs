//! Topics on disk: `topics/<name>/meta.json` plus one `<partition>.log` per partition.
//!
//! A topic is built in `staging/` and renamed into `topics/` in one step, so a crash during
//! creation never leaves a half-made topic behind.

use super::durable::{self, storage};
use super::partition_log::PartitionLog;
use crate::ports::bus::{BusError, TopicSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Partitions of a topic created with `partitions: -1` (Kafka's "broker default").
pub const DEFAULT_PARTITIONS: i32 = 3;
const META_FILE: &str = "meta.json";
/// Kafka's default `retention.ms` (7 days), for a topic created without one.
const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
const META_VERSION: u32 = 1;

/// What `meta.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicMeta {
    pub version: u32,
    pub name: String,
    pub partitions: i32,
    /// Kept to report what was asked for; the embedded bus has a single replica.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

impl TopicMeta {
    fn config(&self, key: &str) -> Option<&str> {
        self.configs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The topic's `retention.ms`: `None` for `-1` (keep forever), Kafka's 7 days when unset
    /// or unreadable.
    pub fn retention_ms(&self) -> Option<i64> {
        match self.config("retention.ms").map(str::parse::<i64>) {
            Some(Ok(ms)) if ms < 0 => None,
            Some(Ok(ms)) => Some(ms),
            _ => Some(DEFAULT_RETENTION_MS),
        }
    }

    /// The topic's `segment.bytes` when set to a positive number, else `default`.
    pub fn segment_bytes(&self, default: u64) -> u64 {
        self.config("segment.bytes")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|b| *b > 0)
            .unwrap_or(default)
    }
}

pub struct Topic {
    pub meta: TopicMeta,
    /// Indexed by partition number.
    pub partitions: Vec<Arc<PartitionLog>>,
}

impl Topic {
    pub fn partition(&self, partition: i32) -> Option<&Arc<PartitionLog>> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
    }
}

/// Checks a topic or group name against Kafka's topic-name rules, which also makes it a safe
/// file name: 1..=249 characters of `[A-Za-z0-9._-]`, and not `.` or `..`.
pub fn validate_name(kind: &str, name: &str) -> Result<(), BusError> {
    let legal = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 249 || !legal || name == "." || name == ".." {
        return Err(BusError::Invalid(format!(
            "{kind} name '{name}' must be 1 to 249 characters of letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Resolves the partition count of a spec: `-1` means the default, anything else below 1 is refused.
fn partition_count(spec: &TopicSpec) -> Result<i32, BusError> {
    match spec.partitions {
        -1 => Ok(DEFAULT_PARTITIONS),
        n if n >= 1 => Ok(n),
        n => Err(BusError::Invalid(format!(
            "topic '{}' needs at least one partition, got {n}",
            spec.name
        ))),
    }
}

/// Creates the topic directory through `staging`, then opens it (segments roll at the topic's
/// `segment.bytes`, else `segment_bytes`). Blocking.
pub fn create(root: &Path, spec: &TopicSpec, segment_bytes: u64) -> Result<Topic, BusError> {
    validate_name("topic", &spec.name)?;
    let meta = TopicMeta {
        version: META_VERSION,
        name: spec.name.clone(),
        partitions: partition_count(spec)?,
        replication_factor: spec.replication_factor,
        configs: spec.configs.clone(),
    };
    let staged = root.join("staging").join(&spec.name);
    if staged.exists() {
        fs::remove_dir_all(&staged).map_err(|e| storage("cannot clear", &staged, e))?;
    }
    fs::create_dir_all(&staged).map_err(|e| storage("cannot create", &staged, e))?;
    let json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| BusError::Storage(format!("cannot encode topic metadata: {e}")))?;
    durable::write_atomic(&staged.join(META_FILE), &json)?;
    for p in 0..meta.partitions {
        let path = staged.join(super::partition_log::first_segment_name(p));
        fs::File::create(&path).map_err(|e| storage("cannot create", &path, e))?;
    }
    durable::sync_dir(&staged)?;
    let target = root.join("topics").join(&spec.name);
    fs::rename(&staged, &target).map_err(|e| storage("cannot move topic into", &target, e))?;
    durable::sync_parent(&target)?;
    open(&target, segment_bytes)
}

/// Opens a topic directory: reads `meta.json` and opens (and repairs) every partition log,
/// whose segments roll at the topic's `segment.bytes`, else `segment_bytes`. Blocking.
pub fn open(dir: &Path, segment_bytes: u64) -> Result<Topic, BusError> {
    let meta_path = dir.join(META_FILE);
    let raw = fs::read(&meta_path).map_err(|e| storage("cannot read", &meta_path, e))?;
    let meta: TopicMeta = serde_json::from_slice(&raw)
        .map_err(|e| BusError::Storage(format!("{} is not valid: {e}", meta_path.display())))?;
    let segment_bytes = meta.segment_bytes(segment_bytes);
    let partitions = (0..meta.partitions)
        .map(|p| PartitionLog::open(dir, p, segment_bytes).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Topic { meta, partitions })
}

/// The `meta.json` of topic `name` under `root/topics`, read without opening its logs (so
/// another process may hold the bus meanwhile); `None` when the topic does not exist. Blocking.
pub fn read_meta(root: &Path, name: &str) -> Result<Option<TopicMeta>, BusError> {
    let meta_path = root.join("topics").join(name).join(META_FILE);
    let raw = match fs::read(&meta_path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(storage("cannot read", &meta_path, e)),
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|e| BusError::Storage(format!("{} is not valid: {e}", meta_path.display())))
}

/// Opens every topic under `root/topics`, and clears `root/staging` of interrupted creations.
pub fn open_all(root: &Path, segment_bytes: u64) -> Result<HashMap<String, Arc<Topic>>, BusError> {
    let staging = root.join("staging");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| storage("cannot clear", &staging, e))?;
    }
    fs::create_dir_all(&staging).map_err(|e| storage("cannot create", &staging, e))?;
    let topics_dir = root.join("topics");
    fs::create_dir_all(&topics_dir).map_err(|e| storage("cannot create", &topics_dir, e))?;
    let mut topics = HashMap::new();
    let entries = fs::read_dir(&topics_dir).map_err(|e| storage("cannot list", &topics_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| storage("cannot list", &topics_dir, e))?;
        let path = entry.path();
        if !path.join(META_FILE).is_file() {
            continue;
        }
        let topic = open(&path, segment_bytes)?;
        topics.insert(topic.meta.name.clone(), Arc::new(topic));
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_topic_rules() {
        for ok in ["user-info-submitted", "kyc-verified.dlq", "a_b.C-9"] {
            assert!(validate_name("topic", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "with space", &"x".repeat(250)] {
            assert!(validate_name("topic", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_created_topic_reopens_with_its_metadata() {
        let dir = tempfile::tempdir().expect("temp dir");
        open_all(dir.path(), u64::MAX).expect("prepare dirs");
        let spec = TopicSpec {
            name: "t".into(),
            partitions: -1,
            replication_factor: 2,
            configs: vec![("retention.ms".into(), "1000".into())],
        };
        create(dir.path(), &spec, u64::MAX).expect("create");
        let topics = open_all(dir.path(), u64::MAX).expect("reopen");
        let topic = &topics["t"];
        assert_eq!(topic.partitions.len(), DEFAULT_PARTITIONS as usize);
        assert_eq!(topic.meta.configs, spec.configs);
        assert_eq!(topic.meta.replication_factor, 2);
    }
}
