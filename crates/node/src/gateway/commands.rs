//! Actuation: the gateway sends leased commands to devices and relays their signed
//! acknowledgements to the chain.
//!
//! When a batch makes an actuation lease for a device that granted this gateway its
//! `gateway` role, the gateway publishes the command on `machina/v1/<device>/commands`: a
//! JSON object with the lease, the command, the chain id, the exact bytes the device must
//! sign, and under `"signed"` the hex of a
//! [`SignedCommand`](machina_types::market::SignedCommand): the command (chain, lease,
//! device, command, deadline, gateway) signed with the gateway's key. It publishes it again
//! every interval until the lease is settled or its deadline passes. A device acts only on a
//! signed command from a gateway it granted the `gateway` role, for an active lease of its
//! own (the SDK's [`machina_types::market::SignedCommand::check`] and `machina device
//! actuator` check all of it). The device performs the command and publishes an
//! [`ActuationAck`] (its canonical encoding) on `machina/v1/<device>/acks`; the gateway
//! checks the signature against the device's current key and submits it in a
//! `market::deliver` call, which pays the provider.
//!
//! The relay finds new leases by the chain's lease counter, not by block events, and keeps
//! in its own metadata partition the lowest lease id that may still await a command: after a
//! restart it looks again at every lease from there, so a command whose lease was made
//! before a crash (or while the relay lagged) is still sent.

use super::{
    devices::{DeviceCache, Runtime},
    mqtt::Broker,
    submit::Submitter,
};
use crate::chain::FinalizedBlock;
use bytes::Bytes;
use commonware_codec::DecodeExt;
use commonware_codec::Encode as _;
use commonware_cryptography::Verifier as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::sequence::U64;
use machina_app::modules::market::{
    keys,
    state::{Counters, Lease},
};
use machina_types::{
    Address, Call, DeviceId, Event, MarketCall,
    market::{
        ACK_NAMESPACE, ActuationAck, Command, DeliveryProof, LeaseId, MarketEvent, ResourceKind,
        ack_message,
    },
};
use serde_json::json;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{broadcast, mpsc};

/// The subsystem name of the relay in `/health`.
pub const SUBSYSTEM: &str = "command-relay";
/// Device acknowledgements waiting for the relay (more are dropped; the gateway sends the
/// command again and the device acknowledges again).
pub const ACKS_QUEUE_MAX: usize = 4096;
/// Commands awaiting acknowledgement that the relay keeps (the oldest deadlines beyond it
/// wait for the next look).
const PENDING_MAX: usize = 65_536;

/// The topic a device receives leased commands on.
pub fn commands_topic(device: &DeviceId) -> String {
    format!("machina/v1/{device}/commands")
}

/// The topic a device publishes its acknowledgements on.
pub fn acks_topic(device: &DeviceId) -> String {
    format!("machina/v1/{device}/acks")
}

/// The device named by an acknowledgements topic `machina/v1/<device>/acks`.
pub fn parse_acks_topic(topic: &str) -> Option<DeviceId> {
    let rest = topic.strip_prefix("machina/v1/")?;
    let device = rest.strip_suffix("/acks")?;
    device.parse().ok()
}

/// Where commands are published.
#[derive(Clone)]
pub enum Outbox {
    /// The embedded broker's subscribers.
    Embedded(Arc<Broker>),
    /// An external broker (QoS 1).
    External(rumqttc::AsyncClient),
}

impl Outbox {
    async fn publish(&self, topic: String, payload: Bytes) {
        match self {
            Self::Embedded(broker) => {
                broker.route(&topic, payload);
            }
            Self::External(client) => {
                let qos = rumqttc::QoS::AtLeastOnce;
                if let Err(error) = client.publish_bytes(topic, qos, false, payload).await {
                    tracing::warn!(%error, "publishing a command failed");
                }
            }
        }
    }
}

/// A command waiting for its device's acknowledgement.
struct Pending {
    device: DeviceId,
    deadline_ms: u64,
    payload: Bytes,
}

/// The relay's durable record: the lowest lease id that may still await a command.
type Watermark<E> = Metadata<E, U64, u64>;

/// The key of the watermark in its partition.
const WATERMARK: u64 = 0;

