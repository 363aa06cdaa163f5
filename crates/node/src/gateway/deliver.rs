//! Delivery of data products: each reading the gateway stores goes out live to the active
//! subscriptions of the product that lists its stream, on
//! `machina/v1/subscriptions/<id>/readings` (the signed reading's canonical encoding; only
//! the subscription's own account may subscribe there).
//!
//! - A subscription by periods gets every reading until it lapses, is cancelled or revoked.
//! - A subscription by reading gets a reading only while every reading delivered before it
//!   is paid (a reading counts as delivered when a connected client of the topic got it):
//!   the subscriber posts vouchers of its channel
//!   (`POST /v1/subscriptions/<id>/vouchers`), and reading `n + 1` goes out once the latest
//!   voucher covers `n` readings at the product's price. The subscriber therefore owes at
//!   most one reading at a time, and its last voucher pays exactly the readings it got. A
//!   voucher is kept durably before it is acknowledged; the seller fetches the latest
//!   (`GET /v1/subscriptions/<id>/voucher`) to settle or close the channel.
//!
//! What the gateway sends is what the device sealed: the gateway never holds a stream key.
//! Which subscriptions a stream has is read from the finalized state and cached until a
//! finalized block changes a product, a subscription or a channel. Live delivery is best
//! effort (a subscriber that is not connected misses it and reads history); at most
//! [`QUEUE`] readings wait for delivery, and at most [`VOUCHERS_MAX`] subscriptions have a
//! voucher kept (a closed channel's are dropped).

use super::devices::{DeviceCache, Runtime};
use super::mqtt::Broker;
use crate::health::Health;
use commonware_codec::{Decode, Encode};
use commonware_runtime::telemetry::metrics::{Counter, MetricsExt};
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::sequence::U64;
use machina_api::PaymentState;
use machina_app::{
    Key,
    modules::{
        channels::{keys as channel_keys, state::Channel},
        products::{
            keys,
            state::{Product, StreamKeys, Subscription},
        },
    },
    state::decode_value,
};
use machina_types::{
    Amount, DeviceId, ErrorCode, Event, SignedReading,
    channels::{SignedVoucher, state::Status},
    products::{Payment, SubscriptionId},
    reading::StreamId,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};
use tokio::sync::mpsc;

/// The subsystem's name in `/health`.
pub const SUBSYSTEM: &str = "delivery";
/// Stored readings waiting to be delivered; more are not delivered live.
pub const QUEUE: usize = 65_536;
/// Most subscriptions with a voucher kept.
pub const VOUCHERS_MAX: usize = 4_096;
/// Most streams whose subscriptions are cached.
const CACHED_MAX: usize = 4_096;

/// The topic a subscription's readings are delivered on.
pub fn topic(subscription: SubscriptionId) -> String {
    format!("machina/v1/subscriptions/{subscription}/readings")
}

/// The subscription a delivery topic names.
pub fn parse_topic(topic: &str) -> Option<SubscriptionId> {
    let id = topic.strip_prefix("machina/v1/subscriptions/")?.strip_suffix("/readings")?;
    // Canonical decimal only: `007` and `+7` name no topic.
    let n: SubscriptionId = id.parse().ok()?;
    (n.to_string() == id).then_some(n)
}

/// A subscription a stream's readings go to, with what delivery needs of it.
struct Target {
    subscription: Subscription,
    /// By reading: the price, and whether its channel is still an open voucher channel.
    per_reading: Option<(Amount, bool)>,
}

/// The latest voucher of a by-reading subscription, and the readings delivered to it.
#[derive(Default)]
struct Paid {
    voucher: Option<SignedVoucher>,
    delivered: u64,
}

impl Paid {
    /// What the latest voucher pays in all.
    fn covered(&self) -> Amount {
        self.voucher.as_ref().map_or(0, |v| v.voucher.cumulative)
    }
}

/// Work for the delivery task.
enum Work {
    /// A reading just stored.
    Reading(SignedReading),
    /// Channels a finalized block closed: their vouchers are dropped.
    Closed(Vec<machina_types::channels::ChannelId>),
}

