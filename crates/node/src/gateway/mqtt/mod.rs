//! The embedded MQTT broker (MQTT 3.1.1), over TCP and optionally TLS.
//!
//! **Who may connect.** Every client authenticates in its CONNECT packet:
//! - a device logs in with its device id as the username and, as the password, a fresh
//!   token its current key signed: `<timestamp_ms>.<hex signature>` over
//!   [`mqtt_login_message`] (the chain id, the device, the client id and the timestamp).
//!   The broker accepts a token within [`LOGIN_SKEW`] of its own clock, once;
//! - an operator logs in with a name and password configured in `[[gateway.mqtt_users]]`
//!   (the node keeps the password's SHA-256 only);
//! - without credentials a client is refused, unless `mqtt_allow_anonymous` is set: then
//!   it may publish telemetry (readings are signed by their devices) and nothing else.
//!
//! **What each may do (ACLs).** A device publishes only its own telemetry
//! (`machina/v1/<device>/telemetry/<stream>`) and acknowledgements (`.../acks`), and
//! subscribes only under its own topics (`machina/v1/<device>/...`: its commands and error
//! reports). An operator subscribes to anything under `machina/v1/` and may relay devices'
//! telemetry and acknowledgements (they are signed by the devices' keys, so relaying them
//! forges nothing: a network server forwarding its devices' readings is such an operator).
//! Only the gateway itself publishes commands and error reports. A publish the client may not
//! make ends its session (MQTT 3.1.1 has no negative acknowledgement); a subscription it may
//! not make is refused in the SUBACK.
//!
//! **Acknowledgement means stored.** Telemetry goes to the gateway's admission queue; the
//! QoS 1 `PUBACK` (QoS 2: `PUBREC`) is sent once the reading is durably stored or refused for
//! a reason of its own, in the order the readings arrived. A refused reading is acknowledged
//! (there is no negative acknowledgement) and the reason published on
//! `machina/v1/<device>/errors`. When the gateway cannot store readings (`unavailable`) the
//! acknowledgement is withheld and the session ends, so the device sends the reading again.
//!
//! **Limits.** A connection limit, a deadline for CONNECT, the client's keep-alive (or an
//! idle limit) enforced, a bounded outgoing queue per client (a subscriber that stops reading
//! is disconnected when it fills), bounded publishes awaiting acknowledgement per client,
//! bounded subscriptions, bounded topic lengths. Topics are matched level by level on UTF-8
//! strings; no input makes the broker panic, and no lock is held across anything but map
//! updates.

use super::{
    devices::DeviceLookup,
    ingest::{Ingest, Rejected, errors_topic, telemetry_topic},
};
use bytes::{Bytes, BytesMut};
use commonware_cryptography::Verifier as _;
use futures::{StreamExt, stream::FuturesOrdered};
use machina_types::{
    Address, DeviceId, ErrorCode, Hash,
    device::{
        MQTT_ACCOUNT_LOGIN_NAMESPACE, MQTT_ACCOUNT_PREFIX, MQTT_LOGIN_NAMESPACE,
        mqtt_account_login_message, mqtt_login_message, parse_mqtt_password,
    },
};
use rumqttc::mqttbytes::{
    self, QoS,
    v4::{
        ConnAck, Connect, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck,
        SubscribeReasonCode, UnsubAck,
    },
};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
    sync::{Semaphore, mpsc},
};

mod local;

pub use local::{LocalClient, LocalRefusal};

/// Largest MQTT packet accepted or sent.
pub const PACKET_SIZE_MAX: usize = 64 * 1024;
/// Longest topic or topic filter accepted, in bytes.
pub const TOPIC_LEN_MAX: usize = 1024;
/// Messages queued for one client before it counts as too slow and is disconnected.
pub const OUTGOING_QUEUE_MAX: usize = 1024;
/// Publishes of one client awaiting their acknowledgement before the broker stops reading
/// from it.
pub const INFLIGHT_MAX: usize = 1024;
/// Subscriptions one client may hold.
pub const SUBSCRIPTIONS_MAX: usize = 64;
/// How long a client has to send CONNECT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client that asked for no keep-alive may stay silent.
pub const IDLE_MAX: Duration = Duration::from_secs(600);
/// How far a device's login token's timestamp may be from the broker's clock.
pub const LOGIN_SKEW: Duration = Duration::from_secs(300);
/// Login tokens remembered to refuse their replay.
const TOKENS_REMEMBERED: usize = 1 << 16;

