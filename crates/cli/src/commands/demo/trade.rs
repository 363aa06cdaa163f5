//! The demo's buyers, in the markets [`supply`] opens. Every batch, app accounts (`dev1`,
//! `dev2`) bid for data and the cars, from their own accounts, for energy and unlocks, their
//! limits and quantities drawn from the seed and the batch and following the demo's day, so
//! the clearing prices move. Consumers confirm the data and energy they
//! receive (one lease in ten they leave unconfirmed: it times out, is refunded and its
//! seller slashed); locks acknowledge their unlocks over MQTT, except the jammed one. Every
//! few batches `dev2` asks for a bundle (two units of energy and one of data, all or nothing)
//! that only a solver can fill, and `dev3` runs the reference solver.

use super::{
    Account, LOG, SEED, Town, supply,
    town::{Lcg, daylight},
};
use machina_types::{
    Call, MarketCall,
    market::{
        Component, LeaseId, ResourceKind,
        state::{Lease, LeaseStatus},
    },
};
use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

/// Delivery deadlines of data and energy, of unlocks, and of bundles (ms from the intent).
const DEADLINE_MS: u64 = 12_000;
const UNLOCK_DEADLINE_MS: u64 = 15_000;
const BUNDLE_DEADLINE_MS: u64 = 10_000;
/// One batch in `BUNDLE_EVERY` carries a bundle.
const BUNDLE_EVERY: u64 = 5;
/// Leases each consumer's listing covers (more than it can have unsettled).
const LEASES_LISTED: u64 = 50;
/// Lease ids remembered as confirmed or seen settled (the oldest are forgotten).
const REMEMBERED_MAX: usize = 4096;

