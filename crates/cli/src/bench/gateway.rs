//! `bench gateway`: one validator with its gateway, `--devices` onboarded devices, and four
//! figures from one run:
//!
//! - (a) in process: pre-signed readings handed straight to the gateway's admission queue,
//!   every one decoded, checked against its device record, signature-verified (in batches),
//!   appended to the durable journal and synced, then Merkle-batched per stream as the
//!   anchorer does: readings per second; and as many readings whose values were sealed on
//!   the device (`sealed::seal`, a random nonce each, under the stream's epoch key), on
//!   other streams, through the same path (in rounds plain, sealed, sealed, plain):
//!   readings per second and the ratio to plain ones; and, apart, what sealing costs a
//!   device and opening a subscriber, per reading, on one core;
//! - (b) end to end over MQTT: one connection per device to the embedded broker, QoS 1,
//!   each acknowledgement sent only after the reading is durably stored: readings per second
//!   from the first publish to the last acknowledgement;
//! - (c) the same publishers and payloads through a plain mosquitto broker to one plain
//!   subscriber that verifies nothing: readings per second until both the publishers have
//!   every acknowledgement and the subscriber every message; and the ratio (b)/(c);
//! - (d) for the readings of (b): time from publishing to the finalized block whose
//!   anchor covers the reading, p50 and p99.

use super::{
    CHAIN_ID, Machine, Nodes, Report, bench_homes, cores, data_dir,
    load::{self, Publisher},
    micros, percentile,
};
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clap::Args;
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use futures::{StreamExt, stream::FuturesUnordered};
use machina_app::Params;
use machina_node::{ChainInfo, gateway::GatewayConfig, ports::unused_local_addr};
use machina_sdk::{
    Client,
    device::{DeviceIdentity, mqtt_login, numeric, telemetry_topic},
};
use machina_types::data::DataEvent;
use machina_types::{
    Address, DeviceId, Event, Hash, IdentityCall, SignedReading, merkle,
    reading::{Reading, StreamId, Value},
    sealed,
};
use rand_core::Rng;
use serde::Serialize;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Stream of the MQTT readings (b, c, d).
const MQTT_STREAM: StreamId = 2;
/// Streams of the in-process readings (a) in the order admitted, and whether their values
/// are sealed: plain, sealed, sealed, plain, so that neither kind gains from running second.
const INGEST_ROUNDS: [(StreamId, bool); 4] = [(1, false), (3, true), (4, true), (5, false)];
/// The sealed stream's secret, which its holder provisions to the device.
const STREAM_SECRET: sealed::Key = [7; 32];
/// How long to wait for anchors to finalize.
const ANCHOR_WAIT: Duration = Duration::from_secs(120);

/// Options of `bench gateway`.
#[derive(Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Devices onboarded, and MQTT connections (one per device).
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Readings each device publishes over MQTT (b, c, d).
    #[arg(long, default_value_t = 300)]
    pub readings_per_device: usize,
    /// Readings admitted in process (a), plain, and as many sealed (each in two rounds).
    #[arg(long, default_value_t = 200_000)]
    pub ingest_readings: usize,
    /// Unacknowledged messages each connection may have in flight.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Anchoring interval (ms).
    #[arg(long, default_value_t = 1000)]
    pub anchor_interval_ms: u64,
    /// Target block interval (ms).
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// The mosquitto binary for the baseline (c) [default: `mosquitto` on PATH or in
    /// /usr/sbin]; without one, (c) and the ratio are not measured.
    #[arg(long)]
    pub mosquitto: Option<PathBuf>,
    /// Directory for the node's data [default: a fresh temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Results of `bench gateway`.
