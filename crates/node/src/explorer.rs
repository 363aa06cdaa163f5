//! The explorer's index: what the node's finalized blocks say about each entity.
//!
//! A task reads every finalized block in order (from the event stream, or from storage when
//! it starts or falls behind) and records, per entity it names (accounts, makers, devices,
//! markets, offers, intents, leases, feeds, machines, offerings, proposals, products,
//! subscriptions, channels, pools, assets, NFTs, multisigs), when it was first and last seen
//! and its recent activity; per market its clearings, per feed its values; the latest
//! transactions. Entities are found in events by their field names, so a new event is
//! indexed without code here.
//!
//! Everything is bounded ([`machina_api::explorer`]'s `*_MAX`): per kind the most recently
//! active entities, per entity the latest activity (records live in one ring shared by all
//! entities), per market and feed the latest points. Nothing here is consensus state: the
//! index is rebuilt from the blocks at every start, and the pages link each value to its
//! proof.

use crate::chain::{ChainInfo, FinalizedBlock};
use machina_api::explorer::{
    ACTIVITY_MAX, ACTIVITY_PER_ENTITY_MAX, Activity, CLEARINGS_PER_MARKET_MAX, Clearing,
    ENTITIES_PER_KIND_MAX, EntityHistory, EntityKind, EntityList, EntitySummary, FeedPoint,
    MarketClearing, Overview, POINTS_PER_FEED_MAX, RECENT_TXS_MAX, SEARCH_HITS_MAX, SearchHit,
    TxSummary,
};
use machina_types::{
    BankCall, Call, DataCall, Event, Hash, IdentityCall, Outcome, SignedTransaction,
    bank::BankEvent, data::DataEvent, market::MarketEvent,
};
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Arc, RwLock},
};

/// The subsystem name of the index in `/health`.
pub const SUBSYSTEM: &str = "explorer_index";

/// Leases of one clearing indexed as entities (a larger clearing indexes its first ones).
const LEASES_PER_CLEARING_MAX: u64 = 1024;
/// Block digests remembered for search.
const DIGESTS_MAX: usize = 100_000;
/// Clearings shown on the overview.
const RECENT_CLEARINGS: usize = 20;

/// The kind of entity an event field names, for fields holding an address or an id.
fn field_kind(module: &str, action: &str, field: &str) -> Option<EntityKind> {
    use EntityKind::*;
    Some(match field {
        "device" => Device,
        "maker" => Maker,
        "market" => Market,
        "offer" => Offer,
        "intent" => Intent,
        "lease" | "first_lease" => Lease,
        "feed" => Feed,
        "machine" => Machine,
        "offering" => Offering,
        "proposal" if module == "ownership" => Proposal,
        "product" => Product,
        "subscription" => Subscription,
        "channel" => Channel,
        "pool" => Pool,
        "asset" if module == "bank" => Asset,
        "id" if module == "bank" && action.starts_with("nft") => Nft,
        "right" => Nft,
        "multisig" => Multisig,
        "to" | "from" | "account" | "proposer" | "holder" | "buyer" | "voter" | "treasury"
        | "subscriber" | "solver" | "seller" | "payer" | "payee" | "owner" | "member"
        | "issuer" | "guardian" | "funder" | "creator" | "consumer" | "by" => Account,
        _ => return None,
    })
}

/// An id as its route takes it: hex strings as they are, numbers in decimal.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// The entities an event names.
fn mentions(event: &Event) -> Vec<(EntityKind, String)> {
    let Ok(Value::Object(fields)) = serde_json::to_value(event) else { return Vec::new() };
    let module = fields.get("event").and_then(Value::as_str).unwrap_or_default().to_string();
    let action = fields.get("action").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut found = Vec::new();
    for (field, value) in &fields {
        if let Some(kind) = field_kind(&module, &action, field)
            && let Some(id) = id_text(value)
        {
            found.push((kind, id));
        }
        // A maker is an account too.
        if field == "maker"
            && let Some(id) = id_text(value)
        {
            found.push((EntityKind::Account, id));
        }
    }
    if let Event::Market(MarketEvent::MarketCleared { first_lease, leases, .. }) = event {
        let last = first_lease.saturating_add(u64::from(*leases).min(LEASES_PER_CLEARING_MAX));
        found.extend(
            (first_lease.saturating_add(1)..last).map(|l| (EntityKind::Lease, l.to_string())),
        );
    }
    found.sort();
    found.dedup();
    found
}

