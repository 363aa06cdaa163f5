//! Routes of the products module: data products, subscriptions, stream key epochs, wrapped
//! keys and their proofs, and the gateway's by-reading payments (vouchers).

use super::{Op, Routes, hex32, path, u64_any, uint};
use crate::products::PaymentState;
use machina_store::ProofBundle;
use machina_types::{
    channels::SignedVoucher,
    products::state::{Product, StreamKeys, Subscription},
    sealed::WrappedKey,
};
use utoipa::openapi::{
    HttpMethod::{Get, Post},
    path::Parameter,
};

/// Registers the products module's routes.
pub(super) fn register(r: &mut Routes) {
    records(r);
    payments(r);
}

fn id(what: &str) -> Parameter {
    path("id", what, u64_any())
}

fn records(r: &mut Routes) {
    let product = r.schema::<Product>();
    let op = Op::new(
        "A data product: seller, device, streams, asset, price per reading and per period, \
         licence hash, access policy, history, sealed, whether still listed, and the active \
         subscriptions it delivers to.",
    )
    .param(id("Product id."))
    .ok(200, "Product.", product)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such product (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/products/{id}", op);
    let subscription = r.schema::<Subscription>();
    let op = Op::new(
        "A subscription, the consent the chain records: product, subscriber, its encryption \
         key, how it pays, from when until when (block time, ms), each stream's key epoch \
         when it began, and its status (active, cancelled or revoked, with when).",
    )
    .param(id("Subscription id."))
    .ok(200, "Subscription.", subscription)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such subscription (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/subscriptions/{id}", op);
    let wrapped = r.schema::<WrappedKey>();
    let op = Op::new(
        "A stream's epoch key wrapped for a subscription (X25519 + ChaCha20-Poly1305, 80 \
         bytes), as its seller published it; the subscriber opens it with its encryption \
         secret and decrypts the stream's readings of that epoch.",
    )
    .param(id("Subscription id."))
    .param(path("stream", "Stream id.", uint(u32::MAX.into())))
    .param(path("epoch", "Key epoch.", uint(u32::MAX.into())))
    .ok(200, "Wrapped key.", wrapped)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No key published for it (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/subscriptions/{id}/keys/{stream}/{epoch}", op);
    let keys = r.schema::<StreamKeys>();
    let op = Op::new(
        "A stream's current key epoch (a device sealing its readings uses this epoch's key) \
         and the listed product that has the stream, if any.",
    )
    .param(path("id", "Device id (hex).", hex32()))
    .param(path("stream", "Stream id.", uint(u32::MAX.into())))
    .ok(200, "Key epoch (0 and no product for a stream never listed).", keys)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/devices/{id}/streams/{stream}/keys", op);
    let bundle = r.schema::<ProofBundle>();
    let op = Op::new(
        "Proof of a subscription (`products/subscription/<id>`, value or absence) at the \
         latest finalized block: who consented to whom reading what, when.",
    )
    .param(id("Subscription id."))
    .ok(200, "Proof bundle.", bundle)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/subscriptions/{id}", op);
}

fn payments(r: &mut Routes) {
    let (voucher, state) = (r.schema::<SignedVoucher>(), r.schema::<PaymentState>());
    let op = Op::new(
        "Pay a by-reading subscription: a voucher of its channel signed by its subscriber for \
         this chain, above the last one and within the channel's deposit. The gateway sends \
         reading n + 1 once the latest voucher covers the n readings delivered at the \
         product's price. Stored durably before the answer.",
    )
    .param(id("Subscription id."))
    .body(voucher)
    .ok(200, "Kept; what the gateway now holds.", state.clone())
    .error(
        r,
        400,
        "Refused: payment_not_offered (a subscription by periods), \
         voucher_for_another_channel, bad_voucher (not the subscriber's signature for this \
         chain), stale_voucher, voucher_ahead (pays for more than the readings delivered and \
         the next), voucher_over_deposit, channel_closed, unknown_channel, invalid_parameter \
         or malformed_json.",
    )
    .error(r, 404, "No such subscription (`not_found`).")
    .body_errors(r, "Body too large (`body_too_large`).")
    .error(
        r,
        503,
        "The voucher store is down or full, or the node is overloaded (`unavailable`).",
    );
    r.add(Post, "/v1/subscriptions/{id}/vouchers", op);
    let op = Op::new(
        "The latest voucher the gateway holds for a by-reading subscription (the seller \
         settles or closes the channel with it) and the readings delivered.",
    )
    .param(id("Subscription id."))
    .ok(200, "Payment state (no voucher yet: null).", state)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/subscriptions/{id}/voucher", op);
}
