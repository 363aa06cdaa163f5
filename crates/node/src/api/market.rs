//! The market: batch schedule, markets and their books, orders, leases, stakes, solutions.
//! Everything is read from the latest finalized state.

use super::{ApiState, error::ApiError, proofs::Snapshot};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use machina_api::{
    AccountLeases, AccountStake, BookOffer, LeasesQuery, MarketBook, MarketOverview, MarketSummary,
    Solutions,
    market::{LEASES_PER_QUERY_DEFAULT, LEASES_PER_QUERY_MAX},
};
use machina_app::modules::{
    identity::{keys as identity_keys, state::Device},
    market::{
        self, keys,
        state::{
            ActiveMarkets, Counters, Intent, Lease, MarketRecord, Offer, OrderStatus, Solution,
            SolutionIndex, Stake, Totals,
        },
    },
    ownership::{
        self,
        state::{DeviceRights, UsageRight},
    },
};
use machina_types::{
    Address,
    market::{MarketId, StakeKind},
};

type ApiResult<T> = Result<T, ApiError>;

/// Parses a path parameter, refusing it with `invalid_parameter` naming `what`.
pub(super) fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

/// `GET /v1/market`: the batch schedule, parameters, totals and the active markets.
pub(super) async fn overview(State(s): State<ApiState>) -> ApiResult<Json<MarketOverview>> {
    let snapshot = Snapshot::take(&s).await?;
    let params = s.chain.genesis().params.market.clone();
    let height = snapshot.height();
    let interval = params.auction_interval_blocks;
    let active: ActiveMarkets = snapshot.get(&keys::active_markets()).await?.unwrap_or_default();
    let mut markets = Vec::with_capacity(active.markets.len());
    for id in &active.markets {
        if let Some(record) = snapshot.get::<MarketRecord>(&keys::market(id)).await? {
            markets.push(MarketSummary::from(&record));
        }
    }
    let totals: Totals = snapshot.get(&keys::totals()).await?.unwrap_or_default();
    let counters: Counters = snapshot.get(&keys::counters()).await?.unwrap_or_default();
    Ok(Json(MarketOverview {
        height,
        batch: height / interval,
        next_clearing_height: (height / interval + 1) * interval,
        params,
        markets,
        totals,
        offers: counters.next_offer - 1,
        intents: counters.next_intent - 1,
        leases: counters.next_lease - 1,
    }))
}

