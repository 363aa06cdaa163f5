//! Device identity: ids and the maker-signed certificate a device is onboarded with.
//!
//! A maker registers on chain with a maker key. For each device it builds, the maker signs a
//! certificate binding the device's public key to a model and a serial number (as a hash,
//! so serials are not disclosed). The device id is derived from the maker and the serial
//! hash, so it never changes, even when the device's key is rotated.

use crate::{
    address::Address,
    codec::{read_str, str_size, write_str},
    hash::Hash,
    limits::NAME_LEN_MAX,
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, Encode, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Signer, Verifier, ed25519};
use serde::{Deserialize, Serialize};

/// A device's permanent id: SHA-256 of its maker and serial hash.
pub type DeviceId = Hash;

/// Namespace of maker signatures on device certificates.
pub const CERTIFICATE_NAMESPACE: &[u8] = b"machina/device-certificate/v1";
/// Namespace of a device's signature claiming it for its first owner.
pub const CLAIM_NAMESPACE: &[u8] = b"machina/device-claim/v1";
/// Namespace of a device's signature approving its next key.
pub const ROTATION_NAMESPACE: &[u8] = b"machina/device-rotation/v1";
/// Namespace of maker signatures on firmware releases.
pub const FIRMWARE_NAMESPACE: &[u8] = b"machina/firmware/v1";
/// Namespace of a device's report of the firmware it runs.
pub const FIRMWARE_REPORT_NAMESPACE: &[u8] = b"machina/firmware-report/v1";

/// The id of the device `maker` builds with serial hash `serial_hash`.
pub fn device_id(maker: &Address, serial_hash: &Hash) -> DeviceId {
    Hash::of(&[b"machina/device/", &maker.0, &serial_hash.0])
}

/// What a maker certifies about a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CertificateBody {
    /// The maker's account.
    pub maker: Address,
    /// The device's public key at manufacture.
    pub device_key: Address,
    /// Model name.
    pub model: String,
    /// SHA-256 of the serial number.
    pub serial_hash: Hash,
}

/// A maker-signed device certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DeviceCertificate {
    /// What is certified.
    #[serde(flatten)]
    pub body: CertificateBody,
    /// The maker key's signature over the body.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: ed25519::Signature,
}

impl CertificateBody {
    /// Signs the body with the maker key.
    pub fn sign(self, maker_key: &ed25519::PrivateKey) -> DeviceCertificate {
        let signature = maker_key.sign(CERTIFICATE_NAMESPACE, &self.encode());
        DeviceCertificate { body: self, signature }
    }
}

impl DeviceCertificate {
    /// The device id this certificate names.
    pub fn device_id(&self) -> DeviceId {
        device_id(&self.body.maker, &self.body.serial_hash)
    }

    /// Whether `maker_key` signed this certificate.
    pub fn verify(&self, maker_key: &Address) -> bool {
        maker_key
            .public_key()
            .is_some_and(|k| k.verify(CERTIFICATE_NAMESPACE, &self.body.encode(), &self.signature))
    }
}

/// The message a device signs to be claimed by its first owner on a chain.
pub fn claim_message(chain_id: &str, device: &DeviceId, owner: &Address) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + 64);
    out.extend_from_slice(chain_id.as_bytes());
    out.extend_from_slice(&device.0);
    out.extend_from_slice(&owner.0);
    out
}

/// The message a device's current key signs to approve `new_key` as its next key on a chain.
pub fn rotation_message(
    chain_id: &str,
    device: &DeviceId,
    new_key: &Address,
    epoch: u64,
) -> Vec<u8> {
    let mut out = chain_prefixed(chain_id, 72);
    out.extend_from_slice(&device.0);
    out.extend_from_slice(&new_key.0);
    out.extend_from_slice(&epoch.to_be_bytes());
    out
}

/// The message a maker key signs to release firmware on a chain.
pub fn firmware_message(
    chain_id: &str,
    maker: &Address,
    firmware: &Hash,
    version: &str,
) -> Vec<u8> {
    let mut out = chain_prefixed(chain_id, 64 + version.len());
    out.extend_from_slice(&maker.0);
    out.extend_from_slice(&firmware.0);
    out.extend_from_slice(version.as_bytes());
    out
}

/// The message a device key signs to report running `firmware` on a chain.
pub fn firmware_report_message(chain_id: &str, device: &DeviceId, firmware: &Hash) -> Vec<u8> {
    let mut out = chain_prefixed(chain_id, 64);
    out.extend_from_slice(&device.0);
    out.extend_from_slice(&firmware.0);
    out
}

/// The namespace of a device's MQTT login token.
pub const MQTT_LOGIN_NAMESPACE: &[u8] = b"machina/mqtt-login/v1";

/// The message a device key signs to log in to a chain's MQTT broker as `client_id` at
/// `timestamp_ms` (its own clock). The broker accepts a token once, within a few minutes of
/// its own clock.
pub fn mqtt_login_message(
    chain_id: &str,
    device: &DeviceId,
    client_id: &str,
    timestamp_ms: u64,
) -> Vec<u8> {
    let mut out = chain_prefixed(chain_id, 48 + client_id.len());
    out.extend_from_slice(&device.0);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(client_id.as_bytes());
    out
}

