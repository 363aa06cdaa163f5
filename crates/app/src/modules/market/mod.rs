//! The market module: any resource a device has, traded in batch auctions.
//!
//! - **Stake**: providers bond stake to offer, solvers to submit solutions; unbonding waits
//!   `unbonding_blocks`; slashed stake goes to the market treasury.
//! - **Offers** (by the device itself, its owner or a `seller`): resource kind, region,
//!   capacity, floor price per unit, delivery terms, expiry. **Intents** (by any account; by a
//!   device's own account only while the device is active): one resource or a bundle, units,
//!   maximum price per unit, deadline, minimum provider reputation, divisibility; the maximum
//!   cost is escrowed when posted and returned on cancellation or when the deadline lapses.
//! - **Batches**: at every multiple of `auction_interval_blocks`, before the block's
//!   transactions, each market with orders clears at one uniform price ([`clearing`]).
//!   Solutions submitted during the batch are checked again against the final book; the one
//!   adding the most surplus over the built-in clearing of the markets it prices replaces it
//!   there, and its solver earns `solver_reward_bps` of the surplus added, taken from the
//!   consumers' savings. Consumers get back the difference between their escrow and what
//!   they pay at once.
//! - **Leases**: each fill is a lease holding its payment in escrow until delivery is proven
//!   per the offer's terms (the consumer's receipt, a device's signed acknowledgement of an
//!   actuation, or an oracle feed's condition). Delivered: the seller is paid less the
//!   protocol fee and the device's reputation rises. Past the deadline undelivered: the
//!   consumer is refunded, the seller's provider stake is slashed `slash_bps` of the lease's
//!   value, and the reputation falls. A seller may claim delivery under receipt terms, or
//!   under feed terms while the condition holds; unless the consumer disputes within the
//!   dispute window, the claim pays when the window closes. A disputed feed-terms claim is
//!   decided by the oracle: by the feed's condition at the deadline, as if never claimed. A
//!   disputed receipt-terms claim has no evidence beyond the missing receipt: the consumer is
//!   refunded and nobody is slashed.
//!
//! Value is conserved: escrow in = paid + fees + refunds + solver rewards + escrow held,
//! stake in = withdrawn + slashed + stake held ([`state::Totals`]).
//!
//! A provider's reputation, as intents' minimums use it, is `(good + 1) * 100 / (good + bad
//! + 2)` percent of its device's delivered and failed leases (50 for a new device).

pub mod clearing;
pub mod keys;
pub mod state;
#[cfg(test)]
mod tests;

use crate::{
    module::{Ctx, ExecResult, Module},
    modules::{
        bank, data,
        identity::{self, state::Device},
    },
    state::Key,
};
use clearing::{Ask, Bid, Book, Cleared};
use commonware_cryptography::Verifier as _;
use machina_types::{
    Address, Amount, ErrorCode, Event, Hash,
    identity::roles,
    market::{
        ACK_NAMESPACE, BatchId, Delivery, DeliveryProof, Fill, IntentId, LeaseId, MarketCall,
        MarketEvent, MarketId, MarketPrice, OfferId, RECEIPT_NAMESPACE, ResourceKind, StakeKind,
        ack_message, market_id, receipt_message,
    },
};
use state::{
    ActiveMarkets, Counters, DUE_PAGE_LEN, DueCursor, DuePage, Intent, Lease, LeaseStatus,
    MarketRecord, Offer, OrderStatus, Solution, Stake, Totals,
};
use std::collections::BTreeMap;

/// Intents a market's book holds (positions in use, including freed ones not yet passed).
pub const BOOK_INTENTS_MAX: u64 = 4096;
/// Offers a market's book holds.
pub const BOOK_OFFERS_MAX: u64 = 1024;
/// Solutions a batch keeps.
pub const SOLUTIONS_PER_BATCH_MAX: u32 = 16;
/// Longest an offer may stay open, or an intent's deadline be ahead (ms).
pub const TERM_MAX_MS: u64 = 30 * 24 * 3600 * 1000;
/// Due leases settled per block at most (the rest in the next blocks).
pub const SETTLEMENTS_PER_BLOCK_MAX: u64 = 1024;
/// Seconds of due lists walked per block at most.
const DUE_SECONDS_PER_BLOCK_MAX: u64 = 256;

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
            }
            MarketCall::CloseOffer { offer } => out.push(keys::offer(*offer)),
            MarketCall::Intent { region, components, .. } => {
                out.push(identity::keys::device_of_key(signer));
                out.push(bank::keys::account(&escrow_account()));
                out.extend(components.first().map(|c| keys::market(&market_id(&c.kind, region))));
                out.push(keys::active_markets());
            }
            MarketCall::Cancel { intent } => {
                out.push(keys::intent(*intent));
                out.push(bank::keys::account(&escrow_account()));
            }
            MarketCall::Solve { fills, .. } => {
                out.push(keys::stake(StakeKind::Solver, signer));
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
            MarketCall::Stake { kind, amount } => stake(ctx, *kind, *amount),
            MarketCall::Unbond { kind, amount } => unbond(ctx, *kind, *amount),
            MarketCall::Withdraw { kind } => withdraw(ctx, *kind),
            MarketCall::Offer { .. } => post_offer(ctx, call),
            MarketCall::CloseOffer { offer } => close_offer(ctx, *offer),
            MarketCall::Intent { .. } => post_intent(ctx, call),
            MarketCall::Cancel { intent } => cancel(ctx, *intent),
            MarketCall::Solve { batch, prices, fills } => solve(ctx, *batch, prices, fills),
            MarketCall::Confirm { lease } => confirm(ctx, *lease),
            MarketCall::Deliver { lease, proof } => deliver(ctx, *lease, proof),
            MarketCall::Claim { lease } => claim(ctx, *lease),
            MarketCall::Dispute { lease } => dispute(ctx, *lease),
        }
    }
}

