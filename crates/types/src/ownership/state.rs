//! The ownership module's stored values.

use super::{Governance, MachineId, OfferingId, ProposalId, Tranche, revenue};
use crate::{
    Address, Amount, Call, DeviceId, Hash,
    bank::{AssetId, NftId},
    limits::{ASSET_NAME_LEN_MAX, MACHINE_DEVICES_MAX, OFFERING_TRANCHES_MAX, PROPOSAL_CALLS_MAX},
    market::ResourceKind,
};
use serde::{Deserialize, Serialize};

/// A tokenized device or fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Machine {
    /// Its id.
    pub id: MachineId,
    /// Its name.
    pub name: String,
    /// Who tokenized it (may open offerings of treasury shares).
    pub sponsor: Address,
    /// Its treasury: the devices' owner, which receives what they earn.
    pub treasury: Address,
    /// Its share asset.
    pub shares: AssetId,
    /// Shares in existence.
    pub supply: u64,
    /// Its devices.
    pub devices: Vec<DeviceId>,
    /// Part of income kept in the reserve (basis points).
    pub reserve_bps: u16,
    /// How holders decide.
    pub governance: Governance,
    /// Treasury funds the holders' proposals may spend.
    pub reserve: Amount,
    /// Treasury funds owed to holders and not yet claimed (with the rounding dust).
    pub pending: Amount,
    /// Revenue per share so far.
    pub index: revenue::RevenueIndex,
    /// Treasury shares reserved by open offerings.
    pub offered: u64,
    /// Offerings of its shares not yet closed (at most [`OFFERINGS_PER_MACHINE_MAX`]).
    pub open_offerings: u8,
    /// Height of tokenization.
    pub created_height: u64,
}

crate::struct_codec!(Machine {
    id: plain,
    name: str(ASSET_NAME_LEN_MAX),
    sponsor: plain,
    treasury: plain,
    shares: plain,
    supply: plain,
    devices: vec(MACHINE_DEVICES_MAX),
    reserve_bps: plain,
    governance: plain,
    reserve: plain,
    pending: plain,
    index: plain,
    offered: plain,
    open_offerings: plain,
    created_height: plain,
});

impl Machine {
    /// The treasury's income beyond what it has booked (its reserve and what holders are
    /// owed), for a treasury holding `balance`.
    pub fn income(&self, balance: Amount) -> Amount {
        balance.saturating_sub(self.reserve.saturating_add(self.pending))
    }

    /// How `income` splits: `(reserved, distributed)`.
    pub fn split(&self, income: Amount) -> (Amount, Amount) {
        // At most `income` (reserve_bps <= 10000), so the cast cannot truncate.
        let reserved =
            (u128::from(income) * u128::from(self.reserve_bps) / u128::from(super::BPS)) as Amount;
        (reserved, income - reserved)
    }

    /// What `holding` of `shares` could claim now if the treasury holds `balance`: the
    /// income not yet split is counted as the next call would split it.
    pub fn claimable(&self, balance: Amount, mut holding: revenue::Holding, shares: u64) -> u128 {
        let (_, distributed) = self.split(self.income(balance));
        let mut index = self.index;
        if index.credit(distributed).is_err()
            || holding.settle(&index, shares, self.supply).is_err()
        {
            return holding.owed;
        }
        holding.claimable()
    }
}

/// Offerings one machine may have open at once: the chain-wide close queue is bounded, and
/// one machine must not fill it.
pub const OFFERINGS_PER_MACHINE_MAX: u8 = 4;

/// A holder's position in a machine: its revenue and the history of its share balance
/// that open votes may need (checkpoints `first..count`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Position {
    /// Revenue settled and owed.
    pub revenue: revenue::Holding,
    /// Checkpoints written (the next one's number).
    pub checkpoints: u32,
    /// The oldest checkpoint kept.
    pub first: u32,
}

crate::struct_codec!(Position { revenue: plain, checkpoints: plain, first: plain });

/// A holder's share balance from a height on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    /// The height of the change.
    pub height: u64,
    /// Shares held at the end of that block.
    pub shares: u64,
}

