//! Device data: submitting readings, reading them back with proofs, devices, makers, feeds.

use super::{
    ApiState,
    error::ApiError,
    proofs::{Sealed, Snapshot},
};
use crate::gateway::{ingest::Rejected, store::StreamKey};
use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
};
use commonware_codec::Encode;
use machina_api::{
    AcceptedReading, FeedView, ReadingEntry, Readings, ReadingsQuery, RoleView, StreamView,
    SubmitReading,
    data::{READINGS_PER_QUERY_DEFAULT, READINGS_PER_QUERY_MAX},
};
use machina_app::{
    describe,
    modules::{
        data::{
            keys as data_keys,
            state::{AnchorRecord, Feed, StreamState},
        },
        identity::{
            keys as identity_keys,
            state::{Device, Maker, RoleGrant},
        },
    },
};
use machina_store::{ProofBundle, ReadingBundle, StateEntry};
use machina_types::{
    Address, DeviceId, Hash,
    codec::{hex, parse_hex},
    merkle,
    reading::StreamId,
};
use std::ops::RangeInclusive;

type ApiResult<T> = Result<T, ApiError>;

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

impl From<Rejected> for ApiError {
    fn from(r: Rejected) -> Self {
        r.code.into()
    }
}

pub(super) async fn submit(
    State(s): State<ApiState>,
    body: Result<Json<SubmitReading>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<AcceptedReading>)> {
    let Json(body) = body?;
    let bytes = parse_hex(&body.reading)
        .map_err(|_| ApiError::from(machina_types::ErrorCode::Malformed))?;
    let accepted = s.gateway.ingest.submit(bytes, None).await.await?;
    let (device, stream) = accepted.stream;
    let body = AcceptedReading { device, stream, seq: accepted.seq, duplicate: accepted.duplicate };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

pub(super) async fn device(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    let id: DeviceId = parse("device id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    snapshot
        .get(&identity_keys::device(&id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no device {id}")))
}

/// `GET /v1/devices/{id}/roles/{account}/{role}`: whether `account` holds `role` on the
/// device now (owners hold every role), with the grant if there is one.
pub(super) async fn role(
    State(s): State<ApiState>,
    Path((id, account, role)): Path<(String, String, String)>,
) -> ApiResult<Json<RoleView>> {
    let id: DeviceId = parse("device id", &id)?;
    let account: Address = parse("address", &account)?;
    if role.is_empty() || role.len() > machina_types::limits::ROLE_LEN_MAX {
        return Err(ApiError::invalid("a role is 1-32 bytes"));
    }
    let snapshot = Snapshot::take(&s).await?;
    let device: Device = snapshot
        .get(&identity_keys::device(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {id}")))?;
    let grant: Option<RoleGrant> = snapshot.get(&identity_keys::role(&id, &account, &role)).await?;
    let grant = grant.filter(|g| g.holds(&device, snapshot.height()));
    let owner = device.owner == account;
    Ok(Json(RoleView { device: id, account, role, holds: owner || grant.is_some(), owner, grant }))
}

pub(super) async fn maker(
    State(s): State<ApiState>,
    Path(account): Path<String>,
) -> ApiResult<Json<Maker>> {
    let account: Address = parse("maker address", &account)?;
    let snapshot = Snapshot::take(&s).await?;
    snapshot
        .get(&identity_keys::maker(&account))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no maker {account}")))
}

pub(super) async fn feed(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<FeedView>> {
    let id: u64 = parse("feed id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let feed: Feed = snapshot
        .get(&data_keys::feed(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no feed {id}")))?;
    let now = s.chain.tip().map_or(0, |t| t.header.timestamp_ms);
    let current = feed.value_at(now);
    Ok(Json(FeedView { feed, current }))
}

pub(super) async fn feed_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    let id: u64 = parse("feed id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let entry = snapshot.described(describe::feed(id)).await?;
    let sealed = snapshot.seal(&s).await?;
    Ok(Json(ProofBundle {
        chain_id: s.chain.genesis().chain_id.clone(),
        height: sealed.height,
        entry,
        header: sealed.header,
        finalization: sealed.finalization,
    }))
}

/// Most readings an anchor may cover for the API to rebuild its Merkle paths (a larger
/// anchor's readings are served without proofs).
const ANCHOR_PROVABLE_MAX: usize = 1 << 16;

/// The range `from..=to`, refused with a clear error when it is empty.
fn ordered(from_name: &str, from: u64, to_name: &str, to: u64) -> ApiResult<RangeInclusive<u64>> {
    if from > to {
        return Err(ApiError::invalid(format!("{from_name} ({from}) is after {to_name} ({to})")));
    }
    Ok(from..=to)
}

fn stream_of(device: &str, stream: &str) -> ApiResult<StreamKey> {
    Ok((parse("device id", device)?, parse("stream id", stream)?))
}

/// A stream's state: what the gateway stores and what the finalized chain has anchored.
pub(super) async fn stream(
    State(s): State<ApiState>,
    Path((device, stream)): Path<(String, String)>,
) -> ApiResult<Json<StreamView>> {
    let key = stream_of(&device, &stream)?;
    let stored = s.gateway.store.summary(&key);
    let snapshot = Snapshot::take(&s).await?;
    let anchored: StreamState =
        snapshot.get(&data_keys::stream(&key.0, key.1)).await?.unwrap_or_default();
    Ok(Json(StreamView {
        device: key.0,
        stream: key.1,
        stored: stored.stored as u64,
        first_stored_seq: stored.first_seq,
        last_stored_seq: stored.last_seq,
        anchors: anchored.anchors,
        anchored: anchored.readings,
        last_anchored_seq: anchored.last_seq,
        height: snapshot.height(),
    }))
}

pub(super) async fn readings(
    State(s): State<ApiState>,
    Path((device, stream)): Path<(String, String)>,
    query: Result<Query<ReadingsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Readings>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let key = stream_of(&device, &stream)?;
    let limit = q.limit.unwrap_or(READINGS_PER_QUERY_DEFAULT).min(READINGS_PER_QUERY_MAX) as usize;
    let seqs =
        ordered("from_seq", q.from_seq.unwrap_or(0), "to_seq", q.to_seq.unwrap_or(u64::MAX))?;
    let times =
        ordered("since_ms", q.since_ms.unwrap_or(0), "until_ms", q.until_ms.unwrap_or(u64::MAX))?;
    let entries = s.gateway.store.page(&key, seqs, times, limit);
    let seqs: Vec<u64> = entries.iter().map(|(seq, _)| *seq).collect();
    let last_anchored = {
        let snapshot = Snapshot::take(&s).await?;
        let state: Option<StreamState> = snapshot.get(&data_keys::stream(&key.0, key.1)).await?;
        state.and_then(|st| st.last_seq)
    };
    let bundles = if q.proofs.unwrap_or(true) {
        prove_readings(&s, key, &seqs).await?
    } else {
        vec![None; seqs.len()]
    };
    let mut out = Vec::with_capacity(entries.len());
    for ((seq, entry), bundle) in entries.iter().zip(bundles) {
        let Some(stored) = s.gateway.store.read(entry.position).await else { continue };
        out.push(ReadingEntry {
            seq: *seq,
            timestamp_ms: entry.timestamp_ms,
            encoded: hex(&stored.reading.encode()),
            reading: stored.reading,
            anchored: last_anchored.is_some_and(|last| *seq <= last),
            proof: bundle,
        });
    }
    Ok(Json(Readings { device: key.0, stream: key.1, readings: out }))
}

pub(super) async fn reading_proof(
    State(s): State<ApiState>,
    Path((device, stream, seq)): Path<(String, String, String)>,
) -> ApiResult<Json<ReadingBundle>> {
    let key = stream_of(&device, &stream)?;
    let seq: u64 = parse("sequence number", &seq)?;
    if s.gateway.store.entry(&key, seq).is_none() {
        return Err(ApiError::not_found(format!("no reading {seq} on this stream")));
    }
    prove_readings(&s, key, &[seq]).await?.pop().flatten().map(Json).ok_or_else(|| {
        ApiError::unavailable(format!("reading {seq} is not anchored in a finalized block yet"))
    })
}

/// Proof bundles of `seqs` (stored readings of `key`, ascending); `None` for readings not
/// yet covered by a finalized anchor.
async fn prove_readings(
    s: &ApiState,
    key: StreamKey,
    seqs: &[u64],
) -> ApiResult<Vec<Option<ReadingBundle>>> {
    let (device, stream) = key;
    let snapshot = Snapshot::take(s).await?;
    let state: StreamState =
        snapshot.get(&data_keys::stream(&device, stream)).await?.unwrap_or_default();
    let Some(last_anchored) = state.last_seq else { return Ok(vec![None; seqs.len()]) };
    let device_entry = snapshot.described(describe::device(&device)).await?;
    let Some(record) = device_entry
        .value
        .as_ref()
        .map(|v| machina_app::state::decode_value::<Device>(&device_entry.key, v))
    else {
        return Ok(vec![None; seqs.len()]);
    };
    let maker_entry = snapshot.described(describe::maker(&record.maker())).await?;
    let mut anchor: Option<(AnchorRecord, StateEntry)> = None;
    let mut paths = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        if seq > last_anchored {
            paths.push(None);
            continue;
        }
        if anchor.as_ref().is_none_or(|(a, _)| seq > a.last_seq || seq < a.first_seq) {
            anchor = find_anchor(&snapshot, &device, stream, state.anchors, seq).await?;
        }
        paths.push(
            anchor.as_ref().and_then(|(a, e)| merkle_path(s, key, a, seq).map(|p| (p, e.clone()))),
        );
    }
    let sealed = snapshot.seal(s).await?;
    let mut out = Vec::with_capacity(seqs.len());
    for (seq, path) in seqs.iter().zip(paths) {
        let Some((merkle, anchor)) = path else {
            out.push(None);
            continue;
        };
        let Some(entry) = s.gateway.store.entry(&key, *seq) else {
            out.push(None);
            continue;
        };
        let Some(stored) = s.gateway.store.read(entry.position).await else {
            out.push(None);
            continue;
        };
        out.push(Some(bundle(
            s,
            &sealed,
            &stored.reading,
            merkle,
            anchor,
            device_entry.clone(),
            maker_entry.clone(),
        )));
    }
    Ok(out)
}

fn bundle(
    s: &ApiState,
    sealed: &Sealed,
    reading: &machina_types::SignedReading,
    merkle: merkle::Proof,
    anchor: StateEntry,
    device: StateEntry,
    maker: StateEntry,
) -> ReadingBundle {
    ReadingBundle {
        chain_id: s.chain.genesis().chain_id.clone(),
        height: sealed.height,
        reading: hex(&reading.encode()),
        decoded: serde_json::to_value(reading).expect("serializable"),
        merkle,
        anchor,
        device,
        maker,
        header: sealed.header.clone(),
        finalization: sealed.finalization.clone(),
    }
}

/// The anchor of `device`'s `stream` covering `seq` (binary search over its `count` anchors).
async fn find_anchor(
    snapshot: &Snapshot<'_>,
    device: &DeviceId,
    stream: StreamId,
    count: u64,
    seq: u64,
) -> ApiResult<Option<(AnchorRecord, StateEntry)>> {
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(a) = snapshot.get::<AnchorRecord>(&data_keys::anchor(device, stream, mid)).await?
        else {
            return Ok(None);
        };
        if seq < a.first_seq {
            hi = mid;
        } else if seq > a.last_seq {
            lo = mid + 1;
        } else {
            let entry = snapshot.described(describe::anchor(device, stream, mid)).await?;
            return Ok(Some((a, entry)));
        }
    }
    Ok(None)
}

/// The Merkle path of `seq` in `anchor`, from the stored readings of its range (which must
/// reproduce the anchored root).
fn merkle_path(
    s: &ApiState,
    key: StreamKey,
    anchor: &AnchorRecord,
    seq: u64,
) -> Option<merkle::Proof> {
    let range = anchor.first_seq..=anchor.last_seq;
    let entries = s.gateway.store.entries_at_most(&key, range, ANCHOR_PROVABLE_MAX)?;
    let leaves: Vec<Hash> = entries.iter().map(|(_, e)| e.leaf).collect();
    if leaves.len() != anchor.count as usize || merkle::root(&leaves) != anchor.root {
        return None;
    }
    let index = entries.iter().position(|(q, _)| *q == seq)?;
    merkle::prove(&leaves, index)
}
