//! The gateway's cache of device records, read from the latest finalized state and dropped
//! when a finalized block changes a device (onboarding, transfer, key rotation, status).

use crate::application::Databases;
use commonware_cryptography::ed25519;
use commonware_runtime::tokio::Context;
use machina_app::{
    modules::identity::{keys, state::Device},
    state::decode_value,
};
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
pub struct DeviceCache {
    db: Databases<Context>,
    map: Mutex<HashMap<DeviceId, Option<Arc<CachedDevice>>>>,
}

impl DeviceCache {
    /// A cache over the finalized state `db`.
    pub fn new(db: Databases<Context>) -> Self {
        Self { db, map: Mutex::default() }
    }

    /// The device `id`, if onboarded.
    pub async fn get(&self, id: &DeviceId) -> Option<Arc<CachedDevice>> {
        if let Some(cached) = self.map.lock().expect("device cache").get(id) {
            return cached.clone();
        }
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
        let mut map = self.map.lock().expect("device cache");
        if map.len() >= CACHED_MAX {
            map.clear();
        }
        map.insert(*id, device.clone());
        device
    }

    /// Drops every cached record (after missing finalized blocks).
    pub fn clear(&self) {
        self.map.lock().expect("device cache").clear();
    }

    /// Drops the devices a finalized block's events changed.
    pub fn invalidate(&self, events: &[Event]) {
        let mut map = self.map.lock().expect("device cache");
        for event in events {
            match event {
                Event::DeviceOnboarded { device, .. }
                | Event::DeviceTransferred { device, .. }
                | Event::DeviceKeyRotated { device, .. }
                | Event::DeviceStatusChanged { device, .. } => {
                    map.remove(device);
                }
                _ => {}
            }
        }
    }
}
