//! Data: anchored readings and oracle feeds.
//!
//! Readings stay off chain (the node's gateway stores them). What goes on chain is, per
//! device stream and interval, an anchor: the Merkle root over the interval's signed
//! readings, the sequence range it covers and the device key that signed them. Anchors of a
//! stream cover contiguous, non-overlapping ranges, so every reading belongs to exactly one
//! anchor, and a reading plus its Merkle path plus a state proof of its anchor proves it.
//!
//! Feeds turn readings into values contracts can use: eligible devices' signed readings are
//! reported on chain, checked (signature, eligibility, unit, freshness), and the feed's value
//! is recomputed as the median of its fresh sources. With fewer than half of the sources
//! lying, the median stays within the range of the honest values. Stale sources leave the
//! feed at the next report, so its source slots never fill up for good. Eligibility by role
//! or attribute counts only devices the feed's creator accepted (an accepted grant of the
//! role, or of [`roles::FEED_SOURCE`] for attributes), so nobody can enrol their own devices
//! into someone else's feed. A feed locks its creator's `params.data.feed_deposit` until it is closed.
//!
//! Invariant: the feed deposit account holds exactly the deposits of open feeds.

pub use machina_types::data::{keys, params, state};
#[cfg(test)]
mod tests;

use crate::{
    module::{Ctx, ExecResult, Module},
    modules::{
        bank,
        identity::{self, state::Device},
    },
    state::Key,
};
use machina_types::data::DataEvent;
use machina_types::{
    Address, DataCall, DeviceId, ErrorCode, Event, Hash, SignedReading, Value,
    data::{Eligibility, FeedId},
    identity::roles,
    limits::FEED_SOURCES_MAX,
    reading::StreamId,
};
use state::{AnchorRecord, Feed, FeedValue, Source, StreamState};

/// How far ahead of block time a feed reading's timestamp may be.
const FUTURE_SKEW_MS: u64 = 60_000;

/// The account holding feeds' deposits.
pub fn feed_deposits() -> Address {
    Address::module("feed-deposits")
}

/// The data module.
pub struct Data;

impl Module for Data {
    type Call = DataCall;

    fn hint(call: &DataCall, signer: &Address, out: &mut Vec<Key>) {
        match call {
            DataCall::Anchor { device, stream, .. } => {
                out.extend([identity::keys::device(device), keys::stream(device, *stream)])
            }
            DataCall::CreateFeed { .. } => out.extend([
                keys::next_feed_id(),
                crate::modules::bank::keys::account(signer),
                crate::modules::bank::keys::account(&feed_deposits()),
            ]),
            DataCall::CloseFeed { feed } => out
                .extend([keys::feed(*feed), crate::modules::bank::keys::account(&feed_deposits())]),
            DataCall::ReportFeed { feed, readings } => {
                out.push(keys::feed(*feed));
                out.extend(readings.iter().map(|r| identity::keys::device(&r.reading.device)));
            }
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &DataCall) -> ExecResult {
        match call {
            DataCall::Anchor { device, stream, first_seq, last_seq, count, root, device_key } => {
                let batch = Batch { first_seq: *first_seq, last_seq: *last_seq, count: *count };
                anchor(ctx, device, *stream, batch, root, device_key)
            }
            DataCall::CreateFeed {
                name,
                stream,
                eligibility,
                min_sources,
                max_staleness_ms,
                unit,
                decimals,
            } => {
                let id = ctx.get::<u64>(&keys::next_feed_id())?.unwrap_or(1);
                ctx.put(keys::next_feed_id(), &(id.checked_add(1).ok_or(ErrorCode::Overflow)?));
                let creator = ctx.signer();
                let deposit = ctx.env().genesis.params.data.feed_deposit;
                bank::debit(ctx, &creator, deposit)?;
                bank::credit(ctx, &feed_deposits(), deposit)?;
                let feed = Feed {
                    id,
                    name: name.clone(),
                    creator,
                    stream: *stream,
                    eligibility: eligibility.clone(),
                    min_sources: *min_sources,
                    max_staleness_ms: *max_staleness_ms,
                    unit: unit.clone(),
                    decimals: *decimals,
                    sources: Vec::new(),
                    value: None,
                    deposit,
                };
                ctx.put(keys::feed(id), &feed);
                ctx.emit(Event::Data(DataEvent::FeedCreated { feed: id, creator }))
            }
            DataCall::ReportFeed { feed, readings } => report(ctx, *feed, readings),
            DataCall::CloseFeed { feed } => close_feed(ctx, *feed),
        }
    }
}

/// The sequence range and size of an anchored batch.
struct Batch {
    first_seq: u64,
    last_seq: u64,
    count: u32,
}

fn anchor(
    ctx: &mut Ctx<'_>,
    device: &DeviceId,
    stream: StreamId,
    batch: Batch,
    root: &Hash,
    device_key: &Address,
) -> ExecResult {
    let d = identity::active_device(ctx, device)?;
    identity::require_gateway(ctx, &d)?;
    if !d.keys.contains(device_key) {
        return Err(ErrorCode::UnknownDeviceKey.into());
    }
    let mut state: StreamState = ctx.get(&keys::stream(device, stream))?.unwrap_or_default();
    if state.last_seq.is_some_and(|last| last.checked_add(1) != Some(batch.first_seq)) {
        return Err(ErrorCode::AnchorGap.into());
    }
    let record = AnchorRecord {
        device: *device,
        stream,
        index: state.anchors,
        first_seq: batch.first_seq,
        last_seq: batch.last_seq,
        count: batch.count,
        root: *root,
        device_key: *device_key,
        height: ctx.env().height,
        timestamp_ms: ctx.env().timestamp_ms,
        submitter: ctx.signer(),
    };
    ctx.put(keys::anchor(device, stream, record.index), &record);
    state.anchors = state.anchors.checked_add(1).ok_or(ErrorCode::Overflow)?;
    state.last_seq = Some(batch.last_seq);
    state.readings =
        state.readings.checked_add(u64::from(batch.count)).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::stream(device, stream), &state);
    ctx.emit(Event::Data(DataEvent::Anchored {
        device: *device,
        stream,
        index: record.index,
        first_seq: batch.first_seq,
        last_seq: batch.last_seq,
        count: batch.count,
    }))
}

