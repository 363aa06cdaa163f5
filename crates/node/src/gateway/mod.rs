//! The gateway: devices' entry to the chain.
//!
//! Devices publish signed readings over MQTT (the embedded broker, or an external one such
//! as mosquitto) or HTTP. The gateway checks each (signature against the device's current
//! key, device onboarded and active, sequence strictly increasing, timestamp sane, size),
//! stores accepted readings durably before acknowledging them, and refuses the rest with a
//! reason. Every interval it anchors each stream's new readings on chain under a Merkle
//! root, and reports readings of feed-enrolled devices to their feeds. It sends leased
//! commands to devices, signed with its key, and relays their signed acknowledgements
//! ([`commands`]). Readings are served with proofs from the device's maker certificate to a
//! finalized block.
//!
//! The gateway has an account of its own (`<home>/gateway.key`), not the validator's key: it
//! pays the fees of what it submits from there, and no more than [`GatewayConfig`]'s
//! per-owner and per-feed budgets each interval, so nobody's devices or feeds can spend its
//! balance on their behalf beyond their share. Each task runs supervised ([`crate::health`]).

pub mod anchor;
pub mod bridge;
pub mod commands;
pub mod deliver;
pub mod devices;
pub mod feeds;
pub mod ingest;
pub mod mqtt;
pub mod store;
pub mod submit;

use crate::{
    application::Databases,
    chain::ChainInfo,
    health::{Health, supervise, supervise_once},
};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_runtime::{Strategizer, tokio::Context};
use deliver::Delivery;
use devices::{DeviceCache, Runtime};
use ingest::Ingest;
use machina_types::Address;
use mqtt::{Broker, BrokerConfig, MqttUser};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use store::ReadingStore;

/// Gateway settings (the `[gateway]` section of `config.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where the embedded MQTT broker listens (ignored when `mqtt_broker` is set).
    pub mqtt_listen: Option<SocketAddr>,
    /// Where the embedded broker also listens with TLS (needs `mqtt_tls_cert` and
    /// `mqtt_tls_key`).
    #[serde(default)]
    pub mqtt_tls_listen: Option<SocketAddr>,
    /// The TLS certificate chain (PEM; relative to the home directory).
    #[serde(default)]
    pub mqtt_tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM; relative to the home directory).
    #[serde(default)]
    pub mqtt_tls_key: Option<PathBuf>,
    /// Most MQTT connections at once.
    #[serde(default = "default_max_connections")]
    pub mqtt_max_connections: usize,
    /// Whether MQTT clients without credentials may publish telemetry.
    #[serde(default)]
    pub mqtt_allow_anonymous: bool,
    /// Operator accounts of the broker (they may subscribe to anything).
    #[serde(default)]
    pub mqtt_users: Vec<MqttUser>,
    /// An external MQTT broker (`host:port`) to take readings from instead.
    #[serde(default)]
    pub mqtt_broker: Option<String>,
    /// How often new readings are anchored (ms).
    #[serde(default = "default_anchor_interval")]
    pub anchor_interval_ms: u64,
    /// Anchor calls the gateway submits (and pays for) each interval at most, shared
    /// equally between the device owners with readings waiting; streams left out wait for
    /// their turn in a later interval, in larger batches.
    #[serde(default = "default_anchors_per_interval")]
    pub anchors_per_interval: usize,
    /// Feed reports submitted per feed creator each interval at most.
    #[serde(default = "default_reports_per_creator")]
    pub reports_per_creator: usize,
    /// How long readings are kept (days); older ones are pruned with their proofs.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
}

fn default_anchor_interval() -> u64 {
    1000
}

fn default_max_connections() -> usize {
    10_000
}

fn default_anchors_per_interval() -> usize {
    1024
}

fn default_reports_per_creator() -> usize {
    4
}

fn default_retention_days() -> u64 {
    30
}

