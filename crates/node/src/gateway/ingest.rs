//! Admission of readings: decode, check, verify, store durably, answer.
//!
//! Readings from every transport (embedded MQTT broker, external broker, HTTP) go through one
//! queue. A single task takes them in batches: it decodes each and checks its topic,
//! timestamp and device (onboarded, active), verifies all signatures of the batch in one
//! batched verification on the gateway's worker pool, checks sequence numbers against the
//! store (strictly increasing per stream; an exact duplicate of a stored reading is
//! acknowledged again and stored once), appends the accepted readings and syncs them, and
//! only then answers. An answer of acceptance therefore means the reading is on disk.
//!
//! When the readings cannot be stored (the journal failed) or a batch's processing panics,
//! every reading of the batch that is not refused for a reason of its own is answered
//! `unavailable`: transports must not acknowledge those (MQTT withholds the PUBACK and
//! drops the connection so the device resends; HTTP answers 503).

use super::{
    deliver::Delivery,
    devices::{DeviceCache, Runtime},
    store::{Admission, ReadingStore, StoredReading, StreamKey},
};
use crate::health::{Health, panic_message};
use commonware_codec::Encode;
use commonware_cryptography::{BatchEntry, BatchVerifier, ed25519};
use commonware_parallel::Strategy;
use commonware_runtime::telemetry::metrics::{Counter, CounterFamily, MetricsExt};
use futures::FutureExt;
use machina_types::{
    DeviceId, ErrorCode, SignedReading,
    reading::{READING_NAMESPACE, SIGNED_READING_SIZE_MAX, StreamId},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{mpsc, oneshot};

/// How far ahead of the gateway's clock a reading's timestamp may be.
pub const FUTURE_SKEW: Duration = Duration::from_secs(60);
/// Most readings handled in one batch.
const BATCH_MAX: usize = 4096;
/// Readings waiting for admission before submitters wait.
const QUEUE: usize = 65_536;

/// A refused reading, with what is known of it for the error report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub code: ErrorCode,
    /// The device and stream, from the reading or its topic.
    pub stream: Option<StreamKey>,
    /// The reading's sequence number, if it decoded.
    pub seq: Option<u64>,
}

/// An accepted reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Whether it was already stored (acknowledged again, stored once).
    pub duplicate: bool,
    /// Its device and stream.
    pub stream: StreamKey,
    /// Its sequence number.
    pub seq: u64,
}

/// The outcome of a submission.
pub type Verdict = Result<Accepted, Rejected>;

struct Submission {
    bytes: Vec<u8>,
    topic: Option<StreamKey>,
    reply: oneshot::Sender<Verdict>,
}

/// Handle to the admission queue.
#[derive(Clone)]
pub struct Ingest {
    sender: mpsc::Sender<Submission>,
}

impl Ingest {
    /// A queue that takes nothing: every submission is answered `unavailable`, as by a
    /// gateway that has stopped (transports must then acknowledge nothing).
    pub fn closed() -> Self {
        let (sender, _) = mpsc::channel(1);
        Self { sender }
    }

    /// Queues `bytes` (an encoded signed reading) received on `topic`'s device stream, if
    /// the transport names one. Waits for room in the queue; the returned future yields the
    /// verdict once it is final (and, for acceptance, durable).
    pub async fn submit(
        &self,
        bytes: Vec<u8>,
        topic: Option<StreamKey>,
    ) -> impl std::future::Future<Output = Verdict> + Send + 'static {
        let (reply, verdict) = oneshot::channel();
        let stopped = Rejected { code: ErrorCode::Unavailable, stream: topic, seq: None };
        let queued = self.sender.send(Submission { bytes, topic, reply }).await.is_ok();
        async move {
            match queued {
                true => verdict.await.unwrap_or(Err(stopped)),
                false => Err(stopped),
            }
        }
    }
}

/// The subsystem name of admission in `/health`.
pub const SUBSYSTEM: &str = "gateway-ingest";

/// Admission's counters.
struct Metered {
    accepted: Counter,
    refused: CounterFamily<Vec<(String, String)>>,
}

