//! Creating node homes: a single-validator dev chain (`machina init`, `machina dev`) and a
//! multi-validator local testnet (`machina testnet`).

use anyhow::{Context, Result, bail};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_math::algebra::Random;
use machina_app::{Genesis, Params, genesis::GenesisAccount};
use machina_node::{
    gateway::GatewayConfig,
    home::{Home, NodeConfig, Peer},
};
use machina_sdk::Keyring;
use machina_types::Address;
use serde::Serialize;
use std::{net::SocketAddr, path::Path};

/// Native balance of each dev account (1,000,000 tokens of 6 decimals).
pub const DEV_BALANCE: u64 = 1_000_000_000_000;

/// A funded account created for development.
#[derive(Clone, Debug, Serialize)]
pub struct DevAccount {
    /// Keyring name.
    pub name: String,
    /// Address.
    pub address: Address,
    /// Genesis balance.
    pub balance: u64,
}

/// Options of a new chain.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// Chain id.
    pub chain_id: String,
    /// Number of funded dev accounts (`dev0`, `dev1`, ...).
    pub dev_accounts: usize,
    /// Target block interval.
    pub block_interval_ms: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn new_key() -> PrivateKey {
    PrivateKey::random(commonware_utils::sys_rng())
}

/// The dev accounts in `keyring`, creating missing ones.
fn dev_accounts(keyring: &Keyring, count: usize) -> Result<Vec<(String, PrivateKey)>> {
    (0..count)
        .map(|i| {
            let name = format!("dev{i}");
            let key = match keyring.get(&name) {
                Ok(k) => k,
                Err(_) => keyring.generate(&name)?,
            };
            Ok((name, key.key))
        })
        .collect()
}

/// Native balance of each node's gateway account (it pays for anchors, feed reports and
/// deliveries from it; validators' consensus keys hold nothing).
pub const GATEWAY_BALANCE: u64 = 100_000_000_000;

fn genesis(
    options: &ChainOptions,
    validators: &[PrivateKey],
    gateways: &[PrivateKey],
    accounts: &[(String, PrivateKey)],
) -> Result<Genesis> {
    let funded =
        |k: &PrivateKey, balance| GenesisAccount { address: Address::of(&k.public_key()), balance };
    let genesis = Genesis {
        chain_id: options.chain_id.clone(),
        genesis_time_ms: now_ms(),
        validators: validators.iter().map(|k| Address::of(&k.public_key())).collect(),
        accounts: accounts
            .iter()
            .map(|(_, k)| funded(k, DEV_BALANCE))
            .chain(gateways.iter().map(|k| funded(k, GATEWAY_BALANCE)))
            .collect(),
        params: Params { block_interval_ms: options.block_interval_ms, ..Params::default() },
    };
    genesis.validate().context("invalid chain options")?;
    Ok(genesis)
}

fn describe(accounts: &[(String, PrivateKey)]) -> Vec<DevAccount> {
    accounts
        .iter()
        .map(|(name, k)| DevAccount {
            name: name.clone(),
            address: Address::of(&k.public_key()),
            balance: DEV_BALANCE,
        })
        .collect()
}

/// Initializes a single-validator home.
pub fn init(
    home: &Home,
    options: &ChainOptions,
    api: SocketAddr,
    p2p: SocketAddr,
    mqtt: SocketAddr,
) -> Result<Vec<DevAccount>> {
    if home.exists() {
        bail!("{} is already initialized (remove it to start over)", home.root().display());
    }
    let (validator, gateway) = (new_key(), new_key());
    let accounts = dev_accounts(&Keyring::new(home.keys_dir()), options.dev_accounts)?;
    let genesis = genesis(
        options,
        std::slice::from_ref(&validator),
        std::slice::from_ref(&gateway),
        &accounts,
    )?;
    home.write_validator_key(&validator)?;
    home.write_gateway_key(&gateway)?;
    home.write_genesis(&genesis)?;
    let mut config = NodeConfig::new(api, p2p, Vec::new());
    config.gateway = GatewayConfig::embedded(mqtt);
    home.write_config(&config)?;
    Ok(describe(&accounts))
}

