//! The gateway against a real node: devices publish signed readings over MQTT (the embedded
//! broker, and a real mosquitto broker the test starts) and HTTP; readings are stored,
//! anchored on chain and proven offline; every kind of bad reading is refused with its reason
//! and leaves nothing stored or anchored.

mod common;

use common::{TestNode, code, free_addr};
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_node::gateway::GatewayConfig;
use machina_sdk::api::ReadingsQuery;
use machina_sdk::{
    device::{DeviceIdentity, errors_topic, numeric, telemetry_topic},
    verify::{VerifyError, verify_reading},
};
use machina_types::{
    IdentityCall, SignedReading,
    codec::{hex, parse_hex},
    reading::SIGNED_READING_SIZE_MAX,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    process::{Child, Command},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const STREAM: u32 = 1;
const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A node whose gateway anchors every 200 ms, with MQTT set by `mqtt`.
fn node(mqtt: impl FnOnce(&mut GatewayConfig)) -> TestNode {
    TestNode::start_with(|config| {
        config.gateway.anchor_interval_ms = 200;
        mqtt(&mut config.gateway);
    })
}

fn devices(node: &TestNode, count: usize) -> (Vec<DeviceIdentity>, DeviceIdentity) {
    node.onboard_fleet(count)
}

fn reading(device: &DeviceIdentity, seq: u64, value: i64) -> SignedReading {
    device.reading(STREAM, seq, now_ms(), numeric(value, 1, "C"))
}

/// The stream's state: (stored, anchored).
fn stream(node: &TestNode, device: &DeviceIdentity) -> (u64, u64) {
    let (status, body) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", device.id()));
    assert_eq!(status, 200, "{body}");
    (body["stored"].as_u64().unwrap(), body["anchored"].as_u64().unwrap())
}

fn wait_stream(node: &TestNode, device: &DeviceIdentity, want: (u64, u64)) {
    let start = Instant::now();
    loop {
        let got = stream(node, device);
        if got == want {
            return;
        }
        assert!(start.elapsed() < WAIT, "stream state {got:?}, expected {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An MQTT client: publishes with QoS 1 and collects what arrives on subscribed topics.
struct Mqtt {
    runtime: tokio::runtime::Runtime,
    client: AsyncClient,
    events: rumqttc::EventLoop,
    acks: usize,
    received: Vec<(String, Value)>,
}

impl Mqtt {
    fn connect(broker: SocketAddr, id: &str, subscriptions: &[String]) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
        options.set_credentials(common::RELAY.0, common::RELAY.1);
        let (client, events) = AsyncClient::new(options, 1024);
        let mut mqtt = Self { runtime, client, events, acks: 0, received: Vec::new() };
        for topic in subscriptions {
            let client = mqtt.client.clone();
            let topic = topic.clone();
            mqtt.runtime.block_on(client.subscribe(topic, QoS::AtLeastOnce)).unwrap();
        }
        let mut subscribed = 0;
        mqtt.poll_until(|_, packet| {
            subscribed += usize::from(matches!(packet, Packet::SubAck(_)));
            subscribed == subscriptions.len()
        });
        mqtt
    }

    /// Polls the connection until `done` says so (given each incoming packet).
    fn poll_until(&mut self, mut done: impl FnMut(&mut Self, &Packet) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "MQTT: timed out");
            let event = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(100), self.events.poll()).await
            });
            let packet = match event {
                Ok(Ok(Event::Incoming(packet))) => packet,
                Ok(Err(error)) => panic!("MQTT: {error}"),
                _ => continue,
            };
            match &packet {
                Packet::PubAck(_) => self.acks += 1,
                Packet::Publish(p) => {
                    let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    self.received.push((p.topic.clone(), body));
                }
                _ => {}
            }
            if done(self, &packet) {
                return;
            }
        }
    }

    /// Publishes `payload` on `topic` with QoS 1.
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        let client = self.client.clone();
        self.runtime.block_on(client.publish(topic, QoS::AtLeastOnce, false, payload)).unwrap();
    }

    /// Waits until `acks` publishes in total are acknowledged and `received` messages in
    /// total arrived.
    fn wait(&mut self, acks: usize, received: usize) {
        self.poll_until(|m, _| m.acks >= acks && m.received.len() >= received);
    }
}

