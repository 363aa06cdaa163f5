//! The embedded MQTT broker (MQTT 3.1.1).
//!
//! Devices publish signed readings to `machina/v1/<device>/telemetry/<stream>`. The broker
//! hands each to the gateway's admission queue and sends the QoS 1 `PUBACK` (QoS 2:
//! `PUBREC`) only once the reading is durably stored (or refused), in the order the
//! readings arrived, so a device that got its acknowledgement never needs to resend. A refused reading is still
//! acknowledged (MQTT 3.1.1 has no negative acknowledgement); the reason is published on
//! `machina/v1/<device>/errors`. Every other topic is plain publish/subscribe (QoS 0
//! delivery): leased commands go out on `machina/v1/<device>/commands`, and messages on
//! `machina/v1/<device>/acks` also reach the gateway's command relay.

use super::ingest::{Ingest, Rejected, errors_topic, telemetry_topic};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream::FuturesOrdered};
use rumqttc::mqttbytes::{
    self, QoS, matches,
    v4::{
        ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck,
        SubscribeReasonCode, UnsubAck,
    },
};
use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// Largest MQTT packet accepted or sent.
pub const PACKET_SIZE_MAX: usize = 64 * 1024;

/// Subscriptions of connected clients.
#[derive(Default)]
pub struct Broker {
    clients: Mutex<BTreeMap<u64, Client>>,
    next_id: AtomicU64,
    /// Where devices' acknowledgements of leased commands go (besides subscribers).
    acks: std::sync::OnceLock<mpsc::UnboundedSender<(machina_types::DeviceId, Bytes)>>,
}

struct Client {
    outgoing: mpsc::UnboundedSender<Publish>,
    filters: Vec<String>,
}

impl Broker {
    /// Hands every message published on a device's acknowledgements topic to `acks` too.
    pub fn forward_acks(&self, acks: mpsc::UnboundedSender<(machina_types::DeviceId, Bytes)>) {
        let _ = self.acks.set(acks);
    }

    /// Delivers a message (QoS 0) to every client subscribed to a matching filter.
    pub fn route(&self, topic: &str, payload: Bytes) {
        let clients = self.clients.lock().expect("broker clients");
        for client in clients.values() {
            if client.filters.iter().any(|f| matches(topic, f)) {
                let mut publish = Publish::new(topic, QoS::AtMostOnce, Vec::new());
                publish.payload = payload.clone();
                let _ = client.outgoing.send(publish);
            }
        }
    }

    fn register(&self, outgoing: mpsc::UnboundedSender<Publish>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.clients
            .lock()
            .expect("broker clients")
            .insert(id, Client { outgoing, filters: Vec::new() });
        id
    }

    fn subscribe(&self, id: u64, filter: String) {
        if let Some(c) = self.clients.lock().expect("broker clients").get_mut(&id) {
            c.filters.push(filter);
        }
    }

    fn unsubscribe(&self, id: u64, filter: &str) {
        if let Some(c) = self.clients.lock().expect("broker clients").get_mut(&id) {
            c.filters.retain(|f| f != filter);
        }
    }

    fn unregister(&self, id: u64) {
        self.clients.lock().expect("broker clients").remove(&id);
    }
}

/// The JSON reported on a device's errors topic for a refused reading.
pub fn rejection_report(rejected: &Rejected) -> Bytes {
    let body = serde_json::json!({
        "stream": rejected.stream.map(|(_, s)| s),
        "seq": rejected.seq,
        "code": rejected.code.name(),
        "message": rejected.code.message(),
    });
    Bytes::from(body.to_string())
}

/// Publishes a refusal on the device's errors topic (if the device is known).
pub fn report_rejection(broker: &Broker, rejected: &Rejected) {
    if let Some((device, _)) = rejected.stream {
        broker.route(&errors_topic(&device), rejection_report(rejected));
    }
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, ingest: Ingest, broker: Arc<Broker>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, ingest.clone(), broker.clone()));
    }
}

/// What a received publish needs sent back (`PUBACK` for QoS 1, `PUBREC` for QoS 2), in
/// arrival order.
type Reply = Pin<Box<dyn Future<Output = Option<Packet>> + Send>>;

