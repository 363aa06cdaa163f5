//! Every storage key of the rewards module, and the names of those a payout is proved
//! from: the pool (its rule), the epoch's total work and the device's work.

use super::{Epoch, PoolId};
use crate::DeviceId;
use crate::{
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// The id the next pool gets.
pub fn next_pool_id() -> Key {
    key(&[b"rewards/next-pool-id"])
}

/// A pool.
pub fn pool(id: PoolId) -> Key {
    key(&[b"rewards/pool/", &id.to_be_bytes()])
}

/// A device's enrollment in a pool.
pub fn enrollment(pool: PoolId, device: &DeviceId) -> Key {
    key(&[b"rewards/enrollment/", &pool.to_be_bytes(), &device.0])
}

/// The work credited to an epoch of a pool, over every device.
pub fn epoch(pool: PoolId, epoch: Epoch) -> Key {
    key(&[b"rewards/epoch/", &pool.to_be_bytes(), &epoch.to_be_bytes()])
}

/// The work credited to a device for an epoch of a pool.
pub fn work(pool: PoolId, epoch: Epoch, device: &DeviceId) -> Key {
    key(&[b"rewards/work/", &pool.to_be_bytes(), &epoch.to_be_bytes(), &device.0])
}

/// The name of a pool's key in proofs: `rewards/pool/<id>`.
pub fn describe_pool(id: PoolId) -> String {
    format!("rewards/pool/{id}")
}

/// The name of an enrollment's key in proofs: `rewards/enrollment/<pool>/<device>`.
pub fn describe_enrollment(pool: PoolId, device: &DeviceId) -> String {
    format!("rewards/enrollment/{pool}/{device}")
}

/// The name of an epoch's total work in proofs: `rewards/epoch/<pool>/<epoch>`.
pub fn describe_epoch(pool: PoolId, epoch: Epoch) -> String {
    format!("rewards/epoch/{pool}/{epoch}")
}

/// The name of a device's work in an epoch in proofs: `rewards/work/<pool>/<epoch>/<device>`.
pub fn describe_work(pool: PoolId, epoch: Epoch, device: &DeviceId) -> String {
    format!("rewards/work/{pool}/{epoch}/{device}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    use super::state::{DeviceWork, Enrollment, EpochTotal, Pool};
    Some(match parts {
        ["rewards", "pool", id] => {
            KnownKey { key: pool(id.parse().ok()?), decode: decode_json::<Pool> }
        }
        ["rewards", "enrollment", p, d] => KnownKey {
            key: enrollment(p.parse().ok()?, &d.parse().ok()?),
            decode: decode_json::<Enrollment>,
        },
        ["rewards", "epoch", p, e] => KnownKey {
            key: epoch(p.parse().ok()?, e.parse().ok()?),
            decode: decode_json::<EpochTotal>,
        },
        ["rewards", "work", p, e, d] => KnownKey {
            key: work(p.parse().ok()?, e.parse().ok()?, &d.parse().ok()?),
            decode: decode_json::<DeviceWork>,
        },
        _ => return None,
    })
}
