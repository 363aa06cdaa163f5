//! The OpenAPI 3.1 document served at `/openapi.json`.

use super::error::codes;
use machina_types::ErrorCode;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string" } })
}

fn query_param(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description,
            "schema": { "type": ty } })
}

fn get(summary: &str, params: Vec<Value>, response: Value) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": response,
            "400": error_response("An invalid parameter (`invalid_parameter`)."),
            "404": error_response("Nothing at this id (`not_found`)."),
            "503": error_response("Not available yet (`unavailable`)."),
        }
    }})
}

/// The document.
pub fn document() -> Value {
    let error_codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "code": c.name(), "number": c.code(), "message": c.message() }))
        .collect();
    let mut all_codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    all_codes.extend_from_slice(codes::ALL);
    let hex = json!({ "type": "string", "pattern": "^[0-9a-f]*$" });
    let hash = json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" });
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Machina node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Submit transactions, read finalized state with proofs, follow finalized blocks. \
                Amounts are integers in the token's smallest unit. Every error is \
                {\"error\": {\"code\", \"message\"}} with a stable code (see x-error-codes).",
        },
        "x-error-codes": error_codes,
        "paths": {
            "/": { "get": { "summary": "The explorer: a web page of live blocks, transactions, markets and market activity, and lookups (blocks, transactions, accounts, devices, leases, intents, offers).",
                "responses": { "200": { "description": "HTML.", "content": { "text/html": {} } } } } },
            "/health": { "get": {
                "summary": "The state of every subsystem (finality, gateway admission, anchoring, \
                    feeds, command relay, MQTT broker or bridge): up, panics, restarts, error.",
                "responses": {
                    "200": ok("Every subsystem is up.", schema("Health")),
                    "503": ok("A subsystem is down (`status`: `degraded`).", schema("Health")),
                } } },
            "/metrics": { "get": { "summary": "Prometheus metrics (finalized_height, mempool_size, \
                finalized_txs_total, tx_per_second, finality_latency_seconds, and engine metrics).",
                "responses": { "200": { "description": "Prometheus text format.",
                    "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
            "/openapi.json": { "get": { "summary": "This document.", "responses": { "200": {
                "description": "OpenAPI 3.1.", "content": { "application/json": {} } } } } },
            "/v1/status": get("Chain id, genesis hash, finalized height, validators, parameters.", vec![],
                ok("Status.", schema("Status"))),
            "/v1/txs": { "post": {
                "summary": "Submit a signed transaction. Checked statelessly (decode, size, chain id, \
                    expiry, calls and their value ranges, fee, signature, a strong signer key) and \
                    against the finalized state (nonce; the sender's pending transactions' fees and \
                    native spends within its balance; at most 64 pending per sender; expiry at most \
                    10,000 blocks ahead; a replacement pays 10% more per byte), then admitted to \
                    the mempool and gossiped.",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["tx"],
                    "properties": { "tx": { "description": "Hex of the canonical encoding of the signed transaction.", "allOf": [hex] } } } } } },
                "responses": {
                    "202": ok("Admitted.", json!({ "type": "object", "properties": { "hash": hash } })),
                    "400": error_response("Refused: a transaction code (malformed, bad_signature, weak_key, wrong_chain, expired, expiry_too_far, no_calls, invalid_call, fee_too_low, nonce_too_low, nonce_too_high, cannot_pay_fee, insufficient_funds, pending_cost_too_high, replacement_underpriced) or malformed_json."),
                    "409": error_response("Already known (`duplicate`)."),
                    "413": error_response("Body or transaction too large (`body_too_large`, `oversized`)."),
                    "415": error_response("Body is not JSON (`unsupported_media_type`)."),
                    "429": error_response("Too many pending transactions from this sender (`sender_limit`)."),
                    "503": error_response("Mempool full (`mempool_full`)."),
                }
            }},
            "/v1/txs/{hash}": get("Transaction status: pending, finalized, failed (with the failing call and code), dropped (with the reason) or unknown.",
                vec![path_param("hash", "Transaction hash (hex).")], ok("Status.", schema("TxStatus"))),
            "/v1/receipts/{hash}": get("Receipt of a finalized transaction.",
                vec![path_param("hash", "Transaction hash (hex).")], ok("Receipt.", schema("Receipt"))),
            "/v1/accounts/{address}": get("Native balance and nonce at the latest finalized block; next_nonce counts pending transactions.",
                vec![path_param("address", "Account address (hex public key).")], ok("Account.", schema("Account"))),
            "/v1/accounts/{address}/assets/{asset}": get("An account's balance of an asset.",
                vec![path_param("address", "Account address."), path_param("asset", "Asset id.")],
                ok("Balance.", json!({ "type": "object", "properties": {
                    "address": hash, "asset": { "type": "integer" }, "balance": { "type": "integer" } } }))),
            "/v1/assets/{asset}": get("Asset description and supply.",
                vec![path_param("asset", "Asset id.")], ok("Asset.", schema("Asset"))),
            "/v1/nfts/{id}": get("A non-fungible token.", vec![path_param("id", "Token id.")],
                ok("Token.", json!({ "type": "object", "properties": {
                    "id": { "type": "integer" }, "owner": hash, "minter": hash, "metadata_hash": hash } }))),
            "/v1/blocks/latest": get("The latest finalized block.", vec![], ok("Block.", schema("Block"))),
            "/v1/blocks/{height}": get("A finalized block by height: header, transactions, the events of its block-level steps (markets clearing, leases settled when due) and its finalization certificate.",
                vec![path_param("height", "Block height.")], ok("Block.", schema("Block"))),
            "/v1/proofs/accounts/{address}": get("Proof of an account (value or absence) at the latest finalized block, verifiable offline with `machina verify-proof`.",
                vec![path_param("address", "Account address.")], ok("Proof bundle.", schema("ProofBundle"))),
            "/v1/proofs/keys/{key}": get("Proof of any state key (value or absence) at the latest finalized block.",
                vec![path_param("key", "State key (hex, 32 bytes).")], ok("Proof bundle.", schema("ProofBundle"))),
            "/v1/events": { "get": {
                "summary": "Server-sent events: one `block` event per finalized block, with its header and receipts.",
                "responses": { "200": { "description": "text/event-stream of BlockEvent JSON.",
                    "content": { "text/event-stream": { "schema": schema("BlockEvent") } } } } } },
        },
        "components": { "schemas": {
            "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string", "enum": all_codes }, "message": { "type": "string" } } } } },
            "Health": { "type": "object", "properties": {
                "status": { "enum": ["ok", "degraded"] }, "height": { "type": "integer" },
                "subsystems": { "type": "object", "additionalProperties": { "type": "object", "properties": {
                    "up": { "type": "boolean" }, "panics": { "type": "integer" },
                    "restarts": { "type": "integer" }, "error": { "type": ["string", "null"] } } } } } },
            "Status": { "type": "object", "properties": {
                "chain_id": { "type": "string" }, "genesis_hash": hash, "height": { "type": "integer" },
                "latest_digest": hash, "latest_timestamp_ms": { "type": "integer" },
                "validators": { "type": "array", "items": hash }, "mempool_size": { "type": "integer" },
                "params": { "type": "object" } } },
            "TxStatus": { "type": "object", "required": ["hash", "status"], "properties": {
                "hash": hash, "status": { "enum": ["pending", "finalized", "failed", "dropped", "unknown"] },
                "error": { "type": ["object", "null"], "properties": { "code": { "type": "string" },
                    "message": { "type": "string" }, "call": { "type": "integer" } } },
                "receipt": schema("Receipt") } },
            "Receipt": { "type": "object", "properties": {
                "tx_hash": hash, "height": { "type": "integer" }, "index": { "type": "integer" },
                "signer": hash, "fee": { "type": "integer" },
                "outcome": { "type": "object", "properties": { "status": { "enum": ["success", "failed"] },
                    "call": { "type": "integer" }, "code": { "type": "string" } } },
                "events": { "type": "array", "items": { "type": "object",
                    "properties": { "event": { "type": "string" } } } } } },
            "Account": { "type": "object", "properties": { "address": hash, "balance": { "type": "integer" },
                "nonce": { "type": "integer" }, "next_nonce": { "type": "integer" }, "height": { "type": "integer" } } },
            "Asset": { "type": "object", "properties": { "id": { "type": "integer" }, "issuer": hash,
                "symbol": { "type": "string" }, "name": { "type": "string" }, "decimals": { "type": "integer" },
                "max_supply": { "type": ["integer", "null"] }, "supply": { "type": "integer" }, "metadata": hex } },
            "Header": { "type": "object", "properties": { "digest": hash, "height": { "type": "integer" },
                "parent": hash, "timestamp_ms": { "type": "integer" }, "epoch": { "type": "integer" },
                "view": { "type": "integer" }, "parent_view": { "type": "integer" }, "proposer": hash,
                "tx_root": hash, "tx_count": { "type": "integer" }, "state_root": hash, "ops_root": hash,
                "ops_range": { "type": "object" }, "encoded": hex } },
            "Block": { "type": "object", "properties": { "header": schema("Header"),
                "txs": { "type": "array", "items": { "type": "object" } },
                "finalization": { "description": "Hex of the finalization certificate.", "type": ["string", "null"] } } },
            "BlockEvent": { "type": "object", "properties": { "header": schema("Header"),
                "receipts": { "type": "array", "items": schema("Receipt") },
                "events": { "description": "Events of the block's own steps (markets clearing, leases settled when due).",
                    "type": "array", "items": { "type": "object" } } } },
            "ReadingBundle": { "type": "object", "properties": {
                "chain_id": { "type": "string" }, "height": { "type": "integer" },
                "reading": hex, "decoded": { "type": "object" },
                "merkle": { "type": "object", "description": "Path from the reading's leaf to the anchored root." },
                "anchor": schema("StateEntry"), "device": schema("StateEntry"), "maker": schema("StateEntry"),
                "header": hex, "finalization": hex } },
            "StateEntry": { "type": "object", "properties": { "key": hash, "description": { "type": "string" },
                "value": { "type": ["string", "null"] }, "decoded": { "type": ["object", "null"] },
                "proof": { "type": "object" } } },
            "ProofBundle": { "type": "object", "properties": {
                "chain_id": { "type": "string" }, "height": { "type": "integer" }, "key": hash,
                "description": { "type": "string" }, "value": { "type": ["string", "null"] },
                "decoded": { "type": ["object", "null"] },
                "proof": { "type": "object", "properties": { "kind": { "enum": ["inclusion", "exclusion"] }, "proof": hex } },
                "header": hex, "finalization": hex } },
        }},
    });
    let paths = document["paths"].as_object_mut().expect("paths object");
    for group in [data_paths(&hex, &hash), market_paths()] {
        if let Value::Object(group) = group {
            paths.extend(group);
        }
    }
    document
}

