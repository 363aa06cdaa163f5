//! The market module: any resource a device has, traded in batch auctions.
//!
//! - **Stake** ([`stake`]): providers bond stake to offer, solvers to submit solutions;
//!   unbonding waits `unbonding_blocks`; slashed stake goes to the market treasury. The
//!   potential slash of a provider's open leases is locked: it cannot be unbonded until they
//!   settle, so a seller cannot dodge a slash by withdrawing.
//! - **Orders** ([`orders`]): offers (by the device itself, its owner or a `seller`):
//!   resource kind, region, capacity, floor price per unit, delivery terms, expiry. Intents
//!   (by any account; by a device's own account only while the device is active): one
//!   resource or a bundle, units, maximum price per unit, deadline, minimum provider
//!   reputation, divisibility; the maximum cost is escrowed when posted and returned on
//!   cancellation or when the deadline lapses. Every open order holds a refundable deposit
//!   (`order_deposit`) and counts against its poster's [`OPEN_ORDERS_PER_ACCOUNT_MAX`], so
//!   filling books costs capital per slot and needs many funded accounts.
//! - **Batches** ([`batch`]): at every multiple of `auction_interval_blocks`, before the
//!   block's transactions, each market with orders clears at one uniform price
//!   ([`clearing`]). A batch keeps one solution per solver and the best
//!   [`SOLUTIONS_PER_BATCH_MAX`] by surplus (a better one takes the worst one's slot, so
//!   nobody can lock others out by submitting first). At the batch's end solutions are
//!   checked again against the final book; the one adding the most surplus over the built-in
//!   clearing of the markets it prices replaces it there, and its solver earns
//!   `solver_reward_bps` of the surplus added, taken from the consumers' savings. Consumers
//!   get back the difference between their escrow and what they pay at once.
//! - **Leases** ([`leases`]): each fill is a lease holding its payment in escrow until
//!   delivery is proven per the offer's terms (the consumer's receipt, a device's signed
//!   acknowledgement of an actuation, or an oracle feed's condition). Delivered: the seller
//!   is paid less the protocol fee (at least one unit) and the device's reputation rises.
//!   Past the deadline undelivered: the consumer is refunded, the seller's provider stake is
//!   slashed `slash_bps` of the lease's value, and the reputation falls. A seller may claim
//!   delivery under receipt terms, or under feed terms while the condition holds; unless the
//!   consumer disputes within the dispute window, the claim pays when the window closes. A
//!   disputed feed-terms claim is decided by the oracle: by the feed's condition at the
//!   deadline, as if never claimed. A disputed receipt-terms claim has no evidence beyond
//!   the missing receipt: the consumer is refunded and nobody is slashed. Reputation never
//!   moves on a self-trade (the consumer is the seller, the device's owner or the device).
//!
//! Value is conserved: escrow in = paid + fees + refunds + solver rewards + escrow held,
//! stake in = withdrawn + slashed + stake held, deposits in = deposits returned + deposits
//! held ([`state::Totals`]).
//!
//! A provider's reputation, as intents' minimums use it, is `(good + 1) * 100 / (good + bad
//! + 2)` percent of its device's delivered and failed leases (50 for a new device).

pub mod batch;
pub mod clearing;
pub mod leases;
pub mod orders;
pub mod stake;

pub use machina_types::market::{keys, params, state};
#[cfg(test)]
mod tests;

use crate::{
    module::{Ctx, ExecResult, Module, STEP_EVENTS_MAX, Step},
    modules::{bank, identity, identity::state::Device},
    state::Key,
};
use machina_types::{
    Address, Event,
    identity::roles,
    market::{BatchId, MarketCall, MarketEvent, StakeKind, market_id},
};
use state::{ACTIVE_MARKETS_MAX, Counters, Totals};

pub use batch::{clearing_step, settlement_step};
pub use state::SOLUTIONS_PER_BATCH_MAX;

/// Intents a market's book holds (positions in use, including freed ones not yet passed).
pub const BOOK_INTENTS_MAX: u64 = 4096;
/// Offers a market's book holds.
pub const BOOK_OFFERS_MAX: u64 = 1024;
/// Orders (intents and offers together) one account may have open.
pub const OPEN_ORDERS_PER_ACCOUNT_MAX: u32 = 256;
/// Longest an offer may stay open, or an intent's deadline be ahead (ms).
pub const TERM_MAX_MS: u64 = 30 * 24 * 3600 * 1000;
/// Due leases settled per block at most (the rest in the next blocks).
pub const SETTLEMENTS_PER_BLOCK_MAX: u64 = 1024;

// One event per market cleared; one per lease settled (plus one per failed settlement).
const _: () = assert!(ACTIVE_MARKETS_MAX <= STEP_EVENTS_MAX);
const _: () = assert!(2 * SETTLEMENTS_PER_BLOCK_MAX as usize <= STEP_EVENTS_MAX);

/// The account holding consumers' escrow.
pub fn escrow_account() -> Address {
    Address::module("market-escrow")
}

/// The account holding bonded stake.
pub fn stake_account() -> Address {
    Address::module("market-stake")
}

/// The account receiving protocol fees and slashed stake.
pub fn treasury() -> Address {
    Address::module("market-treasury")
}

/// The account holding open orders' deposits.
pub fn deposits_account() -> Address {
    Address::module("market-deposits")
}

