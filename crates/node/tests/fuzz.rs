//! The network fuzzers, against a real node: (c) every route of the HTTP API (from
//! `/openapi.json`) with random and boundary parameters and bodies, and every GET route with
//! parameters valid against the document's schemas, which must never be refused as invalid
//! (400); (d) the embedded MQTT broker fed random packets, topics and payloads from many
//! connections. Afterwards the node must still serve readings, accept a transaction, finalize
//! blocks and report every subsystem up.
//!
//! `cargo test` runs a bounded number of cases; `MACHINA_FUZZ_CASES=N` runs `N` requests
//! (API) or `N` packets per worker connection (MQTT, 8 workers); `MACHINA_FUZZ_SEED` replays a
//! run.

mod common;

use common::{RELAY, RawMqtt, Rng, TestNode, free_addr, fuzz_cases};
use commonware_codec::Encode;
use machina_sdk::{
    device::{DeviceIdentity, mqtt_login, numeric, telemetry_topic},
    privacy::account_mqtt_login,
};
use rumqttc::mqttbytes::{
    QoS,
    v4::{Connect, ConnectReturnCode, Packet, PubRel, Publish, Subscribe, Unsubscribe},
};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn node() -> (TestNode, Vec<DeviceIdentity>) {
    let node = TestNode::start_with(|config| {
        config.gateway.mqtt_listen = Some(free_addr());
        config.gateway.anchor_interval_ms = 200;
    });
    let (fleet, _) = node.onboard_fleet(2);
    for (i, device) in fleet.iter().enumerate() {
        let reading = device.reading(1, 1, now_ms(), numeric(i as i64, 0, "C"));
        node.client.submit_reading(&reading).unwrap();
    }
    (node, fleet)
}

/// After fuzzing: readings served, a transaction accepted and finalized, every subsystem up.
fn assert_still_working(node: &TestNode, device: &DeviceIdentity, seq: u64) {
    let reading = device.reading(1, seq, now_ms(), numeric(1, 0, "C"));
    node.client.submit_reading(&reading).expect("a reading is still stored");
    let listed =
        node.client.readings(&device.id(), 1, &Default::default()).expect("readings are served");
    assert!(!listed.readings.is_empty());
    let nonce = node.client.account(&node.addr(3)).unwrap().next_nonce;
    let transfer = machina_sdk::tx::build(
        &node.accounts[3],
        &node.params(nonce),
        vec![machina_types::BankCall::Transfer { to: node.addr(4), amount: 1 }.into()],
    );
    let hash = node.client.submit(&transfer).expect("a transaction is still accepted");
    let status = node.client.wait(&hash, Duration::from_secs(30)).expect("and finalized");
    assert_eq!(status.status, "finalized");
    let (status, body) = node.get_raw("/health");
    assert_eq!(status, 200, "{body}");
}

