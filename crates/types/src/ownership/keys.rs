//! Every storage key of the ownership module.

use super::{MachineId, OfferingId, ProposalId};
use crate::state::{Key, key};
use crate::{
    Address, DeviceId,
    bank::{AssetId, NftId},
    reading::StreamId,
};

/// The next ids to assign.
pub fn counters() -> Key {
    key(&[b"ownership/counters"])
}

/// A machine.
pub fn machine(id: MachineId) -> Key {
    key(&[b"ownership/machine/", &id.to_be_bytes()])
}

/// The machine a device belongs to.
pub fn machine_of_device(device: &DeviceId) -> Key {
    key(&[b"ownership/device/", &device.0])
}

/// The machine whose shares an asset is.
pub fn machine_of_asset(asset: AssetId) -> Key {
    key(&[b"ownership/asset/", &asset.to_be_bytes()])
}

/// A holder's position in a machine.
pub fn position(machine: MachineId, holder: &Address) -> Key {
    key(&[b"ownership/position/", &machine.to_be_bytes(), &holder.0])
}

/// A holder's share balance checkpoint.
pub fn checkpoint(machine: MachineId, holder: &Address, index: u32) -> Key {
    key(&[b"ownership/checkpoint/", &machine.to_be_bytes(), &holder.0, &index.to_be_bytes()])
}

/// An offering.
pub fn offering(id: OfferingId) -> Key {
    key(&[b"ownership/offering/", &id.to_be_bytes()])
}

/// Offerings waiting for their close, by deadline.
pub fn closing() -> Key {
    key(&[b"ownership/closing"])
}

/// An offering's purchase record number `index`.
pub fn purchase(offering: OfferingId, index: u32) -> Key {
    key(&[b"ownership/purchase/", &offering.to_be_bytes(), &index.to_be_bytes()])
}

/// The number of a buyer's purchase record in an offering.
pub fn purchase_of(offering: OfferingId, buyer: &Address) -> Key {
    key(&[b"ownership/purchase-of/", &offering.to_be_bytes(), &buyer.0])
}

/// A proposal.
pub fn proposal(id: ProposalId) -> Key {
    key(&[b"ownership/proposal/", &id.to_be_bytes()])
}

/// A voter's ballot on a proposal.
pub fn ballot(proposal: ProposalId, voter: &Address) -> Key {
    key(&[b"ownership/ballot/", &proposal.to_be_bytes(), &voter.0])
}

/// A usage right, by its NFT.
pub fn right(nft: NftId) -> Key {
    key(&[b"ownership/right/", &nft.to_be_bytes()])
}

/// A device's outstanding usage rights.
pub fn device_rights(device: &DeviceId) -> Key {
    key(&[b"ownership/device-rights/", &device.0])
}

/// The NFT of a stream's data asset.
pub fn data_asset(device: &DeviceId, stream: StreamId) -> Key {
    key(&[b"ownership/data-asset/", &device.0, &stream.to_be_bytes()])
}

/// The stream a data asset NFT stands for.
pub fn data_asset_of(nft: NftId) -> Key {
    key(&[b"ownership/data-asset-of/", &nft.to_be_bytes()])
}
