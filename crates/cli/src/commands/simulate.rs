//! Simulated devices: the loop one device runs (connect to the broker as itself, publish
//! signed readings with QoS 1, perform the commands its gateway signs), shared by `machina
//! device simulate` and `machina dev --demo`, and the `simulate` command itself.

use anyhow::Result;
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_math::algebra::Random;
use machina_sdk::device::{DeviceIdentity, errors_topic, telemetry_topic, verify_command};
use machina_types::{
    Address, DeviceId, IdentityCall, Value,
    market::{ACK_NAMESPACE, ActuationAck, ack_message},
    reading::StreamId,
};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::device::*;

pub(super) struct Simulation {
    pub(super) count: usize,
    pub(super) rate: f64,
    pub(super) stream: u32,
    pub(super) duration: Option<u64>,
    pub(super) maker_key: String,
    pub(super) mqtt: Option<String>,
}

/// Onboards the simulated devices (registering the signer as a maker if needed); returns them.
fn onboard_fleet(
    ctx: &DeviceCtx,
    signing: &Signing,
    sim: &Simulation,
) -> Result<Vec<DeviceIdentity>> {
    let owner = ctx.keyring.get(&signing.from)?;
    let status = ctx.client.status()?;
    let maker_key = ctx.key_or_create(&sim.maker_key)?;
    if ctx.client.maker(&owner.address()).is_err() {
        let bond = status.params.identity.min_maker_bond;
        let call = IdentityCall::RegisterMaker {
            name: "simulated devices".into(),
            maker_key: maker_key.address(),
            bond,
        };
        ctx.execute(&signing.from, vec![call.into()])?;
    }
    let run = now_ms();
    let fleet: Vec<DeviceIdentity> = (0..sim.count)
        .map(|i| {
            let key = PrivateKey::random(commonware_utils::sys_rng());
            DeviceIdentity::certify(
                key,
                owner.address(),
                &maker_key.key,
                "sim-sensor",
                &format!("sim-{run}-{i}"),
            )
        })
        .collect();
    ctx.client.onboard_devices(&owner.key, &fleet, Some(status.gateway.account), WAIT)?;
    Ok(fleet)
}