/// Values for path and query parameters: boundaries, ids that exist, junk.
fn value(rng: &mut Rng, known: &[String]) -> String {
    match rng.below(14) {
        0 => "0".into(),
        1 => "1".into(),
        2 => (u64::MAX - 1).to_string(),
        3 => u64::MAX.to_string(),
        4 => "18446744073709551616".into(),
        5 => "-1".into(),
        6 => String::new(),
        7 => "é/..%2F".into(),
        8 => "x".repeat(rng.below(5_000)),
        9 => machina_types::codec::hex(&rng.bytes(32)),
        10 => machina_types::codec::hex(&rng.some_bytes(40)),
        11 => rng.below(100).to_string(),
        12 => "true".into(),
        _ => rng.pick(known).clone(),
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request body: shaped like what the routes take, with random values, or junk.
fn body(rng: &mut Rng, known: &[String]) -> Vec<u8> {
    match rng.below(6) {
        0 => json!({ "tx": value(rng, known) }).to_string().into_bytes(),
        1 => json!({ "reading": value(rng, known) }).to_string().into_bytes(),
        2 => rng.some_bytes(300),
        3 => vec![b'['; 70_000],
        4 => json!({ "tx": 7, "reading": [null], "x": { "y": u64::MAX } }).to_string().into_bytes(),
        _ => format!("{{\"tx\": \"{}\"}}", "a".repeat(100_000)).into_bytes(),
    }
}

#[test]
fn random_and_boundary_requests_on_every_route_never_break_the_node() {
    let (node, fleet) = node();
    let mut rng = Rng::from_env();
    let openapi: Value = node.client.get("/openapi.json").unwrap();
    let routes: Vec<(String, Vec<String>, bool)> = openapi["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| *path != "/v1/events")
        .map(|(path, item)| {
            let query = item["get"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            (path.clone(), query, item.get("post").is_some())
        })
        .collect();
    let known: Vec<String> = fleet
        .iter()
        .map(|d| d.id().to_string())
        .chain((0..3).map(|i| node.addr(i).to_string()))
        .chain(["1".into(), "2".into(), "gateway".into()])
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let cases = fuzz_cases(1_500);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..cases {
        let (template, query, post) = rng.pick(&routes).clone();
        let mut path = String::new();
        for segment in template.split('/').filter(|s| !s.is_empty()) {
            path.push('/');
            path.push_str(&match segment.starts_with('{') {
                true => encode(&value(&mut rng, &known)),
                false => segment.to_string(),
            });
        }
        let mut pairs: Vec<String> = Vec::new();
        for name in query.iter().chain([&"junk".to_string()]) {
            if rng.below(2) == 0 {
                pairs.push(format!("{name}={}", encode(&value(&mut rng, &known))));
            }
        }
        let url = format!(
            "{}{}?{}",
            node.url,
            if path.is_empty() { "/" } else { &path },
            pairs.join("&")
        );
        let response = if post && rng.below(3) > 0 {
            let content_type = *rng.pick(&["application/json", "text/plain", "application/json"]);
            let bytes = body(&mut rng, &known);
            agent.post(&url).header("content-type", content_type).send(&bytes[..])
        } else {
            agent.get(&url).call()
        };
        let status = response.unwrap_or_else(|e| panic!("{url}: {e}")).status().as_u16();
        assert!(
            matches!(status, 200 | 202 | 400 | 404 | 405 | 409 | 413 | 415 | 429 | 503),
            "{url}: status {status}"
        );
        *statuses.entry(status).or_default() += 1;
    }
    eprintln!("API fuzzer: {cases} requests over {} routes: statuses {statuses:?}", routes.len());
    assert_still_working(&node, &fleet[0], 2);
}

/// A value valid against a parameter's schema: a known id or random hex for a hex pattern, a
/// boundary or small number within an integer's bounds, a role name, a boolean.
fn valid_value(rng: &mut Rng, schema: &Value, known: &[String]) -> String {
    let bound = |name: &str| schema[name].as_u64();
    match (schema["type"].as_str(), schema["pattern"].as_str()) {
        (Some("integer"), _) => {
            let (min, max) = (bound("minimum").unwrap_or(0), bound("maximum").unwrap_or(0));
            let candidates =
                [min, max, min.saturating_add(1).min(max), min + rng.below(100) as u64];
            rng.pick(&candidates).min(&max).to_string()
        }
        (Some("boolean"), _) => rng.pick(&["true", "false"]).to_string(),
        (_, Some(pattern)) if pattern.contains("{64}") => {
            let hex: Vec<&String> = known.iter().filter(|k| k.len() == 64).collect();
            match rng.below(2) {
                0 => (*rng.pick(&hex)).clone(),
                _ => machina_types::codec::hex(&rng.bytes(32)),
            }
        }
        _ => schema["examples"]
            .as_array()
            .and_then(|examples| rng.pick(examples).as_str().map(str::to_string))
            .unwrap_or_else(|| "gateway".into()),
    }
}

/// A parameter: its name, whether it is in the path (else the query) and required, its schema.
type Param = (String, (bool, bool), Value);

/// Every GET route's path and query parameters with their schemas.
fn get_routes(openapi: &Value) -> Vec<(String, Vec<Param>)> {
    openapi["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, item)| *path != "/v1/events" && item["get"].is_object())
        .map(|(path, item)| {
            let params = item["get"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        (p["in"] == "path", p["required"] == true),
                        p["schema"].clone(),
                    )
                })
                .collect();
            (path.clone(), params)
        })
        .collect()
}

#[test]
fn requests_valid_against_the_schema_are_never_refused_as_invalid() {
    let (node, fleet) = node();
    let mut rng = Rng::from_env();
    let openapi: Value = node.client.get("/openapi.json").unwrap();
    let routes = get_routes(&openapi);
    let known: Vec<String> = fleet
        .iter()
        .map(|d| d.id().to_string())
        .chain((0..3).map(|i| node.addr(i).to_string()))
        .collect();
    let cases = fuzz_cases(600);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..cases {
        let (template, params) = rng.pick(&routes).clone();
        let mut url = format!("{}{template}", node.url);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, in_path, schema) in &params {
            let value = valid_value(&mut rng, schema, &known);
            match in_path {
                (true, _) => url = url.replace(&format!("{{{name}}}"), &encode(&value)),
                (false, required) if *required || rng.below(2) == 0 => {
                    pairs.push((name.clone(), value))
                }
                (false, _) => {}
            }
        }
        ordered(&mut pairs, "from_seq", "to_seq");
        ordered(&mut pairs, "since_ms", "until_ms");
        let query: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let url = format!("{url}?{}", query.join("&"));
        let (status, body) = node.get_raw(url.strip_prefix(&node.url).unwrap());
        assert!(matches!(status, 200 | 404 | 503), "{url}: {status} {body}");
        *statuses.entry(status).or_default() += 1;
    }
    eprintln!("schema-valid requests: {cases} over {} routes: statuses {statuses:?}", routes.len());
}

/// Swaps the values of the query parameters `from` and `to` if both are set and out of order
/// (the documented rule the schema cannot express).
fn ordered(pairs: &mut [(String, String)], from: &str, to: &str) {
    let at = |name: &str| pairs.iter().position(|(n, _)| n == name);
    if let (Some(a), Some(b)) = (at(from), at(to)) {
        let value = |i: usize| pairs[i].1.parse::<u64>().unwrap();
        if value(a) > value(b) {
            let (x, y) = (pairs[a].1.clone(), pairs[b].1.clone());
            pairs[a].1 = y;
            pairs[b].1 = x;
        }
    }
}

/// A topic: mostly the device's own (so sessions go on), else another device's, wildcards,
/// empty, non-ASCII, huge, or a data subscription's at boundary ids.
fn topic(rng: &mut Rng, me: &DeviceIdentity, other: &DeviceIdentity) -> String {
    match rng.below(17) {
        0..=3 => telemetry_topic(&me.id(), 1),
        4 | 5 => format!("machina/v1/{}/acks", me.id()),
        6 => format!("machina/v1/{}/commands", me.id()),
        7 => telemetry_topic(&other.id(), 1),
        8 => format!("machina/v1/{}/errors", other.id()),
        9 => String::new(),
        10 => "é/x".into(),
        11 => (*rng.pick(&["#", "+", "+/+", "a/#/b", "machina/v1/+/telemetry/#"])).into(),
        12 => "t/".repeat(rng.below(2_000)),
        13 => "$SYS/broker".into(),
        14 => String::from_utf8_lossy(&rng.some_bytes(40)).into_owned(),
        15 => {
            let id = rng.pick(&["0", "1", "007", "18446744073709551614", "18446744073709551615"]);
            format!("machina/v1/subscriptions/{id}/readings")
        }
        _ => format!("machina/v1/{}/telemetry/{}", me.id(), u32::MAX),
    }
}

/// A random packet of a session.
fn packet(rng: &mut Rng, me: &DeviceIdentity, other: &DeviceIdentity, seq: u64) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    let pkid = 1 + rng.below(u16::MAX as usize - 1) as u16;
    let packet = match rng.below(10) {
        0..=3 => {
            let payload = match rng.below(4) {
                0 => me.reading(1, seq, now_ms(), numeric(seq as i64, 0, "C")).encode().to_vec(),
                1 => rng.some_bytes(600),
                2 => vec![0u8; 60_000],
                _ => Vec::new(),
            };
            let qos = *rng.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]);
            let mut p = Publish::new(topic(rng, me, other), qos, payload);
            p.pkid = if qos == QoS::AtMostOnce { 0 } else { pkid };
            Packet::Publish(p)
        }
        4 => {
            let mut s = Subscribe::new(topic(rng, me, other), QoS::AtLeastOnce);
            for _ in 0..rng.below(3) {
                s.add(topic(rng, me, other), QoS::AtMostOnce);
            }
            s.pkid = pkid;
            Packet::Subscribe(s)
        }
        5 => Packet::Unsubscribe(Unsubscribe::new(topic(rng, me, other))),
        6 => Packet::PingReq,
        7 => Packet::PubRel(PubRel::new(pkid)),
        8 => Packet::Connect(Connect::new("again")),
        _ => {
            let len = rng.below(64);
            return rng.bytes(len); // not MQTT at all
        }
    };
    if packet.write(&mut out, 1 << 20).is_err() {
        return Vec::new();
    }
    if rng.below(20) == 0 {
        let cut = rng.below(out.len().max(1));
        out.truncate(cut); // a packet cut short (the rest never comes)
    }
    out.to_vec()
}

