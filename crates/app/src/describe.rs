//! Human names of state keys: `bank/account/<address>`, `identity/device/<id>`,
//! `identity/maker/<address>`, `data/anchor/<device>/<stream>/<index>`, `data/feed/<id>`.
//!
//! A proof carries a key's description and its decoded value for humans. A verifier
//! recomputes the key from the description and decodes the value itself, so neither field
//! can be edited without the proof failing.

use crate::{
    modules::{bank, data, identity},
    state::{Key, decode_value},
};
use commonware_codec::{Decode, DecodeExt};
use machina_types::{Address, DeviceId};
use serde::Serialize;

/// A state key a description names, with the decoder of its value.
pub struct KnownKey {
    /// The state key.
    pub key: Key,
    /// Decodes a value of this key to JSON; `None` if the bytes are not such a value.
    pub decode: fn(&[u8]) -> Option<serde_json::Value>,
}

fn decode_json<T: Decode<Cfg = ()> + Serialize>(bytes: &[u8]) -> Option<serde_json::Value> {
    let value = T::decode(commonware_codec::Copying(bytes)).ok()?;
    serde_json::to_value(value).ok()
}

/// The description of an account's key.
pub fn account(address: &Address) -> String {
    format!("bank/account/{address}")
}

/// The description of a device's key.
pub fn device(id: &DeviceId) -> String {
    format!("identity/device/{id}")
}

/// The description of a maker's key.
pub fn maker(account: &Address) -> String {
    format!("identity/maker/{account}")
}

/// The description of an anchor's key.
pub fn anchor(device: &DeviceId, stream: u32, index: u64) -> String {
    format!("data/anchor/{device}/{stream}/{index}")
}

/// The description of a feed's key.
pub fn feed(id: u64) -> String {
    format!("data/feed/{id}")
}

/// The key a description names, if it is one of the described kinds.
pub fn known(description: &str) -> Option<KnownKey> {
    let parts: Vec<&str> = description.split('/').collect();
    Some(match parts.as_slice() {
        ["bank", "account", a] => KnownKey {
            key: bank::keys::account(&a.parse().ok()?),
            decode: decode_json::<bank::state::Account>,
        },
        ["identity", "device", d] => KnownKey {
            key: identity::keys::device(&d.parse().ok()?),
            decode: decode_json::<identity::state::Device>,
        },
        ["identity", "maker", a] => KnownKey {
            key: identity::keys::maker(&a.parse().ok()?),
            decode: decode_json::<identity::state::Maker>,
        },
        ["data", "anchor", d, s, i] => KnownKey {
            key: data::keys::anchor(&d.parse().ok()?, s.parse().ok()?, i.parse().ok()?),
            decode: decode_json::<data::state::AnchorRecord>,
        },
        ["data", "feed", id] => KnownKey {
            key: data::keys::feed(id.parse().ok()?),
            decode: decode_json::<data::state::Feed>,
        },
        _ => return None,
    })
}

/// Decodes a stored value known to be a `T` (for callers that have the key already).
pub fn decoded<T: Decode<Cfg = ()> + Serialize>(key: &Key, bytes: &[u8]) -> serde_json::Value {
    serde_json::to_value(decode_value::<T>(key, bytes)).expect("state values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
