//! Encoding helpers shared by the data formats: bounded UTF-8 strings, bounded byte
//! strings, hex parsing, and serde adapters that render bytes as hex.

use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadRangeExt, Write};

/// A value that failed to parse from its text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid hex.
    #[error("not valid hex")]
    Hex,
    /// The decoded bytes have the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
    /// The bytes do not decode as the expected type.
    #[error("invalid encoding")]
    Encoding,
}

/// Parses hex (an optional `0x` prefix allowed) into exactly `N` bytes.
pub fn parse_hex_array<const N: usize>(s: &str) -> Result<[u8; N], ParseError> {
    let bytes = parse_hex(s)?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| ParseError::Length { expected: N, got })
}

/// Parses hex (an optional `0x` prefix allowed) into bytes.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, ParseError> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    commonware_formatting::from_hex(s).ok_or(ParseError::Hex)
}

/// Renders bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    commonware_formatting::hex(bytes)
}

/// Writes a UTF-8 string as a length-prefixed byte string.
pub fn write_str(s: &str, buf: &mut impl bytes::BufMut) {
    s.len().write(buf);
    buf.put_slice(s.as_bytes());
}

/// The encoded size of a string written with [`write_str`].
pub fn str_size(s: &str) -> usize {
    s.len().encode_size() + s.len()
}

/// Reads a string written with [`write_str`], refusing more than `max` bytes or invalid UTF-8.
pub fn read_str(buf: &mut impl Buf, max: usize) -> Result<String, Error> {
    let bytes = Vec::<u8>::read_range(buf, 0..=max)?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("string", "not UTF-8"))
}

/// Reads a byte string of at most `max` bytes.
pub fn read_bytes(buf: &mut impl Buf, max: usize) -> Result<Vec<u8>, Error> {
    Vec::<u8>::read_range(buf, 0..=max)
}

/// Reads a vector of at most `max` items whose reader takes `cfg`.
pub fn read_vec<T: Read>(buf: &mut impl Buf, max: usize, cfg: &T::Cfg) -> Result<Vec<T>, Error> {
    Vec::<T>::read_cfg(buf, &(RangeCfg::new(0..=max), cfg.clone()))
}

/// Reads the length prefix of a vector of at most `max` items (as `Vec`'s encoding
/// writes it), for readers that check each item before reading it.
pub fn read_len(buf: &mut impl Buf, max: usize) -> Result<usize, Error> {
    usize::read_cfg(buf, &RangeCfg::new(0..=max))
}

/// Serde adapter: a byte vector as a hex string.
pub mod hex_bytes {
    use alloc::{string::String, vec::Vec};

    /// Serializes bytes as hex.
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(v))
    }

    /// Deserializes bytes from hex.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        super::parse_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter: any fixed-size codec value (a signature, say) as a hex string.
pub mod hex_codec {
    use alloc::string::String;
    use commonware_codec::{Decode, Encode};

    /// Serializes the canonical encoding as hex.
    pub fn serialize<T: Encode, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(&v.encode()))
    }

    /// Deserializes from hex of the canonical encoding.
    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: Decode<Cfg = ()>,
        D: serde::Deserializer<'de>,
    {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        let bytes = super::parse_hex(&s).map_err(serde::de::Error::custom)?;
        T::decode_cfg(bytes, &()).map_err(serde::de::Error::custom)
    }
}

