//! Device readings: what a device measured, signed by the device.
//!
//! A reading names its device and stream, carries a sequence number that strictly increases
//! per stream, the device's timestamp, and a value: a fixed-point number with a unit, or
//! opaque bytes. The device signs the reading's encoding under [`READING_NAMESPACE`]. The
//! gateway batches readings of one stream under a Merkle root ([`SignedReading::leaf`]) that
//! it anchors on chain.
//!
//! This module has no I/O and builds without `std`, for device firmware.

use crate::{
    address::Address,
    codec::{read_bytes, read_str, str_size, write_str},
    device::DeviceId,
    hash::Hash,
    limits::{READING_BYTES_MAX, UNIT_LEN_MAX},
    merkle,
    sealed::{SEALED_BYTES_MAX, TAG_BYTES},
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, Encode, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Signer, Verifier, ed25519};
use serde::{Deserialize, Serialize};

/// Identifies one of a device's measurement streams (e.g. 1 = temperature).
pub type StreamId = u32;

/// Namespace of device signatures on readings.
pub const READING_NAMESPACE: &[u8] = b"machina/reading/v1";

/// Most decimals a numeric value may declare.
pub const DECIMALS_MAX: u8 = 18;

/// Largest encoded signed reading, in bytes.
pub const SIGNED_READING_SIZE_MAX: usize = 32 + 4 + 8 + 8 + 1 + 4 + 24 + 5 + SEALED_BYTES_MAX + 64;

/// A measured value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Value {
    /// A fixed-point number: `value * 10^-decimals` `unit`.
    Numeric {
        /// The scaled integer.
        value: i64,
        /// Decimal places.
        decimals: u8,
        /// Unit, e.g. `C` or `kWh`.
        unit: String,
    },
    /// Opaque bytes.
    Bytes {
        /// The bytes.
        #[serde(with = "crate::codec::hex_bytes")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::hex_bytes))]
        bytes: Vec<u8>,
    },
    /// A numeric or bytes value sealed under the stream's key of `epoch`
    /// ([`crate::sealed`]): only the stream's subscribers can read it.
    Sealed {
        /// The stream key's epoch.
        epoch: u32,
        /// The XChaCha20-Poly1305 nonce.
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(value_type = String))]
        nonce: [u8; 24],
        /// The encrypted value's encoding with its tag.
        #[serde(with = "crate::codec::hex_bytes")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::hex_bytes))]
        ciphertext: Vec<u8>,
    },
}

/// One reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Reading {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: StreamId,
    /// Sequence number, strictly increasing per stream.
    pub seq: u64,
    /// When it was measured, ms since the Unix epoch (device clock).
    pub timestamp_ms: u64,
    /// What was measured.
    pub value: Value,
}

/// A reading with the device's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SignedReading {
    /// The reading.
    #[serde(flatten)]
    pub reading: Reading,
    /// The device key's signature over the reading's encoding.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: ed25519::Signature,
}

impl Value {
    /// Whether the value is within the format's bounds (decimals).
    pub fn is_valid(&self) -> bool {
        match self {
            Self::Numeric { decimals, unit, .. } => {
                *decimals <= DECIMALS_MAX && unit.len() <= UNIT_LEN_MAX
            }
            Self::Bytes { bytes } => bytes.len() <= READING_BYTES_MAX,
            Self::Sealed { ciphertext, .. } => {
                (TAG_BYTES..=SEALED_BYTES_MAX).contains(&ciphertext.len())
            }
        }
    }
}

impl core::fmt::Display for Value {
    /// A number with its decimals and unit (`21.5 C`), `<n bytes>`, or `sealed (epoch e)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Numeric { value, decimals, unit } => {
                let scale = 10u64.pow(u32::from(*decimals).min(19));
                let sign = if *value < 0 { "-" } else { "" };
                let abs = value.unsigned_abs();
                if *decimals == 0 {
                    write!(f, "{sign}{abs} {unit}")
                } else {
                    let width = usize::from(*decimals);
                    write!(f, "{sign}{}.{:0width$} {unit}", abs / scale, abs % scale)
                }
            }
            Self::Bytes { bytes } => write!(f, "<{} bytes>", bytes.len()),
            Self::Sealed { epoch, .. } => write!(f, "sealed (epoch {epoch})"),
        }
    }
}

impl Reading {
    /// Whether the reading is within the format's bounds (value, sequence number).
    pub fn is_valid(&self) -> bool {
        self.value.is_valid() && self.seq <= crate::limits::SEQ_MAX
    }

    /// Signs the reading with the device key.
    pub fn sign(self, device_key: &ed25519::PrivateKey) -> SignedReading {
        let signature = device_key.sign(READING_NAMESPACE, &self.encode());
        SignedReading { reading: self, signature }
    }
}

