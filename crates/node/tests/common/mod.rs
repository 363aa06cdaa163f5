//! A real single-validator node for integration tests: tokio runtime, real storage, real
//! consensus, the HTTP API and the gateway, in a temporary home directory.

#![allow(dead_code)] // each test binary uses its own part of the harness

use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::{Genesis, Params, genesis::GenesisAccount};
use machina_node::{
    home::{Home, NodeConfig},
    run,
};
use machina_sdk::{
    Client,
    device::DeviceIdentity,
    tx::{TxParams, build},
};
use machina_types::{Address, BankCall, Call, SignedTransaction, codec::hex};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// The MQTT operator account every test node has: it may relay any device's telemetry and
/// acknowledgements and subscribe to anything.
pub const RELAY: (&str, &str) = ("relay", "relay-secret");

/// Starting balance of each test account (and the gateway, which pays for anchors).
pub const BALANCE: u64 = 1_000_000_000_000;

pub struct TestNode {
    pub client: Client,
    pub url: String,
    pub genesis: Genesis,
    pub accounts: Vec<PrivateKey>,
    /// Where the embedded MQTT broker listens, if it runs.
    pub mqtt: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    dir: tempfile::TempDir,
}

pub use machina_node::ports::unused_local_addr as free_addr;

impl TestNode {
    /// A node with default settings (no MQTT).
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A node whose configuration `configure` adjusts before it starts.
    pub fn start_with(configure: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_custom(|_| {}, configure)
    }

    /// A node whose chain parameters and configuration are adjusted before it starts.
    pub fn start_custom(
        params: impl FnOnce(&mut Params),
        configure: impl FnOnce(&mut NodeConfig),
    ) -> Self {
        Self::start_genesis(|genesis| params(&mut genesis.params), configure)
    }