/// Starts the consumers and the solver, each in a thread of its own, until the process ends.
pub(super) fn start(town: &Arc<Town>) {
    let made = super::persist("read the market", || Ok(town.client.market()?.leases));
    let consumers = Consumers {
        town: town.clone(),
        first_lease: made + 1,
        confirmed: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    let solver = town.clone();
    for (name, job) in [
        ("demo-consumers", Box::new(move || consumers.run()) as Box<dyn FnOnce() + Send>),
        ("demo-solver", Box::new(move || solve(&solver))),
    ] {
        if let Err(error) = std::thread::Builder::new().name(name.into()).spawn(job) {
            tracing::warn!(target: LOG, "cannot start {name}: {error}");
        }
    }
}

/// Waits for the batch after `last` to open; its number.
fn next_batch(town: &Town, last: Option<u64>) -> u64 {
    loop {
        match town.client.market() {
            Ok(overview) if Some(overview.batch) != last => return overview.batch,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => {
                tracing::warn!(target: LOG, "reading the market: {error}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// An intent for `units` of `kind` at most `max_price` each, due `deadline_ms` from now.
fn intent(components: Vec<Component>, units: u64, max_price: u64, deadline_ms: u64) -> Call {
    MarketCall::Intent {
        region: supply::REGION.into(),
        partial: components.len() == 1
            && !matches!(components[0].kind, ResourceKind::Actuation { .. }),
        components,
        units,
        max_price,
        deadline_ms: machina_sdk::device::now_ms() + deadline_ms,
        min_reputation: 0,
    }
    .into()
}

fn one(kind: ResourceKind) -> Vec<Component> {
    vec![Component { kind, quantity: 1 }]
}

/// Whether the consumer of `lease` leaves it unconfirmed (one in ten), to time out.
fn left_to_lapse(lease: LeaseId) -> bool {
    Lcg::new(SEED, lease).below(10) == 0
}

/// The consumers: bid every batch, confirm what they received, record outcomes.
struct Consumers {
    town: Arc<Town>,
    /// The first lease this run can have made (earlier runs' leases are not its own).
    first_lease: LeaseId,
    /// Leases confirmed (so not confirmed twice).
    confirmed: BTreeSet<LeaseId>,
    /// Leases whose outcome was recorded.
    seen: BTreeSet<LeaseId>,
}

impl Consumers {
    fn run(mut self) {
        let mut batch = None;
        loop {
            let current = next_batch(&self.town, batch);
            batch = Some(current);
            let started = Instant::now();
            if current.is_multiple_of(supply::RESTOCK_EVERY)
                && let Err(error) = supply::restock(&self.town)
            {
                tracing::warn!(target: LOG, "restocking the offers: {error:#}");
            }
            for (account, calls) in self.orders(current) {
                if let Err(error) = account.send(&self.town.client, calls) {
                    tracing::warn!(target: LOG, "bidding in batch {current}: {error:#}");
                }
            }
            self.settle();
            let took = started.elapsed();
            tracing::debug!(target: LOG, "batch {current}: bid and settled in {took:?}");
        }
    }

    /// This batch's intents, per consumer.
    fn orders(&self, batch: u64) -> Vec<(Arc<Account>, Vec<Call>)> {
        let town = &self.town;
        let mut rng = Lcg::new(SEED, batch);
        let now = machina_sdk::device::now_ms();
        let day = daylight(now);
        // Energy is dearest at the evening peak, three hours after the warmest.
        let evening = daylight(now + super::town::DAY_MS / 8);
        let mut data = |base: f64| {
            let limit = (base + 40.0 * day) as u64 + rng.below(50);
            intent(one(ResourceKind::Data), 1 + rng.below(4), limit, DEADLINE_MS)
        };
        let mut orders = vec![
            (town.dev[1].clone(), vec![data(130.0)]),
            (town.dev[2].clone(), vec![data(120.0)]),
        ];
        if batch.is_multiple_of(BUNDLE_EVERY) {
            let bundle = vec![
                Component { kind: ResourceKind::Energy, quantity: 2 },
                Component { kind: ResourceKind::Data, quantity: 1 },
            ];
            orders[1].1.push(intent(bundle, 1, 260 + rng.below(60), BUNDLE_DEADLINE_MS));
        }
        let cars = town.cars.len() as u64;
        let unlocks = [0, 0, 1, 1, 2, 3][rng.below(6) as usize];
        for (i, car) in (0..).zip(&town.cars) {
            let mut calls = Vec::new();
            if (batch + i).is_multiple_of(3) {
                let limit = (30.0 + 8.0 * evening) as u64 + rng.below(15);
                calls.push(intent(
                    one(ResourceKind::Energy),
                    5 + rng.below(30),
                    limit,
                    DEADLINE_MS,
                ));
            }
            if (0..unlocks).any(|k| (batch + 2 * k) % cars == i) {
                let unlock = ResourceKind::Actuation { command: "unlock".into() };
                calls.push(intent(one(unlock), 1, 450 + rng.below(350), UNLOCK_DEADLINE_MS));
            }
            if !calls.is_empty() {
                orders.push((car.clone(), calls));
            }
        }
        orders
    }

    /// Confirms the data and energy each consumer received (but the leases left to lapse),
    /// and records the leases that settled.
    fn settle(&mut self) {
        let town = self.town.clone();
        let consumers = town.dev[1..3].iter().chain(&town.cars);
        let mut settled = Vec::new();
        for consumer in consumers {
            let leases = match town.client.leases(&consumer.address, LEASES_LISTED) {
                Ok(list) => list.leases,
                Err(error) => {
                    tracing::warn!(target: LOG, "listing the leases of {}: {error}", consumer.name);
                    continue;
                }
            };
            let mut confirms = Vec::new();
            let ours = |l: &&Lease| l.consumer == consumer.address && l.id >= self.first_lease;
            for lease in leases.iter().filter(ours) {
                match lease.status {
                    LeaseStatus::Delivered | LeaseStatus::Refunded
                        if remember(&mut self.seen, lease.id) =>
                    {
                        settled.push((lease.id, lease.status == LeaseStatus::Delivered));
                    }
                    LeaseStatus::Active
                        if !matches!(lease.kind, ResourceKind::Actuation { .. })
                            && !left_to_lapse(lease.id)
                            && remember(&mut self.confirmed, lease.id) =>
                    {
                        confirms.push(MarketCall::Confirm { lease: lease.id }.into());
                    }
                    _ => {}
                }
            }
            for chunk in confirms.chunks(machina_types::limits::CALLS_PER_TX_MAX) {
                if let Err(error) = consumer.send(&town.client, chunk.to_vec()) {
                    let name = &consumer.name;
                    tracing::warn!(target: LOG, "confirming deliveries to {name}: {error:#}");
                }
            }
        }
        if !settled.is_empty() {
            town.journal.update(|r| settled.into_iter().for_each(|(id, ok)| r.settled(id, ok)));
        }
    }
}

/// Adds `lease` to `set` (forgetting the oldest beyond [`REMEMBERED_MAX`]); whether it is new.
fn remember(set: &mut BTreeSet<LeaseId>, lease: LeaseId) -> bool {
    let new = set.insert(lease);
    while set.len() > REMEMBERED_MAX {
        set.pop_first();
    }
    new
}

/// The solver (`dev3`): every batch, the reference solver's allocation if it adds surplus
/// over the built-in clearing (it does when a bundle is open).
fn solve(town: &Town) {
    let solver = &town.dev[3];
    let mut batch = None;
    loop {
        let current = next_batch(town, batch);
        // Give the batch's orders time to land before reading the books.
        std::thread::sleep(Duration::from_millis(300));
        let proposal = match crate::solver::propose(&town.client) {
            Ok(Some(proposal)) if proposal.batch == current => proposal,
            Ok(_) => {
                batch = Some(current);
                continue;
            }
            Err(error) => {
                tracing::warn!(target: LOG, "the solver could not read the books: {error:#}");
                continue;
            }
        };
        batch = Some(current);
        let surplus = proposal.surplus;
        match solver.send(&town.client, vec![Call::Market(proposal.call)]) {
            Ok(_) => {
                tracing::debug!(target: LOG, "solution for batch {current} (surplus {surplus})");
                town.journal.update(|r| r.solutions += 1);
            }
            Err(error) => tracing::warn!(target: LOG, "submitting a solution: {error:#}"),
        }
    }
}