/// `module.op` of a call (the op as the call's JSON names it).
fn call_name(call: &Call) -> String {
    let value = serde_json::to_value(call).unwrap_or_default();
    format!("{}.{}", call.module(), value["call"]["op"].as_str().unwrap_or("?"))
}

#[derive(Default)]
struct Entity {
    cursor: u64,
    first_height: u64,
    last_height: u64,
    label: Option<String>,
    geohash: Option<String>,
    activity: u64,
    recent: VecDeque<u64>,
}

#[derive(Default)]
struct Kind {
    entities: HashMap<String, Entity>,
    /// Cursor -> id, for lists.
    by_cursor: BTreeMap<u64, String>,
    /// (last height, cursor), for forgetting the least recently active.
    by_activity: BTreeSet<(u64, u64)>,
    next_cursor: u64,
}

impl Kind {
    /// The entity `id`, created if new (forgetting the least recently active beyond the
    /// bound), marked active at `height`.
    fn touch(&mut self, id: &str, height: u64) -> &mut Entity {
        if !self.entities.contains_key(id) {
            if self.entities.len() >= ENTITIES_PER_KIND_MAX
                && let Some((_, cursor)) = self.by_activity.pop_first()
                && let Some(old) = self.by_cursor.remove(&cursor)
            {
                self.entities.remove(&old);
            }
            self.next_cursor += 1;
            let cursor = self.next_cursor;
            self.by_cursor.insert(cursor, id.to_string());
            self.by_activity.insert((height, cursor));
            let entity =
                Entity { cursor, first_height: height, last_height: height, ..Default::default() };
            self.entities.insert(id.to_string(), entity);
        }
        let entity = self.entities.get_mut(id).expect("inserted above");
        if entity.last_height != height {
            self.by_activity.remove(&(entity.last_height, entity.cursor));
            self.by_activity.insert((height, entity.cursor));
            entity.last_height = height;
        }
        entity
    }
}

/// What the index holds.
#[derive(Default)]
struct Inner {
    indexed: u64,
    kinds: BTreeMap<EntityKind, Kind>,
    /// The activity ring: record `base + i` at position `i`.
    records: VecDeque<Arc<Activity>>,
    base: u64,
    clearings: HashMap<String, VecDeque<Clearing>>,
    recent_clearings: VecDeque<MarketClearing>,
    feeds: HashMap<u64, VecDeque<FeedPoint>>,
    txs: VecDeque<TxSummary>,
    digests: HashMap<Hash, u64>,
    digest_order: VecDeque<Hash>,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, max: usize) {
    queue.push_back(item);
    while queue.len() > max {
        queue.pop_front();
    }
}

impl Inner {
    fn record(&mut self, activity: Activity, entities: &[(EntityKind, String)]) {
        let cursor = self.base + self.records.len() as u64;
        let height = activity.height;
        self.records.push_back(Arc::new(Activity { cursor, ..activity }));
        if self.records.len() > ACTIVITY_MAX {
            self.records.pop_front();
            self.base += 1;
        }
        for (kind, id) in entities {
            let entity = self.kinds.entry(*kind).or_default().touch(id, height);
            entity.activity += 1;
            push_bounded(&mut entity.recent, cursor, ACTIVITY_PER_ENTITY_MAX);
        }
    }

    fn label(&mut self, kind: EntityKind, id: &str, height: u64, label: &str) {
        self.kinds.entry(kind).or_default().touch(id, height).label = Some(label.to_string());
    }