/// Why a voucher was refused.
#[derive(Debug, thiserror::Error)]
pub enum VoucherError {
    /// The voucher or its subscription is not acceptable, with the code to answer.
    #[error("{}", .0.message())]
    Refused(ErrorCode),
    /// It could not be stored.
    #[error("the voucher could not be stored: {0}")]
    Unavailable(String),
}

type Store<E> = Metadata<E, U64, SignedVoucher>;

/// The subscriptions a stream's readings go to.
type Targets = Arc<Vec<Target>>;

/// The delivery of stored readings to subscriptions.
pub struct Delivery<E: Runtime> {
    devices: Arc<DeviceCache<E>>,
    broker: Arc<Broker>,
    chain_id: String,
    targets: Mutex<HashMap<(DeviceId, StreamId), Targets>>,
    /// Bumped by every invalidation: targets read before one are not cached after it.
    generation: Mutex<u64>,
    paid: Mutex<HashMap<SubscriptionId, Paid>>,
    store: tokio::sync::Mutex<Option<Store<E>>>,
    work: mpsc::Sender<Work>,
    health: Arc<Health>,
    delivered: Counter,
    withheld: Counter,
}

impl<E: Runtime> Delivery<E> {
    /// Opens the voucher store in `context` and starts the delivery task.
    pub async fn start(
        context: &E,
        devices: Arc<DeviceCache<E>>,
        broker: Arc<Broker>,
        chain_id: String,
        health: Arc<Health>,
    ) -> Arc<Self> {
        let config = metadata::Config { partition: "machina-vouchers".into(), codec_config: () };
        let store = Store::init(context.child("vouchers"), config).await;
        let mut paid = HashMap::new();
        health.up(SUBSYSTEM);
        let store = match store {
            Ok(store) => {
                for key in store.keys() {
                    let voucher = Some(store.get(key).expect("listed").clone());
                    let id = u64::from_be_bytes(key.as_ref().try_into().expect("8 bytes"));
                    paid.insert(id, Paid { voucher, delivered: 0 });
                }
                Some(store)
            }
            Err(e) => {
                health.down(SUBSYSTEM, format!("the voucher store cannot be opened: {e}"));
                None
            }
        };
        let metrics = context.child("delivery");
        let (work, mut receiver) = mpsc::channel::<Work>(QUEUE);
        let delivery = Arc::new(Self {
            work,
            health,
            devices,
            broker,
            chain_id,
            targets: Mutex::default(),
            generation: Mutex::new(0),
            paid: Mutex::new(paid),
            store: tokio::sync::Mutex::new(store),
            delivered: metrics.counter("readings_delivered", "readings delivered to subscriptions"),
            withheld: metrics
                .counter("readings_withheld", "readings not delivered for want of a voucher"),
        });
        delivery.settle_loaded().await;
        let this = delivery.clone();
        context.child("delivery").spawn(move |context| async move {
            while let Some(work) = receiver.recv().await {
                match work {
                    Work::Reading(reading) => {
                        let now = super::submit::now_ms(&context);
                        this.deliver(&reading, now).await;
                    }
                    Work::Closed(channels) => this.forget(&channels).await,
                }
            }
        });
        delivery
    }

    /// Queues a stored reading for delivery (dropped, for live delivery only, if the queue
    /// is full).
    pub fn stored(&self, reading: SignedReading) {
        let _ = self.work.try_send(Work::Reading(reading));
    }

    /// After a restart, counts the readings each kept voucher paid for as delivered.
    async fn settle_loaded(&self) {
        let ids: Vec<SubscriptionId> = self.paid().keys().copied().collect();
        for id in ids {
            let price = match self.subscription(id).await {
                Some((_, Some(price))) => price,
                _ => continue,
            };
            // Readings paid for were delivered: the next one goes out on credit.
            if let Some(p) = self.paid().get_mut(&id) {
                p.delivered = p.covered() / price;
            }
        }
    }

    fn paid(&self) -> std::sync::MutexGuard<'_, HashMap<SubscriptionId, Paid>> {
        self.paid.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read<T: Decode<Cfg = ()>>(&self, key: &Key) -> Option<T> {
        let bytes = self.devices.read_raw(key).await?;
        Some(decode_value::<T>(key, &bytes))
    }