fn totals(ctx: &Ctx<'_>) -> ExecResult<Totals> {
    Ok(ctx.get(&keys::totals())?.unwrap_or_default())
}

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

/// An account's stake of one kind.
pub fn stake_of(ctx: &Ctx<'_>, kind: StakeKind, account: &Address) -> ExecResult<Stake> {
    Ok(ctx.get(&keys::stake(kind, account))?.unwrap_or_default())
}

fn store_stake(ctx: &mut Ctx<'_>, kind: StakeKind, account: &Address, s: &Stake) {
    if *s == Stake::default() {
        ctx.delete(keys::stake(kind, account));
    } else {
        ctx.put(keys::stake(kind, account), s);
    }
}

fn stake(ctx: &mut Ctx<'_>, kind: StakeKind, amount: Amount) -> ExecResult {
    let account = ctx.signer();
    bank::debit(ctx, &account, amount)?;
    bank::credit(ctx, &stake_account(), amount)?;
    let mut s = stake_of(ctx, kind, &account)?;
    s.bonded = s.bonded.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    store_stake(ctx, kind, &account, &s);
    update_totals(ctx, |t| t.staked += u128::from(amount))?;
    emit(ctx, MarketEvent::Staked { account, kind, amount })
}

fn unbond(ctx: &mut Ctx<'_>, kind: StakeKind, amount: Amount) -> ExecResult {
    let account = ctx.signer();
    let mut s = stake_of(ctx, kind, &account)?;
    s.bonded = s.bonded.checked_sub(amount).ok_or(ErrorCode::InsufficientStake)?;
    s.unbonding += amount;
    s.release_height = ctx.env().height + ctx.env().genesis.params.market.unbonding_blocks;
    store_stake(ctx, kind, &account, &s);
    let release_height = s.release_height;
    emit(ctx, MarketEvent::Unbonding { account, kind, amount, release_height })
}

fn withdraw(ctx: &mut Ctx<'_>, kind: StakeKind) -> ExecResult {
    let account = ctx.signer();
    let mut s = stake_of(ctx, kind, &account)?;
    if s.unbonding == 0 || ctx.env().height < s.release_height {
        return Err(ErrorCode::NothingToWithdraw.into());
    }
    let amount = std::mem::take(&mut s.unbonding);
    store_stake(ctx, kind, &account, &s);
    bank::debit(ctx, &stake_account(), amount)?;
    bank::credit(ctx, &account, amount)?;
    update_totals(ctx, |t| t.withdrawn += u128::from(amount))?;
    emit(ctx, MarketEvent::Withdrawn { account, kind, amount })
}

/// Takes up to `amount` of `account`'s provider stake (bonded first) to the treasury;
/// returns what was taken.
fn slash(ctx: &mut Ctx<'_>, account: &Address, amount: Amount) -> ExecResult<Amount> {
    let mut s = stake_of(ctx, StakeKind::Provider, account)?;
    let from_bonded = amount.min(s.bonded);
    let from_unbonding = (amount - from_bonded).min(s.unbonding);
    s.bonded -= from_bonded;
    s.unbonding -= from_unbonding;
    store_stake(ctx, StakeKind::Provider, account, &s);
    let taken = from_bonded + from_unbonding;
    bank::debit(ctx, &stake_account(), taken)?;
    bank::credit(ctx, &treasury(), taken)?;
    update_totals(ctx, |t| t.slashed += u128::from(taken))?;
    Ok(taken)
}

/// Checks a deadline or expiry is ahead, and not too far.
fn check_term(ctx: &Ctx<'_>, at_ms: u64) -> ExecResult {
    let now = ctx.env().timestamp_ms;
    if at_ms <= now || at_ms - now > TERM_MAX_MS {
        return Err(ErrorCode::BadDeadline.into());
    }
    Ok(())
}

/// The market `id` trading `kind` in `region`, created (and listed as active) if new.
fn market_for(ctx: &mut Ctx<'_>, kind: &ResourceKind, region: &str) -> ExecResult<MarketRecord> {
    let id = market_id(kind, region);
    if let Some(m) = ctx.get::<MarketRecord>(&keys::market(&id))? {
        return Ok(m);
    }
    Ok(MarketRecord {
        id,
        kind: kind.clone(),
        region: region.to_string(),
        intents: Default::default(),
        offers: Default::default(),
        last_price: None,
        last_batch: None,
        volume: 0,
    })
}

/// Lists `market` as active if it is not.
fn activate(ctx: &mut Ctx<'_>, market: &MarketId) -> ExecResult {
    let mut active: ActiveMarkets = ctx.get(&keys::active_markets())?.unwrap_or_default();
    if !active.markets.contains(market) {
        if active.markets.len() >= state::ACTIVE_MARKETS_MAX {
            return Err(ErrorCode::BookFull.into());
        }
        active.markets.push(*market);
        ctx.put(keys::active_markets(), &active);
    }
    Ok(())
}

/// Whether `seller` may sell `device`'s resources: the device itself (its current key's
/// account), its owner, or an account with the `seller` role on it.
fn may_sell(ctx: &Ctx<'_>, device: &Device, seller: &Address) -> ExecResult<bool> {
    Ok(device.current_key() == *seller || identity::has_role(ctx, device, seller, roles::SELLER)?)
}