impl SignedReading {
    /// Whether `device_key` signed the reading.
    pub fn verify(&self, device_key: &Address) -> bool {
        device_key
            .public_key()
            .is_some_and(|k| k.verify(READING_NAMESPACE, &self.reading.encode(), &self.signature))
    }

    /// The Merkle leaf of this signed reading in an anchor's tree.
    pub fn leaf(&self) -> Hash {
        merkle::leaf(&self.encode())
    }

    /// Decodes untrusted bytes, refusing anything over the size limit.
    pub fn decode_checked(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > SIGNED_READING_SIZE_MAX {
            return None;
        }
        use commonware_codec::Decode;
        let reading = Self::decode_cfg(commonware_codec::Copying(bytes), &()).ok()?;
        reading.reading.is_valid().then_some(reading)
    }
}

impl Write for Value {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Numeric { value, decimals, unit } => {
                0u8.write(buf);
                value.write(buf);
                decimals.write(buf);
                write_str(unit, buf);
            }
            Self::Bytes { bytes } => {
                1u8.write(buf);
                bytes.write(buf);
            }
            Self::Sealed { epoch, nonce, ciphertext } => {
                2u8.write(buf);
                epoch.write(buf);
                nonce.write(buf);
                ciphertext.write(buf);
            }
        }
    }
}

impl EncodeSize for Value {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Numeric { unit, .. } => 8 + 1 + str_size(unit),
            Self::Bytes { bytes } => bytes.encode_size(),
            Self::Sealed { nonce, ciphertext, .. } => 4 + nonce.len() + ciphertext.encode_size(),
        }
    }
}

impl Read for Value {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Numeric {
                value: i64::read(buf)?,
                decimals: u8::read(buf)?,
                unit: read_str(buf, UNIT_LEN_MAX)?,
            }),
            1 => Ok(Self::Bytes { bytes: read_bytes(buf, READING_BYTES_MAX)? }),
            2 => Ok(Self::Sealed {
                epoch: u32::read(buf)?,
                nonce: <[u8; 24]>::read(buf)?,
                ciphertext: read_bytes(buf, SEALED_BYTES_MAX)?,
            }),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

impl Write for Reading {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.device.write(buf);
        self.stream.write(buf);
        self.seq.write(buf);
        self.timestamp_ms.write(buf);
        self.value.write(buf);
    }
}

impl EncodeSize for Reading {
    fn encode_size(&self) -> usize {
        32 + 4 + 8 + 8 + self.value.encode_size()
    }
}

impl Read for Reading {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            device: Hash::read(buf)?,
            stream: u32::read(buf)?,
            seq: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            value: Value::read(buf)?,
        })
    }
}

impl Write for SignedReading {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.reading.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedReading {
    fn encode_size(&self) -> usize {
        self.reading.encode_size() + ed25519::Signature::SIZE
    }
}

impl Read for SignedReading {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self { reading: Reading::read(buf)?, signature: ed25519::Signature::read(buf)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (any::<i64>(), 0u8..=DECIMALS_MAX, "[a-zA-Z0-9/]{0,16}")
                .prop_map(|(value, decimals, unit)| Value::Numeric { value, decimals, unit }),
            proptest::collection::vec(any::<u8>(), 0..=READING_BYTES_MAX)
                .prop_map(|bytes| Value::Bytes { bytes }),
        ]
    }

    proptest! {
        #[test]
        fn signed_readings_round_trip_and_verify(
            seed in any::<u64>(), stream in any::<u32>(), seq in 0..=crate::limits::SEQ_MAX,
            ts in any::<u64>(), value in value(), device in any::<[u8; 32]>(),
        ) {
            let key = ed25519::PrivateKey::from_seed(seed);
            let signed = Reading { device: Hash(device), stream, seq, timestamp_ms: ts, value }.sign(&key);
            let bytes = signed.encode();
            prop_assert!(bytes.len() <= SIGNED_READING_SIZE_MAX);
            let back = SignedReading::decode_checked(&bytes).unwrap();
            prop_assert_eq!(&back, &signed);
            prop_assert!(back.verify(&Address::of(&key.public_key())));
        }
    }

    #[test]
    fn a_tampered_reading_no_longer_verifies() {
        let key = ed25519::PrivateKey::from_seed(1);
        let address = Address::of(&key.public_key());
        let signed = Reading {
            device: Hash([1; 32]),
            stream: 1,
            seq: 7,
            timestamp_ms: 1000,
            value: Value::Numeric { value: 215, decimals: 1, unit: "C".into() },
        }
        .sign(&key);
        assert!(signed.verify(&address));
        let mut tampered = signed.clone();
        tampered.reading.seq = 8;
        assert!(!tampered.verify(&address));
        let mut tampered = signed;
        tampered.reading.value = Value::Numeric { value: 216, decimals: 1, unit: "C".into() };
        assert!(!tampered.verify(&address));
        assert!(SignedReading::decode_checked(&[0u8; 3]).is_none());
    }
}
