//! When things happened, in simulated time: each validator's start, every finalized tip it
//! learns, every finalized block marshal hands to its state and, with a [`crate::disk`],
//! when each of those became durable. Scenarios that measure recovery
//! (how long after a partition heals the chain finalizes again, how fast a cut-off validator
//! catches up) read their figures from here, and end their runs on a condition over it.

use commonware_actor::Feedback;
use commonware_consensus::{Reporter, marshal::Update};
use commonware_cryptography::ed25519;
use commonware_glue::simulate::{exit::ExitCondition, tracker::ProgressTracker};
use commonware_runtime::{Clock, deterministic};
use machina_types::block::Block;
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// What a validator did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// It was started (the harness starts every validator before it runs any schedule).
    Started,
    /// It learned that the block at this height is finalized.
    Tip(u64),
    /// Marshal handed the finalized block at this height to its state.
    Dispatched(u64),
    /// The state the finalized block at this height produced became durable (recorded only
    /// with a [`crate::disk`]).
    Durable(u64),
}

/// One event of one validator, at a simulated time.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Simulated time.
    pub at: SystemTime,
    /// The validator's index.
    pub validator: usize,
    /// What happened.
    pub event: Event,
}

/// The events of a run, in the order they happened (shared by every validator).
#[derive(Clone, Default)]
pub struct Timeline(Arc<Mutex<Vec<Entry>>>);

impl Timeline {
    /// Records `event` of `validator` at `at`.
    pub fn record(&self, at: SystemTime, validator: usize, event: Event) {
        self.lock().push(Entry { at, validator, event });
    }

    /// Every event so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Queries over a run's events.
pub trait Events {
    /// When the last validator first started: the origin of the harness's schedule, give or
    /// take the few milliseconds before the scheduler's first poll (so a time measured from
    /// `schedule_origin() + offset` to a later event is, if anything, overstated).
    fn schedule_origin(&self) -> Option<SystemTime>;
    /// The highest tip any of `validators` learned at or before `at`.
    fn tip_at(&self, validators: &[usize], at: SystemTime) -> u64;
    /// The highest block of `validator` durable at or before `at`.
    fn durable_at(&self, validator: usize, at: SystemTime) -> u64;
    /// When `validator` first learned a tip above `height` at or after `after`.
    fn first_tip_above(
        &self,
        validator: usize,
        height: u64,
        after: SystemTime,
    ) -> Option<SystemTime>;
    /// When a block of `validator` at or above `height` first was durable.
    fn first_durable_at_least(&self, validator: usize, height: u64) -> Option<SystemTime>;
}

impl Events for [Entry] {
    fn schedule_origin(&self) -> Option<SystemTime> {
        let mut first = std::collections::BTreeMap::new();
        for e in self.iter().filter(|e| e.event == Event::Started) {
            first.entry(e.validator).or_insert(e.at);
        }
        first.into_values().max()
    }

    fn tip_at(&self, validators: &[usize], at: SystemTime) -> u64 {
        self.iter()
            .filter(|e| e.at <= at && validators.contains(&e.validator))
            .filter_map(|e| match e.event {
                Event::Tip(h) => Some(h),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn durable_at(&self, validator: usize, at: SystemTime) -> u64 {
        self.iter()
            .filter(|e| e.at <= at && e.validator == validator)
            .filter_map(|e| match e.event {
                Event::Durable(h) => Some(h),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn first_tip_above(
        &self,
        validator: usize,
        height: u64,
        after: SystemTime,
    ) -> Option<SystemTime> {
        self.iter()
            .find(|e| {
                e.validator == validator
                    && e.at >= after
                    && matches!(e.event, Event::Tip(h) if h > height)
            })
            .map(|e| e.at)
    }

    fn first_durable_at_least(&self, validator: usize, height: u64) -> Option<SystemTime> {
        self.iter()
            .find(|e| {
                e.validator == validator && matches!(e.event, Event::Durable(h) if h >= height)
            })
            .map(|e| e.at)
    }
}

/// A marshal reporter that records tips and blocks in the timeline before passing them on.
#[derive(Clone)]
pub struct Timed<R> {
    inner: R,
    validator: usize,
    clock: Arc<deterministic::Context>,
    timeline: Timeline,
}

impl<R> Timed<R> {
    /// Wraps `inner` for `validator`, reading simulated time from `clock`.
    pub fn new(
        inner: R,
        validator: usize,
        clock: deterministic::Context,
        timeline: Timeline,
    ) -> Self {
        Self { inner, validator, clock: Arc::new(clock), timeline }
    }
}

impl<R: Reporter<Activity = Update<Block>>> Reporter for Timed<R> {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        let event = match &activity {
            Update::Tip(_, height, _) => Event::Tip(height.get()),
            Update::Block(block, _) => Event::Dispatched(block.inner().header.height),
        };
        self.timeline.record(self.clock.current(), self.validator, event);
        self.inner.report(activity)
    }
}

type Condition = dyn Fn(&[Entry]) -> bool + Send + Sync;

/// Ends a run once a condition over the timeline holds (checked on every finalization and
/// every poll of the harness).
#[derive(Clone)]
pub struct Until {
    name: &'static str,
    timeline: Timeline,
    condition: Arc<Condition>,
}

impl Until {
    /// Ends the run once `condition` holds over `timeline`'s events.
    pub fn new(
        name: &'static str,
        timeline: Timeline,
        condition: impl Fn(&[Entry]) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self { name, timeline, condition: Arc::new(condition) }
    }
}

impl<S> ExitCondition<ed25519::PublicKey, S> for Until {
    fn name(&self) -> &str {
        self.name
    }

    fn requires_polling(&self) -> bool {
        true
    }

    fn reached<'a>(
        &'a self,
        _tracker: &'a ProgressTracker<ed25519::PublicKey>,
        _states: &'a [&'a S],
        _target_count: usize,
    ) -> Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>> {
        let reached = (self.condition)(&self.timeline.entries());
        Box::pin(async move { Ok(reached) })
    }
}

/// `to - from`, or zero if `to` is earlier.
pub fn since(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or(Duration::ZERO)
}
