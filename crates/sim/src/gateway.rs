//! Gateway and market scenarios on the deterministic runtime.
//!
//! Validator 0 runs the gateway's core ([`machina_node::gateway::Core`]: admission, the
//! readings store, anchoring, feed reporting, the command relay) on the simulation's
//! runtime, as the node runs it on tokio. Devices are in-process broker clients
//! ([`machina_node::gateway::mqtt::LocalClient`]) with the same topic rules and admission as
//! an MQTT session; makers, owners, providers and consumers submit their transactions
//! through the validator's admission, as the API does. A scenario is a script over those
//! actors; everything it does, and everything the chain does, replays from the seed.
//!
//! After a run, [`Outcome`] holds the state root of the block at the plan's height, every
//! event of the blocks up to it, and the script's log: two runs with one seed give the same
//! outcome, bit for bit.

use crate::{engine::NodeState, properties::Check};
use commonware_codec::Encode;
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_cryptography::{Signer, ed25519};
use commonware_glue::simulate::{property::Property, tracker::ProgressTracker};
use commonware_runtime::{Clock, Spawner, Supervisor, deterministic};
use futures::future::BoxFuture;
use machina_app::{
    Genesis,
    exec::keys as chain_keys,
    modules::{
        bank::{keys as bank_keys, state::Account},
        data::{keys as data_keys, state::StreamState},
        identity::{keys as identity_keys, state::Device},
        market::{
            keys as market_keys,
            state::{Counters, Lease, LeaseStatus, Stake},
        },
    },
};
use machina_node::{
    ChainInfo, MachinaApp,
    application::Databases,
    gateway::{
        Core, GatewayConfig,
        commands::{ACKS_QUEUE_MAX, Outbox, acks_topic, commands_topic},
        mqtt::{Identity, LocalClient},
        submit::Submitter,
    },
    health::Health,
};
use machina_sdk::device::{DeviceIdentity, numeric, telemetry_topic, verify_command};
use machina_types::{
    Address, BlockEvents, Call, Event, Hash, IdentityCall, MarketCall, Receipt, Transaction,
    market::{
        ACK_NAMESPACE, ActuationAck, Component, Delivery, ResourceKind, StakeKind, ack_message,
    },
    state::{Key, decode_value},
};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

/// Balance of each scenario actor at genesis (a maker's bond is 10^9).
pub const ACTOR_BALANCE: u64 = 10_000_000_000;
/// The region offers and intents name.
const REGION: &str = "u33d";
/// How often the script looks at the finalized state while it waits.
const POLL: Duration = Duration::from_millis(50);
/// Readings each device of [`Scenario::ReadingsAnchored`] publishes.
pub const READINGS_PER_DEVICE: u64 = 20;
/// Devices of [`Scenario::ReadingsAnchored`].
const DEVICES: u64 = 3;
/// The price an unlock offer asks at least.
const FLOOR: u64 = 500;
/// The most an unlock intent pays.
const MAX_PRICE: u64 = 800;

/// What a scenario does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Three devices publish signed readings over the broker; the gateway stores and
    /// anchors all of them on chain.
    ReadingsAnchored,
    /// A lock offers "unlock"; a consumer's intent clears in a batch; the gateway sends the
    /// signed command; the lock checks it, performs it and acknowledges; the gateway relays
    /// the acknowledgement and the provider is paid.
    UnlockLeasedAndPaid,
    /// As above, but the lock never answers: after the deadline the consumer is refunded
    /// and the provider slashed.
    SilentLockSlashed,
    /// Peers' gossip goes through the same admission as the API, against state: a message
    /// that does not decode and a transaction from an account that cannot pay its fee are
    /// refused; a funded account's transaction is admitted and included.
    GossipAdmission,
}

/// The scenario's actors: keys of funded accounts and of the maker.
#[derive(Clone)]
pub struct Actors {
    /// Registers as a maker and certifies devices.
    pub maker: ed25519::PrivateKey,
    /// The maker's certificate-signing key.
    pub maker_key: ed25519::PrivateKey,
    /// Owns the devices, stakes and offers.
    pub provider: ed25519::PrivateKey,
    /// Posts intents.
    pub consumer: ed25519::PrivateKey,
    /// The gateway's account (anchors, deliveries, commands).
    pub gateway: ed25519::PrivateKey,
}