/// An operator account of the broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttUser {
    /// The MQTT username.
    pub name: String,
    /// SHA-256 of the password (hex).
    pub password_sha256: Hash,
}

/// Who may use the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// The chain whose devices log in.
    pub chain_id: String,
    /// Most client connections at once.
    pub max_connections: usize,
    /// Whether clients without credentials may publish telemetry.
    pub allow_anonymous: bool,
    /// Operator accounts (subscribe to anything, relay devices' telemetry and
    /// acknowledgements).
    pub users: Vec<MqttUser>,
}

/// Who a connected client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A device, authenticated by its key.
    Device(DeviceId),
    /// An operator with configured credentials.
    Operator,
    /// A client without credentials (telemetry only).
    Anonymous,
    /// An account, authenticated by its key: a subscriber receiving its data products.
    Account(Address),
}

/// The broker's state: connected clients and their subscriptions, and who may connect.
pub struct Broker {
    config: BrokerConfig,
    devices: Option<Arc<dyn DeviceLookup>>,
    clients: Mutex<BTreeMap<u64, Client>>,
    next_id: AtomicU64,
    connections: Arc<Semaphore>,
    tokens: Mutex<RecentTokens>,
    /// Where devices' acknowledgements of leased commands go (besides subscribers).
    acks: OnceLock<mpsc::Sender<(DeviceId, Bytes)>>,
}

struct Client {
    identity: Identity,
    outgoing: mpsc::Sender<Publish>,
    filters: Vec<String>,
}

