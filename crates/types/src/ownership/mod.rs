//! Machines as investable assets: a device (or a fleet) split into a fixed supply of shares,
//! its revenue paid to their holders, offerings that sell them, and holder governance.
//!
//! - [`OwnershipCall::Tokenize`] makes a machine: its shares are a bank asset nobody can
//!   mint or burn, its devices' owner becomes the machine's treasury account (for which no
//!   key exists: only a holder decision can move them), and from then on everything the
//!   devices earn lands in the treasury.
//! - Revenue: what the treasury receives is split between its reserve and the holders
//!   ([`revenue`]: one index per machine, constant work per payment, claim or transfer).
//! - Offerings sell treasury shares at a fixed price, escrow the funds and either deliver
//!   both sides or refund every buyer at the close.
//! - Governance: holders propose calls the treasury will make, vote with the shares they
//!   held when the proposal was made, and anyone executes an approved proposal after its
//!   timelock.

pub mod event;
#[cfg(feature = "std")]
pub mod keys;
pub mod params;
pub mod revenue;
#[cfg(feature = "std")]
pub mod state;

pub use event::OwnershipEvent;

use crate::{
    Amount, Call, DeviceId, ErrorCode, Hash,
    address::Address,
    bank::{AssetId, NftId},
    limits::*,
    market::ResourceKind,
    reading::StreamId,
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, Error};
use serde::{Deserialize, Serialize};

/// Identifies a machine (assigned in tokenization order, from 1).
pub type MachineId = u64;
/// Identifies an offering (assigned in creation order, from 1).
pub type OfferingId = u64;
/// Identifies a proposal (assigned in creation order, from 1).
pub type ProposalId = u64;

/// The largest basis-point value (100%).
pub const BPS: u16 = 10_000;

/// The address of machine `id`'s treasury: derived, so no key for it exists and it acts
/// only through the machine's approved proposals.
pub fn treasury(id: MachineId) -> Address {
    Address(Hash::of(&[b"machina/machine-treasury/", &id.to_be_bytes()]).0)
}

/// How a machine's holders decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Governance {
    /// Shares a proposer must hold (of the supply, basis points).
    pub threshold_bps: u16,
    /// Native tokens locked with a proposal: returned once it is decided with quorum,
    /// kept by the treasury if it fails to reach quorum.
    pub deposit: Amount,
    /// Votes cast (of the shares outside the treasury when the proposal was made, basis
    /// points) for a decision to count.
    pub quorum_bps: u16,
    /// Approving votes needed (of the votes cast, basis points; more than half).
    pub approval_bps: u16,
    /// Blocks a proposal is open for votes.
    pub voting_blocks: u64,
    /// Blocks between the end of the vote and the earliest execution.
    pub timelock_blocks: u64,
    /// Blocks after the timelock during which an approved proposal may be executed; it
    /// expires then.
    pub execution_blocks: u64,
}

impl Governance {
    /// Stateless validity.
    pub fn valid(&self) -> bool {
        self.threshold_bps <= BPS
            && (1..=BPS).contains(&self.quorum_bps)
            && (BPS / 2 + 1..=BPS).contains(&self.approval_bps)
            && (1..=GOVERNANCE_BLOCKS_MAX).contains(&self.voting_blocks)
            && self.timelock_blocks <= GOVERNANCE_BLOCKS_MAX
            && (1..=GOVERNANCE_BLOCKS_MAX).contains(&self.execution_blocks)
    }
}

crate::struct_codec!(Governance {
    threshold_bps: plain,
    deposit: plain,
    quorum_bps: plain,
    approval_bps: plain,
    voting_blocks: plain,
    timelock_blocks: plain,
    execution_blocks: plain,
});

