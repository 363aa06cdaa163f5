//! The identity module's stored values.

use crate::{
    Address, Amount, DeviceCertificate, DeviceId, Hash,
    codec::{read_str, read_vec, str_size, write_str},
    device::DeviceStatus,
    limits::{
        ATTRIBUTE_KEY_LEN_MAX, ATTRIBUTE_VALUE_LEN_MAX, ATTRIBUTES_PER_DEVICE_MAX,
        DEVICE_KEYS_REMEMBERED, FIRMWARE_VERSION_LEN_MAX, NAME_LEN_MAX,
    },
};
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// A registered maker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Maker {
    /// The maker's account.
    pub account: Address,
    /// Name.
    pub name: String,
    /// The key that signs certificates and firmware.
    pub maker_key: Address,
    /// Native tokens locked as bond (after slashing).
    pub bond: Amount,
    /// Native tokens slashed so far.
    pub slashed: Amount,
    /// Devices onboarded with its certificates.
    pub devices: u64,
}

/// A device's track record, moved by the modules that use it (markets, SLAs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Reputation {
    /// Deliveries and obligations met.
    pub good: u64,
    /// Deliveries and obligations failed.
    pub bad: u64,
}

/// An attribute of a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Attribute {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// An onboarded device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its owner.
    pub owner: Address,
    /// The certificate it was onboarded with (its maker, model, serial hash, first key).
    pub certificate: DeviceCertificate,
    /// Its keys, oldest first; the last is current. Bounded: the oldest are forgotten.
    pub keys: Vec<Address>,
    /// Rotations so far.
    pub key_epoch: u64,
    /// Firmware it last reported.
    pub firmware: Option<Hash>,
    /// Attributes, sorted by key.
    pub attributes: Vec<Attribute>,
    /// Lifecycle status.
    pub status: DeviceStatus,
    /// Track record.
    pub reputation: Reputation,
    /// Height it was onboarded at.
    pub registered_height: u64,
    /// Owners so far minus one: a role grant holds only under the owner that made it, so a
    /// transfer ends every grant of the previous owner.
    pub ownership: u64,
}

impl Device {
    /// The maker's account.
    pub fn maker(&self) -> Address {
        self.certificate.body.maker
    }

    /// The current device key.
    pub fn current_key(&self) -> Address {
        *self.keys.last().expect("a device always has a key")
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str())
    }

    /// Whether `account` holds a role on this device at `height`, given `grant`, the grant
    /// of that role to it if there is one: the owner holds every role; anyone else needs a
    /// grant that [holds](RoleGrant::holds). The chain and the gateway decide by this alone.
    pub fn role_held_by(&self, account: &Address, grant: Option<&RoleGrant>, height: u64) -> bool {
        self.owner == *account || grant.is_some_and(|g| g.holds(self, height))
    }
}

/// A role grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RoleGrant {
    /// Last height the grant holds, if limited.
    pub expiry_height: Option<u64>,
    /// The device's [`Device::ownership`] when granted: the grant ends with that ownership.
    pub ownership: u64,
    /// Whether the grantee accepted it (some uses, such as feed eligibility, need that).
    pub accepted: bool,
}

impl RoleGrant {
    /// Whether the grant holds on `d` at `height`: made under its current owner, not expired.
    pub fn holds(&self, d: &Device, height: u64) -> bool {
        self.ownership == d.ownership && self.expiry_height.is_none_or(|e| height <= e)
    }
}

/// A maker's firmware release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Firmware {
    /// Version label.
    pub version: String,
    /// Height it was released at.
    pub height: u64,
}

impl Write for Maker {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.account.write(buf);
        write_str(&self.name, buf);
        self.maker_key.write(buf);
        self.bond.write(buf);
        self.slashed.write(buf);
        self.devices.write(buf);
    }
}

impl EncodeSize for Maker {
    fn encode_size(&self) -> usize {
        32 + str_size(&self.name) + 32 + 8 + 8 + 8
    }
}

impl Read for Maker {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            account: Address::read(buf)?,
            name: read_str(buf, NAME_LEN_MAX)?,
            maker_key: Address::read(buf)?,
            bond: u64::read(buf)?,
            slashed: u64::read(buf)?,
            devices: u64::read(buf)?,
        })
    }
}

impl Write for Attribute {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        write_str(&self.key, buf);
        write_str(&self.value, buf);
    }
}

impl EncodeSize for Attribute {
    fn encode_size(&self) -> usize {
        str_size(&self.key) + str_size(&self.value)
    }
}

impl Read for Attribute {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            key: read_str(buf, ATTRIBUTE_KEY_LEN_MAX)?,
            value: read_str(buf, ATTRIBUTE_VALUE_LEN_MAX)?,
        })
    }
}

impl Write for Device {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.id.write(buf);
        self.owner.write(buf);
        self.certificate.write(buf);
        self.keys.write(buf);
        self.key_epoch.write(buf);
        self.firmware.write(buf);
        self.attributes.write(buf);
        self.status.write(buf);
        self.reputation.good.write(buf);
        self.reputation.bad.write(buf);
        self.registered_height.write(buf);
        self.ownership.write(buf);
    }
}

impl EncodeSize for Device {
    fn encode_size(&self) -> usize {
        32 + 32
            + self.certificate.encode_size()
            + self.keys.encode_size()
            + 8
            + self.firmware.encode_size()
            + self.attributes.encode_size()
            + DeviceStatus::SIZE
            + 8
            + 8
            + 8
            + 8
    }
}

impl Read for Device {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            id: Hash::read(buf)?,
            owner: Address::read(buf)?,
            certificate: DeviceCertificate::read(buf)?,
            keys: read_vec(buf, DEVICE_KEYS_REMEMBERED, &())?,
            key_epoch: u64::read(buf)?,
            firmware: Option::<Hash>::read(buf)?,
            attributes: read_vec(buf, ATTRIBUTES_PER_DEVICE_MAX, &())?,
            status: DeviceStatus::read(buf)?,
            reputation: Reputation { good: u64::read(buf)?, bad: u64::read(buf)? },
            registered_height: u64::read(buf)?,
            ownership: u64::read(buf)?,
        })
    }
}

crate::struct_codec!(RoleGrant { expiry_height: plain, ownership: plain, accepted: plain });

impl Write for Firmware {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        write_str(&self.version, buf);
        self.height.write(buf);
    }
}

impl EncodeSize for Firmware {
    fn encode_size(&self) -> usize {
        str_size(&self.version) + 8
    }
}

impl Read for Firmware {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self { version: read_str(buf, FIRMWARE_VERSION_LEN_MAX)?, height: u64::read(buf)? })
    }
}
