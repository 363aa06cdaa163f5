//! Anchoring: every interval, for each device stream with readings not yet anchored, the
//! gateway commits to them on chain with a Merkle root (one `data::anchor` call per stream,
//! up to 16 per transaction, signed with the gateway's key).
//!
//! The chain is the ledger of what is anchored: each tick starts from the stream's last
//! anchored sequence number in the finalized state, so after a restart the gateway anchors
//! exactly what is left, and an anchor that finalized before a crash is never repeated (the
//! chain refuses overlapping ranges). A transaction in flight blocks new anchors of its
//! streams until it is final or dropped.
//!
//! The gateway pays for anchors from its own account. Each interval it submits at most
//! `anchors_per_interval` anchor calls, shared equally between the device owners with
//! readings waiting (an owner that needs less than its share leaves the rest to the
//! others), and at most [`ANCHOR_READINGS_MAX`] readings per anchor. Owners, and each
//! owner's streams, take turns: whatever waits is anchored within a few intervals, in a
//! larger batch, however busy the others are. The same task prunes readings past the
//! retention period.

use super::{
    devices::Runtime,
    store::{ReadingStore, StreamKey},
    submit::{InFlight, Submitter},
};
use commonware_runtime::telemetry::metrics::{Counter, Gauge, MetricsExt};
use machina_app::modules::{
    data::{keys as data_keys, state::StreamState},
    identity::{keys as identity_keys, state::Device},
};
use machina_types::Address;
use machina_types::{Call, DataCall, Hash, identity::roles, limits::CALLS_PER_TX_MAX, merkle};
use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The subsystem name of anchoring in `/health`.
pub const SUBSYSTEM: &str = "gateway-anchor";
/// Most readings one anchor covers (a larger backlog is anchored in several).
pub const ANCHOR_READINGS_MAX: usize = 1 << 16;
/// How often readings past the retention period are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What anchoring reports in `/metrics`: how far behind it is and what it submits.
#[derive(Clone)]
pub struct AnchorMetrics {
    streams_waiting: Gauge,
    readings_unanchored: Gauge,
    submitted: Counter,
    refused: Counter,
    round_ms: Gauge,
}

impl AnchorMetrics {
    /// Registers the metrics on `context`.
    pub fn new(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            streams_waiting: context.gauge(
                "anchor_streams_waiting",
                "streams with stored readings beyond their last anchor (at the last round)",
            ),
            readings_unanchored: context.gauge(
                "anchor_readings_unanchored",
                "sequence numbers stored beyond the streams' last anchors (anchor lag)",
            ),
            submitted: context.counter("anchors_submitted", "anchor calls submitted"),
            refused: context
                .counter("anchor_transactions_refused", "anchor transactions the mempool refused"),
            round_ms: context.gauge(
                "anchor_round_milliseconds",
                "duration of the last anchoring round, in milliseconds",
            ),
        }
    }
}

/// The anchoring task's state.
pub struct Anchorer<E: Runtime> {
    store: Arc<ReadingStore<E>>,
    submitter: Arc<Submitter<E>>,
    in_flight: BTreeMap<StreamKey, Arc<InFlight>>,
    per_round: usize,
    turns: Turns,
    retention: Duration,
    pruned_at: Option<SystemTime>,
    metrics: AnchorMetrics,
}

impl<E: Runtime> Anchorer<E> {
    /// An anchorer over `store` submitting through `submitter`, at most `per_round` anchors
    /// each round, pruning readings older than `retention`.
    pub fn new(
        store: Arc<ReadingStore<E>>,
        submitter: Arc<Submitter<E>>,
        per_round: usize,
        retention: Duration,
        metrics: AnchorMetrics,
    ) -> Self {
        Self {
            store,
            submitter,
            in_flight: BTreeMap::new(),
            per_round,
            turns: Turns::default(),
            retention,
            pruned_at: None,
            metrics,
        }
    }

    /// Anchors every `interval`, forever.
    pub async fn run(mut self, interval: Duration) {
        loop {
            let next = self.submitter.context().current() + interval;
            self.tick().await;
            self.prune().await;
            self.submitter.context().sleep_until(next).await;
        }
    }

