//! Offers and intents: posting (with a refundable deposit and a per-account cap on open
//! orders), cancelling, closing, and whether an offer may sell.

use super::{
    BOOK_INTENTS_MAX, BOOK_OFFERS_MAX, OPEN_ORDERS_PER_ACCOUNT_MAX, TERM_MAX_MS, counters,
    deposits_account, emit, escrow_account, keys, reputation,
    stake::stake_of,
    state::{self, ActiveMarkets, Intent, MarketRecord, Offer, OrderStatus},
    update_totals,
};
use crate::{
    module::{Ctx, ExecResult},
    modules::{
        bank, data,
        identity::{self, state::Device},
        ownership,
    },
};
use machina_types::{
    Address, Amount, ErrorCode,
    identity::roles,
    market::{
        Delivery, IntentId, MarketCall, MarketEvent, MarketId, OfferId, ResourceKind, StakeKind,
        market_id,
    },
};
use std::collections::BTreeMap;

/// Checks a deadline or expiry is ahead, and not too far.
fn check_term(ctx: &Ctx<'_>, at_ms: u64) -> ExecResult {
    let now = ctx.env().timestamp_ms;
    if at_ms <= now || at_ms - now > TERM_MAX_MS {
        return Err(ErrorCode::BadDeadline.into());
    }
    Ok(())
}

/// The market `id` trading `kind` in `region` (a new record if it has none yet).
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

/// Takes the order deposit from the signer and counts a new open order against its cap.
fn open_order(ctx: &mut Ctx<'_>) -> ExecResult<Amount> {
    let poster = ctx.signer();
    let open: u32 = ctx.get(&keys::open_orders(&poster))?.unwrap_or(0);
    if open >= OPEN_ORDERS_PER_ACCOUNT_MAX {
        return Err(ErrorCode::OrderLimit.into());
    }
    ctx.put(keys::open_orders(&poster), &(open + 1));
    let deposit = ctx.env().genesis.params.market.order_deposit;
    bank::debit(ctx, &poster, deposit)?;
    bank::credit(ctx, &deposits_account(), deposit)?;
    update_totals(ctx, |t| t.deposited += u128::from(deposit))?;
    Ok(deposit)
}

/// What closing orders owes their posters: escrow left in intents and order deposits, and
/// the orders to release from each poster's cap. Summed per account, so that a batch that
/// closes thousands of orders writes each account, the escrow and deposit accounts and the
/// totals once; nothing moves until [`Returns::pay`].
#[derive(Default)]
pub(super) struct Returns {
    escrow: u128,
    deposits: u128,
    /// Per account: what it gets back, and how many of its orders closed.
    owed: BTreeMap<Address, (u128, u32)>,
}

impl Returns {
    /// Owes `amount` of escrow back to `to`.
    pub(super) fn escrow(&mut self, to: &Address, amount: Amount) {
        // Sums of u64 amounts, far fewer than 2^64 of them: no u128 overflow.
        self.escrow += u128::from(amount);
        self.owed.entry(*to).or_default().0 += u128::from(amount);
    }

    /// Owes `poster` the deposit of an order that closed, and a slot under its cap.
    fn closed(&mut self, poster: &Address, deposit: Amount) {
        self.deposits += u128::from(deposit);
        let owed = self.owed.entry(*poster).or_default();
        owed.0 += u128::from(deposit);
        owed.1 += 1;
    }

    /// Pays what is owed and releases the closed orders' slots.
    pub(super) fn pay(self, ctx: &mut Ctx<'_>) -> ExecResult {
        let amount = |v: u128| Amount::try_from(v).map_err(|_| ErrorCode::Overflow);
        for (from, total) in [(escrow_account(), self.escrow), (deposits_account(), self.deposits)]
        {
            if total > 0 {
                bank::debit(ctx, &from, amount(total)?)?;
            }
        }
        for (account, (owed, closed)) in &self.owed {
            if *owed > 0 {
                bank::credit(ctx, account, amount(*owed)?)?;
            }
            if *closed > 0 {
                let open: u32 = ctx.get(&keys::open_orders(account))?.unwrap_or(0);
                match open.checked_sub(*closed).ok_or(ErrorCode::Internal)? {
                    0 => ctx.delete(keys::open_orders(account)),
                    n => ctx.put(keys::open_orders(account), &n),
                }
            }
        }
        if self.owed.is_empty() {
            return Ok(());
        }
        update_totals(ctx, |t| {
            t.refunded += self.escrow;
            t.deposits_returned += self.deposits;
        })
    }
}

/// Whether `seller` may sell `device`'s resources: the device itself (its current key's
/// account), its owner, or an account with the `seller` role on it.
fn may_sell(ctx: &Ctx<'_>, device: &Device, seller: &Address) -> ExecResult<bool> {
    Ok(device.current_key() == *seller || identity::has_role(ctx, device, seller, roles::SELLER)?)
}

