//! JSON views of chain data, as the API serves them.

use commonware_codec::Encode;
use commonware_consensus::Viewable;
use machina_types::{
    Address, Hash, Receipt, SignedTransaction,
    block::{Block, Header, OpsRange},
    codec::hex,
};
use serde::{Deserialize, Serialize};

/// A header, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct TxView {
    /// Transaction hash.
    pub hash: Hash,
    /// The signed transaction.
    #[serde(flatten)]
    pub tx: SignedTransaction,
}

/// A block with its finalization certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockView {
    /// Header.
    pub header: HeaderView,
    /// Transactions.
    pub txs: Vec<TxView>,
    /// Events of its block-level steps: markets clearing, leases settled when due.
    #[serde(default)]
    pub events: Vec<machina_types::Event>,
    /// Finalization certificate (hex), if this node has it.
    pub finalization: Option<String>,
}

impl BlockView {
    /// The view of `block` with its block-level events and its certificate.
    pub fn new(
        block: &Block,
        events: Vec<machina_types::Event>,
        finalization: Option<String>,
    ) -> Self {
        Self {
            header: HeaderView::from(&block.header),
            txs: block.txs.iter().map(|tx| TxView { hash: tx.hash(), tx: tx.clone() }).collect(),
            events,
            finalization,
        }
    }
}

/// A finalized block on the event stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockEvent {
    /// Header.
    pub header: HeaderView,
    /// Receipts of its transactions.
    pub receipts: Vec<Receipt>,
    /// Events of its block-level steps: markets clearing, leases settled when due.
    pub events: Vec<machina_types::Event>,
}