    /// Prunes readings received before the retention period, at most every minute.
    async fn prune(&mut self) {
        let clock = self.submitter.context();
        if self.pruned_at.is_some_and(|t| clock.current() < t + PRUNE_EVERY) {
            return;
        }
        self.pruned_at = Some(clock.current());
        let now = clock.current().duration_since(UNIX_EPOCH).unwrap_or_default();
        let cutoff = now.saturating_sub(self.retention).as_millis() as u64;
        match self.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned readings past the retention period"),
            Err(error) => tracing::error!(%error, "pruning readings failed"),
        }
    }

    /// One round: forget finished transactions, then anchor what is pending, in turns.
    pub async fn tick(&mut self) {
        let started = self.submitter.context().current();
        let submitter = &self.submitter;
        self.in_flight.retain(|_, flight| submitter.pending(flight));
        let mut waiting: BTreeMap<Address, Vec<(StreamKey, StreamState)>> = BTreeMap::new();
        let (mut streams_waiting, mut unanchored) = (0i64, 0u64);
        for (stream, last_stored) in self.store.streams() {
            if self.in_flight.contains_key(&stream) {
                continue;
            }
            if let Some((owner, state)) = self.anchorable(stream, last_stored).await {
                let next = state.last_seq.map_or(0, |last| last.saturating_add(1));
                unanchored = unanchored.saturating_add(last_stored.saturating_add(1) - next);
                streams_waiting += 1;
                waiting.entry(owner).or_default().push((stream, state));
            }
        }
        self.metrics.streams_waiting.set(streams_waiting);
        self.metrics.readings_unanchored.set(i64::try_from(unanchored).unwrap_or(i64::MAX));
        let picked = self.turns.pick(waiting, self.per_round, |(stream, _)| *stream);
        let calls: Vec<(StreamKey, DataCall)> = picked
            .into_iter()
            .filter_map(|(stream, state)| Some((stream, self.anchor_call(stream, &state)?)))
            .collect();
        for chunk in calls.chunks(CALLS_PER_TX_MAX) {
            let txs = chunk.iter().map(|(_, c)| Call::Data(c.clone())).collect();
            match self.submitter.submit(txs).await {
                Ok(flight) => {
                    self.metrics.submitted.inc_by(chunk.len() as u64);
                    let flight = Arc::new(flight);
                    for (stream, _) in chunk {
                        self.in_flight.insert(*stream, flight.clone());
                    }
                }
                Err(code) => {
                    self.metrics.refused.inc();
                    tracing::warn!(%code, "anchor transaction refused");
                }
            }
        }
        let elapsed = self.submitter.context().current().duration_since(started);
        let elapsed_ms = elapsed.unwrap_or_default().as_millis() as u64;
        self.metrics.round_ms.set(i64::try_from(elapsed_ms).unwrap_or(i64::MAX));
        tracing::debug!(anchors = calls.len(), elapsed_ms, "anchor round");
    }

    /// The owner of `stream`'s device and the stream's state on chain, if readings up to
    /// `last_stored` wait to be anchored. None while the chain would refuse an anchor: the
    /// device is not active, or the gateway may not anchor its data (those readings stay
    /// stored, and are anchored if the device resumes or the role is granted).
    async fn anchorable(
        &self,
        stream: StreamKey,
        last_stored: u64,
    ) -> Option<(Address, StreamState)> {
        let (device, id) = stream;
        let state: StreamState =
            self.submitter.read(&data_keys::stream(&device, id)).await.unwrap_or_default();
        if state.last_seq.is_some_and(|last| last >= last_stored) {
            return None;
        }
        let record: Device = self.submitter.read(&identity_keys::device(&device)).await?;
        if record.status.refusal().is_some()
            || !self.submitter.has_role(&record, &self.submitter.account(), roles::GATEWAY).await
        {
            return None;
        }
        Some((record.owner, state))
    }

    /// The anchor call for `stream`'s readings after its last anchored one (`state`), if
    /// any: the longest run of them signed by one key.
    fn anchor_call(&self, stream: StreamKey, state: &StreamState) -> Option<DataCall> {
        let (device, id) = stream;
        let after = match state.last_seq {
            Some(last) => last.checked_add(1)?,
            None => 0,
        };
        let pending = self.store.page(&stream, after..=u64::MAX, 0..=u64::MAX, ANCHOR_READINGS_MAX);
        let (first, head) = pending.first()?;
        let batch: Vec<_> = pending.iter().take_while(|(_, e)| e.key == head.key).collect();
        let leaves: Vec<Hash> = batch.iter().map(|(_, e)| e.leaf).collect();
        Some(DataCall::Anchor {
            device,
            stream: id,
            first_seq: if state.last_seq.is_some() { after } else { *first },
            last_seq: batch.last().expect("non-empty").0,
            count: leaves.len() as u32,
            root: merkle::root(&leaves),
            device_key: head.key,
        })
    }
}

