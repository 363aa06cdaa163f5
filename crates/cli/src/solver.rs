//! The reference solver: reads the open books over the API and proposes an allocation that
//! adds surplus over the built-in clearing.
//!
//! Per market it keeps the built-in clearing price and tries other orders of serving the
//! intents (smallest first, most surplus first), which fit more indivisible intents than
//! highest-limit-first can; it then fills bundle intents (several resources per unit) from
//! the capacity left, at each market's price. It submits the markets where it found more
//! surplus than the built-in clearing, if any.

use anyhow::Result;
use machina_app::modules::market::{
    clearing::{self, Ask, Bid, Book, Cleared},
    state::{Intent, Offer},
};
use machina_sdk::Client;
use machina_sdk::api::MarketBook;
use machina_types::{
    Amount, MarketCall,
    market::{
        Fill, IntentId, MarketId, MarketPrice, OfferId, SOLUTION_FILLS_MAX, SOLUTION_MARKETS_MAX,
        market_id,
    },
};
use std::collections::{BTreeMap, BTreeSet};

/// A market as the solver sees it.
struct MarketView {
    intents: Vec<Intent>,
    /// Saleable offers with their provider's reputation.
    offers: Vec<(Offer, u8)>,
}

/// A proposed solution and what it adds.
#[derive(Debug)]
pub struct Proposal {
    /// The batch it is for.
    pub batch: u64,
    /// The call to submit.
    pub call: MarketCall,
    /// Its surplus.
    pub surplus: u128,
    /// The built-in clearing's surplus in the same markets.
    pub replaced: u128,
}

/// Reads the books and computes a proposal for the open batch, if one adds surplus.
pub fn propose(client: &Client) -> Result<Option<Proposal>> {
    let overview = client.market()?;
    let mut markets: BTreeMap<MarketId, MarketView> = BTreeMap::new();
    for summary in &overview.markets {
        let book = client.market_book(&summary.id)?;
        markets.insert(summary.id, view(book));
    }
    Ok(solve(overview.batch, &markets))
}

fn view(book: MarketBook) -> MarketView {
    let offers = book
        .offers
        .into_iter()
        .filter(|o| o.saleable)
        .map(|o| (o.offer, o.reputation.unwrap_or(0)))
        .collect();
    MarketView { intents: book.intents, offers }
}

fn bids(view: &MarketView) -> Vec<Bid> {
    view.intents.iter().filter(|i| i.is_simple()).map(Bid::of).collect()
}

fn asks(view: &MarketView) -> Vec<Ask> {
    view.offers.iter().map(|(o, reputation)| Ask::of(o, *reputation)).collect()
}

/// The best of a few service orders at the built-in clearing's price.
fn improve(bids: &[Bid], asks: &[Ask], builtin: &Cleared) -> Cleared {
    let mut asks: Vec<&Ask> = asks.iter().collect();
    clearing::sort_asks(&mut asks);
    let price = builtin.price;
    let mut best = builtin.clone();
    let orders: [fn(&Bid, &Bid, Amount) -> std::cmp::Ordering; 2] = [
        |a, b, _| {
            a.units.cmp(&b.units).then(b.limit.cmp(&a.limit)).then(a.tiebreak.cmp(&b.tiebreak))
        },
        |a, b, p| {
            let surplus = |x: &Bid| u128::from(x.units) * u128::from(x.limit.saturating_sub(p));
            surplus(b).cmp(&surplus(a)).then(a.tiebreak.cmp(&b.tiebreak))
        },
    ];
    for order in orders {
        let mut sorted: Vec<&Bid> = bids.iter().collect();
        sorted.sort_by(|a, b| order(a, b, price));
        if let Some(c) = clearing::allocate(&sorted, &asks, price)
            && c.surplus > best.surplus
        {
            best = c;
        }
    }
    best
}

