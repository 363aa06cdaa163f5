//! The gateway's durable store of accepted readings.
//!
//! Readings are appended to a journal and synced before the gateway acknowledges them, so
//! an acknowledged reading survives any crash. An in-memory index (rebuilt by replaying the
//! journal at startup) keeps, per device stream, each reading's sequence number, journal
//! position, timestamp, Merkle leaf and signing key: enough to check new readings, build
//! anchors and answer range queries without touching the journal; the journal is read only
//! to return reading bodies. Queries walk the index in place and stop at their limit; they
//! never copy a stream's index.
//!
//! Retention: readings older than the retention period (by the gateway's receive time) are
//! pruned, journal section by journal section, with their index entries; each stream keeps
//! its last reading's entry, so replays stay refused. After a restart, a stream whose
//! readings were all pruned is checked against the chain's last anchored sequence number.
//!
//! A failed write leaves the journal unusable: the store then refuses everything with
//! `unavailable` (nothing more is acknowledged) and reports itself down until the node
//! restarts.

use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::journal::contiguous::{
    Contiguous, Many,
    variable::{Config, Journal},
};
use commonware_utils::{NZU64, NZUsize};
use futures::StreamExt;
use machina_types::{Address, DeviceId, ErrorCode, Hash, SignedReading, reading::StreamId};
use std::num::NonZeroU64;
use std::{
    collections::BTreeMap,
    ops::RangeInclusive,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

/// Readings per journal section: the unit of pruning.
pub const SECTION_READINGS: NonZeroU64 = NZU64!(65_536);

/// A reading as stored: the device-signed reading, the key that verified it, and when the
/// gateway received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReading {
    /// The reading.
    pub reading: SignedReading,
    /// The device key its signature verified against.
    pub key: Address,
    /// When the gateway received it (ms since the Unix epoch).
    pub received_ms: u64,
}

/// What the index keeps of one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Journal position.
    pub position: u64,
    /// Device timestamp.
    pub timestamp_ms: u64,
    /// Merkle leaf of the signed reading.
    pub leaf: Hash,
    /// The device key that signed it.
    pub key: Address,
}

/// A device stream.
pub type StreamKey = (DeviceId, StreamId);

/// How a new reading relates to what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// New: store it.
    New,
    /// The exact reading is already stored: acknowledge it again, store nothing.
    Duplicate,
}

/// A stream's summary, without its readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Readings stored (and not pruned).
    pub stored: usize,
    /// The first stored sequence number.
    pub first_seq: Option<u64>,
    /// The last sequence number accepted (kept after pruning).
    pub last_seq: Option<u64>,
}

/// The store failed to write: it refuses everything until the node restarts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the readings journal failed: {0}")]
pub struct StoreFailed(pub String);

#[derive(Default)]
struct Stream {
    entries: BTreeMap<u64, Entry>,
    /// The last reading accepted (its entry may be pruned): later ones must follow it.
    last: Option<(u64, Entry)>,
    /// Sequence numbers up to this are anchored on chain (known after a restart that pruned
    /// the stream): they are refused as replays.
    floor: Option<u64>,
}

struct Index {
    streams: BTreeMap<StreamKey, Stream>,
    next_position: u64,
    /// Readings per journal section.
    section: u64,
    /// Receive time of the first reading of each journal section still held.
    sections: BTreeMap<u64, u64>,
}

/// The readings store.
pub struct ReadingStore<E: Storage + Clock + Metrics + Spawner> {
    journal: tokio::sync::RwLock<Option<Journal<E, StoredReading>>>,
    index: Mutex<Index>,
    failed: AtomicBool,
}

fn journal_config(partition: &str, cache: CacheRef, section: NonZeroU64) -> Config<()> {
    Config {
        partition: partition.to_string(),
        items_per_section: section,
        compression: None,
        codec_config: (),
        page_cache: cache,
        write_buffer: NZUsize!(1 << 20),
        replay_buffer: NZUsize!(1 << 20),
    }
}

impl<E: Storage + Clock + Metrics + Spawner> ReadingStore<E> {
    /// Opens (or creates) the store in `partition`, rebuilding the index.
    pub async fn open(context: E, partition: &str, cache: CacheRef) -> Arc<Self> {
        Self::open_with_sections(context, partition, cache, SECTION_READINGS).await
    }

