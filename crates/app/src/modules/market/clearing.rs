//! Batch clearing, as pure functions over plain data: the built-in uniform-price auction of
//! one market, and the checks and surplus of a solver's allocation across markets.
//!
//! The built-in auction: sort bids by limit (highest first) and asks by floor (lowest first),
//! ties by the orders' tie-break hashes (never by arrival). The clearing price maximizes the
//! volume the limits and floors allow; among the prices that do, it is the middle of the
//! range (rounded down). At that price every bid with limit at or above it is served in
//! order from the asks with floor at or below it, cheapest first, skipping asks below the
//! bid's reputation minimum; a bid that may not be split takes all its units or none. So no
//! consumer pays above its limit, no provider sells below its floor, no offer sells more than
//! its capacity, and the outcome depends only on the set of orders, not their order.
//!
//! The surplus of an allocation is the value consumers put on what they get (units times
//! their limit) minus the cost providers ask for it (units times their floor); it does not
//! depend on prices. A solution wins where it adds surplus over the built-in clearing.

use super::state::{Intent, Offer};
use machina_types::{
    Amount, ErrorCode, Hash,
    market::{Fill, IntentId, MarketId, MarketPrice, OfferId, market_id},
};
use std::collections::{BTreeMap, BTreeSet};

/// A consumer's order in one market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bid {
    /// The intent.
    pub intent: IntentId,
    /// Tie-break among equal limits.
    pub tiebreak: Hash,
    /// Most paid per unit.
    pub limit: Amount,
    /// Units wanted.
    pub units: u64,
    /// Whether it may be filled in part.
    pub partial: bool,
    /// Lowest provider reputation accepted.
    pub min_reputation: u8,
}

/// A provider's order in one market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The offer.
    pub offer: OfferId,
    /// Tie-break among equal floors.
    pub tiebreak: Hash,
    /// Lowest price per unit.
    pub floor: Amount,
    /// Units for sale.
    pub capacity: u64,
    /// The provider's reputation.
    pub reputation: u8,
}

impl Bid {
    /// The bid of a plain (single-component) intent.
    pub fn of(i: &Intent) -> Self {
        Self {
            intent: i.id,
            tiebreak: i.tiebreak,
            limit: i.max_price,
            units: i.units,
            partial: i.partial,
            min_reputation: i.min_reputation,
        }
    }
}

impl Ask {
    /// The ask of an offer whose provider has `reputation`.
    pub fn of(o: &Offer, reputation: u8) -> Self {
        Self {
            offer: o.id,
            tiebreak: o.tiebreak,
            floor: o.floor_price,
            capacity: o.capacity,
            reputation,
        }
    }
}

/// A market's clearing: one price, and the units each (intent, offer) pair trades.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleared {
    /// The uniform price per unit.
    pub price: Amount,
    /// The fills, in allocation order.
    pub fills: Vec<Fill>,
    /// Value minus cost of the fills.
    pub surplus: u128,
}

/// Clears one market; `None` if nothing trades.
pub fn clear(bids: &[Bid], asks: &[Ask]) -> Option<Cleared> {
    let mut bids: Vec<&Bid> = bids.iter().filter(|b| b.units > 0).collect();
    let mut asks: Vec<&Ask> = asks.iter().filter(|a| a.capacity > 0).collect();
    bids.sort_by(|a, b| b.limit.cmp(&a.limit).then(a.tiebreak.cmp(&b.tiebreak)));
    sort_asks(&mut asks);
    let price = clearing_price(&bids, &asks)?;
    allocate(&bids, &asks, price)
}

/// Orders asks as the built-in clearing takes them: lowest floor first, then tie-break.
pub fn sort_asks(asks: &mut [&Ask]) {
    asks.sort_by(|a, b| a.floor.cmp(&b.floor).then(a.tiebreak.cmp(&b.tiebreak)));
}

/// The price that maximizes the volume limits and floors allow (ignoring reputation and
/// indivisibility); the middle of the range of such prices. `bids` sorted by limit
/// descending, `asks` by floor ascending.
fn clearing_price(bids: &[&Bid], asks: &[&Ask]) -> Option<Amount> {
    let demand: Vec<u128> = prefix_sums(bids.iter().map(|b| b.units));
    let supply: Vec<u128> = prefix_sums(asks.iter().map(|a| a.capacity));
    let volume = |p: Amount| {
        let bidders = bids.partition_point(|b| b.limit >= p);
        let sellers = asks.partition_point(|a| a.floor <= p);
        demand[bidders].min(supply[sellers])
    };
    let mut candidates: Vec<Amount> =
        bids.iter().map(|b| b.limit).chain(asks.iter().map(|a| a.floor)).collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut best = 0u128;
    let mut range: Option<(Amount, Amount)> = None;
    for p in candidates {
        let v = volume(p);
        if v > best {
            best = v;
            range = Some((p, p));
        } else if v == best && v > 0 {
            range = range.map(|(lo, _)| (lo, p));
        }
    }
    let (lo, hi) = range?;
    Some(lo + (hi - lo) / 2)
}