    /// Subscription `id` and, by reading, its product's price.
    async fn subscription(&self, id: SubscriptionId) -> Option<(Subscription, Option<Amount>)> {
        let sub: Subscription = self.read(&keys::subscription(id)).await?;
        let product: Product = self.read(&keys::product(sub.product)).await?;
        let price = match sub.payment {
            Payment::Channel { .. } => product.terms.per_reading,
            Payment::Periods { .. } => None,
        };
        Some((sub, price))
    }

    /// The subscriptions `stream`'s readings go to, from the cache or the finalized state.
    async fn targets(&self, stream: (DeviceId, StreamId)) -> Arc<Vec<Target>> {
        let generation = *self.generation.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = self.targets.lock().unwrap_or_else(PoisonError::into_inner).get(&stream) {
            return t.clone();
        }
        let mut targets = Vec::new();
        let k: Option<StreamKeys> = self.read(&keys::stream(&stream.0, stream.1)).await;
        let product = match k.and_then(|k| k.product) {
            Some(id) => self.read::<Product>(&keys::product(id)).await,
            None => None,
        };
        for entry in product.iter().flat_map(|p| p.subscribers.iter()) {
            let Some((subscription, price)) = self.subscription(entry.subscription).await else {
                continue;
            };
            let per_reading = match (subscription.payment, price) {
                (Payment::Channel { channel }, Some(price)) => {
                    let c: Option<Channel> = self.read(&channel_keys::channel(channel)).await;
                    Some((price, c.is_some_and(|c| c.status == (Status::Open {}))))
                }
                _ => None,
            };
            targets.push(Target { subscription, per_reading });
        }
        let targets = Arc::new(targets);
        let mut cache = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        if *self.generation.lock().unwrap_or_else(PoisonError::into_inner) == generation {
            if cache.len() >= CACHED_MAX {
                cache.clear();
            }
            cache.insert(stream, targets.clone());
        }
        targets
    }

    /// Sends `reading` to every subscription that may have it now.
    pub async fn deliver(&self, reading: &SignedReading, now_ms: u64) {
        let stream = (reading.reading.device, reading.reading.stream);
        let targets = self.targets(stream).await;
        if targets.is_empty() {
            return;
        }
        let bytes = bytes::Bytes::from(reading.encode().to_vec());
        for t in targets.iter() {
            let sub = &t.subscription;
            if !sub.is_active(now_ms) {
                continue;
            }
            if let Some((price, open)) = t.per_reading {
                let mut paid = self.paid();
                let full = paid.len() >= VOUCHERS_MAX;
                let p = match paid.get_mut(&sub.id) {
                    Some(p) => p,
                    None if full => {
                        self.withheld.inc();
                        continue;
                    }
                    None => paid.entry(sub.id).or_default(),
                };
                // Every reading delivered so far must be paid before the next goes out (the
                // first goes out on credit). A reading nobody was connected to receive is not
                // delivered (and not owed).
                let owed = u128::from(p.delivered) * u128::from(price);
                if !open || owed > u128::from(p.covered()) {
                    self.withheld.inc();
                    continue;
                }
                if self.broker.route(&topic(sub.id), bytes.clone()) > 0 {
                    p.delivered = p.delivered.saturating_add(1);
                    self.delivered.inc();
                }
                continue;
            }
            if self.broker.route(&topic(sub.id), bytes.clone()) > 0 {
                self.delivered.inc();
            }
        }
    }