impl Actors {
    fn new() -> Self {
        let key = ed25519::PrivateKey::from_seed;
        Self {
            maker: key(3_000),
            maker_key: key(3_001),
            provider: key(3_002),
            consumer: key(3_003),
            gateway: key(3_004),
        }
    }

    /// The funded accounts.
    pub fn accounts(&self) -> Vec<Address> {
        [&self.maker, &self.provider, &self.consumer, &self.gateway]
            .iter()
            .map(|k| Address::of(&k.public_key()))
            .collect()
    }
}

/// A scenario to run on validator 0, and what it recorded.
#[derive(Clone)]
pub struct GatewayScenario {
    /// The script.
    pub scenario: Scenario,
    /// The actors.
    pub actors: Actors,
    log: Arc<Mutex<Vec<String>>>,
}

impl GatewayScenario {
    /// `scenario` with fresh actors and an empty log.
    pub fn new(scenario: Scenario) -> Self {
        Self { scenario, actors: Actors::new(), log: Arc::default() }
    }

    /// What the script recorded, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    fn record(&self, line: String) {
        self.log.lock().expect("log").push(line);
    }

    /// Starts the gateway's core on `context` and runs the script.
    pub async fn run(
        self,
        context: deterministic::Context,
        chain: Arc<ChainInfo>,
        stateful: commonware_glue::stateful::Mailbox<deterministic::Context, MachinaApp>,
    ) {
        let db = stateful.subscribe_databases().await;
        // The script starts on the first finalized state (genesis applied).
        while chain.height() == 0 {
            context.sleep(POLL).await;
        }
        let config = GatewayConfig { anchor_interval_ms: 500, ..GatewayConfig::default() };
        let health = Arc::new(Health::unregistered());
        let gateway_key = self.actors.gateway.clone();
        // Signatures are checked on the simulation's one thread: a pool's scheduling is not
        // part of the seed.
        let workers = commonware_parallel::Sequential;
        let core =
            Core::start(&context, &config, gateway_key, chain.clone(), db.clone(), health, workers)
                .await;
        let (acks_tx, acks) = tokio::sync::mpsc::channel(ACKS_QUEUE_MAX);
        core.broker.forward_acks(acks_tx);
        let outbox = Outbox::Embedded(core.broker.clone());
        core.relay(&context, outbox, acks).await.expect("command relay");
        let mut world = World { context, chain, db, core, scenario: self.clone() };
        match self.scenario {
            Scenario::ReadingsAnchored => world.readings_anchored().await,
            Scenario::UnlockLeasedAndPaid => world.unlock(true).await,
            Scenario::SilentLockSlashed => world.unlock(false).await,
            Scenario::GossipAdmission => world.gossip().await,
        }
        self.record("done".into());
    }
}

/// The script's view of the chain and the gateway.
struct World {
    context: deterministic::Context,
    chain: Arc<ChainInfo>,
    db: Databases<deterministic::Context>,
    core: Core<deterministic::Context>,
    scenario: GatewayScenario,
}