fn prefix_sums(values: impl Iterator<Item = u64>) -> Vec<u128> {
    let mut out = vec![0u128];
    for v in values {
        out.push(out.last().expect("non-empty") + u128::from(v));
    }
    out
}

/// Serves the bids that accept `price`, in the order given, from the asks that accept it,
/// in the order given (cheapest first for the built-in clearing); bids below `price` are
/// skipped. Solvers use it to try other orders of the same book.
pub fn allocate(bids: &[&Bid], asks: &[&Ask], price: Amount) -> Option<Cleared> {
    let asks: Vec<&Ask> = asks.iter().copied().filter(|a| a.floor <= price).collect();
    let mut remaining: Vec<u64> = asks.iter().map(|a| a.capacity).collect();
    let mut first_open = 0;
    let mut fills = Vec::new();
    let mut surplus = 0u128;
    for bid in bids.iter().filter(|b| b.limit >= price) {
        while first_open < asks.len() && remaining[first_open] == 0 {
            first_open += 1;
        }
        let mut need = bid.units;
        let mut taken: Vec<(usize, u64)> = Vec::new();
        for (i, ask) in asks.iter().enumerate().skip(first_open) {
            if need == 0 {
                break;
            }
            if remaining[i] == 0 || ask.reputation < bid.min_reputation {
                continue;
            }
            let units = need.min(remaining[i]);
            taken.push((i, units));
            need -= units;
        }
        if need > 0 && !bid.partial {
            continue;
        }
        for (i, units) in taken {
            remaining[i] -= units;
            fills.push(Fill { intent: bid.intent, offer: asks[i].offer, units });
            surplus += u128::from(units) * u128::from(bid.limit - asks[i].floor);
        }
    }
    (!fills.is_empty()).then_some(Cleared { price, fills, surplus })
}

/// The open orders of a batch a solution may use: intents not past their deadline, and offers
/// that may sell (not expired, device active, seller staked) with their provider's reputation.
#[derive(Clone, Debug, Default)]
pub struct Book {
    /// Open intents.
    pub intents: BTreeMap<IntentId, Intent>,
    /// Offers that may sell, with their provider's reputation.
    pub offers: BTreeMap<OfferId, (Offer, u8)>,
}

/// A valid solution's effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluated {
    /// Value minus cost of its fills.
    pub surplus: u128,
    /// The markets it trades in.
    pub markets: BTreeSet<MarketId>,
}

