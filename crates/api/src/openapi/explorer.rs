//! Routes of the explorer: its page and files, the index's lists and histories, market and
//! feed series, block pages, search and the genesis.

use super::{Op, Routes, hex32, path, query, text, u64_any, uint};
use crate::explorer::{
    ASSET_FILES, BlockList, EntityHistory, EntityKind, EntityList, FeedHistory, LIST_MAX,
    MarketHistory, Overview, SEARCH_LEN_MAX, SearchResults, VENDOR_FILES,
};
use machina_types::Genesis;
use utoipa::openapi::{
    HttpMethod::Get,
    Required,
    path::{ParameterBuilder, ParameterIn},
    schema::{ObjectBuilder, Type},
};

/// Registers the explorer's routes.
pub(super) fn register(r: &mut Routes) {
    page(r);
    index(r);
    chain(r);
}

fn page(r: &mut Routes) {
    let op = Op::new(
        "The explorer: pages for blocks, transactions, accounts, makers, devices (readings \
         chart, map), markets (price and volume history, book), leases, feeds and the other \
         entities, search, live updates from the event stream, and proofs verified in the \
         browser against the genesis validators.",
    )
    .answer(200, "HTML.", "text/html", Some(text()));
    r.add(Get, "/", op);
    let file = ObjectBuilder::new().schema_type(Type::String).examples(ASSET_FILES);
    let op = Op::new("A file of the explorer page (its scripts, styles and vendored libraries).")
        .param(path("file", "File name.", file))
        .answer(200, "The file (JavaScript or CSS).", "text/javascript", Some(text()))
        .fails(r, &[404]);
    r.add(Get, "/explorer/{file}", op);
    let file = ObjectBuilder::new().schema_type(Type::String).examples(VENDOR_FILES);
    let op = Op::new("A library the explorer page vendors (uPlot, noble ed25519 and hashes).")
        .param(path("file", "File name.", file))
        .answer(200, "The file (JavaScript or CSS).", "text/javascript", Some(text()))
        .fails(r, &[404]);
    r.add(Get, "/explorer/vendor/{file}", op);
}

fn page_params(op: Op) -> Op {
    op.param(query("before", "Items before this cursor (a previous page's `next`).", u64_any()))
        .param(query(
            "limit",
            &format!("Most items (default 50; at most {LIST_MAX})."),
            uint(LIST_MAX),
        ))
}

fn kind() -> utoipa::openapi::path::Parameter {
    let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.name()).collect();
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.clone()))
        .examples(names);
    path("kind", "Entity kind.", schema)
}

fn index(r: &mut Routes) {
    let overview = r.schema::<Overview>();
    let op = Op::new(
        "The chain at a glance: finalized and indexed heights, entities per kind, the latest \
         transactions and market clearings.",
    )
    .ok(200, "Overview.", overview)
    .fails(r, &[503]);
    r.add(Get, "/v1/explorer", op);
    let list = r.schema::<EntityList>();
    let op = Op::new(
        "Entities of a kind the index holds (the 20,000 most recently active per kind), \
         newest first.",
    )
    .param(kind());
    let op = page_params(op).ok(200, "A page.", list).fails(r, &[400, 503]);
    r.add(Get, "/v1/explorer/{kind}", op);
    let history = r.schema::<EntityHistory>();
    let id = ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9a-f]{1,64}$"));
    let op = Op::new(
        "An entity (first and last height seen, name, region) and its latest 32 activity \
         records (events naming it, transactions it signed), newest first; `entity` is null \
         when the index holds nothing about it.",
    )
    .param(kind())
    .param(path("id", "Its id as its own route takes it (hex or decimal).", id))
    .ok(200, "The entity.", history)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/explorer/{kind}/{id}", op);
    let clearings = r.schema::<MarketHistory>();
    let op = Op::new(
        "A market's latest 1,024 batch clearings, oldest first: price, units, leases, solver.",
    )
    .param(path("id", "Market id (hex).", hex32()))
    .ok(200, "Clearings.", clearings)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/markets/{id}/clearings", op);
    let values = r.schema::<FeedHistory>();
    let op = Op::new("A feed's latest 1,024 values, oldest first, with their fresh sources.")
        .param(path("id", "Feed id.", u64_any()))
        .ok(200, "Values.", values)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/feeds/{id}/values", op);
}

fn chain(r: &mut Routes) {
    let blocks = r.schema::<BlockList>();
    let op = page_params(Op::new("Finalized block headers, newest first (cursor: a height)."))
        .ok(200, "A page.", blocks)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/blocks", op);
    let results = r.schema::<SearchResults>();
    let q = ParameterBuilder::new()
        .name("q")
        .parameter_in(ParameterIn::Query)
        .required(Required::True)
        .description(Some(format!(
            "A height, transaction hash, block digest, address, device or market id, numeric \
             id, or part of a name (1 to {SEARCH_LEN_MAX} bytes)."
        )))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(SEARCH_LEN_MAX))
                .examples(["1", "weather", "dev"]),
        ))
        .build();
    let op = Op::new(
        "What a text names: the block at a height or digest, a transaction, entities with that \
         id, entities whose name contains it (at most 20 hits).",
    )
    .param(q)
    .ok(200, "Hits.", results)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/search", op);
    let genesis = r.schema::<Genesis>();
    let op = Op::new(
        "The genesis document: chain id, validators, parameters. Proofs verify against its \
         validators.",
    )
    .ok(200, "Genesis.", genesis)
    .fails(r, &[503]);
    r.add(Get, "/v1/genesis", op);
}
