//! One partition's append-only log file: crash recovery, group-committed appends, positional reads.
//!
//! A partition is a run of segment files (`<p>.log`, then `<p>.<base offset>.log` once the
//! active segment outgrows the segment size), each a sequence of [`codec`] frames with
//! consecutive offsets. Memory holds only an index (file position per offset, 8 bytes a
//! record); values are read back with `pread`, so readers never take the writer's lock and
//! never wait for an fsync in progress. Retention deletes whole segments, oldest first.

use super::codec::{self, FrameError, StoredRecord, FRAME_HEADER};
use super::durable::{self, storage};
use crate::ports::bus::BusError;
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, watch};

/// A record to append; the log assigns its offset and timestamp.
#[derive(Debug, Clone)]
pub struct AppendRecord {
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub value: Bytes,
}

/// One publish call's records for this partition, waiting for the next group commit.
struct PendingAppend {
    records: Vec<AppendRecord>,
    reply: oneshot::Sender<Result<Vec<i64>, BusError>>,
}

/// One segment file: consecutive records from `base_offset` on.
struct Segment {
    base_offset: i64,
    path: PathBuf,
    /// Shared with readers, so a segment deleted by retention stays readable to a read that
    /// already started (the inode lives until the last handle closes).
    file: Arc<File>,
    /// File position of record `base_offset + i`.
    positions: Vec<u64>,
    /// Bytes of complete, fsynced frames; the next frame is written here.
    len: u64,
    /// Timestamp (ms) of the newest record; `None` while empty.
    newest_ms: Option<i64>,
}

impl Segment {
    fn end_offset(&self) -> i64 {
        self.base_offset + self.positions.len() as i64
    }
}

/// What readers, the writer and retention share; never held across I/O.
struct LogState {
    /// Oldest first; never empty: the last one is the active segment appends go to.
    segments: Vec<Segment>,
    /// Set when a failed append could not be rolled back: the file length is then unknown,
    /// so further appends are refused until the bus is reopened (which re-scans the file).
    failed: Option<String>,
}

impl LogState {
    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition log keeps its active segment")
    }

    fn start_offset(&self) -> i64 {
        self.segments[0].base_offset
    }

    fn end_offset(&self) -> i64 {
        self.active().end_offset()
    }
}

/// What one retention pass removed from a partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub segments: u64,
    pub records: u64,
}

pub struct PartitionLog {
    dir: PathBuf,
    partition: i32,
    /// The active segment is rolled once it holds at least this many bytes.
    segment_bytes: u64,
    state: Mutex<LogState>,
    /// Appends queued by publishers; whoever holds `writer` drains and writes them all at once.
    pending: Mutex<Vec<PendingAppend>>,
    /// Held by the group-commit leader for the whole write + fsync.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Serialises retention passes, so two cannot pick the same segment.
    retention: Mutex<()>,
    /// The end offset, published after each fsync so consumers wake up without polling.
    end_tx: watch::Sender<i64>,
}

/// Locks a std mutex, recovering from poisoning: every critical section here leaves the state
/// consistent before anything that could panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first segment's file name: `<partition>.log` (the only file before segments existed).
pub fn first_segment_name(partition: i32) -> String {
    format!("{partition}.log")
}

/// A rolled segment's file name: `<partition>.<base offset, 20 digits>.log`.
fn segment_name(partition: i32, base_offset: i64) -> String {
    format!("{partition}.{base_offset:020}.log")
}

/// The segment files of `partition` in `dir`, oldest first, each with the base offset its
/// name gives (`None` for the first segment, whose base is its first record's offset).
fn segment_files(dir: &Path, partition: i32) -> Result<Vec<(Option<i64>, PathBuf)>, BusError> {
    let first = first_segment_name(partition);
    let prefix = format!("{partition}.");
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| storage("cannot list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| storage("cannot list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == first {
            found.push((None, entry.path()));
        } else if let Some(base) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".log"))
            .filter(|digits| digits.len() == 20)
            .and_then(|digits| digits.parse::<i64>().ok())
        {
            found.push((Some(base), entry.path()));
        }
    }
    found.sort_by_key(|(base, _)| base.unwrap_or(i64::MIN));
    Ok(found)
}

