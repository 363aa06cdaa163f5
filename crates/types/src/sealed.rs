//! Private readings: values sealed on the device, readable only by the stream's subscribers.
//!
//! - **Stream keys.** The holder of a stream's data rights keeps a 32-byte stream secret and
//!   provisions it to the device. The key of epoch `e` is derived from it
//!   ([`epoch_key`]); a key of one epoch says nothing about another's, so rotating to a new
//!   epoch locks out whoever held only the old keys.
//! - **Sealed values.** The device seals each reading's value under the current epoch's key
//!   with XChaCha20-Poly1305 ([`seal`]): a random 24-byte nonce, and the reading's device,
//!   stream, sequence number, timestamp and epoch as associated data, so a ciphertext cannot
//!   be moved to another reading. The result is the reading's value
//!   ([`Value::Sealed`]); the device signs the reading as usual, and the gateway anchors it,
//!   so its signature and its Merkle proof cover the ciphertext and verify without the key.
//!   Gateways and validators see only ciphertext.
//! - **Key wrapping.** Each subscriber names an X25519 encryption key. The holder wraps an
//!   epoch key for it ([`wrap`]): an ephemeral X25519 key agreement, a key derived from the
//!   shared secret and both public keys, and ChaCha20-Poly1305 over the epoch key with the
//!   stream and epoch as associated data: 80 bytes ([`WrappedKey`]) a subscriber opens with
//!   its secret ([`unwrap`]).
//!
//! No I/O, no randomness of its own (callers pass nonces and ephemeral secrets), no `std`.

use crate::{
    device::DeviceId,
    hash::Hash,
    limits::{READING_BYTES_MAX, UNIT_LEN_MAX},
    reading::{Reading, StreamId, Value},
};
use alloc::vec::Vec;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, XChaCha20Poly1305,
    aead::{Aead, Payload, array::Array},
};
use commonware_codec::{DecodeExt, Encode};
use serde::{Deserialize, Serialize};

/// An epoch of a stream's keys (from 0); revoking a subscriber moves to the next one.
pub type KeyEpoch = u32;

/// Bytes the authentication tag adds to a sealed value.
pub const TAG_BYTES: usize = 16;

/// Largest plain value's encoding: bytes (a tag, a length of up to 3 bytes, the bytes) or a
/// number (a tag, 8 bytes, decimals, the unit with its length).
const PLAIN_BYTES_MAX: usize = {
    let bytes = 1 + 3 + READING_BYTES_MAX;
    let numeric = 1 + 8 + 1 + 3 + UNIT_LEN_MAX;
    if bytes > numeric { bytes } else { numeric }
};

/// Largest sealed value's ciphertext: the largest plain value's encoding plus the tag.
pub const SEALED_BYTES_MAX: usize = PLAIN_BYTES_MAX + TAG_BYTES;

const EPOCH_KEY_NAMESPACE: &[u8] = b"machina/stream-key/v1";
const WRAP_KEY_NAMESPACE: &[u8] = b"machina/key-wrap/v1";
const SEALED_AAD_NAMESPACE: &[u8] = b"machina/sealed-reading/v1";

/// A 32-byte symmetric key (a stream secret or an epoch key).
pub type Key = [u8; 32];

/// The key of `epoch` of `device`'s `stream`, derived from the holder's stream secret.
pub fn epoch_key(secret: &Key, device: &DeviceId, stream: StreamId, epoch: KeyEpoch) -> Key {
    Hash::of(&[EPOCH_KEY_NAMESPACE, &device.0, &stream.to_be_bytes(), &epoch.to_be_bytes(), secret])
        .0
}

