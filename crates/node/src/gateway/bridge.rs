//! The gateway as a client of an external MQTT broker (e.g. mosquitto).
//!
//! The gateway subscribes to every device's telemetry with QoS 1 and a persistent session,
//! and acknowledges each message to the broker only after the reading is durably stored (or
//! refused): if the gateway stops before acknowledging, the broker delivers the message
//! again. Refusals are published on the device's errors topic.

use super::ingest::{Ingest, Verdict, errors_topic, telemetry_topic};
use super::mqtt::rejection_report;
use futures::{StreamExt, stream::FuturesOrdered};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::{future::Future, pin::Pin, time::Duration};

/// The telemetry subscription.
pub const TELEMETRY_FILTER: &str = "machina/v1/+/telemetry/+";

type Pending = Pin<Box<dyn Future<Output = (rumqttc::Publish, Verdict)> + Send>>;

/// Runs the bridge to the broker at `host:port` forever, reconnecting as needed.
pub async fn run(host: String, port: u16, client_id: String, ingest: Ingest) {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_manual_acks(true);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(u16::MAX);
    options.set_max_packet_size(super::mqtt::PACKET_SIZE_MAX, super::mqtt::PACKET_SIZE_MAX);
    let (client, mut events) = AsyncClient::new(options, 65_536);
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    loop {
        tokio::select! {
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(TELEMETRY_FILTER, QoS::AtLeastOnce).await;
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
