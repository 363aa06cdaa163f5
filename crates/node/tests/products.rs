//! Private data products end to end through the API and the embedded MQTT broker of a real
//! node: a weather station's owner lists a sealed stream; buyer A subscribes paying per
//! reading through a payment channel, buyer B per period; the gateway and the chain hold only
//! ciphertext; both buyers receive readings live over MQTT on their own subscription topics
//! and decrypt them and the history; a reading's proof verifies offline; the owner revokes B,
//! the stream moves to a new key epoch and B cannot read the next readings while A can; the
//! channel closes with A's last voucher and pays exactly readings x price. Bad input refused
//! with its code.

mod common;

use common::{RawMqtt, TestNode};
use commonware_codec::DecodeExt;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_sdk::{
    Client,
    api::ReadingsQuery,
    client::TxStatus,
    device::{DeviceIdentity, numeric},
    privacy::{self, Subscriber, account_mqtt_login},
    verify::verify_reading,
};
use machina_types::{
    Address, BankCall, Call, ChannelsCall, Event, Hash, IdentityCall, ProductsCall, SignedReading,
    Value,
    channels::{ChannelsEvent, SignedVoucher, Voucher},
    products::{Access, Payment, PeriodPrice, ProductId, ProductsEvent, SubscriptionId, Terms},
    sealed::{self, Key},
};
use rumqttc::mqttbytes::{
    QoS,
    v4::{Packet, Subscribe, SubscribeReasonCode},
};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const STREAM: u32 = 1;
/// Price per reading, through the channel.
const PER_READING: u64 = 10;
const DEPOSIT: u64 = 1_000;

const MAKER: usize = 0;
const OWNER: usize = 1;
const A: usize = 2;
const B: usize = 3;

struct World {
    node: TestNode,
    station: DeviceIdentity,
    /// The owner's stream secret (provisioned to the station).
    secret: Key,
    seq: u64,
}

impl World {
    fn new() -> Self {
        let node = TestNode::start_with(|config| {
            config.gateway.anchor_interval_ms = 200;
            config.gateway.mqtt_listen = Some(common::free_addr());
        });
        let maker_key = PrivateKey::from_seed(901);
        let register = IdentityCall::RegisterMaker {
            name: "Skyworks".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond: node.genesis.params.identity.min_maker_bond,
        };
        node.client.execute(&node.accounts[MAKER], vec![register.into()], WAIT).unwrap();
        let station = DeviceIdentity::certify(
            PrivateKey::from_seed(7_100),
            node.addr(MAKER),
            &maker_key,
            "WS-1",
            "station-1",
        );
        let gateway = node.client.status().unwrap().gateway.account;
        node.client
            .onboard_devices(
                &node.accounts[OWNER],
                std::slice::from_ref(&station),
                Some(gateway),
                WAIT,
            )
            .unwrap();
        Self { node, station, secret: privacy::random(), seq: 0 }
    }

    fn client(&self) -> &Client {
        &self.node.client
    }

    fn addr(&self, i: usize) -> Address {
        self.node.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.client().account(&self.addr(i)).unwrap().balance
    }

    fn run(&self, key: &PrivateKey, call: impl Into<Call>) -> TxStatus {
        let (_, hash) = self.client().send(key, vec![call.into()]).unwrap();
        self.client().wait(&hash, WAIT).unwrap()
    }

    fn ok(&self, i: usize, call: impl Into<Call>) -> Vec<Event> {
        let status = self.run(&self.node.accounts[i], call);
        assert_eq!(status.status.to_string(), "finalized", "{:?}", status.error);
        status.receipt.map(|r| r.events).unwrap_or_default()
    }

    fn refused(&self, key: &PrivateKey, call: impl Into<Call>, code: &str) {
        let status = self.run(key, call);
        let error = status.error.as_ref().map(|e| e.code.as_str());
        assert_eq!(error, Some(code), "{status:?}");
    }