/// Implements `Write`, `EncodeSize` and `Read` (with `Cfg = ()`) for a struct, field by
/// field in the order listed (which must name every field). Each field is `name: plain` (a
/// type that reads with `Cfg = ()`), `name: str(MAX)` (a UTF-8 string of at most `MAX`
/// bytes) or `name: vec(MAX)` (at most `MAX` items that read with `Cfg = ()`).
#[macro_export]
macro_rules! struct_codec {
    ($ty:ident { $($field:ident : $kind:ident $(($max:expr))?),* $(,)? }) => {
        impl $crate::__private::codec::Write for $ty {
            fn write(&self, buf: &mut impl $crate::__private::bytes::BufMut) {
                $( $crate::struct_codec!(@write self.$field, buf, $kind); )*
            }
        }
        impl $crate::__private::codec::EncodeSize for $ty {
            fn encode_size(&self) -> usize {
                0 $( + $crate::struct_codec!(@size self.$field, $kind) )*
            }
        }
        impl $crate::__private::codec::Read for $ty {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl $crate::__private::codec::Buf,
                _: &(),
            ) -> Result<Self, $crate::__private::codec::Error> {
                Ok(Self { $( $field: $crate::struct_codec!(@read buf, $kind $(, $max)?), )* })
            }
        }
    };
    (@write $v:expr, $buf:ident, plain) => { $crate::__private::codec::Write::write(&$v, $buf) };
    (@write $v:expr, $buf:ident, str) => { $crate::codec::write_str(&$v, $buf) };
    (@write $v:expr, $buf:ident, vec) => { $crate::__private::codec::Write::write(&$v, $buf) };
    (@size $v:expr, plain) => { $crate::__private::codec::EncodeSize::encode_size(&$v) };
    (@size $v:expr, str) => { $crate::codec::str_size(&$v) };
    (@size $v:expr, vec) => { $crate::__private::codec::EncodeSize::encode_size(&$v) };
    (@read $buf:ident, plain) => { $crate::__private::codec::ReadExt::read($buf)? };
    (@read $buf:ident, str, $max:expr) => { $crate::codec::read_str($buf, $max)? };
    (@read $buf:ident, vec, $max:expr) => { $crate::codec::read_vec($buf, $max, &())? };
    (@write $v:expr, $buf:ident, with) => { $crate::__private::codec::Write::write(&$v, $buf) };
    (@size $v:expr, with) => { $crate::__private::codec::EncodeSize::encode_size(&$v) };
    (@read $buf:ident, with, $read:expr) => { $read($buf)? };
}

/// Implements `Write`, `EncodeSize` and `Read` (with `Cfg = ()`) for an enum whose variants
/// all have named fields (a unit variant is written `Name {}`): a tag byte, then the
/// variant's fields as [`struct_codec!`] writes them (plus `name: with(read_fn)`, a field
/// that writes itself and reads with `read_fn(buf)`). Tags are listed explicitly so that
/// reordering variants never changes an encoding.
#[macro_export]
macro_rules! enum_codec {
    ($ty:ident {
        $( $tag:literal => $variant:ident { $($field:ident : $kind:ident $(($max:expr))?),* $(,)? } ),* $(,)?
    }) => {
        impl $crate::__private::codec::Write for $ty {
            fn write(&self, buf: &mut impl $crate::__private::bytes::BufMut) {
                match self {
                    $( Self::$variant { $($field),* } => {
                        $crate::__private::codec::Write::write(&($tag as u8), buf);
                        $( $crate::struct_codec!(@write *$field, buf, $kind); )*
                    } )*
                }
            }
        }
        impl $crate::__private::codec::EncodeSize for $ty {
            fn encode_size(&self) -> usize {
                1 + match self {
                    $( Self::$variant { $($field),* } => {
                        0 $( + $crate::struct_codec!(@size *$field, $kind) )*
                    } )*
                }
            }
        }
        impl $crate::__private::codec::Read for $ty {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl $crate::__private::codec::Buf,
                _: &(),
            ) -> Result<Self, $crate::__private::codec::Error> {
                let tag = <u8 as $crate::__private::codec::ReadExt>::read(buf)?;
                match tag {
                    $( $tag => Ok(Self::$variant {
                        $( $field: $crate::struct_codec!(@read buf, $kind $(, $max)?), )*
                    }), )*
                    _ => Err($crate::__private::codec::Error::InvalidEnum(tag)),
                }
            }
        }
    };
}

/// Serde adapter: a `u128` as a decimal string (JSON numbers beyond 64 bits are not portable,
/// and self-describing formats cannot buffer them).
pub mod u128_string {
    use alloc::string::{String, ToString};

    /// Serializes as a decimal string.
    pub fn serialize<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Deserializes from a decimal string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