impl Metered {
    fn new(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            accepted: context.counter("readings_accepted", "readings stored (duplicates included)"),
            refused: context.family("readings_refused", "readings refused, by code"),
        }
    }

    fn count(&self, verdict: &Verdict) {
        match verdict {
            Ok(_) => {
                self.accepted.inc();
            }
            Err(r) => {
                self.refused.get_or_create(&vec![("code".into(), r.code.name().into())]).inc();
            }
        }
    }
}

/// Where signatures are verified: a thread pool in the node; one thread in simulations
/// (a pool's scheduling is not part of a seed).
pub trait Workers: Strategy + Clone + Send + Sync + 'static {}

impl<S: Strategy + Clone + Send + Sync + 'static> Workers for S {}

/// Starts the admission task. It never stops: a batch whose processing panics is answered
/// `unavailable` (and counted), and the next batch goes on.
pub fn start<E: Runtime>(
    context: &E,
    store: Arc<ReadingStore<E>>,
    devices: Arc<DeviceCache<E>>,
    delivery: Arc<Delivery<E>>,
    workers: impl Workers,
    health: Arc<Health>,
) -> Ingest {
    let (sender, mut receiver) = mpsc::channel::<Submission>(QUEUE);
    let metered = Metered::new(context);
    health.up(SUBSYSTEM);
    context.child("ingest").spawn(move |context| async move {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let run = process(&context, batch, &store, &devices, &delivery, &workers, &metered);
            if let Err(panic) = std::panic::AssertUnwindSafe(run).catch_unwind().await {
                // The batch's answers were dropped with it: its submitters see `unavailable`.
                health.panicked(SUBSYSTEM, panic_message(&*panic));
                health.up(SUBSYSTEM);
            }
            if store.failed() {
                health.down(SUBSYSTEM, "the readings journal failed; restart the node");
            }
        }
    });
    Ingest { sender }
}

/// A decoded reading whose device may sign it, waiting for its signature check.
struct Candidate {
    reading: SignedReading,
    key: ed25519::PublicKey,
}

async fn process<E: Runtime>(
    context: &E,
    batch: Vec<Submission>,
    store: &ReadingStore<E>,
    devices: &DeviceCache<E>,
    delivery: &Delivery<E>,
    workers: &impl Workers,
    metered: &Metered,
) {
    let now = super::submit::now_ms(context);
    let mut prechecked = Vec::with_capacity(batch.len());
    for submission in &batch {
        prechecked.push(precheck(submission, store, devices, now).await);
    }
    let candidates = prechecked.iter().filter_map(|r| r.as_ref().ok().map(|(c, _)| c));
    let mut valid = verify(context, candidates, workers).await.into_iter();
    let mut to_store = Vec::new();
    let mut verdicts: Vec<Verdict> = prechecked
        .into_iter()
        .map(|result| {
            let (candidate, floor) = result?;
            let signature_ok = valid.next().expect("one result per candidate");
            admit(candidate, floor, signature_ok, store, now, &mut to_store)
        })
        .collect();
    if store.append(&to_store).await.is_err() {
        // Nothing of this batch is on disk: no acceptance may be answered.
        for verdict in &mut verdicts {
            if let Ok(accepted) = verdict {
                let (stream, seq) = (Some(accepted.stream), Some(accepted.seq));
                *verdict = Err(Rejected { code: ErrorCode::Unavailable, stream, seq });
            }
        }
    } else {
        for stored in to_store {
            delivery.stored(stored.reading);
        }
    }
    for (submission, verdict) in batch.into_iter().zip(verdicts) {
        metered.count(&verdict);
        let _ = submission.reply.send(verdict);
    }
}

/// Checks a verified candidate's sequence against the store and reserves it.
fn admit(
    candidate: Candidate,
    floor: Option<u64>,
    signature_ok: bool,
    store: &ReadingStore<impl Runtime>,
    now: u64,
    to_store: &mut Vec<StoredReading>,
) -> Verdict {
    let r = &candidate.reading.reading;
    let (stream, seq) = ((r.device, r.stream), r.seq);
    let reject = |code| Rejected { code, stream: Some(stream), seq: Some(seq) };
    if !signature_ok {
        return Err(reject(ErrorCode::BadSignature));
    }
    let stored = StoredReading {
        reading: candidate.reading,
        key: machina_types::Address::of(&candidate.key),
        received_ms: now,
    };
    match store.reserve(&stored, floor).map_err(reject)? {
        Admission::New => {
            to_store.push(stored);
            Ok(Accepted { duplicate: false, stream, seq })
        }
        Admission::Duplicate => Ok(Accepted { duplicate: true, stream, seq }),
    }
}

