//! The explorer: its page and assets, and the routes it reads beyond the entities' own
//! (the index's lists and histories, market and feed series, block pages, search, the
//! genesis for verifying proofs in the browser).
//!
//! The page is plain HTML, CSS and JavaScript modules under `api/explorer/`, compiled into
//! the binary: nothing but cargo builds or serves it (see `api/explorer/README.md`).

use super::{ApiState, error::ApiError, handlers::parse};
use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header,
    response::IntoResponse,
};
use commonware_consensus::{marshal::Identifier, types::Height};
use machina_api::{
    HeaderView,
    explorer::{
        BlockList, EntityHistory, EntityKind, EntityList, FeedHistory, MarketHistory, Overview,
        PageQuery, SEARCH_LEN_MAX, SearchHit, SearchQuery, SearchResults,
    },
};
use machina_types::{Genesis, Hash, market::MarketId};

type ApiResult<T> = Result<T, ApiError>;

/// Longest entity id in a path (an address or hash in hex).
const ID_LEN_MAX: usize = 64;

/// The explorer's own files ([`machina_api::explorer::ASSET_FILES`]): name, type, bytes.
const ASSETS: [File; 3] = [
    ("app.js", JS, include_bytes!("explorer/app.js")),
    ("app.css", CSS, include_bytes!("explorer/app.css")),
    ("verify.js", JS, include_bytes!("explorer/verify.js")),
];
/// The libraries it vendors ([`machina_api::explorer::VENDOR_FILES`]).
const VENDOR: [File; 4] = [
    ("uplot.min.js", JS, include_bytes!("explorer/vendor/uplot.min.js")),
    ("uplot.min.css", CSS, include_bytes!("explorer/vendor/uplot.min.css")),
    ("noble-ed25519.js", JS, include_bytes!("explorer/vendor/noble-ed25519.js")),
    ("noble-hashes.js", JS, include_bytes!("explorer/vendor/noble-hashes.js")),
];
const JS: &str = "text/javascript";
const CSS: &str = "text/css";

/// `GET /`: the explorer page.
pub(super) async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("explorer/index.html"))
}

/// `GET /explorer/{file}`: the page's scripts and styles.
pub(super) async fn asset(Path(file): Path<String>) -> ApiResult<impl IntoResponse> {
    serve(&ASSETS, &file)
}

/// `GET /explorer/vendor/{file}`: the libraries the page vendors.
pub(super) async fn vendor(Path(file): Path<String>) -> ApiResult<impl IntoResponse> {
    serve(&VENDOR, &file)
}

/// A file of the page: name, content type, bytes.
type File = (&'static str, &'static str, &'static [u8]);

fn serve(files: &[File], file: &str) -> ApiResult<impl IntoResponse + use<>> {
    let (_, content_type, bytes) = files
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found(format!("no explorer file {file:?}")))?;
    Ok(([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *bytes))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query.map(|Query(q)| q).map_err(|e| ApiError::invalid(e.body_text()))
}

fn kind(text: &str) -> ApiResult<EntityKind> {
    parse("entity kind", text)
}

/// `GET /v1/explorer`: counts, latest transactions and clearings.
pub(super) async fn overview(State(s): State<ApiState>) -> Json<Overview> {
    Json(s.index.overview(s.chain.height()))
}

/// `GET /v1/explorer/{kind}`: the entities of a kind, newest first.
pub(super) async fn list(
    State(s): State<ApiState>,
    Path(k): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<EntityList>> {
    let (kind, page) = (kind(&k)?, query(q)?);
    Ok(Json(s.index.list(kind, page.before, page.limit())))
}

/// `GET /v1/explorer/{kind}/{id}`: an entity and its recent activity.
pub(super) async fn history(
    State(s): State<ApiState>,
    Path((k, id)): Path<(String, String)>,
) -> ApiResult<Json<EntityHistory>> {
    let kind = kind(&k)?;
    if id.len() > ID_LEN_MAX {
        return Err(ApiError::invalid(format!("an id has at most {ID_LEN_MAX} characters")));
    }
    Ok(Json(
        s.index.history(kind, &id).unwrap_or(EntityHistory { entity: None, activity: Vec::new() }),
    ))
}

/// `GET /v1/markets/{id}/clearings`: a market's clearings.
pub(super) async fn clearings(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MarketHistory>> {
    let market: MarketId = parse("market id", &id)?;
    let clearings = s.index.clearings(&market.to_string());
    Ok(Json(MarketHistory { market, clearings }))
}

/// `GET /v1/feeds/{id}/values`: a feed's values.
pub(super) async fn feed_values(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<FeedHistory>> {
    let feed: u64 = parse("feed id", &id)?;
    Ok(Json(FeedHistory { feed, points: s.index.feed_points(feed) }))
}

/// `GET /v1/blocks`: finalized headers, newest first.
pub(super) async fn blocks(
    State(s): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<BlockList>> {
    let page = query(q)?;
    let tip = s.chain.height();
    let start = page.before.unwrap_or(u64::MAX).min(tip.saturating_add(1));
    let mut blocks = Vec::with_capacity(page.limit());
    let mut height = start;
    while height > 1 && blocks.len() < page.limit() {
        height -= 1;
        if let Some(block) = s.marshal.get_block(Identifier::Height(Height::new(height))).await {
            blocks.push(HeaderView::from(&block.inner().header));
        }
    }
    let next = (height > 1).then_some(height);
    Ok(Json(BlockList { blocks, next }))
}

/// `GET /v1/search`: blocks, transactions and entities the text names.
pub(super) async fn search(
    State(s): State<ApiState>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<SearchResults>> {
    let q = query(q)?.q.trim().to_string();
    if q.is_empty() || q.len() > SEARCH_LEN_MAX {
        return Err(ApiError::invalid(format!("search text of 1 to {SEARCH_LEN_MAX} bytes")));
    }
    let mut hits = Vec::new();
    if let Ok(height) = q.parse::<u64>()
        && (1..=s.chain.height()).contains(&height)
    {
        hits.push(SearchHit { kind: "block".into(), id: height.to_string(), label: None });
    }
    if let Ok(hash) = q.parse::<Hash>() {
        let key = machina_app::exec::keys::receipt(&hash);
        if super::handlers::read_raw(&s, &key).await?.is_some() {
            hits.push(SearchHit { kind: "tx".into(), id: hash.to_string(), label: None });
        }
    }
    hits.extend(s.index.search(&q));
    if hits.is_empty() && q.parse::<machina_types::Address>().is_ok() {
        // Any address is an account, seen by the index or not.
        hits.push(SearchHit { kind: "account".into(), id: q.clone(), label: None });
    }
    hits.truncate(machina_api::explorer::SEARCH_HITS_MAX);
    Ok(Json(SearchResults { q, hits }))
}

/// `GET /v1/genesis`: the genesis document (validators, parameters).
pub(super) async fn genesis(State(s): State<ApiState>) -> Json<Genesis> {
    Json((**s.chain.genesis()).clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_documented_file_is_served() {
        let names = |files: &[super::File]| -> Vec<String> {
            files.iter().map(|(name, _, _)| name.to_string()).collect()
        };
        assert_eq!(names(&super::ASSETS), machina_api::explorer::ASSET_FILES);
        assert_eq!(names(&super::VENDOR), machina_api::explorer::VENDOR_FILES);
    }
}
