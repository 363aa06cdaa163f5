//! The chain's routes: status, health, transactions, accounts, assets, tokens, blocks and the
//! event stream. Proofs (`/v1/proofs/...`) answer a [`machina_store::ProofBundle`], receipts
//! a [`machina_types::Receipt`] and assets a [`machina_types::bank::state::AssetInfo`].

use crate::error::ApiErrorBody;
use commonware_codec::Encode;
use commonware_consensus::Viewable;
use machina_types::{
    Address, Event, Hash, Params, Receipt, SignedTransaction,
    block::{Block, Header, OpsRange},
    codec::hex,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /health`: every subsystem's state (503 while any is down).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` while every subsystem is up.
    pub status: HealthStatus,
    /// Finalized height.
    pub height: u64,
    /// Every subsystem by name.
    pub subsystems: BTreeMap<String, SubsystemHealth>,
}

/// Whether every subsystem is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every subsystem is up.
    Ok,
    /// A subsystem is down.
    Degraded,
}

/// One subsystem's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubsystemHealth {
    /// Whether it is working.
    pub up: bool,
    /// Times its task panicked.
    pub panics: u64,
    /// Times it was started again.
    pub restarts: u64,
    /// Why it is down (or last went down).
    pub error: Option<String>,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// Chain id.
    pub chain_id: String,
    /// Genesis hash.
    pub genesis_hash: Hash,
    /// Finalized height.
    pub height: u64,
    /// Digest of the latest finalized block.
    pub latest_digest: Option<Hash>,
    /// Proposer timestamp of the latest finalized block (ms since the Unix epoch).
    #[serde(default)]
    pub latest_timestamp_ms: Option<u64>,
    /// Validators.
    pub validators: Vec<Address>,
    /// Pending transactions.
    pub mempool_size: usize,
    /// Chain parameters.
    pub params: Params,
    /// The node's gateway.
    pub gateway: GatewayStatus,
}

/// The node's gateway, in [`Status`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewayStatus {
    /// The account that anchors readings (grant it the `gateway` role on your devices).
    pub account: Address,
    /// The embedded MQTT broker's address, if it runs.
    pub mqtt: Option<String>,
    /// Where its broker listens with TLS, if it does.
    #[serde(default)]
    pub mqtt_tls: Option<String>,
}

/// Body of `POST /v1/txs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitTx {
    /// Hex of the signed transaction's canonical encoding.
    #[cfg_attr(feature = "openapi", schema(schema_with = machina_types::schema::hex_bytes))]
    pub tx: String,
}

/// Answer of `POST /v1/txs` (202): the admitted transaction's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submitted {
    /// Transaction hash.
    pub hash: Hash,
}

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// In the mempool.
    Pending,
    /// Included and succeeded.
    Finalized,
    /// Included and failed (fee charged, calls reverted).
    Failed,
    /// Removed from the mempool without inclusion.
    Dropped,
    /// Not known to this node.
    Unknown,
}

impl TxState {
    /// The state's name, as served.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Finalized => "finalized",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the transaction reached a final state (included or dropped).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Finalized | Self::Failed | Self::Dropped)
    }
}

impl std::fmt::Display for TxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for TxState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// `GET /v1/txs/{hash}`. An included transaction has `error` (null when it succeeded) and
/// `receipt`; a dropped one has `error`; a pending or unknown one neither.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxStatus {
    /// Transaction hash.
    pub hash: Hash,
    /// Where it stands.
    pub status: TxState,
    /// Why it failed or was dropped.
    #[serde(default)]
    pub error: Option<ApiErrorBody>,
    /// The receipt, once included.
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

impl TxStatus {
    /// Whether the transaction reached a final state (included or dropped).
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }
}

