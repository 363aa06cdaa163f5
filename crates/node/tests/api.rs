//! The HTTP API against a real single-validator node (tokio runtime, real storage, real
//! consensus): every kind of bad input is refused with its stable code and changes nothing;
//! good input is finalized and readable through every route.

mod common;

use common::{BALANCE, TestNode, code};
use machina_sdk::{
    client::TxStatus,
    device::numeric,
    tx::build,
    verify::{Verified, verify_bundle},
};
use machina_store::ProofBundle;
use machina_types::{
    Address, BankCall, Call, Event, Hash, OwnershipCall, RewardsCall,
    data::Eligibility,
    limits::REWARD_WORK_MAX,
    market::ResourceKind,
    ownership::OwnershipEvent,
    rewards::{RewardsEvent, Work},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl TestNode {
    /// Balances and nonces of every account, and the mempool size.
    fn snapshot(&self) -> (Vec<(u64, u64)>, usize) {
        let accounts = (0..self.accounts.len())
            .map(|i| {
                let a = self.client.account(&self.addr(i)).unwrap();
                (a.balance, a.nonce)
            })
            .collect();
        (accounts, self.client.status().unwrap().mempool_size)
    }

    fn post_tx(&self, body: &[u8], content_type: &str) -> (u16, Value) {
        self.post_raw("/v1/txs", body, content_type)
    }
}

#[test]
fn bad_input_is_refused_with_a_stable_code_and_changes_nothing() {
    let node = TestNode::start();
    let before = node.snapshot();

    let (status, body) = node.post_tx(b"{\"tx\": ", "application/json");
    assert_eq!((status, code(&body)), (400, "malformed_json"));
    let (status, body) = node.submit_json(&json!({ "transaction": "00" }));
    assert_eq!((status, code(&body)), (400, "malformed_json"));
    let (status, body) = node.post_tx(b"tx=00", "text/plain");
    assert_eq!((status, code(&body)), (415, "unsupported_media_type"));
    let (status, body) = node.post_tx(&vec![b' '; 70 * 1024], "application/json");
    assert_eq!((status, code(&body)), (413, "body_too_large"));
    let (status, body) = node.submit_json(&json!({ "tx": "zz" }));
    assert_eq!((status, code(&body)), (400, "malformed"));
    let (status, body) = node.submit_json(&json!({ "tx": "0102030405" }));
    assert_eq!((status, code(&body)), (400, "malformed"));
    let (status, body) = node.submit_json(&json!({ "tx": "00".repeat(5000) }));
    assert_eq!((status, code(&body)), (413, "oversized"));

    let mut tx = node.transfer(0, 0, 10);
    tx.tx.nonce = 1; // no longer what was signed
    let (status, body) = node.submit(&tx);
    assert_eq!((status, code(&body)), (400, "bad_signature"));

    let mut params = node.params(0);
    params.chain_id = "another-chain".into();
    let calls = vec![Call::Bank(BankCall::Transfer { to: node.addr(1), amount: 1 })];
    let (status, body) = node.submit(&build(&node.accounts[0], &params, calls.clone()));
    assert_eq!((status, code(&body)), (400, "wrong_chain"));

    let mut params = node.params(0);
    params.expiry_height = 1;
    let (status, body) = node.submit(&build(&node.accounts[0], &params, calls.clone()));
    assert_eq!((status, code(&body)), (400, "expired"));

    let (status, body) = node.submit(&node.transfer(0, 0, BALANCE * 2));
    assert_eq!((status, code(&body)), (400, "insufficient_funds"));

    let (status, body) = node.submit(&node.transfer(0, 0, 0));
    assert_eq!((status, code(&body)), (400, "invalid_call"));

    let mut cheap = node.transfer(0, 0, 5);
    cheap.tx.fee = 1;
    let cheap = cheap.tx.sign(&node.accounts[0]);
    let (status, body) = node.submit(&cheap);
    assert_eq!((status, code(&body)), (400, "fee_too_low"));

    let (status, body) = node.submit(&node.transfer(0, 100_000, 5));
    assert_eq!((status, code(&body)), (400, "nonce_too_high"));

    node.wait_height(node.client.status().unwrap().height + 2);
    assert_eq!(node.snapshot(), before, "refused input changed state or the mempool");

    // A replay: the same transaction after it was finalized.
    let tx = node.transfer(1, 0, 7);
    let (status, body) = node.submit(&tx);
    assert_eq!(status, 202, "{body}");
    let (status, body) = node.submit(&tx);
    assert_eq!((status, code(&body)), (409, "duplicate"));
    let hash = tx.hash();
    let final_status = node.client.wait(&hash, Duration::from_secs(10)).unwrap();
    assert_eq!(final_status.status, "finalized");
    let after_first = node.snapshot();
    let (status, body) = node.submit(&tx);
    assert_eq!((status, code(&body)), (400, "nonce_too_low"));
    node.wait_height(node.client.status().unwrap().height + 2);
    assert_eq!(node.snapshot(), after_first, "a replay changed state");

    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for path in ["/v1/nope", "/v1/accounts/nothex", "/v1/blocks/99999999", "/v1/txs/12"] {
        let mut response = agent.get(format!("{}{path}", node.url)).call().unwrap();
        let status = response.status().as_u16();
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

#[test]
fn a_transfer_is_finalized_and_readable_through_every_route() {
    let node = TestNode::start();
    let (tx, hash) = node
        .client
        .send(
            &node.accounts[0],
            vec![Call::Bank(BankCall::Transfer { to: node.addr(1), amount: 1234 })],
        )
        .unwrap();
    let status = node.client.wait(&hash, Duration::from_secs(10)).unwrap();
    assert_eq!(status.status, "finalized");
    let receipt = node.client.receipt(&hash).unwrap();
    assert_eq!(receipt.fee, tx.tx.fee);
    assert_eq!(node.client.account(&node.addr(1)).unwrap().balance, BALANCE + 1234);
    assert_eq!(node.client.account(&node.addr(0)).unwrap().balance, BALANCE - 1234 - receipt.fee);

    let block = node.client.block(Some(receipt.height)).unwrap();
    assert_eq!(block.txs[0].hash, hash);
    assert!(block.finalization.is_some());
    let latest = node.client.block(None).unwrap();
    assert!(latest.header.height >= receipt.height);

    let proof = node.client.account_proof(&node.addr(1)).unwrap();
    let verified = machina_sdk::verify::verify_bundle(&proof, &node.genesis).unwrap();
    assert!(verified.value.is_some());
    let absent = node.client.account_proof(&Address([7; 32])).unwrap();
    let verified = machina_sdk::verify::verify_bundle(&absent, &node.genesis).unwrap();
    assert!(verified.value.is_none(), "an unused address is proven absent");

    let openapi: Value = node.client.get("/openapi.json").unwrap();
    for path in [
        "/v1/txs",
        "/v1/txs/{hash}",
        "/v1/accounts/{address}",
        "/v1/blocks/{height}",
        "/v1/proofs/accounts/{address}",
        "/v1/events",
        "/v1/readings",
        "/v1/devices/{id}",
        "/v1/devices/{id}/streams/{stream}",
        "/v1/devices/{id}/streams/{stream}/readings",
        "/v1/devices/{id}/streams/{stream}/readings/{seq}/proof",
        "/v1/makers/{address}",
        "/v1/feeds/{id}",
        "/v1/proofs/feeds/{id}",
        "/v1/market",
        "/v1/markets/{id}",
        "/v1/offers/{id}",
        "/v1/intents/{id}",
        "/v1/leases/{id}",
        "/v1/accounts/{address}/leases",
        "/v1/accounts/{address}/stake",
        "/v1/market/batches/{batch}/solutions",
        "/v1/machines/{id}",
        "/v1/machines/{id}/holders/{address}",
        "/v1/devices/{id}/machine",
        "/v1/offerings/{id}",
        "/v1/offerings/{id}/purchases/{address}",
        "/v1/proposals/{id}",
        "/v1/proposals/{id}/ballots/{address}",
        "/v1/rights/{nft}",
        "/v1/devices/{id}/rights",
        "/v1/devices/{id}/streams/{stream}/data-rights",
        "/v1/reward-pools/{id}",
        "/v1/reward-pools/{id}/epochs/{epoch}",
        "/v1/reward-pools/{id}/devices/{device}",
        "/v1/reward-pools/{id}/epochs/{epoch}/devices/{device}",
        "/v1/proofs/reward-pools/{id}",
        "/v1/proofs/reward-pools/{id}/epochs/{epoch}",
        "/v1/proofs/reward-pools/{id}/epochs/{epoch}/devices/{device}",
        "/v1/channels/{id}",
        "/v1/proofs/channels/{id}",
        "/v1/products/{id}",
        "/v1/subscriptions/{id}",
        "/v1/subscriptions/{id}/keys/{stream}/{epoch}",
        "/v1/subscriptions/{id}/vouchers",
        "/v1/subscriptions/{id}/voucher",
        "/v1/devices/{id}/streams/{stream}/keys",
        "/v1/proofs/subscriptions/{id}",
        "/v1/accounts/{address}/policy",
        "/v1/accounts/{address}/session-keys/{key}",
        "/v1/multisigs/{address}",
        "/v1/multisigs/{address}/proposals/{id}",
        "/metrics",
        "/health",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
    let mut metrics = ureq::get(format!("{}/metrics", node.url)).call().unwrap();
    let metrics = metrics.body_mut().read_to_string().unwrap();
    for name in [
        "machina_chain_finalized_height",
        "machina_chain_mempool_size",
        "machina_chain_tx_per_second",
        "machina_chain_finality_latency_seconds",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
}

#[test]
fn metrics_cover_admission_execution_anchoring_and_requests_by_route() {
    let node = TestNode::start();
    let (_, hash) = node
        .client
        .send(
            &node.accounts[0],
            vec![Call::Bank(BankCall::Transfer { to: node.addr(1), amount: 5 })],
        )
        .unwrap();
    assert_eq!(node.client.wait(&hash, Duration::from_secs(10)).unwrap().status, "finalized");
    let metrics = node.get_text("/metrics");
    // The value of the first sample whose line contains every one of `parts`.
    let sample = |parts: &[&str]| -> f64 {
        let line = metrics
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .unwrap_or_else(|| panic!("no sample with {parts:?} in\n{metrics}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a numeric sample")
    };
    assert!(sample(&["transactions_admitted", "source=\"local\""]) >= 1.0);
    assert!(sample(&["block_build_seconds_count"]) >= 1.0, "built blocks are timed");
    assert!(sample(&["block_steps_seconds_count"]) >= 1.0, "block-level steps are timed");
    assert!(sample(&["requests", "route=\"/v1/txs\"", "status=\"202\""]) >= 1.0);
    assert_eq!(sample(&["anchor_readings_unanchored"]), 0.0, "nothing waits to be anchored");
    assert!(metrics.contains("gossip_txs_sent"), "gossip is counted");
}

#[test]
fn the_event_stream_delivers_finalized_blocks_with_receipts() {
    let node = TestNode::start();
    let mut response = ureq::get(format!("{}/v1/events", node.url)).call().unwrap();
    let mut reader = std::io::BufReader::new(response.body_mut().as_reader());
    let (_, hash) = node
        .client
        .send(
            &node.accounts[0],
            vec![Call::Bank(BankCall::Transfer { to: node.addr(1), amount: 1 })],
        )
        .unwrap();
    let start = Instant::now();
    let mut line = String::new();
    loop {
        assert!(start.elapsed() < Duration::from_secs(20), "no event with the transaction");
        line.clear();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let event: Value = serde_json::from_str(data.trim()).unwrap();
        assert!(event["header"]["height"].is_u64());
        if event["receipts"].as_array().unwrap().iter().any(|r| r["tx_hash"] == json!(hash)) {
            break;
        }
    }
}

/// The events of a finalized transaction.
fn events(status: &TxStatus) -> Vec<Event> {
    status.receipt.as_ref().map(|r| r.events.clone()).unwrap_or_default()
}

/// Checks `bundle` offline against the genesis; `present` whether it proves a value.
fn verified(node: &TestNode, bundle: &ProofBundle, present: bool) -> Verified {
    let verified = verify_bundle(bundle, &node.genesis).expect("the proof verifies");
    assert_eq!(verified.value.is_some(), present, "{:?}", bundle.entry.description);
    verified
}

/// Polls `done` until it holds (or 30 s pass).
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reward_is_earned_claimed_and_proven_and_rights_are_readable() {
    let wait = Duration::from_secs(30);
    let node = TestNode::start_with(|config| config.gateway.anchor_interval_ms = 200);
    let (fleet, _) = node.onboard_fleet(1);
    let device = fleet[0].id();
    let funder = &node.accounts[1];

    // A pool paying 1,000 per epoch of 5 blocks for readings anchored on stream 1.
    let create = RewardsCall::CreatePool {
        asset: None,
        per_epoch: 1_000,
        epochs: 1_000,
        epoch_blocks: 5,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: Eligibility::Maker { maker: node.addr(0) },
        min_reputation: 0,
        max_work_per_epoch: REWARD_WORK_MAX,
    };
    let status = node.client.execute(funder, vec![create.into()], wait).unwrap();
    let pool = events(&status)
        .iter()
        .find_map(|e| match e {
            Event::Rewards(RewardsEvent::PoolCreated { pool, .. }) => Some(*pool),
            _ => None,
        })
        .expect("a pool");
    let view = node.client.reward_pool(pool).unwrap();
    assert_eq!((view.escrow_left, view.pool.funded), (1_000_000, 1_000_000));
    assert!(view.enrollment_open && !view.claims_open && !view.closable);
    let enroll = RewardsCall::Enroll { pool, device };
    node.client.execute(funder, vec![enroll.into()], wait).unwrap();
    let enrollment = node.client.reward_enrollment(pool, &device).unwrap().expect("enrolled");
    assert_eq!(enrollment.last_counter, 0);
    assert_eq!(node.client.reward_enrollment(pool, &Hash([9; 32])).unwrap(), None);

    // One reading anchored after the enrollment is the device's work.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let reading = fleet[0].reading(1, 1, now.as_millis() as u64, numeric(21, 0, "C"));
    node.client.submit_reading(&reading).unwrap();
    until("the reading is anchored", || node.client.stream(&device, 1).unwrap().anchored == 1);
    let enrolled_in = u64::from(enrollment.last_report_epoch);
    until("the epoch after the enrollment's", || {
        node.client.reward_pool(pool).unwrap().epoch.is_some_and(|e| e > enrolled_in)
    });
    let report = RewardsCall::Report { pool, device };
    let status = node.client.execute(funder, vec![report.into()], wait).unwrap();
    let epoch = events(&status)
        .iter()
        .find_map(|e| match e {
            Event::Rewards(RewardsEvent::Reported { epoch, work, .. }) => {
                assert_eq!(*work, 1);
                Some(*epoch)
            }
            _ => None,
        })
        .expect("work credited");
    let total = node.client.reward_epoch(pool, epoch).unwrap().expect("a total");
    assert_eq!((total.total_work, total.devices), (1, 1));
    let work = node.client.reward_work(pool, epoch, &device).unwrap().expect("work");
    assert_eq!((work.work.work, work.work.claimed, work.reward), (1, false, 1_000));
    assert_eq!(node.client.reward_work(pool, epoch + 1, &device).unwrap(), None);

    // Claimed once the epoch's reporting has closed: the device's owner is paid.
    until("the epoch's claims open", || {
        node.client.reward_pool(pool).unwrap().claimable_through.is_some_and(|e| e >= epoch)
    });
    let before = node.client.account(&node.addr(0)).unwrap().balance;
    let claim = RewardsCall::Claim { pool, epoch, device };
    let status = node.client.execute(funder, vec![claim.into()], wait).unwrap();
    assert!(events(&status).iter().any(|e| matches!(
        e,
        Event::Rewards(RewardsEvent::Paid { amount: 1_000, to, .. }) if *to == node.addr(0)
    )));
    assert_eq!(node.client.account(&node.addr(0)).unwrap().balance, before + 1_000);
    let view = node.client.reward_pool(pool).unwrap();
    assert_eq!((view.pool.paid, view.escrow_left), (1_000, 999_000));

    // The payout, proven offline from its three keys: the pool's rule, the epoch's total
    // and the device's work, now paid.
    let proof = node.client.reward_work_proof(pool, epoch, &device).unwrap();
    verified(&node, &proof, true);
    assert_eq!(proof.entry.decoded, Some(json!({ "work": 1, "claimed": true })));
    let proof = node.client.reward_epoch_proof(pool, epoch).unwrap();
    verified(&node, &proof, true);
    assert_eq!(proof.entry.decoded, Some(json!({ "total_work": 1, "devices": 1 })));
    let proof = node.client.reward_pool_proof(pool).unwrap();
    verified(&node, &proof, true);
    assert_eq!(proof.entry.decoded.as_ref().unwrap()["paid"], 1_000);
    let absent = node.client.reward_work_proof(pool, epoch + 1, &device).unwrap();
    verified(&node, &absent, false);
    let (status, body) = node.get_raw(&format!("/v1/reward-pools/{pool}/epochs/4294967296"));
    assert_eq!((status, code(&body)), (400, "invalid_parameter"));
    assert_eq!(node.get_raw("/v1/reward-pools/999").0, 404);

    // A usage right and a data asset on the device, minted by its owner.
    let owner = &node.accounts[0];
    let ms = now.as_millis() as u64;
    let mint = OwnershipCall::MintRight {
        device,
        kind: ResourceKind::Compute,
        starts_ms: ms,
        ends_ms: ms + 3_600_000,
        units: 10,
        to: node.addr(2),
        price: Some(5),
    };
    let data = OwnershipCall::MintDataAsset { device, stream: 1, to: node.addr(3) };
    let status = node.client.execute(owner, vec![mint.into(), data.into()], wait).unwrap();
    let (mut right, mut asset) = (None, None);
    for event in events(&status) {
        match event {
            Event::Ownership(OwnershipEvent::RightMinted { right: nft, .. }) => right = Some(nft),
            Event::Ownership(OwnershipEvent::DataAssetMinted { asset: nft, .. }) => {
                asset = Some(nft)
            }
            _ => {}
        }
    }
    let (right, asset) = (right.expect("a right"), asset.expect("a data asset"));
    let view = node.client.right(right).unwrap();
    assert_eq!((view.holder, view.reserved, view.right.price), (Some(node.addr(2)), 10, Some(5)));
    let rights = node.client.device_rights(&device).unwrap();
    assert_eq!(rights.rights, vec![view]);
    let holder = node.client.data_rights(&device, 1).unwrap();
    assert_eq!((holder.asset, holder.holder), (Some(asset), node.addr(3)));
    let holder = node.client.data_rights(&device, 2).unwrap();
    assert_eq!((holder.asset, holder.holder), (None, node.addr(0)));
    assert_eq!(node.get_raw(&format!("/v1/rights/{asset}")).0, 404, "a data asset is no right");
    assert_eq!(node.get_raw(&format!("/v1/devices/{}/rights", Hash([9; 32]))).0, 404);
}
