//! 32-byte SHA-256 digests as they appear in Machina data (transaction hashes, roots).

use alloc::string::String;
use commonware_codec::{FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Hasher, Sha256, sha256};
use core::{fmt, str::FromStr};

/// A SHA-256 digest. Displayed and serialized as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero digest, used where no value exists yet (the genesis parent).
    pub const ZERO: Self = Self([0; 32]);

    /// Hashes the concatenation of `parts`.
    pub fn of(parts: &[&[u8]]) -> Self {
        Self(Sha256::hash(parts).0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as the engine's SHA-256 digest type.
    pub fn digest(&self) -> sha256::Digest {
        sha256::Digest(self.0)
    }
}

impl From<sha256::Digest> for Hash {
    fn from(d: sha256::Digest) -> Self {
        Self(d.0)
    }
}

impl From<Hash> for sha256::Digest {
    fn from(h: Hash) -> Self {
        h.digest()
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Hash {
    type Err = crate::codec::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::codec::parse_hex_array(s).map(Self)
    }
}

impl Write for Hash {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Hash {
    const SIZE: usize = 32;
}

impl Read for Hash {
    type Cfg = ();
    fn read_cfg(
        buf: &mut impl commonware_codec::Buf,
        _: &(),
    ) -> Result<Self, commonware_codec::Error> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
