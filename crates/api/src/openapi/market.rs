//! Routes of the market: the schedule, books, orders, leases, stakes and solutions.

use super::{Op, Routes, hex32, path, query, u64_any};
use crate::market::{
    AccountLeases, AccountStake, LEASES_PER_QUERY_DEFAULT, LEASES_PER_QUERY_MAX, MarketBook,
    MarketOverview, Solutions,
};
use machina_types::market::state::{Intent, Lease, Offer};
use utoipa::openapi::HttpMethod::Get;

/// Registers the market's routes.
pub(super) fn register(r: &mut Routes) {
    books(r);
    orders(r);
    accounts(r);
}

fn books(r: &mut Routes) {
    let overview = r.schema::<MarketOverview>();
    let op = Op::new(
        "The batch schedule (current batch, next clearing height), market parameters, value \
         totals (escrowed, paid, fees, refunded, solver rewards, staked, withdrawn, slashed), \
         and the markets with open orders.",
    )
    .ok(200, "Market overview.", overview)
    .fails(r, &[503]);
    r.add(Get, "/v1/market", op);
    let book = r.schema::<MarketBook>();
    let op = Op::new(
        "A market (resource kind and region; its id is the hash of both) with its open book: \
         intents by limit, offers by floor with their provider's reputation and whether they \
         may sell.",
    )
    .param(path("id", "Market id (hex).", hex32()))
    .ok(200, "Market and book.", book)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/markets/{id}", op);
    let solutions = r.schema::<Solutions>();
    let op = Op::new("Solutions submitted for a batch.")
        .param(path("batch", "Batch number (height / auction interval).", u64_any()))
        .ok(200, "Solutions.", solutions)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/market/batches/{batch}/solutions", op);
}

fn orders(r: &mut Routes) {
    let (offer, intent, lease) = (r.schema::<Offer>(), r.schema::<Intent>(), r.schema::<Lease>());
    let routes = [
        (
            "/v1/offers/{id}",
            "An offer: seller, device, kind, region, remaining capacity, floor price, delivery \
             terms, expiry, status.",
            "Offer id.",
            offer,
        ),
        (
            "/v1/intents/{id}",
            "An intent: consumer, components, units wanted and filled, maximum price, deadline, \
             escrow held, status.",
            "Intent id.",
            intent,
        ),
        (
            "/v1/leases/{id}",
            "A lease: consumer, seller, device, units, price, escrow, delivery terms, deadline, \
             status (active, claimed, disputed, delivered, refunded).",
            "Lease id.",
            lease,
        ),
    ];
    let bundle = r.schema::<machina_store::ProofBundle>();
    let op = Op::new(
        "A proof of a lease's record (`market/lease/<id>`) at the latest finalized block: \
         verify it offline against the genesis validators.",
    )
    .param(path("id", "Lease id.", u64_any()))
    .ok(200, "Proof bundle.", bundle)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/leases/{id}", op);
    for (route, summary, id, schema) in routes {
        let op = Op::new(summary)
            .param(path("id", id, u64_any()))
            .ok(200, "The record.", schema)
            .fails(r, &[400, 404, 503]);
        r.add(Get, route, op);
    }
}

fn accounts(r: &mut Routes) {
    let address = || path("address", "Account address.", hex32());
    let leases = r.schema::<AccountLeases>();
    let limit = format!(
        "Most leases (default {LEASES_PER_QUERY_DEFAULT}; more count as {LEASES_PER_QUERY_MAX})."
    );
    let op = Op::new("An account's leases as consumer or seller, newest first.")
        .param(address())
        .param(query("limit", &limit, u64_any()))
        .ok(200, "Leases.", leases)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/accounts/{address}/leases", op);
    let stake = r.schema::<AccountStake>();
    let op = Op::new("An account's provider and solver stake: bonded, unbonding, release height.")
        .param(address())
        .ok(200, "Stake.", stake)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/accounts/{address}/stake", op);
}
