//! Receipts: what happened to a transaction included in a block.
//!
//! A receipt records the fee paid and either success with the events the calls emitted, or
//! the failing call and its [`ErrorCode`]. A failed transaction still pays its fee and uses
//! its nonce; its calls leave no writes.

use crate::{
    Amount, Height,
    address::Address,
    bank::{AssetId, NftId},
    codec::{read_str, read_vec, str_size, write_str},
    data::FeedId,
    device::{DeviceId, DeviceStatus},
    error::ErrorCode,
    hash::Hash,
    limits::{ATTRIBUTE_KEY_LEN_MAX, BLOCK_EVENTS_MAX, EVENTS_PER_TX_MAX, ROLE_LEN_MAX},
    reading::StreamId,
};
use alloc::{string::String, vec::Vec};
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
    /// A maker registered.
    MakerRegistered {
        /// The maker's account.
        maker: Address,
        /// Its bond.
        bond: Amount,
    },
    /// A maker's bond was slashed.
    MakerSlashed {
        /// The maker's account.
        maker: Address,
        /// Amount taken.
        amount: Amount,
    },
    /// A device was onboarded.
    DeviceOnboarded {
        /// The device.
        device: DeviceId,
        /// Its maker.
        maker: Address,
        /// Its first owner.
        owner: Address,
    },
    /// A device changed owner.
    DeviceTransferred {
        /// The device.
        device: DeviceId,
        /// Previous owner.
        from: Address,
        /// New owner.
        to: Address,
    },
    /// A device's key was replaced.
    DeviceKeyRotated {
        /// The device.
        device: DeviceId,
        /// The new key.
        key: Address,
        /// The new key's epoch (rotations so far).
        epoch: u64,
    },
    /// A maker released firmware.
    FirmwarePublished {
        /// The maker.
        maker: Address,
        /// The firmware hash.
        firmware: Hash,
    },
    /// A device reported its firmware.
    FirmwareReported {
        /// The device.
        device: DeviceId,
        /// The firmware hash.
        firmware: Hash,
    },
    /// A device's status changed.
    DeviceStatusChanged {
        /// The device.
        device: DeviceId,
        /// New status.
        status: DeviceStatus,
    },
    /// A device attribute was set or removed.
    AttributeChanged {
        /// The device.
        device: DeviceId,
        /// The attribute key.
        key: String,
    },
    /// A role was granted.
    RoleGranted {
        /// The device.
        device: DeviceId,
        /// Who got it.
        account: Address,
        /// The role.
        role: String,
    },
    /// A role was revoked.
    RoleRevoked {
        /// The device.
        device: DeviceId,
        /// Who lost it.
        account: Address,
        /// The role.
        role: String,
    },
    /// A batch of readings was anchored.
    Anchored {
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: StreamId,
        /// The anchor's index in the stream (from 0).
        index: u64,
        /// First sequence number covered.
        first_seq: u64,
        /// Last sequence number covered.
        last_seq: u64,
        /// Readings in the batch.
        count: u32,
    },
    /// A feed was created.
    FeedCreated {
        /// Its id.
        feed: FeedId,
        /// Its creator.
        creator: Address,
    },
    /// A feed's value was recomputed.
    FeedUpdated {
        /// The feed.
        feed: FeedId,
        /// The new value (`None`: too few fresh sources).
        value: Option<i64>,
        /// Fresh sources counted.
        sources: u8,
    },
    /// The market module did something.
    Market(crate::market::MarketEvent),
    /// The grantee accepted a role on a device.
    RoleAccepted {
        /// The device.
        device: DeviceId,
        /// The grantee.
        account: Address,
        /// The role.
        role: String,
    },
    /// A feed was closed and its deposit returned.
    FeedClosed {
        /// The feed.
        feed: FeedId,
    },
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
            Self::MakerRegistered { maker, bond } => {
                8u8.write(buf);
                maker.write(buf);
                bond.write(buf);
            }
            Self::MakerSlashed { maker, amount } => {
                9u8.write(buf);
                maker.write(buf);
                amount.write(buf);
            }
            Self::DeviceOnboarded { device, maker, owner } => {
                10u8.write(buf);
                device.write(buf);
                maker.write(buf);
                owner.write(buf);
            }
            Self::DeviceTransferred { device, from, to } => {
                11u8.write(buf);
                device.write(buf);
                from.write(buf);
                to.write(buf);
            }
            Self::DeviceKeyRotated { device, key, epoch } => {
                12u8.write(buf);
                device.write(buf);
                key.write(buf);
                epoch.write(buf);
            }
            Self::FirmwarePublished { maker, firmware } => {
                13u8.write(buf);
                maker.write(buf);
                firmware.write(buf);
            }
            Self::FirmwareReported { device, firmware } => {
                14u8.write(buf);
                device.write(buf);
                firmware.write(buf);
            }
            Self::DeviceStatusChanged { device, status } => {
                15u8.write(buf);
                device.write(buf);
                status.write(buf);
            }
            Self::AttributeChanged { device, key } => {
                16u8.write(buf);
                device.write(buf);
                write_str(key, buf);
            }
            Self::RoleGranted { device, account, role } => {
                17u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::RoleRevoked { device, account, role } => {
                18u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::Anchored { device, stream, index, first_seq, last_seq, count } => {
                19u8.write(buf);
                device.write(buf);
                stream.write(buf);
                index.write(buf);
                first_seq.write(buf);
                last_seq.write(buf);
                count.write(buf);
            }
            Self::FeedCreated { feed, creator } => {
                20u8.write(buf);
                feed.write(buf);
                creator.write(buf);
            }
            Self::FeedUpdated { feed, value, sources } => {
                21u8.write(buf);
                feed.write(buf);
                value.write(buf);
                sources.write(buf);
            }
            Self::Market(event) => {
                22u8.write(buf);
                event.write(buf);
            }
            Self::RoleAccepted { device, account, role } => {
                23u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::FeedClosed { feed } => {
                24u8.write(buf);
                feed.write(buf);
            }
            Self::BlockStepFailed { step, code } => {
                25u8.write(buf);
                write_str(step, buf);
                code.write(buf);
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
            Self::MakerRegistered { .. } | Self::MakerSlashed { .. } => 32 + 8,
            Self::DeviceOnboarded { .. } | Self::DeviceTransferred { .. } => 32 * 3,
            Self::DeviceKeyRotated { .. } => 32 + 32 + 8,
            Self::FirmwarePublished { .. } | Self::FirmwareReported { .. } => 64,
            Self::DeviceStatusChanged { .. } => 32 + 1,
            Self::AttributeChanged { key, .. } => 32 + str_size(key),
            Self::RoleGranted { role, .. } | Self::RoleRevoked { role, .. } => 64 + str_size(role),
            Self::Anchored { .. } => 32 + 4 + 8 + 8 + 8 + 4,
            Self::FeedCreated { .. } => 8 + 32,
            Self::FeedUpdated { value, .. } => 8 + value.encode_size() + 1,
            Self::Market(event) => event.encode_size(),
            Self::RoleAccepted { role, .. } => 64 + str_size(role),
            Self::FeedClosed { .. } => 8,
            Self::BlockStepFailed { step, .. } => str_size(step) + 2,
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
            8 => Self::MakerRegistered { maker: Address::read(buf)?, bond: u64::read(buf)? },
            9 => Self::MakerSlashed { maker: Address::read(buf)?, amount: u64::read(buf)? },
            10 => Self::DeviceOnboarded {
                device: Hash::read(buf)?,
                maker: Address::read(buf)?,
                owner: Address::read(buf)?,
            },
            11 => Self::DeviceTransferred {
                device: Hash::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
            },
            12 => Self::DeviceKeyRotated {
                device: Hash::read(buf)?,
                key: Address::read(buf)?,
                epoch: u64::read(buf)?,
            },
            13 => {
                Self::FirmwarePublished { maker: Address::read(buf)?, firmware: Hash::read(buf)? }
            }
            14 => Self::FirmwareReported { device: Hash::read(buf)?, firmware: Hash::read(buf)? },
            15 => Self::DeviceStatusChanged {
                device: Hash::read(buf)?,
                status: DeviceStatus::read(buf)?,
            },
            16 => Self::AttributeChanged {
                device: Hash::read(buf)?,
                key: read_str(buf, ATTRIBUTE_KEY_LEN_MAX)?,
            },
            17 => Self::RoleGranted {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            18 => Self::RoleRevoked {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            19 => Self::Anchored {
                device: Hash::read(buf)?,
                stream: u32::read(buf)?,
                index: u64::read(buf)?,
                first_seq: u64::read(buf)?,
                last_seq: u64::read(buf)?,
                count: u32::read(buf)?,
            },
            20 => Self::FeedCreated { feed: u64::read(buf)?, creator: Address::read(buf)? },
            21 => Self::FeedUpdated {
                feed: u64::read(buf)?,
                value: Option::<i64>::read(buf)?,
                sources: u8::read(buf)?,
            },
            22 => Self::Market(crate::market::MarketEvent::read(buf)?),
            23 => Self::RoleAccepted {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            24 => Self::FeedClosed { feed: u64::read(buf)? },
            25 => Self::BlockStepFailed {
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