/// The feed `id`, which must be open.
pub fn open_feed(ctx: &Ctx<'_>, id: FeedId) -> ExecResult<Feed> {
    Ok(ctx.get(&keys::feed(id))?.ok_or(ErrorCode::UnknownFeed)?)
}

fn close_feed(ctx: &mut Ctx<'_>, id: FeedId) -> ExecResult {
    let f = open_feed(ctx, id)?;
    if f.creator != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    ctx.delete(keys::feed(id));
    bank::debit(ctx, &feed_deposits(), f.deposit)?;
    bank::credit(ctx, &f.creator, f.deposit)?;
    ctx.emit(Event::Data(DataEvent::FeedClosed { feed: id }))
}

fn report(ctx: &mut Ctx<'_>, id: FeedId, readings: &[SignedReading]) -> ExecResult {
    let mut f = open_feed(ctx, id)?;
    let now = ctx.env().timestamp_ms;
    // Sources gone stale leave, so the slots they held free up.
    f.sources.retain(|s| now.saturating_sub(s.timestamp_ms) <= f.max_staleness_ms);
    for reading in readings {
        let source = checked_source(ctx, &f, reading)?;
        match f.sources.binary_search_by(|s| s.device.cmp(&source.device)) {
            Ok(i) if f.sources[i].seq >= source.seq => {} // already have this or newer
            Ok(i) => f.sources[i] = source,
            Err(_) if f.sources.len() >= FEED_SOURCES_MAX => {
                return Err(ErrorCode::SourceLimit.into());
            }
            Err(i) => f.sources.insert(i, source),
        }
    }
    let fresh: Vec<&Source> = f
        .sources
        .iter()
        .filter(|s| now.saturating_sub(s.timestamp_ms) <= f.max_staleness_ms)
        .collect();
    let mut values: Vec<i64> = fresh.iter().map(|s| s.value).collect();
    let count = u8::try_from(fresh.len()).expect("sources are bounded");
    f.value = (fresh.len() >= usize::from(f.min_sources))
        .then(|| median(&mut values))
        .flatten()
        .map(|value| FeedValue {
            value,
            sources: count,
            height: ctx.env().height,
            oldest_ms: fresh.iter().map(|s| s.timestamp_ms).min().unwrap_or(now),
        });
    let value = f.value.map(|v| v.value);
    ctx.put(keys::feed(id), &f);
    ctx.emit(Event::Data(DataEvent::FeedUpdated { feed: id, value, sources: count }))
}

/// Checks one reported reading against the feed; returns it as a source.
fn checked_source(ctx: &Ctx<'_>, f: &Feed, signed: &SignedReading) -> ExecResult<Source> {
    let r = &signed.reading;
    let d = identity::active_device(ctx, &r.device)?;
    if !admits(ctx, &f.eligibility, &f.creator, roles::FEED_SOURCE, &d)? {
        return Err(ErrorCode::NotEligible.into());
    }
    let Value::Numeric { value, decimals, unit } = &r.value else {
        return Err(ErrorCode::ReadingMismatch.into());
    };
    if r.stream != f.stream || *unit != f.unit {
        return Err(ErrorCode::ReadingMismatch.into());
    }
    let value = rescale(*value, *decimals, f.decimals).ok_or(ErrorCode::ReadingMismatch)?;
    let now = ctx.env().timestamp_ms;
    let fresh = now.saturating_sub(r.timestamp_ms) <= f.max_staleness_ms;
    if !fresh || r.timestamp_ms > now.saturating_add(FUTURE_SKEW_MS) {
        return Err(ErrorCode::StaleReading.into());
    }
    if !signed.verify(&d.current_key()) {
        return Err(ErrorCode::BadDeviceSignature.into());
    }
    Ok(Source { device: r.device, value, timestamp_ms: r.timestamp_ms, seq: r.seq })
}

/// Whether `eligibility`, a rule `owner` set (a feed's creator, a reward pool's funder),
/// admits `d`: for a role rule, `d` granted `owner` the role and `owner` accepted it; for an
/// attribute rule, likewise with `attribute_role`.
pub fn admits(
    ctx: &Ctx<'_>,
    eligibility: &Eligibility,
    owner: &Address,
    attribute_role: &str,
    d: &Device,
) -> ExecResult<bool> {
    let accepted = match eligibility {
        Eligibility::Role { role } => identity::has_accepted_role(ctx, d, owner, role)?,
        Eligibility::Attribute { .. } => {
            identity::has_accepted_role(ctx, d, owner, attribute_role)?
        }
        _ => false,
    };
    Ok(eligibility.admits(d, accepted))
}

/// `value * 10^-from` expressed with `to` decimals (truncating toward zero when dropping
/// digits); `None` if it does not fit.
pub fn rescale(value: i64, from: u8, to: u8) -> Option<i64> {
    let scaled = if to >= from {
        i128::from(value).checked_mul(10i128.checked_pow(u32::from(to - from))?)?
    } else {
        i128::from(value) / 10i128.checked_pow(u32::from(from - to))?
    };
    i64::try_from(scaled).ok()
}

/// The lower median: the middle value, or the lower of the two middle values. It never
/// averages, so it is always one of the inputs. `None` for no values.
pub fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}
