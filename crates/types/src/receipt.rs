//! Receipts: what happened to a transaction included in a block.
//!
//! A receipt records the fee paid and either success with the events the calls emitted, or
//! the failing call and its [`ErrorCode`]. A failed transaction still pays its fee and uses
//! its nonce; its calls leave no writes.

use crate::{
    Amount, Height,
    address::Address,
    bank::{AssetId, NftId},
    codec::read_vec,
    error::ErrorCode,
    hash::Hash,
    limits::EVENTS_PER_TX_MAX,
};
use alloc::vec::Vec;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// How a transaction's calls ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every call succeeded.
    Success,
    /// Call `call` (0-based) failed with `code`; no call's writes were kept.
    Failed {
        /// Index of the failing call.
        call: u8,
        /// Why it failed.
        code: ErrorCode,
    },
}

/// Something a call did, for clients and indexers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Native tokens moved.
    Transfer {
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// An asset was created.
    AssetCreated {
        /// Its new id.
        asset: AssetId,
        /// Its issuer.
        issuer: Address,
    },
    /// Asset units were minted.
    AssetMinted {
        /// The asset.
        asset: AssetId,
        /// Recipient.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// Asset units moved.
    AssetTransferred {
        /// The asset.
        asset: AssetId,
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// Asset units were destroyed.
    AssetBurned {
        /// The asset.
        asset: AssetId,
        /// Holder.
        from: Address,
        /// Amount.
        amount: Amount,
    },
    /// A token was minted.
    NftMinted {
        /// Its new id.
        id: NftId,
        /// First owner.
        to: Address,
    },
    /// A token changed hands.
    NftTransferred {
        /// The token.
        id: NftId,
        /// Previous owner.
        from: Address,
        /// New owner.
        to: Address,
    },
    /// A token was destroyed.
    NftBurned {
        /// The token.
        id: NftId,
    },
}

/// The record of one included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// The block that included it.
    pub height: Height,
    /// Its position in the block.
    pub index: u32,
    /// Who signed it.
    pub signer: Address,
    /// The fee charged.
    pub fee: Amount,
    /// Success, or the failing call and code.
    pub outcome: Outcome,
    /// Events of the calls (empty on failure).
    pub events: Vec<Event>,
}

impl Write for Outcome {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Success => 0u8.write(buf),
            Self::Failed { call, code } => {
                1u8.write(buf);
                call.write(buf);
                code.write(buf);
            }
        }
    }
}

impl EncodeSize for Outcome {
    fn encode_size(&self) -> usize {
        match self {
            Self::Success => 1,
            Self::Failed { .. } => 1 + 1 + 2,
        }
    }
}

impl Read for Outcome {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Success),
            1 => Ok(Self::Failed { call: u8::read(buf)?, code: ErrorCode::read(buf)? }),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

impl Write for Event {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Transfer { from, to, amount } => {
                0u8.write(buf);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetCreated { asset, issuer } => {
                1u8.write(buf);
                asset.write(buf);
                issuer.write(buf);
            }
            Self::AssetMinted { asset, to, amount } => {
                2u8.write(buf);
                asset.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetTransferred { asset, from, to, amount } => {
                3u8.write(buf);
                asset.write(buf);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetBurned { asset, from, amount } => {
                4u8.write(buf);
                asset.write(buf);
                from.write(buf);
                amount.write(buf);
            }
            Self::NftMinted { id, to } => {
                5u8.write(buf);
                id.write(buf);
                to.write(buf);
            }
            Self::NftTransferred { id, from, to } => {
                6u8.write(buf);
                id.write(buf);
                from.write(buf);
                to.write(buf);
            }
            Self::NftBurned { id } => {
                7u8.write(buf);
                id.write(buf);
            }
        }
    }
}

impl EncodeSize for Event {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Transfer { .. } => 32 + 32 + 8,
            Self::AssetCreated { .. } => 8 + 32,
            Self::AssetMinted { .. } => 8 + 32 + 8,
            Self::AssetTransferred { .. } => 8 + 32 + 32 + 8,
            Self::AssetBurned { .. } => 8 + 32 + 8,
            Self::NftMinted { .. } => 8 + 32,
            Self::NftTransferred { .. } => 8 + 32 + 32,
            Self::NftBurned { .. } => 8,
        }
    }
}

impl Read for Event {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Transfer {
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            1 => Self::AssetCreated { asset: u64::read(buf)?, issuer: Address::read(buf)? },
            2 => Self::AssetMinted {
                asset: u64::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            3 => Self::AssetTransferred {
                asset: u64::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            4 => Self::AssetBurned {
                asset: u64::read(buf)?,
                from: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            5 => Self::NftMinted { id: u64::read(buf)?, to: Address::read(buf)? },
            6 => Self::NftTransferred {
                id: u64::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
            },
            7 => Self::NftBurned { id: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.tx_hash.write(buf);
        self.height.write(buf);
        self.index.write(buf);
        self.signer.write(buf);
        self.fee.write(buf);
        self.outcome.write(buf);
        self.events.write(buf);
    }
}

impl EncodeSize for Receipt {
    fn encode_size(&self) -> usize {
        32 + 8 + 4 + 32 + 8 + self.outcome.encode_size() + self.events.encode_size()
    }
}

impl Read for Receipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            tx_hash: Hash::read(buf)?,
            height: u64::read(buf)?,
            index: u32::read(buf)?,
            signer: Address::read(buf)?,
            fee: u64::read(buf)?,
            outcome: Outcome::read(buf)?,
            events: read_vec(buf, EVENTS_PER_TX_MAX, &())?,
        })
    }
}