/// The dev accounts of an initialized home (those named `dev*` in its keyring and funded at
/// genesis).
pub fn existing_dev_accounts(home: &Home) -> Result<Vec<DevAccount>> {
    let genesis = home.genesis()?;
    let keys = Keyring::new(home.keys_dir()).list()?;
    Ok(keys
        .into_iter()
        .filter(|k| k.name.starts_with("dev"))
        .filter_map(|k| {
            let address = k.address();
            let balance = genesis.accounts.iter().find(|a| a.address == address)?.balance;
            Some(DevAccount { name: k.name, address, balance })
        })
        .collect())
}

/// One node of a generated testnet.
#[derive(Clone, Debug, Serialize)]
pub struct TestnetNode {
    /// Its home.
    pub home: String,
    /// Its validator address.
    pub validator: Address,
    /// API address.
    pub api: SocketAddr,
    /// p2p address.
    pub p2p: SocketAddr,
    /// MQTT broker address.
    pub mqtt: SocketAddr,
}

/// Writes `validators` homes under `dir` sharing one genesis; node `i` listens on
/// `base_port + 10 i` (API), `base_port + 10 i + 1` (p2p) and `base_port + 10 i + 2` (MQTT)
/// on loopback.
pub fn testnet(
    dir: &Path,
    validators: usize,
    base_port: u16,
    options: &ChainOptions,
) -> Result<(Vec<TestnetNode>, Vec<DevAccount>)> {
    if validators == 0 {
        bail!("a testnet needs at least one validator");
    }
    if dir.join("node0").exists() {
        bail!("{} already holds a testnet", dir.display());
    }
    let keys: Vec<PrivateKey> = (0..validators).map(|_| new_key()).collect();
    let gateways: Vec<PrivateKey> = (0..validators).map(|_| new_key()).collect();
    let port = |i: usize, offset: u16| -> Result<u16> {
        u16::try_from(i * 10)
            .ok()
            .and_then(|p| base_port.checked_add(p)?.checked_add(offset))
            .context("ports out of range")
    };
    let nodes: Vec<TestnetNode> = (0..validators)
        .map(|i| {
            Ok(TestnetNode {
                home: dir.join(format!("node{i}")).display().to_string(),
                validator: Address::of(&keys[i].public_key()),
                api: SocketAddr::from(([127, 0, 0, 1], port(i, 0)?)),
                p2p: SocketAddr::from(([127, 0, 0, 1], port(i, 1)?)),
                mqtt: SocketAddr::from(([127, 0, 0, 1], port(i, 2)?)),
            })
        })
        .collect::<Result<_>>()?;
    let first = Home::new(&nodes[0].home);
    let accounts = dev_accounts(&Keyring::new(first.keys_dir()), options.dev_accounts)?;
    let genesis = genesis(options, &keys, &gateways, &accounts)?;
    for (i, node) in nodes.iter().enumerate() {
        let home = Home::new(&node.home);
        let peers = nodes
            .iter()
            .filter(|n| n.validator != node.validator)
            .map(|n| Peer { public_key: n.validator, address: n.p2p })
            .collect();
        home.write_validator_key(&keys[i])?;
        home.write_gateway_key(&gateways[i])?;
        home.write_genesis(&genesis)?;
        let mut config = NodeConfig::new(node.api, node.p2p, peers);
        config.gateway = GatewayConfig::embedded(node.mqtt);
        home.write_config(&config)?;
        let keyring = Keyring::new(home.keys_dir());
        if i > 0 {
            for (name, key) in &accounts {
                keyring.import(name, key.clone())?;
            }
        }
    }
    Ok((nodes, describe(&accounts)))
}