    /// Names and regions the block's successful calls give entities.
    fn labels(&mut self, height: u64, signer: &machina_types::Address, call: &Call) {
        match call {
            Call::Identity(IdentityCall::RegisterMaker { name, .. }) => {
                self.label(EntityKind::Maker, &signer.to_string(), height, name);
            }
            Call::Identity(IdentityCall::OnboardDevice { certificate, .. }) => {
                let id = certificate.device_id().to_string();
                let device = self.kinds.entry(EntityKind::Device).or_default().touch(&id, height);
                device.label.get_or_insert_with(|| certificate.body.model.clone());
            }
            Call::Identity(IdentityCall::SetAttribute { device, key, value: Some(value) }) => {
                let device = self
                    .kinds
                    .entry(EntityKind::Device)
                    .or_default()
                    .touch(&device.to_string(), height);
                match key.as_str() {
                    "name" => device.label = Some(value.clone()),
                    "geohash" => device.geohash = Some(value.clone()),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Names of the assets and feeds a transaction created: its creating calls and their
    /// creation events come in the same order.
    fn created_names(&mut self, height: u64, calls: &[Call], events: &[Event]) {
        let mut assets = calls.iter().filter_map(|c| match c {
            Call::Bank(BankCall::CreateAsset { symbol, .. }) => Some(symbol),
            _ => None,
        });
        let mut feeds = calls.iter().filter_map(|c| match c {
            Call::Data(DataCall::CreateFeed { name, .. }) => Some(name),
            _ => None,
        });
        for event in events {
            let (kind, id, name) = match event {
                Event::Bank(BankEvent::AssetCreated { asset, .. }) => {
                    (EntityKind::Asset, asset.to_string(), assets.next())
                }
                Event::Data(DataEvent::FeedCreated { feed, .. }) => {
                    (EntityKind::Feed, feed.to_string(), feeds.next())
                }
                _ => continue,
            };
            if let Some(name) = name {
                self.label(kind, &id, height, name);
            }
        }
    }

    fn apply(&mut self, block: &FinalizedBlock, txs: &[SignedTransaction]) {
        let height = block.header.height;
        let time_ms = block.header.timestamp_ms;
        self.digests.insert(block.digest, height);
        self.digest_order.push_back(block.digest);
        if self.digest_order.len() > DIGESTS_MAX
            && let Some(oldest) = self.digest_order.pop_front()
        {
            self.digests.remove(&oldest);
        }
        for (i, receipt) in block.receipts.iter().enumerate() {
            let tx = txs.get(i);
            let calls: Vec<String> =
                tx.map(|tx| tx.tx.calls.iter().map(call_name).collect()).unwrap_or_default();
            let success = matches!(receipt.outcome, Outcome::Success);
            let summary = TxSummary {
                hash: receipt.tx_hash,
                height,
                index: receipt.index,
                signer: receipt.signer,
                fee: receipt.fee,
                success,
                calls,
            };
            push_bounded(&mut self.txs, summary.clone(), RECENT_TXS_MAX);
            let signer = (EntityKind::Account, receipt.signer.to_string());
            let activity = Activity {
                cursor: 0,
                height,
                time_ms,
                tx: Some(receipt.tx_hash),
                event: None,
                signed: Some(summary),
            };
            self.record(activity, std::slice::from_ref(&signer));
            if success && let Some(tx) = tx {
                for call in &tx.tx.calls {
                    self.labels(height, &receipt.signer, call);
                }
                self.created_names(height, &tx.tx.calls, &receipt.events);
            }
            for event in &receipt.events {
                self.event(height, time_ms, Some(receipt.tx_hash), event);
            }
        }
        for event in block.events.iter() {
            self.event(height, time_ms, None, event);
        }
        self.indexed = height;
    }

    fn event(&mut self, height: u64, time_ms: u64, tx: Option<Hash>, event: &Event) {
        match event {
            Event::Market(MarketEvent::MarketCleared {
                batch,
                market,
                price,
                units,
                first_lease,
                leases,
                solver,
            }) => {
                let clearing = Clearing {
                    height,
                    time_ms,
                    batch: *batch,
                    price: *price,
                    units: *units,
                    first_lease: *first_lease,
                    leases: *leases,
                    solver: *solver,
                };
                let series = self.clearings.entry(market.to_string()).or_default();
                push_bounded(series, clearing.clone(), CLEARINGS_PER_MARKET_MAX);
                let recent = MarketClearing { market: *market, clearing };
                push_bounded(&mut self.recent_clearings, recent, RECENT_CLEARINGS);
            }
            Event::Data(DataEvent::FeedUpdated { feed, value, sources }) => {
                let point = FeedPoint { height, time_ms, value: *value, sources: *sources };
                push_bounded(self.feeds.entry(*feed).or_default(), point, POINTS_PER_FEED_MAX);
            }
            _ => {}
        }
        let named = mentions(event);
        let activity =
            Activity { cursor: 0, height, time_ms, tx, event: Some(event.clone()), signed: None };
        self.record(activity, &named);
    }

    fn summary(&self, kind: EntityKind, id: &str, entity: &Entity) -> EntitySummary {
        EntitySummary {
            kind,
            id: id.to_string(),
            label: entity.label.clone(),
            geohash: entity.geohash.clone(),
            first_height: entity.first_height,
            last_height: entity.last_height,
            activity: entity.activity,
            cursor: entity.cursor,
        }
    }
}

/// The index, shared by the indexing task and the API.
#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
}

impl Index {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a finalized block and its transactions (blocks come in height order).
    pub fn apply(&self, block: &FinalizedBlock, txs: &[SignedTransaction]) {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if block.header.height > inner.indexed {
            inner.apply(block, txs);
        }
    }

    /// The last height indexed.
    pub fn indexed(&self) -> u64 {
        self.read().indexed
    }

    /// Entities of `kind`, most recently first seen first, before cursor `before`.
    pub fn list(&self, kind: EntityKind, before: Option<u64>, limit: usize) -> EntityList {
        let inner = self.read();
        let Some(k) = inner.kinds.get(&kind) else {
            return EntityList { kind, total: 0, entities: Vec::new(), next: None };
        };
        let entities: Vec<EntitySummary> = k
            .by_cursor
            .range(..before.unwrap_or(u64::MAX))
            .rev()
            .take(limit)
            .filter_map(|(_, id)| k.entities.get(id).map(|e| inner.summary(kind, id, e)))
            .collect();
        let next = match entities.last() {
            Some(last)
                if entities.len() == limit && k.by_cursor.range(..last.cursor).next().is_some() =>
            {
                Some(last.cursor)
            }
            _ => None,
        };
        EntityList { kind, total: k.entities.len() as u64, entities, next }
    }

    /// An entity with its recent activity, newest first.
    pub fn history(&self, kind: EntityKind, id: &str) -> Option<EntityHistory> {
        let inner = self.read();
        let entity = inner.kinds.get(&kind)?.entities.get(id)?;
        let activity = entity
            .recent
            .iter()
            .rev()
            .filter_map(|cursor| cursor.checked_sub(inner.base))
            .filter_map(|i| inner.records.get(i as usize))
            .map(|a| (**a).clone())
            .collect();
        Some(EntityHistory { entity: Some(inner.summary(kind, id, entity)), activity })
    }

    /// A market's clearings, oldest first.
    pub fn clearings(&self, market: &str) -> Vec<Clearing> {
        self.read().clearings.get(market).map(|c| c.iter().cloned().collect()).unwrap_or_default()
    }

    /// A feed's values, oldest first.
    pub fn feed_points(&self, feed: u64) -> Vec<FeedPoint> {
        self.read().feeds.get(&feed).map(|c| c.iter().cloned().collect()).unwrap_or_default()
    }

    /// The overview: counts, the latest transactions and clearings.
    pub fn overview(&self, height: u64) -> Overview {
        let inner = self.read();
        Overview {
            height,
            indexed_height: inner.indexed,
            counts: inner.kinds.iter().map(|(k, v)| (*k, v.entities.len() as u64)).collect(),
            recent_txs: inner.txs.iter().rev().cloned().collect(),
            recent_clearings: inner.recent_clearings.iter().rev().cloned().collect(),
        }
    }

    /// Entities, blocks and names `q` matches (at most [`SEARCH_HITS_MAX`]): an exact id of
    /// any kind, a block digest, then names containing `q` (case-insensitive).
    pub fn search(&self, q: &str) -> Vec<SearchHit> {
        let inner = self.read();
        let mut hits = Vec::new();
        if let Ok(hash) = q.parse::<Hash>()
            && let Some(height) = inner.digests.get(&hash)
        {
            hits.push(SearchHit { kind: "block".into(), id: height.to_string(), label: None });
        }
        for (kind, k) in &inner.kinds {
            if let Some(e) = k.entities.get(q) {
                hits.push(SearchHit {
                    kind: kind.name().into(),
                    id: q.into(),
                    label: e.label.clone(),
                });
            }
        }
        let needle = q.to_lowercase();
        'names: for (kind, k) in &inner.kinds {
            for (id, e) in &k.entities {
                if hits.len() >= SEARCH_HITS_MAX {
                    break 'names;
                }
                if e.label.as_ref().is_some_and(|l| l.to_lowercase().contains(&needle))
                    && !hits.iter().any(|h| h.kind == kind.name() && &h.id == id)
                {
                    hits.push(SearchHit {
                        kind: kind.name().into(),
                        id: id.clone(),
                        label: e.label.clone(),
                    });
                }
            }
        }
        hits.truncate(SEARCH_HITS_MAX);
        hits
    }
}

/// Where the index reads what the event stream does not carry or skipped: marshal's blocks
/// and the state's receipts and block-level events.
pub struct Source {
    /// Finalized blocks.
    pub marshal: crate::engine::Marshal,
    /// The finalized state.
    pub db: crate::application::Databases<commonware_runtime::tokio::Context>,
}

impl Source {
    async fn block(&self, height: u64) -> Option<machina_types::block::Block> {
        use commonware_consensus::{marshal::Identifier, types::Height};
        let block = self.marshal.get_block(Identifier::Height(Height::new(height))).await?;
        Some(block.inner().clone())
    }

    /// Finalized block `height` with its receipts and block-level events, and its
    /// transactions.
    async fn load(&self, height: u64) -> Option<(FinalizedBlock, Vec<SignedTransaction>)> {
        use machina_app::{exec::keys, state::decode_value};
        use machina_types::{BlockEvents, Receipt};
        let block = self.block(height).await?;
        let guard = self.db.read().await;
        let mut receipts = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            let key = keys::receipt(&tx.hash());
            let bytes = guard.get(&key.digest()).await.ok()??;
            receipts.push(decode_value::<Receipt>(&key, &bytes.0));
        }
        let key = keys::block_events(height);
        let events = match guard.get(&key.digest()).await.ok()? {
            Some(bytes) => decode_value::<BlockEvents>(&key, &bytes.0).0,
            None => Vec::new(),
        };
        let finalized = FinalizedBlock {
            digest: block.header.digest(),
            header: block.header.clone(),
            receipts: Arc::new(receipts),
            events: Arc::new(events),
        };
        Some((finalized, block.txs))
    }
}

/// Keeps `index` up to date with the finalized chain: from storage up to the tip, then from
/// the event stream (its receipts and events; the transactions from marshal, read here and
/// not on the finalization path), back to storage whenever the stream skips ahead. Returns
/// (so that its supervisor reports it down and starts it again) if a finalized block cannot
/// be read.
pub async fn follow(index: Arc<Index>, chain: Arc<ChainInfo>, source: Arc<Source>) {
    let mut blocks = chain.subscribe();
    loop {
        while index.indexed() < chain.height() {
            let height = index.indexed() + 1;
            let Some((block, txs)) = source.load(height).await else {
                tracing::warn!(height, "explorer index: cannot read a finalized block");
                return;
            };
            index.apply(&block, &txs);
        }
        match blocks.recv().await {
            Ok(block) if block.header.height == index.indexed() + 1 => {
                let height = block.header.height;
                let Some(full) = source.block(height).await else {
                    tracing::warn!(height, "explorer index: cannot read a finalized block");
                    return;
                };
                index.apply(&block, &full.txs);
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
    use machina_types::{
        Address, Receipt,
        block::{Context, Header, OpsRange},
        data::DataEvent,
    };

    fn address(n: u8) -> Address {
        Address([n; 32])
    }

    fn block(height: u64, receipts: Vec<Receipt>, events: Vec<Event>) -> FinalizedBlock {
        let leader = PrivateKey::from_seed(0).public_key();
        let header = Header {
            context: Context {
                round: Round::new(Epoch::zero(), View::new(height)),
                leader,
                parent: (View::zero(), Hash::ZERO.digest()),
            },
            parent: Hash::ZERO,
            height,
            timestamp_ms: 1_000 * height,
            tx_root: Hash::ZERO,
            tx_count: receipts.len() as u32,
            state_root: Hash::ZERO,
            ops_root: Hash::ZERO,
            ops_range: OpsRange { start: 0, end: 0 },
        };
        FinalizedBlock {
            digest: Hash::of(&[&height.to_be_bytes()]),
            header,
            receipts: Arc::new(receipts),
            events: Arc::new(events),
        }
    }

    fn receipt(signer: Address, events: Vec<Event>) -> Receipt {
        Receipt {
            tx_hash: Hash::of(&[&signer.0, &[events.len() as u8]]),
            height: 0,
            index: 0,
            signer,
            fee: 10,
            outcome: Outcome::Success,
            events,
        }
    }

    fn cleared(market: Hash, price: u64, first_lease: u64, leases: u32) -> Event {
        Event::Market(MarketEvent::MarketCleared {
            batch: 1,
            market,
            price,
            units: 3,
            first_lease,
            leases,
            solver: None,
        })
    }

    #[test]
    fn events_index_every_entity_they_name_with_series_and_search() {
        let index = Index::default();
        let market = Hash::of(&[b"energy/u33d"]);
        let transfer =
            Event::Bank(BankEvent::Transfer { from: address(1), to: address(2), amount: 5 });
        index.apply(&block(1, vec![receipt(address(1), vec![transfer])], Vec::new()), &[]);
        let feed = Event::Data(DataEvent::FeedUpdated { feed: 7, value: Some(42), sources: 3 });
        index.apply(&block(2, Vec::new(), vec![cleared(market, 90, 10, 3), feed]), &[]);
        // A block again, or an older one, changes nothing.
        index.apply(&block(2, Vec::new(), vec![cleared(market, 1, 1, 1)]), &[]);
        assert_eq!(index.indexed(), 2);

        let accounts = index.list(EntityKind::Account, None, 10);
        assert_eq!(accounts.total, 2, "the signer and the recipient");
        let sender = index.history(EntityKind::Account, &address(1).to_string()).unwrap();
        assert_eq!(sender.activity.len(), 2, "the transaction it signed and the transfer");
        assert!(sender.activity[1].signed.as_ref().is_some_and(|t| t.success));
        let leases: Vec<String> =
            index.list(EntityKind::Lease, None, 10).entities.into_iter().map(|e| e.id).collect();
        assert_eq!(leases, ["12", "11", "10"], "every lease the clearing made, newest first");
        assert_eq!(index.clearings(&market.to_string()).len(), 1);
        assert_eq!(index.clearings(&market.to_string())[0].price, 90);
        assert_eq!(index.feed_points(7)[0].value, Some(42));
        assert!(index.history(EntityKind::Feed, "7").is_some());
        let overview = index.overview(2);
        assert_eq!(overview.counts[&EntityKind::Market], 1);
        assert_eq!(overview.recent_clearings[0].market, market);

        let hits = index.search(&market.to_string());
        assert_eq!((hits[0].kind.as_str(), hits.len()), ("market", 1));
        let digest = Hash::of(&[&2u64.to_be_bytes()]).to_string();
        assert_eq!(index.search(&digest)[0].kind, "block");
    }

    #[test]
    fn lists_page_newest_first_and_each_kind_forgets_its_least_recently_active() {
        let index = Index::default();
        let mut height = 0;
        for n in 0..(ENTITIES_PER_KIND_MAX as u64 + 2) {
            height += 1;
            let event = Event::Data(DataEvent::FeedClosed { feed: n });
            index.apply(&block(height, Vec::new(), vec![event]), &[]);
            if n + 1 == ENTITIES_PER_KIND_MAX as u64 {
                // Feed 0 active again before the kind is full: feeds 1 and 2 are the least
                // recently active ones when two more come.
                height += 1;
                let event = Event::Data(DataEvent::FeedClosed { feed: 0 });
                index.apply(&block(height, Vec::new(), vec![event]), &[]);
            }
        }
        let first = index.list(EntityKind::Feed, None, 3);
        assert_eq!(first.total, ENTITIES_PER_KIND_MAX as u64);
        let ids: Vec<&str> = first.entities.iter().map(|e| e.id.as_str()).collect();
        let newest = ENTITIES_PER_KIND_MAX + 1;
        assert_eq!(ids, [newest.to_string(), (newest - 1).to_string(), (newest - 2).to_string()]);
        let second = index.list(EntityKind::Feed, first.next, 3);
        assert_eq!(second.entities[0].id, (newest - 3).to_string());
        assert!(index.history(EntityKind::Feed, "0").is_some(), "recently active: kept");
        assert!(index.history(EntityKind::Feed, "1").is_none(), "least recently active: forgotten");
        assert!(index.history(EntityKind::Feed, "2").is_none());
        assert!(index.history(EntityKind::Feed, "3").is_some());
        let mut cursor = None;
        let mut seen = 0;
        loop {
            let page = index.list(EntityKind::Feed, cursor, 200);
            seen += page.entities.len();
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ENTITIES_PER_KIND_MAX, "the pages cover every entity once");
    }

    #[test]
    fn an_entity_keeps_its_latest_activity_only() {
        let index = Index::default();
        for height in 1..=(ACTIVITY_PER_ENTITY_MAX as u64 + 5) {
            let event = Event::Data(DataEvent::FeedUpdated { feed: 1, value: None, sources: 0 });
            index.apply(&block(height, Vec::new(), vec![event]), &[]);
        }
        let history = index.history(EntityKind::Feed, "1").unwrap();
        assert_eq!(history.activity.len(), ACTIVITY_PER_ENTITY_MAX);
        assert_eq!(history.activity[0].height, ACTIVITY_PER_ENTITY_MAX as u64 + 5, "newest first");
        let entity = history.entity.unwrap();
        assert_eq!(entity.activity, ACTIVITY_PER_ENTITY_MAX as u64 + 5);
        assert_eq!(entity.first_height, 1);
    }
}
