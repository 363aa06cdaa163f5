//! A call: one module operation inside a transaction.
//!
//! The encoding is a module tag byte followed by that module's call encoding, so adding a
//! module never changes the encoding of another's calls.

use crate::{bank::BankCall, error::ErrorCode};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// Module tags in call encodings.
pub mod module {
    /// The bank module.
    pub const BANK: u8 = 1;
}

/// One operation of a transaction, addressed to a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "module", content = "call", rename_all = "snake_case")]
pub enum Call {
    /// A bank call.
    Bank(BankCall),
}

impl Call {
    /// Stateless validity of the call's arguments.
    pub fn check(&self) -> Result<(), ErrorCode> {
        match self {
            Self::Bank(call) => call.check(),
        }
    }
}

impl From<BankCall> for Call {
    fn from(call: BankCall) -> Self {
        Self::Bank(call)
    }
}

impl Write for Call {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Bank(call) => {
                module::BANK.write(buf);
                call.write(buf);
            }
        }
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Bank(call) => call.encode_size(),
        }
    }
}

impl Read for Call {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            module::BANK => Ok(Self::Bank(BankCall::read(buf)?)),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}
