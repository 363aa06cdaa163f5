//! `machina dev --demo`: a small town (central Berlin) living on the dev chain, for the
//! explorer and for anyone trying Machina for the first time.
//!
//! In a thread of its own, next to the node, the demo waits for the node's API, then works
//! only through the API and the embedded MQTT broker, as any client would: it funds a few
//! accounts from the dev accounts, registers three makers, onboards 30 devices and starts
//! them publishing signed readings (the device loop of `machina device simulate`), opens
//! markets for data, energy and unlocks ([`supply`]) where consumers and a solver trade
//! every batch ([`trade`]), and then sets up, once each, oracle feeds, a tokenized solar
//! roof with an offering and a holders' vote, a data product with a subscription, a payment
//! channel and a reward pool ([`extras`]). What it created is in `<home>/demo.json`
//! ([`journal`]).
//!
//! The devices come first and are onboarded in a few transactions, so that they publish
//! within seconds of the start; then the markets, whose first batches clear and whose first
//! leases are delivered a few seconds later; the rest follows. A failed step is logged and
//! tried again (or, for the extras, given up after a few attempts): the demo never stops the
//! node. Each run onboards new devices (and closes the offers of the devices of the previous
//! run, which no longer run), so restarting on an existing home works.

mod extras;
mod journal;
mod supply;
mod town;
mod trade;

use super::{
    Ctx,
    simulate::{Counters, Link, SimDevice, run_device},
};
use anyhow::{Context as _, Result, anyhow, bail};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use commonware_math::algebra::Random;
use journal::{DeviceEntry, Journal, Record};
use machina_sdk::{
    Client, Keyring,
    api::Status,
    client::TxState,
    device::{DeviceIdentity, now_ms},
};
use machina_types::{Address, BankCall, Call, Event, Hash, IdentityCall};
use serde_json::json;
use std::{
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};
use town::{MAKERS, OPERATORS, Owner, Spec, TOWN};

/// The target of the demo's logs (the node's default filter shows its `info`).
const LOG: &str = "machina_cli::demo";
/// The seed of the consumers' orders and of the devices' noise: the same seed gives the same
/// sequence of orders, batch by batch.
const SEED: u64 = 7;
/// How long the demo waits for one of its transactions to be final.
const FINALITY_WAIT: Duration = Duration::from_secs(30);
/// What the demo keeps on each operator account, and what each car holds to buy with.
const OPERATOR_FLOAT: u64 = 1_000_000_000;
const CAR_FLOAT: u64 = 50_000_000;

/// What the demo needs from the command line.
struct Options {
    home: PathBuf,
    client: Client,
    keyring: Keyring,
    json: bool,
}

/// Starts the demo in a thread of its own; it runs until the process ends.
pub(super) fn spawn(ctx: &Ctx) {
    let options = Options {
        home: ctx.home.root().to_path_buf(),
        client: ctx.client(),
        keyring: ctx.keyring(),
        json: ctx.json,
    };
    let spawned = std::thread::Builder::new().name("demo".into()).spawn(move || run(options));
    if let Err(error) = spawned {
        tracing::warn!(target: LOG, "cannot start its thread: {error}");
    }
}

/// An account the demo signs with. Its transactions are sent one at a time (each takes the
/// next nonce the node reports, pending ones included).
struct Account {
    /// Its keyring name (or the device's name, for a car).
    name: String,
    /// Its key.
    key: PrivateKey,
    /// Its address.
    address: Address,
    sending: Mutex<()>,
}

impl Account {
    fn new(name: &str, key: PrivateKey) -> Arc<Self> {
        let address = Address::of(&key.public_key());
        Arc::new(Self { name: name.to_string(), key, address, sending: Mutex::new(()) })
    }

    /// Holds the account's turn to send.
    fn turn(&self) -> MutexGuard<'_, ()> {
        self.sending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signs and submits `calls` (not waiting for finality); returns the transaction's hash.
    fn send(&self, client: &Client, calls: Vec<Call>) -> Result<Hash> {
        let _turn = self.turn();
        Ok(client.send(&self.key, calls).with_context(|| format!("from {}", self.name))?.1)
    }