/// Opens the relay's watermark in `partition`.
pub async fn open_watermark<E: Runtime>(
    context: E,
    partition: &str,
) -> Result<Watermark<E>, String> {
    let config = metadata::Config { partition: partition.into(), codec_config: () };
    Metadata::init(context, config).await.map_err(|e| format!("command relay metadata: {e}"))
}

/// The command relay.
pub struct Relay<E: Runtime> {
    submitter: Arc<Submitter<E>>,
    devices: Arc<DeviceCache<E>>,
    outbox: Outbox,
    /// The gateway's key: commands are signed with it.
    key: PrivateKey,
    pending: Mutex<BTreeMap<LeaseId, Pending>>,
    /// Leases whose delivery this gateway submitted (so repeated acks are not resubmitted).
    delivering: Mutex<BTreeSet<LeaseId>>,
}

impl<E: Runtime> Relay<E> {
    /// A relay publishing through `outbox` commands signed with `key`.
    pub fn new(
        submitter: Arc<Submitter<E>>,
        devices: Arc<DeviceCache<E>>,
        outbox: Outbox,
        key: PrivateKey,
    ) -> Self {
        Self {
            submitter,
            devices,
            outbox,
            key,
            pending: Mutex::default(),
            delivering: Mutex::default(),
        }
    }

    /// Looks at the leases made since `watermark`, then follows finalized blocks (new
    /// leases, settlements), republishes pending commands every `interval`, and relays
    /// acknowledgements arriving on `acks`; forever.
    pub async fn run(
        self: Arc<Self>,
        mut watermark: Watermark<E>,
        mut blocks: broadcast::Receiver<Arc<FinalizedBlock>>,
        mut acks: mpsc::Receiver<(DeviceId, Bytes)>,
        interval: Duration,
        health: Arc<crate::health::Health>,
    ) {
        let clock = self.submitter.context();
        let mut republish_at = clock.current() + interval;
        let mut next = watermark.get(&U64::new(WATERMARK)).copied().unwrap_or(1);
        loop {
            // New leases since the last look; then the lowest id still pending is recorded.
            let made = self.submitter.read::<Counters>(&keys::counters()).await;
            let made = made.map_or(1, |c| c.next_lease);
            if made > next {
                for id in next..made {
                    self.consider(id).await;
                }
                next = made;
            }
            let low = self.pending.lock().expect("pending").keys().next().copied().unwrap_or(next);
            if watermark.get(&U64::new(WATERMARK)) != Some(&low) {
                watermark.put(U64::new(WATERMARK), low);
                watermark = match watermark.sync().await {
                    Ok(watermark) => watermark,
                    Err(error) => {
                        tracing::error!(%error, "command relay metadata; relay stopped");
                        return;
                    }
                };
            }
            // Branches in a fixed order: an unbiased select starts at a random branch drawn
            // outside the runtime, which a simulation cannot replay.
            tokio::select! {
                biased;
                block = blocks.recv() => match block {
                    Ok(block) => self.on_block(&block),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "command relay fell behind finalized blocks");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some((device, payload)) = acks.recv() => {
                    use futures::FutureExt;
                    let relayed = std::panic::AssertUnwindSafe(self.on_ack(device, &payload));
                    match relayed.catch_unwind().await {
                        Ok(Ok(())) => {}
                        Ok(Err(reason)) => {
                            tracing::info!(%device, reason, "acknowledgement not relayed");
                        }
                        Err(panic) => {
                            let message = crate::health::panic_message(&*panic);
                            health.panicked(SUBSYSTEM, message);
                            health.up(SUBSYSTEM);
                        }
                    }
                }
                _ = clock.sleep_until(republish_at) => {
                    self.republish().await;
                    republish_at = clock.current() + interval;
                }
            }
        }
    }

    /// Forgets the commands of leases the block settled.
    fn on_block(&self, block: &FinalizedBlock) {
        for event in block.all_events() {
            if let Event::Market(
                MarketEvent::Delivered { lease, .. } | MarketEvent::Refunded { lease, .. },
            ) = event
            {
                self.pending.lock().expect("pending").remove(lease);
                self.delivering.lock().expect("delivering").remove(lease);
            }
        }
    }

