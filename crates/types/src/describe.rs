//! Human names of state keys: `bank/account/<address>`, `identity/device/<id>`,
//! `identity/maker/<address>`, `data/anchor/<device>/<stream>/<index>`, `data/feed/<id>`, `market/lease/<id>`,
//! `rewards/pool/<id>`, `rewards/enrollment/<pool>/<device>`, `rewards/epoch/<pool>/<epoch>`,
//! `rewards/work/<pool>/<epoch>/<device>`.
//!
//! A proof carries a key's description and its decoded value for humans. A verifier
//! recomputes the key from the description and decodes the value itself, so neither field
//! can be edited without the proof failing. Each module names its own keys (`describe_*` and
//! `described` in its `keys.rs`); this is the facade callers use.

use crate::state::{Key, decode_value};
use commonware_codec::{Decode, DecodeExt};
use serde::Serialize;

/// A state key a description names, with the decoder of its value.
pub struct KnownKey {
    /// The state key.
    pub key: Key,
    /// Decodes a value of this key to JSON; `None` if the bytes are not such a value.
    pub decode: fn(&[u8]) -> Option<serde_json::Value>,
}

pub(crate) fn decode_json<T: Decode<Cfg = ()> + Serialize>(
    bytes: &[u8],
) -> Option<serde_json::Value> {
    let value = T::decode(commonware_codec::Copying(bytes)).ok()?;
    serde_json::to_value(value).ok()
}

pub use crate::{
    bank::keys::describe_account as account,
    channels::keys::describe_channel as channel,
    data::keys::{describe_anchor as anchor, describe_feed as feed},
    identity::keys::{describe_device as device, describe_maker as maker},
    market::keys::describe_lease as lease,
    products::keys::describe_subscription as subscription,
    rewards::keys::{
        describe_enrollment as reward_enrollment, describe_epoch as reward_epoch,
        describe_pool as reward_pool, describe_work as reward_work,
    },
};

/// A module's reader of its own key descriptions (`<module>/...`, split at `/`).
type Described = fn(&[&str]) -> Option<KnownKey>;

/// Each module's reader of its own key descriptions.
const MODULES: &[Described] = &[
    crate::bank::keys::described,
    crate::identity::keys::described,
    crate::data::keys::described,
    crate::market::keys::described,
    crate::rewards::keys::described,
    crate::channels::keys::described,
    crate::products::keys::described,
    crate::wallets::keys::described,
];

/// The key a description names, if it is one of the described kinds.
pub fn known(description: &str) -> Option<KnownKey> {
    let parts: Vec<&str> = description.split('/').collect();
    MODULES.iter().find_map(|described| described(&parts))
}

/// Decodes a stored value known to be a `T` (for callers that have the key already).
pub fn decoded<T: Decode<Cfg = ()> + Serialize>(key: &Key, bytes: &[u8]) -> serde_json::Value {
    serde_json::to_value(decode_value::<T>(key, bytes)).expect("state values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, DeviceId};
    use crate::{bank, data, identity, rewards};

    #[test]
    fn descriptions_name_the_keys_modules_use() {
        let a = Address([3; 32]);
        let d = DeviceId::default();
        assert_eq!(known(&account(&a)).unwrap().key, bank::keys::account(&a));
        assert_eq!(known(&device(&d)).unwrap().key, identity::keys::device(&d));
        assert_eq!(known(&maker(&a)).unwrap().key, identity::keys::maker(&a));
        assert_eq!(known(&anchor(&d, 7, 2)).unwrap().key, data::keys::anchor(&d, 7, 2));
        assert_eq!(known(&feed(4)).unwrap().key, data::keys::feed(4));
        assert!(known("bank/other/x").is_none());
    }

    #[test]
    fn reward_descriptions_name_the_keys_a_payout_is_proved_from() {
        let d = crate::Hash([9; 32]);
        assert_eq!(known(&reward_pool(3)).unwrap().key, rewards::keys::pool(3));
        assert_eq!(known(&reward_enrollment(3, &d)).unwrap().key, rewards::keys::enrollment(3, &d));
        assert_eq!(known(&reward_epoch(3, 0)).unwrap().key, rewards::keys::epoch(3, 0));
        assert_eq!(
            known(&reward_work(3, u32::MAX, &d)).unwrap().key,
            rewards::keys::work(3, u32::MAX, &d)
        );
        assert_ne!(rewards::keys::epoch(3, 1), rewards::keys::epoch(1, 3));
        assert!(known("rewards/pool/x").is_none());
        assert!(known("rewards/epoch/1/4294967296").is_none(), "epochs are u32");
        assert!(known("rewards/work/1/2").is_none());
        let total = rewards::state::EpochTotal { total_work: 5, devices: 2 };
        let bytes = commonware_codec::Encode::encode(&total);
        let json = (known(&reward_epoch(1, 2)).unwrap().decode)(&bytes).unwrap();
        assert_eq!(json, serde_json::json!({"total_work": 5, "devices": 2}));
    }
}