/// Whose turn it is: owners take turns for a round's slots, and each owner's streams take
/// turns for the owner's. Remembers, across rounds, the owner served last and each
/// owner's stream served last (only for owners still waiting, so it stays as small as the
/// set of streams).
#[derive(Default)]
struct Turns {
    last_owner: Option<Address>,
    last_stream: BTreeMap<Address, StreamKey>,
}

impl Turns {
    /// Picks at most `budget` of the `waiting` items (each owner's sorted by stream), one per
    /// owner per pass, starting after the owner and the streams served last.
    fn pick<T>(
        &mut self,
        waiting: BTreeMap<Address, Vec<T>>,
        budget: usize,
        stream: impl Fn(&T) -> StreamKey,
    ) -> Vec<T> {
        self.last_stream.retain(|owner, _| waiting.contains_key(owner));
        let mut queues: VecDeque<(Address, VecDeque<T>)> = waiting
            .into_iter()
            .map(|(owner, mut items)| {
                let start = self
                    .last_stream
                    .get(&owner)
                    .map_or(0, |last| items.partition_point(|item| stream(item) <= *last));
                items.rotate_left(start);
                (owner, VecDeque::from(items))
            })
            .collect();
        let first = self
            .last_owner
            .map_or(0, |last| queues.iter().position(|(owner, _)| *owner > last).unwrap_or(0));
        queues.rotate_left(first);
        let mut picked = Vec::new();
        while picked.len() < budget
            && let Some((owner, mut items)) = queues.pop_front()
        {
            let Some(item) = items.pop_front() else { continue };
            self.last_owner = Some(owner);
            self.last_stream.insert(owner, stream(&item));
            picked.push(item);
            if !items.is_empty() {
                queues.push_back((owner, items));
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(i: u8) -> Address {
        Address([i; 32])
    }

    fn stream(device: u8, id: u32) -> StreamKey {
        (Hash([device; 32]), id)
    }

    /// Every stream of `owners` (owner i has `counts[i]` streams) waits.
    fn waiting(counts: &[u8]) -> BTreeMap<Address, Vec<StreamKey>> {
        counts
            .iter()
            .enumerate()
            .map(|(o, n)| {
                (owner(o as u8), (0..u32::from(*n)).map(|s| stream(o as u8, s)).collect())
            })
            .collect()
    }

    #[test]
    fn a_lone_owner_gets_the_whole_budget_and_its_streams_take_turns() {
        let mut turns = Turns::default();
        let mut served = Vec::new();
        for _ in 0..3 {
            // Five streams always waiting, two slots a round: none starves.
            served.extend(turns.pick(waiting(&[5]), 2, |s| *s));
        }
        let ids: Vec<u32> = served.iter().map(|s| s.1).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 0]);
    }

    #[test]
    fn an_owner_with_many_streams_cannot_crowd_out_another_with_one() {
        let mut turns = Turns::default();
        for _ in 0..5 {
            let picked = turns.pick(waiting(&[50, 1]), 4, |s| *s);
            assert_eq!(picked.len(), 4);
            assert!(picked.contains(&stream(1, 0)), "the small owner is served every round");
        }
    }

    #[test]
    fn owners_take_turns_when_there_are_more_owners_than_slots() {
        let mut turns = Turns::default();
        let mut owners = Vec::new();
        for _ in 0..3 {
            owners.extend(turns.pick(waiting(&[1, 1, 1]), 1, |s| *s).iter().map(|s| (s.0).0[0]));
        }
        assert_eq!(owners, [0, 1, 2]);
        assert!(turns.pick(waiting(&[1, 1]), 0, |s| *s).is_empty(), "no budget, nothing picked");
        assert!(turns.pick(BTreeMap::new(), 4, |s: &StreamKey| *s).is_empty());
    }
}
