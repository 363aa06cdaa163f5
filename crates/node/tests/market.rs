//! The market end to end through the API of a real node: offers, intents, batch auctions,
//! delivery by receipt, by claim, by a device's acknowledgement over real MQTT, timeouts with
//! refunds and slashing, competing solvers, and bad input refused with its reason.

mod common;

use common::{TestNode, free_addr};
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::modules::market::state::{Lease, LeaseStatus, OrderStatus};
use machina_sdk::{
    Client,
    client::TxStatus,
    device::{DeviceIdentity, mqtt_login, verify_command},
};
use machina_types::{
    Address, BankCall, Call, IdentityCall, MarketCall,
    market::{
        ACK_NAMESPACE, ActuationAck, Component, Delivery, Fill, MarketEvent, MarketPrice,
        ResourceKind, StakeKind, ack_message, market_id,
    },
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(30);
/// Blocks per batch: 0.5 s at 50 ms blocks.
const INTERVAL: u64 = 10;
/// Blocks per batch where solutions must meet the orders in one batch: 3 s.
const SOLVER_INTERVAL: u64 = 60;
const STAKE: u64 = 10_000_000;
const REGION: &str = "u33d";

/// Accounts of the test node.
const MAKER: usize = 0;
const PROVIDER: usize = 1;
const RIVAL: usize = 2;
const ALICE: usize = 3;
const BOB: usize = 4;
const SOLVER_A: usize = 5;
const SOLVER_B: usize = 6;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn market_node(mqtt: bool, interval: u64) -> TestNode {
    TestNode::start_custom(
        |params| {
            params.market.auction_interval_blocks = interval;
            params.market.dispute_window_ms = 1_500;
        },
        |config| {
            config.gateway.anchor_interval_ms = 200;
            if mqtt {
                config.gateway.mqtt_listen = Some(free_addr());
            }
        },
    )
}

struct Market {
    node: TestNode,
    maker_key: PrivateKey,
    serial: u64,
    interval: u64,
}

impl Market {
    fn new(mqtt: bool) -> Self {
        Self::with_interval(mqtt, INTERVAL)
    }

    fn with_interval(mqtt: bool, interval: u64) -> Self {
        let node = market_node(mqtt, interval);
        let maker_key = PrivateKey::from_seed(900);
        let register = IdentityCall::RegisterMaker {
            name: "acme".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond: node.genesis.params.identity.min_maker_bond,
        };
        node.client.execute(&node.accounts[MAKER], vec![register.into()], WAIT).unwrap();
        Self { node, maker_key, serial: 0, interval }
    }

    fn client(&self) -> &Client {
        &self.node.client
    }

    fn key(&self, i: usize) -> &PrivateKey {
        &self.node.accounts[i]
    }

    fn addr(&self, i: usize) -> Address {
        self.node.addr(i)
    }

    fn balance(&self, address: &Address) -> u64 {
        self.client().account(address).unwrap().balance
    }

    /// Runs `calls` from `key` and waits for the outcome (success or failure).
    fn run(&self, key: &PrivateKey, calls: Vec<Call>) -> TxStatus {
        let (_, hash) = self.client().send(key, calls).unwrap();
        self.client().wait(&hash, WAIT).unwrap()
    }

    fn ok(&self, i: usize, call: MarketCall) -> Vec<MarketEvent> {
        let status = self.run(self.key(i), vec![call.into()]);
        assert_eq!(status.status, "finalized", "{:?}", status.error);
        market_events(&status)
    }

    /// A device certified by the maker, onboarded to `owner` (who bonds provider stake once).
    fn device(&mut self, owner: usize) -> DeviceIdentity {
        self.serial += 1;
        let device = DeviceIdentity::certify(
            PrivateKey::from_seed(5_000 + self.serial),
            self.addr(MAKER),
            &self.maker_key,
            "lock",
            &format!("serial-{}", self.serial),
        );
        let gateway = self.client().status().unwrap().gateway.account;
        self.client()
            .onboard_devices(self.key(owner), std::slice::from_ref(&device), Some(gateway), WAIT)
            .unwrap();
        let stake = self.client().stake(&self.addr(owner)).unwrap();
        if stake.provider.bonded == 0 {
            self.ok(owner, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE });
        }
        device
    }

    fn offer(
        &self,
        seller: usize,
        device: &DeviceIdentity,
        kind: ResourceKind,
        floor: u64,
        capacity: u64,
        delivery: Delivery,
    ) -> u64 {
        let call = MarketCall::Offer {
            device: device.id(),
            kind,
            region: REGION.into(),
            capacity,
            floor_price: floor,
            delivery,
            expiry_ms: now_ms() + 3_600_000,
        };
        match self.ok(seller, call)[..] {
            [MarketEvent::OfferPosted { offer, .. }] => offer,
            ref other => panic!("{other:?}"),
        }
    }

    fn intent_call(
        kind: ResourceKind,
        units: u64,
        max_price: u64,
        deadline_in_ms: u64,
        partial: bool,
    ) -> MarketCall {
        MarketCall::Intent {
            region: REGION.into(),
            components: vec![Component { kind, quantity: 1 }],
            units,
            max_price,
            deadline_ms: now_ms() + deadline_in_ms,
            min_reputation: 0,
            partial,
        }
    }

    fn intent(&self, key: &PrivateKey, call: MarketCall) -> u64 {
        let status = self.run(key, vec![call.into()]);
        assert_eq!(status.status, "finalized", "{:?}", status.error);
        match market_events(&status)[..] {
            [MarketEvent::IntentPosted { intent, .. }] => intent,
            ref other => panic!("{other:?}"),
        }
    }

    /// Waits until `intent` was filled (all of it) and returns its leases.
    fn leases_of(&self, consumer: &Address, intent: u64) -> Vec<Lease> {
        let start = Instant::now();
        loop {
            let record = self.client().intent(intent).unwrap();
            if record.status != OrderStatus::Open {
                assert_eq!(record.status, OrderStatus::Filled);
                let list = self.client().leases(consumer, 100).unwrap();
                return list.leases.into_iter().filter(|l| l.intent == intent).collect();
            }
            assert!(start.elapsed() < WAIT, "intent {intent} was not filled");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_lease(&self, id: u64, done: impl Fn(&Lease) -> bool) -> Lease {
        let start = Instant::now();
        loop {
            let lease = self.client().lease(id).unwrap();
            if done(&lease) {
                return lease;
            }
            assert!(start.elapsed() < WAIT, "lease {id}: {lease:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the chain is at the start of a batch, so what is submitted next meets in
    /// one batch.
    fn batch_start(&self) -> u64 {
        loop {
            let market = self.client().market().unwrap();
            if market.height % self.interval <= 1 {
                return market.batch;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn protocol_fee(&self, value: u64) -> u64 {
        value * u64::from(self.node.genesis.params.market.protocol_fee_bps) / 10_000
    }
}

fn one(mut leases: Vec<Lease>) -> Lease {
    assert_eq!(leases.len(), 1, "{leases:?}");
    leases.remove(0)
}

fn market_events(status: &TxStatus) -> Vec<MarketEvent> {
    status
        .receipt
        .iter()
        .flat_map(|r| r.events.iter())
        .filter_map(|e| match e {
            machina_types::Event::Market(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn code(status: &TxStatus) -> String {
    status.error.as_ref().map(|e| e.code.clone()).unwrap_or_default()
}

#[test]
fn a_data_stream_purchase_is_delivered_by_the_consumers_receipt() {
    let mut m = Market::new(false);
    let sensor = m.device(PROVIDER);
    // The event stream shows the book changing and the batch's fills.
    let mut events = ureq::get(format!("{}/v1/events", m.node.url)).call().unwrap();
    let mut stream = std::io::BufReader::new(events.body_mut().as_reader());
    let offer = m.offer(PROVIDER, &sensor, ResourceKind::Data, 100, 10, Delivery::Receipt);
    let intent =
        m.intent(m.key(ALICE), Market::intent_call(ResourceKind::Data, 3, 150, 60_000, false));
    let lease = one(m.leases_of(&m.addr(ALICE), intent));
    assert_eq!((lease.units, lease.price, lease.status), (3, 125, LeaseStatus::Active));
    let mut seen = (false, false, false);
    let mut cleared_at = None;
    let mut line = String::new();
    let start = Instant::now();
    while seen != (true, true, true) {
        assert!(start.elapsed() < WAIT, "the event stream lacks {seen:?}");
        line.clear();
        std::io::BufRead::read_line(&mut stream, &mut line).unwrap();
        let Some(data) = line.strip_prefix("data:") else { continue };
        let block: Value = serde_json::from_str(data.trim()).unwrap();
        let receipts = block["receipts"].as_array().unwrap().iter();
        for event in receipts.flat_map(|r| r["events"].as_array().unwrap().iter()) {
            seen.0 |= event["action"] == "offer_posted" && event["offer"] == offer;
            seen.1 |= event["action"] == "intent_posted" && event["intent"] == intent;
        }
        for event in block["events"].as_array().unwrap() {
            if event["action"] == "market_cleared" && event["first_lease"] == lease.id {
                seen.2 = true;
                cleared_at = block["header"]["height"].as_u64();
            }
        }
    }
    // The chain keeps a block's block-level events: the block shows its clearing.
    let block = serde_json::to_value(m.client().block(cleared_at).unwrap()).unwrap();
    let events = block["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "market_cleared" && e["first_lease"] == lease.id));
    let seller_before = m.balance(&m.addr(PROVIDER));
    let events = m.ok(ALICE, MarketCall::Confirm { lease: lease.id });
    let fee = m.protocol_fee(lease.escrow);
    assert_eq!(
        events,
        vec![MarketEvent::Delivered {
            lease: lease.id,
            to: m.addr(PROVIDER),
            paid: lease.escrow - fee,
            fee
        }]
    );
    assert_eq!(m.balance(&m.addr(PROVIDER)) - seller_before, lease.escrow - fee);
    assert_eq!(m.client().lease(lease.id).unwrap().status, LeaseStatus::Delivered);
}

#[test]
fn a_compute_lease_is_delivered_on_the_providers_claim_when_nobody_disputes() {
    let mut m = Market::new(false);
    let server = m.device(PROVIDER);
    m.offer(PROVIDER, &server, ResourceKind::Compute, 40, 8, Delivery::Receipt);
    let intent =
        m.intent(m.key(BOB), Market::intent_call(ResourceKind::Compute, 8, 40, 60_000, true));
    let lease = one(m.leases_of(&m.addr(BOB), intent));
    assert_eq!(
        m.ok(PROVIDER, MarketCall::Claim { lease: lease.id }),
        vec![MarketEvent::Claimed { lease: lease.id }]
    );
    let seller_before = m.balance(&m.addr(PROVIDER));
    let delivered = m.wait_lease(lease.id, |l| l.status == LeaseStatus::Delivered);
    assert_eq!(delivered.escrow, 320);
    assert_eq!(m.balance(&m.addr(PROVIDER)) - seller_before, 320 - m.protocol_fee(320));
}

#[test]
fn an_unlock_bought_by_a_device_from_a_lock_over_mqtt_is_acknowledged_and_paid() {
    let mut m = Market::new(true);
    let lock = m.device(PROVIDER);
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    m.offer(PROVIDER, &lock, unlock.clone(), 500, 3, Delivery::DeviceAck);

    // The consumer is a car: a device with its own funded account.
    let car = m.device(RIVAL);
    let car_account = Address::of(&car.key.public_key());
    let fund = BankCall::Transfer { to: car_account, amount: 1_000_000 };
    assert_eq!(m.run(m.key(ALICE), vec![fund.into()]).status, "finalized");

    let lock_thread = run_lock(&m, &lock);

    // Snapshot before anything can pay the seller (the lock may be paid as soon as the batch
    // clears).
    let seller_before = m.balance(&m.addr(PROVIDER));
    let intent = m.intent(&car.key, Market::intent_call(unlock, 1, 800, 60_000, false));
    let lease = one(m.leases_of(&car_account, intent));
    assert_eq!(lease.device, lock.id());
    assert_eq!(lock_thread.join().unwrap(), lease.id, "the lock got the leased command");
    let delivered = m.wait_lease(lease.id, |l| l.status == LeaseStatus::Delivered);
    assert_eq!(delivered.price, 650);
    assert_eq!(m.balance(&m.addr(PROVIDER)) - seller_before, 650 - m.protocol_fee(650));
    // The node's metrics saw the clearing and the settlement.
    let metrics = m.node.get_text("/metrics");
    let sample = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| !l.starts_with('#') && l.contains(name));
        let line = line.unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a count")
    };
    assert!(sample("market_clearings_total") >= 1);
    assert!(sample("market_leases_made_total") >= 1);
    assert_eq!(sample("market_leases_settled_total{outcome=\"delivered\"}"), 1);
}

/// The lock: connects to the node's broker, waits for its command, signs the
/// acknowledgement and publishes it; the thread returns the lease it acknowledged. Returns
/// once the lock is subscribed.
fn run_lock(m: &Market, lock: &DeviceIdentity) -> std::thread::JoinHandle<u64> {
    let broker = m.node.mqtt.unwrap();
    let chain_id = m.node.genesis.chain_id.clone();
    let gateway = m.client().status().unwrap().gateway.account;
    let lock_key = lock.key.clone();
    let lock_id = lock.id();
    let (subscribed_tx, subscribed) = std::sync::mpsc::channel();
    let lock_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut options = MqttOptions::new("lock", broker.ip().to_string(), broker.port());
            let (user, password) = mqtt_login(&lock_key, &chain_id, &lock_id, "lock");
            options.set_credentials(user, password);
            let (client, mut events) = AsyncClient::new(options, 16);
            client
                .subscribe(format!("machina/v1/{lock_id}/commands"), QoS::AtLeastOnce)
                .await
                .unwrap();
            loop {
                match tokio::time::timeout(WAIT, events.poll()).await.expect("a command").unwrap() {
                    Event::Incoming(Packet::SubAck(_)) => subscribed_tx.send(()).unwrap(),
                    Event::Incoming(Packet::Publish(p)) => {
                        let command =
                            verify_command(&p.payload, &chain_id, &lock_id, &gateway, now_ms())
                                .expect("a command the gateway signed for this lock");
                        assert_eq!(command.command, "unlock");
                        let lease = command.lease;
                        let signature =
                            lock_key.sign(ACK_NAMESPACE, &ack_message(&chain_id, lease, "unlock"));
                        let ack = ActuationAck { lease, signature }.encode().to_vec();
                        client
                            .publish(
                                format!("machina/v1/{lock_id}/acks"),
                                QoS::AtLeastOnce,
                                false,
                                ack,
                            )
                            .await
                            .unwrap();
                        // Wait for the broker's acknowledgement, then stop.
                        loop {
                            if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.unwrap()
                            {
                                return lease;
                            }
                        }
                    }
                    _ => {}
                }
            }
        })
    });
    subscribed.recv_timeout(WAIT).unwrap();
    lock_thread
}

#[test]
fn a_command_forged_by_anyone_but_the_gateway_never_reaches_the_lock() {
    let mut m = Market::new(true);
    let lock = m.device(PROVIDER);
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    m.offer(PROVIDER, &lock, unlock.clone(), 500, 3, Delivery::DeviceAck);
    // The lock accepts only commands its gateway signed for an active lease of its own; the
    // thread fails on anything else it receives.
    let lock_thread = run_lock(&m, &lock);
    // Someone who can reach the broker publishes a fake command ahead of the real one: the
    // broker refuses it (only the gateway publishes commands).
    let broker = m.node.mqtt.unwrap();
    let relay = Some((common::RELAY.0.to_string(), common::RELAY.1.to_string()));
    let (mut attacker, _) = common::RawMqtt::connect(broker, "attacker", relay, 30);
    let fake = json!({ "lease": 999, "command": "unlock", "chain_id": m.node.genesis.chain_id });
    let mut publish = rumqttc::mqttbytes::v4::Publish::new(
        format!("machina/v1/{}/commands", lock.id()),
        rumqttc::mqttbytes::QoS::AtLeastOnce,
        fake.to_string(),
    );
    publish.pkid = 1;
    attacker.send(rumqttc::mqttbytes::v4::Packet::Publish(publish));
    assert!(attacker.until_closed().is_empty(), "the forgery is refused, unacknowledged");
    // The real command arrives, is performed, and pays the provider.
    let intent = m.intent(m.key(ALICE), Market::intent_call(unlock, 1, 800, 60_000, false));
    let lease = one(m.leases_of(&m.addr(ALICE), intent));
    assert_eq!(lock_thread.join().unwrap(), lease.id);
    m.wait_lease(lease.id, |l| l.status == LeaseStatus::Delivered);
}

#[test]
fn a_command_leased_before_a_restart_is_still_sent_and_paid() {
    let mut m = Market::new(true);
    let lock = m.device(PROVIDER);
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    m.offer(PROVIDER, &lock, unlock.clone(), 500, 3, Delivery::DeviceAck);
    // The lease is made while the lock is offline: the first sending reaches nobody.
    let intent = m.intent(m.key(ALICE), Market::intent_call(unlock, 1, 800, 60_000, false));
    let lease = one(m.leases_of(&m.addr(ALICE), intent));
    m.node.restart();
    let lock_thread = run_lock(&m, &lock);
    assert_eq!(lock_thread.join().unwrap(), lease.id, "the restarted node sent the command");
    let delivered = m.wait_lease(lease.id, |l| l.status == LeaseStatus::Delivered);
    assert_eq!(delivered.price, 650);
}

#[test]
fn a_lease_that_times_out_refunds_the_consumer_and_slashes_the_provider() {
    let mut m = Market::new(false);
    let lock = m.device(PROVIDER);
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    m.offer(PROVIDER, &lock, unlock.clone(), 500, 3, Delivery::DeviceAck);
    let intent = m.intent(m.key(ALICE), Market::intent_call(unlock, 1, 500, 4_000, false));
    let lease = one(m.leases_of(&m.addr(ALICE), intent));
    let alice_before = m.balance(&m.addr(ALICE));
    // Nobody acknowledges: after the deadline the lease is refunded and the seller slashed.
    let refunded = m.wait_lease(lease.id, |l| l.status == LeaseStatus::Refunded);
    assert_eq!(m.balance(&m.addr(ALICE)) - alice_before, refunded.escrow);
    let slash = 500 * u64::from(m.node.genesis.params.market.slash_bps) / 10_000;
    let stake = m.client().stake(&m.addr(PROVIDER)).unwrap();
    assert_eq!(stake.provider.bonded, STAKE - slash);
    let device = m.client().device(&lock.id()).unwrap();
    assert_eq!(device.reputation.bad, 1);
}

/// Two offers of 5 and three indivisible intents (6 at 50, 5 at 45, 5 at 45): the built-in
/// clearing serves only the 6; the two 5s trade more surplus.
fn solver_book(m: &mut Market) -> (u64, u64, u64, u64, u64) {
    let d1 = m.device(PROVIDER);
    let d2 = m.device(RIVAL);
    for solver in [SOLVER_A, SOLVER_B] {
        m.ok(solver, MarketCall::Stake { kind: StakeKind::Solver, amount: STAKE });
    }
    // Every order in one batch: submitted together, then awaited.
    m.batch_start();
    let offer = |d: &DeviceIdentity| MarketCall::Offer {
        device: d.id(),
        kind: ResourceKind::Storage,
        region: REGION.into(),
        capacity: 5,
        floor_price: 10,
        delivery: Delivery::Receipt,
        expiry_ms: now_ms() + 3_600_000,
    };
    let orders = [
        (PROVIDER, offer(&d1)),
        (RIVAL, offer(&d2)),
        (ALICE, Market::intent_call(ResourceKind::Storage, 6, 50, 60_000, false)),
        (BOB, Market::intent_call(ResourceKind::Storage, 5, 45, 60_000, false)),
        (7, Market::intent_call(ResourceKind::Storage, 5, 45, 60_000, false)),
    ];
    let sent: Vec<_> = orders
        .into_iter()
        .map(|(i, call)| m.client().send(m.key(i), vec![call.into()]).unwrap().1)
        .collect();
    let ids: Vec<u64> = sent
        .iter()
        .map(|hash| {
            let status = m.client().wait(hash, WAIT).unwrap();
            match market_events(&status)[..] {
                [MarketEvent::OfferPosted { offer, .. }] => offer,
                [MarketEvent::IntentPosted { intent, .. }] => intent,
                ref other => panic!("{other:?}"),
            }
        })
        .collect();
    (ids[0], ids[1], ids[2], ids[3], ids[4])
}

fn solve(batch: u64, price: u64, fills: Vec<Fill>) -> MarketCall {
    MarketCall::Solve {
        batch,
        prices: vec![MarketPrice { market: market_id(&ResourceKind::Storage, REGION), price }],
        fills,
    }
}

#[test]
fn two_solvers_compete_and_the_better_surplus_wins() {
    let mut m = Market::with_interval(false, SOLVER_INTERVAL);
    let (o1, o2, big, b1, b2) = solver_book(&mut m);
    let batch = m.client().market().unwrap().batch;
    let a = solve(
        batch,
        20,
        vec![Fill { intent: big, offer: o1, units: 5 }, Fill { intent: big, offer: o2, units: 1 }],
    );
    let b = solve(
        batch,
        20,
        vec![Fill { intent: b1, offer: o1, units: 5 }, Fill { intent: b2, offer: o2, units: 5 }],
    );
    m.ok(SOLVER_A, a);
    m.ok(SOLVER_B, b);
    let solver_before = m.balance(&m.addr(SOLVER_B));
    let leases = m.leases_of(&m.addr(BOB), b1);
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].price, 20);
    assert_eq!(m.client().intent(b2).unwrap().status, OrderStatus::Filled);
    assert_eq!(
        m.client().intent(big).unwrap().status,
        OrderStatus::Open,
        "the loser's allocation did not trade"
    );
    let reward = (350 - 240) * u64::from(m.node.genesis.params.market.solver_reward_bps) / 10_000;
    assert_eq!(m.balance(&m.addr(SOLVER_B)) - solver_before, reward);
}

#[test]
fn a_solution_that_exceeds_a_capacity_or_a_limit_is_rejected_with_its_reason() {
    let mut m = Market::with_interval(false, SOLVER_INTERVAL);
    let (o1, _, big, b1, _) = solver_book(&mut m);
    let batch = m.client().market().unwrap().batch;
    let over_capacity = solve(batch, 20, vec![Fill { intent: big, offer: o1, units: 6 }]);
    let status = m.run(m.key(SOLVER_A), vec![over_capacity.into()]);
    assert_eq!((status.status.as_str(), code(&status).as_str()), ("failed", "capacity_exceeded"));
    let over_limit = solve(batch, 46, vec![Fill { intent: b1, offer: o1, units: 5 }]);
    let status = m.run(m.key(SOLVER_A), vec![over_limit.into()]);
    assert_eq!((status.status.as_str(), code(&status).as_str()), ("failed", "limit_exceeded"));
    let solutions = m.client().solutions(batch).unwrap();
    assert!(solutions.solutions.is_empty());
}

#[test]
fn bad_market_input_is_refused_with_a_reason_and_changes_nothing() {
    let mut m = Market::new(false);
    let device = m.device(PROVIDER);
    let before = serde_json::to_value(m.client().market().unwrap()).unwrap();
    let escrow = machina_app::modules::market::escrow_account();

    // An intent whose escrow the consumer cannot pay.
    let poor = PrivateKey::from_seed(4242);
    let fund = BankCall::Transfer { to: Address::of(&poor.public_key()), amount: 50_000 };
    assert_eq!(m.run(m.key(ALICE), vec![fund.into()]).status, "finalized");
    // The mempool refuses it at once: its escrow exceeds the balance.
    let intent = Market::intent_call(ResourceKind::Compute, 10, 1_000_000, 60_000, true);
    match m.client().send(&poor, vec![intent.into()]) {
        Err(machina_sdk::Error::Api { code, .. }) => assert_eq!(code, "insufficient_funds"),
        other => panic!("an unaffordable intent was admitted: {other:?}"),
    }

    // An offer without provider stake.
    let unstaked = MarketCall::Offer {
        device: device.id(),
        kind: ResourceKind::Compute,
        region: REGION.into(),
        capacity: 1,
        floor_price: 1,
        delivery: Delivery::Receipt,
        expiry_ms: now_ms() + 60_000,
    };
    let grant = IdentityCall::GrantRole {
        device: device.id(),
        account: m.addr(BOB),
        role: machina_types::identity::roles::SELLER.into(),
        expiry_height: None,
    };
    assert_eq!(m.run(m.key(PROVIDER), vec![grant.into()]).status, "finalized");
    let status = m.run(m.key(BOB), vec![unstaked.clone().into()]);
    assert_eq!(code(&status), "insufficient_stake");

    // Expired: an intent whose deadline has passed, an offer already lapsed.
    let status = m
        .run(m.key(ALICE), vec![Market::intent_call(ResourceKind::Compute, 1, 10, 0, true).into()]);
    let expired_intent = code(&status);
    let mut lapsed = unstaked.clone();
    if let MarketCall::Offer { expiry_ms, .. } = &mut lapsed {
        *expiry_ms = 1;
    }
    let status = m.run(m.key(PROVIDER), vec![lapsed.into()]);
    assert_eq!((expired_intent.as_str(), code(&status).as_str()), ("bad_deadline", "bad_deadline"));

    // Malformed: refused at the door with a 400.
    let zero_units = Market::intent_call(ResourceKind::Compute, 0, 10, 60_000, true);
    let tx = machina_sdk::tx::build(
        m.key(ALICE),
        &m.node.params(m.client().account(&m.addr(ALICE)).unwrap().next_nonce),
        vec![zero_units.into()],
    );
    let (status, body) = m.node.submit(&tx);
    assert_eq!((status, common::code(&body)), (400, "invalid_call"));

    // By a decommissioned device: its offers, and intents from its own account.
    let device_account = Address::of(&device.key.public_key());
    let fund = BankCall::Transfer { to: device_account, amount: 50_000 };
    assert_eq!(m.run(m.key(ALICE), vec![fund.into()]).status, "finalized");
    let decommission = IdentityCall::Decommission { device: device.id() };
    assert_eq!(m.run(m.key(PROVIDER), vec![decommission.into()]).status, "finalized");
    let status = m.run(m.key(PROVIDER), vec![unstaked.into()]);
    assert_eq!(code(&status), "device_decommissioned");
    let buy = Market::intent_call(ResourceKind::Compute, 1, 10, 60_000, true);
    let status = m.run(&device.key, vec![buy.into()]);
    assert_eq!(code(&status), "device_decommissioned");

    let after = serde_json::to_value(m.client().market().unwrap()).unwrap();
    for field in ["offers", "intents", "leases", "markets", "totals"] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    assert_eq!(m.balance(&escrow), 0);
}
