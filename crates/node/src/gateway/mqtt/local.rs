//! In-process broker clients: a simulated device or an embedded service talks to the broker
//! with the identity, topic rules and admission of a network session, without the network
//! or a login (being in the process is the credential).

use super::{
    Broker, Identity, OUTGOING_QUEUE_MAX, Reply, may_publish, may_subscribe, publish_reply,
    valid_filter, valid_topic,
};
use crate::gateway::ingest::Ingest;
use bytes::Bytes;
use rumqttc::mqttbytes::{QoS, v4::Publish};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A client inside the process (a simulated device, an embedded service): the identity,
/// topic rules and admission of a network session, without the network or a login.
pub struct LocalClient {
    broker: Arc<Broker>,
    ingest: Ingest,
    id: u64,
    identity: Identity,
    incoming: mpsc::Receiver<Publish>,
}

/// Why a local client's message was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalRefusal {
    /// The client may not publish or subscribe there (or the topic or filter is invalid,
    /// or it holds the most subscriptions it may).
    #[error("not allowed on this topic")]
    NotAllowed,
    /// The gateway could not store the reading: a network session would get no
    /// acknowledgement and be closed.
    #[error("the gateway could not store the reading")]
    Unavailable,
}

impl Broker {
    /// Connects an in-process client acting as `identity`; what it publishes goes to
    /// `ingest` (telemetry) or the broker's routing, as a session's would.
    pub fn connect_local(self: &Arc<Self>, identity: Identity, ingest: Ingest) -> LocalClient {
        let (outgoing, incoming) = mpsc::channel(OUTGOING_QUEUE_MAX);
        let id = self.register(identity, outgoing);
        LocalClient { broker: self.clone(), ingest, id, identity, incoming }
    }
}

impl LocalClient {
    /// Subscribes to `filter`, under the rules of the client's identity.
    pub fn subscribe(&self, filter: &str) -> Result<(), LocalRefusal> {
        let allowed = valid_filter(filter) && may_subscribe(self.identity, filter);
        match allowed && self.broker.subscribe(self.id, filter.to_string()) {
            true => Ok(()),
            false => Err(LocalRefusal::NotAllowed),
        }
    }

    /// Publishes `payload` on `topic` at QoS 1 and waits until the broker would acknowledge
    /// it (for telemetry: once the reading is stored or refused for a reason of its own;
    /// refusals are reported on the device's errors topic, as for any session).
    pub async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), LocalRefusal> {
        if !valid_topic(topic) || !may_publish(self.identity, topic) {
            return Err(LocalRefusal::NotAllowed);
        }
        let mut publish = Publish::new(topic, QoS::AtLeastOnce, Vec::new());
        publish.payload = payload;
        match publish_reply(publish, &self.ingest, &self.broker).await.await {
            Reply::Close => Err(LocalRefusal::Unavailable),
            Reply::Nothing | Reply::Ack(_) => Ok(()),
        }
    }

    /// The next message routed to the client's subscriptions (topic and payload); `None`
    /// once the broker dropped the client (it stopped reading).
    pub async fn next(&mut self) -> Option<(String, Bytes)> {
        self.incoming.recv().await.map(|p| (p.topic, p.payload))
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.broker.unregister(self.id);
    }
}