/// Credentials of a session: the device's, a relay operator's, wrong ones, or none.
fn login(
    rng: &mut Rng,
    node: &TestNode,
    me: &DeviceIdentity,
    id: &str,
) -> Option<(String, String)> {
    match rng.below(6) {
        0 | 1 => Some(mqtt_login(&me.key, &node.genesis.chain_id, &me.id(), id)),
        2 => Some((RELAY.0.into(), RELAY.1.into())),
        // An account (a data subscriber), valid or with a device's token.
        3 => Some(account_mqtt_login(&me.key, &node.genesis.chain_id, id)),
        4 => Some((format!("account:{}", me.id()), "1.zz".into())),
        _ => (rng.below(2) == 0).then(|| (me.id().to_string(), "1.zz".into())),
    }
}

#[test]
fn random_packets_topics_and_payloads_from_many_connections_never_stop_the_broker() {
    let (node, fleet) = node();
    let broker = node.mqtt.unwrap();
    let per_worker = fuzz_cases(400);
    const WORKERS: usize = 8;
    let seed = Rng::from_env().next();
    let (sent, sessions): (usize, usize) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (node, fleet) = (&node, &fleet);
                scope.spawn(move || {
                    let mut rng = Rng::from_seed(seed ^ ((w as u64) << 32));
                    let (me, other) = (&fleet[w % 2], &fleet[(w + 1) % 2]);
                    let (mut sent, mut sessions) = (0, 0);
                    // Sessions one after another (the broker ends many of them) until the
                    // worker's packets are sent.
                    while sent < per_worker {
                        sessions += 1;
                        let id = format!("fuzz-{w}-{sessions}-{}", now_ms());
                        let login = login(&mut rng, node, me, &id);
                        let (mut mqtt, _) = RawMqtt::connect(broker, &id, login, 30);
                        while sent < per_worker {
                            let seq = 2 + (w * 1_000_000 + sent) as u64;
                            mqtt.send_raw(&packet(&mut rng, me, other, seq));
                            sent += 1;
                            if sent % 8 == 0 && !mqtt.drain(Duration::from_millis(1)) {
                                break; // the broker ended the session
                            }
                        }
                        if rng.below(2) == 0 {
                            let mut out = bytes::BytesMut::new();
                            Packet::Disconnect.write(&mut out, 16).unwrap();
                            mqtt.send_raw(&out);
                        }
                    }
                    (sent, sessions)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    eprintln!("MQTT fuzzer: {sent} packets over {sessions} sessions from {WORKERS} workers");
    // Another client still publishes and is acknowledged.
    let id = "after-fuzz";
    let device = &fleet[0];
    let login = mqtt_login(&device.key, &node.genesis.chain_id, &device.id(), id);
    let (mut mqtt, code) = RawMqtt::connect(broker, id, Some(login), 30);
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let seq = 1 << 40;
    let reading = device.reading(1, seq, now_ms(), numeric(1, 0, "C")).encode().to_vec();
    let mut publish = Publish::new(telemetry_topic(&device.id(), 1), QoS::AtLeastOnce, reading);
    publish.pkid = 1;
    mqtt.send(Packet::Publish(publish));
    assert!(matches!(mqtt.next(), Some(Packet::PubAck(_))), "acknowledged after the fuzzing");
    assert_still_working(&node, &fleet[1], (1 << 40) + 1);
}
