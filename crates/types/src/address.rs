//! Account addresses.
//!
//! An account is named by its ed25519 public key: the address is the key's 32 bytes. There
//! is no separate registration; an address exists once it holds something. Module-owned
//! accounts (the fee pool, escrow) use addresses derived from a label, for which no private
//! key is known.

use crate::{codec::ParseError, hash::Hash};
use alloc::string::String;
use commonware_codec::{DecodeExt, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::ed25519;
use core::{fmt, str::FromStr};

/// A 32-byte account address: an ed25519 public key, or a module account's derived id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The address of a module-owned account named `label` (no private key exists for it).
    pub fn module(label: &str) -> Self {
        Self(Hash::of(&[b"machina/module-account/", label.as_bytes()]).0)
    }

    /// The address of the account controlled by `key`.
    pub fn of(key: &ed25519::PublicKey) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(key.as_ref());
        Self(out)
    }

    /// The public key this address names, if its bytes are a strong ed25519 key (see
    /// [`Self::is_strong_key`]). Every signature Machina checks goes through here, so a weak
    /// key never verifies anything.
    pub fn public_key(&self) -> Option<ed25519::PublicKey> {
        if !self.is_strong_key() {
            return None;
        }
        ed25519::PublicKey::decode(commonware_codec::Copying(&self.0)).ok()
    }

    /// Whether the bytes are the canonical encoding of a curve point outside the small
    /// subgroup. ed25519 verification as the engine implements it (ZIP-215) accepts
    /// non-canonical encodings and small-order points; a small-order key has signatures
    /// anyone can forge, so no such key may own an account, a device or a maker.
    pub fn is_strong_key(&self) -> bool {
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY(self.0);
        compressed
            .decompress()
            .is_some_and(|point| !point.is_small_order() && point.compress() == compressed)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<&ed25519::PublicKey> for Address {
    fn from(key: &ed25519::PublicKey) -> Self {
        Self::of(key)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Hash(self.0), f)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::codec::parse_hex_array(s).map(Self)
    }
}

impl Write for Address {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Address {
    const SIZE: usize = 32;
}

impl Read for Address {
    type Cfg = ();
    fn read_cfg(
        buf: &mut impl commonware_codec::Buf,
        _: &(),
    ) -> Result<Self, commonware_codec::Error> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    #[test]
    fn address_round_trips_through_text_and_key() {
        let key = ed25519::PrivateKey::from_seed(7).public_key();
        let addr = Address::of(&key);
        let text = addr.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Address>().unwrap(), addr);
        assert_eq!(addr.public_key().unwrap(), key);
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity (small order) and a non-canonical encoding of the base point's y.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!Address(identity).is_strong_key());
        assert!(Address(identity).public_key().is_none());
        let mut all_ones = [0xff; 32];
        all_ones[31] = 0x7f; // y = 2^255 - 1 >= p: not canonical
        assert!(!Address(all_ones).is_strong_key());
        let mut order_two = [0xff; 32]; // y = p - 1: the point of order 2
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        assert!(!Address(order_two).is_strong_key());
        let key = ed25519::PrivateKey::from_seed(3).public_key();
        assert!(Address::of(&key).is_strong_key());
    }

    #[test]
    fn module_addresses_are_distinct_per_label() {
        assert_ne!(Address::module("fees"), Address::module("escrow"));
    }
}