fn assert_proof_verifies_and_tampering_fails(node: &TestNode, device: &DeviceIdentity, seq: u64) {
    let bundle = node.client.reading_proof(&device.id(), STREAM, seq).unwrap();
    let verified = verify_reading(&bundle, &node.genesis).expect("the reading's proof verifies");
    assert_eq!(verified.reading.reading.seq, seq);
    assert_eq!(verified.reading.reading.device, device.id());

    // Through a JSON round trip, as `machina verify-reading FILE` reads it.
    let text = serde_json::to_string(&bundle).unwrap();
    let reread: machina_store::ReadingBundle = serde_json::from_str(&text).unwrap();
    assert!(verify_reading(&reread, &node.genesis).is_ok());

    // The encoded reading re-signed with a different value: not what the anchor committed.
    let original =
        SignedReading::decode_checked(&parse_hex(&bundle.reading).unwrap()).expect("decodes");
    let mut forged = bundle.clone();
    let mut changed = original.reading.clone();
    changed.value = numeric(-999, 1, "C");
    let resigned = changed.sign(&device.key);
    forged.reading = hex(&resigned.encode());
    forged.decoded = serde_json::to_value(&resigned).unwrap();
    assert_eq!(verify_reading(&forged, &node.genesis).unwrap_err(), VerifyError::BadMerkle);

    // Another sequence number, left unsigned.
    let mut forged = bundle.clone();
    let mut tampered = original.clone();
    tampered.reading.seq += 1;
    forged.reading = hex(&tampered.encode());
    forged.decoded = serde_json::to_value(&tampered).unwrap();
    assert!(verify_reading(&forged, &node.genesis).is_err());

    // A corrupted signature.
    let mut forged = bundle.clone();
    let mut bytes = parse_hex(&bundle.reading).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    forged.reading = hex(&bytes);
    assert!(verify_reading(&forged, &node.genesis).is_err());

    // Only the decoded copy changed.
    let mut forged = bundle;
    forged.decoded["reading"]["value"]["value"] = json!(12345);
    assert_eq!(verify_reading(&forged, &node.genesis).unwrap_err(), VerifyError::DecodedMismatch);
}

#[test]
fn readings_published_to_the_embedded_broker_are_anchored_and_proven_offline() {
    let node = node(|gateway| gateway.mqtt_listen = Some(free_addr()));
    let broker = node.mqtt.expect("the embedded broker runs");
    let (fleet, _) = devices(&node, 2);

    let mut mqtt = Mqtt::connect(broker, "device-test", &[errors_topic(&fleet[0].id())]);
    for seq in 1..=5 {
        let signed = reading(&fleet[0], seq, 200 + seq as i64);
        mqtt.publish(telemetry_topic(&fleet[0].id(), STREAM), signed.encode().to_vec());
    }
    mqtt.wait(5, 0);
    // Acknowledged means stored: the readings are readable at once.
    assert_eq!(stream(&node, &fleet[0]).0, 5);
    wait_stream(&node, &fleet[0], (5, 5));
    assert!(mqtt.received.is_empty(), "no refusals: {:?}", mqtt.received);

    // HTTP: the second device posts its readings.
    for seq in [10, 20] {
        let body = json!({ "reading": hex(&reading(&fleet[1], seq, 7).encode()) });
        let (status, answer) =
            node.post_raw("/v1/readings", body.to_string().as_bytes(), "application/json");
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["duplicate"], json!(false));
    }
    wait_stream(&node, &fleet[1], (2, 2));

    let query = ReadingsQuery { from_seq: Some(2), to_seq: Some(4), ..Default::default() };
    let listed = node.client.readings(&fleet[0].id(), STREAM, &query).unwrap().readings;
    assert_eq!(listed.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(listed.iter().all(|r| r.anchored && r.proof.is_some()));

    assert_proof_verifies_and_tampering_fails(&node, &fleet[0], 3);
    assert_proof_verifies_and_tampering_fails(&node, &fleet[1], 20);
}