pub(super) fn post_offer(ctx: &mut Ctx<'_>, call: &MarketCall) -> ExecResult {
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
        data::open_feed(ctx, *feed)?;
    }
    let mut market = market_for(ctx, kind, region)?;
    if market.offers.len() >= BOOK_OFFERS_MAX {
        return Err(ErrorCode::BookFull.into());
    }
    activate(ctx, &market.id)?;
    let deposit = open_order(ctx)?;
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
        deposit,
    };
    ctx.put(keys::offer(id), &offer);
    emit(ctx, MarketEvent::OfferPosted { offer: id, market: market.id, device: *device_id, seller })
}

pub(super) fn open_offer(ctx: &Ctx<'_>, id: OfferId) -> ExecResult<Offer> {
    let offer: Offer = ctx.get(&keys::offer(id))?.ok_or(ErrorCode::UnknownOffer)?;
    if offer.status != OrderStatus::Open {
        return Err(ErrorCode::UnknownOffer.into());
    }
    Ok(offer)
}

/// Closes an open offer with `status`: out of its book, its deposit returned.
pub(super) fn close_offer_as(
    ctx: &mut Ctx<'_>,
    offer: &mut Offer,
    status: OrderStatus,
    returns: &mut Returns,
) {
    offer.status = status;
    ctx.delete(keys::offer_slot(&offer.market, offer.slot));
    ctx.put(keys::offer(offer.id), &*offer);
    returns.closed(&offer.seller, offer.deposit);
}

pub(super) fn close_offer(ctx: &mut Ctx<'_>, id: OfferId) -> ExecResult {
    let mut offer = open_offer(ctx, id)?;
    if offer.seller != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    let mut returns = Returns::default();
    close_offer_as(ctx, &mut offer, OrderStatus::Cancelled, &mut returns);
    returns.pay(ctx)?;
    emit(ctx, MarketEvent::OfferClosed { offer: id })
}

/// Sets an open offer's floor price and remaining capacity: its seller may, and so may the
/// device's owner (a machine's holders set its prices through a proposal).
pub(super) fn amend_offer(
    ctx: &mut Ctx<'_>,
    id: OfferId,
    floor_price: Amount,
    capacity: u64,
) -> ExecResult {
    let mut offer = open_offer(ctx, id)?;
    let signer = ctx.signer();
    if offer.seller != signer && identity::device(ctx, &offer.device)?.owner != signer {
        return Err(ErrorCode::Unauthorized.into());
    }
    offer.floor_price = floor_price;
    offer.capacity = capacity;
    ctx.put(keys::offer(id), &offer);
    emit(ctx, MarketEvent::OfferAmended { offer: id, floor_price, capacity })
}

pub(super) fn post_intent(ctx: &mut Ctx<'_>, call: &MarketCall) -> ExecResult {
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
    if kinds.len() != components.len() {
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
    let deposit = open_order(ctx)?;
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
        deposit,
    };
    ctx.put(keys::intent(id), &intent);
    emit(ctx, MarketEvent::IntentPosted { intent: id, market: market.id, consumer, escrow })
}

pub(super) fn open_intent(ctx: &Ctx<'_>, id: IntentId) -> ExecResult<Intent> {
    let intent: Intent = ctx.get(&keys::intent(id))?.ok_or(ErrorCode::UnknownIntent)?;
    if intent.status != OrderStatus::Open {
        return Err(ErrorCode::UnknownIntent.into());
    }
    Ok(intent)
}

/// Closes an open intent with `status`: out of its book, its remaining escrow and its
/// deposit returned. Returns the escrow refunded.
pub(super) fn close_intent(
    ctx: &mut Ctx<'_>,
    intent: &mut Intent,
    status: OrderStatus,
    returns: &mut Returns,
) -> Amount {
    let refund = std::mem::take(&mut intent.escrow);
    returns.escrow(&intent.consumer, refund);
    returns.closed(&intent.consumer, intent.deposit);
    intent.status = status;
    ctx.delete(keys::intent_slot(&intent.market, intent.slot));
    ctx.put(keys::intent(intent.id), &*intent);
    refund
}

pub(super) fn cancel(ctx: &mut Ctx<'_>, id: IntentId) -> ExecResult {
    let mut intent = open_intent(ctx, id)?;
    if intent.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    let mut returns = Returns::default();
    let refund = close_intent(ctx, &mut intent, OrderStatus::Cancelled, &mut returns);
    returns.pay(ctx)?;
    emit(ctx, MarketEvent::IntentCancelled { intent: id, refund })
}

/// The offer if it may sell now (open, not expired, device active, seller staked and
/// allowed), with its provider's reputation; its capacity is what it may sell now, less
/// the units the device's usage rights keep from the market.
pub(super) fn saleable(ctx: &Ctx<'_>, mut offer: Offer) -> ExecResult<Option<(Offer, u8)>> {
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
    let reserved = ownership::reserved(ctx, &offer.device, &offer.kind)?;
    if reserved >= offer.capacity {
        return Ok(None);
    }
    offer.capacity -= reserved;
    let score = reputation(&device);
    Ok(Some((offer, score)))
}