/// Login tokens seen recently, oldest first.
#[derive(Default)]
struct RecentTokens {
    order: VecDeque<(u64, [u8; 64])>,
    seen: BTreeSet<[u8; 64]>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Broker {
    /// A broker admitting the devices of `devices` (none: devices cannot log in) and the
    /// operators of `config`.
    pub fn new(config: BrokerConfig, devices: Option<Arc<dyn DeviceLookup>>) -> Self {
        Self {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config,
            devices,
            clients: Mutex::default(),
            next_id: AtomicU64::new(0),
            tokens: Mutex::default(),
            acks: OnceLock::new(),
        }
    }

    fn clients(&self) -> MutexGuard<'_, BTreeMap<u64, Client>> {
        // Only map updates happen under the lock; nothing half-done can be left behind.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands every message published on a device's acknowledgements topic to `acks` too.
    pub fn forward_acks(&self, acks: mpsc::Sender<(DeviceId, Bytes)>) {
        let _ = self.acks.set(acks);
    }

    /// Clients connected now.
    pub fn connected(&self) -> usize {
        self.clients().len()
    }

    /// Delivers a message (QoS 0) to every client subscribed to a matching filter. A client
    /// whose queue is full is disconnected.
    pub fn route(&self, topic: &str, payload: Bytes) -> usize {
        let mut clients = self.clients();
        let mut slow = Vec::new();
        let mut sent = 0;
        for (id, client) in clients.iter() {
            if client.filters.iter().any(|f| topic_matches(topic, f)) {
                let mut publish = Publish::new(topic, QoS::AtMostOnce, Vec::new());
                publish.payload = payload.clone();
                match client.outgoing.try_send(publish) {
                    Ok(()) => sent += 1,
                    Err(_) => slow.push(*id),
                }
            }
        }
        for id in slow {
            // Dropping its sender ends the session.
            clients.remove(&id);
            tracing::info!(client = id, "dropped an MQTT subscriber that stopped reading");
        }
        sent
    }

    fn register(&self, identity: Identity, outgoing: mpsc::Sender<Publish>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.clients().insert(id, Client { identity, outgoing, filters: Vec::new() });
        id
    }

    /// Adds a subscription; false if the client holds the most it may.
    fn subscribe(&self, id: u64, filter: String) -> bool {
        let mut clients = self.clients();
        let Some(c) = clients.get_mut(&id) else { return false };
        if c.filters.contains(&filter) {
            return true;
        }
        if c.filters.len() >= SUBSCRIPTIONS_MAX {
            return false;
        }
        c.filters.push(filter);
        true
    }

    fn unsubscribe(&self, id: u64, filter: &str) {
        if let Some(c) = self.clients().get_mut(&id) {
            c.filters.retain(|f| f != filter);
        }
    }

    fn unregister(&self, id: u64) {
        self.clients().remove(&id);
    }

    fn identity(&self, id: u64) -> Option<Identity> {
        self.clients().get(&id).map(|c| c.identity)
    }

    /// Who the CONNECT packet's credentials name, or why they are refused.
    pub async fn authenticate(&self, connect: &Connect) -> Result<Identity, ConnectReturnCode> {
        let Some(login) = &connect.login else {
            return match self.config.allow_anonymous {
                true => Ok(Identity::Anonymous),
                false => Err(ConnectReturnCode::NotAuthorized),
            };
        };
        if let Some(user) = self.config.users.iter().find(|u| u.name == login.username) {
            let hash = Hash::of(&[login.password.as_bytes()]);
            return match hash == user.password_sha256 {
                true => Ok(Identity::Operator),
                false => Err(ConnectReturnCode::BadUserNamePassword),
            };
        }
        let (timestamp_ms, signature) = parse_mqtt_password(login.password.as_bytes())
            .ok_or(ConnectReturnCode::BadUserNamePassword)?;
        let skew = LOGIN_SKEW.as_millis() as u64;
        let now = now_ms();
        if timestamp_ms.abs_diff(now) > skew {
            return Err(ConnectReturnCode::BadUserNamePassword);
        }
        if let Some(account) = login.username.strip_prefix(MQTT_ACCOUNT_PREFIX) {
            let account: Address =
                account.parse().map_err(|_| ConnectReturnCode::BadUserNamePassword)?;
            let key = account.public_key().ok_or(ConnectReturnCode::BadUserNamePassword)?;
            let message = mqtt_account_login_message(
                &self.config.chain_id,
                &account,
                &connect.client_id,
                timestamp_ms,
            );
            if !key.verify(MQTT_ACCOUNT_LOGIN_NAMESPACE, &message, &signature) {
                return Err(ConnectReturnCode::BadUserNamePassword);
            }
            // Account keys cost nothing to make: their sessions may hold only a share of
            // the connections, so they can never lock devices out.
            if self.account_sessions() >= account_sessions_max(self.config.max_connections) {
                return Err(ConnectReturnCode::ServiceUnavailable);
            }
            self.fresh_token(&signature, now)?;
            return Ok(Identity::Account(account));
        }
        let device: DeviceId =
            login.username.parse().map_err(|_| ConnectReturnCode::BadUserNamePassword)?;
        let devices = self.devices.as_ref().ok_or(ConnectReturnCode::NotAuthorized)?;
        let record = devices.device(&device).await.ok_or(ConnectReturnCode::NotAuthorized)?;
        if record.record.status.refusal().is_some() {
            return Err(ConnectReturnCode::NotAuthorized);
        }
        let message =
            mqtt_login_message(&self.config.chain_id, &device, &connect.client_id, timestamp_ms);
        if !record.key.verify(MQTT_LOGIN_NAMESPACE, &message, &signature) {
            return Err(ConnectReturnCode::BadUserNamePassword);
        }
        self.fresh_token(&signature, now)?;
        Ok(Identity::Device(device))
    }

    /// Sessions of accounts (subscribers) now.
    fn account_sessions(&self) -> usize {
        self.clients().values().filter(|c| matches!(c.identity, Identity::Account(_))).count()
    }

    /// Remembers a login token, refusing one seen before (a replay).
    fn fresh_token(
        &self,
        signature: &commonware_cryptography::ed25519::Signature,
        now: u64,
    ) -> Result<(), ConnectReturnCode> {
        let skew = LOGIN_SKEW.as_millis() as u64;
        let mut token = [0u8; 64];
        token.copy_from_slice(signature.as_ref());
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        while tokens.order.front().is_some_and(|(t, _)| t.saturating_add(2 * skew) < now)
            || tokens.order.len() >= TOKENS_REMEMBERED
        {
            let (_, old) = tokens.order.pop_front().expect("non-empty");
            tokens.seen.remove(&old);
        }
        if !tokens.seen.insert(token) {
            return Err(ConnectReturnCode::BadUserNamePassword); // a replayed token
        }
        tokens.order.push_back((now, token));
        Ok(())
    }

    /// Whether a client may subscribe to `filter`: by its identity, and for an account, only
    /// to the delivery topic of a subscription of its own.
    async fn may_subscribe(&self, identity: Identity, filter: &str) -> bool {
        let Identity::Account(account) = identity else { return may_subscribe(identity, filter) };
        let (Some(id), Some(lookup)) = (super::deliver::parse_topic(filter), &self.devices) else {
            return false;
        };
        lookup.subscriber(id).await == Some(account)
    }
}

/// Most sessions accounts (subscribers receiving data products) may hold at once: a quarter
/// of the broker's connections (at least one).
pub fn account_sessions_max(max_connections: usize) -> usize {
    (max_connections / 4).max(1)
}

/// Whether `topic` is a name a client may publish on: non-empty, bounded, no wildcards.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= TOPIC_LEN_MAX && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid subscription: bounded; `+` only as a whole level; `#` only as
/// the whole last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > TOPIC_LEN_MAX || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "+" => true,
        "#" => i == levels.len() - 1,
        level => !level.contains(['+', '#']),
    })
}