fn post_offer(ctx: &mut Ctx<'_>, call: &MarketCall) -> ExecResult {
    let MarketCall::Offer {
        device: device_id,
        kind,
        region,
        capacity,
        floor_price,
        delivery,
        expiry_ms,
    } = call
    else {
        unreachable!("post_offer takes offers")
    };
    let seller = ctx.signer();
    let device = identity::active_device(ctx, device_id)?;
    if !may_sell(ctx, &device, &seller)? {
        return Err(ErrorCode::Unauthorized.into());
    }
    let params = &ctx.env().genesis.params.market;
    if stake_of(ctx, StakeKind::Provider, &seller)?.bonded < params.min_provider_stake {
        return Err(ErrorCode::InsufficientStake.into());
    }
    check_term(ctx, *expiry_ms)?;
    if let Delivery::Feed { feed, .. } = delivery {
        data::feed(ctx, *feed)?;
    }
    let mut market = market_for(ctx, kind, region)?;
    if market.offers.len() >= BOOK_OFFERS_MAX {
        return Err(ErrorCode::BookFull.into());
    }
    activate(ctx, &market.id)?;
    let mut counters = counters(ctx)?;
    let id = counters.next_offer;
    counters.next_offer += 1;
    ctx.put(keys::counters(), &counters);
    let slot = market.offers.tail;
    market.offers.tail += 1;
    ctx.put(keys::offer_slot(&market.id, slot), &id);
    ctx.put(keys::market(&market.id), &market);
    let offer = Offer {
        id,
        seller,
        device: *device_id,
        kind: kind.clone(),
        region: region.clone(),
        market: market.id,
        capacity: *capacity,
        sold: 0,
        floor_price: *floor_price,
        delivery: delivery.clone(),
        expiry_ms: *expiry_ms,
        status: OrderStatus::Open,
        created_height: ctx.env().height,
        slot,
        tiebreak: ctx.origin(),
    };
    ctx.put(keys::offer(id), &offer);
    emit(ctx, MarketEvent::OfferPosted { offer: id, market: market.id, device: *device_id, seller })
}

fn open_offer(ctx: &Ctx<'_>, id: OfferId) -> ExecResult<Offer> {
    let offer: Offer = ctx.get(&keys::offer(id))?.ok_or(ErrorCode::UnknownOffer)?;
    if offer.status != OrderStatus::Open {
        return Err(ErrorCode::UnknownOffer.into());
    }
    Ok(offer)
}

fn close_offer(ctx: &mut Ctx<'_>, id: OfferId) -> ExecResult {
    let mut offer = open_offer(ctx, id)?;
    if offer.seller != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    offer.status = OrderStatus::Cancelled;
    ctx.delete(keys::offer_slot(&offer.market, offer.slot));
    ctx.put(keys::offer(id), &offer);
    emit(ctx, MarketEvent::OfferClosed { offer: id })
}

fn post_intent(ctx: &mut Ctx<'_>, call: &MarketCall) -> ExecResult {
    let MarketCall::Intent {
        region,
        components,
        units,
        max_price,
        deadline_ms,
        min_reputation,
        partial,
    } = call
    else {
        unreachable!("post_intent takes intents")
    };
    let consumer = ctx.signer();
    // A device buying from its own account must be active.
    if let Some(code) =
        identity::device_of_account(ctx, &consumer)?.and_then(|d| d.status.refusal())
    {
        return Err(code.into());
    }
    let mut kinds: Vec<&ResourceKind> = components.iter().map(|c| &c.kind).collect();
    kinds.sort();
    kinds.dedup();
    if kinds.len() != components.len() || *min_reputation > 100 {
        return Err(ErrorCode::InvalidCall.into());
    }
    check_term(ctx, *deadline_ms)?;
    let escrow = units.checked_mul(*max_price).ok_or(ErrorCode::Overflow)?;
    bank::debit(ctx, &consumer, escrow)?;
    bank::credit(ctx, &escrow_account(), escrow)?;
    update_totals(ctx, |t| t.escrowed += u128::from(escrow))?;
    let mut market = market_for(ctx, &components[0].kind, region)?;
    if market.intents.len() >= BOOK_INTENTS_MAX {
        return Err(ErrorCode::BookFull.into());
    }
    activate(ctx, &market.id)?;
    let mut counters = counters(ctx)?;
    let id = counters.next_intent;
    counters.next_intent += 1;
    ctx.put(keys::counters(), &counters);
    let slot = market.intents.tail;
    market.intents.tail += 1;
    ctx.put(keys::intent_slot(&market.id, slot), &id);
    ctx.put(keys::market(&market.id), &market);
    let intent = Intent {
        id,
        consumer,
        region: region.clone(),
        components: components.clone(),
        market: market.id,
        units: *units,
        filled: 0,
        max_price: *max_price,
        deadline_ms: *deadline_ms,
        min_reputation: *min_reputation,
        partial: *partial,
        escrow,
        status: OrderStatus::Open,
        created_height: ctx.env().height,
        slot,
        tiebreak: ctx.origin(),
    };
    ctx.put(keys::intent(id), &intent);
    emit(ctx, MarketEvent::IntentPosted { intent: id, market: market.id, consumer, escrow })
}