crate::struct_codec!(Checkpoint { height: plain, shares: plain });

/// Where an offering is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OfferingStatus {
    /// Buying is open.
    Open,
    /// Closed with its minimum: purchases are being delivered.
    Delivering,
    /// Closed without its minimum: purchases are being refunded.
    Refunding,
    /// Every purchase was delivered.
    Succeeded,
    /// Every purchase was refunded.
    Failed,
}

crate::enum_codec!(OfferingStatus {
    0 => Open {},
    1 => Delivering {},
    2 => Refunding {},
    3 => Succeeded {},
    4 => Failed {},
});

/// An offering of a machine's shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Offering {
    /// Its id.
    pub id: OfferingId,
    /// The machine.
    pub machine: MachineId,
    /// Who opened it.
    pub creator: Address,
    /// Shares offered (the cap).
    pub shares: u64,
    /// Price per share.
    pub price: Amount,
    /// The asset accepted (the native token if absent).
    pub asset: Option<AssetId>,
    /// Shares that must sell.
    pub min_shares: u64,
    /// Fewest shares per purchase.
    pub buyer_min: u64,
    /// Most shares per buyer.
    pub buyer_max: u64,
    /// Last height to buy.
    pub deadline: u64,
    /// Who receives the funds.
    pub beneficiary: Address,
    /// How the funds are released.
    pub tranches: Vec<Tranche>,
    /// Height after which unmet tranches go to the treasury.
    pub milestones_by: u64,
    /// Shares bought.
    pub sold: u64,
    /// Funds escrowed.
    pub raised: Amount,
    /// Buyers (purchase records `0..buyers`).
    pub buyers: u32,
    /// Purchases settled since the close.
    pub settled: u32,
    /// Tranches released (bit `i` for tranche `i`).
    pub released: u8,
    /// Where it is.
    pub status: OfferingStatus,
}

crate::struct_codec!(Offering {
    id: plain,
    machine: plain,
    creator: plain,
    shares: plain,
    price: plain,
    asset: plain,
    min_shares: plain,
    buyer_min: plain,
    buyer_max: plain,
    deadline: plain,
    beneficiary: plain,
    tranches: vec(OFFERING_TRANCHES_MAX),
    milestones_by: plain,
    sold: plain,
    raised: plain,
    buyers: plain,
    settled: plain,
    released: plain,
    status: plain,
});

/// One buyer's purchases in an offering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Purchase {
    /// The buyer.
    pub buyer: Address,
    /// Shares bought.
    pub shares: u64,
    /// Funds escrowed.
    pub paid: Amount,
}

crate::struct_codec!(Purchase { buyer: plain, shares: plain, paid: plain });

/// Where a proposal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Voting, waiting for its timelock, or executable.
    Open,
    /// Its calls were made.
    Executed,
    /// Closed without execution.
    Closed,
}

crate::enum_codec!(ProposalStatus {
    0 => Open {},
    1 => Executed {},
    2 => Closed {},
});

/// A holder proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Proposal {
    /// Its id.
    pub id: ProposalId,
    /// The machine.
    pub machine: MachineId,
    /// Who proposed it.
    pub proposer: Address,
    /// The calls the treasury makes if it is executed.
    #[cfg_attr(feature = "schema", schema(no_recursion))]
    pub calls: Vec<Call>,
    /// Hash of its description.
    pub description: Hash,
    /// The rules it is decided by (the machine's when it was made).
    pub governance: Governance,
    /// Votes weigh the shares held at the end of this block (the one before the proposal).
    pub snapshot: u64,
    /// Shares outside the treasury at the snapshot (what the quorum is a part of).
    pub circulating: u64,
    /// Last height of the vote.
    pub end: u64,
    /// Shares voting for.
    pub yes: u64,
    /// Shares voting against.
    pub no: u64,
    /// Deposit locked.
    pub deposit: Amount,
    /// Where it is.
    pub status: ProposalStatus,
}

