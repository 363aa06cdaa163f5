//! Every storage key of the identity module.

use crate::{Address, DeviceId, Hash};
use crate::{
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// A maker, by account.
pub fn maker(account: &Address) -> Key {
    key(&[b"identity/maker/", &account.0])
}

/// A device, by id.
pub fn device(id: &DeviceId) -> Key {
    key(&[b"identity/device/", &id.0])
}

/// The device a key belongs (or belonged, before a rotation) to, by the key's account.
pub fn device_of_key(account: &Address) -> Key {
    key(&[b"identity/device-key/", &account.0])
}

/// A role grant on a device.
pub fn role(device: &DeviceId, account: &Address, role: &str) -> Key {
    key(&[b"identity/role/", &device.0, &account.0, role.as_bytes()])
}

/// A firmware release of a maker.
pub fn firmware(maker: &Address, firmware: &Hash) -> Key {
    key(&[b"identity/firmware/", &maker.0, &firmware.0])
}

/// The name of a device's key in proofs: `identity/device/<id>`.
pub fn describe_device(id: &DeviceId) -> String {
    format!("identity/device/{id}")
}

/// The name of a maker's key in proofs: `identity/maker/<address>`.
pub fn describe_maker(account: &Address) -> String {
    format!("identity/maker/{account}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    Some(match parts {
        ["identity", "device", d] => {
            KnownKey { key: device(&d.parse().ok()?), decode: decode_json::<super::state::Device> }
        }
        ["identity", "maker", a] => {
            KnownKey { key: maker(&a.parse().ok()?), decode: decode_json::<super::state::Maker> }
        }
        _ => return None,
    })
}