    /// Opens the store with `section` readings per journal section (the unit of pruning).
    pub async fn open_with_sections(
        context: E,
        partition: &str,
        cache: CacheRef,
        section: NonZeroU64,
    ) -> Arc<Self> {
        let journal: Journal<E, StoredReading> =
            Journal::init(context, journal_config(partition, cache, section))
                .await
                .expect("readings journal");
        let mut index = Index {
            streams: BTreeMap::new(),
            next_position: journal.size(),
            section: section.get(),
            sections: BTreeMap::new(),
        };
        {
            let bounds = journal.bounds();
            let replay = journal
                .replay(bounds, NZUsize!(1 << 20), Default::default())
                .await
                .expect("readings replay");
            futures::pin_mut!(replay);
            while let Some(batch) = replay.next().await {
                for (position, stored) in batch.expect("readings replay") {
                    index.insert(position, &stored);
                }
            }
        }
        Arc::new(Self {
            journal: tokio::sync::RwLock::new(Some(journal)),
            index: Mutex::new(index),
            failed: AtomicBool::new(false),
        })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // The index is consistent between any two statements that touch it; a panic
        // elsewhere while the lock was held leaves nothing half-done.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a write failed (the store refuses everything until the node restarts).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Whether `stream` needs its chain floor before a reading can be checked: it has no
    /// reading in the index and no floor yet (the first reading after a restart that pruned
    /// it, or a new stream).
    pub fn needs_floor(&self, stream: &StreamKey) -> bool {
        self.index().streams.get(stream).is_none_or(|s| s.last.is_none() && s.floor.is_none())
    }

    /// Checks `reading` against its stream and, if it is new, reserves its place: later
    /// readings of the stream are checked against it. `floor` is the chain's last anchored
    /// sequence number of the stream when [`Self::needs_floor`] asked for it. Call
    /// [`Self::append`] with every reserved reading before acknowledging any of them.
    pub fn reserve(
        &self,
        stored: &StoredReading,
        floor: Option<u64>,
    ) -> Result<Admission, ErrorCode> {
        if self.failed() {
            return Err(ErrorCode::Unavailable);
        }
        let r = &stored.reading.reading;
        let leaf = stored.reading.leaf();
        let mut index = self.index();
        let stream = index.streams.entry((r.device, r.stream)).or_default();
        if stream.floor.is_none() {
            stream.floor = floor;
        }
        if let Some(existing) = stream.entries.get(&r.seq) {
            return if existing.leaf == leaf {
                Ok(Admission::Duplicate)
            } else {
                Err(ErrorCode::SequenceNotIncreasing)
            };
        }
        if let Some((last_seq, last)) = stream.last {
            if last_seq == r.seq && last.leaf == leaf {
                return Ok(Admission::Duplicate);
            }
            if last_seq >= r.seq {
                return Err(ErrorCode::SequenceNotIncreasing);
            }
            if last.timestamp_ms > r.timestamp_ms {
                return Err(ErrorCode::TimestampOutOfRange);
            }
        }
        if stream.floor.is_some_and(|f| r.seq <= f) {
            return Err(ErrorCode::SequenceNotIncreasing);
        }
        let position = index.next_position;
        index.insert(position, stored);
        Ok(Admission::New)
    }

    /// Appends reserved readings, in reservation order, and syncs them to disk. On failure
    /// the store is failed for good (see the module docs) and none of them may be
    /// acknowledged.
    pub async fn append(&self, items: &[StoredReading]) -> Result<(), StoreFailed> {
        if items.is_empty() {
            return Ok(());
        }
        let mut guard = self.journal.write().await;
        let Some(journal) = guard.take() else {
            return Err(StoreFailed("an earlier write failed".into()));
        };
        let result = async {
            let (journal, _) = journal.append_many(Many::Flat(items)).await?;
            journal.sync().await
        }
        .await;
        match result {
            Ok(journal) => {
                *guard = Some(journal);
                Ok(())
            }
            Err(error) => {
                self.failed.store(true, Ordering::Relaxed);
                tracing::error!(%error, "the readings journal failed; readings are refused");
                Err(StoreFailed(error.to_string()))
            }
        }
    }

    /// Up to `limit` stored readings of a stream with sequence numbers in `seqs` and
    /// timestamps in `times`, in order, walking the index in place.
    pub fn page(
        &self,
        stream: &StreamKey,
        seqs: RangeInclusive<u64>,
        times: RangeInclusive<u64>,
        limit: usize,
    ) -> Vec<(u64, Entry)> {
        let index = self.index();
        let Some(s) = index.streams.get(stream) else { return Vec::new() };
        s.entries
            .range(seqs)
            .filter(|(_, e)| times.contains(&e.timestamp_ms))
            .take(limit)
            .map(|(q, e)| (*q, *e))
            .collect()
    }

    /// The stored readings of a stream with sequence numbers in `seqs`, if there are at most
    /// `max` of them (`None` otherwise).
    pub fn entries_at_most(
        &self,
        stream: &StreamKey,
        seqs: RangeInclusive<u64>,
        max: usize,
    ) -> Option<Vec<(u64, Entry)>> {
        let index = self.index();
        let Some(s) = index.streams.get(stream) else { return Some(Vec::new()) };
        let entries: Vec<_> = s.entries.range(seqs).take(max + 1).map(|(q, e)| (*q, *e)).collect();
        (entries.len() <= max).then_some(entries)
    }

    /// The entry of reading `seq` of `stream`, if stored.
    pub fn entry(&self, stream: &StreamKey, seq: u64) -> Option<Entry> {
        self.index().streams.get(stream)?.entries.get(&seq).copied()
    }

    /// A stream's counts, without its readings.
    pub fn summary(&self, stream: &StreamKey) -> StreamSummary {
        let index = self.index();
        let Some(s) = index.streams.get(stream) else { return StreamSummary::default() };
        StreamSummary {
            stored: s.entries.len(),
            first_seq: s.entries.keys().next().copied(),
            last_seq: s.last.map(|(seq, _)| seq),
        }
    }

    /// Every stream with stored readings and its last stored sequence number.
    pub fn streams(&self) -> Vec<(StreamKey, u64)> {
        let index = self.index();
        index
            .streams
            .iter()
            .filter_map(|(k, s)| Some((*k, *s.entries.keys().next_back()?)))
            .collect()
    }

    /// Reads the stored reading at `position`.
    pub async fn read(&self, position: u64) -> Option<StoredReading> {
        let guard = self.journal.read().await;
        guard.as_ref()?.read(position).await.ok()
    }

    /// Prunes every journal section whose readings were all received before `before_ms`,
    /// with their index entries (each stream keeps its last accepted reading for the replay
    /// check). Returns the readings pruned.
    pub async fn prune(&self, before_ms: u64) -> Result<u64, StoreFailed> {
        let boundary = {
            let index = self.index();
            // A section may go once the next one started before the cut-off.
            let mut boundary = None;
            let starts: Vec<(u64, u64)> = index.sections.iter().map(|(s, t)| (*s, *t)).collect();
            for pair in starts.windows(2) {
                if pair[1].1 < before_ms {
                    boundary = Some(pair[1].0 * index.section);
                }
            }
            boundary
        };
        let Some(boundary) = boundary else { return Ok(0) };
        let mut guard = self.journal.write().await;
        let Some(journal) = guard.take() else {
            return Err(StoreFailed("an earlier write failed".into()));
        };
        let start = journal.bounds().start;
        match journal.prune(boundary).await {
            Ok((journal, _)) => {
                let pruned_to = journal.bounds().start;
                *guard = Some(journal);
                drop(guard);
                self.index().forget_below(pruned_to);
                Ok(pruned_to.saturating_sub(start))
            }
            Err(error) => {
                self.failed.store(true, Ordering::Relaxed);
                tracing::error!(%error, "pruning the readings journal failed");
                Err(StoreFailed(error.to_string()))
            }
        }
    }
}

impl Index {
    fn insert(&mut self, position: u64, stored: &StoredReading) {
        let r = &stored.reading.reading;
        let entry = Entry {
            position,
            timestamp_ms: r.timestamp_ms,
            leaf: stored.reading.leaf(),
            key: stored.key,
        };
        let stream = self.streams.entry((r.device, r.stream)).or_default();
        stream.entries.insert(r.seq, entry);
        if stream.last.is_none_or(|(seq, _)| seq < r.seq) {
            stream.last = Some((r.seq, entry));
        }
        self.sections.entry(position / self.section).or_insert(stored.received_ms);
        self.next_position = self.next_position.max(position + 1);
    }