crate::struct_codec!(Proposal {
    id: plain,
    machine: plain,
    proposer: plain,
    calls: vec(PROPOSAL_CALLS_MAX),
    description: plain,
    governance: plain,
    snapshot: plain,
    circulating: plain,
    end: plain,
    yes: plain,
    no: plain,
    deposit: plain,
    status: plain,
});

/// How a proposal's vote came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Still voting.
    Voting,
    /// Too few votes.
    NoQuorum,
    /// Quorum, not enough approvals.
    Rejected,
    /// Approved: executable from `end + timelock + 1` to `end + timelock + execution`.
    Approved,
}

impl Proposal {
    /// The first height at which an approved proposal may be executed.
    pub fn executable_from(&self) -> u64 {
        self.end.saturating_add(self.governance.timelock_blocks).saturating_add(1)
    }

    /// The last height at which an approved proposal may be executed.
    pub fn expires(&self) -> u64 {
        self.end
            .saturating_add(self.governance.timelock_blocks)
            .saturating_add(self.governance.execution_blocks)
    }

    /// How the vote stands at `height`.
    pub fn decision(&self, height: u64) -> Decision {
        if height <= self.end {
            return Decision::Voting;
        }
        let cast = u128::from(self.yes) + u128::from(self.no);
        let g = &self.governance;
        if cast == 0 || cast * 10_000 < u128::from(self.circulating) * u128::from(g.quorum_bps) {
            Decision::NoQuorum
        } else if u128::from(self.yes) * 10_000 < cast * u128::from(g.approval_bps) {
            Decision::Rejected
        } else {
            Decision::Approved
        }
    }
}

/// A recorded vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Ballot {
    /// For or against.
    pub approve: bool,
    /// Shares counted.
    pub weight: u64,
}

crate::struct_codec!(Ballot { approve: plain, weight: plain });

/// A usage right (its NFT's holder holds it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UsageRight {
    /// Its NFT.
    pub nft: NftId,
    /// The device.
    pub device: DeviceId,
    /// The resource.
    pub kind: ResourceKind,
    /// Start of the window (ms).
    pub starts_ms: u64,
    /// End of the window (ms, exclusive).
    pub ends_ms: u64,
    /// Units it may use.
    pub units: u64,
    /// Units used.
    pub used: u64,
    /// Listed for sale at this price, if set (by its current holder).
    pub price: Option<Amount>,
}

crate::struct_codec!(UsageRight {
    nft: plain,
    device: plain,
    kind: plain,
    starts_ms: plain,
    ends_ms: plain,
    units: plain,
    used: plain,
    price: plain,
});

impl UsageRight {
    /// Units it keeps from the market at `now_ms`: those not used, until it ends.
    pub fn reserved(&self, now_ms: u64) -> u64 {
        if now_ms < self.ends_ms { self.units - self.used } else { 0 }
    }
}

/// The stream a data asset NFT carries the data rights of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DataAsset {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: crate::reading::StreamId,
}

crate::struct_codec!(DataAsset { device: plain, stream: plain });

/// Usage rights a device may have outstanding at once.
pub const RIGHTS_PER_DEVICE_MAX: usize = 16;

/// The usage rights of a device that have not ended (or not been pruned yet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRights {
    /// Their NFTs.
    pub rights: Vec<NftId>,
}

crate::struct_codec!(DeviceRights { rights: vec(RIGHTS_PER_DEVICE_MAX) });

/// The next ids to assign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// The next machine.
    pub machine: MachineId,
    /// The next offering.
    pub offering: OfferingId,
    /// The next proposal.
    pub proposal: ProposalId,
}

crate::struct_codec!(Counters { machine: plain, offering: plain, proposal: plain });

/// An offering in the close queue: it closes in the first block after `deadline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    /// The last height to buy (lowered to the sell-out height when every share is sold).
    pub deadline: u64,
    /// The offering.
    pub offering: OfferingId,
}

crate::struct_codec!(Closing { deadline: plain, offering: plain });

/// Offerings waiting for their close, by deadline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingQueue {
    /// Sorted by deadline, then offering.
    pub entries: Vec<Closing>,
}

crate::struct_codec!(ClosingQueue { entries: vec(crate::limits::OPEN_OFFERINGS_MAX) });
