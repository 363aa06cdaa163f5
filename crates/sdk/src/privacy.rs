//! Private data products on hosts: stream secrets and sealed readings for devices (and
//! simulators), encryption keys and the opening of readings for subscribers, and wrapping
//! stream keys for sellers. The cryptography is [`machina_types::sealed`] (no `std`, for
//! firmware too); this module adds randomness and the keys' round trips through the API.

use crate::{Client, Result, device::DeviceIdentity};
use commonware_cryptography::ed25519::PrivateKey;
use machina_types::{
    DeviceId, Reading, SignedReading, Value,
    device::{MQTT_ACCOUNT_PREFIX, mqtt_account_password},
    products::{KeyGrant, SubscriptionId, state::Subscription},
    reading::StreamId,
    sealed::{self, Key, KeyEpoch},
};
use rand_core::Rng as _;
use std::collections::HashMap;

/// `N` random bytes from the system's generator.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    commonware_utils::sys_rng().fill_bytes(&mut out);
    out
}

impl DeviceIdentity {
    /// Signs a reading whose value is sealed under `epoch_key`, the stream's key of `epoch`
    /// (a fresh random nonce each time). `None` if `value` is already sealed.
    pub fn sealed_reading(
        &self,
        stream: StreamId,
        seq: u64,
        timestamp_ms: u64,
        value: Value,
        epoch_key: &Key,
        epoch: KeyEpoch,
    ) -> Option<SignedReading> {
        let reading = Reading { device: self.id(), stream, seq, timestamp_ms, value };
        Some(sealed::seal(reading, epoch_key, epoch, random())?.sign(&self.key))
    }
}

/// The X25519 encryption secret of an account, derived from its ed25519 key: a subscriber
/// needs no second secret to keep (its public key is [`sealed::encryption_key`] of it).
pub fn encryption_secret(key: &PrivateKey) -> Key {
    use commonware_codec::Encode;
    machina_types::Hash::of(&[b"machina/encryption-secret/v1", &key.encode()]).0
}

/// The MQTT username and password an account with `key` logs in to chain `chain_id`'s
/// broker with, as client `client_id`, now (to receive its subscriptions' readings).
pub fn account_mqtt_login(key: &PrivateKey, chain_id: &str, client_id: &str) -> (String, String) {
    use commonware_cryptography::Signer as _;
    let account = machina_types::Address::of(&key.public_key());
    let now = crate::device::now_ms();
    let password = mqtt_account_password(key, chain_id, client_id, now);
    (format!("{MQTT_ACCOUNT_PREFIX}{account}"), password)
}

/// The seller's side: wraps each stream's key of `epoch` for a subscription.
pub fn grants(
    secret: &Key,
    device: &DeviceId,
    streams: &[StreamId],
    epoch: KeyEpoch,
    subscription: &Subscription,
) -> Vec<KeyGrant> {
    streams
        .iter()
        .filter_map(|stream| {
            let key = sealed::epoch_key(secret, device, *stream, epoch);
            let wrapped = sealed::wrap(
                &key,
                &subscription.encryption_key,
                &random(),
                device,
                *stream,
                epoch,
            )?;
            Some(KeyGrant { subscription: subscription.id, stream: *stream, epoch, key: wrapped })
        })
        .collect()
}

/// A subscriber's keys: its encryption secret and the epoch keys it opened, fetched from the
/// chain as readings of new epochs arrive.
pub struct Subscriber {
    secret: Key,
    subscription: SubscriptionId,
    device: DeviceId,
    keys: HashMap<(StreamId, KeyEpoch), Key>,
}

/// Why a reading did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The reading is not sealed.
    #[error("the reading is not sealed")]
    NotSealed,
    /// No key of its epoch was published for this subscription.
    #[error("no key of epoch {0} was published for this subscription")]
    NoKey(KeyEpoch),
    /// The key did not open it (another device, stream or epoch, or changed).
    #[error("the reading does not open with the key of its epoch")]
    Refused,
    /// The node could not be asked.
    #[error(transparent)]
    Api(#[from] crate::Error),
}

impl Subscriber {
    /// A subscriber of `subscription` (to `device`'s streams) holding encryption `secret`.
    pub fn new(secret: Key, subscription: SubscriptionId, device: DeviceId) -> Self {
        Self { secret, subscription, device, keys: HashMap::new() }
    }

    /// Its public encryption key (what it subscribes with).
    pub fn encryption_key(&self) -> Key {
        sealed::encryption_key(&self.secret)
    }

    /// The key of `stream`'s `epoch`, from its cache or the chain.
    fn key(&mut self, client: &Client, stream: StreamId, epoch: KeyEpoch) -> Result<Option<Key>> {
        if let Some(key) = self.keys.get(&(stream, epoch)) {
            return Ok(Some(*key));
        }
        let Some(wrapped) = client.subscription_key(self.subscription, stream, epoch)? else {
            return Ok(None);
        };
        let key = sealed::unwrap(&wrapped, &self.secret, &self.device, stream, epoch);
        if let Some(key) = key {
            self.keys.insert((stream, epoch), key);
        }
        Ok(key)
    }

    /// The plain value of a sealed reading of the subscription's device.
    pub fn open(
        &mut self,
        client: &Client,
        reading: &Reading,
    ) -> std::result::Result<Value, OpenError> {
        let Value::Sealed { epoch, .. } = reading.value else { return Err(OpenError::NotSealed) };
        let key = self.key(client, reading.stream, epoch)?.ok_or(OpenError::NoKey(epoch))?;
        sealed::open(reading, &key).ok_or(OpenError::Refused)
    }
}
