//! A lean MQTT 3.1.1 load generator: many device connections publishing pre-encoded payloads
//! with QoS 1 and a bounded window of unacknowledged messages each, and a plain subscriber
//! that acknowledges and counts what it receives. The same code drives the gateway's broker
//! and a plain mosquitto broker, so the two are compared under identical load.

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{
    self, QoS,
    v4::{Connect, ConnectReturnCode, Login, Packet, PubAck, Publish, Subscribe},
};
use std::{net::SocketAddr, sync::Arc, time::Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::Barrier,
};

const PACKET_MAX: usize = 64 * 1024;

/// One MQTT connection.
struct Connection {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    input: BytesMut,
    output: BytesMut,
}

impl Connection {
    /// Connects as `client_id` (clean session), logging in with `login` (username,
    /// password) if given, and waits for the broker's CONNACK.
    async fn open(
        broker: SocketAddr,
        client_id: String,
        login: Option<(String, String)>,
    ) -> Result<Self> {
        let stream = TcpStream::connect(broker).await.with_context(|| {
            format!("connecting to {broker} (if too many files are open, raise `ulimit -n`)")
        })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let mut connection = Self {
            reader,
            writer,
            input: BytesMut::with_capacity(8 * 1024),
            output: BytesMut::with_capacity(8 * 1024),
        };
        let mut connect = Connect::new(client_id);
        connect.keep_alive = 3600; // no pings needed during a run
        connect.login = login.map(|(user, password)| Login::new(user, password));
        connection.send(Packet::Connect(connect)).await?;
        match connection.next().await? {
            Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => Ok(connection),
            Packet::ConnAck(ack) => bail!("the broker refused the connection: {:?}", ack.code),
            other => bail!("expected CONNACK, got {other:?}"),
        }
    }

    fn queue(&mut self, packet: Packet) -> Result<()> {
        packet.write(&mut self.output, PACKET_MAX).map_err(|e| anyhow::anyhow!("encode: {e:?}"))?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.output.is_empty() {
            self.writer.write_all(&self.output.split()).await?;
        }
        Ok(())
    }

    async fn send(&mut self, packet: Packet) -> Result<()> {
        self.queue(packet)?;
        self.flush().await
    }

    /// The next packet from the broker.
    async fn next(&mut self) -> Result<Packet> {
        loop {
            match Packet::read(&mut self.input, PACKET_MAX) {
                Ok(packet) => return Ok(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {
                    if self.reader.read_buf(&mut self.input).await? == 0 {
                        bail!("the broker closed the connection");
                    }
                }
                Err(e) => bail!("decode: {e:?}"),
            }
        }
    }
}

/// A device connection with its messages.
pub struct Publisher {
    /// MQTT client id.
    pub client_id: String,
    /// Username and password, if the broker needs them.
    pub login: Option<(String, String)>,
    /// Topic of every message.
    pub topic: String,
    /// The payloads, published in order.
    pub payloads: Vec<Bytes>,
}

/// When each message was published, per publisher; and when the last acknowledgement came.
pub struct Published {
    /// Publish instants, per publisher in the order given.
    pub sent_at: Vec<Vec<Instant>>,
    /// When publishing started (every connection open).
    pub started: Instant,
    /// When the last acknowledgement arrived.
    pub finished: Instant,
}

/// Opens every publisher's connection, then (all connected) publishes every payload with
/// QoS 1, at most `window` unacknowledged per connection; returns once every message is
/// acknowledged. `ready` is told when every connection is open, just before publishing.
pub async fn publish(
    broker: SocketAddr,
    publishers: Vec<Publisher>,
    window: usize,
    ready: impl FnOnce(),
) -> Result<Published> {
    let start = Arc::new(Barrier::new(publishers.len() + 1));
    let mut tasks = Vec::with_capacity(publishers.len());
    for publisher in publishers {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let (id, login) = (publisher.client_id.clone(), publisher.login.clone());
            let connected = Connection::open(broker, id, login).await;
            start.wait().await;
            run_publisher(connected?, publisher, window).await
        }));
    }
    start.wait().await;
    ready();
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(tasks.len());
    for task in tasks {
        sent_at.push(task.await??);
    }
    Ok(Published { sent_at, started, finished: Instant::now() })
}

async fn run_publisher(
    mut connection: Connection,
    publisher: Publisher,
    window: usize,
) -> Result<Vec<Instant>> {
    let total = publisher.payloads.len();
    let mut sent_at = Vec::with_capacity(total);
    let mut acked = 0;
    let mut payloads = publisher.payloads.into_iter();
    while acked < total {
        while sent_at.len() < total && sent_at.len() - acked < window.max(1) {
            let mut message = Publish::new(&publisher.topic, QoS::AtLeastOnce, Vec::new());
            message.payload = payloads.next().expect("counted");
            message.pkid = (sent_at.len() % usize::from(u16::MAX)) as u16 + 1;
            connection.queue(Packet::Publish(message))?;
            sent_at.push(Instant::now());
        }
        connection.flush().await?;
        if let Packet::PubAck(_) = connection.next().await? {
            acked += 1;
        }
    }
    Ok(sent_at)
}

/// Subscribes to `filter` with QoS 1; `subscribed` is told once the broker confirmed; then
/// acknowledges and counts messages until `expected` arrived; returns when the last did.
pub async fn subscribe(
    broker: SocketAddr,
    filter: &str,
    expected: usize,
    subscribed: tokio::sync::oneshot::Sender<()>,
) -> Result<Instant> {
    let mut connection = Connection::open(broker, "machina-bench-subscriber".into(), None).await?;
    let mut subscribe = Subscribe::new(filter, QoS::AtLeastOnce);
    subscribe.pkid = 1;
    connection.send(Packet::Subscribe(subscribe)).await?;
    match connection.next().await? {
        Packet::SubAck(_) => {}
        other => bail!("expected SUBACK, got {other:?}"),
    }
    let _ = subscribed.send(());
    let mut received = 0;
    while received < expected {
        if let Packet::Publish(message) = connection.next().await? {
            received += 1;
            if message.qos != QoS::AtMostOnce {
                connection.queue(Packet::PubAck(PubAck::new(message.pkid)))?;
            }
            // Acknowledge in batches: whatever arrived together is answered together.
            if connection.input.is_empty() {
                connection.flush().await?;
            }
        }
    }
    connection.flush().await?;
    Ok(Instant::now())
}
