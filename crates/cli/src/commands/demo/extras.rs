//! What the demo sets up once, after the devices publish and the markets trade:
//!
//! - two oracle feeds over the weather stations (temperature and humidity medians);
//! - the solar roof tokenized into 1,000 shares (`dev0` its sponsor), an offering of 450 that
//!   `dev1`..`dev3` buy out, the roof selling energy (its revenue goes to its holders), and
//!   a holders' proposal to raise its floor price, voted for and executed once due;
//! - a weather station's streams listed as a data product (plain, by period or by reading),
//!   with `dev2` subscribed for two periods;
//! - a payment channel from the car-sharing company to the utility, paid by a voucher;
//! - a reward pool paying Northwind's devices for their anchored readings.
//!
//! Each step is tried a few times; one that keeps failing is logged and skipped.

use super::{
    LOG, Town, attempt, execute_all, find, supply,
    town::{CARSHARE, Kind, UTILITY},
};
use anyhow::{Result, bail};
use machina_sdk::privacy;
use machina_types::{
    Call, ChannelsCall, DataCall, Event, Hash, IdentityCall, MarketCall, OwnershipCall,
    ProductsCall,
    channels::{ChannelsEvent, SignedVoucher, Voucher},
    data::{DataEvent, Eligibility},
    identity::roles,
    market::{OfferId, ResourceKind},
    ownership::{
        MachineId, OfferingId, OwnershipEvent, ProposalId,
        state::{Decision, OfferingStatus, ProposalStatus},
    },
    products::{Access, Payment, PeriodPrice, ProductsEvent, Terms},
    rewards::{RewardsCall, RewardsEvent, Work},
    sealed,
};
use std::time::{Duration, Instant};

/// Attempts per step.
const ATTEMPTS: u32 = 3;
/// The solar roof's shares, those offered, their price, and what each buyer takes.
const SHARES: u64 = 1_000;
const OFFERED: u64 = 450;
const SHARE_PRICE: u64 = 1_000;
const PURCHASES: [(usize, u64); 3] = [(1, 200), (2, 150), (3, 100)];
/// The solar roof's energy floor (above the cheapest meters'), the floor its holders vote
/// for, and what it offers (it is not restocked: the roof produces plenty).
const SOLAR_FLOOR: u64 = 27;
const RAISED_FLOOR: u64 = 31;
const SOLAR_CAPACITY: u64 = 1_000_000;
/// How long the demo waits for the offering to deliver its shares.
const OFFERING_WAIT: Duration = Duration::from_secs(60);

/// Sets up everything once; the proposal to execute when it is due, if one was made.
pub(super) fn run(town: &Town) -> Option<ProposalId> {
    attempt("create the feeds", ATTEMPTS, || feeds(town));
    let proposal = machine(town);
    attempt("list a data product", ATTEMPTS, || product(town));
    attempt("open a payment channel", ATTEMPTS, || channel(town));
    attempt("open a reward pool", ATTEMPTS, || reward_pool(town));
    proposal
}

fn stations(town: &Town) -> Vec<machina_types::DeviceId> {
    town.of_kind(Kind::WeatherStation).map(|d| d.identity.id()).collect()
}

/// The temperature and humidity feeds: medians of at least three stations' fresh readings.
fn feeds(town: &Town) -> Result<()> {
    let feed = |name: &str, stream, unit: &str| -> Call {
        DataCall::CreateFeed {
            name: name.into(),
            stream,
            eligibility: Eligibility::Devices { devices: stations(town) },
            min_sources: 3,
            max_staleness_ms: 60_000,
            unit: unit.into(),
            decimals: 1,
        }
        .into()
    };
    let calls = vec![feed("Berlin air temperature", 1, "C"), feed("Berlin humidity", 2, "%")];
    let events = town.operators[UTILITY].execute(&town.client, calls)?;
    let feeds: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Data(DataEvent::FeedCreated { feed, .. }) => Some(*feed),
            _ => None,
        })
        .collect();
    town.journal.update(|r| r.feeds.extend(feeds));
    Ok(())
}

fn ownership_event<T>(
    events: &[Event],
    what: &str,
    pick: impl Fn(&OwnershipEvent) -> Option<T>,
) -> Result<T> {
    find(events, what, |e| match e {
        Event::Ownership(o) => pick(o),
        _ => None,
    })
}

/// The solar roof as a machine: tokenized, its shares offered and bought, selling energy,
/// and a proposal voted by its holders. Returns the proposal.
fn machine(town: &Town) -> Option<ProposalId> {
    let solar = town.of_kind(Kind::Solar).next()?;
    let machine = attempt("tokenize the solar roof", ATTEMPTS, || tokenize(town, solar))?;
    town.journal.update(|r| r.machine = Some(machine));
    let offering = attempt("offer the solar roof's shares", ATTEMPTS, || offering(town, machine))?;
    town.journal.update(|r| r.offering = Some(offering));
    attempt("buy the solar roof's shares", ATTEMPTS, || buy(town, offering));
    let offer = attempt("offer the solar roof's energy", ATTEMPTS, || {
        let sponsor = &town.dev[0];
        let mut calls = supply::stake_calls(town, sponsor)?;
        calls.push(supply::offer(solar, ResourceKind::Energy, SOLAR_FLOOR, SOLAR_CAPACITY));
        let events = sponsor.execute(&town.client, calls)?;
        supply::record_offers(town, &events);
        supply::posted_offer(&events)
    })?;
    attempt("wait for the offering's shares", 1, || delivered(town, offering))?;
    let proposal =
        attempt("propose a higher floor for the roof", ATTEMPTS, || propose(town, machine, offer))?;
    town.journal.update(|r| r.proposal = Some(proposal));
    attempt("vote on the proposal", ATTEMPTS, || vote(town, proposal));
    Some(proposal)
}

