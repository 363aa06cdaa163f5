//! The gateway's durable store of accepted readings.
//!
//! Readings are appended to a journal and synced before the gateway acknowledges them, so
//! an acknowledged reading survives any crash. An in-memory index (rebuilt by replaying the
//! journal at startup) keeps, per device stream, each reading's sequence number, journal
//! position, timestamp, Merkle leaf and signing key: enough to check new readings, build
//! anchors and answer range queries without touching the journal; the journal is read only
//! to return reading bodies.

use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::journal::contiguous::{
    Contiguous, Many,
    variable::{Config, Journal},
};
use commonware_utils::{NZU64, NZUsize};
use futures::StreamExt;
use machina_types::{Address, DeviceId, ErrorCode, Hash, SignedReading, reading::StreamId};
use std::{
    collections::BTreeMap,
    ops::RangeBounds,
    sync::{Arc, Mutex},
};

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

#[derive(Default)]
struct Index {
    streams: BTreeMap<StreamKey, BTreeMap<u64, Entry>>,
    next_position: u64,
}

/// The readings store.
pub struct ReadingStore<E: Storage + Clock + Metrics + Spawner> {
    journal: tokio::sync::RwLock<Option<Journal<E, StoredReading>>>,
    index: Mutex<Index>,
}

fn journal_config(partition: &str, cache: CacheRef) -> Config<()> {
    Config {
        partition: partition.to_string(),
        items_per_section: NZU64!(65_536),
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
        let journal: Journal<E, StoredReading> =
            Journal::init(context, journal_config(partition, cache))
                .await
                .expect("readings journal");
        let mut index = Index { next_position: journal.size(), ..Index::default() };
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
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().expect("readings index")
    }

    /// Checks `reading` against its stream and, if it is new, reserves its place: later
    /// readings of the stream are checked against it. Call [`Self::append`] with every
    /// reserved reading before acknowledging any of them.
    pub fn reserve(&self, stored: &StoredReading) -> Result<Admission, ErrorCode> {
        let r = &stored.reading.reading;
        let leaf = stored.reading.leaf();
        let mut index = self.index();
        let stream = index.streams.entry((r.device, r.stream)).or_default();
        if let Some(existing) = stream.get(&r.seq) {
            return if existing.leaf == leaf {
                Ok(Admission::Duplicate)
            } else {
                Err(ErrorCode::SequenceNotIncreasing)
            };
        }
        if let Some((last_seq, last)) = stream.last_key_value() {
            if *last_seq > r.seq {
                return Err(ErrorCode::SequenceNotIncreasing);
            }
            if last.timestamp_ms > r.timestamp_ms {
                return Err(ErrorCode::TimestampOutOfRange);
            }
        }
        let position = index.next_position;
        index.next_position += 1;
        index.insert(position, stored);
        Ok(Admission::New)
    }

    /// Appends reserved readings, in reservation order, and syncs them to disk.
    pub async fn append(&self, items: &[StoredReading]) {
        if items.is_empty() {
            return;
        }
        let mut guard = self.journal.write().await;
        let journal = guard.take().expect("journal present");
        let (journal, _) = journal.append_many(Many::Flat(items)).await.expect("readings append");
        let journal = journal.sync().await.expect("readings sync");
        *guard = Some(journal);
    }

    /// The stored readings of a stream with sequence numbers in `seqs`, in order.
    pub fn entries(&self, stream: &StreamKey, seqs: impl RangeBounds<u64>) -> Vec<(u64, Entry)> {
        let index = self.index();
        index
            .streams
            .get(stream)
            .map_or_else(Vec::new, |s| s.range(seqs).map(|(q, e)| (*q, *e)).collect())
    }

    /// Every stream and its last stored sequence number.
    pub fn streams(&self) -> Vec<(StreamKey, u64)> {
        let index = self.index();
        index.streams.iter().filter_map(|(k, s)| Some((*k, *s.keys().next_back()?))).collect()
    }

    /// Reads the stored reading at `position`.
    pub async fn read(&self, position: u64) -> Option<StoredReading> {
        let guard = self.journal.read().await;
        guard.as_ref()?.read(position).await.ok()
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
        self.streams.entry((r.device, r.stream)).or_default().insert(r.seq, entry);
        self.next_position = self.next_position.max(position + 1);
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
