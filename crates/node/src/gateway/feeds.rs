//! Feed reporting: every interval, for each oracle feed, the gateway relays the newest
//! reading of each eligible device (on the feed's stream, in its unit, fresh, newer than the
//! feed already has) in a `data::report_feed` call. The chain checks everything again; the
//! gateway only avoids sending what the chain would refuse.
//!
//! The gateway pays for reports: it looks at [`FEEDS_PER_ROUND`] feeds per round (taking
//! turns over all of them) and submits at most `reports_per_creator` reports per feed
//! creator per round, so nobody's free feeds spend its balance beyond that share.

use super::{
    devices::{DeviceCache, Runtime},
    store::ReadingStore,
    submit::{InFlight, Submitter},
};
use machina_app::modules::data::{keys as data_keys, state::Feed};
use machina_types::{
    Call, DataCall, SignedReading, Value,
    data::{Eligibility, FeedId},
    limits::FEED_READINGS_PER_CALL_MAX,
};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// The subsystem name of feed reporting in `/health`.
pub const SUBSYSTEM: &str = "gateway-feeds";
/// Feeds looked at per round.
pub const FEEDS_PER_ROUND: u64 = 256;

/// The feed reporting task's state.
pub struct Reporter<E: Runtime> {
    store: Arc<ReadingStore<E>>,
    devices: Arc<DeviceCache<E>>,
    submitter: Arc<Submitter<E>>,
    in_flight: BTreeMap<FeedId, InFlight>,
    per_creator: usize,
    /// The next feed to look at.
    cursor: FeedId,
}

impl<E: Runtime> Reporter<E> {
    /// A reporter over `store` submitting through `submitter`, at most `per_creator`
    /// reports per feed creator each round.
    pub fn new(
        store: Arc<ReadingStore<E>>,
        devices: Arc<DeviceCache<E>>,
        submitter: Arc<Submitter<E>>,
        per_creator: usize,
    ) -> Self {
        Self { store, devices, submitter, in_flight: BTreeMap::new(), per_creator, cursor: 1 }
    }

    /// Reports every `interval`, forever.
    pub async fn run(mut self, interval: Duration) {
        loop {
            let next = self.submitter.context().current() + interval;
            self.tick().await;
            self.submitter.context().sleep_until(next).await;
        }
    }

    async fn tick(&mut self) {
        let submitter = &self.submitter;
        self.in_flight.retain(|_, flight| submitter.pending(flight));
        let next: u64 = self.submitter.read(&data_keys::next_feed_id()).await.unwrap_or(1);
        let mut per_creator: BTreeMap<machina_types::Address, usize> = BTreeMap::new();
        for _ in 0..FEEDS_PER_ROUND.min(next.saturating_sub(1)) {
            if self.cursor >= next {
                self.cursor = 1;
            }
            let id = self.cursor;
            self.cursor += 1;
            if self.in_flight.contains_key(&id) {
                continue;
            }
            let Some(feed) = self.submitter.read::<Feed>(&data_keys::feed(id)).await else {
                continue;
            };
            let reports = per_creator.entry(feed.creator).or_default();
            if *reports >= self.per_creator {
                continue;
            }
            let readings = self.fresh_readings(&feed).await;
            if readings.is_empty() {
                continue;
            }
            let call = Call::Data(DataCall::ReportFeed { feed: id, readings });
            match self.submitter.submit(vec![call]).await {
                Ok(flight) => {
                    *per_creator.entry(feed.creator).or_default() += 1;
                    self.in_flight.insert(id, flight);
                }
                Err(code) => tracing::warn!(%code, feed = id, "feed report refused"),
            }
        }
    }

    /// The newest reading of each eligible device that the feed does not have yet.
    async fn fresh_readings(&self, feed: &Feed) -> Vec<SignedReading> {
        let now = self.submitter.now_ms();
        let mut out = Vec::new();
        for ((device, stream), last_seq) in self.store.streams() {
            if stream != feed.stream || out.len() >= FEED_READINGS_PER_CALL_MAX {
                continue;
            }
            let known = feed.sources.iter().find(|s| s.device == device).map(|s| s.seq);
            if known.is_some_and(|seq| seq >= last_seq) {
                continue;
            }
            let Some(cached) = self.devices.get(&device).await else { continue };
            if cached.record.status.refusal().is_some()
                || !self.eligible(feed, &cached.record).await
            {
                continue;
            }
            let Some(entry) = self.store.entry(&(device, stream), last_seq) else {
                continue;
            };
            if now.saturating_sub(entry.timestamp_ms) > feed.max_staleness_ms
                || entry.key != cached.record.current_key()
            {
                continue;
            }
            let Some(stored) = self.store.read(entry.position).await else { continue };
            if matches!(&stored.reading.reading.value, Value::Numeric { unit, .. } if *unit == feed.unit)
            {
                out.push(stored.reading);
            }
        }
        out
    }

    async fn eligible(
        &self,
        feed: &Feed,
        device: &machina_app::modules::identity::state::Device,
    ) -> bool {
        let role = match &feed.eligibility {
            Eligibility::Role { role } => role.as_str(),
            Eligibility::Attribute { .. } => machina_types::identity::roles::FEED_SOURCE,
            _ => return feed.eligible(device, false),
        };
        let accepted =
            self.submitter.grant(device, &feed.creator, role).await.is_some_and(|g| g.accepted);
        feed.eligible(device, accepted)
    }
}