impl World {
    fn now_ms(&self) -> u64 {
        self.context.current().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    async fn read<T: commonware_codec::Decode<Cfg = ()>>(&self, key: &Key) -> Option<T> {
        let guard = self.db.read().await;
        let bytes = guard.get(&key.digest()).await.expect("state read");
        bytes.map(|v| decode_value(key, &v.0))
    }

    async fn balance(&self, key: &ed25519::PrivateKey) -> u64 {
        let account: Option<Account> =
            self.read(&bank_keys::account(&Address::of(&key.public_key()))).await;
        account.unwrap_or_default().balance
    }

    /// Waits until `done` holds of the finalized state.
    async fn until<T>(&self, what: &str, mut done: impl AsyncCheck<T>) -> T {
        loop {
            if let Some(value) = done.check(self).await {
                return value;
            }
            assert!(self.chain.height() < 10_000, "{what} never happened");
            self.context.sleep(POLL).await;
        }
    }

    /// Signs `calls` with `key` (next nonce, exact fee), admits them as the node admits its
    /// own transactions ([`Submitter`]) and waits for the receipt; panics unless they
    /// succeeded (the script's transactions are valid by construction).
    async fn execute(&mut self, key: &ed25519::PrivateKey, calls: Vec<Call>) -> Receipt {
        let (chain, db) = (self.chain.clone(), self.db.clone());
        let submitter = Submitter::new(self.context.child("actor"), chain, db, key.clone());
        let hash = submitter.submit(calls).await.expect("admitted").tx;
        let receipt: Receipt = self.until("inclusion", ReceiptOf(hash)).await;
        assert!(
            matches!(receipt.outcome, machina_types::Outcome::Success),
            "{:?}",
            receipt.outcome
        );
        receipt
    }

    /// Registers the maker and onboards `count` devices to the provider, granting the
    /// gateway its role.
    async fn devices(&mut self, count: u64, model: &str) -> Vec<DeviceIdentity> {
        let actors = self.scenario.actors.clone();
        let register = IdentityCall::RegisterMaker {
            name: "acme".into(),
            maker_key: Address::of(&actors.maker_key.public_key()),
            bond: self.chain.genesis().params.identity.min_maker_bond,
        };
        self.execute(&actors.maker, vec![register.into()]).await;
        let maker = Address::of(&actors.maker.public_key());
        let owner = Address::of(&actors.provider.public_key());
        let gateway = Address::of(&actors.gateway.public_key());
        let chain_id = self.chain.genesis().chain_id.clone();
        let mut devices = Vec::new();
        for serial in 0..count {
            let key = ed25519::PrivateKey::from_seed(4_000 + serial);
            let device = DeviceIdentity::certify(
                key,
                maker,
                &actors.maker_key,
                model,
                &format!("serial-{serial}"),
            );
            let calls = device.onboard_calls(&chain_id, &owner, Some(gateway));
            self.execute(&actors.provider, calls).await;
            devices.push(device);
        }
        self.scenario.record(format!("onboarded {count} {model} devices"));
        devices
    }

    async fn readings_anchored(&mut self) {
        let devices = self.devices(DEVICES, "weather-station").await;
        let clients: Vec<LocalClient> = devices
            .iter()
            .map(|d| {
                self.core.broker.connect_local(Identity::Device(d.id()), self.core.ingest.clone())
            })
            .collect();
        for seq in 0..READINGS_PER_DEVICE {
            for (device, client) in devices.iter().zip(&clients) {
                let value = numeric(200 + (seq as i64 % 7), 1, "C");
                let reading = device.reading(1, seq, self.now_ms(), value);
                let topic = telemetry_topic(&device.id(), 1);
                client.publish(&topic, reading.encode()).await.expect("the gateway stores it");
            }
            self.context.sleep(Duration::from_millis(100)).await;
        }
        self.scenario.record(format!("published {}", DEVICES * READINGS_PER_DEVICE));
        for device in &devices {
            let key = data_keys::stream(&device.id(), 1);
            let state: StreamState = self.until("anchoring", Anchored(key)).await;
            self.scenario.record(format!(
                "device {} anchored up to {:?} in {} anchors",
                device.id(),
                state.last_seq,
                state.anchors
            ));
        }
    }

    async fn unlock(&mut self, answers: bool) {
        let actors = self.scenario.actors.clone();
        let lock = self.devices(1, "lock").await.remove(0);
        let stake_amount = self.chain.genesis().params.market.min_provider_stake;
        let stake = MarketCall::Stake { kind: StakeKind::Provider, amount: stake_amount };
        self.execute(&actors.provider, vec![stake.into()]).await;
        let unlock = ResourceKind::Actuation { command: "unlock".into() };
        let offer = MarketCall::Offer {
            device: lock.id(),
            kind: unlock.clone(),
            region: REGION.into(),
            capacity: 3,
            floor_price: FLOOR,
            delivery: Delivery::DeviceAck,
            expiry_ms: self.now_ms() + 3_600_000,
        };
        self.execute(&actors.provider, vec![offer.into()]).await;
        if answers {
            self.spawn_lock(&lock);
        }
        let provider_before = self.balance(&actors.provider).await;
        let deadline_ms = if answers { 60_000 } else { 4_000 };
        let intent = MarketCall::Intent {
            region: REGION.into(),
            components: vec![Component { kind: unlock, quantity: 1 }],
            units: 1,
            max_price: MAX_PRICE,
            deadline_ms: self.now_ms() + deadline_ms,
            min_reputation: 0,
            partial: false,
        };
        self.execute(&actors.consumer, vec![intent.into()]).await;
        let lease: Lease = self.until("a lease", LeaseNumber(1)).await;
        self.scenario
            .record(format!("lease {} at price {} for {}", lease.id, lease.price, lease.device));
        let wanted = if answers { "delivered" } else { "refunded" };
        let settled: Lease = self.until(wanted, Settled(lease.id)).await;
        let provider_after = self.balance(&actors.provider).await;
        self.scenario.record(format!(
            "lease {} {:?}; provider balance {provider_before} -> {provider_after}",
            settled.id, settled.status
        ));
        let provider = Address::of(&actors.provider.public_key());
        let stake: Stake = self
            .read(&market_keys::stake(StakeKind::Provider, &provider))
            .await
            .unwrap_or_default();
        let device: Device =
            self.read(&identity_keys::device(&lock.id())).await.expect("onboarded");
        self.scenario.record(format!(
            "provider stake {} of {stake_bonded}; lock reputation {} good, {} bad",
            stake.bonded,
            device.reputation.good,
            device.reputation.bad,
            stake_bonded = stake_amount,
        ));
    }

    /// Hands validator 0 three peer messages: garbage, an unfunded sender's transfer and a
    /// funded one's.
    async fn gossip(&mut self) {
        let unfunded = ed25519::PrivateKey::from_seed(9_999);
        let transfer = |key: &ed25519::PrivateKey, nonce: u64, world: &World| {
            let to = Address::of(&world.scenario.actors.maker.public_key());
            let genesis = world.chain.genesis();
            Transaction {
                chain_id: genesis.chain_id.clone(),
                signer: Address::of(&key.public_key()),
                nonce,
                fee: 0,
                expiry_height: world.chain.height() + 100,
                calls: vec![machina_types::BankCall::Transfer { to, amount: 1 }.into()],
            }
            .sign_paying_fee(key, &genesis.params.fees)
        };
        let now = self.now_ms();
        let garbage = bytes::Bytes::from_static(&[0xff, 0xff, 0xff]);
        let outcome =
            machina_node::gossip::admit(&self.chain, &self.db, garbage, now, &mut self.context)
                .await;
        self.scenario.record(format!("garbage: {outcome:?}"));
        let message = vec![transfer(&unfunded, 0, self)].encode();
        let outcome =
            machina_node::gossip::admit(&self.chain, &self.db, message, now, &mut self.context)
                .await;
        let refused = outcome.expect("decodes").remove(0).expect_err("refused");
        self.scenario.record(format!("unfunded sender: {}", refused.name()));
        let consumer = self.scenario.actors.consumer.clone();
        let message = vec![transfer(&consumer, 0, self)].encode();
        let outcome =
            machina_node::gossip::admit(&self.chain, &self.db, message, now, &mut self.context)
                .await;
        let hash = outcome.expect("decodes").remove(0).expect("admitted");
        let receipt: Receipt = self.until("inclusion", ReceiptOf(hash)).await;
        self.scenario.record(format!("funded sender: included, {:?}", receipt.outcome));
    }

    /// The lock: takes commands from the broker, checks each (signed by its gateway, for
    /// this chain and device, in time), performs it and acknowledges it.
    fn spawn_lock(&self, lock: &DeviceIdentity) {
        let mut client =
            self.core.broker.connect_local(Identity::Device(lock.id()), self.core.ingest.clone());
        client.subscribe(&commands_topic(&lock.id())).expect("a device reads its commands");
        let chain_id = self.chain.genesis().chain_id.clone();
        let gateway = Address::of(&self.scenario.actors.gateway.public_key());
        let (lock, log) = (lock.clone(), self.scenario.clone());
        self.context.child("lock").spawn(move |context| async move {
            while let Some((_, payload)) = client.next().await {
                let now = context
                    .current()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let command = verify_command(&payload, &chain_id, &lock.id(), &gateway, now)
                    .expect("only the gateway's commands reach the lock");
                let message = ack_message(&chain_id, command.lease, &command.command);
                let signature = lock.key.sign(ACK_NAMESPACE, &message);
                let ack = ActuationAck { lease: command.lease, signature }.encode();
                client.publish(&acks_topic(&lock.id()), ack).await.expect("acknowledged");
                log.record(format!(
                    "lock performed {} for lease {}",
                    command.command, command.lease
                ));
            }
        });
    }
}

/// A condition on the finalized state, yielding a value once it holds.
trait AsyncCheck<T> {
    fn check<'a>(&'a mut self, world: &'a World) -> BoxFuture<'a, Option<T>>;
}

struct ReceiptOf(Hash);

impl AsyncCheck<Receipt> for ReceiptOf {
    fn check<'a>(&'a mut self, world: &'a World) -> BoxFuture<'a, Option<Receipt>> {
        Box::pin(async move { world.read(&chain_keys::receipt(&self.0)).await })
    }
}

struct Anchored(Key);

impl AsyncCheck<StreamState> for Anchored {
    fn check<'a>(&'a mut self, world: &'a World) -> BoxFuture<'a, Option<StreamState>> {
        Box::pin(async move {
            let state: StreamState = world.read(&self.0).await?;
            (state.last_seq == Some(READINGS_PER_DEVICE - 1)).then_some(state)
        })
    }
}

struct LeaseNumber(u64);

impl AsyncCheck<Lease> for LeaseNumber {
    fn check<'a>(&'a mut self, world: &'a World) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(async move {
            let counters: Counters = world.read(&market_keys::counters()).await?;
            if counters.next_lease <= self.0 {
                return None;
            }
            world.read(&market_keys::lease(self.0)).await
        })
    }
}