fn open_intent(ctx: &Ctx<'_>, id: IntentId) -> ExecResult<Intent> {
    let intent: Intent = ctx.get(&keys::intent(id))?.ok_or(ErrorCode::UnknownIntent)?;
    if intent.status != OrderStatus::Open {
        return Err(ErrorCode::UnknownIntent.into());
    }
    Ok(intent)
}

/// Closes an open intent with `status`, returning its remaining escrow; returns the refund.
fn close_intent(ctx: &mut Ctx<'_>, intent: &mut Intent, status: OrderStatus) -> ExecResult<Amount> {
    let refund = std::mem::take(&mut intent.escrow);
    bank::debit(ctx, &escrow_account(), refund)?;
    bank::credit(ctx, &intent.consumer, refund)?;
    update_totals(ctx, |t| t.refunded += u128::from(refund))?;
    intent.status = status;
    ctx.delete(keys::intent_slot(&intent.market, intent.slot));
    ctx.put(keys::intent(intent.id), &*intent);
    Ok(refund)
}

fn cancel(ctx: &mut Ctx<'_>, id: IntentId) -> ExecResult {
    let mut intent = open_intent(ctx, id)?;
    if intent.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    let refund = close_intent(ctx, &mut intent, OrderStatus::Cancelled)?;
    emit(ctx, MarketEvent::IntentCancelled { intent: id, refund })
}

/// The offer `id` if it may sell now (open, not expired, device active, seller staked and
/// allowed), with its provider's reputation.
fn saleable(ctx: &Ctx<'_>, offer: Offer) -> ExecResult<Option<(Offer, u8)>> {
    let now = ctx.env().timestamp_ms;
    if offer.status != OrderStatus::Open || offer.expiry_ms <= now {
        return Ok(None);
    }
    let Some(device) = ctx.get::<Device>(&identity::keys::device(&offer.device))? else {
        return Ok(None);
    };
    let min_stake = ctx.env().genesis.params.market.min_provider_stake;
    if device.status.refusal().is_some()
        || stake_of(ctx, StakeKind::Provider, &offer.seller)?.bonded < min_stake
        || !may_sell(ctx, &device, &offer.seller)?
    {
        return Ok(None);
    }
    let score = reputation(&device);
    Ok(Some((offer, score)))
}

fn solve(ctx: &mut Ctx<'_>, batch: BatchId, prices: &[MarketPrice], fills: &[Fill]) -> ExecResult {
    let solver = ctx.signer();
    let min_stake = ctx.env().genesis.params.market.min_solver_stake;
    if stake_of(ctx, StakeKind::Solver, &solver)?.bonded < min_stake {
        return Err(ErrorCode::InsufficientStake.into());
    }
    if batch != batch_of(ctx, ctx.env().height) {
        return Err(ErrorCode::WrongBatch.into());
    }
    let count: u32 = ctx.get(&keys::solution_count(batch))?.unwrap_or(0);
    if count >= SOLUTIONS_PER_BATCH_MAX {
        return Err(ErrorCode::SolutionLimit.into());
    }
    let now = ctx.env().timestamp_ms;
    let mut book = Book::default();
    for fill in fills {
        if let std::collections::btree_map::Entry::Vacant(e) = book.intents.entry(fill.intent) {
            let intent = open_intent(ctx, fill.intent)?;
            if intent.deadline_ms <= now {
                return Err(ErrorCode::UnknownIntent.into());
            }
            e.insert(intent);
        }
        if let std::collections::btree_map::Entry::Vacant(e) = book.offers.entry(fill.offer) {
            let offer = open_offer(ctx, fill.offer)?;
            e.insert(saleable(ctx, offer)?.ok_or(ErrorCode::UnknownOffer)?);
        }
    }
    let evaluated = clearing::evaluate(&book, prices, fills)?;
    let solution =
        Solution { solver, prices: prices.to_vec(), fills: fills.to_vec(), tiebreak: ctx.origin() };
    ctx.put(keys::solution(batch, count), &solution);
    ctx.put(keys::solution_count(batch), &(count + 1));
    emit(ctx, MarketEvent::SolutionSubmitted { batch, solver, surplus: evaluated.surplus })
}

fn lease(ctx: &Ctx<'_>, id: LeaseId) -> ExecResult<Lease> {
    Ok(ctx.get(&keys::lease(id))?.ok_or(ErrorCode::UnknownLease)?)
}

fn open_lease(ctx: &Ctx<'_>, id: LeaseId) -> ExecResult<Lease> {
    let l = lease(ctx, id)?;
    if !l.status.is_open() {
        return Err(ErrorCode::LeaseSettled.into());
    }
    Ok(l)
}

/// Pays a lease's escrow to its seller, less the protocol fee.
fn pay(ctx: &mut Ctx<'_>, mut l: Lease) -> ExecResult {
    let fee_bps = ctx.env().genesis.params.market.protocol_fee_bps;
    let fee = (u128::from(l.escrow) * u128::from(fee_bps) / 10_000) as Amount;
    let paid = l.escrow - fee;
    bank::debit(ctx, &escrow_account(), l.escrow)?;
    bank::credit(ctx, &l.seller, paid)?;
    bank::credit(ctx, &treasury(), fee)?;
    update_totals(ctx, |t| {
        t.paid += u128::from(paid);
        t.fees += u128::from(fee);
    })?;
    l.status = LeaseStatus::Delivered;
    l.settled_height = Some(ctx.env().height);
    ctx.put(keys::lease(l.id), &l);
    identity::record_reputation(ctx, &l.device, true)?;
    emit(ctx, MarketEvent::Delivered { lease: l.id, paid, fee })
}