    /// Accepts `voucher` for by-reading subscription `id`: it must be of its channel, signed
    /// by its subscriber for this chain, above the last one, within the channel's deposit,
    /// and pay for no more than the readings delivered and the next one (so a subscriber
    /// stores at most one voucher per reading it gets, whatever it sends). Stored durably
    /// before this returns.
    pub async fn accept(
        &self,
        id: SubscriptionId,
        voucher: SignedVoucher,
    ) -> Result<PaymentState, VoucherError> {
        let refused = VoucherError::Refused;
        let (sub, price) =
            self.subscription(id).await.ok_or(refused(ErrorCode::UnknownSubscription))?;
        let Payment::Channel { channel } = sub.payment else {
            return Err(refused(ErrorCode::PaymentNotOffered));
        };
        if voucher.voucher.channel != channel {
            return Err(refused(ErrorCode::VoucherForAnotherChannel));
        }
        if !voucher.verify(&self.chain_id, &sub.subscriber) {
            return Err(refused(ErrorCode::BadVoucher));
        }
        let c: Channel = self
            .read(&channel_keys::channel(channel))
            .await
            .ok_or(refused(ErrorCode::UnknownChannel))?;
        if c.status != (Status::Open {}) {
            return Err(refused(ErrorCode::ChannelClosed));
        }
        if voucher.voucher.cumulative > c.deposit {
            return Err(refused(ErrorCode::VoucherOverDeposit));
        }
        let mut store = self.store.lock().await;
        {
            let paid = self.paid();
            let last = paid.get(&id).map_or(c.paid, |p| p.covered().max(c.paid));
            if voucher.voucher.cumulative <= last {
                return Err(refused(ErrorCode::StaleVoucher));
            }
            let delivered = paid.get(&id).map_or(0, |p| p.delivered);
            let ahead = (u128::from(delivered) + 1) * u128::from(price.unwrap_or(0));
            if u128::from(voucher.voucher.cumulative) > ahead {
                return Err(refused(ErrorCode::VoucherAhead));
            }
            if !paid.contains_key(&id) && paid.len() >= VOUCHERS_MAX {
                return Err(VoucherError::Unavailable(
                    "too many subscriptions have vouchers".into(),
                ));
            }
        }
        let Some(s) = store.take() else {
            return Err(VoucherError::Unavailable("the voucher store is down".into()));
        };
        match s.put_sync(U64::new(id), voucher.clone()).await {
            Ok(s) => *store = Some(s),
            Err(e) => {
                self.health.down(SUBSYSTEM, format!("the voucher store failed: {e}"));
                return Err(VoucherError::Unavailable(e.to_string()));
            }
        }
        let mut paid = self.paid();
        let entry = paid.entry(id).or_default();
        entry.voucher = Some(voucher);
        Ok(PaymentState {
            subscription: id,
            voucher: entry.voucher.clone(),
            delivered: entry.delivered,
        })
    }

    /// What the gateway holds of subscription `id`'s payment.
    pub fn payment(&self, id: SubscriptionId) -> PaymentState {
        let paid = self.paid();
        let p = paid.get(&id);
        PaymentState {
            subscription: id,
            voucher: p.and_then(|p| p.voucher.clone()),
            delivered: p.map_or(0, |p| p.delivered),
        }
    }

    /// Drops what a finalized block's events changed: cached targets when a product, a
    /// subscription or a channel changed; the vouchers of closed channels (by the delivery
    /// task).
    pub fn invalidate(&self, events: &[Event]) {
        use machina_types::channels::ChannelsEvent;
        let mut closed = Vec::new();
        let mut changed = false;
        for event in events {
            match event {
                Event::Products(_) => changed = true,
                Event::Channels(e) => {
                    changed = true;
                    if let ChannelsEvent::Closed { channel, .. } = e {
                        closed.push(*channel);
                    }
                }
                _ => {}
            }
        }
        if changed {
            *self.generation.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            self.targets.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        if !closed.is_empty() {
            let _ = self.work.try_send(Work::Closed(closed));
        }
    }

    /// Drops the payments of subscriptions paying through `channels` (closed).
    async fn forget(&self, channels: &[machina_types::channels::ChannelId]) {
        let mut store = self.store.lock().await;
        let gone: Vec<SubscriptionId> = {
            let mut paid = self.paid();
            let gone: Vec<SubscriptionId> = paid
                .iter()
                .filter(|(_, p)| {
                    p.voucher.as_ref().is_some_and(|v| channels.contains(&v.voucher.channel))
                })
                .map(|(id, _)| *id)
                .collect();
            for id in &gone {
                paid.remove(id);
            }
            gone
        };
        if gone.is_empty() {
            return;
        }
        if let Some(mut s) = store.take() {
            for id in &gone {
                s.remove(&U64::new(*id));
            }
            match s.sync().await {
                Ok(s) => *store = Some(s),
                Err(e) => self.health.down(SUBSYSTEM, format!("the voucher store failed: {e}")),
            }
        }
    }
}
