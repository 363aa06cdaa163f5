//! Receipts: what happened to a transaction included in a block.
//!
//! A receipt records the fee paid and either success with the events the calls emitted, or
//! the failing call and its [`ErrorCode`]. A failed transaction still pays its fee and uses
//! its nonce; its calls leave no writes.

use crate::{
    Amount, Height,
    address::Address,
    codec::{read_str, read_vec, str_size, write_str},
    error::ErrorCode,
    hash::Hash,
    limits::{BLOCK_EVENTS_MAX, EVENTS_PER_TX_MAX},
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// How a transaction's calls ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The bank module did something.
    Bank(crate::bank::BankEvent),
    /// The identity module did something.
    Identity(crate::identity::IdentityEvent),
    /// The data module did something.
    Data(crate::data::DataEvent),
    /// The market module did something.
    Market(crate::market::MarketEvent),
    /// The ownership module did something.
    Ownership(crate::ownership::OwnershipEvent),
    /// The rewards module did something.
    Rewards(crate::rewards::RewardsEvent),
    /// The channels module did something.
    Channels(crate::channels::ChannelsEvent),
    /// The products module did something.
    Products(crate::products::ProductsEvent),
    /// The wallets module did something.
    Wallets(crate::wallets::WalletsEvent),
    /// A block-level step failed (a broken invariant): its writes were dropped, the same way
    /// on every node, and the chain went on.
    BlockStepFailed {
        /// The step's name.
        step: String,
        /// Why.
        code: ErrorCode,
    },
}

/// Bytes in the name of a block-level step.
pub const STEP_NAME_LEN_MAX: usize = 32;

/// The record of one included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
            Self::Bank(event) => {
                0u8.write(buf);
                event.write(buf);
            }
            Self::Identity(event) => {
                1u8.write(buf);
                event.write(buf);
            }
            Self::Data(event) => {
                2u8.write(buf);
                event.write(buf);
            }
            Self::Market(event) => {
                3u8.write(buf);
                event.write(buf);
            }
            Self::Ownership(event) => {
                5u8.write(buf);
                event.write(buf);
            }
            Self::Rewards(event) => {
                6u8.write(buf);
                event.write(buf);
            }
            Self::Channels(event) => {
                7u8.write(buf);
                event.write(buf);
            }
            Self::Products(event) => {
                9u8.write(buf);
                event.write(buf);
            }
            Self::Wallets(event) => {
                8u8.write(buf);
                event.write(buf);
            }
            Self::BlockStepFailed { step, code } => {
                4u8.write(buf);
                write_str(step, buf);
                code.write(buf);
            }
        }
    }
}

impl EncodeSize for Event {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Bank(event) => event.encode_size(),
            Self::Identity(event) => event.encode_size(),
            Self::Data(event) => event.encode_size(),
            Self::Market(event) => event.encode_size(),
            Self::Ownership(event) => event.encode_size(),
            Self::Rewards(event) => event.encode_size(),
            Self::Channels(event) => event.encode_size(),
            Self::Products(event) => event.encode_size(),
            Self::Wallets(event) => event.encode_size(),
            Self::BlockStepFailed { step, .. } => str_size(step) + 2,
        }
    }
}

impl Read for Event {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Bank(crate::bank::BankEvent::read(buf)?),
            1 => Self::Identity(crate::identity::IdentityEvent::read(buf)?),
            2 => Self::Data(crate::data::DataEvent::read(buf)?),
            3 => Self::Market(crate::market::MarketEvent::read(buf)?),
            5 => Self::Ownership(crate::ownership::OwnershipEvent::read(buf)?),
            6 => Self::Rewards(crate::rewards::RewardsEvent::read(buf)?),
            7 => Self::Channels(crate::channels::ChannelsEvent::read(buf)?),
            9 => Self::Products(crate::products::ProductsEvent::read(buf)?),
            8 => Self::Wallets(crate::wallets::WalletsEvent::read(buf)?),
            4 => Self::BlockStepFailed {
                step: read_str(buf, STEP_NAME_LEN_MAX)?,
                code: ErrorCode::read(buf)?,
            },
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

/// The events of a block's block-level steps, as the chain stores them by height.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct BlockEvents(pub Vec<Event>);

impl Write for BlockEvents {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for BlockEvents {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for BlockEvents {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self(read_vec(buf, BLOCK_EVENTS_MAX, &())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        bank::BankEvent, data::DataEvent, device::DeviceStatus, identity::IdentityEvent,
        market::MarketEvent, rewards::RewardsEvent,
    };
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn events_of_every_module_round_trip_and_size_exactly() {
        let (a, b) = (Address([1; 32]), Address([2; 32]));
        let device = Hash([3; 32]);
        let events = [
            Event::Bank(BankEvent::Transfer { from: a, to: b, amount: u64::MAX }),
            Event::Bank(BankEvent::NftBurned { id: 0 }),
            Event::Identity(IdentityEvent::RoleGranted {
                device,
                account: b,
                role: "gateway".into(),
            }),
            Event::Identity(IdentityEvent::DeviceStatusChanged {
                device,
                status: DeviceStatus::Decommissioned,
            }),
            Event::Data(DataEvent::FeedUpdated { feed: 1, value: None, sources: 0 }),
            Event::Data(DataEvent::Anchored {
                device,
                stream: u32::MAX,
                index: 1,
                first_seq: 0,
                last_seq: 7,
                count: 8,
            }),
            Event::Market(MarketEvent::Staked {
                account: a,
                kind: crate::market::StakeKind::Provider,
                amount: 1,
            }),
            Event::Rewards(RewardsEvent::PoolCreated {
                pool: 1,
                funder: a,
                asset: Some(3),
                funded: u64::MAX,
                start: 9,
            }),
            Event::Rewards(RewardsEvent::Paid {
                pool: u64::MAX,
                epoch: u32::MAX,
                device,
                to: b,
                amount: 7,
                work: 1,
                total_work: 3,
            }),
            Event::Rewards(RewardsEvent::Closed { pool: 2, refunded: 0 }),
            Event::BlockStepFailed { step: "market-clearing".into(), code: ErrorCode::Internal },
        ];
        for event in events {
            let bytes = event.encode();
            assert_eq!(bytes.len(), event.encode_size(), "{event:?}");
            assert_eq!(Event::decode(bytes).unwrap(), event);
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        }
    }
}
