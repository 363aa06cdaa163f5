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
//! `anchors_per_owner` anchor calls per device owner (the owner's other streams wait, and
//! their readings are anchored together later), and at most [`ANCHOR_READINGS_MAX`]
//! readings per anchor. The same task prunes readings past the retention period.

use super::{
    store::{ReadingStore, StreamKey},
    submit::{InFlight, Submitter},
};
use commonware_runtime::tokio::Context;
use machina_app::modules::{
    data::{keys as data_keys, state::StreamState},
    identity::{keys as identity_keys, state::Device},
};
use machina_types::Address;
use machina_types::{Call, DataCall, Hash, identity::roles, limits::CALLS_PER_TX_MAX, merkle};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The subsystem name of anchoring in `/health`.
pub const SUBSYSTEM: &str = "gateway-anchor";
/// Most readings one anchor covers (a larger backlog is anchored in several).
pub const ANCHOR_READINGS_MAX: usize = 1 << 16;
/// How often readings past the retention period are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The anchoring task's state.
pub struct Anchorer {
    store: Arc<ReadingStore<Context>>,
    submitter: Arc<Submitter>,
    in_flight: BTreeMap<StreamKey, Arc<InFlight>>,
    per_owner: usize,
    retention: Duration,
    pruned_at: Option<Instant>,
}

impl Anchorer {
    /// An anchorer over `store` submitting through `submitter`, at most `per_owner` anchors
    /// per device owner each round, pruning readings older than `retention`.
    pub fn new(
        store: Arc<ReadingStore<Context>>,
        submitter: Arc<Submitter>,
        per_owner: usize,
        retention: Duration,
    ) -> Self {
        Self { store, submitter, in_flight: BTreeMap::new(), per_owner, retention, pruned_at: None }
    }

    /// Anchors every `interval`, forever.
    pub async fn run(mut self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.tick().await;
            self.prune().await;
        }
    }

    /// Prunes readings received before the retention period, at most every minute.
    async fn prune(&mut self) {
        if self.pruned_at.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.pruned_at = Some(Instant::now());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let cutoff = now.saturating_sub(self.retention).as_millis() as u64;
        match self.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned readings past the retention period"),
            Err(error) => tracing::error!(%error, "pruning readings failed"),
        }
    }

    /// One round: forget finished transactions, then anchor what is pending.
    pub async fn tick(&mut self) {
        let started = std::time::Instant::now();
        let submitter = &self.submitter;
        self.in_flight.retain(|_, flight| submitter.pending(flight));
        let mut calls = Vec::new();
        let mut per_owner: BTreeMap<Address, usize> = BTreeMap::new();
        for (stream, _) in self.store.streams() {
            if self.in_flight.contains_key(&stream) {
                continue;
            }
            if let Some((owner, call)) = self.anchor_call(stream).await {
                let count = per_owner.entry(owner).or_default();
                if *count < self.per_owner {
                    *count += 1;
                    calls.push((stream, call));
                }
            }
        }
        for chunk in calls.chunks(CALLS_PER_TX_MAX) {
            let txs = chunk.iter().map(|(_, c)| Call::Data(c.clone())).collect();
            match self.submitter.submit(txs).await {
                Ok(flight) => {
                    let flight = Arc::new(flight);
                    for (stream, _) in chunk {
                        self.in_flight.insert(*stream, flight.clone());
                    }
                }
                Err(code) => tracing::warn!(%code, "anchor transaction refused"),
            }
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(anchors = calls.len(), elapsed_ms, "anchor round");
    }

    /// The anchor call for `stream`'s readings after its last anchored one, if any: the
    /// longest run of them signed by one key. None while the chain would refuse it: the
    /// device is not active, or the gateway may not anchor its data (those readings stay
    /// stored, and are anchored if the device resumes or the role is granted).
    async fn anchor_call(&self, stream: StreamKey) -> Option<(Address, DataCall)> {
        let (device, id) = stream;
        let record: Device = self.submitter.read(&identity_keys::device(&device)).await?;
        if record.status.refusal().is_some()
            || !self.submitter.has_role(&record, &self.submitter.account(), roles::GATEWAY).await
        {
            return None;
        }
        let state: StreamState =
            self.submitter.read(&data_keys::stream(&device, id)).await.unwrap_or_default();
        let after = match state.last_seq {
            Some(last) => last.checked_add(1)?,
            None => 0,
        };
        let pending = self.store.page(&stream, after..=u64::MAX, 0..=u64::MAX, ANCHOR_READINGS_MAX);
        let (first, head) = pending.first()?;
        let batch: Vec<_> = pending.iter().take_while(|(_, e)| e.key == head.key).collect();
        let leaves: Vec<Hash> = batch.iter().map(|(_, e)| e.leaf).collect();
        let call = DataCall::Anchor {
            device,
            stream: id,
            first_seq: if state.last_seq.is_some() { after } else { *first },
            last_seq: batch.last().expect("non-empty").0,
            count: leaves.len() as u32,
            root: merkle::root(&leaves),
            device_key: head.key,
        };
        Some((record.owner, call))
    }
}