/// `GET /v1/markets/{id}`: a market and its open book: intents (highest limit first) and
/// offers (lowest floor first) with their providers' reputation and whether they may sell.
pub(super) async fn book(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MarketBook>> {
    let id: MarketId = parse("market id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let record: MarketRecord = snapshot
        .get(&keys::market(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no market {id}")))?;
    let now = s.chain.tip().map_or(0, |t| t.header.timestamp_ms);
    let min_stake = s.chain.genesis().params.market.min_provider_stake;
    let mut intents: Vec<Intent> = Vec::new();
    for slot in record.intents.head..record.intents.tail {
        let Some(intent_id) = snapshot.get::<u64>(&keys::intent_slot(&id, slot)).await? else {
            continue;
        };
        if let Some(intent) = snapshot.get::<Intent>(&keys::intent(intent_id)).await?
            && intent.status == OrderStatus::Open
            && intent.deadline_ms > now
        {
            intents.push(intent);
        }
    }
    intents.sort_by(|a, b| b.max_price.cmp(&a.max_price).then(a.tiebreak.cmp(&b.tiebreak)));
    let mut offers: Vec<BookOffer> = Vec::new();
    for slot in record.offers.head..record.offers.tail {
        let Some(offer_id) = snapshot.get::<u64>(&keys::offer_slot(&id, slot)).await? else {
            continue;
        };
        let Some(offer) = snapshot.get::<Offer>(&keys::offer(offer_id)).await? else { continue };
        if offer.status != OrderStatus::Open || offer.expiry_ms <= now {
            continue;
        }
        let device: Option<Device> = snapshot.get(&identity_keys::device(&offer.device)).await?;
        let stake: Stake = snapshot
            .get(&keys::stake(StakeKind::Provider, &offer.seller))
            .await?
            .unwrap_or_default();
        let reputation = device.as_ref().map(market::reputation);
        let active = device.as_ref().is_some_and(|d| d.status.refusal().is_none());
        let reserved = reserved(&snapshot, &offer, now).await?;
        let saleable = active && stake.bonded >= min_stake && reserved < offer.capacity;
        offers.push(BookOffer { offer, reputation, reserved, saleable });
    }
    offers.sort_by(|a, b| {
        let (a, b) = (&a.offer, &b.offer);
        a.floor_price.cmp(&b.floor_price).then(a.tiebreak.cmp(&b.tiebreak))
    });
    Ok(Json(MarketBook { market: MarketSummary::from(&record), intents, offers }))
}

/// Units of `offer`'s kind its device's usage rights keep from the market at `now` (as the
/// clearing counts them).
async fn reserved(snapshot: &Snapshot<'_>, offer: &Offer, now: u64) -> ApiResult<u64> {
    let rights: Option<DeviceRights> =
        snapshot.get(&ownership::keys::device_rights(&offer.device)).await?;
    let mut total: u64 = 0;
    for nft in rights.map(|r| r.rights).unwrap_or_default() {
        if let Some(right) = snapshot.get::<UsageRight>(&ownership::keys::right(nft)).await?
            && right.kind == offer.kind
        {
            total = total.saturating_add(right.reserved(now));
        }
    }
    Ok(total)
}

/// `GET /v1/offers/{id}`.
pub(super) async fn offer(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Offer>> {
    record(&s, keys::offer(parse("offer id", &id)?), "offer", &id).await
}

/// `GET /v1/intents/{id}`.
pub(super) async fn intent(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Intent>> {
    record(&s, keys::intent(parse("intent id", &id)?), "intent", &id).await
}

/// `GET /v1/leases/{id}`.
pub(super) async fn lease(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Lease>> {
    record(&s, keys::lease(parse("lease id", &id)?), "lease", &id).await
}

/// `GET /v1/proofs/leases/{id}`: the lease's proof (`market/lease/<id>`).
pub(super) async fn lease_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<machina_store::ProofBundle>> {
    super::rewards::prove(&s, machina_app::describe::lease(parse("lease id", &id)?)).await
}

/// The record at `key`, or 404 naming `what` and `id`.
pub(super) async fn record<T: commonware_codec::Decode<Cfg = ()>>(
    s: &ApiState,
    key: machina_app::Key,
    what: &str,
    id: &str,
) -> ApiResult<Json<T>> {
    let snapshot = Snapshot::take(s).await?;
    snapshot
        .get(&key)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no {what} {id}")))
}

/// `GET /v1/accounts/{address}/leases`: the account's leases (as consumer or seller), newest
/// first.
pub(super) async fn account_leases(
    State(s): State<ApiState>,
    Path(address): Path<String>,
    query: Result<Query<LeasesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AccountLeases>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let address: Address = parse("address", &address)?;
    let snapshot = Snapshot::take(&s).await?;
    let count: u64 = snapshot.get(&keys::lease_count(&address)).await?.unwrap_or(0);
    let limit = q.limit.unwrap_or(LEASES_PER_QUERY_DEFAULT).min(LEASES_PER_QUERY_MAX);
    let mut leases = Vec::new();
    for index in (count.saturating_sub(limit)..count).rev() {
        let Some(id) = snapshot.get::<u64>(&keys::account_lease(&address, index)).await? else {
            continue;
        };
        if let Some(lease) = snapshot.get::<Lease>(&keys::lease(id)).await? {
            leases.push(lease);
        }
    }
    Ok(Json(AccountLeases { account: address, total: count, leases }))
}

/// `GET /v1/accounts/{address}/stake`: provider and solver stake.
pub(super) async fn stake(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<AccountStake>> {
    let address: Address = parse("address", &address)?;
    let snapshot = Snapshot::take(&s).await?;
    let provider: Stake =
        snapshot.get(&keys::stake(StakeKind::Provider, &address)).await?.unwrap_or_default();
    let solver: Stake =
        snapshot.get(&keys::stake(StakeKind::Solver, &address)).await?.unwrap_or_default();
    Ok(Json(AccountStake { account: address, provider, solver }))
}

/// `GET /v1/market/batches/{batch}/solutions`: the solutions submitted for a batch.
pub(super) async fn solutions(
    State(s): State<ApiState>,
    Path(batch): Path<String>,
) -> ApiResult<Json<Solutions>> {
    let batch: u64 = parse("batch", &batch)?;
    let snapshot = Snapshot::take(&s).await?;
    let index: SolutionIndex =
        snapshot.get(&keys::solution_index(batch)).await?.unwrap_or_default();
    let mut out = Vec::new();
    for index in 0..index.entries.len() as u32 {
        if let Some(solution) = snapshot.get::<Solution>(&keys::solution(batch, index)).await? {
            out.push(solution);
        }
    }
    Ok(Json(Solutions { batch, solutions: out }))
}
