//! A node's home directory: configuration, genesis, validator key and data.
//!
//! ```text
//! <home>/config.toml     node configuration (listen addresses, peers, limits)
//! <home>/genesis.json    the chain's genesis, shared by every node of the chain
//! <home>/validator.key   this node's ed25519 key (hex), for consensus and p2p only
//! <home>/gateway.key     the key of the gateway's account (hex): it signs and pays for
//!                        anchors, feed reports, deliveries and the commands it sends
//! <home>/keys/           account keys of the CLI keyring
//! <home>/data/           chain data (state, blocks, certificates, consensus journal)
//! ```

use crate::{gateway::GatewayConfig, mempool::MempoolConfig};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::ed25519::PrivateKey;
use machina_app::Genesis;
use machina_types::{Address, codec};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Why a home directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file's contents are invalid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A validator this node connects to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The peer's public key.
    pub public_key: Address,
    /// Where it listens for p2p connections.
    pub address: SocketAddr,
}

/// The node configuration (`config.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Address of the HTTP API.
    pub api_listen: SocketAddr,
    /// Address of the p2p listener.
    pub p2p_listen: SocketAddr,
    /// Whether peers are on a local network (allows private addresses, reconnects fast).
    #[serde(default = "yes")]
    pub local_network: bool,
    /// The other validators.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Runtime worker threads (0: one per core).
    #[serde(default)]
    pub worker_threads: usize,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Log filter (e.g. `info`, `machina_node=debug`).
    #[serde(default = "default_log")]
    pub log: String,
    /// The gateway: MQTT and anchoring.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The API's connection limits.
    #[serde(default)]
    pub api: crate::api::limits::ApiConfig,
}

fn yes() -> bool {
    true
}

fn default_log() -> String {
    "warn,machina_node=info,machina_cli=info".into()
}

impl NodeConfig {
    /// A configuration listening on `api` and `p2p` with `peers`.
    pub fn new(api_listen: SocketAddr, p2p_listen: SocketAddr, peers: Vec<Peer>) -> Self {
        Self {
            api_listen,
            p2p_listen,
            local_network: true,
            peers,
            worker_threads: 0,
            mempool: MempoolConfig::default(),
            log: default_log(),
            gateway: GatewayConfig::default(),
            api: Default::default(),
        }
    }
}

/// A node home directory.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io { path: path.to_path_buf(), source }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> HomeError {
    HomeError::Invalid { path: path.to_path_buf(), message: message.to_string() }
}

impl Home {
    /// The home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `genesis.json`.
    pub fn genesis_path(&self) -> PathBuf {
        self.root.join("genesis.json")
    }

    /// `validator.key`.
    pub fn validator_key_path(&self) -> PathBuf {
        self.root.join("validator.key")
    }

    /// `gateway.key`.
    pub fn gateway_key_path(&self) -> PathBuf {
        self.root.join("gateway.key")
    }

    /// The keyring directory.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Whether the home has been initialized (has a config).
    pub fn exists(&self) -> bool {
        self.config_path().exists()
    }

    /// Reads `config.toml`.
    pub fn config(&self) -> Result<NodeConfig, HomeError> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        toml::from_str(&text).map_err(|e| invalid(&path, e))
    }

    /// Writes `config.toml`.
    pub fn write_config(&self, config: &NodeConfig) -> Result<(), HomeError> {
        let path = self.config_path();
        let text = toml::to_string_pretty(config).map_err(|e| invalid(&path, e))?;
        write(&path, text.as_bytes())
    }

    /// Reads and validates `genesis.json`.
    pub fn genesis(&self) -> Result<Genesis, HomeError> {
        read_genesis(&self.genesis_path())
    }

    /// Writes `genesis.json`.
    pub fn write_genesis(&self, genesis: &Genesis) -> Result<(), HomeError> {
        let path = self.genesis_path();
        let text = serde_json::to_string_pretty(genesis).map_err(|e| invalid(&path, e))?;
        write(&path, text.as_bytes())
    }

    /// Reads `validator.key`.
    pub fn validator_key(&self) -> Result<PrivateKey, HomeError> {
        read_key(&self.validator_key_path())
    }

    /// Writes `validator.key` (readable by the owner only).
    pub fn write_validator_key(&self, key: &PrivateKey) -> Result<(), HomeError> {
        write_key(&self.validator_key_path(), key)
    }

    /// Reads `gateway.key`, creating a new key there if the home has none (its account
    /// then holds nothing until someone funds it).
    pub fn gateway_key(&self) -> Result<PrivateKey, HomeError> {
        let path = self.gateway_key_path();
        if !path.exists() {
            use commonware_math::algebra::Random;
            let key = PrivateKey::random(commonware_utils::sys_rng());
            write_key(&path, &key)?;
            return Ok(key);
        }
        read_key(&path)
    }

    /// Writes `gateway.key` (readable by the owner only).
    pub fn write_gateway_key(&self, key: &PrivateKey) -> Result<(), HomeError> {
        write_key(&self.gateway_key_path(), key)
    }
}

/// Reads and validates a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis, HomeError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let genesis: Genesis = serde_json::from_str(&text).map_err(|e| invalid(path, e))?;
    genesis.validate().map_err(|e| invalid(path, e))?;
    Ok(genesis)
}

/// Reads a private key file (hex).
pub fn read_key(path: &Path) -> Result<PrivateKey, HomeError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bytes = codec::parse_hex(text.trim()).map_err(|e| invalid(path, e))?;
    PrivateKey::decode(bytes).map_err(|e| invalid(path, format!("not an ed25519 private key: {e}")))
}

/// Writes a private key file (hex), readable by the owner only.
pub fn write_key(path: &Path, key: &PrivateKey) -> Result<(), HomeError> {
    let text = format!("{}\n", codec::hex(&key.encode()));
    write(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}