/// Decodes and checks everything but the signature and the sequence; reads the chain's last
/// anchored sequence number of the stream if the store needs it.
async fn precheck<E: Runtime>(
    s: &Submission,
    store: &ReadingStore<E>,
    devices: &DeviceCache<E>,
    now: u64,
) -> Result<(Candidate, Option<u64>), Rejected> {
    let reject = |code, stream, seq| Rejected { code, stream, seq };
    if s.bytes.len() > SIGNED_READING_SIZE_MAX {
        return Err(reject(ErrorCode::Oversized, s.topic, None));
    }
    let reading = SignedReading::decode_checked(&s.bytes).ok_or(reject(
        ErrorCode::Malformed,
        s.topic,
        None,
    ))?;
    let r = &reading.reading;
    let stream: StreamKey = (r.device, r.stream);
    let seq = Some(r.seq);
    if s.topic.is_some_and(|t| t != stream) {
        return Err(reject(ErrorCode::TopicMismatch, s.topic, seq));
    }
    if r.timestamp_ms > now + FUTURE_SKEW.as_millis() as u64 {
        return Err(reject(ErrorCode::TimestampOutOfRange, Some(stream), seq));
    }
    let device =
        devices.get(&r.device).await.ok_or(reject(ErrorCode::UnknownDevice, Some(stream), seq))?;
    if let Some(code) = device.record.status.refusal() {
        return Err(reject(code, Some(stream), seq));
    }
    let floor = match store.needs_floor(&stream) {
        true => devices.anchored_last_seq(&stream).await,
        false => None,
    };
    Ok((Candidate { key: device.key.clone(), reading }, floor))
}

/// Verifies every candidate's signature: one batch, then one by one if the batch fails.
async fn verify<'a>(
    context: &impl Runtime,
    candidates: impl Iterator<Item = &'a Candidate>,
    workers: &impl Workers,
) -> Vec<bool> {
    let items: Vec<(ed25519::PublicKey, Vec<u8>, ed25519::Signature)> = candidates
        .map(|c| (c.key.clone(), c.reading.reading.encode().to_vec(), c.reading.signature.clone()))
        .collect();
    if items.is_empty() {
        return Vec::new();
    }
    let workers = workers.clone();
    let task = context.child("verify").shared(true).spawn(move |mut rng| async move {
        let batch_ok = ed25519::PublicKey::verify_batch(
            &mut rng,
            &items,
            |_, (key, message, signature)| BatchEntry {
                namespace: READING_NAMESPACE,
                message,
                public_key: key,
                signature,
            },
            &workers,
        );
        if batch_ok {
            return vec![true; items.len()];
        }
        items
            .iter()
            .map(|(key, message, signature)| {
                use commonware_cryptography::Verifier;
                key.verify(READING_NAMESPACE, message, signature)
            })
            .collect()
    });
    // The task fails only when the runtime shuts down; the batch's panic handler then
    // answers its readings `unavailable`.
    task.await.expect("verification task")
}

/// The device and stream named by a telemetry topic `machina/v1/<device>/telemetry/<stream>`.
pub fn telemetry_topic(topic: &str) -> Option<StreamKey> {
    let rest = topic.strip_prefix("machina/v1/")?;
    let (device, rest) = rest.split_once('/')?;
    let stream = rest.strip_prefix("telemetry/")?;
    let device: DeviceId = device.parse().ok()?;
    let stream: StreamId = stream.parse().ok()?;
    Some((device, stream))
}

/// The topic a device's rejected readings are reported on.
pub fn errors_topic(device: &DeviceId) -> String {
    format!("machina/v1/{device}/errors")
}