/// `dev0` tokenizes the roof into [`SHARES`] shares, keeping the seller role on it (role
/// grants survive tokenizing, so it goes on operating the roof for the holders).
fn tokenize(town: &Town, solar: &super::Device) -> Result<MachineId> {
    let (sponsor, device) = (&town.dev[0], solar.identity.id());
    let grant = IdentityCall::GrantRole {
        device,
        account: sponsor.address,
        role: roles::SELLER.into(),
        expiry_height: None,
    };
    let tokenize = OwnershipCall::Tokenize {
        devices: vec![device],
        symbol: "KOLLSUN".into(),
        name: "Solar roof Kollwitzkiez".into(),
        supply: SHARES,
        retained: 0,
        reserve_bps: 1_000,
        governance: None,
    };
    let events = sponsor.execute(&town.client, vec![grant.into(), tokenize.into()])?;
    ownership_event(&events, "machine", |e| match e {
        OwnershipEvent::Tokenized { machine, .. } => Some(*machine),
        _ => None,
    })
}

/// `dev0` offers [`OFFERED`] shares, at least 300 to sell, at most 300 per buyer.
fn offering(town: &Town, machine: MachineId) -> Result<OfferingId> {
    let sponsor = &town.dev[0];
    let height = town.client.status()?.height;
    let call = OwnershipCall::CreateOffering {
        machine,
        shares: OFFERED,
        price: SHARE_PRICE,
        asset: None,
        min_shares: 300,
        buyer_min: 1,
        buyer_max: 300,
        deadline: height + 3_000,
        beneficiary: sponsor.address,
        tranches: vec![],
        milestones_by: height + 13_000,
    };
    let events = sponsor.execute(&town.client, vec![call.into()])?;
    ownership_event(&events, "offering", |e| match e {
        OwnershipEvent::OfferingCreated { offering, .. } => Some(*offering),
        _ => None,
    })
}

/// `dev2`, a holder, proposes that the roof's energy offer sells from [`RAISED_FLOOR`].
fn propose(town: &Town, machine: MachineId, offer: OfferId) -> Result<ProposalId> {
    let amend =
        MarketCall::AmendOffer { offer, floor_price: RAISED_FLOOR, capacity: SOLAR_CAPACITY };
    let description = format!("offer {offer}: floor price {RAISED_FLOOR}");
    let call = OwnershipCall::Propose {
        machine,
        calls: vec![amend.into()],
        description: Hash::of(&[description.as_bytes()]),
    };
    let events = town.dev[2].execute(&town.client, vec![call.into()])?;
    ownership_event(&events, "proposal", |e| match e {
        OwnershipEvent::Proposed { proposal, .. } => Some(*proposal),
        _ => None,
    })
}

/// `dev1`..`dev3` buy their shares (those that have not yet).
fn buy(town: &Town, offering: u64) -> Result<()> {
    let mut txs = Vec::new();
    for (buyer, shares) in PURCHASES {
        let account = &town.dev[buyer];
        if town.client.purchase(offering, &account.address)?.is_none() {
            let call = OwnershipCall::Buy { offering, shares };
            txs.push((&**account, vec![call.into()]));
        }
    }
    execute_all(&town.client, txs).map(drop)
}

