//! The ownership module's events.

use super::{MachineId, OfferingId, ProposalId};
use crate::{
    Address, Amount, DeviceId,
    bank::{AssetId, NftId},
};
use serde::{Deserialize, Serialize};

/// Something the ownership module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OwnershipEvent {
    /// Devices became a machine.
    Tokenized {
        /// The machine.
        machine: MachineId,
        /// Its treasury, the devices' new owner.
        treasury: Address,
        /// Its share asset.
        shares: AssetId,
        /// Shares in existence.
        supply: u64,
    },
    /// Income reached the treasury and was split between reserve and holders.
    Revenue {
        /// The machine.
        machine: MachineId,
        /// Paid to holders.
        distributed: Amount,
        /// Kept in the reserve.
        reserved: Amount,
    },
    /// A holder took the revenue its shares earned.
    Claimed {
        /// The machine.
        machine: MachineId,
        /// The holder.
        holder: Address,
        /// Paid.
        amount: Amount,
    },
    /// A machine's revenue split or governance changed.
    Configured {
        /// The machine.
        machine: MachineId,
    },
    /// An offering opened.
    OfferingCreated {
        /// The offering.
        offering: OfferingId,
        /// The machine.
        machine: MachineId,
        /// Shares offered.
        shares: u64,
    },
    /// Shares were bought in an offering (escrowed until its close).
    Bought {
        /// The offering.
        offering: OfferingId,
        /// The buyer.
        buyer: Address,
        /// Shares.
        shares: u64,
        /// Escrowed.
        paid: Amount,
    },
    /// An offering closed with its minimum sold: buyers get their shares.
    OfferingSucceeded {
        /// The offering.
        offering: OfferingId,
        /// Shares sold.
        sold: u64,
        /// Funds raised.
        raised: Amount,
    },
    /// An offering closed without its minimum: every buyer is refunded.
    OfferingFailed {
        /// The offering.
        offering: OfferingId,
        /// Shares that had been bought.
        sold: u64,
    },
    /// A buyer's purchase was settled at the close: shares delivered or funds refunded.
    PurchaseSettled {
        /// The offering.
        offering: OfferingId,
        /// The buyer.
        buyer: Address,
        /// Shares delivered (0 if refunded).
        shares: u64,
        /// Funds refunded (0 if delivered).
        refunded: Amount,
    },
    /// A tranche of an offering's funds was released.
    TrancheReleased {
        /// The offering.
        offering: OfferingId,
        /// The tranche.
        tranche: u8,
        /// To whom (the beneficiary, or the treasury after `milestones_by`).
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// A proposal was made.
    Proposed {
        /// The proposal.
        proposal: ProposalId,
        /// The machine.
        machine: MachineId,
        /// The proposer.
        proposer: Address,
    },
    /// A holder voted.
    Voted {
        /// The proposal.
        proposal: ProposalId,
        /// The voter.
        voter: Address,
        /// For or against.
        approve: bool,
        /// Shares counted.
        weight: u64,
    },
    /// An approved proposal's calls were made.
    Executed {
        /// The proposal.
        proposal: ProposalId,
    },
    /// A usage right was minted.
    RightMinted {
        /// Its NFT.
        right: NftId,
        /// The device.
        device: DeviceId,
        /// First holder.
        to: Address,
    },
    /// A usage right's listing changed.
    RightListed {
        /// Its NFT.
        right: NftId,
        /// Its price, or none (not for sale).
        price: Option<Amount>,
    },
    /// A listed usage right was bought.
    RightSold {
        /// Its NFT.
        right: NftId,
        /// The seller.
        from: Address,
        /// The buyer.
        to: Address,
        /// Paid.
        price: Amount,
    },
    /// A usage right was used.
    RightUsed {
        /// Its NFT.
        right: NftId,
        /// The device.
        device: DeviceId,
        /// The holder.
        holder: Address,
        /// Units used.
        units: u64,
    },
    /// A stream's data asset was minted.
    DataAssetMinted {
        /// Its NFT.
        asset: NftId,
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: crate::reading::StreamId,
        /// First holder.
        to: Address,
    },
    /// A proposal was closed without execution.
    ProposalClosed {
        /// The proposal.
        proposal: ProposalId,
        /// Whether its deposit was returned (quorum reached) or kept by the treasury.
        deposit_returned: bool,
    },
}

crate::enum_codec!(OwnershipEvent {
    0 => Tokenized { machine: plain, treasury: plain, shares: plain, supply: plain },
    1 => Revenue { machine: plain, distributed: plain, reserved: plain },
    2 => Claimed { machine: plain, holder: plain, amount: plain },
    3 => Configured { machine: plain },
    4 => OfferingCreated { offering: plain, machine: plain, shares: plain },
    5 => Bought { offering: plain, buyer: plain, shares: plain, paid: plain },
    6 => OfferingSucceeded { offering: plain, sold: plain, raised: plain },
    7 => OfferingFailed { offering: plain, sold: plain },
    8 => PurchaseSettled { offering: plain, buyer: plain, shares: plain, refunded: plain },
    9 => TrancheReleased { offering: plain, tranche: plain, to: plain, amount: plain },
    10 => Proposed { proposal: plain, machine: plain, proposer: plain },
    11 => Voted { proposal: plain, voter: plain, approve: plain, weight: plain },
    12 => Executed { proposal: plain },
    13 => ProposalClosed { proposal: plain, deposit_returned: plain },
    14 => RightMinted { right: plain, device: plain, to: plain },
    15 => RightListed { right: plain, price: plain },
    16 => RightSold { right: plain, from: plain, to: plain, price: plain },
    17 => RightUsed { right: plain, device: plain, holder: plain, units: plain },
    18 => DataAssetMinted { asset: plain, device: plain, stream: plain, to: plain },
});