async fn connection(stream: TcpStream, ingest: Ingest, broker: Arc<Broker>) {
    let (outgoing, mut deliveries) = mpsc::unbounded_channel();
    let id = broker.register(outgoing);
    let (mut reader, mut writer) = stream.into_split();
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    let mut replies: FuturesOrdered<Reply> = FuturesOrdered::new();
    let mut connected = false;
    'session: loop {
        tokio::select! {
            read = reader.read_buf(&mut input) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break 'session;
                }
                loop {
                    match Packet::read(&mut input, PACKET_SIZE_MAX) {
                        Ok(packet) => {
                            let ok = handle(packet, id, &mut connected, &ingest, &broker, &mut replies, &mut output).await;
                            if !ok {
                                break 'session;
                            }
                        }
                        Err(mqttbytes::Error::InsufficientBytes(_)) => break,
                        Err(_) => break 'session,
                    }
                }
            }
            Some(ack) = replies.next(), if !replies.is_empty() => {
                if let Some(ack) = ack {
                    let _ = ack.write(&mut output, PACKET_SIZE_MAX);
                }
            }
            Some(publish) = deliveries.recv() => {
                let _ = Packet::Publish(publish).write(&mut output, PACKET_SIZE_MAX);
            }
        }
        if !output.is_empty() && writer.write_all(&output.split()).await.is_err() {
            break;
        }
    }
    broker.unregister(id);
}

/// Handles one packet; `false` ends the session.
async fn handle(
    packet: Packet,
    id: u64,
    connected: &mut bool,
    ingest: &Ingest,
    broker: &Arc<Broker>,
    replies: &mut FuturesOrdered<Reply>,
    output: &mut BytesMut,
) -> bool {
    let write = |output: &mut BytesMut, p: Packet| {
        let _ = p.write(output, PACKET_SIZE_MAX);
    };
    match packet {
        Packet::Connect(_) => {
            *connected = true;
            write(output, Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)));
        }
        _ if !*connected => return false,
        Packet::Publish(publish) => replies.push_back(publish_reply(publish, ingest, broker).await),
        Packet::Subscribe(subscribe) => {
            let codes = subscribe
                .filters
                .into_iter()
                .map(|f| {
                    if mqttbytes::valid_filter(&f.path) {
                        broker.subscribe(id, f.path);
                        SubscribeReasonCode::Success(QoS::AtMostOnce)
                    } else {
                        SubscribeReasonCode::Failure
                    }
                })
                .collect();
            write(output, Packet::SubAck(SubAck::new(subscribe.pkid, codes)));
        }
        Packet::Unsubscribe(unsubscribe) => {
            for topic in &unsubscribe.topics {
                broker.unsubscribe(id, topic);
            }
            write(output, Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)));
        }
        // QoS 2: the message was handled when PUBREC was sent; complete the handshake.
        Packet::PubRel(release) => write(output, Packet::PubComp(PubComp::new(release.pkid))),
        Packet::PingReq => write(output, Packet::PingResp),
        Packet::Disconnect => return false,
        _ => {}
    }
    true
}

/// Hands a publish to the gateway (telemetry) or to subscribers; the reply resolves to the
/// acknowledgement once the message is handled.
async fn publish_reply(publish: Publish, ingest: &Ingest, broker: &Arc<Broker>) -> Reply {
    let ack = match publish.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(publish.pkid))),
        QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(publish.pkid))),
    };
    let Some(stream) = telemetry_topic(&publish.topic) else {
        if let Some(device) = super::commands::parse_acks_topic(&publish.topic)
            && let Some(acks) = broker.acks.get()
        {
            let _ = acks.send((device, publish.payload.clone()));
        }
        broker.route(&publish.topic, publish.payload);
        return Box::pin(async move { ack });
    };
    let verdict = ingest.submit(publish.payload.to_vec(), Some(stream)).await;
    let broker = broker.clone();
    Box::pin(async move {
        if let Err(rejected) = verdict.await {
            report_rejection(&broker, &rejected);
        }
        ack
    })
}