/// Something the chain can see about a machine's devices, which releases a tranche of an
/// offering's funds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Milestone {
    /// The offering succeeded (released at its close).
    Close {},
    /// Every device of the machine is active.
    DevicesActive {},
    /// Every device of the machine has anchored readings of `stream`.
    FirstAnchor {
        /// The stream.
        stream: StreamId,
    },
    /// The machine's devices have delivered `count` leases to others (their reputation's
    /// good count, which self-trades do not raise).
    LeasesDelivered {
        /// Deliveries.
        count: u64,
    },
}

crate::enum_codec!(Milestone {
    0 => Close {},
    1 => DevicesActive {},
    2 => FirstAnchor { stream: plain },
    3 => LeasesDelivered { count: plain },
});

/// A part of an offering's funds and the milestone that releases it to the beneficiary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Tranche {
    /// Its part of the funds raised (basis points; an offering's tranches add up to 10000).
    pub bps: u16,
    /// What releases it.
    pub milestone: Milestone,
}

crate::struct_codec!(Tranche { bps: plain, milestone: plain });

/// A call to the ownership module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OwnershipCall {
    /// Split devices the signer owns into `supply` shares: the shares are a new bank asset
    /// (nobody can mint or burn it), `retained` of them go to the signer (the machine's
    /// sponsor) and the rest to the treasury, and the devices' owner becomes the treasury
    /// (their role grants stay).
    Tokenize {
        /// The devices (1 to 16, distinct).
        devices: Vec<DeviceId>,
        /// The share asset's ticker, 1-12 of `A-Z0-9`.
        symbol: String,
        /// The machine's name, 1-64 bytes.
        name: String,
        /// Shares in existence, for ever.
        supply: u64,
        /// Shares the signer keeps.
        retained: u64,
        /// Part of the revenue kept in the treasury's reserve (basis points).
        reserve_bps: u16,
        /// How holders decide; the chain's defaults if absent.
        governance: Option<Governance>,
    },
    /// Pay the signer the revenue its shares have earned.
    Claim {
        /// The machine.
        machine: MachineId,
    },
    /// Change the revenue split and the governance rules (signer: the treasury, that is
    /// an approved proposal).
    Configure {
        /// The machine.
        machine: MachineId,
        /// Part of the revenue kept in the reserve (basis points).
        reserve_bps: u16,
        /// How holders decide from now on (proposals already made keep their rules).
        governance: Governance,
    },
    /// Offer treasury shares at a fixed price (signer: the sponsor or the treasury). Buyers'
    /// funds are escrowed until the close, the block after `deadline` or once every share
    /// is sold: if at least `min_shares` sold, buyers get their shares and the funds go to
    /// `beneficiary` by tranches; if not, every buyer is refunded.
    CreateOffering {
        /// The machine.
        machine: MachineId,
        /// Shares offered (the cap).
        shares: u64,
        /// Price per share, in the smallest unit of the accepted asset.
        price: Amount,
        /// The asset accepted: a bank asset, or the native token if absent.
        asset: Option<AssetId>,
        /// Shares that must sell by the deadline (the minimum raise, in shares).
        min_shares: u64,
        /// Fewest shares one purchase may buy.
        buyer_min: u64,
        /// Most shares one buyer may hold from this offering.
        buyer_max: u64,
        /// Last height at which shares may be bought.
        deadline: u64,
        /// Who receives the funds.
        beneficiary: Address,
        /// How the funds are released (empty: all at the close).
        tranches: Vec<Tranche>,
        /// Height after which tranches whose milestone was not met go to the treasury
        /// instead.
        milestones_by: u64,
    },
    /// Buy shares in an open offering; their price is escrowed.
    Buy {
        /// The offering.
        offering: OfferingId,
        /// Shares.
        shares: u64,
    },
    /// Release a tranche of a successful offering's funds: to the beneficiary if its
    /// milestone is met, to the treasury if `milestones_by` has passed. Anyone may call it.
    ReleaseTranche {
        /// The offering.
        offering: OfferingId,
        /// The tranche's index.
        tranche: u8,
    },
    /// Propose calls for the treasury to make (signer: a holder of at least the
    /// machine's threshold; locks its deposit).
    Propose {
        /// The machine.
        machine: MachineId,
        /// The calls, made in order as the treasury; all or none take effect. Any module's
        /// calls except the ownership module's own proposals, votes, executions and
        /// purchases.
        #[cfg_attr(feature = "schema", schema(no_recursion))]
        calls: Vec<Call>,
        /// Hash of the proposal's description document.
        description: Hash,
    },
    /// Vote on an open proposal with the shares the signer held when it was made.
    Vote {
        /// The proposal.
        proposal: ProposalId,
        /// For or against.
        approve: bool,
    },
    /// Make an approved proposal's calls, after its timelock and before it expires. Anyone
    /// may call it.
    Execute {
        /// The proposal.
        proposal: ProposalId,
    },
    /// Close a proposal that was rejected, missed its quorum or expired, settling its
    /// deposit. Anyone may call it.
    Close {
        /// The proposal.
        proposal: ProposalId,
    },
    /// Mint a usage right: an NFT whose holder may use `units` of the device's `kind`
    /// between `starts_ms` and `ends_ms` (block time) at no further charge. From minting to
    /// its end the market does not sell those units. Signer: the device's owner (for a
    /// machine, a holder decision). Not revocable; transferable like any NFT.
    MintRight {
        /// The device.
        device: DeviceId,
        /// The resource.
        kind: ResourceKind,
        /// Start of the window (ms).
        starts_ms: u64,
        /// End of the window (ms, exclusive).
        ends_ms: u64,
        /// Units it may use in the window.
        units: u64,
        /// First holder.
        to: Address,
        /// Listed for sale at this price (native token) if set.
        price: Option<Amount>,
    },
    /// List a usage right the signer holds for sale at `price`, or withdraw it (`None`).
    ListRight {
        /// The right's NFT.
        right: NftId,
        /// The price (native token).
        price: Option<Amount>,
    },
    /// Buy a listed usage right: its price goes to its holder, the right to the signer.
    BuyRight {
        /// The right's NFT.
        right: NftId,
        /// The most the buyer pays (the listed price must not exceed it).
        max_price: Amount,
    },
    /// Use `units` of a usage right the signer holds, inside its window.
    UseRight {
        /// The right's NFT.
        right: NftId,
        /// Units used.
        units: u64,
    },
    /// Mint a device stream's data asset: an NFT whose holder receives the stream's data
    /// revenue and sets its access policy. One per stream. Signer: the device's owner.
    MintDataAsset {
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: StreamId,
        /// First holder.
        to: Address,
    },
}

