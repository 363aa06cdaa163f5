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

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

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
        params(&mut genesis.params);
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

    pub fn params(&self, nonce: u64) -> TxParams {
        TxParams {
            chain_id: self.genesis.chain_id.clone(),
            nonce,
            expiry_height: 1_000,
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

    pub fn submit_json(&self, body: &Value) -> (u16, Value) {
        self.post_raw("/v1/txs", body.to_string().as_bytes(), "application/json")
    }

    pub fn submit(&self, tx: &SignedTransaction) -> (u16, Value) {
        self.submit_json(&json!({ "tx": hex(&tx.encode()) }))
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
