//! The explorer's routes: what the node indexed from finalized blocks (entities of every
//! kind with their recent activity, market clearings, feed values, recent transactions),
//! block pages, search and the genesis document.
//!
//! The index is built by each node from its finalized blocks (and rebuilt from them at
//! start); it is bounded: per kind the most recently active entities, per entity its most
//! recent activity, per market and feed the latest points (see the `*_MAX` constants).
//! Everything it shows links to state that carries proofs.

use machina_types::{Amount, Event, Hash, market::MarketId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the index tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// An account (any address that signed or took part in something).
    Account,
    /// A device maker (its account address).
    Maker,
    /// A device.
    Device,
    /// A market (resource kind and region).
    Market,
    /// A market offer.
    Offer,
    /// A consumer's intent.
    Intent,
    /// A lease.
    Lease,
    /// An oracle feed.
    Feed,
    /// A tokenized machine.
    Machine,
    /// A share offering.
    Offering,
    /// A machine's governance proposal.
    Proposal,
    /// A data product.
    Product,
    /// A data subscription.
    Subscription,
    /// A payment channel or stream.
    Channel,
    /// A reward pool.
    Pool,
    /// A bank asset.
    Asset,
    /// An NFT (usage rights and data assets among them).
    Nft,
    /// A multisig account.
    Multisig,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [Self; 18] = [
        Self::Account,
        Self::Maker,
        Self::Device,
        Self::Market,
        Self::Offer,
        Self::Intent,
        Self::Lease,
        Self::Feed,
        Self::Machine,
        Self::Offering,
        Self::Proposal,
        Self::Product,
        Self::Subscription,
        Self::Channel,
        Self::Pool,
        Self::Asset,
        Self::Nft,
        Self::Multisig,
    ];

    /// The name used in paths and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Maker => "maker",
            Self::Device => "device",
            Self::Market => "market",
            Self::Offer => "offer",
            Self::Intent => "intent",
            Self::Lease => "lease",
            Self::Feed => "feed",
            Self::Machine => "machine",
            Self::Offering => "offering",
            Self::Proposal => "proposal",
            Self::Product => "product",
            Self::Subscription => "subscription",
            Self::Channel => "channel",
            Self::Pool => "pool",
            Self::Asset => "asset",
            Self::Nft => "nft",
            Self::Multisig => "multisig",
        }
    }
}

impl std::str::FromStr for EntityKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or(())
    }
}

/// The explorer's own files, served at `/explorer/{file}`.
pub const ASSET_FILES: [&str; 3] = ["app.js", "app.css", "verify.js"];
/// The libraries it vendors, served at `/explorer/vendor/{file}`.
pub const VENDOR_FILES: [&str; 4] =
    ["uplot.min.js", "uplot.min.css", "noble-ed25519.js", "noble-hashes.js"];

/// Entities kept per kind (the least recently active beyond are forgotten).
pub const ENTITIES_PER_KIND_MAX: usize = 20_000;
/// Recent activity kept per entity.
pub const ACTIVITY_PER_ENTITY_MAX: usize = 32;
/// Activity records kept in all (older ones drop out of every entity's history).
pub const ACTIVITY_MAX: usize = 200_000;
/// Clearings kept per market.
pub const CLEARINGS_PER_MARKET_MAX: usize = 1024;
/// Values kept per feed.
pub const POINTS_PER_FEED_MAX: usize = 1024;
/// Recent transactions kept (for the overview).
pub const RECENT_TXS_MAX: usize = 20;
/// Most items one list query returns.
pub const LIST_MAX: u64 = 200;
/// Items a list query returns when it names no limit.
pub const LIST_DEFAULT: u64 = 50;
/// Longest search text.
pub const SEARCH_LEN_MAX: usize = 128;
/// Most search hits.
pub const SEARCH_HITS_MAX: usize = 20;

/// Query of the paginated lists: newest first, `before` the cursor a previous page returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct PageQuery {
    /// Items before this cursor (default: from the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Most items (default 50; more than 200 count as 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl PageQuery {
    /// The limit to apply.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(LIST_DEFAULT).clamp(1, LIST_MAX) as usize
    }
}