/// Paths of device data: readings, devices, makers, feeds.
fn data_paths(hex: &Value, hash: &Value) -> Value {
    json!({
            "/v1/readings": { "post": {
                "summary": "Submit a device-signed reading (the HTTP twin of publishing on \
                    machina/v1/<device>/telemetry/<stream>). Checked (size, decoding, timestamp, \
                    device onboarded and active, signature against the device's current key, \
                    sequence strictly increasing per stream) and stored durably before the answer.",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reading"],
                    "properties": { "reading": { "description": "Hex of the canonical encoding of the signed reading.", "allOf": [hex] } } } } } },
                "responses": {
                    "202": ok("Stored (or an exact duplicate of a stored reading).", json!({ "type": "object", "properties": {
                        "device": hash, "stream": { "type": "integer" }, "seq": { "type": "integer" },
                        "duplicate": { "type": "boolean" } } })),
                    "400": error_response("Refused: malformed, bad_signature, unknown_device, device_suspended, device_decommissioned, sequence_not_increasing, timestamp_out_of_range or malformed_json."),
                    "413": error_response("Reading too large (`oversized`, `body_too_large`)."),
                    "503": error_response("The gateway is stopping (`unavailable`)."),
                }
            }},
            "/v1/devices/{id}": get("A device record: owner, maker, model, keys, firmware, attributes, status, reputation.",
                vec![path_param("id", "Device id (hex).")], ok("Device.", json!({ "type": "object" }))),
            "/v1/devices/{id}/roles/{account}/{role}": get("Whether an account holds a role on a device now (owners hold every role; a grant ends when the device changes owner), with the grant (expiry, accepted).",
                vec![path_param("id", "Device id."), path_param("account", "Account address."), path_param("role", "Role name.")],
                ok("Role.", json!({ "type": "object", "properties": { "holds": { "type": "boolean" },
                    "owner": { "type": "boolean" }, "grant": { "type": ["object", "null"] } } }))),
            "/v1/devices/{id}/streams/{stream}": get("A device stream: readings the gateway stores and readings the finalized chain has anchored.",
                vec![path_param("id", "Device id."), path_param("stream", "Stream id.")],
                ok("Stream.", json!({ "type": "object", "properties": {
                    "stored": { "type": "integer" }, "first_stored_seq": { "type": ["integer", "null"] },
                    "last_stored_seq": { "type": ["integer", "null"] }, "anchors": { "type": "integer" },
                    "anchored": { "type": "integer" }, "last_anchored_seq": { "type": ["integer", "null"] },
                    "height": { "type": "integer" } } }))),
            "/v1/devices/{id}/streams/{stream}/readings": { "get": {
                "summary": "Stored readings of a device stream by sequence or time range, each with its proof bundle once anchored in a finalized block (verify offline with `machina verify-reading`).",
                "parameters": [path_param("id", "Device id."), path_param("stream", "Stream id."),
                    query_param("from_seq", "integer", "First sequence number."), query_param("to_seq", "integer", "Last sequence number."),
                    query_param("since_ms", "integer", "Earliest device timestamp."), query_param("until_ms", "integer", "Latest device timestamp."),
                    query_param("limit", "integer", "Most readings (default 100, at most 1000)."),
                    query_param("proofs", "boolean", "Include proof bundles (default true).")],
                "responses": { "200": ok("Readings.", json!({ "type": "object", "properties": {
                    "device": hash, "stream": { "type": "integer" }, "readings": { "type": "array", "items": {
                        "type": "object", "properties": { "seq": { "type": "integer" }, "timestamp_ms": { "type": "integer" },
                        "reading": { "type": "object" }, "encoded": hex, "anchored": { "type": "boolean" },
                        "proof": { "oneOf": [schema("ReadingBundle"), { "type": "null" }] } } } } } })),
                    "400": error_response("An invalid parameter (`invalid_parameter`).") } } },
            "/v1/devices/{id}/streams/{stream}/readings/{seq}/proof": get("The proof bundle of one reading: the reading, its Merkle path to an anchored root, state proofs of the anchor, device and maker, and the finalized block's header and certificate.",
                vec![path_param("id", "Device id."), path_param("stream", "Stream id."), path_param("seq", "Sequence number.")],
                ok("Reading bundle.", schema("ReadingBundle"))),
            "/v1/makers/{address}": get("A registered maker: name, maker key, bond.",
                vec![path_param("address", "Maker account.")], ok("Maker.", json!({ "type": "object" }))),
            "/v1/feeds/{id}": get("An oracle feed: definition, latest reports and current median (null when too few fresh sources).",
                vec![path_param("id", "Feed id.")], ok("Feed.", json!({ "type": "object" }))),
            "/v1/proofs/feeds/{id}": get("Proof of a feed's state at the latest finalized block.",
                vec![path_param("id", "Feed id.")], ok("Proof bundle.", schema("ProofBundle"))),
    })
}