impl Serialize for TxStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // `error` is null (not absent) beside a receipt, absent when there is neither.
        let with_error = self.error.is_some() || self.receipt.is_some();
        let len = 2 + usize::from(with_error) + usize::from(self.receipt.is_some());
        let mut map = s.serialize_map(Some(len))?;
        map.serialize_entry("hash", &self.hash)?;
        map.serialize_entry("status", &self.status)?;
        if with_error {
            map.serialize_entry("error", &self.error)?;
        }
        if let Some(receipt) = &self.receipt {
            map.serialize_entry("receipt", receipt)?;
        }
        map.end()
    }
}

/// `GET /v1/accounts/{address}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountInfo {
    /// Address.
    pub address: Address,
    /// Native balance.
    pub balance: u64,
    /// Nonce at the latest finalized block.
    pub nonce: u64,
    /// Next nonce counting pending transactions.
    pub next_nonce: u64,
    /// Height the answer is from.
    pub height: u64,
}

/// `GET /v1/accounts/{address}/assets/{asset}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssetBalance {
    /// Account.
    pub address: Address,
    /// Asset id.
    pub asset: u64,
    /// Balance in the asset's smallest unit.
    pub balance: u64,
}

/// `GET /v1/nfts/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NftInfo {
    /// Token id.
    pub id: u64,
    /// Current owner.
    pub owner: Address,
    /// Who minted it.
    pub minter: Address,
    /// Hash of its metadata document.
    pub metadata_hash: Hash,
}

/// A header, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeaderView {
    /// Block digest (SHA-256 of the encoded header).
    pub digest: Hash,
    /// Height.
    pub height: u64,
    /// Parent digest.
    pub parent: Hash,
    /// Proposer timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Consensus epoch.
    pub epoch: u64,
    /// Consensus view.
    pub view: u64,
    /// View of the parent.
    pub parent_view: u64,
    /// Proposer (leader of the view).
    pub proposer: Address,
    /// Merkle root of transaction hashes.
    pub tx_root: Hash,
    /// Transaction count.
    pub tx_count: u32,
    /// State root after the block.
    pub state_root: Hash,
    /// Operation-log root after the block.
    pub ops_root: Hash,
    /// Active operation-log span after the block.
    pub ops_range: OpsRange,
    /// The canonical encoding of the header, hex.
    pub encoded: String,
}

impl From<&Header> for HeaderView {
    fn from(h: &Header) -> Self {
        Self {
            digest: h.digest(),
            height: h.height,
            parent: h.parent,
            timestamp_ms: h.timestamp_ms,
            epoch: h.context.round.epoch().get(),
            view: h.context.view().get(),
            parent_view: h.context.parent.0.get(),
            proposer: Address::of(&h.context.leader),
            tx_root: h.tx_root,
            tx_count: h.tx_count,
            state_root: h.state_root,
            ops_root: h.ops_root,
            ops_range: h.ops_range,
            encoded: hex(&h.encode()),
        }
    }
}

/// A transaction with its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxView {
    /// Transaction hash.
    pub hash: Hash,
    /// The signed transaction.
    #[serde(flatten)]
    pub tx: SignedTransaction,
}

/// `GET /v1/blocks/{height}` and `/v1/blocks/latest`: a block with its finalization
/// certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockView {
    /// Header.
    pub header: HeaderView,
    /// Transactions.
    pub txs: Vec<TxView>,
    /// Events of its block-level steps: markets clearing, leases settled when due.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Finalization certificate (hex), if this node has it.
    pub finalization: Option<String>,
}

impl BlockView {
    /// The view of `block` with its block-level events and its certificate.
    pub fn new(block: &Block, events: Vec<Event>, finalization: Option<String>) -> Self {
        Self {
            header: HeaderView::from(&block.header),
            txs: block.txs.iter().map(|tx| TxView { hash: tx.hash(), tx: tx.clone() }).collect(),
            events,
            finalization,
        }
    }
}

/// A finalized block on the event stream (`GET /v1/events`, event `block`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockEvent {
    /// Header.
    pub header: HeaderView,
    /// Receipts of its transactions.
    pub receipts: Vec<Receipt>,
    /// Events of its block-level steps: markets clearing, leases settled when due.
    pub events: Vec<Event>,
}
