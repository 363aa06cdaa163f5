//! Routes of the chain: the node itself, transactions, accounts, assets, tokens, blocks,
//! proofs and the event stream.

use super::{Op, Routes, hex32, path, text, u64_any};
use crate::chain::{
    AccountInfo, AssetBalance, BlockEvent, BlockView, Health, NftInfo, Status, SubmitTx, Submitted,
    TxStatus,
};
use machina_store::ProofBundle;
use machina_types::{Receipt, bank::state::AssetInfo};
use utoipa::openapi::HttpMethod::{Get, Post};

/// Registers the chain's routes.
pub(super) fn register(r: &mut Routes) {
    node(r);
    transactions(r);
    accounts(r);
    blocks_and_proofs(r);
}

/// The explorer, health, metrics, this document and the status.
fn node(r: &mut Routes) {
    let health = r.schema::<Health>();
    let op = Op::new(
        "The state of every subsystem (finality, gateway admission, anchoring, feeds, command \
         relay, MQTT broker or bridge): up, panics, restarts, error.",
    )
    .ok(200, "Every subsystem is up.", health.clone())
    .ok(503, "A subsystem is down (`status`: `degraded`).", health);
    r.add(Get, "/health", op);
    let op = Op::new(
        "Prometheus metrics (finalized_height, mempool_size, finalized_txs_total, \
         tx_per_second, finality_latency_seconds, API requests by route and status, and \
         engine metrics).",
    )
    .answer(200, "Prometheus text format.", "text/plain", Some(text()));
    r.add(Get, "/metrics", op);
    let op = Op::new("This document.").answer(200, "OpenAPI 3.1.", "application/json", None);
    r.add(Get, "/openapi.json", op);
    let status = r.schema::<Status>();
    let op = Op::new("Chain id, genesis hash, finalized height, validators, parameters.")
        .ok(200, "Status.", status)
        .fails(r, &[503]);
    r.add(Get, "/v1/status", op);
}

/// Submitting transactions and following them.
fn transactions(r: &mut Routes) {
    let (body, submitted) = (r.schema::<SubmitTx>(), r.schema::<Submitted>());
    let op = Op::new(
        "Submit a signed transaction. Checked statelessly (decode, size, chain id, expiry, \
         calls and their value ranges, fee, signature, a strong signer key) and against the \
         finalized state (nonce; the sender's pending transactions' fees and native spends \
         within its balance; at most 64 pending per sender; expiry at most 10,000 blocks \
         ahead; a replacement pays 10% more per byte), then admitted to the mempool and \
         gossiped.",
    )
    .body(body)
    .ok(202, "Admitted.", submitted)
    .error(
        r,
        400,
        "Refused: a transaction code (malformed, bad_signature, weak_key, wrong_chain, \
         expired, expiry_too_far, no_calls, invalid_call, fee_too_low, nonce_too_low, \
         nonce_too_high, cannot_pay_fee, insufficient_funds, pending_cost_too_high, \
         replacement_underpriced) or malformed_json.",
    )
    .error(r, 409, "Already known (`duplicate`).")
    .body_errors(r, "Body or transaction too large (`body_too_large`, `oversized`).")
    .error(r, 429, "Too many pending transactions from this sender (`sender_limit`).")
    .error(r, 503, "Mempool full (`mempool_full`), or the node is overloaded (`unavailable`).");
    r.add(Post, "/v1/txs", op);
    let hash = || path("hash", "Transaction hash (hex).", hex32());
    let status = r.schema::<TxStatus>();
    let op = Op::new(
        "Transaction status: pending, finalized, failed (with the failing call and code), \
         dropped (with the reason) or unknown.",
    )
    .param(hash())
    .ok(200, "Status.", status)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/txs/{hash}", op);
    let receipt = r.schema::<Receipt>();
    let op = Op::new("Receipt of a finalized transaction.")
        .param(hash())
        .ok(200, "Receipt.", receipt)
        .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/receipts/{hash}", op);
}

/// Accounts, assets and tokens.
fn accounts(r: &mut Routes) {
    let address = || path("address", "Account address (hex public key).", hex32());
    let account = r.schema::<AccountInfo>();
    let op = Op::new(
        "Native balance and nonce at the latest finalized block; next_nonce counts pending \
         transactions.",
    )
    .param(address())
    .ok(200, "Account.", account)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/accounts/{address}", op);
    let asset = || path("asset", "Asset id.", u64_any());
    let balance = r.schema::<AssetBalance>();
    let op = Op::new("An account's balance of an asset.")
        .param(address())
        .param(asset())
        .ok(200, "Balance.", balance)
        .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/accounts/{address}/assets/{asset}", op);
    let info = r.schema::<AssetInfo>();
    let op = Op::new("Asset description and supply.")
        .param(asset())
        .ok(200, "Asset.", info)
        .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/assets/{asset}", op);
    let nft = r.schema::<NftInfo>();
    let op = Op::new("A non-fungible token.")
        .param(path("id", "Token id.", u64_any()))
        .ok(200, "Token.", nft)
        .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/nfts/{id}", op);
}

/// Blocks, state proofs and the event stream.
fn blocks_and_proofs(r: &mut Routes) {
    let block = r.schema::<BlockView>();
    let op = Op::new("The latest finalized block.")
        .ok(200, "Block.", block.clone())
        .fails(r, &[404, 503]);
    r.add(Get, "/v1/blocks/latest", op);
    let op = Op::new(
        "A finalized block by height: header, transactions, the events of its block-level \
         steps (markets clearing, leases settled when due) and its finalization certificate.",
    )
    .param(path("height", "Block height.", u64_any()))
    .ok(200, "Block.", block)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/blocks/{height}", op);
    let bundle = r.schema::<ProofBundle>();
    let op = Op::new(
        "Proof of an account (value or absence) at the latest finalized block, verifiable \
         offline with `machina verify-proof`.",
    )
    .param(path("address", "Account address.", hex32()))
    .ok(200, "Proof bundle.", bundle.clone())
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/accounts/{address}", op);
    let op = Op::new("Proof of any state key (value or absence) at the latest finalized block.")
        .param(path("key", "State key (hex, 32 bytes).", hex32()))
        .ok(200, "Proof bundle.", bundle)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/keys/{key}", op);
    let event = r.schema::<BlockEvent>();
    let op = Op::new(
        "Server-sent events: one `block` event per finalized block, with its header, receipts \
         and block-level events.",
    )
    .answer(200, "text/event-stream of BlockEvent JSON.", "text/event-stream", Some(event))
    .error(r, 503, "Too many event streams open (`unavailable`).");
    r.add(Get, "/v1/events", op);
}