#[derive(Debug, Serialize)]
pub struct GatewayReport {
    /// Onboarded devices (and MQTT connections).
    pub devices: usize,
    /// (a) Plain readings admitted in process (and as many sealed ones).
    pub ingest_readings: usize,
    /// (a) Seconds of the plain rounds, each from its first submission to its last Merkle
    /// batch.
    pub ingest_seconds: f64,
    /// (a) Verified, stored and batched readings per second.
    pub ingest_readings_per_s: f64,
    /// (a) Seconds of the sealed rounds.
    pub sealed_ingest_seconds: f64,
    /// (a) Sealed readings verified, stored and batched per second.
    pub sealed_ingest_readings_per_s: f64,
    /// (a) Sealed readings per second over plain ones.
    pub sealed_to_plain: f64,
    /// Bytes of a signed plain reading, and of a signed sealed one.
    pub reading_bytes: (usize, usize),
    /// Microseconds a device takes to seal a reading's value (its nonce drawn from the
    /// operating system's generator), on one core.
    pub us_per_seal: f64,
    /// Microseconds a subscriber takes to open one, on one core.
    pub us_per_open: f64,
    /// (b) Concurrent MQTT device connections.
    pub mqtt_connections: usize,
    /// (b) Readings published and acknowledged.
    pub mqtt_readings: usize,
    /// (b) Seconds from the first publish to the last acknowledgement.
    pub mqtt_seconds: f64,
    /// (b) End-to-end readings per second (QoS 1, acknowledged after the durable write).
    pub mqtt_readings_per_s: f64,
    /// (c) The same load through plain mosquitto to a plain subscriber (null if mosquitto
    /// is not installed).
    pub mosquitto_readings_per_s: Option<f64>,
    /// (c) Seconds.
    pub mosquitto_seconds: Option<f64>,
    /// (b) / (c).
    pub ratio: Option<f64>,
    /// (d) Readings of (b) whose anchor finalized.
    pub anchored: usize,
    /// (d) Publish to finalized anchor, median (ms).
    pub anchor_latency_ms_p50: f64,
    /// (d) 99th percentile (ms).
    pub anchor_latency_ms_p99: f64,
    /// Anchoring interval (ms).
    pub anchor_interval_ms: u64,
    /// Target block interval (ms).
    pub block_interval_ms: u64,
    /// Unacknowledged messages per connection.
    pub window: usize,
    /// (a) as a fraction of what this machine's cores verify.
    pub ingest_of_verify_limit: f64,
    /// (b) as a fraction of what this machine's cores verify.
    pub mqtt_of_verify_limit: f64,
    /// The machine, calibrated in this run.
    pub machine: Machine,
}

