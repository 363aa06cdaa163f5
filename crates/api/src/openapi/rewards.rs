//! Routes of the rewards module: pools, their epochs' total work, enrollments, devices' work,
//! and the proofs a payout follows from.

use super::{Op, Routes, hex32, path, u64_any, uint};
use crate::rewards::{PoolView, WorkView};
use machina_store::ProofBundle;
use machina_types::rewards::state::{Enrollment, EpochTotal};
use utoipa::openapi::{HttpMethod::Get, path::Parameter};

/// Registers the rewards module's routes.
pub(super) fn register(r: &mut Routes) {
    records(r);
    proofs(r);
}

/// The pool path parameter.
fn pool() -> Parameter {
    path("id", "Pool id.", u64_any())
}

/// The epoch path parameter.
fn epoch() -> Parameter {
    path("epoch", "Epoch of the pool (from 0).", uint(u32::MAX.into()))
}

/// The device path parameter.
fn device() -> Parameter {
    path("device", "Device id (hex).", hex32())
}

fn records(r: &mut Routes) {
    let view = r.schema::<PoolView>();
    let op = Op::new(
        "A reward pool: funder, asset, payout per epoch, epochs and their length, start, claim \
         deadline, the work it counts, eligibility, minimum reputation, cap on work, devices \
         enrolled, funded, paid, refunded, closed; with what its escrow still holds and, for \
         the next block, its epoch and whether it takes enrollments, reports (for which \
         epoch), claims (through which epoch) or its close.",
    )
    .param(pool())
    .ok(200, "Pool.", view)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/reward-pools/{id}", op);
    let total = r.schema::<EpochTotal>();
    let op = Op::new("The work credited to an epoch of a pool, over every device, and how many.")
        .param(pool())
        .param(epoch())
        .ok(200, "The record.", total)
        .error(r, 400, "An invalid parameter (`invalid_parameter`).")
        .error(r, 404, "No such pool, or no work credited to the epoch (`not_found`).")
        .fails(r, &[503]);
    r.add(Get, "/v1/reward-pools/{id}/epochs/{epoch}", op);
    let enrollment = r.schema::<Enrollment>();
    let op = Op::new(
        "A device's enrollment in a pool: its counter at its last report (or enrollment) and \
         the epoch of that report.",
    )
    .param(pool())
    .param(device())
    .ok(200, "The record.", enrollment)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such pool, or the device is not enrolled in it (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/reward-pools/{id}/devices/{device}", op);
    let work = r.schema::<WorkView>();
    let op = Op::new(
        "The work credited to a device for an epoch of a pool, whether its reward was paid, \
         the epoch's total work and the reward (per_epoch * work / total_work, rounded down).",
    )
    .param(pool())
    .param(epoch())
    .param(device())
    .ok(200, "The device's work.", work)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such pool, or no work credited to the device for the epoch (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/reward-pools/{id}/epochs/{epoch}/devices/{device}", op);
}

/// A payout follows from three keys, each proven on its own route: the pool (its rule and
/// payout per epoch), the epoch's total work and the device's work.
fn proofs(r: &mut Routes) {
    let bundle = r.schema::<ProofBundle>();
    let routes = [
        (
            "/v1/proofs/reward-pools/{id}",
            "Proof of a reward pool (`rewards/pool/<id>`, value or absence) at the latest \
             finalized block.",
            vec![pool()],
        ),
        (
            "/v1/proofs/reward-pools/{id}/epochs/{epoch}",
            "Proof of an epoch's total work (`rewards/epoch/<pool>/<epoch>`, value or absence) \
             at the latest finalized block.",
            vec![pool(), epoch()],
        ),
        (
            "/v1/proofs/reward-pools/{id}/epochs/{epoch}/devices/{device}",
            "Proof of a device's work in an epoch and whether it was paid \
             (`rewards/work/<pool>/<epoch>/<device>`, value or absence) at the latest \
             finalized block. With the pool's and the epoch's proofs it proves the payout.",
            vec![pool(), epoch(), device()],
        ),
    ];
    for (route, summary, params) in routes {
        let mut op = Op::new(summary);
        for param in params {
            op = op.param(param);
        }
        let op = op.ok(200, "Proof bundle.", bundle.clone()).fails(r, &[400, 503]);
        r.add(Get, route, op);
    }
}