    /// Drops the entries of readings at journal positions below `position`. Within a stream,
    /// positions grow with sequence numbers, so the pruned entries are a prefix.
    fn forget_below(&mut self, position: u64) {
        for stream in self.streams.values_mut() {
            let keep = stream.entries.iter().find(|(_, e)| e.position >= position).map(|(q, _)| *q);
            stream.entries = match keep {
                Some(seq) => stream.entries.split_off(&seq),
                None => BTreeMap::new(),
            };
        }
        let size = self.section;
        self.sections.retain(|section, _| (section + 1) * size > position);
    }
}

impl Write for StoredReading {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.reading.write(buf);
        self.key.write(buf);
        self.received_ms.write(buf);
    }
}

impl EncodeSize for StoredReading {
    fn encode_size(&self) -> usize {
        self.reading.encode_size() + 32 + 8
    }
}

impl Read for StoredReading {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            reading: SignedReading::read(buf)?,
            key: Address::read(buf)?,
            received_ms: u64::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer, ed25519::PrivateKey};
    use commonware_runtime::{Runner, deterministic};
    use machina_types::{Reading, Value};

    const SECTION: NonZeroU64 = NZU64!(4);

    fn stored(key: &PrivateKey, stream: StreamId, seq: u64, received_ms: u64) -> StoredReading {
        let reading = Reading {
            device: Hash([9; 32]),
            stream,
            seq,
            timestamp_ms: seq,
            value: Value::Numeric { value: seq as i64, decimals: 0, unit: "C".into() },
        }
        .sign(key);
        StoredReading { reading, key: Address::of(&key.public_key()), received_ms }
    }

    async fn store(
        store: &ReadingStore<deterministic::Context>,
        items: &[StoredReading],
    ) -> Result<(), StoreFailed> {
        for item in items {
            assert_eq!(store.reserve(item, None), Ok(Admission::New));
        }
        store.append(items).await
    }

    fn open(
        context: deterministic::Context,
    ) -> impl std::future::Future<Output = Arc<ReadingStore<deterministic::Context>>> {
        let cache = machina_store::page_cache(NZUsize!(64));
        async move { ReadingStore::open_with_sections(context, "readings", cache, SECTION).await }
    }

    #[test]
    fn readings_past_retention_are_pruned_by_section_and_their_replays_stay_refused() {
        let key = PrivateKey::from_seed(1);
        let runner = deterministic::Runner::default();
        let first = key.clone();
        let checkpoint = runner.start_and_recover(|context| async move {
            let key = first;
            let s = open(context).await;
            // Stream 1 gets readings 1..=10 received at 1..=10 s; stream 2 one at 1 s.
            let readings: Vec<_> = (1..=10).map(|q| stored(&key, 1, q, q * 1000)).collect();
            store(&s, &readings[..1]).await.unwrap();
            store(&s, &[stored(&key, 2, 1, 1500)]).await.unwrap();
            store(&s, &readings[1..]).await.unwrap();
            // Sections hold positions 0-3, 4-7, 8-11: everything before 7.5 s may go, in whole
            // sections: the first (received up to 3 s).
            let pruned = s.prune(7_500).await.unwrap();
            assert_eq!(pruned, 4);
            let left = s.page(&(Hash([9; 32]), 1), 0..=u64::MAX, 0..=u64::MAX, 100);
            assert_eq!(left.first().map(|(q, _)| *q), Some(4));
            assert_eq!(s.summary(&(Hash([9; 32]), 2)).stored, 0, "stream 2 fully pruned");
            // A replay of a pruned reading is still refused, in both streams.
            let replay = stored(&key, 1, 2, 20_000);
            assert_eq!(s.reserve(&replay, None), Err(ErrorCode::SequenceNotIncreasing));
            let replay = stored(&key, 2, 1, 20_000);
            assert_eq!(s.reserve(&replay, None), Ok(Admission::Duplicate));
            assert!(!s.needs_floor(&(Hash([9; 32]), 2)));
        });
        // After a restart the pruned stream has no reading left: its replay check falls back
        // on the chain's last anchored sequence number.
        deterministic::Runner::from(checkpoint.1).start(|context| async move {
            let s = open(context).await;
            let stream = (Hash([9; 32]), 2);
            assert!(s.needs_floor(&stream));
            let replay = stored(&key, 2, 1, 30_000);
            assert_eq!(s.reserve(&replay, Some(1)), Err(ErrorCode::SequenceNotIncreasing));
            assert_eq!(s.reserve(&stored(&key, 2, 2, 30_000), None), Ok(Admission::New));
            assert_eq!(s.summary(&(Hash([9; 32]), 1)).last_seq, Some(10));
        });
    }

    #[test]
    fn after_a_failed_write_the_store_refuses_everything_and_acknowledges_nothing() {
        let key = PrivateKey::from_seed(2);
        deterministic::Runner::default().start(|context| async move {
            let faults = context.storage_fault_config();
            let s = open(context).await;
            store(&s, &[stored(&key, 1, 1, 1)]).await.unwrap();
            faults.write().sync_rate = Some(commonware_utils::probability!(1.0));
            assert!(store(&s, &[stored(&key, 1, 2, 2)]).await.is_err());
            assert!(s.failed());
            assert_eq!(s.reserve(&stored(&key, 1, 3, 3), None), Err(ErrorCode::Unavailable));
            assert!(s.append(&[stored(&key, 1, 3, 3)]).await.is_err());
        });
    }
}