/// The batch block `height` belongs to.
pub fn batch_of(ctx: &Ctx<'_>, height: u64) -> BatchId {
    height / ctx.env().genesis.params.market.auction_interval_blocks
}

/// A device's reputation in percent (see the module docs).
pub fn reputation(d: &Device) -> u8 {
    let r = d.reputation;
    let score = (u128::from(r.good) + 1) * 100 / (u128::from(r.good) + u128::from(r.bad) + 2);
    score as u8
}

/// The market module.
pub struct Market;

impl Module for Market {
    type Call = MarketCall;

    const STEPS: &'static [Step] = &[
        Step { name: "market-clearing", hint: batch::clearing_hint, run: batch::clearing_step },
        Step {
            name: "market-settlement",
            hint: batch::settlement_hint,
            run: batch::settlement_step,
        },
    ];

    fn hint(call: &MarketCall, signer: &Address, out: &mut Vec<Key>) {
        out.push(keys::counters());
        out.push(keys::totals());
        match call {
            MarketCall::Stake { kind, .. }
            | MarketCall::Unbond { kind, .. }
            | MarketCall::Withdraw { kind } => {
                out.push(keys::stake(*kind, signer));
                out.push(bank::keys::account(&stake_account()));
            }
            MarketCall::Offer { device, kind, region, .. } => {
                out.push(identity::keys::device(device));
                out.push(identity::keys::role(device, signer, roles::SELLER));
                out.push(keys::stake(StakeKind::Provider, signer));
                out.push(keys::market(&market_id(kind, region)));
                out.push(keys::active_markets());
                out.push(keys::open_orders(signer));
                out.push(bank::keys::account(&deposits_account()));
            }
            MarketCall::AmendOffer { offer, .. } => out.push(keys::offer(*offer)),
            MarketCall::CloseOffer { offer } => {
                out.push(keys::offer(*offer));
                out.push(keys::open_orders(signer));
                out.push(bank::keys::account(&deposits_account()));
            }
            MarketCall::Intent { region, components, .. } => {
                out.push(identity::keys::device_of_key(signer));
                out.push(bank::keys::account(&escrow_account()));
                out.extend(components.first().map(|c| keys::market(&market_id(&c.kind, region))));
                out.push(keys::active_markets());
                out.push(keys::open_orders(signer));
                out.push(bank::keys::account(&deposits_account()));
            }
            MarketCall::Cancel { intent } => {
                out.push(keys::intent(*intent));
                out.push(bank::keys::account(&escrow_account()));
                out.push(keys::open_orders(signer));
                out.push(bank::keys::account(&deposits_account()));
            }
            MarketCall::Solve { batch, fills, .. } => {
                out.push(keys::stake(StakeKind::Solver, signer));
                out.push(keys::solution_index(*batch));
                for fill in fills {
                    out.push(keys::intent(fill.intent));
                    out.push(keys::offer(fill.offer));
                }
            }
            MarketCall::Confirm { lease }
            | MarketCall::Deliver { lease, .. }
            | MarketCall::Claim { lease }
            | MarketCall::Dispute { lease } => {
                out.push(keys::lease(*lease));
                out.push(bank::keys::account(&escrow_account()));
                out.push(bank::keys::account(&treasury()));
            }
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &MarketCall) -> ExecResult {
        match call {
            MarketCall::Stake { kind, amount } => stake::stake(ctx, *kind, *amount),
            MarketCall::Unbond { kind, amount } => stake::unbond(ctx, *kind, *amount),
            MarketCall::Withdraw { kind } => stake::withdraw(ctx, *kind),
            MarketCall::Offer { .. } => orders::post_offer(ctx, call),
            MarketCall::CloseOffer { offer } => orders::close_offer(ctx, *offer),
            MarketCall::AmendOffer { offer, floor_price, capacity } => {
                orders::amend_offer(ctx, *offer, *floor_price, *capacity)
            }
            MarketCall::Intent { .. } => orders::post_intent(ctx, call),
            MarketCall::Cancel { intent } => orders::cancel(ctx, *intent),
            MarketCall::Solve { batch, prices, fills } => batch::solve(ctx, *batch, prices, fills),
            MarketCall::Confirm { lease } => leases::confirm(ctx, *lease),
            MarketCall::Deliver { lease, proof } => leases::deliver(ctx, *lease, proof),
            MarketCall::Claim { lease } => leases::claim(ctx, *lease),
            MarketCall::Dispute { lease } => leases::dispute(ctx, *lease),
        }
    }
}

fn totals(ctx: &Ctx<'_>) -> ExecResult<Totals> {
    Ok(ctx.get(&keys::totals())?.unwrap_or_default())
}

/// Updates the running totals. Each total is bounded by the native supply times the number
/// of times value can cycle through the market, far inside `u128`; overflow is a broken
/// invariant.
fn update_totals(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Totals)) -> ExecResult {
    let mut t = totals(ctx)?;
    f(&mut t);
    ctx.put(keys::totals(), &t);
    Ok(())
}

fn counters(ctx: &Ctx<'_>) -> ExecResult<Counters> {
    Ok(ctx.get(&keys::counters())?.unwrap_or_default())
}

fn emit(ctx: &mut Ctx<'_>, event: MarketEvent) -> ExecResult {
    ctx.emit(Event::Market(event))
}
