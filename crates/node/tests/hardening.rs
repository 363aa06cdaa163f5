//! Attacks on a real node (its API, its gateway, its embedded MQTT broker), each named after
//! what it used to break, each followed by a check that the node still does its work.

mod common;

use common::{RELAY, RawMqtt, TestNode, code, free_addr};
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_sdk::device::{DeviceIdentity, mqtt_login, numeric, telemetry_topic};
use machina_types::{Address, BankCall, Call, SignedTransaction, Transaction, codec::hex};
use rumqttc::mqttbytes::{
    QoS,
    v4::{ConnectReturnCode, Packet, PubAck, Publish, Subscribe},
};
use serde_json::json;
use std::{
    net::SocketAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const STREAM: u32 = 1;
const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn mqtt_node() -> TestNode {
    TestNode::start_with(|config| {
        config.gateway.mqtt_listen = Some(free_addr());
        config.gateway.anchor_interval_ms = 200;
    })
}

fn relay_login() -> Option<(String, String)> {
    Some((RELAY.0.into(), RELAY.1.into()))
}

fn device_login(node: &TestNode, device: &DeviceIdentity, client_id: &str) -> (String, String) {
    mqtt_login(&device.key, &node.genesis.chain_id, &device.id(), client_id)
}

fn publish(topic: &str, payload: Vec<u8>, pkid: u16) -> Packet {
    let mut p = Publish::new(topic, QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    Packet::Publish(p)
}

fn reading(device: &DeviceIdentity, seq: u64) -> Vec<u8> {
    device.reading(STREAM, seq, now_ms(), numeric(seq as i64, 0, "C")).encode().to_vec()
}

/// Waits until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/health` is 200 with every subsystem up.
fn assert_healthy(node: &TestNode) {
    let (status, body) = node.get_raw("/health");
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");
    for (name, subsystem) in body["subsystems"].as_object().unwrap() {
        assert_eq!(subsystem["up"], json!(true), "{name}: {subsystem}");
    }
}

/// A device publishes reading `seq` over MQTT and gets its PUBACK.
fn publish_acknowledged(node: &TestNode, broker: SocketAddr, device: &DeviceIdentity, seq: u64) {
    let id = format!("check-{seq}-{}", now_ms());
    let (mut mqtt, code) = RawMqtt::connect(broker, &id, Some(device_login(node, device, &id)), 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    mqtt.send(publish(&telemetry_topic(&device.id(), STREAM), reading(device, seq), 1));
    assert!(matches!(mqtt.next(), Some(Packet::PubAck(_))), "reading {seq} acknowledged");
}

fn stored(node: &TestNode, device: &DeviceIdentity) -> u64 {
    let (_, body) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", device.id()));
    body["stored"].as_u64().unwrap()
}

#[test]
fn a_reversed_readings_range_is_refused_and_every_subsystem_keeps_working() {
    let node = mqtt_node();
    let broker = node.mqtt.unwrap();
    let (fleet, _) = node.onboard_fleet(1);
    let device = &fleet[0];
    publish_acknowledged(&node, broker, device, 1);
    let path = format!("/v1/devices/{}/streams/{STREAM}/readings", device.id());
    // This used to panic while holding the readings index lock: every readings route, the
    // admission task and anchoring died with it, and /health still said ok.
    let (status, body) = node.get_raw(&format!("{path}?from_seq=5&to_seq=1"));
    assert_eq!((status, code(&body)), (400, "invalid_parameter"), "{body}");
    let (status, body) = node.get_raw(&format!("{path}?since_ms=9&until_ms=3"));
    assert_eq!((status, code(&body)), (400, "invalid_parameter"), "{body}");
    for query in ["from_seq=18446744073709551615", "to_seq=0&limit=0", "limit=18446744073709551615"]
    {
        let (status, body) = node.get_raw(&format!("{path}?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
    }
    let (status, body) = node.get_raw(&path);
    assert_eq!(status, 200, "{body}");
    publish_acknowledged(&node, broker, device, 2);
    wait_until("both readings anchored", || {
        let (_, body) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", device.id()));
        body["anchored"] == json!(2)
    });
    assert_healthy(&node);
}

#[test]
fn a_publish_on_a_topic_starting_with_a_multibyte_character_ends_only_that_session() {
    let node = mqtt_node();
    let broker = node.mqtt.unwrap();
    let (fleet, _) = node.onboard_fleet(1);
    // A subscriber with a wildcard filter, so that messages are matched against filters.
    let (mut watcher, code) = RawMqtt::connect(broker, "watcher", relay_login(), 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let mut subscribe = Subscribe::new("machina/v1/#", QoS::AtMostOnce);
    subscribe.pkid = 1;
    watcher.send(Packet::Subscribe(subscribe));
    assert!(matches!(watcher.next(), Some(Packet::SubAck(_))));
    for topic in ["é/x", "é", "/é/+", "machina/v1/é/acks", "\u{1F980}/telemetry/1"] {
        let (mut attacker, code) = RawMqtt::connect(broker, "attacker", relay_login(), 30);
        assert_eq!(code, Some(ConnectReturnCode::Success));
        attacker.send(publish(topic, b"x".to_vec(), 7));
        assert!(attacker.until_closed().is_empty(), "{topic}: the session ends, unacknowledged");
    }
    publish_acknowledged(&node, broker, &fleet[0], 1);
    assert_healthy(&node);
}

#[test]
fn devices_log_in_with_their_key_and_reach_only_their_own_topics() {
    let node = mqtt_node();
    let broker = node.mqtt.unwrap();
    let (fleet, unknown) = node.onboard_fleet(2);
    let (me, other) = (&fleet[0], &fleet[1]);
    // No credentials, a bad password, an unknown device, another device's key, a replay.
    let (_, code) = RawMqtt::connect(broker, "anon", None, 30);
    assert_eq!(code, Some(ConnectReturnCode::NotAuthorized));
    let (_, code) = RawMqtt::connect(broker, "bad", Some((RELAY.0.into(), "guess".into())), 30);
    assert_eq!(code, Some(ConnectReturnCode::BadUserNamePassword));
    let (_, code) = RawMqtt::connect(broker, "u", Some(device_login(&node, &unknown, "u")), 30);
    assert_eq!(code, Some(ConnectReturnCode::NotAuthorized));
    let (_, password) = device_login(&node, other, "x");
    let (_, code) = RawMqtt::connect(broker, "x", Some((me.id().to_string(), password)), 30);
    assert_eq!(code, Some(ConnectReturnCode::BadUserNamePassword));
    let login = device_login(&node, me, "me");
    let (mut mqtt, code) = RawMqtt::connect(broker, "me", Some(login.clone()), 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let (_, code) = RawMqtt::connect(broker, "me", Some(login), 30);
    assert_eq!(code, Some(ConnectReturnCode::BadUserNamePassword), "a token is used once");
    // Its own topics: yes; another device's commands: refused; another's telemetry: the end.
    let mut subscribe = Subscribe::new(format!("machina/v1/{}/commands", me.id()), QoS::AtMostOnce);
    subscribe.add(format!("machina/v1/{}/commands", other.id()), QoS::AtMostOnce);
    subscribe.add("machina/v1/#".into(), QoS::AtMostOnce);
    subscribe.pkid = 3;
    mqtt.send(Packet::Subscribe(subscribe));
    let Some(Packet::SubAck(ack)) = mqtt.next() else { panic!("a SUBACK") };
    use rumqttc::mqttbytes::v4::SubscribeReasonCode::{Failure, Success};
    assert_eq!(ack.return_codes, vec![Success(QoS::AtMostOnce), Failure, Failure]);
    mqtt.send(publish(&telemetry_topic(&me.id(), STREAM), reading(me, 1), 4));
    assert!(matches!(mqtt.next(), Some(Packet::PubAck(PubAck { pkid: 4 }))));
    mqtt.send(publish(&format!("machina/v1/{}/commands", me.id()), b"{}".to_vec(), 5));
    assert!(mqtt.until_closed().is_empty(), "only the gateway publishes commands");
    let (mut mqtt, _) = RawMqtt::connect(broker, "me2", Some(device_login(&node, me, "me2")), 30);
    mqtt.send(publish(&telemetry_topic(&other.id(), STREAM), reading(other, 1), 6));
    assert!(mqtt.until_closed().is_empty(), "a device publishes only its own telemetry");
    assert_eq!(stored(&node, other), 0);
}

#[test]
fn a_subscriber_that_stops_reading_is_dropped_and_the_broker_keeps_serving() {
    let node = mqtt_node();
    let broker = node.mqtt.unwrap();
    let (fleet, _) = node.onboard_fleet(1);
    let device = &fleet[0];
    let (mut stalled, _) = RawMqtt::connect(broker, "stalled", relay_login(), 3600);
    let mut subscribe = Subscribe::new("machina/v1/#", QoS::AtMostOnce);
    subscribe.pkid = 1;
    stalled.send(Packet::Subscribe(subscribe));
    assert!(matches!(stalled.next(), Some(Packet::SubAck(_))));
    // It reads nothing more while the device floods its acknowledgements topic (routed to
    // subscribers): far more than socket buffers and the outgoing queue hold.
    let id = "flooder";
    let (mut flooder, _) = RawMqtt::connect(broker, id, Some(device_login(&node, device, id)), 30);
    let acks = format!("machina/v1/{}/acks", device.id());
    let payload = vec![7u8; 32 * 1024];
    for pkid in 1..=2_000u16 {
        flooder.send(publish(&acks, payload.clone(), pkid));
    }
    let mut acked = 0;
    while acked < 2_000 {
        match flooder.next() {
            Some(Packet::PubAck(_)) => acked += 1,
            Some(_) => {}
            None => panic!("the publisher was disconnected after {acked} acknowledgements"),
        }
    }
    // The stalled subscriber was dropped: reading now, it finds the end of its session.
    let received = stalled.until_closed();
    assert!(received.len() < 2_000, "the broker stopped queueing for it");
    publish_acknowledged(&node, broker, device, 1);
    assert_healthy(&node);
}

#[test]
fn mqtt_connections_beyond_the_limit_are_refused_and_silent_ones_closed() {
    let node = TestNode::start_with(|config| {
        config.gateway.mqtt_listen = Some(free_addr());
        config.gateway.mqtt_max_connections = 2;
    });
    let broker = node.mqtt.unwrap();
    let (mut first, code) = RawMqtt::connect(broker, "one", relay_login(), 1);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let (_second, code) = RawMqtt::connect(broker, "two", relay_login(), 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let (_, code) = RawMqtt::connect(broker, "three", relay_login(), 30);
    assert_eq!(code, Some(ConnectReturnCode::ServiceUnavailable));
    // The first asked for a keep-alive of one second and then stays silent: it is closed.
    let started = Instant::now();
    assert!(first.until_closed().is_empty());
    assert!(started.elapsed() < WAIT);
    // Its slot is free again.
    wait_until("a slot to free", || {
        RawMqtt::connect(broker, "four", relay_login(), 30).1 == Some(ConnectReturnCode::Success)
    });
    // A connection that never sends CONNECT is closed too (after the CONNECT deadline, or at
    // once with a refusal if the slots are still taken).
    let mut silent = std::net::TcpStream::connect(broker).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let mut answer = Vec::new();
    use std::io::Read;
    assert!(silent.read_to_end(&mut answer).is_ok(), "closed, not left open");
    assert!(answer.len() <= 4, "at most a refusal: {answer:?}");
}

#[test]
fn devices_log_in_over_tls_with_the_same_tokens() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let node = TestNode::start_with(|config| {
        config.gateway.mqtt_listen = Some(free_addr());
        config.gateway.mqtt_tls_listen = Some(free_addr());
        config.gateway.mqtt_tls_cert = Some(fixtures.join("tls-test-cert.pem"));
        config.gateway.mqtt_tls_key = Some(fixtures.join("tls-test-key.pem"));
    });
    let (fleet, _) = node.onboard_fleet(1);
    let device = &fleet[0];
    let tls = node.client.status().unwrap().gateway.mqtt_tls.expect("a TLS listener");
    let tls: SocketAddr = tls.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let acked = runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_rustls::rustls::{
            self,
            pki_types::{CertificateDer, ServerName, pem::PemObject},
        };
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(fixtures.join("tls-test-ca.pem")).unwrap();
        roots.add(ca).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(tls).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, tcp).await.expect("a TLS handshake");
        let mut connect = rumqttc::mqttbytes::v4::Connect::new("tls-device");
        let (user, password) = device_login(&node, device, "tls-device");
        connect.login = Some(rumqttc::mqttbytes::v4::Login::new(user, password));
        let mut out = bytes::BytesMut::new();
        Packet::Connect(connect).write(&mut out, 1 << 16).unwrap();
        publish(&telemetry_topic(&device.id(), STREAM), reading(device, 1), 9)
            .write(&mut out, 1 << 16)
            .unwrap();
        stream.write_all(&out).await.unwrap();
        let mut input = bytes::BytesMut::new();
        let mut packets = Vec::new();
        while packets.len() < 2 {
            match Packet::read(&mut input, 1 << 16) {
                Ok(packet) => packets.push(packet),
                Err(_) => {
                    let mut buf = [0u8; 4096];
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the broker closed the TLS connection: {packets:?}");
                    input.extend_from_slice(&buf[..n]);
                }
            }
        }
        packets
    });
    assert!(matches!(&acked[0], Packet::ConnAck(a) if a.code == ConnectReturnCode::Success));
    assert!(matches!(acked[1], Packet::PubAck(PubAck { pkid: 9 })));
    assert_eq!(stored(&node, device), 1);
}

#[test]
fn readings_the_gateway_cannot_store_are_never_acknowledged() {
    use machina_node::gateway::{
        ingest::Ingest,
        mqtt::{self, Broker, BrokerConfig},
    };
    // A broker whose admission queue takes nothing (a stopped gateway).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let config = BrokerConfig {
        chain_id: "test".into(),
        max_connections: 8,
        allow_anonymous: true,
        users: Vec::new(),
    };
    let broker = std::sync::Arc::new(Broker::new(config, None));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(mqtt::serve(std::sync::Arc::new(listener), None, Ingest::closed(), broker));
    let device = DeviceIdentity::certify(
        PrivateKey::from_seed(3),
        Address([1; 32]),
        &PrivateKey::from_seed(4),
        "m",
        "s",
    );
    let (mut mqtt, code) = RawMqtt::connect(addr, "device", None, 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    mqtt.send(publish(&telemetry_topic(&device.id(), STREAM), reading(&device, 1), 1));
    // No PUBACK: the session ends so that the device publishes the reading again later.
    assert!(mqtt.until_closed().is_empty());
}

#[test]
fn the_gateway_pays_from_its_own_account_and_the_validator_key_holds_nothing() {
    let node = mqtt_node();
    let broker = node.mqtt.unwrap();
    let (fleet, _) = node.onboard_fleet(1);
    let gateway = node.client.status().unwrap().gateway.account;
    let validator = node.genesis.validators[0];
    assert_ne!(gateway, validator);
    let before = node.client.account(&gateway).unwrap().balance;
    publish_acknowledged(&node, broker, &fleet[0], 1);
    wait_until("the reading anchored", || {
        let (_, body) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", fleet[0].id()));
        body["anchored"] == json!(1)
    });
    assert!(node.client.account(&gateway).unwrap().balance < before, "the gateway paid");
    assert_eq!(node.client.account(&validator).unwrap().balance, 0);
}

#[test]
fn health_reports_a_gateway_account_that_cannot_pay_for_anchors() {
    let gateway = Address::of(&PrivateKey::from_seed(2).public_key());
    let node = TestNode::start_genesis(
        |genesis| genesis.accounts.retain(|a| a.address != gateway),
        |_| {},
    );
    wait_until("the gateway account reported", || {
        let (status, body) = node.get_raw("/health");
        status == 503 && body["subsystems"]["gateway-account"]["up"] == json!(false)
    });
    let (_, body) = node.get_raw("/health");
    let error = body["subsystems"]["gateway-account"]["error"].as_str().unwrap();
    assert!(error.contains(&gateway.to_string()), "{error}");
    // Funded, it is up again.
    let fund = BankCall::Transfer { to: gateway, amount: 1_000_000_000 };
    node.client.execute(&node.accounts[0], vec![fund.into()], WAIT).unwrap();
    wait_until("the gateway account funded", || node.get_raw("/health").0 == 200);
}

#[test]
fn the_api_closes_silent_connections_and_keeps_serving() {
    let node = TestNode::start_with(|config| {
        config.api.idle_timeout_ms = 300;
        config.api.connections_max = 4;
    });
    let api: SocketAddr = node.url.trim_start_matches("http://").parse().unwrap();
    use std::io::{Read, Write};
    // Four connections that send half a request and nothing more: every slot taken.
    let mut silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(api).unwrap();
            s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            s
        })
        .collect();
    // They are closed once idle, and the API answers again.
    for s in &mut silent {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    let (status, body) = node.get_raw("/v1/status");
    assert_eq!(status, 200, "{body}");
    let (status, _) = node.submit(&node.transfer(0, 0, 5));
    assert_eq!(status, 202);
}

#[test]
fn a_transaction_from_a_weak_key_is_refused_with_weak_key() {
    let node = TestNode::start();
    let mut weak = [0u8; 32];
    weak[0] = 1; // the identity point: anyone can make signatures that verify for it
    let tx = Transaction {
        chain_id: node.genesis.chain_id.clone(),
        signer: Address(weak),
        nonce: 0,
        fee: 1_000_000,
        expiry_height: 100,
        calls: vec![Call::Bank(BankCall::Transfer { to: node.addr(1), amount: 1 })],
    };
    let signature = PrivateKey::from_seed(5).sign(machina_types::tx::TX_NAMESPACE, b"x");
    let signed = SignedTransaction { tx, signature };
    let (status, body) = node.submit_json(&json!({ "tx": hex(&signed.encode()) }));
    assert_eq!((status, code(&body)), (400, "weak_key"), "{body}");
    // Refusals are counted by code.
    let metrics = node.get_text("/metrics");
    let line =
        metrics.lines().find(|l| l.contains("transactions_refused") && l.contains("weak_key"));
    assert!(line.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
}

#[test]
fn the_gateway_pays_for_at_most_its_budget_of_anchors_each_round_and_every_owner_gets_turns() {
    // The gateway pays for anchors: an owner with many devices must not make it submit
    // (and pay for) an unbounded number each round, nor keep another owner's readings from
    // being anchored. (Which owner goes first is tested on the scheduler itself.)
    let node = TestNode::start_with(|config| {
        config.gateway.anchor_interval_ms = 100;
        config.gateway.anchors_per_interval = 1;
    });
    let (fleet, _) = node.onboard_fleet(3);
    let maker_key = PrivateKey::from_seed(900);
    let other = DeviceIdentity::certify(
        PrivateKey::from_seed(2_000),
        node.addr(0), // the maker, whose key certifies it
        &maker_key,
        "thermo-1",
        "serial-of-another-owner",
    );
    let gateway = node.client.status().unwrap().gateway.account;
    let wait = Duration::from_secs(30);
    node.client
        .onboard_devices(&node.accounts[1], std::slice::from_ref(&other), Some(gateway), wait)
        .unwrap();
    let devices: Vec<&DeviceIdentity> = fleet.iter().chain([&other]).collect();
    let from = node.client.status().unwrap().height;
    for device in &devices {
        let reading = device.reading(STREAM, 1, now_ms(), numeric(1, 0, "C"));
        node.client.submit_reading(&reading).unwrap();
    }
    wait_until("every device's reading anchored", || {
        devices.iter().all(|d| {
            let (_, body) = node.get_raw(&format!("/v1/devices/{}/streams/{STREAM}", d.id()));
            body["anchored"] == json!(1)
        })
    });
    let to = node.client.status().unwrap().height;
    let mut anchor_txs = 0;
    for height in from..=to {
        let block = serde_json::to_value(node.client.block(Some(height)).unwrap()).unwrap();
        for tx in block["txs"].as_array().unwrap() {
            let anchors = tx["calls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["module"] == "data" && c["call"]["op"] == "anchor")
                .count();
            if anchors > 0 {
                assert_eq!(tx["signer"], json!(gateway.to_string()));
                assert_eq!(anchors, 1, "one anchor per round: {tx}");
                anchor_txs += 1;
            }
        }
    }
    assert_eq!(anchor_txs, 4, "four rounds for four streams of two owners");
}
