//! The gateway as a client of an external MQTT broker (e.g. mosquitto).
//!
//! The gateway subscribes to every device's telemetry with QoS 1 and a persistent session,
//! and acknowledges each message to the broker only after the reading is durably stored (or
//! refused for a reason of its own): if the gateway stops before acknowledging, or cannot
//! store (`unavailable`, then it drops the connection), the broker delivers the message
//! again. Access control of devices is the external broker's (its ACL file); commands the
//! gateway publishes are signed, so devices need not trust the broker for them. Refusals are published on the device's errors topic. The gateway also subscribes to
//! devices' acknowledgements of leased commands, and publishes the commands through the same
//! client.

use super::ingest::{Ingest, Verdict, errors_topic, telemetry_topic};
use super::mqtt::rejection_report;
use bytes::Bytes;
use futures::{StreamExt, stream::FuturesOrdered};
use machina_types::{DeviceId, ErrorCode};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::{future::Future, pin::Pin, time::Duration};
use tokio::sync::mpsc;

/// The subsystem name of the bridge in `/health`.
pub const SUBSYSTEM: &str = "mqtt-bridge";

/// The telemetry subscription.
pub const TELEMETRY_FILTER: &str = "machina/v1/+/telemetry/+";
/// The subscription to devices' acknowledgements of leased commands.
pub const ACKS_FILTER: &str = "machina/v1/+/acks";

type Pending = Pin<Box<dyn Future<Output = (rumqttc::Publish, Verdict)> + Send>>;

/// A client of the broker at `host:port` (persistent session, manual acknowledgements), and
/// its event loop for [`run`].
pub fn connect(host: String, port: u16, client_id: String) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_manual_acks(true);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(u16::MAX);
    options.set_max_packet_size(super::mqtt::PACKET_SIZE_MAX, super::mqtt::PACKET_SIZE_MAX);
    AsyncClient::new(options, 65_536)
}

/// Runs the bridge forever, reconnecting as needed: telemetry to `ingest`, acknowledgements
/// of leased commands to `acks`.
pub async fn run(
    client: AsyncClient,
    mut events: EventLoop,
    ingest: Ingest,
    acks: mpsc::Sender<(DeviceId, Bytes)>,
) {
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    loop {
        tokio::select! {
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(TELEMETRY_FILTER, QoS::AtLeastOnce).await;
                    let _ = client.subscribe(ACKS_FILTER, QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic.ends_with("/acks") => {
                    if let Some(device) = super::commands::parse_acks_topic(&publish.topic) {
                        let _ = acks.try_send((device, publish.payload.clone()));
                    }
                    let _ = client.ack(&publish).await;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let stream = telemetry_topic(&publish.topic);
                    let verdict = ingest.submit(publish.payload.to_vec(), stream).await;
                    pending.push_back(Box::pin(async move { (publish, verdict.await) }));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "external MQTT broker connection failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            Some((publish, verdict)) = pending.next(), if !pending.is_empty() => {
                if verdict.as_ref().is_err_and(|r| r.code == ErrorCode::Unavailable) {
                    // Not stored: no acknowledgement. Reconnecting makes the broker
                    // deliver it (and everything unacknowledged after it) again.
                    let _ = client.disconnect().await;
                    pending = FuturesOrdered::new();
                    continue;
                }
                if let Err(rejected) = &verdict
                    && let Some((device, _)) = rejected.stream
                {
                    let _ = client.publish_bytes(errors_topic(&device), QoS::AtMostOnce, false, rejection_report(rejected)).await;
                }
                let _ = client.ack(&publish).await;
            }
        }
    }
}