struct Settled(u64);

impl AsyncCheck<Lease> for Settled {
    fn check<'a>(&'a mut self, world: &'a World) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(async move {
            let lease: Lease = world.read(&market_keys::lease(self.0)).await?;
            matches!(lease.status, LeaseStatus::Delivered | LeaseStatus::Refunded).then_some(lease)
        })
    }
}

/// What a run produced: the state root of the block at the plan's height, every event of
/// the blocks up to it (JSON, one per line), and the script's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The state root the block at the plan's height commits to.
    pub state_root: Hash,
    /// Every event of blocks 1..=height, in order.
    pub events: Vec<String>,
    /// The script's log.
    pub log: Vec<String>,
}

/// Records the [`Outcome`] of validator 0 at `height` and checks that the script finished.
#[derive(Clone)]
pub struct RecordOutcome {
    /// The height whose block's state root is recorded.
    pub height: u64,
    /// The scenario (for its log).
    pub scenario: GatewayScenario,
    /// Where the outcome goes.
    pub outcome: Arc<Mutex<Option<Outcome>>>,
}

impl Property<ed25519::PublicKey, NodeState> for RecordOutcome {
    fn name(&self) -> &str {
        "gateway_scenario_outcome"
    }

    fn check<'a>(
        &'a self,
        _tracker: &'a ProgressTracker<ed25519::PublicKey>,
        states: &'a [&'a NodeState],
    ) -> Check<'a> {
        Box::pin(async move {
            let Some(NodeState::Honest(node)) = states.first() else {
                return Err("validator 0 is not running".into());
            };
            let log = self.scenario.log();
            if log.last().map(String::as_str) != Some("done") {
                return Err(format!(
                    "the scenario did not finish by height {}: {log:?}",
                    self.height
                ));
            }
            let db = node.stateful.subscribe_databases().await;
            let guard = db.read().await;
            let mut outcome = Outcome { log, ..Outcome::default() };
            for height in 1..=self.height {
                let block = node
                    .marshal
                    .get_block(Identifier::Height(Height::new(height)))
                    .await
                    .ok_or_else(|| format!("no finalized block at height {height}"))?;
                let block = block.inner();
                outcome.state_root = block.header.state_root;
                let mut events: Vec<Event> = Vec::new();
                for tx in &block.txs {
                    let key = chain_keys::receipt(&tx.hash());
                    let bytes = guard.get(&key.digest()).await.map_err(|e| e.to_string())?;
                    let receipt: Receipt = decode_value(&key, &bytes.ok_or("missing receipt")?.0);
                    events.extend(receipt.events);
                }
                let key = chain_keys::block_events(height);
                if let Some(bytes) = guard.get(&key.digest()).await.map_err(|e| e.to_string())? {
                    events.extend(decode_value::<BlockEvents>(&key, &bytes.0).0);
                }
                for event in events {
                    let json = serde_json::to_string(&event).map_err(|e| e.to_string())?;
                    outcome.events.push(format!("{height} {json}"));
                }
            }
            *self.outcome.lock().expect("outcome") = Some(outcome);
            Ok(())
        })
    }
}

/// The genesis accounts a scenario needs, funded.
pub fn fund(genesis: &mut Genesis, actors: &Actors) {
    for address in actors.accounts() {
        genesis
            .accounts
            .push(machina_app::genesis::GenesisAccount { address, balance: ACTOR_BALANCE });
    }
}