    /// Signs and submits `calls` and waits until they are final; their events.
    fn execute(&self, client: &Client, calls: Vec<Call>) -> Result<Vec<Event>> {
        outcome(client, &self.send(client, calls)?)
    }
}

/// Waits until transaction `hash` is final; its events if it succeeded.
fn outcome(client: &Client, hash: &Hash) -> Result<Vec<Event>> {
    let status = client.wait(hash, FINALITY_WAIT)?;
    if status.status != TxState::Finalized {
        let reason = status
            .error
            .map_or_else(|| status.status.to_string(), |e| format!("{}: {}", e.code, e.message));
        bail!("transaction {hash} did not succeed: {reason}");
    }
    Ok(status.receipt.map(|r| r.events).unwrap_or_default())
}

/// Sends one transaction per account at once, then waits for all; the outcome of each.
fn execute_each(client: &Client, txs: Vec<(&Account, Vec<Call>)>) -> Vec<Result<Vec<Event>>> {
    let sent: Vec<Result<Hash>> =
        txs.into_iter().map(|(account, calls)| account.send(client, calls)).collect();
    sent.into_iter().map(|hash| outcome(client, &hash?)).collect()
}

/// Like [`execute_each`]; fails if any failed.
fn execute_all(client: &Client, txs: Vec<(&Account, Vec<Call>)>) -> Result<Vec<Vec<Event>>> {
    execute_each(client, txs).into_iter().collect()
}

/// The first value `pick` finds in `events`.
fn find<T>(events: &[Event], what: &str, pick: impl Fn(&Event) -> Option<T>) -> Result<T> {
    events.iter().find_map(pick).ok_or_else(|| anyhow!("the receipt has no {what}"))
}

/// Runs `step` until it succeeds, logging each failure and waiting a little longer after
/// each (at most 5 s).
fn persist<T>(what: &str, mut step: impl FnMut() -> Result<T>) -> T {
    let mut failures = 0u32;
    loop {
        match step() {
            Ok(value) => return value,
            Err(error) => {
                failures += 1;
                tracing::warn!(target: LOG, "{what} failed ({failures} times): {error:#}; again");
                std::thread::sleep(Duration::from_millis(500 * u64::from(failures.min(10))));
            }
        }
    }
}

/// Like [`persist`], at most `attempts` times; `None` if every attempt failed.
fn attempt<T>(what: &str, attempts: u32, mut step: impl FnMut() -> Result<T>) -> Option<T> {
    for failures in 1..=attempts {
        match step() {
            Ok(value) => return Some(value),
            Err(error) => {
                let attempt = format!("attempt {failures} of {attempts}");
                tracing::warn!(target: LOG, "{what} failed ({attempt}): {error:#}");
                std::thread::sleep(Duration::from_millis(500 * u64::from(failures)));
            }
        }
    }
    None
}

/// A device of the town, certified and (once onboarded) on chain.
struct Device {
    /// What it is and where.
    spec: &'static Spec,
    /// Its index in [`TOWN`].
    index: usize,
    /// Its key and certificate.
    identity: DeviceIdentity,
    /// Its owner.
    owner: Arc<Account>,
}

/// Everything the demo's threads share.
struct Town {
    /// The node.
    client: Client,
    /// Its chain.
    chain_id: String,
    /// Its gateway's account (anchors readings, signs commands, relays acknowledgements).
    gateway: Address,
    /// Its MQTT broker.
    broker: (String, u16),
    /// `dev0`..`dev3`.
    dev: Vec<Arc<Account>>,
    /// The makers, as [`MAKERS`] lists them.
    makers: Vec<Arc<Account>>,
    /// The operators, as [`OPERATORS`] lists them.
    operators: Vec<Arc<Account>>,
    /// The devices, as [`TOWN`] lists them.
    devices: Vec<Device>,
    /// The cars' own accounts (their device keys), in the order of the devices.
    cars: Vec<Arc<Account>>,
    /// The offers its sellers keep stocked.
    stock: Mutex<Vec<supply::Stock>>,
    /// What was created.
    journal: Journal,
    started: Instant,
    json: bool,
}