    /// Queues and sends the command of lease `id` if it is an open actuation lease of a
    /// device this gateway serves.
    async fn consider(&self, id: LeaseId) {
        let Some(lease) = self.submitter.read::<Lease>(&keys::lease(id)).await else { return };
        let ResourceKind::Actuation { command } = &lease.kind else { return };
        let now = self.submitter.chain().tip().map_or(0, |t| t.header.timestamp_ms);
        if !lease.status.is_open() || lease.deadline_ms <= now {
            return;
        }
        let Some(device) = self.devices.get(&lease.device).await else { return };
        let gateway = self.submitter.account();
        let role = machina_types::identity::roles::GATEWAY;
        if !self.submitter.has_role(&device.record, &gateway, role).await {
            return;
        }
        let chain_id = &self.submitter.chain().genesis().chain_id;
        let signed = Command {
            chain_id: chain_id.clone(),
            lease: id,
            device: lease.device,
            command: command.clone(),
            deadline_ms: lease.deadline_ms,
            gateway: Address::of(&self.key.public_key()),
        }
        .sign(&self.key);
        let payload = json!({
            "lease": id,
            "command": command,
            "consumer": lease.consumer,
            "units": lease.units,
            "deadline_ms": lease.deadline_ms,
            "chain_id": chain_id,
            "sign": machina_types::codec::hex(&ack_message(chain_id, id, command)),
            "signed": machina_types::codec::hex(&signed.encode()),
        });
        let pending = Pending {
            device: lease.device,
            deadline_ms: lease.deadline_ms,
            payload: Bytes::from(payload.to_string()),
        };
        tracing::info!(lease = id, device = %lease.device, command, "sending leased command");
        self.outbox.publish(commands_topic(&pending.device), pending.payload.clone()).await;
        let mut waiting = self.pending.lock().expect("pending");
        if waiting.len() < PENDING_MAX {
            waiting.insert(id, pending);
        }
    }

    async fn republish(&self) {
        // A delivery submitted a round ago and not yet settled may be retried.
        self.delivering.lock().expect("delivering").clear();
        let now = self.submitter.chain().tip().map_or(0, |t| t.header.timestamp_ms);
        let due: Vec<(DeviceId, Bytes)> = {
            let mut pending = self.pending.lock().expect("pending");
            pending.retain(|_, p| p.deadline_ms > now);
            pending.values().map(|p| (p.device, p.payload.clone())).collect()
        };
        for (device, payload) in due {
            self.outbox.publish(commands_topic(&device), payload).await;
        }
    }

    /// Checks an acknowledgement from `device` and submits it.
    async fn on_ack(&self, device: DeviceId, payload: &[u8]) -> Result<(), &'static str> {
        let ack = ActuationAck::decode(commonware_codec::Copying(payload))
            .map_err(|_| "not an encoded acknowledgement")?;
        let lease: Lease =
            self.submitter.read(&keys::lease(ack.lease)).await.ok_or("no such lease")?;
        if lease.device != device || !lease.status.is_open() {
            return Err("not an open lease of this device");
        }
        let ResourceKind::Actuation { command } = &lease.kind else {
            return Err("not an actuation lease");
        };
        let cached = self.devices.get(&device).await.ok_or("unknown device")?;
        let chain_id = &self.submitter.chain().genesis().chain_id;
        let message = ack_message(chain_id, ack.lease, command);
        if !cached.key.verify(ACK_NAMESPACE, &message, &ack.signature) {
            return Err("the signature does not verify");
        }
        if !self.delivering.lock().expect("delivering").insert(ack.lease) {
            return Ok(());
        }
        let call = MarketCall::Deliver {
            lease: ack.lease,
            proof: DeliveryProof::DeviceAck { signature: ack.signature },
        };
        match self.submitter.submit(vec![Call::Market(call)]).await {
            Ok(_) => {
                tracing::info!(lease = ack.lease, %device, "relayed the device's acknowledgement");
                self.pending.lock().expect("pending").remove(&ack.lease);
                Ok(())
            }
            Err(code) => {
                self.delivering.lock().expect("delivering").remove(&ack.lease);
                tracing::warn!(%code, "delivery transaction refused");
                Err("the delivery transaction was refused")
            }
        }
    }
}