crate::enum_codec!(OwnershipCall {
    0 => Tokenize {
        devices: vec(MACHINE_DEVICES_MAX),
        symbol: str(ASSET_SYMBOL_LEN_MAX),
        name: str(ASSET_NAME_LEN_MAX),
        supply: plain,
        retained: plain,
        reserve_bps: plain,
        governance: plain,
    },
    1 => Claim { machine: plain },
    2 => Configure { machine: plain, reserve_bps: plain, governance: plain },
    3 => CreateOffering {
        machine: plain,
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
    },
    4 => Buy { offering: plain, shares: plain },
    5 => ReleaseTranche { offering: plain, tranche: plain },
    6 => Propose { machine: plain, calls: with(read_proposal_calls), description: plain },
    7 => Vote { proposal: plain, approve: plain },
    8 => Execute { proposal: plain },
    9 => Close { proposal: plain },
    10 => MintRight {
        device: plain,
        kind: plain,
        starts_ms: plain,
        ends_ms: plain,
        units: plain,
        to: plain,
        price: plain,
    },
    11 => ListRight { right: plain, price: plain },
    12 => BuyRight { right: plain, max_price: plain },
    13 => UseRight { right: plain, units: plain },
    14 => MintDataAsset { device: plain, stream: plain, to: plain },
});

/// Longest window a usage right may cover (ms): 400 days.
pub const RIGHT_WINDOW_MAX_MS: u64 = 400 * 24 * 3600 * 1000;

