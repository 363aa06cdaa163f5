//! A call: one module operation inside a transaction.
//!
//! The encoding is a module tag byte followed by that module's call encoding, so adding a
//! module never changes the encoding of another's calls.

use crate::{
    bank::BankCall, data::DataCall, error::ErrorCode, identity::IdentityCall, market::MarketCall,
};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// Module tags in call encodings.
pub mod module {
    /// The bank module.
    pub const BANK: u8 = 1;
    /// The identity module.
    pub const IDENTITY: u8 = 2;
    /// The data module.
    pub const DATA: u8 = 3;
    /// The market module.
    pub const MARKET: u8 = 4;
}

/// One operation of a transaction, addressed to a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "module", content = "call", rename_all = "snake_case")]
pub enum Call {
    /// A bank call.
    Bank(BankCall),
    /// An identity call.
    Identity(IdentityCall),
    /// A data call.
    Data(DataCall),
    /// A market call.
    Market(MarketCall),
}

impl Call {
    /// Stateless validity of the call's arguments.
    pub fn check(&self) -> Result<(), ErrorCode> {
        match self {
            Self::Bank(call) => call.check(),
            Self::Identity(call) => call.check(),
            Self::Data(call) => call.check(),
            Self::Market(call) => call.check(),
        }
    }
}

impl Call {
    /// Native tokens the call takes from its signer at most, as far as its arguments say
    /// (transfers, stake, maker bonds, intents' escrow). The mempool adds these to fees to
    /// keep a sender's pending transactions within its balance; execution decides for real.
    pub fn native_spend(&self) -> u128 {
        match self {
            Self::Bank(BankCall::Transfer { amount, .. }) => u128::from(*amount),
            Self::Identity(IdentityCall::RegisterMaker { bond, .. }) => u128::from(*bond),
            Self::Market(MarketCall::Stake { amount, .. }) => u128::from(*amount),
            Self::Market(MarketCall::Intent { units, max_price, .. }) => {
                u128::from(*units) * u128::from(*max_price)
            }
            _ => 0,
        }
    }
}

impl From<BankCall> for Call {
    fn from(call: BankCall) -> Self {
        Self::Bank(call)
    }
}

impl From<IdentityCall> for Call {
    fn from(call: IdentityCall) -> Self {
        Self::Identity(call)
    }
}

impl From<DataCall> for Call {
    fn from(call: DataCall) -> Self {
        Self::Data(call)
    }
}

impl From<MarketCall> for Call {
    fn from(call: MarketCall) -> Self {
        Self::Market(call)
    }
}

impl Write for Call {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Bank(call) => {
                module::BANK.write(buf);
                call.write(buf);
            }
            Self::Identity(call) => {
                module::IDENTITY.write(buf);
                call.write(buf);
            }
            Self::Data(call) => {
                module::DATA.write(buf);
                call.write(buf);
            }
            Self::Market(call) => {
                module::MARKET.write(buf);
                call.write(buf);
            }
        }
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Bank(call) => call.encode_size(),
            Self::Identity(call) => call.encode_size(),
            Self::Data(call) => call.encode_size(),
            Self::Market(call) => call.encode_size(),
        }
    }
}

impl Read for Call {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            module::BANK => Ok(Self::Bank(BankCall::read(buf)?)),
            module::IDENTITY => Ok(Self::Identity(IdentityCall::read(buf)?)),
            module::DATA => Ok(Self::Data(DataCall::read(buf)?)),
            module::MARKET => Ok(Self::Market(MarketCall::read(buf)?)),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}