/// Checks a solution against `book`: every fill names an open intent and an offer that may
/// sell in one of the intent's markets, at that market's price (at least the offer's floor;
/// the intent's cost per unit at most its limit); offers' capacities hold; every intent gets
/// the same number of whole units of each of its resources, all of them unless it may be
/// split; providers meet the intents' reputation minimums. Returns its surplus and markets.
pub fn evaluate(
    book: &Book,
    prices: &[MarketPrice],
    fills: &[Fill],
) -> Result<Evaluated, ErrorCode> {
    let mut price_of: BTreeMap<MarketId, Amount> = BTreeMap::new();
    for p in prices {
        if price_of.insert(p.market, p.price).is_some() {
            return Err(ErrorCode::InvalidCall);
        }
    }
    // Units per (intent, market), units per offer, floor cost.
    let mut per_intent: BTreeMap<IntentId, BTreeMap<MarketId, u64>> = BTreeMap::new();
    let mut per_offer: BTreeMap<OfferId, u64> = BTreeMap::new();
    let mut markets = BTreeSet::new();
    let mut cost = 0u128;
    for fill in fills {
        let intent = book.intents.get(&fill.intent).ok_or(ErrorCode::UnknownIntent)?;
        let (offer, reputation) = book.offers.get(&fill.offer).ok_or(ErrorCode::UnknownOffer)?;
        let in_intent =
            intent.components.iter().any(|c| market_id(&c.kind, &intent.region) == offer.market);
        let price = price_of.get(&offer.market);
        let Some(&price) = price.filter(|_| in_intent) else {
            return Err(ErrorCode::MarketMismatch);
        };
        if price < offer.floor_price {
            return Err(ErrorCode::BelowFloor);
        }
        if *reputation < intent.min_reputation {
            return Err(ErrorCode::ReputationTooLow);
        }
        let units = per_offer.entry(fill.offer).or_default();
        *units = units.checked_add(fill.units).ok_or(ErrorCode::CapacityExceeded)?;
        if *units > offer.capacity {
            return Err(ErrorCode::CapacityExceeded);
        }
        let in_market = per_intent.entry(fill.intent).or_default().entry(offer.market).or_default();
        *in_market = in_market.checked_add(fill.units).ok_or(ErrorCode::FillMismatch)?;
        markets.insert(offer.market);
        cost += u128::from(fill.units) * u128::from(offer.floor_price);
    }
    if markets.len() != price_of.len() {
        return Err(ErrorCode::MarketMismatch);
    }
    let mut value = 0u128;
    for (id, got) in &per_intent {
        let intent = &book.intents[id];
        let bundles = bundles_filled(intent, got)?;
        let per_bundle: u128 = intent
            .components
            .iter()
            .map(|c| {
                let market = market_id(&c.kind, &intent.region);
                u128::from(price_of[&market]) * u128::from(c.quantity)
            })
            .sum();
        if per_bundle > u128::from(intent.max_price) {
            return Err(ErrorCode::LimitExceeded);
        }
        value += u128::from(bundles) * u128::from(intent.max_price);
    }
    let surplus = value.checked_sub(cost).ok_or(ErrorCode::LimitExceeded)?;
    Ok(Evaluated { surplus, markets })
}