/// Returns a lease's escrow to its consumer; with `slash`, takes `slash_bps` of its value
/// from the seller's provider stake and lowers the device's reputation.
fn refund(ctx: &mut Ctx<'_>, mut l: Lease, slash_seller: bool) -> ExecResult {
    bank::debit(ctx, &escrow_account(), l.escrow)?;
    bank::credit(ctx, &l.consumer, l.escrow)?;
    update_totals(ctx, |t| t.refunded += u128::from(l.escrow))?;
    let slashed = if slash_seller {
        let bps = ctx.env().genesis.params.market.slash_bps;
        let amount = (u128::from(l.escrow) * u128::from(bps) / 10_000) as Amount;
        identity::record_reputation(ctx, &l.device, false)?;
        slash(ctx, &l.seller, amount)?
    } else {
        0
    };
    l.status = LeaseStatus::Refunded;
    l.settled_height = Some(ctx.env().height);
    ctx.put(keys::lease(l.id), &l);
    emit(ctx, MarketEvent::Refunded { lease: l.id, refund: l.escrow, slashed })
}

fn confirm(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let l = open_lease(ctx, id)?;
    if l.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    pay(ctx, l)
}

fn deliver(ctx: &mut Ctx<'_>, id: LeaseId, proof: &DeliveryProof) -> ExecResult {
    let l = open_lease(ctx, id)?;
    let chain_id = &ctx.env().genesis.chain_id;
    let verified = match proof {
        DeliveryProof::ConsumerReceipt { signature } => {
            let key = l.consumer.public_key().ok_or(ErrorCode::BadDeliveryProof)?;
            key.verify(RECEIPT_NAMESPACE, &receipt_message(chain_id, id), signature)
        }
        DeliveryProof::DeviceAck { signature } => {
            let ResourceKind::Actuation { command } = &l.kind else {
                return Err(ErrorCode::WrongDelivery.into());
            };
            let device = identity::device(ctx, &l.device)?;
            let key = device.current_key().public_key().ok_or(ErrorCode::BadDeliveryProof)?;
            let message = ack_message(chain_id, id, command);
            key.verify(ACK_NAMESPACE, &message, signature)
        }
    };
    if !verified {
        return Err(ErrorCode::BadDeliveryProof.into());
    }
    pay(ctx, l)
}

/// The current value of a feed condition: `Some(holds)`, or `None` without a fresh value.
fn feed_condition(ctx: &Ctx<'_>, delivery: &Delivery) -> ExecResult<Option<bool>> {
    let Delivery::Feed { feed, comparison, threshold } = delivery else {
        return Ok(None);
    };
    let Some(f) = ctx.get::<data::state::Feed>(&data::keys::feed(*feed))? else {
        return Ok(None);
    };
    Ok(f.value_at(ctx.env().timestamp_ms).map(|v| comparison.holds(v, *threshold)))
}

fn claim(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let mut l = open_lease(ctx, id)?;
    if l.seller != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    if l.status != LeaseStatus::Active {
        return Err(ErrorCode::LeaseSettled.into());
    }
    match l.delivery {
        Delivery::Receipt => {}
        Delivery::Feed { .. } => {
            if feed_condition(ctx, &l.delivery)? != Some(true) {
                return Err(ErrorCode::ConditionUnmet.into());
            }
        }
        Delivery::DeviceAck => return Err(ErrorCode::WrongDelivery.into()),
    }
    let now = ctx.env().timestamp_ms;
    l.status = LeaseStatus::Claimed { at_ms: now };
    ctx.put(keys::lease(id), &l);
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    add_due(ctx, &mut BTreeMap::from([((now + window) / 1000, vec![id])]))?;
    emit(ctx, MarketEvent::Claimed { lease: id })
}

/// The consumer contests a claimed delivery within the dispute window. Under feed terms the
/// oracle decides: the lease settles by its feed condition at the deadline (at once when the
/// deadline has passed). Under receipt terms there is no evidence beyond the missing receipt:
/// the consumer is refunded and nobody is slashed.
fn dispute(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let mut l = open_lease(ctx, id)?;
    if l.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    let now = ctx.env().timestamp_ms;
    match l.status {
        LeaseStatus::Claimed { at_ms } if now < at_ms + window => {}
        _ => return Err(ErrorCode::DisputeClosed.into()),
    }
    emit(ctx, MarketEvent::Disputed { lease: id })?;
    match l.delivery {
        Delivery::Feed { .. } if now < l.deadline_ms => {
            // Already in the due list of its deadline's second.
            l.status = LeaseStatus::Disputed;
            ctx.put(keys::lease(id), &l);
            Ok(())
        }
        Delivery::Feed { .. } => settle_by_feed(ctx, l),
        _ => refund(ctx, l, false),
    }
}

/// Appends leases to the due lists of their seconds.
fn add_due(ctx: &mut Ctx<'_>, due: &mut BTreeMap<u64, Vec<LeaseId>>) -> ExecResult {
    for (second, leases) in due.iter_mut() {
        let mut count: u64 = ctx.get(&keys::due_count(*second))?.unwrap_or(0);
        let mut page_no = count / DUE_PAGE_LEN;
        let mut page: DuePage = ctx.get(&keys::due_page(*second, page_no))?.unwrap_or_default();
        for id in leases.drain(..) {
            if page.leases.len() as u64 == DUE_PAGE_LEN {
                ctx.put(keys::due_page(*second, page_no), &page);
                page_no += 1;
                page = DuePage::default();
            }
            page.leases.push(id);
            count += 1;
        }
        ctx.put(keys::due_page(*second, page_no), &page);
        ctx.put(keys::due_count(*second), &count);
    }
    Ok(())
}