impl Default for GatewayConfig {
    /// No MQTT (readings over HTTP only), anchoring every second.
    fn default() -> Self {
        Self {
            mqtt_listen: None,
            mqtt_tls_listen: None,
            mqtt_tls_cert: None,
            mqtt_tls_key: None,
            mqtt_max_connections: default_max_connections(),
            mqtt_allow_anonymous: false,
            mqtt_users: Vec::new(),
            mqtt_broker: None,
            anchor_interval_ms: default_anchor_interval(),
            anchors_per_interval: default_anchors_per_interval(),
            reports_per_creator: default_reports_per_creator(),
            retention_days: default_retention_days(),
        }
    }
}

impl GatewayConfig {
    /// An embedded broker on `mqtt_listen`, anchoring every second.
    pub fn embedded(mqtt_listen: SocketAddr) -> Self {
        Self { mqtt_listen: Some(mqtt_listen), ..Self::default() }
    }

    /// The TLS files with relative paths taken from `home`.
    pub fn resolve_paths(&mut self, home: &Path) {
        for path in [&mut self.mqtt_tls_cert, &mut self.mqtt_tls_key].into_iter().flatten() {
            if path.is_relative() {
                *path = home.join(&*path);
            }
        }
    }
}

/// A running gateway.
pub struct Gateway {
    /// Accepted readings.
    pub store: Arc<ReadingStore<Context>>,
    /// Device records.
    pub devices: Arc<DeviceCache<Context>>,
    /// The admission queue.
    pub ingest: Ingest,
    /// The embedded broker's subscriptions (also used to publish errors and commands).
    pub broker: Arc<Broker>,
    /// Delivery of data products to their subscriptions (and their vouchers).
    pub delivery: Arc<Delivery<Context>>,
    /// The account that signs anchors, feed reports, deliveries and commands.
    pub account: Address,
    /// Where the embedded broker listens, if it runs.
    pub mqtt: Option<SocketAddr>,
    /// Where the embedded broker listens with TLS, if it does.
    pub mqtt_tls: Option<SocketAddr>,
}

/// The gateway without its network transports: admission, the readings store, anchoring,
/// feed reporting, the account watch, the broker's routing and (once [`Core::relay`] is
/// called) the command relay. Generic over the runtime: the node runs it on tokio, the
/// simulations on the deterministic runtime, with in-process broker clients
/// ([`mqtt::LocalClient`]) as devices.
pub struct Core<E: Runtime> {
    /// Accepted readings.
    pub store: Arc<ReadingStore<E>>,
    /// Device records.
    pub devices: Arc<DeviceCache<E>>,
    /// The admission queue.
    pub ingest: Ingest,
    /// The broker's subscriptions and routing.
    pub broker: Arc<Broker>,
    /// Delivery of data products to their subscriptions.
    pub delivery: Arc<Delivery<E>>,
    submitter: Arc<submit::Submitter<E>>,
    key: PrivateKey,
    interval: Duration,
    health: Arc<Health>,
    chain: Arc<ChainInfo>,
}