/// A mosquitto broker on a free loopback port, stopped on drop.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start() -> Self {
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto is not installed (`apt-get install -y mosquitto`; .ci/run does)");
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {} {}\nallow_anonymous true\npersistence false\nlog_dest none\n",
                addr.port(),
                addr.ip()
            ),
        )
        .unwrap();
        let child = Command::new(binary).arg("-c").arg(&config).spawn().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, addr, _dir: dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn readings_published_through_a_mosquitto_broker_are_anchored_and_proven_offline() {
    let mosquitto = Mosquitto::start();
    let node = node(|gateway| gateway.mqtt_broker = Some(mosquitto.addr.to_string()));
    assert_eq!(node.mqtt, None, "no embedded broker when an external one is configured");
    let (fleet, _) = devices(&node, 1);
    let device = &fleet[0];

    let mut mqtt = Mqtt::connect(mosquitto.addr, "device-mosquitto", &[errors_topic(&device.id())]);
    for seq in 1..=4 {
        mqtt.publish(
            telemetry_topic(&device.id(), STREAM),
            reading(device, seq, 1).encode().to_vec(),
        );
    }
    // A forged reading: refused by the gateway, reported through mosquitto.
    let mut forged = reading(device, 5, 1);
    forged.signature = reading(device, 6, 1).signature;
    mqtt.publish(telemetry_topic(&device.id(), STREAM), forged.encode().to_vec());
    mqtt.wait(5, 1);
    assert_eq!(mqtt.received[0].0, errors_topic(&device.id()));
    assert_eq!(mqtt.received[0].1["code"], json!("bad_signature"));
    assert_eq!(mqtt.received[0].1["seq"], json!(5));

    wait_stream(&node, device, (4, 4));
    assert_proof_verifies_and_tampering_fails(&node, device, 2);
}

/// One bad reading, and the code it must be refused with.
struct Bad {
    what: &'static str,
    device: DeviceIdentity,
    payload: Vec<u8>,
    code: &'static str,
    http_status: u16,
}