/// The block-level step: clears the batch that just ended (at every multiple of the auction
/// interval), then settles the leases that fell due. Runs before the block's transactions.
pub fn begin_block(ctx: &mut Ctx<'_>) -> ExecResult {
    let interval = ctx.env().genesis.params.market.auction_interval_blocks;
    let height = ctx.env().height;
    if height >= interval && height.is_multiple_of(interval) {
        clear_batch(ctx, height / interval - 1)?;
    }
    settle_due(ctx)
}

/// Keys the block-level step reads first.
pub fn begin_hints(height: u64, interval: u64) -> Vec<Key> {
    let mut out = vec![keys::due_cursor()];
    if height >= interval && height.is_multiple_of(interval) {
        out.extend([keys::active_markets(), keys::counters(), keys::totals()]);
        out.push(keys::solution_count(height / interval - 1));
    }
    out
}

/// One market's open orders at clearing time.
struct MarketBook {
    record: MarketRecord,
    intents: Vec<IntentId>,
    offers: Vec<OfferId>,
}

/// Loads a market's book: closes orders past their deadline or expiry, advances the book's
/// head past freed positions, and adds the open orders to `book`.
fn load_market(
    ctx: &mut Ctx<'_>,
    id: &MarketId,
    book: &mut Book,
) -> ExecResult<Option<MarketBook>> {
    let Some(mut record) = ctx.get::<MarketRecord>(&keys::market(id))? else {
        return Ok(None);
    };
    let now = ctx.env().timestamp_ms;
    let mut intents = Vec::new();
    let mut front_free = true;
    for slot in record.intents.head..record.intents.tail {
        let Some(intent_id) = ctx.get::<IntentId>(&keys::intent_slot(id, slot))? else {
            if front_free {
                record.intents.head = slot + 1;
            }
            continue;
        };
        let Some(mut intent) = ctx.get::<Intent>(&keys::intent(intent_id))? else { continue };
        if intent.deadline_ms <= now {
            close_intent(ctx, &mut intent, OrderStatus::Expired)?;
            if front_free {
                record.intents.head = slot + 1;
            }
            continue;
        }
        front_free = false;
        intents.push(intent_id);
        book.intents.insert(intent_id, intent);
    }
    let mut offers = Vec::new();
    let mut front_free = true;
    for slot in record.offers.head..record.offers.tail {
        let Some(offer_id) = ctx.get::<OfferId>(&keys::offer_slot(id, slot))? else {
            if front_free {
                record.offers.head = slot + 1;
            }
            continue;
        };
        let Some(mut offer) = ctx.get::<Offer>(&keys::offer(offer_id))? else { continue };
        if offer.expiry_ms <= now {
            offer.status = OrderStatus::Expired;
            ctx.delete(keys::offer_slot(id, slot));
            ctx.put(keys::offer(offer_id), &offer);
            if front_free {
                record.offers.head = slot + 1;
            }
            continue;
        }
        front_free = false;
        if let Some(sale) = saleable(ctx, offer)? {
            offers.push(offer_id);
            book.offers.insert(offer_id, sale);
        }
    }
    Ok(Some(MarketBook { record, intents, offers }))
}

/// Clears batch `batch`: every active market's built-in auction, replaced where the best
/// solution adds surplus; then settles the fills into leases.
fn clear_batch(ctx: &mut Ctx<'_>, batch: BatchId) -> ExecResult {
    let mut active: ActiveMarkets = ctx.get(&keys::active_markets())?.unwrap_or_default();
    if active.markets.is_empty() {
        return Ok(());
    }
    let mut book = Book::default();
    let mut markets: BTreeMap<MarketId, MarketBook> = BTreeMap::new();
    for id in &active.markets {
        if let Some(m) = load_market(ctx, id, &mut book)? {
            markets.insert(*id, m);
        }
    }

    // The built-in clearing of each market (plain intents only).
    let mut builtin: BTreeMap<MarketId, Cleared> = BTreeMap::new();
    for (id, m) in &markets {
        let bids: Vec<Bid> = m
            .intents
            .iter()
            .map(|i| &book.intents[i])
            .filter(|i| i.is_simple())
            .map(Bid::of)
            .collect();
        let asks: Vec<Ask> = m
            .offers
            .iter()
            .map(|o| &book.offers[o])
            .map(|(o, reputation)| Ask::of(o, *reputation))
            .collect();
        if let Some(cleared) = clearing::clear(&bids, &asks) {
            builtin.insert(*id, cleared);
        }
    }

    // The best solution, if it adds surplus where it trades.
    let count: u32 = ctx.get(&keys::solution_count(batch))?.unwrap_or(0);
    let mut best: Option<(u128, Hash, Solution, clearing::Evaluated)> = None;
    for index in 0..count {
        let Some(solution) = ctx.get::<Solution>(&keys::solution(batch, index))? else { continue };
        let Ok(evaluated) = clearing::evaluate(&book, &solution.prices, &solution.fills) else {
            continue;
        };
        let replaced: u128 =
            evaluated.markets.iter().filter_map(|m| builtin.get(m)).map(|c| c.surplus).sum();
        let Some(added) = evaluated.surplus.checked_sub(replaced).filter(|a| *a > 0) else {
            continue;
        };
        let better = best
            .as_ref()
            .is_none_or(|(a, t, ..)| added > *a || (added == *a && solution.tiebreak < *t));
        if better {
            best = Some((added, solution.tiebreak, solution, evaluated));
        }
    }

    // What trades: per market, a price and fills.
    let mut trades: BTreeMap<MarketId, (Amount, Vec<Fill>, Option<Address>)> =
        builtin.into_iter().map(|(id, c)| (id, (c.price, c.fills, None))).collect();
    let mut reward = None;
    if let Some((added, _, solution, evaluated)) = best {
        let price_of: BTreeMap<MarketId, Amount> =
            solution.prices.iter().map(|p| (p.market, p.price)).collect();
        for market in &evaluated.markets {
            trades.insert(*market, (price_of[market], Vec::new(), Some(solution.solver)));
        }
        for fill in &solution.fills {
            let market = book.offers[&fill.offer].0.market;
            trades.get_mut(&market).expect("priced").1.push(fill.clone());
        }
        let amount = added * u128::from(ctx.env().genesis.params.market.solver_reward_bps) / 10_000;
        reward = Some((solution.solver, evaluated.markets, amount));
    }

    settle_trades(ctx, batch, &mut book, trades, reward)?;

    // Write back the books (heads advanced, trade statistics kept); forget markets whose
    // books are empty.
    for (id, m) in &markets {
        let mut record = m.record.clone();
        if let Some(traded) = ctx.get::<MarketRecord>(&keys::market(id))? {
            record.last_price = traded.last_price;
            record.last_batch = traded.last_batch;
            record.volume = traded.volume;
        }
        ctx.put(keys::market(id), &record);
    }
    active.markets.retain(|id| {
        markets.get(id).is_some_and(|m| !m.record.intents.is_empty() || !m.record.offers.is_empty())
    });
    ctx.put(keys::active_markets(), &active);
    Ok(())
}