/// The encoding tag of [`OwnershipCall::Propose`].
pub const PROPOSE_TAG: u8 = 6;

/// Reads a proposal's calls, refusing any call that carries calls (a nested proposal, a
/// session key's act, a multisig proposal) before reading it, so decoding cannot recurse.
fn read_proposal_calls(buf: &mut impl Buf) -> Result<Vec<Call>, Error> {
    crate::call::read_carried_calls(buf, PROPOSAL_CALLS_MAX, "Propose")
}

/// Whether a proposal may make `call` as the treasury: anything but the ownership module's
/// governance and purchases (which would nest decisions or buy the machine's own shares).
pub fn proposable(call: &Call) -> bool {
    !matches!(
        call,
        Call::Ownership(
            OwnershipCall::Propose { .. }
                | OwnershipCall::Vote { .. }
                | OwnershipCall::Execute { .. }
                | OwnershipCall::Close { .. }
                | OwnershipCall::Buy { .. }
        )
    )
}

fn distinct(devices: &[DeviceId]) -> bool {
    devices.iter().enumerate().all(|(i, d)| !devices[..i].contains(d))
}

impl crate::call::ModuleCall for OwnershipCall {
    const MODULE: &'static str = "ownership";
    const TAG: u8 = 5;
    const ERRORS: core::ops::RangeInclusive<u16> = 500..=549;

    /// Stateless validity: supplies, prices and shares positive and within bounds, basis
    /// points at most 10000, tranches adding up, proposals holding valid calls.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::Tokenize { devices, symbol, name, supply, retained, reserve_bps, governance } => {
                (1..=MACHINE_DEVICES_MAX).contains(&devices.len())
                    && distinct(devices)
                    && crate::bank::valid_symbol(symbol)
                    && !name.is_empty()
                    && name.len() <= ASSET_NAME_LEN_MAX
                    && *supply > 0
                    && retained <= supply
                    && *reserve_bps <= BPS
                    && governance.is_none_or(|g| g.valid())
            }
            Self::Configure { reserve_bps, governance, .. } => {
                *reserve_bps <= BPS && governance.valid()
            }
            Self::CreateOffering {
                shares,
                price,
                min_shares,
                buyer_min,
                buyer_max,
                tranches,
                deadline,
                milestones_by,
                ..
            } => {
                let bps: u32 = tranches.iter().map(|t| u32::from(t.bps)).sum();
                *shares > 0
                    && *price > 0
                    && u128::from(*shares) * u128::from(*price) <= u128::from(u64::MAX)
                    && min_shares <= shares
                    && *buyer_min > 0
                    && buyer_min <= buyer_max
                    && buyer_min <= shares
                    && tranches.len() <= OFFERING_TRANCHES_MAX
                    && (tranches.is_empty() || bps == u32::from(BPS))
                    && tranches.iter().all(|t| t.bps > 0)
                    && milestones_by >= deadline
            }
            Self::Buy { shares, .. } => *shares > 0,
            Self::MintRight { kind, starts_ms, ends_ms, units, .. } => {
                kind.is_valid()
                    && starts_ms < ends_ms
                    && ends_ms - starts_ms <= RIGHT_WINDOW_MAX_MS
                    && (1..=UNITS_MAX).contains(units)
            }
            Self::UseRight { units, .. } => (1..=UNITS_MAX).contains(units),
            Self::ListRight { .. } | Self::BuyRight { .. } | Self::MintDataAsset { .. } => true,
            Self::Propose { calls, .. } => {
                (1..=PROPOSAL_CALLS_MAX).contains(&calls.len())
                    && calls
                        .iter()
                        .all(|c| proposable(c) && !c.carries_calls() && c.check().is_ok())
            }
            Self::Claim { .. }
            | Self::ReleaseTranche { .. }
            | Self::Vote { .. }
            | Self::Execute { .. }
            | Self::Close { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }
}