    fn until(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn subscribe(
        &self,
        i: usize,
        product: ProductId,
        payment: Payment,
        key: Key,
    ) -> SubscriptionId {
        let call = ProductsCall::Subscribe { product, payment, encryption_key: key };
        self.ok(i, call)
            .iter()
            .find_map(|e| match e {
                Event::Products(ProductsEvent::Subscribed { subscription, .. }) => {
                    Some(*subscription)
                }
                _ => None,
            })
            .expect("subscribed")
    }

    /// The owner publishes each listed stream's key of the current epoch for `subscription`.
    fn publish_keys(&self, product: ProductId, subscription: SubscriptionId) -> TxStatus {
        let epoch = self.client().stream_keys(&self.station.id(), STREAM).unwrap().epoch;
        let sub = self.client().subscription(subscription).unwrap();
        let grants = privacy::grants(&self.secret, &self.station.id(), &[STREAM], epoch, &sub);
        self.run(&self.node.accounts[OWNER], ProductsCall::PublishKeys { product, keys: grants })
    }

    /// The station measures `tenths` of a degree: it seals the reading under the stream's
    /// current epoch (read from the chain) and submits it; the sealed reading.
    fn measure(&mut self, tenths: i64) -> SignedReading {
        self.seq += 1;
        let epoch = self.client().stream_keys(&self.station.id(), STREAM).unwrap().epoch;
        let key = sealed::epoch_key(&self.secret, &self.station.id(), STREAM, epoch);
        let value = numeric(tenths, 1, "C");
        let now = now_ms();
        let reading =
            self.station.sealed_reading(STREAM, self.seq, now, value, &key, epoch).unwrap();
        self.client().submit_reading(&reading).unwrap();
        reading
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A subscriber connected to the embedded broker as its account.
struct Live {
    mqtt: RawMqtt,
}

impl Live {
    /// Logs in as `key`'s account and subscribes to `subscription`'s topic; whether the
    /// broker granted it.
    fn connect(node: &TestNode, key: &PrivateKey, subscription: SubscriptionId) -> (Self, bool) {
        let chain = node.genesis.chain_id.clone();
        let client_id = format!("buyer-{subscription}-{}", now_ms());
        let login = account_mqtt_login(key, &chain, &client_id);
        let (mqtt, code) = RawMqtt::connect(node.mqtt.unwrap(), &client_id, Some(login), 60);
        assert_eq!(code, Some(rumqttc::mqttbytes::v4::ConnectReturnCode::Success));
        let mut live = Self { mqtt };
        let granted = live.subscribe(subscription);
        (live, granted)
    }

    fn subscribe(&mut self, subscription: SubscriptionId) -> bool {
        let topic = format!("machina/v1/subscriptions/{subscription}/readings");
        self.mqtt.send(Packet::Subscribe(Subscribe::new(topic, QoS::AtMostOnce)));
        loop {
            match self.mqtt.next() {
                Some(Packet::SubAck(ack)) => {
                    return matches!(ack.return_codes[0], SubscribeReasonCode::Success(_));
                }
                Some(_) => {}
                None => panic!("the broker closed the connection"),
            }
        }
    }

    /// The next reading delivered.
    fn next(&mut self) -> SignedReading {
        loop {
            match self.mqtt.next() {
                Some(Packet::Publish(p)) => return SignedReading::decode(p.payload).unwrap(),
                Some(_) => {}
                None => panic!("the broker closed the connection"),
            }
        }
    }

    /// Whether no reading arrives within `wait`.
    fn silent(&mut self, wait: Duration) -> bool {
        !matches!(self.mqtt.next_within(wait), Some(Packet::Publish(_)))
    }
}

fn celsius(tenths: i64) -> Value {
    numeric(tenths, 1, "C")
}

#[test]
fn a_private_weather_stream_is_sold_per_reading_and_per_period_and_revocation_locks_out() {
    let mut w = World::new();
    // The owner lists the station's temperature stream, sealed, with history.
    let list = ProductsCall::List {
        device: w.station.id(),
        streams: vec![STREAM],
        terms: Terms {
            asset: None,
            per_reading: Some(PER_READING),
            per_period: Some(PeriodPrice { price: 500, period_ms: 3_600_000 }),
            licence: Hash::of(&[b"CC-BY-4.0"]),
            access: Access::Anyone {},
            history: true,
            sealed: true,
        },
    };
    let product = w
        .ok(OWNER, list)
        .iter()
        .find_map(|e| match e {
            Event::Products(ProductsEvent::Listed { product, .. }) => Some(*product),
            _ => None,
        })
        .unwrap();

    // A pays per reading through a channel; B per period.
    let payee = w.addr(OWNER);
    let open = ChannelsCall::Open { payee, asset: None, deposit: DEPOSIT, challenge_blocks: 100 };
    let channel = w
        .ok(A, open)
        .iter()
        .find_map(|e| match e {
            Event::Channels(ChannelsEvent::Opened { channel, .. }) => Some(*channel),
            _ => None,
        })
        .unwrap();
    let (a_secret, b_secret): (Key, Key) = (privacy::random(), privacy::random());
    let a_sub =
        w.subscribe(A, product, Payment::Channel { channel }, sealed::encryption_key(&a_secret));
    let owner_before_b = w.balance(OWNER);
    let b_sub =
        w.subscribe(B, product, Payment::Periods { periods: 2 }, sealed::encryption_key(&b_secret));
    assert_eq!(w.balance(OWNER), owner_before_b + 1_000, "two periods paid up front");
    for sub in [a_sub, b_sub] {
        let status = w.publish_keys(product, sub);
        assert_eq!(status.status.to_string(), "finalized", "{:?}", status.error);
    }
    let mut a = Subscriber::new(a_secret, a_sub, w.station.id());
    let mut b = Subscriber::new(b_secret, b_sub, w.station.id());

    // Each buyer receives only its own subscription's topic.
    let (mut a_live, granted) = Live::connect(&w.node, &w.node.accounts[A], a_sub);
    assert!(granted);
    let (mut b_live, granted) = Live::connect(&w.node, &w.node.accounts[B], b_sub);
    assert!(granted);
    assert!(!b_live.subscribe(a_sub), "B may not subscribe to A's topic");

    // Three readings: both receive each live and decrypt it; A pays for each as it arrives.
    let chain_id = w.node.genesis.chain_id.clone();
    let a_key = w.node.accounts[A].clone();
    let voucher =
        |cumulative| SignedVoucher::sign(&a_key, &chain_id, Voucher { channel, cumulative });
    let temps = [215, 220, 198];
    for (n, tenths) in (1..).zip(temps) {
        let sent = w.measure(tenths);
        let (got_a, got_b) = (a_live.next(), b_live.next());
        assert_eq!((&got_a, &got_b), (&sent, &sent));
        assert_eq!(a.open(w.client(), &got_a.reading).unwrap(), celsius(tenths));
        assert_eq!(b.open(w.client(), &got_b.reading).unwrap(), celsius(tenths));
        let paid = w.client().pay_subscription(a_sub, &voucher(n * PER_READING)).unwrap();
        assert_eq!(paid.delivered, n);
    }

    // The gateway and the chain hold only ciphertext.
    let history = w.client().readings(&w.station.id(), STREAM, &ReadingsQuery::default()).unwrap();
    assert_eq!(history.readings.len(), 3);
    for entry in &history.readings {
        let Value::Sealed { epoch: 0, ciphertext, .. } = &entry.reading.reading.value else {
            panic!("the gateway holds a plain value: {:?}", entry.reading.reading.value)
        };
        assert!(sealed::open(&entry.reading.reading, &[0; 32]).is_none());
        assert!(!ciphertext.windows(2).any(|w| w == b"C\0"), "no plaintext unit in sight");
    }
    let raw = serde_json::to_string(&history).unwrap();
    assert!(!raw.contains("\"numeric\""), "no numeric value is served");
    // Both decrypt the history.
    for (entry, tenths) in history.readings.iter().zip(temps) {
        assert_eq!(a.open(w.client(), &entry.reading.reading).unwrap(), celsius(tenths));
        assert_eq!(b.open(w.client(), &entry.reading.reading).unwrap(), celsius(tenths));
    }
    // A reading's proof verifies offline against the genesis validators, ciphertext and all.
    w.until("the first reading's anchor to be final", |w| {
        w.client().reading_proof(&w.station.id(), STREAM, 1).is_ok()
    });
    let bundle = w.client().reading_proof(&w.station.id(), STREAM, 1).unwrap();
    let verified = verify_reading(&bundle, &w.node.genesis).expect("the proof verifies");
    assert_eq!(verified.reading, history.readings[0].reading);
    assert_eq!(a.open(w.client(), &verified.reading.reading).unwrap(), celsius(temps[0]));

    // The owner revokes B: the stream moves to epoch 1, B's keys stop.
    let b_before = w.balance(B);
    let events = w.ok(OWNER, ProductsCall::Revoke { subscription: b_sub });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Products(ProductsEvent::Ended { revoked: true, .. })))
    );
    assert_eq!(w.balance(B), b_before + 500, "the period not begun is refunded");
    assert_eq!(w.client().stream_keys(&w.station.id(), STREAM).unwrap().epoch, 1);
    let refused = w.publish_keys(product, b_sub);
    assert_eq!(refused.error.map(|e| e.code), Some("subscription_ended".into()));
    let status = w.publish_keys(product, a_sub);
    assert_eq!(status.status.to_string(), "finalized");

