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

/// p = 2^255 - 19, little-endian.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// The y-coordinates (little-endian) of ed25519's eight points of small order: 1 (the
/// identity), p - 1 (order 2), 0 (the two points of order 4) and two shared by the four
/// points of order 8. The test below derives all eight points from this list.
const SMALL_ORDER_Y: [[u8; 32]; 5] = {
    let mut one = [0; 32];
    one[0] = 1;
    let mut minus_one = FIELD_PRIME;
    minus_one[0] = 0xec;
    [
        one,
        minus_one,
        [0; 32],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
    ]
};

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
        if !self.is_canonical_and_not_small_order() {
            return None;
        }
        // Decoding decompresses the point: bytes off the curve fail here.
        ed25519::PublicKey::decode(commonware_codec::Copying(&self.0)).ok()
    }

    /// Whether the bytes are the canonical encoding of a curve point outside the small
    /// subgroup. ed25519 verification as the engine implements it (ZIP-215) accepts
    /// non-canonical encodings and small-order points; a small-order key has signatures
    /// anyone can forge, so no such key may own an account, a device or a maker.
    pub fn is_strong_key(&self) -> bool {
        self.is_canonical_and_not_small_order()
            && curve25519_dalek::edwards::CompressedEdwardsY(self.0).decompress().is_some()
    }

    /// The checks of [`Self::is_strong_key`] that need no decompression, which costs a
    /// field exponentiation: y is reduced (below p = 2^255 - 19) and is not the
    /// y-coordinate of one of the eight points of small order (a point shares its y only
    /// with its negation, which has the same order). Together with the sign bit, a reduced
    /// y is the canonical encoding, except for x = 0 with the sign bit set, whose y (1 and
    /// p - 1) is in the small-order list.
    fn is_canonical_and_not_small_order(&self) -> bool {
        let mut y = self.0;
        y[31] &= 0x7f;
        // Little-endian comparison: the most significant differing byte decides.
        let reduced = y.iter().rev().cmp(FIELD_PRIME.iter().rev()).is_lt();
        reduced && !SMALL_ORDER_Y.contains(&y)
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

    /// The definition, by decompression: canonical, and outside the small subgroup.
    fn strong_by_decompression(bytes: [u8; 32]) -> bool {
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY(bytes);
        compressed
            .decompress()
            .is_some_and(|point| !point.is_small_order() && point.compress() == compressed)
    }

    #[test]
    fn the_small_order_list_names_exactly_the_eight_points_of_small_order() {
        let mut points = alloc::vec::Vec::new();
        for y in SMALL_ORDER_Y {
            for sign in [0, 0x80] {
                let mut bytes = y;
                bytes[31] |= sign;
                if let Some(point) =
                    curve25519_dalek::edwards::CompressedEdwardsY(bytes).decompress()
                {
                    assert!(point.is_small_order());
                    if !points.contains(&point) {
                        points.push(point);
                    }
                }
            }
        }
        assert_eq!(points.len(), 8);
    }

    #[test]
    fn the_fast_strength_check_agrees_with_decompression() {
        // Random bytes, the small-order encodings, and values around p, each with both
        // sign bits.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = || {
            let mut out = [0u8; 32];
            for chunk in out.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            out
        };
        let mut cases: alloc::vec::Vec<[u8; 32]> = (0..4_000).map(|_| random()).collect();
        cases.extend(SMALL_ORDER_Y);
        for below in 0..40u8 {
            let mut y = FIELD_PRIME;
            y[0] = y[0].wrapping_sub(20).wrapping_add(below);
            cases.push(y);
        }
        cases.extend(
            (0..64u64)
                .map(|seed| Address::of(&ed25519::PrivateKey::from_seed(seed).public_key()).0),
        );
        for case in cases {
            for sign in [0, 0x80] {
                let mut bytes = case;
                bytes[31] = (bytes[31] & 0x7f) | sign;
                let address = Address(bytes);
                assert_eq!(address.is_strong_key(), strong_by_decompression(bytes), "{address}");
                assert_eq!(address.public_key().is_some(), address.is_strong_key(), "{address}");
            }
        }
    }

    #[test]
    fn module_addresses_are_distinct_per_label() {
        assert_ne!(Address::module("fees"), Address::module("escrow"));
    }
}