/// The associated data binding a sealed value to its reading and epoch.
fn reading_aad(reading: &Reading, epoch: KeyEpoch) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEALED_AAD_NAMESPACE.len() + 56);
    aad.extend_from_slice(SEALED_AAD_NAMESPACE);
    aad.extend_from_slice(&reading.device.0);
    aad.extend_from_slice(&reading.stream.to_be_bytes());
    aad.extend_from_slice(&reading.seq.to_be_bytes());
    aad.extend_from_slice(&reading.timestamp_ms.to_be_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

/// Seals `reading`'s value (numeric or bytes) under `key`, the key of `epoch`, with a fresh
/// random `nonce` (never reuse one under a key); the reading's value becomes the sealed
/// one. `None` if the value is already sealed.
pub fn seal(mut reading: Reading, key: &Key, epoch: KeyEpoch, nonce: [u8; 24]) -> Option<Reading> {
    if matches!(reading.value, Value::Sealed { .. }) {
        return None;
    }
    let plain = reading.value.encode().to_vec();
    let aad = reading_aad(&reading, epoch);
    let cipher = XChaCha20Poly1305::new(&Array(*key));
    let ciphertext = cipher.encrypt(&Array(nonce), Payload { msg: &plain, aad: &aad }).ok()?;
    reading.value = Value::Sealed { epoch, nonce, ciphertext };
    Some(reading)
}

/// Opens a sealed reading's value with the key of its epoch; `None` if the value is not
/// sealed, the key is not its epoch's, or anything was changed.
pub fn open(reading: &Reading, key: &Key) -> Option<Value> {
    let Value::Sealed { epoch, nonce, ciphertext } = &reading.value else { return None };
    let aad = reading_aad(reading, *epoch);
    let cipher = XChaCha20Poly1305::new(&Array(*key));
    let plain = cipher.decrypt(&Array(*nonce), Payload { msg: ciphertext, aad: &aad }).ok()?;
    let value = Value::decode(commonware_codec::Copying(plain.as_slice())).ok()?;
    // A sealed value holds a plain one.
    (!matches!(value, Value::Sealed { .. }) && value.is_valid()).then_some(value)
}

/// The X25519 public key of an encryption secret (what a subscriber publishes).
pub fn encryption_key(secret: &Key) -> Key {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// An epoch key wrapped for one subscriber: 80 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct WrappedKey {
    /// The wrapper's ephemeral X25519 public key.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub ephemeral: [u8; 32],
    /// The epoch key, encrypted, with its tag.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub sealed: [u8; 48],
}

crate::struct_codec!(WrappedKey { ephemeral: plain, sealed: plain });

/// What a wrapped key is for: it opens only for this device, stream and epoch.
fn wrap_aad(device: &DeviceId, stream: StreamId, epoch: KeyEpoch) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_KEY_NAMESPACE.len() + 40);
    aad.extend_from_slice(WRAP_KEY_NAMESPACE);
    aad.extend_from_slice(&device.0);
    aad.extend_from_slice(&stream.to_be_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

/// The key-encryption key of an agreement: `None` for a recipient key of small order (the
/// shared secret would be known to anyone).
fn wrapping_key(shared: Key, ephemeral: &Key, recipient: &Key) -> Option<ChaCha20Poly1305> {
    if shared == [0; 32] {
        return None;
    }
    let key = Hash::of(&[WRAP_KEY_NAMESPACE, &shared, ephemeral, recipient]).0;
    Some(ChaCha20Poly1305::new(&Array(key)))
}

/// Wraps `epoch_key` (of `device`'s `stream`, epoch `epoch`) for the holder of the X25519
/// key `recipient`, with a fresh random `ephemeral_secret`. `None` if `recipient` is a key of
/// small order.
pub fn wrap(
    epoch_key: &Key,
    recipient: &Key,
    ephemeral_secret: &Key,
    device: &DeviceId,
    stream: StreamId,
    epoch: KeyEpoch,
) -> Option<WrappedKey> {
    let ephemeral = encryption_key(ephemeral_secret);
    let shared = x25519_dalek::x25519(*ephemeral_secret, *recipient);
    let cipher = wrapping_key(shared, &ephemeral, recipient)?;
    let aad = wrap_aad(device, stream, epoch);
    // Each wrapping key encrypts one message: a zero nonce is safe.
    let out = cipher.encrypt(&Array([0; 12]), Payload { msg: epoch_key, aad: &aad }).ok()?;
    Some(WrappedKey { ephemeral, sealed: out.try_into().ok()? })
}

/// Opens a key wrapped for the holder of `secret`; `None` if it was wrapped for someone
/// else, for another stream or epoch, or changed.
pub fn unwrap(
    wrapped: &WrappedKey,
    secret: &Key,
    device: &DeviceId,
    stream: StreamId,
    epoch: KeyEpoch,
) -> Option<Key> {
    let recipient = encryption_key(secret);
    let shared = x25519_dalek::x25519(*secret, wrapped.ephemeral);
    let cipher = wrapping_key(shared, &wrapped.ephemeral, &recipient)?;
    let aad = wrap_aad(device, stream, epoch);
    let key = cipher.decrypt(&Array([0; 12]), Payload { msg: &wrapped.sealed, aad: &aad }).ok()?;
    key.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;
    use alloc::string::ToString;

    fn reading(value: Value) -> Reading {
        Reading { device: Hash([4; 32]), stream: 2, seq: 17, timestamp_ms: 1_000, value }
    }

    fn celsius(v: i64) -> Value {
        Value::Numeric { value: v, decimals: 1, unit: "C".to_string() }
    }

    #[test]
    fn a_sealed_reading_opens_with_its_epoch_key_only_and_binds_its_reading() {
        let secret = [9; 32];
        let device = Hash([4; 32]);
        let k0 = epoch_key(&secret, &device, 2, 0);
        let k1 = epoch_key(&secret, &device, 2, 1);
        assert_ne!(k0, k1);
        assert_ne!(k0, epoch_key(&secret, &device, 3, 0), "another stream");
        let sealed = seal(reading(celsius(215)), &k0, 0, [1; 24]).unwrap();
        let Value::Sealed { epoch, ciphertext, .. } = &sealed.value else { panic!("sealed") };
        assert_eq!(*epoch, 0);
        assert!(!ciphertext.windows(1).all(|_| false));
        assert_eq!(open(&sealed, &k0), Some(celsius(215)));
        assert_eq!(open(&sealed, &k1), None, "another epoch's key");
        // Moved to another reading (sequence, time, stream), or tampered: nothing opens.
        for moved in [
            Reading { seq: 18, ..sealed.clone() },
            Reading { timestamp_ms: 1_001, ..sealed.clone() },
            Reading { stream: 3, ..sealed.clone() },
        ] {
            assert_eq!(open(&moved, &k0), None);
        }
        let mut tampered = sealed.clone();
        if let Value::Sealed { ciphertext, .. } = &mut tampered.value {
            ciphertext[0] ^= 1;
        }
        assert_eq!(open(&tampered, &k0), None);
        let mut relabelled = sealed.clone();
        if let Value::Sealed { epoch, .. } = &mut relabelled.value {
            *epoch = 1;
        }
        assert_eq!(open(&relabelled, &k0), None, "the epoch is bound");
        assert_eq!(seal(sealed, &k0, 0, [2; 24]), None, "no sealing twice");
        assert_eq!(open(&reading(celsius(1)), &k0), None, "a plain value does not open");
        assert_eq!(celsius(215).to_string(), "21.5 C");
        assert_eq!(celsius(-5).to_string(), "-0.5 C");
        assert_eq!(tampered.value.to_string(), "sealed (epoch 0)");
    }

    #[test]
    fn the_largest_values_fit_the_sealed_bound() {
        let key = [3; 32];
        let bytes = Value::Bytes { bytes: alloc::vec![7; READING_BYTES_MAX] };
        let unit = Value::Numeric { value: i64::MIN, decimals: 18, unit: "u".repeat(UNIT_LEN_MAX) };
        for value in [bytes, unit] {
            let sealed = seal(reading(value.clone()), &key, u32::MAX, [0; 24]).unwrap();
            let Value::Sealed { ciphertext, .. } = &sealed.value else { panic!("sealed") };
            assert!(ciphertext.len() <= SEALED_BYTES_MAX, "{} bytes", ciphertext.len());
            assert!(sealed.is_valid());
            assert_eq!(open(&sealed, &key), Some(value));
        }
    }

    #[test]
    fn a_wrapped_key_opens_for_its_recipient_stream_and_epoch_only() {
        let device = Hash([4; 32]);
        let alice = [11; 32];
        let bob = [12; 32];
        let key = [42; 32];
        let wrapped = wrap(&key, &encryption_key(&alice), &[77; 32], &device, 2, 5).unwrap();
        assert_eq!(unwrap(&wrapped, &alice, &device, 2, 5), Some(key));
        assert_eq!(unwrap(&wrapped, &bob, &device, 2, 5), None, "another recipient");
        assert_eq!(unwrap(&wrapped, &alice, &device, 2, 6), None, "another epoch");
        assert_eq!(unwrap(&wrapped, &alice, &device, 3, 5), None, "another stream");
        assert_eq!(unwrap(&wrapped, &alice, &Hash([5; 32]), 2, 5), None, "another device");
        let mut tampered = wrapped;
        tampered.sealed[3] ^= 1;
        assert_eq!(unwrap(&tampered, &alice, &device, 2, 5), None);
        // A recipient key of small order (zero) is refused: its shared secret is public.
        assert_eq!(wrap(&key, &[0; 32], &[77; 32], &device, 2, 5), None);
        let bytes = wrapped.encode();
        assert_eq!(bytes.len(), 80);
        assert_eq!(WrappedKey::decode(bytes).unwrap(), wrapped);
    }
}