/// Whole units of `intent` that units `got` per market make: the same number of each
/// resource's quantity, at most the units wanted, all of them unless it may be split.
pub fn bundles_filled(intent: &Intent, got: &BTreeMap<MarketId, u64>) -> Result<u64, ErrorCode> {
    let mut bundles: Option<u64> = None;
    for c in &intent.components {
        let market = market_id(&c.kind, &intent.region);
        let units = got.get(&market).copied().unwrap_or(0);
        if units % c.quantity != 0 || bundles.is_some_and(|b| b != units / c.quantity) {
            return Err(ErrorCode::FillMismatch);
        }
        bundles = Some(units / c.quantity);
    }
    let bundles = bundles.unwrap_or(0);
    if got.len() > intent.components.len()
        || bundles == 0
        || bundles > intent.units
        || (!intent.partial && bundles != intent.units)
    {
        return Err(ErrorCode::FillMismatch);
    }
    Ok(bundles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bid(intent: u64, limit: u64, units: u64, partial: bool, min_reputation: u8) -> Bid {
        Bid {
            intent,
            tiebreak: Hash::of(&[b"bid", &intent.to_be_bytes()]),
            limit,
            units,
            partial,
            min_reputation,
        }
    }

    fn ask(offer: u64, floor: u64, capacity: u64, reputation: u8) -> Ask {
        Ask {
            offer,
            tiebreak: Hash::of(&[b"ask", &offer.to_be_bytes()]),
            floor,
            capacity,
            reputation,
        }
    }

    #[test]
    fn a_crossing_book_clears_at_one_price_between_the_marginal_orders() {
        let bids = [bid(1, 120, 5, true, 0), bid(2, 100, 5, true, 0), bid(3, 80, 5, true, 0)];
        let asks = [ask(1, 70, 4, 50), ask(2, 90, 4, 50), ask(3, 130, 10, 50)];
        let cleared = clear(&bids, &asks).unwrap();
        // Volume 8 is possible for any price in 90..=100: the middle is 95.
        assert_eq!(cleared.price, 95);
        let units: u64 = cleared.fills.iter().map(|f| f.units).sum();
        assert_eq!(units, 8);
        assert!(cleared.fills.iter().all(|f| f.intent != 3 && f.offer != 3));
    }

    #[test]
    fn full_books_at_the_protocol_limits_clear_without_overflow() {
        use machina_types::limits::{PRICE_MAX, UNITS_MAX};
        // The largest book a market holds, every order at the largest units and prices:
        // the volume and surplus sums stay inside u128 (they used to overflow with u64::MAX).
        let bids: Vec<Bid> = (0..4096).map(|i| bid(i, PRICE_MAX, UNITS_MAX, true, 0)).collect();
        let asks: Vec<Ask> = (0..1024).map(|i| ask(i, 0, UNITS_MAX, 50)).collect();
        let cleared = clear(&bids, &asks).expect("trades");
        let units: u128 = cleared.fills.iter().map(|f| u128::from(f.units)).sum();
        assert_eq!(units, 1024 * u128::from(UNITS_MAX));
        assert_eq!(cleared.surplus, units * u128::from(PRICE_MAX));
    }

    #[test]
    fn a_book_that_does_not_cross_does_not_trade() {
        assert_eq!(clear(&[bid(1, 50, 5, true, 0)], &[ask(1, 60, 5, 50)]), None);
        assert_eq!(clear(&[], &[ask(1, 60, 5, 50)]), None);
    }

    #[test]
    fn an_indivisible_intent_takes_all_its_units_or_none() {
        let bids = [bid(1, 100, 10, false, 0), bid(2, 90, 3, false, 0)];
        let asks = [ask(1, 50, 4, 50), ask(2, 60, 4, 50)];
        let cleared = clear(&bids, &asks).unwrap();
        assert!(cleared.fills.iter().all(|f| f.intent == 2));
        assert_eq!(cleared.fills.iter().map(|f| f.units).sum::<u64>(), 3);
    }

    #[test]
    fn providers_below_an_intents_reputation_minimum_are_skipped() {
        let bids = [bid(1, 100, 4, true, 60)];
        let asks = [ask(1, 10, 4, 40), ask(2, 20, 4, 70)];
        let cleared = clear(&bids, &asks).unwrap();
        assert_eq!(cleared.fills, vec![Fill { intent: 1, offer: 2, units: 4 }]);
    }

    fn arb_book() -> impl Strategy<Value = (Vec<Bid>, Vec<Ask>)> {
        let bids =
            proptest::collection::vec((1u64..200, 1u64..20, any::<bool>(), 0u8..=100), 0..40);
        let asks = proptest::collection::vec((1u64..200, 1u64..30, 0u8..=100), 0..20);
        (bids, asks).prop_map(|(bids, asks)| {
            let bids = bids
                .into_iter()
                .enumerate()
                .map(|(i, (limit, units, partial, rep))| {
                    bid(i as u64 + 1, limit, units, partial, rep)
                })
                .collect();
            let asks = asks
                .into_iter()
                .enumerate()
                .map(|(i, (floor, capacity, rep))| ask(i as u64 + 1, floor, capacity, rep))
                .collect();
            (bids, asks)
        })
    }

    proptest! {
        #[test]
        fn clearing_respects_limits_floors_capacities_and_is_order_independent(
            (bids, asks) in arb_book(),
            seed in any::<u64>(),
        ) {
            let Some(cleared) = clear(&bids, &asks) else { return Ok(()) };
            let bid_of: BTreeMap<u64, &Bid> = bids.iter().map(|b| (b.intent, b)).collect();
            let ask_of: BTreeMap<u64, &Ask> = asks.iter().map(|a| (a.offer, a)).collect();
            let mut sold: BTreeMap<u64, u64> = BTreeMap::new();
            let mut bought: BTreeMap<u64, u64> = BTreeMap::new();
            let mut surplus = 0u128;
            for f in &cleared.fills {
                let (b, a) = (bid_of[&f.intent], ask_of[&f.offer]);
                prop_assert!(cleared.price <= b.limit, "a consumer pays above its limit");
                prop_assert!(cleared.price >= a.floor, "a provider sells below its floor");
                prop_assert!(a.reputation >= b.min_reputation);
                *sold.entry(f.offer).or_default() += f.units;
                *bought.entry(f.intent).or_default() += f.units;
                surplus += u128::from(f.units) * u128::from(b.limit - a.floor);
            }
            prop_assert_eq!(surplus, cleared.surplus);
            for (offer, units) in &sold {
                prop_assert!(*units <= ask_of[offer].capacity, "capacity exceeded");
            }
            for (intent, units) in &bought {
                let b = bid_of[intent];
                prop_assert!(*units <= b.units);
                prop_assert!(b.partial || *units == b.units, "an indivisible intent was split");
            }

            // Any order of the same orders clears identically.
            let mut rng = seed;
            let mut shuffle = |n: usize| {
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    order.swap(i, (rng >> 33) as usize % (i + 1));
                }
                order
            };
            let bids2: Vec<Bid> = shuffle(bids.len()).into_iter().map(|i| bids[i].clone()).collect();
            let asks2: Vec<Ask> = shuffle(asks.len()).into_iter().map(|i| asks[i].clone()).collect();
            prop_assert_eq!(clear(&bids2, &asks2), Some(cleared));
        }
    }
}
