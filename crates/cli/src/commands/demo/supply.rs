//! The demo's sellers and their offers, all in region `u33d` (central Berlin): the utility's
//! weather stations sell data and its smart meters energy, the property manager's locks
//! sell unlocks (and later the solar roof sells energy, see [`super::extras`]). Each offer
//! holds a small stock, which the seller tops up every [`RESTOCK_EVERY`] batches (posting a
//! new offer for a device whose offer sold out): the cheapest devices sell out first and the
//! dearer ones sell as a cycle goes on, so prices climb and fall back. The jammed lock's
//! offer is never topped up: it sells a few unlocks it never performs, which are refunded
//! and its seller slashed.

use super::{Account, LOG, Town, execute_each, find, town::Kind};
use anyhow::{Result, bail};
use machina_types::{
    Call, Event, MarketCall,
    market::{Delivery, MarketEvent, OfferId, ResourceKind, StakeKind, state::OrderStatus},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// The region every offer and intent names.
pub(super) const REGION: &str = "u33d";
/// Provider stake of each seller, and the solver's stake.
const PROVIDER_STAKE: u64 = 10_000_000;
const SOLVER_STAKE: u64 = 2_000_000;
/// How long offers stay open (ms).
const OFFER_TERM_MS: u64 = 7 * 24 * 3_600_000;
/// Offers are topped up once every this many batches.
pub(super) const RESTOCK_EVERY: u64 = 20;
/// Stock of each station (data), meter (energy, kWh), lock (unlocks) and the jammed lock.
const DATA_STOCK: u64 = 20;
const ENERGY_STOCK: u64 = 150;
const UNLOCK_STOCK: u64 = 5;
const JAMMED_STOCK: u64 = 3;

/// An offer a seller keeps stocked.
pub(super) struct Stock {
    /// The device (its index in the town).
    device: usize,
    kind: ResourceKind,
    floor: u64,
    /// What each top-up restores.
    capacity: u64,
    /// Whether it is topped up.
    restock: bool,
    /// Its current offer, once posted.
    offer: Option<OfferId>,
}

/// The offers of the town: stations from 80 per reading, meters from 18 per kWh, locks from
/// 300 per unlock, dearer device by device.
pub(super) fn plan(town: &Town) -> Vec<Stock> {
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    let (mut stations, mut meters, mut locks) = (0u64, 0u64, 0u64);
    let stock = |device, kind, floor, capacity, restock| Stock {
        device,
        kind,
        floor,
        capacity,
        restock,
        offer: None,
    };
    town.devices
        .iter()
        .filter_map(|d| {
            let (i, spec) = (d.index, d.spec);
            Some(match spec.kind {
                Kind::WeatherStation => {
                    stations += 1;
                    stock(i, ResourceKind::Data, 68 + 12 * stations, DATA_STOCK, true)
                }
                Kind::SmartMeter => {
                    meters += 1;
                    stock(i, ResourceKind::Energy, 15 + 3 * meters, ENERGY_STOCK, true)
                }
                Kind::SmartLock if spec.jammed => {
                    locks += 1;
                    stock(i, unlock.clone(), 250 + 50 * locks, JAMMED_STOCK, false)
                }
                Kind::SmartLock => {
                    locks += 1;
                    stock(i, unlock.clone(), 250 + 50 * locks, UNLOCK_STOCK, true)
                }
                _ => return None,
            })
        })
        .collect()
}

/// An offer of `device`'s resource in the demo's region.
pub(super) fn offer(device: &super::Device, kind: ResourceKind, floor: u64, capacity: u64) -> Call {
    let delivery = match kind {
        ResourceKind::Actuation { .. } => Delivery::DeviceAck,
        _ => Delivery::Receipt,
    };
    MarketCall::Offer {
        device: device.identity.id(),
        kind,
        region: REGION.into(),
        capacity,
        floor_price: floor,
        delivery,
        expiry_ms: machina_sdk::device::now_ms() + OFFER_TERM_MS,
    }
    .into()
}

/// The calls that bond `account`'s provider stake if it has too little.
pub(super) fn stake_calls(town: &Town, account: &Account) -> Result<Vec<Call>> {
    let stake = town.client.stake(&account.address)?;
    Ok(match stake.provider.bonded < PROVIDER_STAKE / 2 {
        true => {
            vec![MarketCall::Stake { kind: StakeKind::Provider, amount: PROVIDER_STAKE }.into()]
        }
        false => Vec::new(),
    })
}

fn solver_calls(town: &Town) -> Result<Vec<Call>> {
    let stake = town.client.stake(&town.dev[3].address)?;
    Ok(match stake.solver.bonded < SOLVER_STAKE / 2 {
        true => vec![MarketCall::Stake { kind: StakeKind::Solver, amount: SOLVER_STAKE }.into()],
        false => Vec::new(),
    })
}

/// Records the offers (and their markets) a receipt's events posted; their ids, in order.
pub(super) fn record_offers(town: &Town, events: &[Event]) -> Vec<OfferId> {
    let mut offers = Vec::new();
    town.journal.update(|r| {
        for event in events {
            if let Event::Market(MarketEvent::OfferPosted { offer, market, .. }) = event {
                r.offered(*offer);
                offers.push(*offer);
                if !r.markets.contains(market) {
                    r.markets.push(*market);
                }
            }
        }
    });
    offers
}

/// The offer a receipt posted.
pub(super) fn posted_offer(events: &[Event]) -> Result<OfferId> {
    find(events, "offer", |e| match e {
        Event::Market(MarketEvent::OfferPosted { offer, .. }) => Some(*offer),
        _ => None,
    })
}

/// Per seller: the calls to send and the stock entries whose new offers they post, in order.
type Jobs = BTreeMap<usize, (Vec<Call>, Vec<usize>)>;

/// Sends each seller's calls at once; gives each entry the offer its calls posted. Fails
/// with the first failure, after recording every success.
fn run_jobs(town: &Town, stock: &mut [Stock], jobs: Jobs, sellers: &[&Arc<Account>]) -> Result<()> {
    let jobs: Vec<_> = jobs.into_iter().filter(|(_, (calls, _))| !calls.is_empty()).collect();
    let txs = jobs.iter().map(|(seller, (calls, _))| (&**sellers[*seller], calls.clone()));
    let outcomes = execute_each(&town.client, txs.collect());
    let mut first_error = None;
    for ((_, (_, entries)), outcome) in jobs.iter().zip(outcomes) {
        match outcome {
            Ok(events) => {
                let posted = record_offers(town, &events);
                if posted.len() != entries.len() {
                    bail!("{} offers posted for {} entries", posted.len(), entries.len());
                }
                for (entry, offer) in entries.iter().zip(posted) {
                    stock[*entry].offer = Some(offer);
                }
            }
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The sellers of the stock: the devices' owners, each once.
fn sellers(town: &Town) -> Vec<&Arc<Account>> {
    let mut owners: Vec<&Arc<Account>> = Vec::new();
    for device in &town.devices {
        if !owners.iter().any(|o| o.address == device.owner.address) {
            owners.push(&device.owner);
        }
    }
    owners
}

/// Which of `owners` sells `stock`.
fn seller_of(town: &Town, owners: &[&Arc<Account>], stock: &Stock) -> usize {
    let owner = town.devices[stock.device].owner.address;
    owners.iter().position(|o| o.address == owner).expect("every device's owner is a seller")
}

/// Posts the offers not posted yet (each seller bonding its provider stake first, in the
/// same transaction) and bonds the solver's stake; records offers and markets. A retry
/// posts only what is missing.
pub(super) fn open_markets(town: &Town) -> Result<()> {
    let mut stock = town.stock.lock().unwrap_or_else(|e| e.into_inner());
    if stock.is_empty() {
        *stock = plan(town);
    }
    let owners = sellers(town);
    let mut jobs = Jobs::new();
    for (i, s) in stock.iter().enumerate().filter(|(_, s)| s.offer.is_none()) {
        let seller = seller_of(town, &owners, s);
        let job = match jobs.entry(seller) {
            std::collections::btree_map::Entry::Occupied(job) => job.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert((stake_calls(town, owners[seller])?, Vec::new()))
            }
        };
        job.0.push(offer(&town.devices[s.device], s.kind.clone(), s.floor, s.capacity));
        job.1.push(i);
    }
    let result = run_jobs(town, &mut stock, jobs, &owners);
    let solver = solver_calls(town)?;
    if !solver.is_empty() {
        town.dev[3].execute(&town.client, solver)?;
    }
    result
}

/// Tops up every stocked offer: amends an open one back to its capacity, posts a new one
/// where it sold out.
pub(super) fn restock(town: &Town) -> Result<()> {
    let mut stock = town.stock.lock().unwrap_or_else(|e| e.into_inner());
    let owners = sellers(town);
    let mut jobs = Jobs::new();
    let mut amended = BTreeSet::new();
    for (i, s) in stock.iter().enumerate().filter(|(_, s)| s.restock) {
        let Some(id) = s.offer else { continue };
        let current = town.client.offer(id)?;
        let job = jobs.entry(seller_of(town, &owners, s)).or_default();
        match current.status {
            OrderStatus::Open if current.capacity < s.capacity => {
                let amend = MarketCall::AmendOffer {
                    offer: id,
                    floor_price: s.floor,
                    capacity: s.capacity,
                };
                job.0.push(amend.into());
                amended.insert(id);
            }
            OrderStatus::Open => {}
            _ => {
                job.0.push(offer(&town.devices[s.device], s.kind.clone(), s.floor, s.capacity));
                job.1.push(i);
            }
        }
    }
    // At most one transaction's calls per seller and round; the rest waits for the next.
    for (calls, entries) in jobs.values_mut() {
        calls.truncate(machina_types::limits::CALLS_PER_TX_MAX);
        let posted = calls.iter().filter(|c| matches!(c, Call::Market(MarketCall::Offer { .. })));
        entries.truncate(posted.count());
    }
    tracing::debug!(target: LOG, "restocking {} offers", amended.len());
    run_jobs(town, &mut stock, jobs, &owners)
}

/// Closes the offers of a previous run that are still open: their devices no longer run (a
/// lock that does not run would sell unlocks it never performs).
pub(super) fn retire(town: &Town, offers: &[OfferId]) -> Result<()> {
    let sellers: Vec<&Arc<Account>> = town.operators.iter().chain(&town.dev[..1]).collect();
    let mut closes: BTreeMap<usize, Vec<Call>> = BTreeMap::new();
    for id in offers {
        let offer = match town.client.offer(*id) {
            Ok(offer) => offer,
            Err(machina_sdk::Error::Api { status: 404, .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        let seller = sellers.iter().position(|s| s.address == offer.seller);
        if let (OrderStatus::Open, Some(seller)) = (offer.status, seller) {
            closes.entry(seller).or_default().push(MarketCall::CloseOffer { offer: *id }.into());
        }
    }
    let txs = closes
        .iter()
        .flat_map(|(seller, calls)| {
            let chunks = calls.chunks(machina_types::limits::CALLS_PER_TX_MAX);
            chunks.map(|chunk| (&**sellers[*seller], chunk.to_vec()))
        })
        .collect();
    super::execute_all(&town.client, txs).map(drop)
}
