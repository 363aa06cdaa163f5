//! The gateway: devices' entry to the chain.
//!
//! Devices publish signed readings over MQTT (the embedded broker, or an external one such
//! as mosquitto) or HTTP. The gateway checks each (signature against the device's current
//! key, device onboarded and active, sequence strictly increasing, timestamp sane, size),
//! stores accepted readings durably before acknowledging them, and refuses the rest with a
//! reason. Every interval it anchors each stream's new readings on chain under a Merkle
//! root, and reports readings of feed-enrolled devices to their feeds. It sends leased
//! commands to devices and relays their signed acknowledgements ([`commands`]). Readings
//! are served with proofs from the device's maker certificate to a finalized block.

pub mod anchor;
pub mod bridge;
pub mod commands;
pub mod devices;
pub mod feeds;
pub mod ingest;
pub mod mqtt;
pub mod store;
pub mod submit;

use crate::{application::Databases, chain::ChainInfo};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_runtime::{Strategizer, Supervisor, tokio::Context};
use devices::DeviceCache;
use ingest::Ingest;
use machina_types::Address;
use mqtt::Broker;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, num::NonZeroUsize, sync::Arc, time::Duration};
use store::ReadingStore;

/// Gateway settings (the `[gateway]` section of `config.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where the embedded MQTT broker listens (ignored when `mqtt_broker` is set).
    pub mqtt_listen: Option<SocketAddr>,
    /// An external MQTT broker (`host:port`) to take readings from instead.
    #[serde(default)]
    pub mqtt_broker: Option<String>,
    /// How often new readings are anchored (ms).
    #[serde(default = "default_anchor_interval")]
    pub anchor_interval_ms: u64,
}

fn default_anchor_interval() -> u64 {
    1000
}

impl Default for GatewayConfig {
    /// No MQTT (readings over HTTP only), anchoring every second.
    fn default() -> Self {
        Self { mqtt_listen: None, mqtt_broker: None, anchor_interval_ms: default_anchor_interval() }
    }
}

impl GatewayConfig {
    /// An embedded broker on `mqtt_listen`, anchoring every second.
    pub fn embedded(mqtt_listen: SocketAddr) -> Self {
        Self {
            mqtt_listen: Some(mqtt_listen),
            mqtt_broker: None,
            anchor_interval_ms: default_anchor_interval(),
        }
    }
}

/// A running gateway.
pub struct Gateway {
    /// Accepted readings.
    pub store: Arc<ReadingStore<Context>>,
    /// Device records.
    pub devices: Arc<DeviceCache>,
    /// The admission queue.
    pub ingest: Ingest,
    /// The embedded broker's subscriptions (also used to publish errors and commands).
    pub broker: Arc<Broker>,
    /// The account that signs anchors and feed reports.
    pub account: Address,
    /// Where the embedded broker listens, if it runs.
    pub mqtt: Option<SocketAddr>,
}

/// Starts the gateway; readings anchored and reported are signed with `key`.
pub async fn start(
    context: &Context,
    config: &GatewayConfig,
    key: PrivateKey,
    chain: Arc<ChainInfo>,
    db: Databases<Context>,
) -> std::io::Result<Arc<Gateway>> {
    let cache = machina_store::page_cache(commonware_utils::NZUsize!(1024));
    let store = ReadingStore::open(context.child("readings"), "machina-readings", cache).await;
    let devices = Arc::new(DeviceCache::new(db.clone()));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = context.strategy(NonZeroUsize::new(threads).expect("non-zero"));
    let ingest = ingest::start(store.clone(), devices.clone(), workers);
    let broker = Arc::new(Broker::default());

    let cache = devices.clone();
    chain.observe(move |block| {
        for receipt in block.receipts.iter() {
            cache.invalidate(&receipt.events);
        }
    });
    let interval = Duration::from_millis(config.anchor_interval_ms.max(10));
    let submitter = Arc::new(submit::Submitter::new(chain.clone(), db, key.clone()));
    tokio::spawn(anchor::Anchorer::new(store.clone(), submitter.clone()).run(interval));
    tokio::spawn(
        feeds::Reporter::new(store.clone(), devices.clone(), submitter.clone()).run(interval),
    );

    let (acks_tx, acks) = tokio::sync::mpsc::unbounded_channel();
    let mut mqtt = None;
    let outbox = if let Some(broker_addr) = &config.mqtt_broker {
        let (host, port) = broker_addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?)))
            .ok_or_else(|| {
                std::io::Error::other(format!("mqtt_broker {broker_addr:?} is not host:port"))
            })?;
        let client_id = format!("machina-gateway-{}", Address::of(&key.public_key()));
        let (client, events) = bridge::connect(host, port, client_id[..40].to_string());
        tokio::spawn(bridge::run(client.clone(), events, ingest.clone(), acks_tx));
        commands::Outbox::External(client)
    } else {
        if let Some(listen) = config.mqtt_listen {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            mqtt = Some(listener.local_addr()?);
            tokio::spawn(mqtt::serve(listener, ingest.clone(), broker.clone()));
        }
        broker.forward_acks(acks_tx);
        commands::Outbox::Embedded(broker.clone())
    };
    let watermark = commands::open_watermark(context.child("commands"), "machina-commands")
        .await
        .map_err(std::io::Error::other)?;
    let relay = Arc::new(commands::Relay::new(submitter, devices.clone(), outbox));
    tokio::spawn(relay.run(watermark, chain.subscribe(), acks, interval));
    Ok(Arc::new(Gateway {
        store,
        devices,
        ingest,
        broker,
        account: Address::of(&key.public_key()),
        mqtt,
    }))
}
