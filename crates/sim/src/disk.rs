//! A disk that takes time to sync, for the deterministic runtime, whose storage is instant.
//!
//! A validator acknowledges a finalized block to marshal only once the state it produced is
//! durable, and marshal dispatches the next block only while fewer than `max_pending_acks`
//! wait for that. On a real disk each sync takes milliseconds, which bounds how fast a
//! validator that fell behind replays the blocks it missed. [`SlowDisk`] sits between marshal
//! and the state actor and holds each acknowledgement for a sync, where one sync covers
//! every block the state applied before it began, as the state actor's durability barrier
//! does. It records in the [`Timeline`] when each block became durable.

use crate::timeline::{Event, Timeline};
use commonware_actor::Feedback;
use commonware_consensus::{Reporter, marshal::Update};
use commonware_runtime::{Clock, Spawner, deterministic};
use commonware_utils::{
    Acknowledgement,
    acknowledgement::{Exact, ExactWaiter},
    channel::mpsc,
};
use futures::FutureExt;
use machina_types::block::Block;
use std::time::Duration;

/// A block handed to the state: its height, the state's acknowledgement that it applied it,
/// and marshal's acknowledgement, due once it is durable.
type Applied = (u64, ExactWaiter, Exact);

/// A marshal reporter that holds each block's acknowledgement until a disk sync covers it.
#[derive(Clone)]
pub struct SlowDisk<R> {
    inner: R,
    /// Where blocks handed to the state go (none: an instant disk).
    applied: Option<mpsc::UnboundedSender<Applied>>,
}

/// How one validator's disk syncs.
pub struct Disk {
    /// The validator's index.
    pub validator: usize,
    /// How long one sync takes (none: an instant disk).
    pub sync: Option<Duration>,
    /// Where to record when each block became durable.
    pub timeline: Timeline,
}

impl<R> SlowDisk<R> {
    /// Wraps `inner`, syncing on a task of `context` (no task and no delay without a sync
    /// time).
    pub fn new(inner: R, context: deterministic::Context, disk: Disk) -> Self {
        let Some(sync) = disk.sync else { return Self { inner, applied: None } };
        let (applied, queue) = mpsc::unbounded_channel();
        context.spawn(move |context| syncs(context, sync, disk, queue));
        Self { inner, applied: Some(applied) }
    }
}

impl<R: Reporter<Activity = Update<Block>>> Reporter for SlowDisk<R> {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match (activity, &self.applied) {
            (Update::Block(block, marshal_ack), Some(disk)) => {
                let (state_ack, applied) = Exact::handle();
                let _ = disk.send((block.inner().header.height, applied, marshal_ack));
                self.inner.report(Update::Block(block, state_ack))
            }
            (activity, _) => self.inner.report(activity),
        }
    }
}

/// Waits for the state to apply the oldest unsynced block, syncs once for it and every later
/// block already applied, then acknowledges them all to marshal; until the validator stops.
async fn syncs(
    context: deterministic::Context,
    sync: Duration,
    disk: Disk,
    mut queue: mpsc::UnboundedReceiver<Applied>,
) {
    let mut next = None;
    loop {
        let oldest = match next.take() {
            Some(oldest) => Some(oldest),
            None => queue.recv().await,
        };
        let Some((height, applied, marshal_ack)) = oldest else { return };
        if applied.await.is_err() {
            return;
        }
        let mut covered = vec![(height, marshal_ack)];
        while let Ok((height, mut applied, marshal_ack)) = queue.try_recv() {
            match (&mut applied).now_or_never() {
                Some(Ok(())) => covered.push((height, marshal_ack)),
                Some(Err(_)) => return,
                None => {
                    next = Some((height, applied, marshal_ack));
                    break;
                }
            }
        }
        context.sleep(sync).await;
        for (height, ack) in covered {
            disk.timeline.record(context.current(), disk.validator, Event::Durable(height));
            ack.acknowledge();
        }
    }
}