/// The MQTT password of a device: `<timestamp_ms>.<hex signature>` over
/// [`mqtt_login_message`], signed with the device's current key.
pub fn mqtt_password(
    key: &ed25519::PrivateKey,
    chain_id: &str,
    device: &DeviceId,
    client_id: &str,
    timestamp_ms: u64,
) -> alloc::string::String {
    let message = mqtt_login_message(chain_id, device, client_id, timestamp_ms);
    signed_token(key, MQTT_LOGIN_NAMESPACE, &message, timestamp_ms)
}

/// Namespace of an account's MQTT login signature (a subscriber receiving its data).
pub const MQTT_ACCOUNT_LOGIN_NAMESPACE: &[u8] = b"machina/mqtt-account-login/v1";

/// The MQTT username prefix of an account logging in (`account:<address>`).
pub const MQTT_ACCOUNT_PREFIX: &str = "account:";

/// The message an account key signs to log in to a chain's MQTT broker: the device login's
/// message with the account's address in the device's place, under its own namespace.
pub fn mqtt_account_login_message(
    chain_id: &str,
    account: &crate::Address,
    client_id: &str,
    timestamp_ms: u64,
) -> Vec<u8> {
    mqtt_login_message(chain_id, &crate::Hash(account.0), client_id, timestamp_ms)
}

/// The MQTT password of an account: `<timestamp_ms>.<hex signature>` over
/// [`mqtt_account_login_message`], signed with the account's key.
pub fn mqtt_account_password(
    key: &ed25519::PrivateKey,
    chain_id: &str,
    client_id: &str,
    timestamp_ms: u64,
) -> alloc::string::String {
    use commonware_cryptography::Signer as _;
    let account = crate::Address::of(&key.public_key());
    let message = mqtt_account_login_message(chain_id, &account, client_id, timestamp_ms);
    signed_token(key, MQTT_ACCOUNT_LOGIN_NAMESPACE, &message, timestamp_ms)
}

fn signed_token(
    key: &ed25519::PrivateKey,
    namespace: &[u8],
    message: &[u8],
    timestamp_ms: u64,
) -> alloc::string::String {
    use commonware_cryptography::Signer as _;
    let signature = key.sign(namespace, message);
    alloc::format!("{timestamp_ms}.{}", crate::codec::hex(signature.as_ref()))
}

/// Splits an MQTT password made by [`mqtt_password`] into its timestamp and signature.
pub fn parse_mqtt_password(password: &[u8]) -> Option<(u64, ed25519::Signature)> {
    let text = core::str::from_utf8(password).ok()?;
    let (timestamp, signature) = text.split_once('.')?;
    let bytes = crate::codec::parse_hex(signature).ok()?;
    let signature =
        commonware_codec::Decode::decode_cfg(commonware_codec::Copying(&bytes[..]), &()).ok()?;
    Some((timestamp.parse().ok()?, signature))
}

/// A message buffer that starts with the length-prefixed chain id, so a signature made for
/// one chain never verifies on another.
fn chain_prefixed(chain_id: &str, rest: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + chain_id.len() + rest);
    out.push(chain_id.len() as u8);
    out.extend_from_slice(chain_id.as_bytes());
    out
}

/// Verifies `signature` by the key `signer` over `message` under `namespace`.
pub fn verify(
    signer: &Address,
    namespace: &[u8],
    message: &[u8],
    signature: &ed25519::Signature,
) -> bool {
    signer.public_key().is_some_and(|k| k.verify(namespace, message, signature))
}

impl Write for CertificateBody {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.maker.write(buf);
        self.device_key.write(buf);
        write_str(&self.model, buf);
        self.serial_hash.write(buf);
    }
}

impl EncodeSize for CertificateBody {
    fn encode_size(&self) -> usize {
        32 + 32 + str_size(&self.model) + 32
    }
}

impl Read for CertificateBody {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            maker: Address::read(buf)?,
            device_key: Address::read(buf)?,
            model: read_str(buf, NAME_LEN_MAX)?,
            serial_hash: Hash::read(buf)?,
        })
    }
}

impl Write for DeviceCertificate {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.body.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for DeviceCertificate {
    fn encode_size(&self) -> usize {
        self.body.encode_size() + ed25519::Signature::SIZE
    }
}

impl Read for DeviceCertificate {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self { body: CertificateBody::read(buf)?, signature: ed25519::Signature::read(buf)? })
    }
}

/// A device's lifecycle status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Working: its readings and offers are accepted.
    Active,
    /// Paused by its owner.
    Suspended,
    /// Retired for good.
    Decommissioned,
}

impl DeviceStatus {
    /// The error code for acting as a device in this status, if it may not act.
    pub fn refusal(self) -> Option<crate::ErrorCode> {
        match self {
            Self::Active => None,
            Self::Suspended => Some(crate::ErrorCode::DeviceSuspended),
            Self::Decommissioned => Some(crate::ErrorCode::DeviceDecommissioned),
        }
    }
}

impl Write for DeviceStatus {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        (*self as u8).write(buf);
    }
}

impl FixedSize for DeviceStatus {
    const SIZE: usize = 1;
}

impl Read for DeviceStatus {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Active),
            1 => Ok(Self::Suspended),
            2 => Ok(Self::Decommissioned),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}