impl<E: Runtime> Core<E> {
    /// Starts admission, anchoring, feed reporting and the account watch on `context`; what
    /// the gateway submits is signed with `key`, and its subsystems report to `health`.
    pub async fn start(
        context: &E,
        config: &GatewayConfig,
        key: PrivateKey,
        chain: Arc<ChainInfo>,
        db: Databases<E>,
        health: Arc<Health>,
        workers: impl ingest::Workers,
    ) -> Self {
        let cache = machina_store::page_cache(commonware_utils::NZUsize!(1024));
        let store = ReadingStore::open(context.child("readings"), "machina-readings", cache).await;
        let devices = Arc::new(DeviceCache::new(db.clone()));
        let chain_id = chain.genesis().chain_id.clone();
        let broker_config = BrokerConfig {
            chain_id: chain_id.clone(),
            max_connections: config.mqtt_max_connections,
            allow_anonymous: config.mqtt_allow_anonymous,
            users: config.mqtt_users.clone(),
        };
        let lookup: Arc<dyn devices::DeviceLookup> = devices.clone();
        let broker = Arc::new(Broker::new(broker_config, Some(lookup)));
        let delivery =
            Delivery::start(context, devices.clone(), broker.clone(), chain_id, health.clone())
                .await;
        let ingest = ingest::start(
            context,
            store.clone(),
            devices.clone(),
            delivery.clone(),
            workers,
            health.clone(),
        );
        let (cache, delivery_) = (devices.clone(), delivery.clone());
        chain.observe(move |block| {
            for receipt in block.receipts.iter() {
                cache.invalidate(&receipt.events);
                delivery_.invalidate(&receipt.events);
            }
        });
        let interval = Duration::from_millis(config.anchor_interval_ms.max(10));
        let submitter = Arc::new(submit::Submitter::new(
            context.child("submitter"),
            chain.clone(),
            db,
            key.clone(),
        ));
        let (store_, submitter_, per_round) =
            (store.clone(), submitter.clone(), config.anchors_per_interval);
        let retention = Duration::from_secs(config.retention_days.saturating_mul(86_400));
        let metrics = anchor::AnchorMetrics::new(&context.child("gateway"));
        supervise(context, health.clone(), anchor::SUBSYSTEM, move || {
            let metrics = metrics.clone();
            anchor::Anchorer::new(store_.clone(), submitter_.clone(), per_round, retention, metrics)
                .run(interval)
        });
        let (store_, devices_, submitter_) = (store.clone(), devices.clone(), submitter.clone());
        let per_creator = config.reports_per_creator;
        supervise(context, health.clone(), feeds::SUBSYSTEM, move || {
            feeds::Reporter::new(store_.clone(), devices_.clone(), submitter_.clone(), per_creator)
                .run(interval)
        });
        let account = Address::of(&key.public_key());
        watch_account(context, health.clone(), chain.clone(), devices.clone(), account);
        Self { store, devices, ingest, broker, delivery, submitter, key, interval, health, chain }
    }

    /// Starts the command relay: leased commands go out through `outbox`, devices'
    /// acknowledgements come in on `acks`.
    pub async fn relay(
        &self,
        context: &E,
        outbox: commands::Outbox,
        acks: tokio::sync::mpsc::Receiver<(machina_types::DeviceId, bytes::Bytes)>,
    ) -> Result<(), GatewayError> {
        let watermark = commands::open_watermark(context.child("commands"), "machina-commands")
            .await
            .map_err(GatewayError::Config)?;
        let relay = Arc::new(commands::Relay::new(
            self.submitter.clone(),
            self.devices.clone(),
            outbox,
            self.key.clone(),
        ));
        let task =
            relay.run(watermark, self.chain.subscribe(), acks, self.interval, self.health.clone());
        supervise_once(context, self.health.clone(), commands::SUBSYSTEM, task);
        Ok(())
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("gateway configuration: {0}")]
    Config(String),
}