impl Town {
    /// The town's accounts (creating the demo's keys in the keyring if needed) and its
    /// devices, certified by their makers with fresh keys.
    fn new(options: &Options, status: &Status, started: Instant) -> Result<Self> {
        let key = |name: &str| -> Result<Arc<Account>> {
            let key = match options.keyring.get(name) {
                Ok(key) => key,
                Err(_) => options.keyring.generate(name)?,
            };
            Ok(Account::new(name, key.key))
        };
        let dev = (0..4)
            .map(|i| {
                let name = format!("dev{i}");
                let key = options.keyring.get(&name).with_context(|| {
                    format!("the demo needs the funded dev accounts dev0..dev3; {name} is missing")
                })?;
                Ok(Account::new(&name, key.key))
            })
            .collect::<Result<Vec<_>>>()?;
        let makers = MAKERS.iter().map(|(name, _)| key(name)).collect::<Result<Vec<_>>>()?;
        let operators = OPERATORS.iter().map(|(name, _)| key(name)).collect::<Result<Vec<_>>>()?;
        let devices = certify(&makers, &operators, &dev[0]);
        let cars = devices
            .iter()
            .filter(|d| d.spec.kind == town::Kind::Car)
            .map(|d| Account::new(d.spec.name, d.identity.key.clone()))
            .collect();
        let explorer = format!("{}/", options.client.url());
        let record = Record {
            started_ms: now_ms(),
            seed: SEED,
            explorer,
            makers: makers.iter().map(|m| m.address).collect(),
            ..Record::default()
        };
        Ok(Self {
            client: options.client.clone(),
            chain_id: status.chain_id.clone(),
            gateway: status.gateway.account,
            broker: broker(status)?,
            dev,
            makers,
            operators,
            devices,
            cars,
            stock: Mutex::new(Vec::new()),
            journal: Journal::new(options.home.join("demo.json"), record),
            started,
            json: options.json,
        })
    }

    /// Seconds since the process started the demo.
    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The devices of `kind`.
    fn of_kind(&self, kind: town::Kind) -> impl Iterator<Item = &Device> {
        self.devices.iter().filter(move |d| d.spec.kind == kind)
    }

    /// Funds what needs funds, from `dev0`: the makers' bonds, the operators' fees, stakes
    /// and deposits, and the cars' purchases.
    fn fund(&self) -> Result<()> {
        let bond = self.client.status()?.params.identity.min_maker_bond;
        let mut calls = Vec::new();
        let mut top_up = |account: &Account, floor: u64, amount: u64| -> Result<()> {
            if self.client.account(&account.address)?.balance < floor {
                calls.push(BankCall::Transfer { to: account.address, amount }.into());
            }
            Ok(())
        };
        for maker in &self.makers {
            if !self.is_maker(maker)? {
                top_up(maker, bond + OPERATOR_FLOAT / 10, bond + OPERATOR_FLOAT / 10)?;
            }
        }
        for operator in &self.operators {
            top_up(operator, OPERATOR_FLOAT / 2, OPERATOR_FLOAT)?;
        }
        for car in &self.cars {
            top_up(car, CAR_FLOAT / 2, CAR_FLOAT)?;
        }
        if !calls.is_empty() {
            self.dev[0].execute(&self.client, calls)?;
        }
        Ok(())
    }