fn solve(batch: u64, markets: &BTreeMap<MarketId, MarketView>) -> Option<Proposal> {
    // Per market: the built-in clearing, and the best allocation found.
    let mut builtin: BTreeMap<MarketId, Cleared> = BTreeMap::new();
    let mut chosen: BTreeMap<MarketId, Cleared> = BTreeMap::new();
    for (id, view) in markets {
        let (bids, asks) = (bids(view), asks(view));
        if let Some(b) = clearing::clear(&bids, &asks) {
            let better = improve(&bids, &asks, &b);
            if better.surplus > b.surplus {
                chosen.insert(*id, better);
            }
            builtin.insert(*id, b);
        }
    }

    // Bundles, from the capacity left at each market's price.
    let offers: BTreeMap<OfferId, &(Offer, u8)> =
        markets.values().flat_map(|v| v.offers.iter().map(|o| (o.0.id, o))).collect();
    let mut used: BTreeMap<OfferId, u64> = BTreeMap::new();
    for c in builtin.iter().map(|(id, b)| chosen.get(id).unwrap_or(b)) {
        for f in &c.fills {
            *used.entry(f.offer).or_default() += f.units;
        }
    }
    let bundles: Vec<&Intent> =
        markets.values().flat_map(|v| v.intents.iter()).filter(|i| !i.is_simple()).collect();
    for intent in bundles {
        let Some((fills, prices)) = fill_bundle(intent, markets, &offers, &used, &builtin, &chosen)
        else {
            continue;
        };
        for f in &fills {
            *used.entry(f.offer).or_default() += f.units;
        }
        for (market, price) in prices {
            let base = chosen.get(&market).or(builtin.get(&market)).cloned().unwrap_or(Cleared {
                price,
                fills: Vec::new(),
                surplus: 0,
            });
            let entry = chosen.entry(market).or_insert(base);
            entry
                .fills
                .extend(fills.iter().filter(|f| offers[&f.offer].0.market == market).cloned());
        }
    }
    if chosen.is_empty() {
        return None;
    }

    // Keep within the size limits; check it the way the chain will.
    let mut prices = Vec::new();
    let mut fills = Vec::new();
    for (market, c) in &chosen {
        if prices.len() == SOLUTION_MARKETS_MAX || fills.len() + c.fills.len() > SOLUTION_FILLS_MAX
        {
            break;
        }
        prices.push(MarketPrice { market: *market, price: c.price });
        fills.extend(c.fills.iter().cloned());
    }
    let mut book = Book::default();
    for view in markets.values() {
        book.intents.extend(view.intents.iter().map(|i| (i.id, i.clone())));
        book.offers.extend(view.offers.iter().map(|o| (o.0.id, o.clone())));
    }
    let evaluated = clearing::evaluate(&book, &prices, &fills).ok()?;
    let replaced: u128 =
        evaluated.markets.iter().filter_map(|m| builtin.get(m)).map(|c| c.surplus).sum();
    (evaluated.surplus > replaced).then_some(Proposal {
        batch,
        call: MarketCall::Solve { batch, prices, fills },
        surplus: evaluated.surplus,
        replaced,
    })
}

/// A bundle's fills, and the price of each market it uses.
type BundleFill = (Vec<Fill>, Vec<(MarketId, Amount)>);

/// Fills all of a bundle intent's units (or none) from the cheapest capacity left in each of
/// its markets, at the price that market clears at (or the highest floor used, where nothing
/// else trades); returns the fills and the prices of the markets it uses.
fn fill_bundle(
    intent: &Intent,
    markets: &BTreeMap<MarketId, MarketView>,
    offers: &BTreeMap<OfferId, &(Offer, u8)>,
    used: &BTreeMap<OfferId, u64>,
    builtin: &BTreeMap<MarketId, Cleared>,
    chosen: &BTreeMap<MarketId, Cleared>,
) -> Option<BundleFill> {
    let mut fills = Vec::new();
    let mut prices = Vec::new();
    let mut cost = 0u128;
    for component in &intent.components {
        let market = market_id(&component.kind, &intent.region);
        let view = markets.get(&market)?;
        let fixed = chosen.get(&market).or(builtin.get(&market)).map(|c| c.price);
        let mut need = component.quantity.checked_mul(intent.units)?;
        let mut candidates: Vec<&(Offer, u8)> = view
            .offers
            .iter()
            .filter(|(o, rep)| {
                *rep >= intent.min_reputation && fixed.is_none_or(|p| o.floor_price <= p)
            })
            .collect();
        candidates.sort_by_key(|(o, _)| (o.floor_price, o.tiebreak));
        let mut highest_floor = 0;
        for (offer, _) in candidates {
            let left = offers[&offer.id].0.capacity - used.get(&offer.id).copied().unwrap_or(0);
            let units = need.min(left);
            if units == 0 {
                continue;
            }
            fills.push(Fill { intent: intent.id, offer: offer.id, units });
            highest_floor = highest_floor.max(offer.floor_price);
            need -= units;
            if need == 0 {
                break;
            }
        }
        if need > 0 {
            return None;
        }
        let price = fixed.unwrap_or(highest_floor);
        cost += u128::from(price) * u128::from(component.quantity);
        prices.push((market, price));
    }
    (cost <= u128::from(intent.max_price)).then_some((fills, prices))
}

/// Markets a proposal trades in, for reports.
pub fn markets_of(call: &MarketCall) -> BTreeSet<MarketId> {
    match call {
        MarketCall::Solve { prices, .. } => prices.iter().map(|p| p.market).collect(),
        _ => BTreeSet::new(),
    }
}

/// Intents a proposal fills, for reports.
pub fn intents_of(call: &MarketCall) -> BTreeSet<IntentId> {
    match call {
        MarketCall::Solve { fills, .. } => fills.iter().map(|f| f.intent).collect(),
        _ => BTreeSet::new(),
    }
}
