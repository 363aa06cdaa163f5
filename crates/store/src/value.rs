//! The state database's value type: bytes of bounded length whose decoder needs no
//! configuration (the bound is part of the type), as the engine's state-sync resolver
//! requires.

use crate::VALUE_LEN_MAX;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadRangeExt, Write};

/// A state value: at most [`VALUE_LEN_MAX`] bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub Vec<u8>);

impl Write for Value {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for Value {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for Value {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self(Vec::<u8>::read_range(buf, 0..=VALUE_LEN_MAX)?))
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}
