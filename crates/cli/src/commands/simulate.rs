//! `machina device simulate`: a fleet of simulated devices publishing signed readings.

use anyhow::Result;
use commonware_codec::Encode;
use commonware_cryptography::ed25519::PrivateKey;
use commonware_math::algebra::Random;
use machina_sdk::device::{DeviceIdentity, errors_topic, telemetry_topic};
use machina_types::{DeviceId, IdentityCall};
use rumqttc::{Event, Packet, QoS};
use serde_json::json;
use std::{
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
        for device in fleet {
            let login = Login { chain_id: chain_id.clone(), key: device.key.clone() };
            tokio::spawn(run_device(device, login, broker.clone(), sim.stream, sim.rate, counters.clone()));
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

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// One simulated device: a temperature that drifts, published with QoS 1 at `rate` per second.
async fn run_device(
    device: DeviceIdentity,
    login: Login,
    broker: (String, u16),
    stream: u32,
    rate: f64,
    counters: Arc<Counters>,
) {
    let id = device.id();
    let client_id = format!("sim-{}", &id.to_string()[..20]);
    let (client, mut events) = device_client(&broker, &login, &id, client_id, 64);
    let _ = client.subscribe(errors_topic(&id), QoS::AtMostOnce).await;
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut ticker = tokio::time::interval(period);
    let (mut seq, mut tenths) = (0u64, 200i64 + (id.0[0] as i64 % 50));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                seq += 1;
                tenths += (seq as i64 * 7 + id.0[1] as i64) % 5 - 2;
                let reading = device.reading(stream, seq, now_ms(), machina_sdk::device::numeric(tenths, 1, "C"));
                let topic = telemetry_topic(&id, stream);
                if client.publish(topic, QoS::AtLeastOnce, false, reading.encode().to_vec()).await.is_ok() {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::PubAck(_))) => { counters.acked.fetch_add(1, Ordering::Relaxed); }
                Ok(Event::Incoming(Packet::Publish(_))) => { counters.refused.fetch_add(1, Ordering::Relaxed); }
                Ok(_) => {}
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    renew_login(&mut events, &login, &id);
                }
            },
        }
    }
}