    // The next reading, sealed under epoch 1: A reads it, B gets nothing and cannot open it.
    w.until("the gateway to see the revocation", |w| {
        w.client().subscription(b_sub).is_ok_and(|s| !s.is_active(now_ms()))
    });
    let sent = w.measure(187);
    assert_eq!(a_live.next(), sent);
    assert_eq!(a.open(w.client(), &sent.reading).unwrap(), celsius(187));
    assert!(b_live.silent(Duration::from_millis(500)), "B receives nothing more");
    match b.open(w.client(), &sent.reading) {
        Err(privacy::OpenError::NoKey(1)) => {}
        other => panic!("B opened a reading of the next epoch: {other:?}"),
    }
    let old_key = sealed::epoch_key(&w.secret, &w.station.id(), STREAM, 0);
    assert!(sealed::open(&sent.reading, &old_key).is_none(), "the old epoch's key is useless");

    // Until A pays for the fourth reading, the fifth is withheld from it.
    w.measure(190);
    assert!(a_live.silent(Duration::from_millis(500)), "the fifth reading is withheld");
    w.until("the gateway to withhold the fifth reading", |w| {
        w.client().subscription_payment(a_sub).unwrap().delivered == 4
    });

    // A pays for the fourth reading; the owner closes the channel with the gateway's latest
    // voucher and is paid exactly readings x price.
    w.client().pay_subscription(a_sub, &voucher(4 * PER_READING)).unwrap();
    // Vouchers that pay nothing new, or not for this channel and chain, are refused.
    let (code, _) = post(&w, a_sub, &voucher(3 * PER_READING));
    assert_eq!(code, "stale_voucher");
    let (code, _) = post(&w, a_sub, &voucher(6 * PER_READING));
    assert_eq!(code, "voucher_ahead", "4 readings delivered: at most 5 may be paid");
    let other_channel = SignedVoucher::sign(
        &w.node.accounts[A],
        &chain_id,
        Voucher { channel: channel + 1, cumulative: 90 },
    );
    assert_eq!(post(&w, a_sub, &other_channel).0, "voucher_for_another_channel");
    let other_chain = SignedVoucher::sign(
        &w.node.accounts[A],
        "another-chain",
        Voucher { channel, cumulative: 90 },
    );
    assert_eq!(post(&w, a_sub, &other_chain).0, "bad_voucher");
    let held = w.client().subscription_payment(a_sub).unwrap();
    assert_eq!(held.delivered, 4);
    let last = held.voucher.unwrap();
    let (owner_before, a_before) = (w.balance(OWNER), w.balance(A));
    let close = ChannelsCall::Close { channel, voucher: Some(last.clone()) };
    let status = w.run(&w.node.accounts[OWNER], close.clone());
    let fee = status.receipt.as_ref().unwrap().fee;
    assert_eq!(w.balance(OWNER), owner_before + 4 * PER_READING - fee);
    assert_eq!(w.balance(A), a_before + DEPOSIT - 4 * PER_READING);

    // Bad input, each refused with its code.
    w.refused(&w.node.accounts[OWNER], close, "channel_closed");
    let poor = PrivateKey::from_seed(4_242);
    let fund = BankCall::Transfer { to: Address::of(&poor.public_key()), amount: 100_000 };
    w.ok(MAKER, fund);
    let broke = ProductsCall::Subscribe {
        product,
        payment: Payment::Periods { periods: 1_000 },
        encryption_key: sealed::encryption_key(&[7; 32]),
    };
    w.refused(&poor, broke, "insufficient_funds");
}

/// Posts a voucher for `subscription`; the error code (or `ok`) and the HTTP status.
fn post(w: &World, subscription: SubscriptionId, voucher: &SignedVoucher) -> (String, u16) {
    match w.client().pay_subscription(subscription, voucher) {
        Ok(_) => ("ok".into(), 200),
        Err(machina_sdk::Error::Api { status, code, .. }) => (code, status),
        Err(e) => panic!("{e}"),
    }
}