impl Report for GatewayReport {
    fn text(&self) -> String {
        let mosquitto = match (self.mosquitto_readings_per_s, self.ratio) {
            (Some(rate), Some(ratio)) => format!(
                "{rate:.0} readings/s ({} readings in {:.2} s)\nratio (b)/(c)               {ratio:.2}",
                self.mqtt_readings,
                self.mosquitto_seconds.unwrap_or(0.0)
            ),
            _ => "not measured (mosquitto not found; pass --mosquitto)".into(),
        };
        format!(
            "devices                     {} (one MQTT connection each, window {})\n\
             (a) in process             {:.0} readings/s verified, stored and batched ({} in {:.2} s; {:.2} of the verification limit)\n\
             (a) sealed, in process     {:.0} readings/s ({} in {:.2} s; {:.2} of plain); {} B signed sealed reading, {} B plain\n\
             \x20   sealing on the device  {:.2} us/reading; opening by a subscriber {:.2} us/reading (one core)\n\
             (b) MQTT QoS 1 end to end  {:.0} readings/s ({} readings in {:.2} s; {:.2} of the verification limit)\n\
             (c) plain mosquitto        {mosquitto}\n\
             (d) to finalized anchor    p50 {:.0} ms, p99 {:.0} ms ({} readings; anchor every {} ms, blocks every {} ms)\n\
             {}",
            self.devices,
            self.window,
            self.ingest_readings_per_s,
            self.ingest_readings,
            self.ingest_seconds,
            self.ingest_of_verify_limit,
            self.sealed_ingest_readings_per_s,
            self.ingest_readings,
            self.sealed_ingest_seconds,
            self.sealed_to_plain,
            self.reading_bytes.1,
            self.reading_bytes.0,
            self.us_per_seal,
            self.us_per_open,
            self.mqtt_readings_per_s,
            self.mqtt_readings,
            self.mqtt_seconds,
            self.mqtt_of_verify_limit,
            self.anchor_latency_ms_p50,
            self.anchor_latency_ms_p99,
            self.anchored,
            self.anchor_interval_ms,
            self.block_interval_ms,
            self.machine.text(),
        )
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs `bench gateway`.
pub fn run(args: &GatewayArgs) -> Result<GatewayReport> {
    if args.devices == 0 || args.readings_per_device == 0 {
        bail!("--devices and --readings-per-device must be positive");
    }
    let mosquitto = find_mosquitto(args.mosquitto.as_deref())?;
    let machine = Machine::calibrate();
    let root = data_dir(args.dir.clone(), "gateway");
    let owner = PrivateKey::from_seed(7);
    let maker_key = PrivateKey::from_seed(8);
    let params = Params { block_interval_ms: args.block_interval_ms, ..Params::default() };
    let homes = bench_homes(&root, 1, &[Address::of(&owner.public_key())], params, |config| {
        config.gateway = GatewayConfig::embedded(unused_local_addr());
        config.gateway.anchor_interval_ms = args.anchor_interval_ms;
        Ok(())
    })?;
    let nodes = Nodes::start(homes, 3)?;
    let started = &nodes.started[0];
    let (chain, gateway) = (started.chain.clone(), started.gateway.clone());
    let broker = gateway.mqtt.context("the embedded broker did not start")?;
    let client = Client::new(&format!("http://{}", started.api));

    eprintln!("onboarding {} devices...", args.devices);
    let fleet = onboard(&client, &owner, &maker_key, args.devices, gateway.account)?;
    let ids: Vec<DeviceId> = fleet.iter().map(DeviceIdentity::id).collect();
    let anchors = AnchorLog::start(chain.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    // (a)
    let per_device = args.ingest_readings.div_ceil(args.devices * 2);
    let admit = |stream: StreamId, readings: &[Vec<Reading>]| -> Result<(usize, f64)> {
        eprintln!("(a) signing {} readings of stream {stream}...", per_device * args.devices);
        let signed = sign_all(&fleet, readings);
        eprintln!("(a) admitting them in process...");
        let (ingested, seconds) = runtime.block_on(ingest(&gateway, &ids, stream, signed))?;
        eprintln!("(a) waiting for them to be anchored...");
        anchors.wait(stream, ingested, ANCHOR_WAIT)?;
        Ok((ingested, seconds))
    };
    let bytes = |r: &[Vec<Reading>]| r[0][0].clone().sign(&fleet[0].key).encode().len();
    let (mut ingested, mut ingest_seconds, mut sealed_ingest_seconds) = (0, 0.0, 0.0);
    let (mut sealing, mut opening, mut reading_bytes) = (Duration::ZERO, Duration::ZERO, (0, 0));
    for (stream, seal) in INGEST_ROUNDS {
        let plain = readings(&fleet, stream, per_device);
        if !seal {
            let (admitted, seconds) = admit(stream, &plain)?;
            (ingested, ingest_seconds) = (ingested + admitted, ingest_seconds + seconds);
            reading_bytes.0 = bytes(&plain);
            continue;
        }
        let (sealed, took) = seal_all(&plain)?;
        sealed_ingest_seconds += admit(stream, &sealed)?.1;
        sealing += took;
        opening += open_all(&sealed, &plain)?;
        reading_bytes.1 = bytes(&sealed);
    }

    // (b) and (d)
    eprintln!("(b) signing {} readings...", args.devices * args.readings_per_device);
    let unsigned = readings(&fleet, MQTT_STREAM, args.readings_per_device);
    let payloads: Vec<Vec<Bytes>> = sign_all(&fleet, &unsigned)
        .into_iter()
        .map(|device| device.iter().map(|r| Bytes::from(r.encode().to_vec())).collect())
        .collect();
    // Devices log in to the gateway's broker with tokens their keys sign; mosquitto runs
    // without authentication.
    let publishers = |prefix: &str, login: bool| -> Vec<Publisher> {
        fleet
            .iter()
            .zip(&payloads)
            .map(|(device, payloads)| {
                let id = device.id();
                let client_id = format!("{prefix}-{}", &id.to_string()[..20]);
                let login = login.then(|| mqtt_login(&device.key, CHAIN_ID, &id, &client_id));
                Publisher {
                    client_id,
                    login,
                    topic: telemetry_topic(&id, MQTT_STREAM),
                    payloads: payloads.clone(),
                }
            })
            .collect()
    };
    eprintln!("(b) {} devices publishing over MQTT...", args.devices);
    let published =
        runtime.block_on(load::publish(broker, publishers("device", true), args.window, || {}))?;
    let mqtt_readings = args.devices * args.readings_per_device;
    let mqtt_seconds = published.finished.duration_since(published.started).as_secs_f64();
    eprintln!("(d) waiting for their anchors to finalize...");
    let waited = anchors.wait(MQTT_STREAM, mqtt_readings, ANCHOR_WAIT);
    let mut latencies = anchors.latencies(MQTT_STREAM, &ids, &published.sent_at);
    anchors.stop();
    drop((chain, gateway));
    nodes.stop()?;
    let _ = std::fs::remove_dir_all(&root);
    waited?;
    latencies.sort_by(|a, b| a.total_cmp(b));

    // (c)
    let mosquitto_seconds = match mosquitto {
        Some(binary) => {
            eprintln!("(c) the same load through mosquitto...");
            let broker = Mosquitto::start(&binary, &root)?;
            let seconds =
                runtime.block_on(baseline(broker.addr, publishers("plain", false), args))?;
            Some(seconds)
        }
        None => None,
    };
    let _ = std::fs::remove_dir_all(&root);

    let mqtt_readings_per_s = mqtt_readings as f64 / mqtt_seconds;
    let mosquitto_readings_per_s = mosquitto_seconds.map(|s| mqtt_readings as f64 / s);
    Ok(GatewayReport {
        devices: args.devices,
        ingest_readings: ingested,
        ingest_seconds,
        ingest_readings_per_s: ingested as f64 / ingest_seconds,
        sealed_ingest_seconds,
        sealed_ingest_readings_per_s: ingested as f64 / sealed_ingest_seconds,
        sealed_to_plain: ingest_seconds / sealed_ingest_seconds,
        reading_bytes,
        us_per_seal: micros(sealing, ingested),
        us_per_open: micros(opening, ingested),
        mqtt_connections: args.devices,
        mqtt_readings,
        mqtt_seconds,
        mqtt_readings_per_s,
        mosquitto_readings_per_s,
        mosquitto_seconds,
        ratio: mosquitto_readings_per_s.map(|c| mqtt_readings_per_s / c),
        anchored: latencies.len(),
        anchor_latency_ms_p50: percentile(&latencies, 50.0),
        anchor_latency_ms_p99: percentile(&latencies, 99.0),
        anchor_interval_ms: args.anchor_interval_ms,
        block_interval_ms: args.block_interval_ms,
        window: args.window,
        ingest_of_verify_limit: machine.fraction(ingested as f64 / ingest_seconds),
        mqtt_of_verify_limit: machine.fraction(mqtt_readings_per_s),
        machine,
    })
}

/// Registers `owner` as a maker and onboards `count` devices it certifies, anchorable by
/// `gateway`.
fn onboard(
    client: &Client,
    owner: &PrivateKey,
    maker_key: &PrivateKey,
    count: usize,
    gateway: Address,
) -> Result<Vec<DeviceIdentity>> {
    let bond = client.status()?.params.identity.min_maker_bond;
    let register = IdentityCall::RegisterMaker {
        name: "bench".into(),
        maker_key: Address::of(&maker_key.public_key()),
        bond,
    };
    client.execute(owner, vec![register.into()], Duration::from_secs(30))?;
    let fleet: Vec<DeviceIdentity> = (0..count as u64)
        .map(|i| {
            let key = PrivateKey::from_seed(1_000_000 + i);
            let owner = Address::of(&owner.public_key());
            DeviceIdentity::certify(key, owner, maker_key, "bench-sensor", &format!("bench-{i}"))
        })
        .collect();
    client.onboard_devices(owner, &fleet, Some(gateway), Duration::from_secs(120))?;
    Ok(fleet)
}

/// `per_device` plain numeric readings (sequence numbers 1..) of `stream` for every device.
fn readings(fleet: &[DeviceIdentity], stream: StreamId, per_device: usize) -> Vec<Vec<Reading>> {
    let timestamp_ms = now_ms();
    fleet
        .iter()
        .map(|device| {
            (1..=per_device as u64)
                .map(|seq| Reading {
                    device: device.id(),
                    stream,
                    seq,
                    timestamp_ms: timestamp_ms + seq,
                    value: numeric(200 + (seq % 50) as i64, 1, "C"),
                })
                .collect()
        })
        .collect()
}

/// Signs every device's `readings` with its key, on every core.
fn sign_all(fleet: &[DeviceIdentity], readings: &[Vec<Reading>]) -> Vec<Vec<SignedReading>> {
    let threads = cores().max(1);
    let chunk = fleet.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = fleet
            .chunks(chunk)
            .zip(readings.chunks(chunk))
            .map(|(devices, readings)| {
                scope.spawn(move || {
                    devices
                        .iter()
                        .zip(readings)
                        .map(|(device, r)| r.iter().map(|r| r.clone().sign(&device.key)).collect())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("signing thread")).collect()
    })
}

/// The epoch-0 key of the stream of `readings` (one device's), as its device and the
/// stream's subscribers hold it.
fn stream_key(readings: &[Reading]) -> sealed::Key {
    readings.first().map_or([0; 32], |r| sealed::epoch_key(&STREAM_SECRET, &r.device, r.stream, 0))
}

/// Seals every device's readings as the device would, with a random nonce each, on one core;
/// returns them and the time sealing took (nonces included).
fn seal_all(readings: &[Vec<Reading>]) -> Result<(Vec<Vec<Reading>>, Duration)> {
    let mut rng = commonware_utils::sys_rng();
    let mut took = Duration::ZERO;
    let mut out = Vec::with_capacity(readings.len());
    for device in readings {
        let key = stream_key(device);
        let started = Instant::now();
        let sealed: Option<Vec<Reading>> = device
            .iter()
            .map(|r| {
                let mut nonce = [0; 24];
                rng.fill_bytes(&mut nonce);
                sealed::seal(r.clone(), &key, 0, nonce)
            })
            .collect();
        took += started.elapsed();
        out.push(sealed.context("a plain value seals")?);
    }
    Ok((out, took))
}

/// Opens every sealed reading as a subscriber holding the epoch keys would, on one core;
/// checks each gives back its plain value; returns the time opening took.
fn open_all(sealed: &[Vec<Reading>], plain: &[Vec<Reading>]) -> Result<Duration> {
    let mut took = Duration::ZERO;
    for (sealed, plain) in sealed.iter().zip(plain) {
        let key = stream_key(sealed);
        let started = Instant::now();
        let opened: Vec<Option<Value>> = sealed.iter().map(|r| sealed::open(r, &key)).collect();
        took += started.elapsed();
        if opened.iter().zip(plain).any(|(o, p)| o.as_ref() != Some(&p.value)) {
            bail!("a sealed reading did not open to its value");
        }
    }
    Ok(took)
}

/// (a): hands every reading to the admission queue (each device's in order, devices spread
/// over concurrent submitters), waits for every verdict, then builds each stream's Merkle
/// batch from the store; returns the readings accepted and the seconds it all took.
async fn ingest(
    gateway: &machina_node::gateway::Gateway,
    ids: &[DeviceId],
    stream: StreamId,
    readings: Vec<Vec<SignedReading>>,
) -> Result<(usize, f64)> {
    const SUBMITTERS: usize = 16;
    const PENDING_MAX: usize = 8192;
    let mut groups: Vec<Vec<Vec<u8>>> = vec![Vec::new(); SUBMITTERS];
    let rounds = readings.iter().map(Vec::len).max().unwrap_or(0);
    for seq in 0..rounds {
        for (i, device) in readings.iter().enumerate() {
            if let Some(reading) = device.get(seq) {
                groups[i % SUBMITTERS].push(reading.encode().to_vec());
            }
        }
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    let started = Instant::now();
    let tasks: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let ingest = gateway.ingest.clone();
            tokio::spawn(async move {
                let mut pending = FuturesUnordered::new();
                let mut accepted = 0usize;
                for bytes in group {
                    pending.push(ingest.submit(bytes, None).await);
                    while pending.len() >= PENDING_MAX {
                        accepted += usize::from(matches!(pending.next().await, Some(Ok(_))));
                    }
                }
                while let Some(verdict) = pending.next().await {
                    accepted += usize::from(verdict.is_ok());
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await?;
    }
    // Batch: the Merkle root over each stream's stored readings, as anchoring computes it.
    let mut batched = 0;
    for id in ids {
        let leaves: Vec<Hash> = gateway
            .store
            .page(&(*id, stream), 0..=u64::MAX, 0..=u64::MAX, usize::MAX)
            .into_iter()
            .map(|(_, e)| e.leaf)
            .collect();
        batched += leaves.len();
        std::hint::black_box(merkle::root(&leaves));
    }
    let seconds = started.elapsed().as_secs_f64();
    if accepted != total || batched != total {
        bail!("(a) {accepted} of {total} readings accepted, {batched} batched");
    }
    Ok((accepted, seconds))
}

/// (c): a plain subscriber on mosquitto, and the publishers; seconds from the first publish
/// until both every acknowledgement and every message arrived.
async fn baseline(
    broker: SocketAddr,
    publishers: Vec<Publisher>,
    args: &GatewayArgs,
) -> Result<f64> {
    let expected = publishers.iter().map(|p| p.payloads.len()).sum();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let subscriber = tokio::spawn(async move {
        load::subscribe(broker, "machina/v1/+/telemetry/+", expected, subscribed_tx).await
    });
    subscribed.await.map_err(|_| anyhow!("the subscriber did not subscribe"))?;
    let published = load::publish(broker, publishers, args.window, || {}).await?;
    let last_received = tokio::time::timeout(Duration::from_secs(120), subscriber)
        .await
        .context("the subscriber did not receive every message")???;
    let finished = published.finished.max(last_received);
    Ok(finished.duration_since(published.started).as_secs_f64())
}

/// A finalized anchor: device, stream, first and last sequence numbers covered, and when its
/// block was seen finalized.
type Anchor = (DeviceId, StreamId, u64, u64, Instant);

/// Finalized anchors, as the chain reports them.
struct AnchorLog {
    log: Arc<Mutex<Vec<Anchor>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl AnchorLog {
    fn start(chain: Arc<ChainInfo>) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut blocks = chain.subscribe();
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let block = match blocks.try_recv() {
                        Ok(block) => block,
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "anchor log fell behind");
                            continue;
                        }
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    };
                    let now = Instant::now();
                    let mut log = log.lock().expect("anchor log");
                    for event in block.receipts.iter().flat_map(|r| r.events.iter()) {
                        if let Event::Data(DataEvent::Anchored {
                            device,
                            stream,
                            first_seq,
                            last_seq,
                            ..
                        }) = event
                        {
                            log.push((*device, *stream, *first_seq, *last_seq, now));
                        }
                    }
                }
            })
        };
        Self { log, stop, thread }
    }

    fn anchored(&self, stream: StreamId) -> usize {
        let log = self.log.lock().expect("anchor log");
        log.iter()
            .filter(|(_, s, ..)| *s == stream)
            .map(|(_, _, first, last, _)| (last - first + 1) as usize)
            .sum()
    }

    /// Waits until `count` readings of `stream` are anchored in finalized blocks.
    fn wait(&self, stream: StreamId, count: usize, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while self.anchored(stream) < count {
            if start.elapsed() > timeout {
                bail!(
                    "only {} of {count} readings anchored after {timeout:?}",
                    self.anchored(stream)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Publish-to-finalized-anchor latencies (ms) of `stream`'s readings, given when each
    /// device's readings (sequence numbers 1..) were published.
    fn latencies(&self, stream: StreamId, ids: &[DeviceId], sent_at: &[Vec<Instant>]) -> Vec<f64> {
        let index: HashMap<DeviceId, usize> =
            ids.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let log = self.log.lock().expect("anchor log");
        let mut out = Vec::new();
        for (device, s, first, last, at) in log.iter() {
            let Some(sent) = index.get(device).filter(|_| *s == stream).map(|i| &sent_at[*i])
            else {
                continue;
            };
            for seq in *first..=*last {
                if let Some(published) = sent.get(seq as usize - 1) {
                    out.push(at.duration_since(*published).as_secs_f64() * 1000.0);
                }
            }
        }
        out
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// The mosquitto binary: `given`, else `mosquitto` on PATH or in /usr/sbin, else none.
fn find_mosquitto(given: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(path) = given {
        if !path.exists() {
            bail!("no mosquitto at {}", path.display());
        }
        return Ok(Some(path.to_path_buf()));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
    Ok(candidates.map(|dir| dir.join("mosquitto")).find(|p| p.is_file()))
}

/// A mosquitto broker on a free loopback port, configured so it never drops QoS 1 messages
/// of a slow subscriber (unbounded queue and in-flight window), stopped on drop.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
}

impl Mosquitto {
    fn start(binary: &Path, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let addr = unused_local_addr();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {} {}\nallow_anonymous true\npersistence false\nlog_dest none\n\
                 max_queued_messages 0\nmax_inflight_messages 0\n",
                addr.port(),
                addr.ip()
            ),
        )?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let broker = Self { child, addr };
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("mosquitto did not start listening on {addr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