/// An entity as the index knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntitySummary {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id as the entity's own route takes it (hex or decimal).
    pub id: String,
    /// A name, where the chain has one (maker name, device name or model, asset symbol).
    pub label: Option<String>,
    /// A device's region (its `geohash` attribute).
    pub geohash: Option<String>,
    /// Height of its first activity seen.
    pub first_height: u64,
    /// Height of its latest activity.
    pub last_height: u64,
    /// Activity records seen in all.
    pub activity: u64,
    /// The cursor of this entity in its kind's list.
    pub cursor: u64,
}

/// `GET /v1/explorer/{kind}`: entities of a kind, most recently first seen first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityList {
    /// The kind.
    pub kind: EntityKind,
    /// Entities of this kind the index holds.
    pub total: u64,
    /// This page.
    pub entities: Vec<EntitySummary>,
    /// Cursor of the next page (`before`), if any.
    pub next: Option<u64>,
}

/// One thing that happened, as an entity's history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    /// Cursor (grows with time).
    pub cursor: u64,
    /// Block height.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: u64,
    /// The transaction, if a transaction did it (else a block-level step).
    pub tx: Option<Hash>,
    /// The event, for an event.
    pub event: Option<Event>,
    /// The transaction, for a transaction the entity signed.
    pub signed: Option<TxSummary>,
}

/// `GET /v1/explorer/{kind}/{id}`: an entity and its recent activity, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityHistory {
    /// The entity (`null`: the index holds nothing about it, e.g. an account that never
    /// signed or received anything, or one forgotten beyond the bounds).
    pub entity: Option<EntitySummary>,
    /// Its recent activity, newest first (at most 32 are kept).
    pub activity: Vec<Activity>,
}

/// A transaction in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxSummary {
    /// Hash.
    pub hash: Hash,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Signer.
    pub signer: machina_types::Address,
    /// Fee paid.
    pub fee: Amount,
    /// Whether its calls succeeded.
    pub success: bool,
    /// Its calls, as `module.op`.
    pub calls: Vec<String>,
}

/// A market's batch clearing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Clearing {
    /// Height of the block that cleared it.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: u64,
    /// The batch.
    pub batch: u64,
    /// Uniform price per unit.
    pub price: Amount,
    /// Units traded.
    pub units: u64,
    /// First lease made.
    pub first_lease: u64,
    /// Leases made.
    pub leases: u32,
    /// The solver whose solution cleared it (none: the built-in clearing).
    pub solver: Option<machina_types::Address>,
}

/// `GET /v1/markets/{id}/clearings`: a market's clearings, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketHistory {
    /// The market.
    pub market: MarketId,
    /// Its latest clearings (at most 1024), oldest first.
    pub clearings: Vec<Clearing>,
}

/// A feed's value at a height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedPoint {
    /// Height.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: u64,
    /// The value (`None`: too few fresh sources).
    pub value: Option<i64>,
    /// Fresh sources counted.
    pub sources: u8,
}

/// `GET /v1/feeds/{id}/values`: a feed's values, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedHistory {
    /// The feed.
    pub feed: u64,
    /// Its latest values (at most 1024), oldest first.
    pub points: Vec<FeedPoint>,
}

/// `GET /v1/explorer`: the chain at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    /// Finalized height.
    pub height: u64,
    /// Height the index has reached (it catches up after a start).
    pub indexed_height: u64,
    /// Entities held per kind.
    pub counts: BTreeMap<EntityKind, u64>,
    /// The latest transactions, newest first.
    pub recent_txs: Vec<TxSummary>,
    /// The latest clearings of every market, newest first, with their market.
    pub recent_clearings: Vec<MarketClearing>,
}

/// A clearing with its market.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketClearing {
    /// The market.
    pub market: MarketId,
    /// The clearing.
    #[serde(flatten)]
    pub clearing: Clearing,
}

/// `GET /v1/blocks`: finalized blocks, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockList {
    /// Headers of this page.
    pub blocks: Vec<crate::HeaderView>,
    /// Cursor of the next page (`before`), if any.
    pub next: Option<u64>,
}

/// Query of `GET /v1/search`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct SearchQuery {
    /// An id, address, hash, height or name (at most 128 bytes).
    pub q: String,
}

/// One search hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// What it is: an entity kind, `block` or `tx`.
    pub kind: String,
    /// Its id as its route takes it.
    pub id: String,
    /// A name, if it has one.
    pub label: Option<String>,
}

/// `GET /v1/search`: what the text names, best matches first (at most 20).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The text searched.
    pub q: String,
    /// Hits.
    pub hits: Vec<SearchHit>,
}