    fn is_maker(&self, account: &Account) -> Result<bool> {
        match self.client.maker(&account.address) {
            Ok(_) => Ok(true),
            Err(machina_sdk::Error::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Registers the makers that are not yet (each signs its own registration; its maker
    /// key is its account key).
    fn register_makers(&self) -> Result<()> {
        let bond = self.client.status()?.params.identity.min_maker_bond;
        let mut txs = Vec::new();
        for (maker, (_, name)) in self.makers.iter().zip(MAKERS) {
            if !self.is_maker(maker)? {
                let call = IdentityCall::RegisterMaker {
                    name: name.to_string(),
                    maker_key: maker.address,
                    bond,
                };
                txs.push((&**maker, vec![call.into()]));
            }
        }
        execute_all(&self.client, txs).map(drop)
    }

    /// Onboards the devices not on chain yet, each owner's at once (in as few transactions
    /// as fit), granting the node's gateway the role to anchor their readings.
    fn onboard(&self) -> Result<()> {
        let owners: Vec<&Arc<Account>> = self.operators.iter().chain(&self.dev[..1]).collect();
        std::thread::scope(|scope| {
            let jobs: Vec<_> = owners
                .into_iter()
                .map(|owner| {
                    scope.spawn(move || -> Result<()> {
                        let mut fleet = Vec::new();
                        for device in
                            self.devices.iter().filter(|d| d.owner.address == owner.address)
                        {
                            if self.client.device(&device.identity.id()).is_err() {
                                fleet.push(device.identity.clone());
                            }
                        }
                        let _turn = owner.turn();
                        let gateway = Some(self.gateway);
                        self.client.onboard_devices(&owner.key, &fleet, gateway, FINALITY_WAIT)?;
                        Ok(())
                    })
                })
                .collect();
            jobs.into_iter().try_for_each(|job| {
                job.join().map_err(|_| anyhow!("an onboarding thread panicked"))?
            })
        })
    }

    /// Starts every device's loop on `runtime` and lists the devices in `demo.json`.
    fn start_devices(&self, runtime: &tokio::runtime::Runtime) {
        let counters = Arc::new(Counters::default());
        let link = Link { broker: self.broker.clone(), chain_id: self.chain_id.clone(), rate: 1.0 };
        let mut entries = Vec::new();
        for device in &self.devices {
            let spec = device.spec;
            let actuator = spec.kind == town::Kind::SmartLock && !spec.jammed;
            let sim = SimDevice {
                identity: device.identity.clone(),
                behaviour: town::behaviour(spec, device.index, SEED),
                gateway: actuator.then_some(self.gateway),
            };
            runtime.spawn(run_device(sim, link.clone(), counters.clone()));
            let (lat, lon) = spec.place;
            entries.push(DeviceEntry {
                id: device.identity.id(),
                name: spec.name,
                kind: spec.kind,
                model: spec.model,
                maker: self.makers[spec.maker].address,
                owner: device.owner.address,
                geohash: town::geohash(lat, lon, town::PLACE_PRECISION),
                stream: spec.kind.streams()[0].stream,
                streams: spec.kind.streams(),
                actuator,
            });
        }
        self.journal.update(|r| r.devices = entries);
    }

    /// Sets each device's `name`, `kind` and `geohash` attributes, for explorers and for
    /// anyone reading the chain without `demo.json`.
    fn describe_devices(&self) -> Result<()> {
        let mut txs = Vec::new();
        for owner in self.operators.iter().chain(&self.dev[..1]) {
            let calls: Vec<Call> = self
                .devices
                .iter()
                .filter(|d| d.owner.address == owner.address)
                .flat_map(|d| {
                    let (lat, lon) = d.spec.place;
                    let kind = serde_json::to_value(d.spec.kind).unwrap_or_default();
                    [
                        ("name", d.spec.name.to_string()),
                        ("kind", kind.as_str().unwrap_or_default().to_string()),
                        ("geohash", town::geohash(lat, lon, town::PLACE_PRECISION)),
                    ]
                    .map(|(key, value)| {
                        let device = d.identity.id();
                        let call = IdentityCall::SetAttribute {
                            device,
                            key: key.into(),
                            value: Some(value),
                        };
                        Call::from(call)
                    })
                })
                .collect();
            for chunk in calls.chunks(machina_types::limits::CALLS_PER_TX_MAX) {
                txs.push((&**owner, chunk.to_vec()));
            }
        }
        execute_all(&self.client, txs).map(drop)
    }

    /// Prints what the demo set up (JSON with `--json`).
    fn summary(&self) {
        let record = self.journal.snapshot();
        let count = |kind| self.of_kind(kind).count();
        use town::Kind::*;
        let body = json!({ "demo": record, "seconds": self.elapsed() });
        super::output(self.json, &body, || {
            let optional = |name: &str, id: Option<u64>| {
                id.map_or_else(String::new, |id| format!(", {name} {id}"))
            };
            format!(
                "demo: {} devices publishing ({} weather stations, {} smart meters, {} solar \
                 roof, {} smart locks, {} cars, {} trackers), {} markets with {} offers, \
                 consumers bidding every batch and a solver; {} feeds{}{}{}{}{}{}{}\n  \
                 explorer at {}  (what the demo created: {})",
                self.devices.len(),
                count(WeatherStation),
                count(SmartMeter),
                count(Solar),
                count(SmartLock),
                count(Car),
                count(Tracker),
                record.markets.len(),
                record.offers.len(),
                record.feeds.len(),
                optional("machine", record.machine),
                optional("offering", record.offering),
                optional("proposal", record.proposal),
                optional("product", record.product),
                optional("subscription", record.subscription),
                optional("channel", record.channel),
                optional("reward pool", record.reward_pool),
                record.explorer,
                self.journal.path().display(),
            )
        });
    }
}

/// The town's devices, each with a fresh key, certified by its maker for its owner.
fn certify(
    makers: &[Arc<Account>],
    operators: &[Arc<Account>],
    dev0: &Arc<Account>,
) -> Vec<Device> {
    let run = now_ms() / 1000;
    TOWN.iter()
        .enumerate()
        .map(|(index, spec)| {
            let maker = &makers[spec.maker];
            let owner = match spec.owner {
                Owner::Operator(i) => operators[i].clone(),
                Owner::Dev0 => dev0.clone(),
            };
            let serial = format!("demo-{run}-{index}");
            let key = PrivateKey::random(commonware_utils::sys_rng());
            let identity =
                DeviceIdentity::certify(key, maker.address, &maker.key, spec.model, &serial);
            Device { spec, index, identity, owner }
        })
        .collect()
}

/// The broker the node's status names (loopback for an unspecified listen address).
fn broker(status: &Status) -> Result<(String, u16)> {
    let address = status.gateway.mqtt.as_deref().context("the node runs no MQTT broker")?;
    let mut address: std::net::SocketAddr =
        address.parse().with_context(|| format!("the broker's address {address}"))?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok((address.ip().to_string(), address.port()))
}

/// The offers a previous run listed in `<home>/demo.json` (none if there is no such file).
fn previous_offers(home: &std::path::Path) -> Vec<machina_types::market::OfferId> {
    let Ok(bytes) = std::fs::read(home.join("demo.json")) else { return Vec::new() };
    let record: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    record["offers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .collect()
}

/// Polls the node until its API answers with a finalized block; its status.
fn wait_for_api(client: &Client) -> Status {
    loop {
        match client.status() {
            Ok(status) if status.height > 0 => return status,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The demo, from the node's first answer on (see the module's documentation).
fn run(options: Options) {
    let started = Instant::now();
    let runtime = persist("start the devices' runtime", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("demo-devices")
            .enable_all()
            .build()?;
        Ok(runtime)
    });
    let status = wait_for_api(&options.client);
    let previous = previous_offers(&options.home);
    let Some(town) = attempt("load the town's keys", 3, || Town::new(&options, &status, started))
    else {
        tracing::warn!(target: LOG, "the demo stops; the node runs on");
        return;
    };
    let town = Arc::new(town);
    persist("fund the demo's accounts", || town.fund());
    persist("register the makers", || town.register_makers());
    persist("onboard the devices", || town.onboard());
    town.start_devices(&runtime);
    let (devices, seconds) = (town.devices.len(), town.elapsed());
    tracing::info!(target: LOG, "{devices} devices onboarded and publishing, {seconds:.1} s in");
    persist("open the markets", || supply::open_markets(&town));
    trade::start(&town);
    if !previous.is_empty() {
        attempt("close the previous run's offers", 3, || supply::retire(&town, &previous));
    }
    let seconds = town.elapsed();
    tracing::info!(target: LOG, "markets open, consumers bidding, {seconds:.1} s in");
    attempt("set the devices' attributes", 3, || town.describe_devices());
    let proposal = extras::run(&town);
    town.summary();
    if let Some(proposal) = proposal {
        extras::execute_when_due(&town, proposal);
    }
    // The devices run on `runtime`, which lives as long as this thread: until the process ends.
    loop {
        std::thread::park();
    }
}
