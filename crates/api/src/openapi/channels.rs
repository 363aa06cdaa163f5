//! Routes of the channels module: a payment channel or stream, and its proof.

use super::{Op, Routes, path, u64_any};
use machina_store::ProofBundle;
use machina_types::channels::state::Channel;
use utoipa::openapi::{HttpMethod::Get, path::Parameter};

/// Registers the channels module's routes.
pub(super) fn register(r: &mut Routes) {
    let channel = r.schema::<Channel>();
    let op = Op::new(
        "A payment channel or stream: payer, payee, asset, deposit, paid to the payee so far \
         (a voucher channel: the highest voucher settled), refunded to the payer at its close, \
         its mode (vouchers with their challenge period, or a stream with its rate and start) \
         and status (open, closing until a height, closed). The escrow holds deposit - paid - \
         refunded for it.",
    )
    .param(id())
    .ok(200, "Channel.", channel)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such channel (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/channels/{id}", op);
    let bundle = r.schema::<ProofBundle>();
    let op = Op::new(
        "Proof of a payment channel (`channels/channel/<id>`, value or absence) at the latest \
         finalized block.",
    )
    .param(id())
    .ok(200, "Proof bundle.", bundle)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/channels/{id}", op);
}

/// The channel path parameter.
fn id() -> Parameter {
    path("id", "Channel id.", u64_any())
}