/// Turns each market's fills into leases; charges consumers, refunds their savings (less the
/// solver's reward), updates intents, offers and market records.
fn settle_trades(
    ctx: &mut Ctx<'_>,
    batch: BatchId,
    book: &mut Book,
    trades: BTreeMap<MarketId, (Amount, Vec<Fill>, Option<Address>)>,
    reward: Option<(Address, std::collections::BTreeSet<MarketId>, u128)>,
) -> ExecResult {
    let mut counters = counters(ctx)?;
    let mut due: BTreeMap<u64, Vec<LeaseId>> = BTreeMap::new();
    let mut lease_index: BTreeMap<Address, Vec<LeaseId>> = BTreeMap::new();
    // Per intent: units per market and cost.
    let mut got: BTreeMap<IntentId, (BTreeMap<MarketId, u64>, u128)> = BTreeMap::new();
    let height = ctx.env().height;
    for (market, (price, fills, solver)) in &trades {
        if fills.is_empty() {
            continue;
        }
        let first_lease = counters.next_lease;
        let mut units_traded = 0u64;
        for fill in fills {
            let intent = &book.intents[&fill.intent];
            let (offer, _) = book.offers.get_mut(&fill.offer).expect("validated offer");
            let id = counters.next_lease;
            counters.next_lease += 1;
            let escrow = fill.units.checked_mul(*price).ok_or(ErrorCode::Overflow)?;
            let lease = Lease {
                id,
                intent: intent.id,
                offer: offer.id,
                batch,
                consumer: intent.consumer,
                seller: offer.seller,
                device: offer.device,
                kind: offer.kind.clone(),
                units: fill.units,
                price: *price,
                escrow,
                delivery: offer.delivery.clone(),
                deadline_ms: intent.deadline_ms,
                status: LeaseStatus::Active,
                created_height: height,
                settled_height: None,
            };
            ctx.put(keys::lease(id), &lease);
            due.entry(intent.deadline_ms / 1000).or_default().push(id);
            lease_index.entry(intent.consumer).or_default().push(id);
            if offer.seller != intent.consumer {
                lease_index.entry(offer.seller).or_default().push(id);
            }
            offer.capacity -= fill.units;
            offer.sold += fill.units;
            let entry = got.entry(intent.id).or_default();
            *entry.0.entry(*market).or_default() += fill.units;
            entry.1 += u128::from(escrow);
            units_traded += fill.units;
        }
        let mut record: MarketRecord =
            ctx.get(&keys::market(market))?.ok_or(ErrorCode::InvalidCall)?;
        record.last_price = Some(*price);
        record.last_batch = Some(batch);
        record.volume += units_traded;
        ctx.put(keys::market(market), &record);
        emit(
            ctx,
            MarketEvent::MarketCleared {
                batch,
                market: *market,
                price: *price,
                units: units_traded,
                first_lease,
                leases: (counters.next_lease - first_lease) as u32,
                solver: *solver,
            },
        )?;
    }
    ctx.put(keys::counters(), &counters);

    // Offers: write back, closing those sold out.
    let touched: std::collections::BTreeSet<OfferId> =
        trades.values().flat_map(|(_, fills, _)| fills.iter().map(|f| f.offer)).collect();
    for id in touched {
        let (offer, _) = &mut book.offers.get_mut(&id).expect("validated offer");
        if offer.capacity == 0 {
            offer.status = OrderStatus::Filled;
            ctx.delete(keys::offer_slot(&offer.market, offer.slot));
        }
        ctx.put(keys::offer(id), &*offer);
    }

    // Intents: charge, refund savings, take the solver's reward from them.
    let mut savings: Vec<(IntentId, u128, bool)> = Vec::new();
    for (id, (units_by_market, cost)) in &got {
        let intent = &book.intents[id];
        let bundles = clearing::bundles_filled(intent, units_by_market)
            .map_err(|_| ErrorCode::FillMismatch)?;
        let used = u128::from(bundles) * u128::from(intent.max_price);
        let in_solution = reward
            .as_ref()
            .is_some_and(|(_, markets, _)| units_by_market.keys().any(|m| markets.contains(m)));
        savings.push((*id, used - cost, in_solution));
        let intent = book.intents.get_mut(id).expect("loaded intent");
        intent.units -= bundles;
        intent.filled += bundles;
        intent.escrow -= used as Amount;
    }
    let (solver, rewards) = match &reward {
        Some((solver, _, reward)) => {
            let pool: u128 = savings.iter().filter(|s| s.2).map(|s| s.1).sum();
            let total = (*reward).min(pool);
            let shares: BTreeMap<IntentId, u128> = savings
                .iter()
                .filter(|s| s.2 && pool > 0)
                .map(|(id, saving, _)| (*id, total * saving / pool))
                .collect();
            (Some(*solver), shares)
        }
        None => (None, BTreeMap::new()),
    };
    let mut rewarded = 0u128;
    for (id, saving, _) in savings {
        let share = rewards.get(&id).copied().unwrap_or(0);
        rewarded += share;
        let back = (saving - share) as Amount;
        let intent = book.intents.get_mut(&id).expect("loaded intent");
        bank::debit(ctx, &escrow_account(), back)?;
        bank::credit(ctx, &intent.consumer, back)?;
        update_totals(ctx, |t| t.refunded += u128::from(back))?;
        if intent.units == 0 {
            intent.status = OrderStatus::Filled;
            ctx.delete(keys::intent_slot(&intent.market, intent.slot));
        }
        let intent = intent.clone();
        ctx.put(keys::intent(id), &intent);
    }
    if let Some(solver) = solver.filter(|_| rewarded > 0) {
        let amount = rewarded as Amount;
        bank::debit(ctx, &escrow_account(), amount)?;
        bank::credit(ctx, &solver, amount)?;
        update_totals(ctx, |t| t.solver_rewards += rewarded)?;
    }

    // Indexes: leases by account, and by the second they fall due.
    for (account, leases) in lease_index {
        let mut count: u64 = ctx.get(&keys::lease_count(&account))?.unwrap_or(0);
        for id in leases {
            ctx.put(keys::account_lease(&account, count), &id);
            count += 1;
        }
        ctx.put(keys::lease_count(&account), &count);
    }
    add_due(ctx, &mut due)
}