/// Opens one segment file, rebuilds its index and cuts off a torn or corrupt tail.
fn open_segment(path: &Path, named_base: i64) -> Result<Segment, BusError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| storage("cannot open log", path, e))?;
    let actual_len = file
        .metadata()
        .map_err(|e| storage("cannot stat log", path, e))?
        .len();
    let scan = scan(&file, path)?;
    if scan.valid_len < actual_len {
        tracing::warn!(
            log = %path.display(),
            kept_bytes = scan.valid_len,
            dropped_bytes = actual_len - scan.valid_len,
            reason = scan.stop_reason.unwrap_or("unknown"),
            "Truncating a torn or corrupt tail of a partition log."
        );
        file.set_len(scan.valid_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| storage("cannot truncate log", path, e))?;
    }
    Ok(Segment {
        base_offset: if scan.positions.is_empty() {
            named_base
        } else {
            scan.start_offset
        },
        path: path.to_path_buf(),
        file: Arc::new(file),
        positions: scan.positions,
        len: scan.valid_len,
        newest_ms: scan.newest_ms,
    })
}

impl PartitionLog {
    /// Opens (or creates) partition `partition` in the topic directory `dir`: every segment,
    /// oldest first, with its offset index rebuilt and a torn or corrupt tail left by a crash
    /// cut off. The active segment is rolled past `segment_bytes`. Blocking.
    pub fn open(dir: &Path, partition: i32, segment_bytes: u64) -> Result<Self, BusError> {
        let mut files = segment_files(dir, partition)?;
        if files.is_empty() {
            files.push((None, dir.join(first_segment_name(partition))));
        }
        let mut segments: Vec<Segment> = Vec::with_capacity(files.len());
        for (named_base, path) in files {
            let after_previous = segments.last().map_or(0, Segment::end_offset);
            segments.push(open_segment(&path, named_base.unwrap_or(after_previous))?);
        }
        let state = LogState {
            segments,
            failed: None,
        };
        let (end_tx, _) = watch::channel(state.end_offset());
        Ok(Self {
            dir: dir.to_path_buf(),
            partition,
            segment_bytes: segment_bytes.max(1),
            state: Mutex::new(state),
            pending: Mutex::new(Vec::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            retention: Mutex::new(()),
            end_tx,
        })
    }

    pub fn start_offset(&self) -> i64 {
        lock(&self.state).start_offset()
    }

    /// The offset the next appended record will get; records below it are durable.
    pub fn end_offset(&self) -> i64 {
        lock(&self.state).end_offset()
    }

    /// How many segment files the partition has (the active one included).
    pub fn segment_count(&self) -> usize {
        lock(&self.state).segments.len()
    }

    /// Changes whenever records were appended.
    pub fn watch_end(&self) -> watch::Receiver<i64> {
        self.end_tx.subscribe()
    }

    /// Appends `records` durably (written and fsynced) and returns their offsets in order.
    ///
    /// Group commit: concurrent callers queue their records; the first to get the writer lock
    /// writes everything queued so far with one write and one fsync, then replies to each.
    /// The lock moves into the blocking task, so a cancelled caller cannot let a second writer
    /// start while a write is still running.
    pub async fn append(
        self: &Arc<Self>,
        records: Vec<AppendRecord>,
    ) -> Result<Vec<i64>, BusError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, mut done) = oneshot::channel();
        lock(&self.pending).push(PendingAppend { records, reply });
        // A leader may write our records while we wait for the lock: then we are done early.
        let guard = tokio::select! {
            biased;
            answer = &mut done => return flatten(answer),
            guard = self.writer.clone().lock_owned() => guard,
        };
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            drop(guard);
        } else {
            let log = self.clone();
            tokio::task::spawn_blocking(move || {
                let _guard = guard;
                log.write_batch(batch);
            })
            .await
            .map_err(|e| BusError::Storage(format!("the log writer failed: {e}")))?;
        }
        flatten(done.await)
    }

    /// Starts a new, empty active segment when the current one is full. Called by the writer
    /// only, so the active segment cannot change meanwhile.
    fn roll_if_full(&self) -> Result<(), BusError> {
        let next_base = {
            let state = lock(&self.state);
            let active = state.active();
            if active.len < self.segment_bytes || active.positions.is_empty() {
                return Ok(());
            }
            active.end_offset()
        };
        let path = self.dir.join(segment_name(self.partition, next_base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| storage("cannot create segment", &path, e))?;
        durable::sync_dir(&self.dir)?;
        lock(&self.state).segments.push(Segment {
            base_offset: next_base,
            path,
            file: Arc::new(file),
            positions: Vec::new(),
            len: 0,
            newest_ms: None,
        });
        Ok(())
    }

    /// Writes all queued appends with one write and one fsync, then answers each caller.
    fn write_batch(&self, batch: Vec<PendingAppend>) {
        let refuse = |batch: Vec<PendingAppend>, err: String| {
            for p in batch {
                let _ = p.reply.send(Err(BusError::Storage(err.clone())));
            }
        };
        if let Some(reason) = &lock(&self.state).failed {
            let err = format!(
                "partition {} in {} is unusable: {reason}",
                self.partition,
                self.dir.display()
            );
            return refuse(batch, err);
        }
        if let Err(e) = self.roll_if_full() {
            return refuse(batch, e.to_string());
        }
        let (file, path, file_len, first_offset) = {
            let state = lock(&self.state);
            let active = state.active();
            (
                active.file.clone(),
                active.path.clone(),
                active.len,
                active.end_offset(),
            )
        };
        let timestamp_ms = now_ms();
        let mut buf = Vec::new();
        let mut positions = Vec::new();
        let mut next = first_offset;
        let mut offsets_per_call = Vec::with_capacity(batch.len());
        for p in &batch {
            let mut offsets = Vec::with_capacity(p.records.len());
            for r in &p.records {
                positions.push(file_len + buf.len() as u64);
                codec::encode(
                    &mut buf,
                    next,
                    timestamp_ms,
                    Some(&r.key),
                    &r.headers,
                    &r.value,
                );
                offsets.push(next);
                next += 1;
            }
            offsets_per_call.push(offsets);
        }
        let written = file
            .write_all_at(&buf, file_len)
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            let err = storage("cannot append to", &path, e);
            // Roll back a partial write so the next append starts at a frame boundary.
            if let Err(rollback) = file.set_len(file_len).and_then(|()| file.sync_data()) {
                lock(&self.state).failed = Some(rollback.to_string());
            }
            return refuse(batch, err.to_string());
        }
        let end = {
            let mut state = lock(&self.state);
            let active = state
                .segments
                .last_mut()
                .expect("a partition log keeps its active segment");
            active.positions.extend(positions);
            active.len = file_len + buf.len() as u64;
            active.newest_ms = Some(timestamp_ms);
            active.end_offset()
        };
        self.end_tx.send_replace(end);
        for (p, offsets) in batch.into_iter().zip(offsets_per_call) {
            let _ = p.reply.send(Ok(offsets));
        }
    }

    /// Reads up to `max_records` records from offset `from` (at least one if any is there, then
    /// stopping before `max_bytes`), across segments. An offset below the log's start reads
    /// from the start, as Kafka's `earliest` reset would. Blocking: call from `spawn_blocking`.
    pub fn read(
        &self,
        from: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<StoredRecord>, BusError> {
        // (file, path, first position, end position) of each segment's part of the read.
        let mut chunks = Vec::new();
        let mut count = 0;
        {
            let state = lock(&self.state);
            let (mut from, mut bytes) = (from, 0u64);
            for segment in &state.segments {
                if count >= max_records || (count > 0 && bytes >= max_bytes) {
                    break;
                }
                if segment.end_offset() <= from {
                    continue;
                }
                from = from.max(segment.base_offset);
                let first = (from - segment.base_offset) as usize;
                let first_pos = segment.positions[first];
                let size_of = |i: usize| {
                    segment.positions.get(i + 1).copied().unwrap_or(segment.len)
                        - segment.positions[i]
                };
                // At least one record overall, then only what fits.
                let mut last = first;
                while last < segment.positions.len()
                    && count < max_records
                    && (count == 0 || bytes + size_of(last) <= max_bytes)
                {
                    bytes += size_of(last);
                    count += 1;
                    last += 1;
                }
                let end_pos = segment.positions.get(last).copied().unwrap_or(segment.len);
                if end_pos > first_pos {
                    chunks.push((
                        segment.file.clone(),
                        segment.path.clone(),
                        first_pos,
                        end_pos,
                    ));
                }
                from = segment.end_offset();
            }
        }
        let mut out = Vec::with_capacity(count);
        for (file, path, first_pos, end_pos) in chunks {
            let mut raw = vec![0; (end_pos - first_pos) as usize];
            file.read_exact_at(&mut raw, first_pos)
                .map_err(|e| storage("cannot read", &path, e))?;
            let mut buf = Bytes::from(raw);
            while !buf.is_empty() {
                let (record, size) = codec::decode_frame(&buf).map_err(|e| {
                    BusError::Storage(format!(
                        "log {} changed under a reader: {e}",
                        path.display()
                    ))
                })?;
                out.push(record);
                buf = buf.slice(size..);
            }
        }
        Ok(out)
    }

    /// Deletes whole segments, oldest first, whose newest record is older than `cutoff_ms`
    /// (epoch milliseconds), as Kafka's time retention does: never the active segment, and
    /// regardless of any consumer group's position. Blocking.
    pub fn remove_segments_older_than(&self, cutoff_ms: i64) -> Result<Removed, BusError> {
        let _one_pass = lock(&self.retention);
        let mut removed = Removed::default();
        loop {
            let victim = {
                let state = lock(&self.state);
                let oldest = &state.segments[0];
                let expired = oldest.newest_ms.is_none_or(|newest| newest < cutoff_ms);
                (state.segments.len() > 1 && expired)
                    .then(|| (oldest.path.clone(), oldest.positions.len() as u64))
            };
            let Some((path, records)) = victim else {
                break;
            };
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(storage("cannot delete segment", &path, e)),
            }
            // Only the writer adds segments, at the end, and only retention removes them.
            lock(&self.state).segments.remove(0);
            removed.segments += 1;
            removed.records += records;
        }
        if removed.segments > 0 {
            durable::sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

/// The answer of the writer that took our records; it only vanishes if that writer panicked.
fn flatten(
    answer: Result<Result<Vec<i64>, BusError>, oneshot::error::RecvError>,
) -> Result<Vec<i64>, BusError> {
    answer.map_err(|_| BusError::Storage("the append was abandoned by the log writer".into()))?
}

/// What a scan of a log file found.
struct Scan {
    start_offset: i64,
    positions: Vec<u64>,
    /// Length of the prefix made of valid frames with consecutive offsets.
    valid_len: u64,
    /// Timestamp of the newest valid record.
    newest_ms: Option<i64>,
    stop_reason: Option<&'static str>,
}

/// Reads the file frame by frame (streaming, so memory stays bounded by one record).
fn scan(file: &File, path: &Path) -> Result<Scan, BusError> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut out = Scan {
        start_offset: 0,
        positions: Vec::new(),
        valid_len: 0,
        newest_ms: None,
        stop_reason: None,
    };
    loop {
        let mut header = [0u8; FRAME_HEADER];
        match read_full(&mut reader, &mut header) {
            Ok(0) => return Ok(out),
            Ok(n) if n < FRAME_HEADER => {
                out.stop_reason = Some("cut-short frame header");
                return Ok(out);
            }
            Ok(_) => {}
            Err(e) => return Err(storage("cannot read log", path, e)),
        }
        let (len, crc) = match codec::decode_header(&header) {
            Ok(v) => v,
            Err(e) => {
                out.stop_reason = Some(frame_reason(e));
                return Ok(out);
            }
        };
        let mut payload = vec![0u8; len];
        match read_full(&mut reader, &mut payload) {
            Ok(n) if n < len => {
                out.stop_reason = Some("cut-short record");
                return Ok(out);
            }
            Ok(_) => {}
            Err(e) => return Err(storage("cannot read log", path, e)),
        }
        if crc32fast::hash(&payload) != crc {
            out.stop_reason = Some("checksum mismatch");
            return Ok(out);
        }
        let record = match codec::decode_payload(Bytes::from(payload)) {
            Ok(r) => r,
            Err(e) => {
                out.stop_reason = Some(frame_reason(e));
                return Ok(out);
            }
        };
        if out.positions.is_empty() {
            out.start_offset = record.offset;
        } else if record.offset != out.start_offset + out.positions.len() as i64 {
            out.stop_reason = Some("offset out of sequence");
            return Ok(out);
        }
        out.positions.push(out.valid_len);
        out.valid_len += (FRAME_HEADER + len) as u64;
        out.newest_ms = Some(
            out.newest_ms
                .map_or(record.timestamp_ms, |n| n.max(record.timestamp_ms)),
        );
    }
}

fn frame_reason(e: FrameError) -> &'static str {
    match e {
        FrameError::Truncated => "cut-short record",
        FrameError::Corrupt(reason) => reason,
    }
}