#[test]
fn bad_readings_are_refused_with_their_reason_and_nothing_is_stored_or_anchored() {
    let node = node(|gateway| gateway.mqtt_listen = Some(free_addr()));
    let broker = node.mqtt.unwrap();
    let (fleet, unknown) = devices(&node, 2);
    let (good, retired) = (&fleet[0], &fleet[1]);
    let subscriptions: Vec<String> =
        [good, retired, &unknown].iter().map(|d| errors_topic(&d.id())).collect();
    let mut mqtt = Mqtt::connect(broker, "bad-input", &subscriptions);

    // Good readings 1, 2, 3 and 5 of one device and 1 of the other, anchored.
    for seq in [1, 2, 3, 5] {
        mqtt.publish(telemetry_topic(&good.id(), STREAM), reading(good, seq, 1).encode().to_vec());
    }
    mqtt.publish(telemetry_topic(&retired.id(), STREAM), reading(retired, 1, 1).encode().to_vec());
    mqtt.wait(5, 0);
    wait_stream(&node, good, (4, 4));
    wait_stream(&node, retired, (1, 1));

    // The second device is decommissioned: final, so its later readings are refused.
    let decommission = IdentityCall::Decommission { device: retired.id() };
    node.client.execute(&node.accounts[0], vec![decommission.into()], WAIT).unwrap();

    let stranger = PrivateKey::from_seed(77);
    let mut wrong_signature = reading(good, 6, 1);
    wrong_signature.signature = {
        let impostor = DeviceIdentity { key: stranger, certificate: good.certificate.clone() };
        reading(&impostor, 6, 1).signature
    };
    let mut oversized = reading(good, 6, 1).encode().to_vec();
    oversized.resize(SIGNED_READING_SIZE_MAX + 1, 0);
    let mut truncated = reading(good, 6, 1).encode().to_vec();
    truncated.truncate(truncated.len() - 10);
    let mut far_future = reading(good, 6, 1);
    far_future.reading.timestamp_ms = now_ms() + 3_600_000;
    let far_future = far_future.reading.sign(&good.key);
    let cases = [
        Bad {
            what: "wrong signature",
            device: good.clone(),
            payload: wrong_signature.encode().to_vec(),
            code: "bad_signature",
            http_status: 400,
        },
        Bad {
            what: "unknown device",
            device: unknown.clone(),
            payload: reading(&unknown, 1, 1).encode().to_vec(),
            code: "unknown_device",
            http_status: 400,
        },
        Bad {
            what: "decommissioned device",
            device: retired.clone(),
            payload: reading(retired, 2, 1).encode().to_vec(),
            code: "device_decommissioned",
            http_status: 400,
        },
        Bad {
            what: "replayed sequence with another value",
            device: good.clone(),
            payload: reading(good, 2, 99).encode().to_vec(),
            code: "sequence_not_increasing",
            http_status: 400,
        },
        Bad {
            what: "out-of-order sequence (4 after 5)",
            device: good.clone(),
            payload: reading(good, 4, 5).encode().to_vec(),
            code: "sequence_not_increasing",
            http_status: 400,
        },
        Bad {
            what: "timestamp an hour ahead",
            device: good.clone(),
            payload: far_future.encode().to_vec(),
            code: "timestamp_out_of_range",
            http_status: 400,
        },
        Bad {
            what: "oversized payload",
            device: good.clone(),
            payload: oversized,
            code: "oversized",
            http_status: 413,
        },
        Bad {
            what: "malformed payload",
            device: good.clone(),
            payload: b"{\"temperature\": 21.5}".to_vec(),
            code: "malformed",
            http_status: 400,
        },
        Bad {
            what: "truncated reading",
            device: good.clone(),
            payload: truncated,
            code: "malformed",
            http_status: 400,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        // MQTT: acknowledged (3.1.1 has no negative ack), refused on the errors topic.
        mqtt.publish(telemetry_topic(&case.device.id(), STREAM), case.payload.clone());
        mqtt.wait(6 + i, i + 1);
        let (topic, report) = mqtt.received.last().unwrap();
        assert_eq!(topic, &errors_topic(&case.device.id()), "{}", case.what);
        assert_eq!(report["code"], json!(case.code), "{}: {report}", case.what);
        assert!(report["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", case.what);

        // HTTP: a 4xx with the same code.
        let body = json!({ "reading": hex(&case.payload) });
        let (status, answer) =
            node.post_raw("/v1/readings", body.to_string().as_bytes(), "application/json");
        assert_eq!((status, code(&answer)), (case.http_status, case.code), "{}", case.what);
    }
    // A reading on another device's topic.
    mqtt.publish(telemetry_topic(&retired.id(), STREAM), reading(good, 9, 1).encode().to_vec());
    mqtt.wait(6 + cases.len(), cases.len() + 1);
    assert_eq!(mqtt.received.last().unwrap().1["code"], json!("topic_mismatch"));

    // An exact duplicate is acknowledged again and stored once.
    let query = ReadingsQuery { from_seq: Some(3), to_seq: Some(3), ..Default::default() };
    let stored = node.client.readings(&good.id(), STREAM, &query).unwrap();
    let stored = stored.readings[0].encoded.clone();
    let (status, answer) = node.post_raw(
        "/v1/readings",
        json!({ "reading": stored }).to_string().as_bytes(),
        "application/json",
    );
    assert_eq!((status, &answer["duplicate"]), (202, &json!(true)), "{answer}");

    // Nothing refused was stored or anchored, after several more anchoring intervals.
    node.wait_blocks(10);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(stream(&node, good), (4, 4));
    assert_eq!(stream(&node, retired), (1, 1));
    let (status, _) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", unknown.id()));
    assert_eq!(status, 200);
    assert_eq!(stream(&node, &unknown), (0, 0));
    let listed = node.client.readings(&good.id(), STREAM, &Default::default()).unwrap();
    let seqs: Vec<u64> = listed.readings.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 5]);

    // Malformed JSON and bad hex over HTTP.
    let (status, answer) = node.post_raw("/v1/readings", b"{\"reading\": ", "application/json");
    assert_eq!((status, code(&answer)), (400, "malformed_json"));
    let (status, answer) = node.post_raw(
        "/v1/readings",
        json!({ "reading": "zz" }).to_string().as_bytes(),
        "application/json",
    );
    assert_eq!((status, code(&answer)), (400, "malformed"));
}