pub(super) fn simulate(ctx: &DeviceCtx, signing: &Signing, sim: Simulation) -> Result<()> {
    let broker = broker_address(ctx, sim.mqtt.clone())?;
    let chain_id = ctx.client.status()?.chain_id;
    let fleet = onboard_fleet(ctx, signing, &sim)?;
    let ids: Vec<DeviceId> = fleet.iter().map(DeviceIdentity::id).collect();
    ctx.print(&json!({ "devices": ids, "stream": sim.stream, "broker": format!("{}:{}", broker.0, broker.1) }), || {
        let shown: Vec<String> = ids.iter().take(3).map(|d| format!("  {d}")).collect();
        format!(
            "onboarded {} devices (gateway may anchor their data); publishing stream {} at {}/s each to {}:{}\n{}{}",
            ids.len(), sim.stream, sim.rate, broker.0, broker.1, shown.join("\n"),
            if ids.len() > 3 { "\n  ..." } else { "" }
        )
    });
    let counters = Arc::new(Counters::default());
    let rt = runtime()?;
    rt.block_on(async {
        for identity in fleet {
            let id = identity.id();
            let (tenths, salt) = (200 + i64::from(id.0[0]) % 50, i64::from(id.0[1]));
            let behaviour = Box::new(Drift { stream: sim.stream, tenths, salt, seq: 0 });
            let device = SimDevice { identity, behaviour, gateway: None };
            let link = Link { broker: broker.clone(), chain_id: chain_id.clone(), rate: sim.rate };
            tokio::spawn(run_device(device, link, counters.clone()));
        }
        let started = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tokio::signal::ctrl_c() => break,
            }
            let (sent, acked, refused) = counters.snapshot();
            let body = json!({ "seconds": started.elapsed().as_secs(), "sent": sent, "acknowledged": acked, "refused": refused });
            ctx.print(&body, || format!("{:>5} s  sent {sent}  acknowledged {acked}  refused {refused}", started.elapsed().as_secs()));
            if sim.duration.is_some_and(|d| started.elapsed() >= Duration::from_secs(d)) {
                break;
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// What a fleet of simulated devices did, in all.
#[derive(Default)]
pub(super) struct Counters {
    /// Readings handed to the MQTT client.
    pub(super) sent: AtomicU64,
    /// Acknowledgements (PUBACK) from the broker: readings stored, or command
    /// acknowledgements taken.
    pub(super) acked: AtomicU64,
    /// Refusals the gateway reported on the devices' errors topics.
    pub(super) refused: AtomicU64,
    /// Leased commands performed and acknowledged.
    pub(super) performed: AtomicU64,
}

impl Counters {
    /// (sent, acknowledged, refused).
    pub(super) fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// What a simulated device measures, and what performing a command does to it.
pub(super) trait Behaviour: Send + 'static {
    /// The values it measures now (ms since the Unix epoch), one per stream.
    fn measure(&mut self, now_ms: u64) -> Vec<(StreamId, Value)>;

    /// It performed a leased command (an actuator's `unlock`, say).
    fn performed(&mut self, _command: &str, _now_ms: u64) {}
}

/// A temperature that drifts a little at every reading (`machina device simulate`).
struct Drift {
    stream: StreamId,
    tenths: i64,
    /// Varies the drift between devices.
    salt: i64,
    seq: i64,
}

impl Behaviour for Drift {
    fn measure(&mut self, _now_ms: u64) -> Vec<(StreamId, Value)> {
        self.seq += 1;
        self.tenths += (self.seq * 7 + self.salt) % 5 - 2;
        vec![(self.stream, machina_sdk::device::numeric(self.tenths, 1, "C"))]
    }
}

/// A simulated device: its identity and behaviour.
pub(super) struct SimDevice {
    /// Its key and certificate.
    pub(super) identity: DeviceIdentity,
    /// What it measures.
    pub(super) behaviour: Box<dyn Behaviour>,
    /// For an actuator: the gateway whose signed commands it performs and acknowledges.
    pub(super) gateway: Option<Address>,
}

/// Where and how often a simulated device publishes.
#[derive(Clone)]
pub(super) struct Link {
    /// The MQTT broker, `(host, port)`.
    pub(super) broker: (String, u16),
    /// The chain (its login tokens and commands name it).
    pub(super) chain_id: String,
    /// Readings per second, per stream.
    pub(super) rate: f64,
}

/// Leased commands an actuator remembers having performed (a command is repeated by the
/// gateway until its lease settles, which takes far fewer commands than this).
const PERFORMED_REMEMBERED: usize = 1024;

/// Runs one simulated device until the process stops: it logs in to the broker with its
/// key, publishes its readings with QoS 1 at `link.rate` per second and stream (sequence
/// numbers from 1, per stream), counts acknowledgements and refusals, and, if it is an
/// actuator, performs the commands its gateway signed and publishes signed acknowledgements.
/// A lost connection is retried with a fresh login token.
pub(super) async fn run_device(mut device: SimDevice, link: Link, counters: Arc<Counters>) {
    let id = device.identity.id();
    let login = Login { chain_id: link.chain_id.clone(), key: device.identity.key.clone() };
    let client_id = format!("sim-{}", &id.to_string()[..20]);
    let (client, mut events) = device_client(&link.broker, &login, &id, client_id, 64);
    let commands = format!("machina/v1/{id}/commands");
    let period = Duration::from_secs_f64(1.0 / link.rate.max(0.001));
    let mut ticker = tokio::time::interval(period);
    let mut seqs: BTreeMap<StreamId, u64> = BTreeMap::new();
    let mut performed = BTreeSet::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = now_ms();
                for (stream, value) in device.behaviour.measure(now) {
                    let seq = seqs.entry(stream).or_default();
                    *seq += 1;
                    let reading = device.identity.reading(stream, *seq, now, value);
                    let topic = telemetry_topic(&id, stream);
                    let payload = reading.encode().to_vec();
                    if client.publish(topic, QoS::AtLeastOnce, false, payload).await.is_ok() {
                        counters.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    // A clean session each time: subscribe again after every connection.
                    let _ = client.try_subscribe(errors_topic(&id), QoS::AtMostOnce);
                    if device.gateway.is_some() {
                        let _ = client.try_subscribe(commands.clone(), QoS::AtLeastOnce);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == commands => {
                    actuate(&mut device, &link, &client, &p.payload, &mut performed, &counters);
                }
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    renew_login(&mut events, &login, &id);
                }
            },
        }
    }
}

/// Checks a message on an actuator's commands topic (signed by its gateway, for this chain
/// and device, before its deadline), performs the command unless it was already, and
/// publishes the device's signed acknowledgement (which the gateway relays to pay the lease).
fn actuate(
    device: &mut SimDevice,
    link: &Link,
    client: &AsyncClient,
    payload: &[u8],
    performed: &mut BTreeSet<u64>,
    counters: &Counters,
) {
    let Some(gateway) = device.gateway else { return };
    let (now, id) = (now_ms(), device.identity.id());
    let command = match verify_command(payload, &link.chain_id, &id, &gateway, now) {
        Ok(command) => command,
        Err(refusal) => {
            tracing::debug!(device = %id, %refusal, "ignored a message on the commands topic");
            return;
        }
    };
    if performed.contains(&command.lease) {
        return;
    }
    device.behaviour.performed(&command.command, now);
    let ack =
        acknowledgement(&device.identity.key, &link.chain_id, command.lease, &command.command);
    let topic = format!("machina/v1/{id}/acks");
    if client.try_publish(topic, QoS::AtLeastOnce, false, ack).is_ok() {
        counters.performed.fetch_add(1, Ordering::Relaxed);
        performed.insert(command.lease);
        while performed.len() > PERFORMED_REMEMBERED {
            performed.pop_first();
        }
    }
}

/// The encoded acknowledgement of `lease`'s `command`, signed with the device key.
fn acknowledgement(key: &PrivateKey, chain_id: &str, lease: u64, command: &str) -> Vec<u8> {
    let signature = key.sign(ACK_NAMESPACE, &ack_message(chain_id, lease, command));
    ActuationAck { lease, signature }.encode().to_vec()
}