/// Like `read_exact`, but reports how much was read when the file ends early.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(key: &str, value: &str) -> AppendRecord {
        AppendRecord {
            key: key.into(),
            headers: vec![("h".into(), "v".into())],
            value: Bytes::from(value.to_string()),
        }
    }

    #[tokio::test]
    async fn appended_records_get_consecutive_offsets_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Arc::new(PartitionLog::open(dir.path(), 0, u64::MAX).expect("open"));
        let first = log
            .append(vec![record("k", "a"), record("k", "b")])
            .await
            .expect("append");
        let second = log.append(vec![record("k", "c")]).await.expect("append");
        assert_eq!(first, vec![0, 1]);
        assert_eq!(second, vec![2]);
        let read = log.read(1, 10, u64::MAX).expect("read");
        let values: Vec<_> = read.iter().map(|r| r.value.clone()).collect();
        assert_eq!(values, vec![Bytes::from("b"), Bytes::from("c")]);
        assert_eq!(read[0].offset, 1);
    }

    #[tokio::test]
    async fn read_stops_at_max_records_and_max_bytes_but_returns_at_least_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Arc::new(PartitionLog::open(dir.path(), 0, u64::MAX).expect("open"));
        log.append((0..5).map(|i| record("k", &i.to_string())).collect())
            .await
            .expect("append");
        assert_eq!(log.read(0, 2, u64::MAX).expect("read").len(), 2);
        assert_eq!(log.read(0, 10, 1).expect("read").len(), 1);
        assert!(log.read(5, 10, u64::MAX).expect("read").is_empty());
    }

    #[tokio::test]
    async fn concurrent_appends_all_land_with_unique_offsets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Arc::new(PartitionLog::open(dir.path(), 0, u64::MAX).expect("open"));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.append(vec![record("k", &i.to_string())]).await })
            })
            .collect();
        let mut offsets = Vec::new();
        for t in tasks {
            offsets.extend(t.await.expect("task").expect("append"));
        }
        offsets.sort_unstable();
        assert_eq!(offsets, (0..20).collect::<Vec<_>>());
        assert_eq!(log.end_offset(), 20);
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_off_on_open_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("0.log");
        {
            let log = Arc::new(PartitionLog::open(dir.path(), 0, u64::MAX).expect("open"));
            log.append(vec![record("k", "a"), record("k", "b")])
                .await
                .expect("append");
        }
        let good_len = std::fs::metadata(&path).expect("stat").len();
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open raw");
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9])
            .expect("write torn frame");
        drop(file);

        let log = Arc::new(PartitionLog::open(dir.path(), 0, u64::MAX).expect("reopen"));
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), good_len);
        assert_eq!(log.end_offset(), 2);
        assert_eq!(
            log.append(vec![record("k", "c")]).await.expect("append"),
            vec![2]
        );
        assert_eq!(log.read(0, 10, u64::MAX).expect("read").len(), 3);
    }
}
