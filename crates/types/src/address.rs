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

    /// The public key this address names, if its bytes are a valid ed25519 point.
    pub fn public_key(&self) -> Option<ed25519::PublicKey> {
        ed25519::PublicKey::decode(commonware_codec::Copying(&self.0)).ok()
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
    fn module_addresses_are_distinct_per_label() {
        assert_ne!(Address::module("fees"), Address::module("escrow"));
    }
}