/// Settles leases whose deadline (or dispute window) has passed, in the order they fell due,
/// at most [`SETTLEMENTS_PER_BLOCK_MAX`] per block.
fn settle_due(ctx: &mut Ctx<'_>) -> ExecResult {
    let now = ctx.env().timestamp_ms;
    let now_second = now / 1000;
    let mut cursor: DueCursor =
        ctx.get(&keys::due_cursor())?.unwrap_or(DueCursor { second: now_second, offset: 0 });
    let start = cursor;
    let (mut settled, mut walked) = (0, 0);
    while cursor.second < now_second
        && settled < SETTLEMENTS_PER_BLOCK_MAX
        && walked < DUE_SECONDS_PER_BLOCK_MAX
    {
        let count: u64 = ctx.get(&keys::due_count(cursor.second))?.unwrap_or(0);
        let mut page: Option<(u64, DuePage)> = None;
        while cursor.offset < count && settled < SETTLEMENTS_PER_BLOCK_MAX {
            let page_no = cursor.offset / DUE_PAGE_LEN;
            if page.as_ref().is_none_or(|(n, _)| *n != page_no) {
                let p = ctx.get(&keys::due_page(cursor.second, page_no))?.unwrap_or_default();
                page = Some((page_no, p));
            }
            let index = (cursor.offset % DUE_PAGE_LEN) as usize;
            if let Some(&id) = page.as_ref().and_then(|(_, p)| p.leases.get(index)) {
                settle_if_due(ctx, id)?;
            }
            cursor.offset += 1;
            settled += 1;
        }
        if cursor.offset >= count {
            cursor = DueCursor { second: cursor.second + 1, offset: 0 };
            walked += 1;
        }
    }
    if cursor != start || ctx.get::<DueCursor>(&keys::due_cursor())?.is_none() {
        ctx.put(keys::due_cursor(), &cursor);
    }
    Ok(())
}

fn settle_if_due(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let Some(l) = ctx.get::<Lease>(&keys::lease(id))? else { return Ok(()) };
    let now = ctx.env().timestamp_ms;
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    match l.status {
        LeaseStatus::Claimed { at_ms } if now >= at_ms + window => pay(ctx, l),
        LeaseStatus::Active | LeaseStatus::Disputed if now >= l.deadline_ms => {
            settle_by_feed(ctx, l)
        }
        _ => Ok(()),
    }
}

/// Settles an undelivered lease past its deadline: under feed terms by the feed's condition
/// (paid when it holds, refunded and the seller slashed when it fails, refunded without
/// slashing when the feed has no fresh value); otherwise refunded and the seller slashed.
fn settle_by_feed(ctx: &mut Ctx<'_>, l: Lease) -> ExecResult {
    match feed_condition(ctx, &l.delivery)? {
        Some(true) => pay(ctx, l),
        Some(false) => refund(ctx, l, true),
        None if matches!(l.delivery, Delivery::Feed { .. }) => refund(ctx, l, false),
        None => refund(ctx, l, true),
    }
}