/// Paths of the market: schedule, books, orders, leases, stakes, solutions.
fn market_paths() -> Value {
    let id = |what: &str| vec![path_param("id", what)];
    json!({
        "/v1/market": get("The batch schedule (current batch, next clearing height), market parameters, value totals (escrowed, paid, fees, refunded, solver rewards, staked, withdrawn, slashed), and the markets with open orders.",
            vec![], ok("Market overview.", json!({ "type": "object" }))),
        "/v1/markets/{id}": get("A market (resource kind and region; its id is the hash of both) with its open book: intents by limit, offers by floor with their provider's reputation and whether they may sell.",
            id("Market id (hex)."), ok("Market and book.", json!({ "type": "object" }))),
        "/v1/offers/{id}": get("An offer: seller, device, kind, region, remaining capacity, floor price, delivery terms, expiry, status.",
            id("Offer id."), ok("Offer.", json!({ "type": "object" }))),
        "/v1/intents/{id}": get("An intent: consumer, components, units wanted and filled, maximum price, deadline, escrow held, status.",
            id("Intent id."), ok("Intent.", json!({ "type": "object" }))),
        "/v1/leases/{id}": get("A lease: consumer, seller, device, units, price, escrow, delivery terms, deadline, status (active, claimed, disputed, delivered, refunded).",
            id("Lease id."), ok("Lease.", json!({ "type": "object" }))),
        "/v1/accounts/{address}/leases": get("An account's leases as consumer or seller, newest first (`limit`, default 50, at most 500).",
            vec![path_param("address", "Account address.")], ok("Leases.", json!({ "type": "object" }))),
        "/v1/accounts/{address}/stake": get("An account's provider and solver stake: bonded, unbonding, release height.",
            vec![path_param("address", "Account address.")], ok("Stake.", json!({ "type": "object" }))),
        "/v1/market/batches/{batch}/solutions": get("Solutions submitted for a batch.",
            vec![path_param("batch", "Batch number (height / auction interval).")], ok("Solutions.", json!({ "type": "object" }))),
    })
}
