//! Batches: solutions submitted during a batch, and the two block-level steps: clearing the
//! batch that just ended (built-in auctions, the best solution, leases made) and settling
//! the leases that fell due.

use super::{
    SETTLEMENTS_PER_BLOCK_MAX, SOLUTIONS_PER_BATCH_MAX, batch_of,
    clearing::{self, Ask, Bid, Book, Cleared, Evaluated},
    counters, emit, escrow_account, keys, leases,
    orders::{Returns, close_intent, close_offer_as, open_intent, open_offer, saleable},
    stake::{lock_stake, slash_amount, stake_of},
    state::{
        ActiveMarkets, DUE_PAGE_LEN, DueCursor, DuePage, Intent, Lease, LeaseStatus, MarketRecord,
        Offer, OrderStatus, Solution, SolutionEntry, SolutionIndex,
    },
    update_totals,
};
use crate::{
    module::{BlockEnv, Ctx, ExecResult},
    modules::bank,
    state::Key,
};
use machina_types::{
    Address, Amount, ErrorCode,
    market::{
        BatchId, Fill, IntentId, LeaseId, MarketEvent, MarketId, MarketPrice, OfferId, StakeKind,
    },
};
use std::collections::{BTreeMap, BTreeSet};

/// Seconds of due lists walked per block at most.
const DUE_SECONDS_PER_BLOCK_MAX: u64 = 256;

