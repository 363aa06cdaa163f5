//! Routes of the ownership module: machines and their holders, offerings and purchases,
//! proposals and ballots, the machine of a device, usage rights and data rights.

use super::{Op, Routes, hex32, path, u64_any, uint};
use crate::ownership::{
    DataRights, DeviceMachine, DeviceRightsView, HolderView, MachineView, ProposalView, RightView,
};
use machina_types::ownership::state::{Ballot, Offering, Purchase};
use utoipa::openapi::{HttpMethod::Get, path::Parameter};

/// Registers the ownership module's routes.
pub(super) fn register(r: &mut Routes) {
    machines(r);
    offerings(r);
    proposals(r);
    rights(r);
}

/// The account path parameter.
fn address(description: &str) -> Parameter {
    path("address", description, hex32())
}

fn machines(r: &mut Routes) {
    let id = || path("id", "Machine id.", u64_any());
    let machine = r.schema::<MachineView>();
    let op = Op::new(
        "A machine (tokenized devices): name, sponsor, treasury, share asset and supply, \
         devices, revenue split, governance rules, reserve, what holders are owed, revenue \
         index; with the treasury's balance and the shares it holds.",
    )
    .param(id())
    .ok(200, "Machine.", machine)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/machines/{id}", op);
    let holder = r.schema::<HolderView>();
    let op = Op::new(
        "An account's shares of a machine and the revenue a claim would pay it now (0 shares \
         and nothing to claim for an account that never held any).",
    )
    .param(id())
    .param(address("Holder address."))
    .ok(200, "Holding.", holder)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/machines/{id}/holders/{address}", op);
    let device = r.schema::<DeviceMachine>();
    let op = Op::new("The machine a device was tokenized into (null if none).")
        .param(path("id", "Device id (hex).", hex32()))
        .ok(200, "The device's machine.", device)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/devices/{id}/machine", op);
}

fn offerings(r: &mut Routes) {
    let id = || path("id", "Offering id.", u64_any());
    let offering = r.schema::<Offering>();
    let op = Op::new(
        "An offering of a machine's shares: price and accepted asset, minimum and per-buyer \
         bounds, deadline, beneficiary and tranches, shares sold, funds escrowed, buyers \
         settled, tranches released, status (open, delivering, refunding, succeeded, failed).",
    )
    .param(id())
    .ok(200, "The record.", offering)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/offerings/{id}", op);
    let purchase = r.schema::<Purchase>();
    let op = Op::new("An account's purchase in an offering: shares bought and funds escrowed.")
        .param(id())
        .param(address("Buyer address."))
        .ok(200, "The record.", purchase)
        .error(r, 400, "An invalid parameter (`invalid_parameter`).")
        .error(r, 404, "No such offering, or the account bought nothing in it (`not_found`).")
        .fails(r, &[503]);
    r.add(Get, "/v1/offerings/{id}/purchases/{address}", op);
}

fn proposals(r: &mut Routes) {
    let id = || path("id", "Proposal id.", u64_any());
    let proposal = r.schema::<ProposalView>();
    let op = Op::new(
        "A holder proposal: the calls the treasury makes if it passes, description hash, \
         rules, snapshot, votes for and against, deposit, status; with how the vote stands \
         for the next block and the heights it may be executed between.",
    )
    .param(id())
    .ok(200, "Proposal.", proposal)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/proposals/{id}", op);
    let ballot = r.schema::<Ballot>();
    let op = Op::new("An account's vote on a proposal: for or against, and the shares counted.")
        .param(id())
        .param(address("Voter address."))
        .ok(200, "The record.", ballot)
        .error(r, 400, "An invalid parameter (`invalid_parameter`).")
        .error(r, 404, "No such proposal, or the account did not vote on it (`not_found`).")
        .fails(r, &[503]);
    r.add(Get, "/v1/proposals/{id}/ballots/{address}", op);
}

fn rights(r: &mut Routes) {
    let device = || path("id", "Device id (hex).", hex32());
    let right = r.schema::<RightView>();
    let op = Op::new(
        "A usage right (an NFT): the device, resource kind, window (ms, block time), units and \
         units used, listed price; with its holder and the units it keeps from the market now.",
    )
    .param(path("nft", "The right's token id.", u64_any()))
    .ok(200, "Usage right.", right)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/rights/{nft}", op);
    let rights = r.schema::<DeviceRightsView>();
    let op = Op::new(
        "A device's usage rights that have not ended, with their holders and the units each \
         keeps from the market now.",
    )
    .param(device())
    .ok(200, "The device's rights.", rights)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such device (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/devices/{id}/rights", op);
    let data = r.schema::<DataRights>();
    let op = Op::new(
        "Who holds a stream's data rights (receives its data revenue, sets its access \
         policy): its data asset's holder, else the device's owner.",
    )
    .param(device())
    .param(path("stream", "Stream id.", uint(u32::MAX.into())))
    .ok(200, "The stream's data rights.", data)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such device (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/devices/{id}/streams/{stream}/data-rights", op);
}