/// Whether `topic` matches `filter`, level by level (`+` matches one level, `#` the rest).
/// Topics starting with `$` match only filters that name their first level.
pub fn topic_matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (level, Some(t)) if level == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// Whether a client may publish on `topic`.
fn may_publish(identity: Identity, topic: &str) -> bool {
    match identity {
        Identity::Device(device) => {
            telemetry_topic(topic).is_some_and(|(d, _)| d == device)
                || super::commands::parse_acks_topic(topic) == Some(device)
        }
        Identity::Anonymous => telemetry_topic(topic).is_some(),
        Identity::Operator => {
            telemetry_topic(topic).is_some() || super::commands::parse_acks_topic(topic).is_some()
        }
        Identity::Account(_) => false,
    }
}

/// Whether a client may subscribe to `filter`.
fn may_subscribe(identity: Identity, filter: &str) -> bool {
    match identity {
        Identity::Device(device) => filter.starts_with(&format!("machina/v1/{device}/")),
        Identity::Operator => filter.starts_with("machina/v1/") || filter == "#",
        // Checked against the chain by `Broker::may_subscribe`.
        Identity::Anonymous | Identity::Account(_) => false,
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

/// A TLS acceptor for the broker's TLS listener.
pub type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// Accepts connections forever (over TLS when `tls` is given), each in its own task.
pub async fn serve(
    listener: Arc<TcpListener>,
    tls: Option<TlsAcceptor>,
    ingest: Ingest,
    broker: Arc<Broker>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = broker.connections.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let (ingest, broker, tls) = (ingest.clone(), broker.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => session(stream, ingest, broker).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        session(stream, ingest, broker).await;
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Tells a client over the connection limit that the server is unavailable, and closes.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let mut out = BytesMut::new();
    let refusal = ConnAck::new(ConnectReturnCode::ServiceUnavailable, false);
    let _ = Packet::ConnAck(refusal).write(&mut out, PACKET_SIZE_MAX);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
}

/// What a received publish needs sent back, in arrival order.
enum Reply {
    /// Nothing (QoS 0).
    Nothing,
    /// An acknowledgement (`PUBACK` for QoS 1, `PUBREC` for QoS 2).
    Ack(Packet),
    /// The message could not be stored: no acknowledgement; end the session.
    Close,
}

type PendingReply = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// Reads packets from `input` (filled from `reader`) until one parses; `None` when the
/// connection closes or sends something that is not MQTT.
async fn read_packet<R: AsyncRead + Unpin>(reader: &mut R, input: &mut BytesMut) -> Option<Packet> {
    loop {
        match Packet::read(input, PACKET_SIZE_MAX) {
            Ok(packet) => return Some(packet),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(_) => return None,
        }
        if input.len() > PACKET_SIZE_MAX + 8 {
            return None;
        }
        match reader.read_buf(input).await {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
    }
}

/// Runs one client's session: CONNECT and authentication, then packets until either side
/// ends it.
async fn session<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: S,
    ingest: Ingest,
    broker: Arc<Broker>,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_packet(&mut reader, &mut input)).await;
    let Ok(Some(Packet::Connect(connect))) = first else { return };
    let identity = match broker.authenticate(&connect).await {
        Ok(identity) => identity,
        Err(code) => {
            let _ = Packet::ConnAck(ConnAck::new(code, false)).write(&mut output, PACKET_SIZE_MAX);
            let _ = writer.write_all(&output).await;
            return;
        }
    };
    let idle = match connect.keep_alive {
        0 => IDLE_MAX,
        secs => Duration::from_millis(u64::from(secs) * 1500),
    };
    let _ = Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false))
        .write(&mut output, PACKET_SIZE_MAX);
    let (outgoing, mut deliveries) = mpsc::channel(OUTGOING_QUEUE_MAX);
    let id = broker.register(identity, outgoing);
    let mut replies: FuturesOrdered<PendingReply> = FuturesOrdered::new();
    let mut deadline = tokio::time::Instant::now() + idle;
    'session: loop {
        // Packets already received first (as many as the in-flight bound allows).
        while replies.len() < INFLIGHT_MAX {
            match Packet::read(&mut input, PACKET_SIZE_MAX) {
                Ok(packet) => {
                    if !handle(packet, id, &ingest, &broker, &mut replies, &mut output).await {
                        break 'session;
                    }
                }
                Err(mqttbytes::Error::InsufficientBytes(_)) => break,
                Err(_) => break 'session,
            }
        }
        if !output.is_empty() && writer.write_all(&output.split()).await.is_err() {
            break;
        }
        tokio::select! {
            read = reader.read_buf(&mut input), if replies.len() < INFLIGHT_MAX => {
                if !matches!(read, Ok(n) if n > 0) {
                    break 'session;
                }
                deadline = tokio::time::Instant::now() + idle;
            }
            Some(reply) = replies.next(), if !replies.is_empty() => match reply {
                Reply::Nothing => {}
                Reply::Ack(ack) => {
                    let _ = ack.write(&mut output, PACKET_SIZE_MAX);
                }
                Reply::Close => break 'session,
            },
            delivery = deliveries.recv() => match delivery {
                Some(publish) => {
                    let _ = Packet::Publish(publish).write(&mut output, PACKET_SIZE_MAX);
                }
                None => break 'session, // too slow: the broker dropped this subscriber
            },
            _ = tokio::time::sleep_until(deadline) => break 'session,
        }
    }
    // Acknowledgements of what was stored go out before the session ends.
    if !output.is_empty() {
        let _ = writer.write_all(&output).await;
    }
    broker.unregister(id);
}