/// Waits until the offering closed and delivered its shares (their holders may then vote).
fn delivered(town: &Town, offering: u64) -> Result<()> {
    let started = Instant::now();
    loop {
        let status = town.client.offering(offering)?.status;
        match status {
            OfferingStatus::Succeeded => return Ok(()),
            OfferingStatus::Failed | OfferingStatus::Refunding => {
                bail!("offering {offering} missed its minimum")
            }
            _ if started.elapsed() > OFFERING_WAIT => {
                bail!("offering {offering} still {status:?} after {OFFERING_WAIT:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `dev1` and `dev2` vote for, `dev3` against (those that have not voted yet).
fn vote(town: &Town, proposal: ProposalId) -> Result<()> {
    let mut txs = Vec::new();
    for (voter, approve) in [(1, true), (2, true), (3, false)] {
        let account = &town.dev[voter];
        if town.client.ballot(proposal, &account.address)?.is_none() {
            let call = OwnershipCall::Vote { proposal, approve };
            txs.push((&**account, vec![call.into()]));
        }
    }
    execute_all(&town.client, txs).map(drop)
}

/// Executes `proposal` once its vote and timelock are over, if it was approved.
pub(super) fn execute_when_due(town: &Town, proposal: ProposalId) {
    let due = || -> Result<bool> {
        let view = town.client.proposal(proposal)?;
        let height = town.client.status()?.height;
        match (view.proposal.status, view.decision) {
            (ProposalStatus::Open, Decision::Voting) => Ok(false),
            (ProposalStatus::Open, Decision::Approved) if height + 1 < view.executable_from => {
                Ok(false)
            }
            (ProposalStatus::Open, Decision::Approved) => {
                let call = OwnershipCall::Execute { proposal };
                town.dev[2].execute(&town.client, vec![call.into()])?;
                tracing::info!(target: LOG, "proposal {proposal} executed");
                Ok(true)
            }
            (status, decision) => {
                tracing::info!(target: LOG, "proposal {proposal} is {status:?}, {decision:?}");
                Ok(true)
            }
        }
    };
    let mut failures = 0;
    while failures < ATTEMPTS {
        match due() {
            Ok(true) => return,
            Ok(false) => std::thread::sleep(Duration::from_secs(1)),
            Err(error) => {
                failures += 1;
                tracing::warn!(target: LOG, "executing proposal {proposal}: {error:#}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// The first weather station's streams as a product (plain readings, 10 per reading or 500
/// per hour), and `dev2`'s subscription for two hours.
fn product(town: &Town) -> Result<()> {
    let station = town.of_kind(Kind::WeatherStation).next().map(|d| d.identity.id());
    let Some(device) = station else { bail!("no weather station") };
    let terms = Terms {
        asset: None,
        per_reading: Some(10),
        per_period: Some(PeriodPrice { price: 500, period_ms: 3_600_000 }),
        licence: Hash::of(&[b"CC-BY-4.0"]),
        access: Access::Anyone {},
        history: true,
        sealed: false,
    };
    let list = ProductsCall::List { device, streams: vec![1, 2], terms };
    let events = town.operators[UTILITY].execute(&town.client, vec![list.into()])?;
    let product = find(&events, "product", |e| match e {
        Event::Products(ProductsEvent::Listed { product, .. }) => Some(*product),
        _ => None,
    })?;
    town.journal.update(|r| r.product = Some(product));
    let subscriber = &town.dev[2];
    let encryption_key = sealed::encryption_key(&privacy::encryption_secret(&subscriber.key));
    let payment = Payment::Periods { periods: 2 };
    let call = ProductsCall::Subscribe { product, payment, encryption_key };
    let events = subscriber.execute(&town.client, vec![call.into()])?;
    let subscription = find(&events, "subscription", |e| match e {
        Event::Products(ProductsEvent::Subscribed { subscription, .. }) => Some(*subscription),
        _ => None,
    })?;
    town.journal.update(|r| r.subscription = Some(subscription));
    Ok(())
}

/// A channel from the car-sharing company to the utility (paying for charging off chain),
/// and the utility settling a first voucher.
fn channel(town: &Town) -> Result<()> {
    let (payer, payee) = (&town.operators[CARSHARE], &town.operators[UTILITY]);
    let open = ChannelsCall::Open {
        payee: payee.address,
        asset: None,
        deposit: 100_000,
        challenge_blocks: 600,
    };
    let events = payer.execute(&town.client, vec![open.into()])?;
    let channel = find(&events, "channel", |e| match e {
        Event::Channels(ChannelsEvent::Opened { channel, .. }) => Some(*channel),
        _ => None,
    })?;
    town.journal.update(|r| r.channel = Some(channel));
    let voucher =
        SignedVoucher::sign(&payer.key, &town.chain_id, Voucher { channel, cumulative: 2_500 });
    payee.execute(&town.client, vec![ChannelsCall::Settle { channel, voucher }.into()])?;
    Ok(())
}

/// A pool (funded by `dev3`) paying Northwind's devices for anchored readings of stream 1,
/// every minute for a hundred minutes; its weather stations and trackers enroll.
fn reward_pool(town: &Town) -> Result<()> {
    let funder = &town.dev[3];
    let northwind = town.makers[0].address;
    let create = RewardsCall::CreatePool {
        asset: None,
        per_epoch: 90_000,
        epochs: 100,
        epoch_blocks: 600,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: Eligibility::Maker { maker: northwind },
        min_reputation: 0,
        max_work_per_epoch: 1_000,
    };
    let events = funder.execute(&town.client, vec![create.into()])?;
    let pool = find(&events, "pool", |e| match e {
        Event::Rewards(RewardsEvent::PoolCreated { pool, .. }) => Some(*pool),
        _ => None,
    })?;
    town.journal.update(|r| r.reward_pool = Some(pool));
    let enroll: Vec<Call> = town
        .devices
        .iter()
        .filter(|d| d.spec.maker == 0)
        .map(|d| RewardsCall::Enroll { pool, device: d.identity.id() }.into())
        .collect();
    for chunk in enroll.chunks(machina_types::limits::CALLS_PER_TX_MAX) {
        funder.execute(&town.client, chunk.to_vec())?;
    }
    Ok(())
}