    /// A node whose genesis and configuration are adjusted before it starts.
    pub fn start_genesis(
        adjust: impl FnOnce(&mut Genesis),
        configure: impl FnOnce(&mut NodeConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let validator = PrivateKey::from_seed(1);
        let gateway = PrivateKey::from_seed(2);
        let accounts: Vec<PrivateKey> = (0..8).map(|i| PrivateKey::from_seed(100 + i)).collect();
        let genesis = Genesis {
            chain_id: "test".into(),
            genesis_time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            validators: vec![Address::of(&validator.public_key())],
            accounts: accounts
                .iter()
                .chain([&gateway])
                .map(|k| GenesisAccount { address: Address::of(&k.public_key()), balance: BALANCE })
                .collect(),
            params: Params { block_interval_ms: 50, ..Params::default() },
        };
        let mut genesis = genesis;
        adjust(&mut genesis);
        let api = free_addr();
        let mut config = NodeConfig::new(api, free_addr(), vec![]);
        config.log = "warn".into();
        config.gateway.mqtt_users = vec![machina_node::gateway::mqtt::MqttUser {
            name: RELAY.0.into(),
            password_sha256: machina_types::Hash::of(&[RELAY.1.as_bytes()]),
        }];
        configure(&mut config);
        home.write_validator_key(&validator).unwrap();
        home.write_gateway_key(&gateway).unwrap();
        home.write_genesis(&genesis).unwrap();
        home.write_config(&config).unwrap();
        let url = format!("http://{api}");
        let client = Client::new(&url);
        let mut node =
            Self { client, url, genesis, accounts, mqtt: None, stop: None, thread: None, dir };
        node.launch();
        node.wait_height(2);
        node
    }

    /// Runs the node on its home in a thread of its own.
    fn launch(&mut self) {
        let home = Home::new(self.dir.path());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.await;
            };
            run::run(&home, shutdown, move |started| ready_tx.send(started.gateway.mqtt).unwrap())
                .unwrap();
        });
        self.mqtt = ready.recv_timeout(Duration::from_secs(60)).expect("node started");
        self.stop = Some(stop);
        self.thread = Some(thread);
    }

    /// Stops the node and starts it again on the same home (same API and MQTT addresses).
    pub fn restart(&mut self) {
        self.shut_down();
        self.launch();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn wait_height(&self, height: u64) {
        let start = Instant::now();
        while self.client.status().map_or(0, |s| s.height) < height {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chain did not reach height {height}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `blocks` more finalized blocks.
    pub fn wait_blocks(&self, blocks: u64) {
        self.wait_height(self.client.status().unwrap().height + blocks);
    }

    pub fn addr(&self, i: usize) -> Address {
        Address::of(&self.accounts[i].public_key())
    }

    /// Transaction parameters for `nonce`, valid for 1,000 blocks from now.
    pub fn params(&self, nonce: u64) -> TxParams {
        let height = self.client.status().map_or(0, |s| s.height);
        TxParams {
            chain_id: self.genesis.chain_id.clone(),
            nonce,
            expiry_height: height + 1_000,
            fees: self.genesis.params.fees,
        }
    }

    pub fn transfer(&self, from: usize, nonce: u64, amount: u64) -> SignedTransaction {
        let calls = vec![Call::Bank(BankCall::Transfer { to: self.addr(2), amount })];
        build(&self.accounts[from], &self.params(nonce), calls)
    }

    /// Posts raw bytes to `path`; returns (status, body).
    pub fn post_raw(&self, path: &str, body: &[u8], content_type: &str) -> (u16, Value) {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Gets `path`; returns (status, body).
    pub fn get_raw(&self, path: &str) -> (u16, Value) {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(format!("{}{path}", self.url)).call().unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Gets `path` as text.
    pub fn get_text(&self, path: &str) -> String {
        let mut response = ureq::get(format!("{}{path}", self.url)).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    }

    pub fn submit_json(&self, body: &Value) -> (u16, Value) {
        self.post_raw("/v1/txs", body.to_string().as_bytes(), "application/json")
    }

    pub fn submit(&self, tx: &SignedTransaction) -> (u16, Value) {
        self.submit_json(&json!({ "tx": hex(&tx.encode()) }))
    }

    /// Registers account 0 as a maker and onboards `count` devices it certifies (owned by
    /// account 0, anchorable by the node's gateway); returns them and a certified device that
    /// is never onboarded.
    pub fn onboard_fleet(&self, count: usize) -> (Vec<DeviceIdentity>, DeviceIdentity) {
        let wait = Duration::from_secs(30);
        let maker_key = PrivateKey::from_seed(900);
        let bond = self.genesis.params.identity.min_maker_bond;
        let register = machina_types::IdentityCall::RegisterMaker {
            name: "acme".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond,
        };
        self.client.execute(&self.accounts[0], vec![register.into()], wait).unwrap();
        let certify = |i: u64| {
            DeviceIdentity::certify(
                PrivateKey::from_seed(1000 + i),
                self.addr(0),
                &maker_key,
                "thermo-1",
                &format!("serial-{i}"),
            )
        };
        let fleet: Vec<DeviceIdentity> = (0..count as u64).map(certify).collect();
        let gateway = self.client.status().unwrap().gateway.account;
        self.client.onboard_devices(&self.accounts[0], &fleet, Some(gateway), wait).unwrap();
        (fleet, certify(999))
    }
}

/// A bare MQTT 3.1.1 connection for tests that need to send what a well-behaved client
/// library would not (odd topics, raw bytes, silence).
pub struct RawMqtt {
    stream: std::net::TcpStream,
    input: bytes::BytesMut,
}

impl RawMqtt {
    /// Connects and sends CONNECT as `client_id` with `login`; returns the connection and the
    /// CONNACK's return code (`None` if the broker closed the connection instead).
    pub fn connect(
        broker: SocketAddr,
        client_id: &str,
        login: Option<(String, String)>,
        keep_alive: u16,
    ) -> (Self, Option<rumqttc::mqttbytes::v4::ConnectReturnCode>) {
        use rumqttc::mqttbytes::v4::{Connect, Login, Packet};
        let stream = std::net::TcpStream::connect(broker).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Self { stream, input: bytes::BytesMut::new() };
        let mut connect = Connect::new(client_id);
        connect.keep_alive = keep_alive;
        connect.login = login.map(|(u, p)| Login::new(u, p));
        raw.send(Packet::Connect(connect));
        let code = match raw.next() {
            Some(Packet::ConnAck(ack)) => Some(ack.code),
            _ => None,
        };
        (raw, code)
    }

    /// Sends a packet (ignoring a connection the broker closed).
    pub fn send(&mut self, packet: rumqttc::mqttbytes::v4::Packet) {
        let mut out = bytes::BytesMut::new();
        packet.write(&mut out, 1 << 20).unwrap();
        self.send_raw(&out);
    }

    /// Sends raw bytes (ignoring a connection the broker closed).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let _ = self.stream.write_all(bytes);
    }

    /// The next packet, or `None` once the broker closed the connection (or sent garbage).
    pub fn next(&mut self) -> Option<rumqttc::mqttbytes::v4::Packet> {
        use std::io::Read;
        loop {
            match rumqttc::mqttbytes::v4::Packet::read(&mut self.input, 1 << 20) {
                Ok(packet) => return Some(packet),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(_) => return None,
            }
            let mut buf = [0u8; 16 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The next packet if one arrives within `wait` (`None` if none did, or the broker
    /// closed the connection).
    pub fn next_within(&mut self, wait: Duration) -> Option<rumqttc::mqttbytes::v4::Packet> {
        let _ = self.stream.set_read_timeout(Some(wait));
        let packet = self.next();
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(30)));
        packet
    }

    /// Reads what the broker sent so far (waiting at most `wait`); `false` once it closed.
    pub fn drain(&mut self, wait: Duration) -> bool {
        use std::io::Read;
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut buf = [0u8; 64 * 1024];
        let open = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break true;
                }
                Err(_) => break false,
            }
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(30)));
        open
    }

    /// Reads until the broker closes the connection; returns the packets it sent first.
    pub fn until_closed(&mut self) -> Vec<rumqttc::mqttbytes::v4::Packet> {
        let mut packets = Vec::new();
        while let Some(packet) = self.next() {
            packets.push(packet);
        }
        packets
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The stable error code of an API error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

/// A small seeded generator for the fuzzers (SplitMix64): reproducible from the seed each
/// fuzzer prints.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by `MACHINA_FUZZ_SEED`, or by the clock.
    pub fn from_env() -> Self {
        let seed = std::env::var("MACHINA_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        eprintln!("fuzz seed {seed} (MACHINA_FUZZ_SEED={seed} replays it)");
        Self(seed)
    }

    /// A generator seeded with `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Random bytes, fewer than `max`.
    pub fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        self.bytes(len)
    }

    /// `bytes` with a few random edits: flipped bits, changed, inserted or removed bytes, a
    /// truncation or an extension.
    pub fn mutate(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for _ in 0..1 + self.below(4) {
            match self.below(6) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = *self.pick(&[0, 1, 0x7f, 0x80, 0xfe, 0xff]);
                }
                2 => {
                    let i = self.below(out.len() + 1);
                    out.insert(i, self.next() as u8);
                }
                3 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out.remove(i);
                }
                4 => out.truncate(self.below(out.len() + 1)),
                _ => {
                    let len = self.below(64);
                    let extra = self.bytes(len);
                    out.extend(extra);
                }
            }
        }
        out
    }
}

/// How many cases a fuzzer runs: `default`, or `MACHINA_FUZZ_CASES` for long runs.
pub fn fuzz_cases(default: usize) -> usize {
    std::env::var("MACHINA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
