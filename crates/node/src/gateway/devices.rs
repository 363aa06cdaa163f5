//! The gateway's cache of device records, read from the latest finalized state (and the
//! other finalized values admission reads). A record is
//! dropped when a finalized block changes it (onboarding, transfer, key rotation, status,
//! firmware, attributes) before anyone can see that block finalized: once a decommissioning
//! is final, no later reading of the device is accepted.

use crate::application::Databases;
use commonware_cryptography::ed25519;
use futures::future::BoxFuture;
use machina_app::{
    modules::identity::{keys, state::Device},
    state::decode_value,
};
use machina_types::identity::IdentityEvent;
use machina_types::{DeviceId, Event};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// Most device records cached.
const CACHED_MAX: usize = 1 << 17;

/// A device record with its current key decompressed (verification needs the point).
pub struct CachedDevice {
    /// The record.
    pub record: Device,
    /// The current device key.
    pub key: ed25519::PublicKey,
}

/// Device records by id (`None`: known not to exist).
pub struct DeviceCache<E: Runtime> {
    db: Databases<E>,
    cached: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    map: HashMap<DeviceId, Option<Arc<CachedDevice>>>,
    /// Bumped by every invalidation: a record read from the state before an invalidation is
    /// not cached after it (it may predate the change).
    generation: u64,
}

/// What the gateway needs of its runtime: storage for the state and its journals, a clock,
/// tasks and metrics. The node's tokio runtime in production; the deterministic runtime in
/// simulations, where a seed replays a whole scenario.
pub trait Runtime:
    Send
    + Sync
    + 'static
    + commonware_runtime::Storage
    + commonware_runtime::Clock
    + commonware_runtime::Spawner
    + commonware_runtime::Metrics
    + commonware_runtime::Supervisor
    + commonware_runtime::Strategizer
    + commonware_storage::Context
    + rand_core::CryptoRng
{
}

impl<E> Runtime for E where
    E: Send
        + Sync
        + 'static
        + commonware_runtime::Storage
        + commonware_runtime::Clock
        + commonware_runtime::Spawner
        + commonware_runtime::Metrics
        + commonware_runtime::Supervisor
        + commonware_runtime::Strategizer
        + commonware_storage::Context
        + rand_core::CryptoRng
{
}

/// The device records a broker needs to check logins, whatever runtime reads them.
pub trait DeviceLookup: Send + Sync {
    /// The device `id`, if onboarded.
    fn device<'a>(&'a self, id: &'a DeviceId) -> BoxFuture<'a, Option<Arc<CachedDevice>>>;

    /// The account of data-product subscription `id` (who may receive its readings).
    fn subscriber(&self, id: u64) -> BoxFuture<'_, Option<machina_types::Address>>;
}

impl<E: Runtime> DeviceLookup for DeviceCache<E> {
    fn device<'a>(&'a self, id: &'a DeviceId) -> BoxFuture<'a, Option<Arc<CachedDevice>>> {
        Box::pin(self.get(id))
    }

    fn subscriber(&self, id: u64) -> BoxFuture<'_, Option<machina_types::Address>> {
        use machina_app::modules::products::{keys as product_keys, state::Subscription};
        Box::pin(async move {
            let key = product_keys::subscription(id);
            let bytes = self.read_raw(&key).await?;
            Some(decode_value::<Subscription>(&key, &bytes).subscriber)
        })
    }
}

impl<E: Runtime> DeviceCache<E> {
    /// A cache over the finalized state `db`.
    pub fn new(db: Databases<E>) -> Self {
        Self { db, cached: Mutex::default() }
    }

    /// The device `id`, if onboarded.
    pub async fn get(&self, id: &DeviceId) -> Option<Arc<CachedDevice>> {
        let generation = {
            let cached = self.cached.lock().expect("device cache");
            if let Some(device) = cached.map.get(id) {
                return device.clone();
            }
            cached.generation
        };
        let key = keys::device(id);
        let bytes = {
            let guard = self.db.read().await;
            guard.get(&key.digest()).await.expect("state read")
        };
        let device = bytes.and_then(|v| {
            let record = decode_value::<Device>(&key, &v.0);
            let key = record.current_key().public_key()?;
            Some(Arc::new(CachedDevice { record, key }))
        });
        let mut cached = self.cached.lock().expect("device cache");
        if cached.generation == generation {
            if cached.map.len() >= CACHED_MAX {
                cached.map.clear();
            }
            cached.map.insert(*id, device.clone());
        }
        device
    }

    /// The value of `key` in the finalized state (not cached).
    pub async fn read_raw(&self, key: &machina_app::Key) -> Option<Vec<u8>> {
        let guard = self.db.read().await;
        guard.get(&key.digest()).await.expect("state read").map(|v| v.0)
    }

    /// The native balance of `account` in the finalized state.
    pub async fn balance(&self, account: &machina_types::Address) -> u64 {
        use machina_app::modules::bank::{keys as bank_keys, state::Account};
        let key = bank_keys::account(account);
        let bytes = self.read_raw(&key).await;
        bytes.map_or(0, |v| decode_value::<Account>(&key, &v).balance)
    }

    /// The last sequence number the finalized chain has anchored on `stream`, if any.
    pub async fn anchored_last_seq(&self, stream: &(DeviceId, u32)) -> Option<u64> {
        use machina_app::modules::data::{keys as data_keys, state::StreamState};
        let key = data_keys::stream(&stream.0, stream.1);
        let bytes = self.read_raw(&key).await;
        bytes.and_then(|v| decode_value::<StreamState>(&key, &v).last_seq)
    }

    /// Drops the devices a finalized block's events changed.
    pub fn invalidate(&self, events: &[Event]) {
        let mut cached = self.cached.lock().expect("device cache");
        for event in events {
            match event {
                Event::Identity(IdentityEvent::DeviceOnboarded { device, .. })
                | Event::Identity(IdentityEvent::DeviceTransferred { device, .. })
                | Event::Identity(IdentityEvent::DeviceKeyRotated { device, .. })
                | Event::Identity(IdentityEvent::DeviceStatusChanged { device, .. })
                | Event::Identity(IdentityEvent::FirmwareReported { device, .. })
                | Event::Identity(IdentityEvent::AttributeChanged { device, .. }) => {
                    cached.map.remove(device);
                    cached.generation += 1;
                }
                _ => {}
            }
        }
    }
}
