//! Every storage key of the identity module.

use crate::state::{Key, key};
use machina_types::{Address, DeviceId, Hash};

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