pub(super) fn solve(
    ctx: &mut Ctx<'_>,
    batch: BatchId,
    prices: &[MarketPrice],
    fills: &[Fill],
) -> ExecResult {
    let solver = ctx.signer();
    let min_stake = ctx.env().genesis.params.market.min_solver_stake;
    if stake_of(ctx, StakeKind::Solver, &solver)?.bonded < min_stake {
        return Err(ErrorCode::InsufficientStake.into());
    }
    if batch != batch_of(ctx, ctx.env().height) {
        return Err(ErrorCode::WrongBatch.into());
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
    let mut index: SolutionIndex = ctx.get(&keys::solution_index(batch))?.unwrap_or_default();
    let slot = solution_slot(&index, solver, evaluated.surplus)?;
    let entry = SolutionEntry { solver, surplus: evaluated.surplus };
    match index.entries.get_mut(slot) {
        Some(existing) => *existing = entry,
        None => index.entries.push(entry),
    }
    let solution =
        Solution { solver, prices: prices.to_vec(), fills: fills.to_vec(), tiebreak: ctx.origin() };
    ctx.put(keys::solution(batch, slot as u32), &solution);
    ctx.put(keys::solution_index(batch), &index);
    emit(ctx, MarketEvent::SolutionSubmitted { batch, solver, surplus: evaluated.surplus })
}

/// Where a solution of `surplus` by `solver` goes: its solver's slot if it beats that
/// solver's earlier one, a free slot, or the slot of the worst solution it beats.
fn solution_slot(index: &SolutionIndex, solver: Address, surplus: u128) -> ExecResult<usize> {
    if let Some(slot) = index.entries.iter().position(|e| e.solver == solver) {
        return match surplus > index.entries[slot].surplus {
            true => Ok(slot),
            false => Err(ErrorCode::NoImprovement.into()),
        };
    }
    if index.entries.len() < SOLUTIONS_PER_BATCH_MAX {
        return Ok(index.entries.len());
    }
    let (worst, entry) = index
        .entries
        .iter()
        .enumerate()
        .min_by_key(|(i, e)| (e.surplus, std::cmp::Reverse(*i)))
        .expect("a full index has entries");
    match surplus > entry.surplus {
        true => Ok(worst),
        false => Err(ErrorCode::SolutionLimit.into()),
    }
}

/// Block-level step: at every multiple of the auction interval, clears the batch that just
/// ended.
pub fn clearing_step(ctx: &mut Ctx<'_>) -> ExecResult {
    let interval = ctx.env().genesis.params.market.auction_interval_blocks;
    let height = ctx.env().height;
    if height >= interval && height.is_multiple_of(interval) {
        clear_batch(ctx, height / interval - 1)?;
    }
    Ok(())
}

/// Block-level step: settles the leases that fell due, in the order they fell due, at most
/// [`SETTLEMENTS_PER_BLOCK_MAX`] per block. A lease that cannot be settled (a broken
/// invariant) is passed over with a [`MarketEvent::SettlementFailed`] event rather than
/// stopping the others.
pub fn settlement_step(ctx: &mut Ctx<'_>) -> ExecResult {
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
            if let Some(&id) = page.as_ref().and_then(|(_, p)| p.leases.get(index))
                && let Err(code) = ctx.attempt(|ctx| leases::settle_if_due(ctx, id))?
            {
                emit(ctx, MarketEvent::SettlementFailed { lease: id, code })?;
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

/// Keys the clearing step reads in the block of `env`.
pub fn clearing_hint(env: &BlockEnv, out: &mut Vec<Key>) {
    let interval = env.genesis.params.market.auction_interval_blocks;
    let height = env.height;
    if height >= interval && height.is_multiple_of(interval) {
        out.extend([keys::active_markets(), keys::counters(), keys::totals()]);
        out.push(keys::solution_index(height / interval - 1));
    }
}

/// Keys the settlement step reads first.
pub fn settlement_hint(_env: &BlockEnv, out: &mut Vec<Key>) {
    out.push(keys::due_cursor());
}

/// One market's open orders at clearing time.
struct MarketBook {
    record: MarketRecord,
    intents: Vec<IntentId>,
    offers: Vec<OfferId>,
}

/// What trades in one market: its price, its fills and the solver that priced it (none for
/// the built-in clearing).
struct Trade {
    price: Amount,
    fills: Vec<Fill>,
    solver: Option<Address>,
}

/// The winning solution's reward: its solver, the markets it priced and the amount.
struct Reward {
    solver: Address,
    markets: BTreeSet<MarketId>,
    amount: u128,
}

/// Loads a market's book: closes orders past their deadline or expiry, advances the book's
/// head past freed positions, and adds the open orders to `book`.
fn load_market(
    ctx: &mut Ctx<'_>,
    id: &MarketId,
    book: &mut Book,
    returns: &mut Returns,
) -> ExecResult<Option<MarketBook>> {
    let Some(mut record) = ctx.get::<MarketRecord>(&keys::market(id))? else {
        return Ok(None);
    };
    let now = ctx.env().timestamp_ms;
    let mut intents = Vec::new();
    let mut front_free = true;
    for slot in record.intents.head..record.intents.tail {
        let open = match ctx.get::<IntentId>(&keys::intent_slot(id, slot))? {
            Some(intent_id) => ctx.get::<Intent>(&keys::intent(intent_id))?,
            None => None,
        };
        let Some(mut intent) = open else {
            if front_free {
                record.intents.head = slot + 1;
            }
            continue;
        };
        if intent.deadline_ms <= now {
            close_intent(ctx, &mut intent, OrderStatus::Expired, returns);
            if front_free {
                record.intents.head = slot + 1;
            }
            continue;
        }
        front_free = false;
        intents.push(intent.id);
        book.intents.insert(intent.id, intent);
    }
    let mut offers = Vec::new();
    let mut front_free = true;
    for slot in record.offers.head..record.offers.tail {
        let open = match ctx.get::<OfferId>(&keys::offer_slot(id, slot))? {
            Some(offer_id) => ctx.get::<Offer>(&keys::offer(offer_id))?,
            None => None,
        };
        let Some(mut offer) = open else {
            if front_free {
                record.offers.head = slot + 1;
            }
            continue;
        };
        if offer.expiry_ms <= now {
            close_offer_as(ctx, &mut offer, OrderStatus::Expired, returns);
            if front_free {
                record.offers.head = slot + 1;
            }
            continue;
        }
        front_free = false;
        let offer_id = offer.id;
        if let Some(sale) = saleable(ctx, offer)? {
            offers.push(offer_id);
            book.offers.insert(offer_id, sale);
        }
    }
    Ok(Some(MarketBook { record, intents, offers }))
}

/// The built-in clearing of each market (plain intents only).
fn builtin_clearing(
    markets: &BTreeMap<MarketId, MarketBook>,
    book: &Book,
) -> BTreeMap<MarketId, Cleared> {
    let mut builtin = BTreeMap::new();
    for (id, m) in markets {
        let bids: Vec<Bid> = m
            .intents
            .iter()
            .map(|i| &book.intents[i])
            .filter(|i| i.is_simple())
            .map(Bid::of)
            .collect();
        let asks: Vec<Ask> =
            m.offers.iter().map(|o| &book.offers[o]).map(|(o, r)| Ask::of(o, *r)).collect();
        if let Some(cleared) = clearing::clear(&bids, &asks) {
            builtin.insert(*id, cleared);
        }
    }
    builtin
}

/// The stored solution adding the most surplus over the built-in clearing of the markets it
/// prices, checked again against the final book; ties go to the lower tie-break hash.
fn best_solution(
    ctx: &Ctx<'_>,
    batch: BatchId,
    book: &Book,
    builtin: &BTreeMap<MarketId, Cleared>,
) -> ExecResult<Option<(u128, Solution, Evaluated)>> {
    let index: SolutionIndex = ctx.get(&keys::solution_index(batch))?.unwrap_or_default();
    let mut best: Option<(u128, Solution, Evaluated)> = None;
    for slot in 0..index.entries.len() as u32 {
        let Some(solution) = ctx.get::<Solution>(&keys::solution(batch, slot))? else { continue };
        let Ok(evaluated) = clearing::evaluate(book, &solution.prices, &solution.fills) else {
            continue;
        };
        let replaced: u128 =
            evaluated.markets.iter().filter_map(|m| builtin.get(m)).map(|c| c.surplus).sum();
        let Some(added) = evaluated.surplus.checked_sub(replaced).filter(|a| *a > 0) else {
            continue;
        };
        let better = best
            .as_ref()
            .is_none_or(|(a, s, _)| added > *a || (added == *a && solution.tiebreak < s.tiebreak));
        if better {
            best = Some((added, solution, evaluated));
        }
    }
    Ok(best)
}

/// Clears batch `batch`: every active market's built-in auction, replaced where the best
/// solution adds surplus; then settles the fills into leases.
fn clear_batch(ctx: &mut Ctx<'_>, batch: BatchId) -> ExecResult {
    let mut active: ActiveMarkets = ctx.get(&keys::active_markets())?.unwrap_or_default();
    if active.markets.is_empty() {
        return Ok(());
    }
    let mut book = Book::default();
    let mut returns = Returns::default();
    let mut markets: BTreeMap<MarketId, MarketBook> = BTreeMap::new();
    for id in &active.markets {
        if let Some(m) = load_market(ctx, id, &mut book, &mut returns)? {
            markets.insert(*id, m);
        }
    }
    let builtin = builtin_clearing(&markets, &book);
    let best = best_solution(ctx, batch, &book, &builtin)?;

    let mut trades: BTreeMap<MarketId, Trade> = builtin
        .into_iter()
        .map(|(id, c)| (id, Trade { price: c.price, fills: c.fills, solver: None }))
        .collect();
    let mut reward = None;
    if let Some((added, solution, evaluated)) = best {
        let price_of: BTreeMap<MarketId, Amount> =
            solution.prices.iter().map(|p| (p.market, p.price)).collect();
        for market in &evaluated.markets {
            let solver = Some(solution.solver);
            trades.insert(*market, Trade { price: price_of[market], fills: Vec::new(), solver });
        }
        for fill in &solution.fills {
            let market = book.offers[&fill.offer].0.market;
            trades.get_mut(&market).ok_or(ErrorCode::Internal)?.fills.push(fill.clone());
        }
        let bps = u128::from(ctx.env().genesis.params.market.solver_reward_bps);
        let amount = added.checked_mul(bps).ok_or(ErrorCode::Overflow)? / 10_000;
        reward = Some(Reward { solver: solution.solver, markets: evaluated.markets, amount });
    }

    settle_trades(ctx, batch, &mut book, trades, reward, &mut returns)?;
    returns.pay(ctx)?;

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

/// What one intent got in a batch: units per market and their cost.
#[derive(Default)]
struct Got {
    units: BTreeMap<MarketId, u64>,
    cost: u128,
}

/// Turns each market's fills into leases; charges consumers, refunds their savings (less the
/// solver's reward), updates intents, offers and market records.
fn settle_trades(
    ctx: &mut Ctx<'_>,
    batch: BatchId,
    book: &mut Book,
    trades: BTreeMap<MarketId, Trade>,
    reward: Option<Reward>,
    returns: &mut Returns,
) -> ExecResult {
    let mut due: BTreeMap<u64, Vec<LeaseId>> = BTreeMap::new();
    let mut lease_index: BTreeMap<Address, Vec<LeaseId>> = BTreeMap::new();
    let mut got: BTreeMap<IntentId, Got> = BTreeMap::new();
    for (market, trade) in &trades {
        if trade.fills.is_empty() {
            continue;
        }
        let leases = make_leases(ctx, batch, book, *market, trade, &mut due, &mut lease_index)?;
        for (fill, escrow) in trade.fills.iter().zip(leases.escrows) {
            let entry = got.entry(fill.intent).or_default();
            let units = entry.units.entry(*market).or_default();
            *units = units.checked_add(fill.units).ok_or(ErrorCode::Overflow)?;
            entry.cost += u128::from(escrow);
        }
        let mut record: MarketRecord =
            ctx.get(&keys::market(market))?.ok_or(ErrorCode::Internal)?;
        record.last_price = Some(trade.price);
        record.last_batch = Some(batch);
        // A statistic: it saturates rather than fail the batch.
        record.volume = record.volume.saturating_add(leases.units);
        ctx.put(keys::market(market), &record);
        emit(
            ctx,
            MarketEvent::MarketCleared {
                batch,
                market: *market,
                price: trade.price,
                units: leases.units,
                first_lease: leases.first,
                leases: trade.fills.len() as u32,
                solver: trade.solver,
            },
        )?;
    }

    // Offers: write back, closing those sold out.
    let touched: BTreeSet<OfferId> =
        trades.values().flat_map(|t| t.fills.iter().map(|f| f.offer)).collect();
    for id in touched {
        // The book's copy may sell less than the offer holds (usage rights reserve units):
        // take off the stored offer what this batch sold.
        let (sold, _) = book.offers.get(&id).ok_or(ErrorCode::Internal)?;
        let mut offer: Offer = ctx.get(&keys::offer(id))?.ok_or(ErrorCode::Internal)?;
        let units = sold.sold.checked_sub(offer.sold).ok_or(ErrorCode::Internal)?;
        offer.capacity = offer.capacity.checked_sub(units).ok_or(ErrorCode::Internal)?;
        offer.sold = sold.sold;
        if offer.capacity == 0 {
            close_offer_as(ctx, &mut offer, OrderStatus::Filled, returns);
        } else {
            ctx.put(keys::offer(id), &offer);
        }
    }

    charge_intents(ctx, book, &got, reward.as_ref(), returns)?;

    // Indexes: leases by account, and by the second they fall due.
    for (account, leases) in lease_index {
        let mut count: u64 = ctx.get(&keys::lease_count(&account))?.unwrap_or(0);
        for id in leases {
            ctx.put(keys::account_lease(&account, count), &id);
            count += 1;
        }
        ctx.put(keys::lease_count(&account), &count);
    }
    leases::add_due(ctx, &mut due)
}

/// The leases one market's trade made.
struct Made {
    first: LeaseId,
    units: u64,
    escrows: Vec<Amount>,
}

/// Makes one lease per fill of `trade` in `market`, locking the potential slash on each
/// seller's stake and taking the sold units off the offers in `book`.
fn make_leases(
    ctx: &mut Ctx<'_>,
    batch: BatchId,
    book: &mut Book,
    market: MarketId,
    trade: &Trade,
    due: &mut BTreeMap<u64, Vec<LeaseId>>,
    lease_index: &mut BTreeMap<Address, Vec<LeaseId>>,
) -> ExecResult<Made> {
    let mut counters = counters(ctx)?;
    let mut made = Made { first: counters.next_lease, units: 0, escrows: Vec::new() };
    let mut locks: BTreeMap<Address, Amount> = BTreeMap::new();
    let height = ctx.env().height;
    for fill in &trade.fills {
        let intent = book.intents.get(&fill.intent).ok_or(ErrorCode::Internal)?;
        let (offer, _) = book.offers.get_mut(&fill.offer).ok_or(ErrorCode::Internal)?;
        debug_assert_eq!(offer.market, market);
        let id = counters.next_lease;
        counters.next_lease += 1;
        let escrow = fill.units.checked_mul(trade.price).ok_or(ErrorCode::Overflow)?;
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
            price: trade.price,
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
        offer.capacity = offer.capacity.checked_sub(fill.units).ok_or(ErrorCode::Internal)?;
        offer.sold = offer.sold.checked_add(fill.units).ok_or(ErrorCode::Overflow)?;
        let lock = locks.entry(offer.seller).or_default();
        *lock = lock.checked_add(slash_amount(ctx, escrow)).ok_or(ErrorCode::Overflow)?;
        made.units = made.units.checked_add(fill.units).ok_or(ErrorCode::Overflow)?;
        made.escrows.push(escrow);
    }
    ctx.put(keys::counters(), &counters);
    for (seller, amount) in locks {
        lock_stake(ctx, &seller, amount, true)?;
    }
    Ok(made)
}

/// Charges each filled intent: its filled units leave its escrow; the savings (escrow taken
/// for those units less their cost) go back to the consumer, less its share of the winning
/// solver's reward where the solution priced its markets.
fn charge_intents(
    ctx: &mut Ctx<'_>,
    book: &mut Book,
    got: &BTreeMap<IntentId, Got>,
    reward: Option<&Reward>,
    returns: &mut Returns,
) -> ExecResult {
    let mut savings: Vec<(IntentId, u128, bool)> = Vec::new();
    for (id, g) in got {
        let intent = book.intents.get_mut(id).ok_or(ErrorCode::Internal)?;
        let bundles =
            clearing::bundles_filled(intent, &g.units).map_err(|_| ErrorCode::FillMismatch)?;
        let used = u128::from(bundles) * u128::from(intent.max_price);
        let in_solution = reward.is_some_and(|r| g.units.keys().any(|m| r.markets.contains(m)));
        savings.push((*id, used.checked_sub(g.cost).ok_or(ErrorCode::Internal)?, in_solution));
        intent.units = intent.units.checked_sub(bundles).ok_or(ErrorCode::Internal)?;
        intent.filled = intent.filled.checked_add(bundles).ok_or(ErrorCode::Overflow)?;
        let used = Amount::try_from(used).map_err(|_| ErrorCode::Internal)?;
        intent.escrow = intent.escrow.checked_sub(used).ok_or(ErrorCode::Internal)?;
    }
    let pool: u128 = savings.iter().filter(|s| s.2).map(|s| s.1).sum();
    let total = reward.map_or(0, |r| r.amount.min(pool));
    let mut rewarded = 0u128;
    for (id, saving, in_solution) in savings {
        let share = match in_solution && pool > 0 {
            true => total.checked_mul(saving).ok_or(ErrorCode::Overflow)? / pool,
            false => 0,
        };
        rewarded += share;
        let back = Amount::try_from(saving - share).map_err(|_| ErrorCode::Internal)?;
        let intent = book.intents.get_mut(&id).ok_or(ErrorCode::Internal)?;
        returns.escrow(&intent.consumer, back);
        if intent.units == 0 {
            close_intent(ctx, intent, OrderStatus::Filled, returns);
        } else {
            ctx.put(keys::intent(id), &*intent);
        }
    }
    if let Some(r) = reward.filter(|_| rewarded > 0) {
        let amount = Amount::try_from(rewarded).map_err(|_| ErrorCode::Internal)?;
        bank::debit(ctx, &escrow_account(), amount)?;
        bank::credit(ctx, &r.solver, amount)?;
        update_totals(ctx, |t| t.solver_rewards += rewarded)?;
    }
    Ok(())
}