/// Handles one packet; `false` ends the session.
async fn handle(
    packet: Packet,
    id: u64,
    ingest: &Ingest,
    broker: &Arc<Broker>,
    replies: &mut FuturesOrdered<PendingReply>,
    output: &mut BytesMut,
) -> bool {
    let write = |output: &mut BytesMut, p: Packet| {
        let _ = p.write(output, PACKET_SIZE_MAX);
    };
    let Some(identity) = broker.identity(id) else { return false };
    match packet {
        Packet::Connect(_) => return false, // a second CONNECT is a protocol violation
        Packet::Publish(publish) => {
            if !valid_topic(&publish.topic) || !may_publish(identity, &publish.topic) {
                return false;
            }
            replies.push_back(publish_reply(publish, ingest, broker).await);
        }
        Packet::Subscribe(subscribe) => {
            let mut codes = Vec::with_capacity(subscribe.filters.len());
            for f in subscribe.filters {
                let allowed =
                    valid_filter(&f.path) && broker.may_subscribe(identity, &f.path).await;
                codes.push(match allowed && broker.subscribe(id, f.path) {
                    true => SubscribeReasonCode::Success(QoS::AtMostOnce),
                    false => SubscribeReasonCode::Failure,
                });
            }
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

/// Hands a publish to the gateway (telemetry) or to subscribers; the reply resolves once the
/// message is handled.
async fn publish_reply(publish: Publish, ingest: &Ingest, broker: &Arc<Broker>) -> PendingReply {
    let ack = match publish.qos {
        QoS::AtMostOnce => Reply::Nothing,
        QoS::AtLeastOnce => Reply::Ack(Packet::PubAck(PubAck::new(publish.pkid))),
        QoS::ExactlyOnce => Reply::Ack(Packet::PubRec(PubRec::new(publish.pkid))),
    };
    let Some(stream) = telemetry_topic(&publish.topic) else {
        if let Some(device) = super::commands::parse_acks_topic(&publish.topic)
            && let Some(acks) = broker.acks.get()
        {
            // Full: the relay is behind; the gateway sends the command again and the device
            // acknowledges again.
            let _ = acks.try_send((device, publish.payload.clone()));
        }
        broker.route(&publish.topic, publish.payload);
        return Box::pin(async move { ack });
    };
    let verdict = ingest.submit(publish.payload.to_vec(), Some(stream)).await;
    let broker = broker.clone();
    Box::pin(async move {
        match verdict.await {
            Ok(_) => ack,
            Err(rejected) if rejected.code == ErrorCode::Unavailable => Reply::Close,
            Err(rejected) => {
                report_rejection(&broker, &rejected);
                ack
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accounts_hold_at_most_a_quarter_of_the_connections() {
        use commonware_cryptography::{Signer, ed25519::PrivateKey};
        let config = BrokerConfig {
            chain_id: "test".into(),
            max_connections: 8,
            allow_anonymous: false,
            users: Vec::new(),
        };
        let broker = Broker::new(config, None);
        let login = |seed: u64| {
            let key = PrivateKey::from_seed(seed);
            let account = Address::of(&key.public_key());
            let password =
                machina_types::device::mqtt_account_password(&key, "test", "c", now_ms());
            let mut connect = Connect::new("c");
            connect.login = Some(rumqttc::mqttbytes::v4::Login::new(
                format!("{MQTT_ACCOUNT_PREFIX}{account}"),
                password,
            ));
            connect
        };
        assert_eq!(account_sessions_max(8), 2);
        for seed in [1, 2] {
            let identity = broker.authenticate(&login(seed)).await.unwrap();
            assert!(matches!(identity, Identity::Account(_)));
            broker.register(identity, mpsc::channel(1).0);
        }
        assert_eq!(
            broker.authenticate(&login(3)).await,
            Err(ConnectReturnCode::ServiceUnavailable),
            "a third account session would exceed its share"
        );
        assert_eq!(account_sessions_max(0), 1);
    }

    #[test]
    fn topics_match_level_by_level_on_any_utf8() {
        assert!(topic_matches("machina/v1/d/telemetry/1", "machina/v1/+/telemetry/+"));
        assert!(topic_matches("machina/v1/d/telemetry/1", "machina/#"));
        assert!(topic_matches("machina/v1/d/telemetry/1", "#"));
        assert!(!topic_matches("machina/v1/d/telemetry", "machina/v1/+/telemetry/+"));
        assert!(!topic_matches("machina/v1/d/telemetry/1/x", "machina/v1/+/telemetry/+"));
        assert!(!topic_matches("$SYS/x", "#"));
        // A topic that starts with a multi-byte character used to panic the broker.
        assert!(!topic_matches("é/x", "machina/#"));
        assert!(topic_matches("é/x", "é/+"));
        assert!(topic_matches("é/x", "+/x"));
        assert!(!topic_matches("é", "éé"));
        assert!(!topic_matches("", "a"));
    }

    #[test]
    fn topic_names_and_filters_are_validated() {
        assert!(valid_topic("machina/v1/d/acks"));
        for bad in ["", "a/+/b", "a/#", "a\0b"] {
            assert!(!valid_topic(bad), "{bad:?}");
        }
        assert!(!valid_topic(&"a".repeat(TOPIC_LEN_MAX + 1)));
        for good in ["#", "+", "a/+/b", "a/#", "é/+/ü"] {
            assert!(valid_filter(good), "{good:?}");
        }
        for bad in ["", "a/#/b", "a+/b", "a/b#", "#/a"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn devices_publish_and_subscribe_only_under_their_own_topics() {
        let me = Hash([1; 32]);
        let other = Hash([2; 32]);
        let device = Identity::Device(me);
        assert!(may_publish(device, &format!("machina/v1/{me}/telemetry/3")));
        assert!(may_publish(device, &format!("machina/v1/{me}/acks")));
        assert!(!may_publish(device, &format!("machina/v1/{other}/telemetry/3")));
        assert!(!may_publish(device, &format!("machina/v1/{me}/commands")));
        assert!(!may_publish(device, &format!("machina/v1/{other}/commands")));
        assert!(may_subscribe(device, &format!("machina/v1/{me}/commands")));
        assert!(!may_subscribe(device, &format!("machina/v1/{other}/commands")));
        assert!(!may_subscribe(device, "machina/v1/+/commands"));
        assert!(!may_subscribe(device, "#"));
        assert!(!may_publish(Identity::Operator, &format!("machina/v1/{me}/commands")));
        assert!(!may_publish(Identity::Operator, &format!("machina/v1/{me}/errors")));
        assert!(may_publish(Identity::Operator, &format!("machina/v1/{other}/telemetry/1")));
        assert!(may_subscribe(Identity::Operator, "machina/v1/#"));
        assert!(may_publish(Identity::Anonymous, &format!("machina/v1/{me}/telemetry/1")));
        assert!(!may_publish(Identity::Anonymous, &format!("machina/v1/{me}/acks")));
        assert!(!may_subscribe(Identity::Anonymous, &format!("machina/v1/{me}/commands")));
    }
}