/// Loads the TLS certificate chain and key of the broker's TLS listener.
fn tls_acceptor(config: &GatewayConfig) -> Result<mqtt::TlsAcceptor, GatewayError> {
    use tokio_rustls::rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    };
    let missing =
        || GatewayError::Config("mqtt_tls_listen needs mqtt_tls_cert and mqtt_tls_key".into());
    let cert = config.mqtt_tls_cert.as_ref().ok_or_else(missing)?;
    let key = config.mqtt_tls_key.as_ref().ok_or_else(missing)?;
    let bad = |path: &Path, e: &dyn std::fmt::Display| {
        GatewayError::Config(format!("{}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| GatewayError::Config(format!("TLS certificate and key: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// Binds `addr`.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, GatewayError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Listen { addr, source })
}

/// Starts the gateway with its network transports (the embedded MQTT broker's listeners,
/// or the bridge to an external broker) on the node's tokio runtime.
pub async fn start(
    context: &Context,
    config: &GatewayConfig,
    key: PrivateKey,
    chain: Arc<ChainInfo>,
    db: Databases<Context>,
    health: Arc<Health>,
) -> Result<Arc<Gateway>, GatewayError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = context.strategy(NonZeroUsize::new(threads).expect("non-zero"));
    let core = Core::start(context, config, key.clone(), chain, db, health.clone(), workers).await;
    let Core { ingest, broker, .. } = &core;
    let (acks_tx, acks) = tokio::sync::mpsc::channel(commands::ACKS_QUEUE_MAX);
    let (mut mqtt, mut mqtt_tls) = (None, None);
    let outbox = if let Some(broker_addr) = &config.mqtt_broker {
        let (host, port) = broker_addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?)))
            .ok_or_else(|| {
                GatewayError::Config(format!("mqtt_broker {broker_addr:?} is not host:port"))
            })?;
        let client_id = format!("machina-gateway-{}", Address::of(&key.public_key()));
        let (client, events) = bridge::connect(host, port, client_id[..40].to_string());
        let task = bridge::run(client.clone(), events, ingest.clone(), acks_tx);
        supervise_once(context, health.clone(), bridge::SUBSYSTEM, task);
        commands::Outbox::External(client)
    } else {
        if let Some(listen) = config.mqtt_listen {
            let listener = bind(listen).await?;
            mqtt = listener.local_addr().ok();
            serve_supervised(context, &health, "mqtt-broker", listener, None, ingest, broker);
        }
        if let Some(listen) = config.mqtt_tls_listen {
            let acceptor = tls_acceptor(config)?;
            let listener = bind(listen).await?;
            mqtt_tls = listener.local_addr().ok();
            let tls = Some(acceptor);
            serve_supervised(context, &health, "mqtt-broker-tls", listener, tls, ingest, broker);
        }
        broker.forward_acks(acks_tx);
        commands::Outbox::Embedded(broker.clone())
    };
    core.relay(context, outbox, acks).await?;
    Ok(Arc::new(Gateway {
        store: core.store,
        devices: core.devices,
        ingest: core.ingest,
        broker: core.broker,
        delivery: core.delivery,
        account: Address::of(&key.public_key()),
        mqtt,
        mqtt_tls,
    }))
}

/// The subsystem name of the gateway's account in `/health`.
pub const ACCOUNT: &str = "gateway-account";
/// Transactions' worth of fees the gateway's account must hold to count as funded.
const FUNDED_TXS: u64 = 100;

/// Reports the gateway's account down while it holds too little to pay for what the gateway
/// submits (anchors, feed reports, deliveries): they would be refused. Checked after every
/// finalized block (the balance can only change there).
fn watch_account<E: Runtime>(
    context: &E,
    health: Arc<Health>,
    chain: Arc<ChainInfo>,
    devices: Arc<DeviceCache<E>>,
    account: Address,
) {
    let fees = chain.genesis().params.fees;
    let needed = fees.fee(1, 1024).saturating_mul(FUNDED_TXS);
    health.up(ACCOUNT);
    let mut blocks = chain.subscribe();
    context.child("account").spawn(move |_| async move {
        let mut funded = true;
        loop {
            if let Err(tokio::sync::broadcast::error::RecvError::Closed) = blocks.recv().await {
                return;
            }
            let balance = devices.balance(&account).await;
            match (funded, balance >= needed) {
                (true, false) => health.down(
                    ACCOUNT,
                    format!(
                        "the gateway's account {account} holds {balance}, less than {needed}: \
                         fund it, or anchors and feed reports are refused"
                    ),
                ),
                (false, true) => health.up(ACCOUNT),
                _ => {}
            }
            funded = balance >= needed;
        }
    });
}

/// Serves the broker on `listener` under supervision. The listener is shared by restarts.
fn serve_supervised(
    context: &Context,
    health: &Arc<Health>,
    name: &'static str,
    listener: tokio::net::TcpListener,
    tls: Option<mqtt::TlsAcceptor>,
    ingest: &Ingest,
    broker: &Arc<Broker>,
) {
    let listener = Arc::new(listener);
    let (ingest, broker) = (ingest.clone(), broker.clone());
    supervise(context, health.clone(), name, move || {
        mqtt::serve(listener.clone(), tls.clone(), ingest.clone(), broker.clone())
    });
}
