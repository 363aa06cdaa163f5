//! The decoder fuzzer: every decoder that takes bytes or JSON from outside (transactions,
//! blocks, gossip messages, readings, commands and acknowledgements, MQTT login tokens,
//! receipts and events, proof bundles) is fed random bytes and mutations of valid
//! encodings. No input may panic; an input that decodes must re-encode to the same bytes
//! (encodings are canonical), and a mutated proof bundle must be refused unless it still
//! says the same thing.
//!
//! `cargo test` runs a bounded number of cases; `MACHINA_FUZZ_CASES=N` runs `N` per decoder
//! (`MACHINA_FUZZ_SEED` replays a run).

mod common;

use common::{Rng, TestNode, free_addr, fuzz_cases};
use commonware_codec::{Decode, Encode, RangeCfg};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{Signer, ed25519::PrivateKey, sha256};
use machina_node::gossip::TXS_PER_MESSAGE_MAX;
use machina_sdk::{
    device::{DeviceIdentity, numeric},
    verify::{verify_bundle, verify_reading},
};
use machina_store::{ProofBundle, ReadingBundle};
use machina_types::{
    Address, BankCall, BlockEvents, Call, ChannelsCall, DataCall, Hash, IdentityCall, MarketCall,
    ProductsCall, Receipt, SignedReading, SignedTransaction, Transaction,
    block::{Block, Context, Header, OpsRange},
    channels::{ChannelsEvent, SignedVoucher, Voucher},
    device::parse_mqtt_password,
    market::{ActuationAck, Command, Component, ResourceKind, SignedCommand},
    ownership::{Milestone, OwnershipCall, OwnershipEvent, Tranche},
    products::{Access, KeyGrant, Payment, PeriodPrice, ProductsEvent, Terms},
    sealed::WrappedKey,
    wallets::{Limit, Policy, WalletsCall, WalletsEvent},
};
use machina_types::{
    Event,
    bank::BankEvent,
    data::DataEvent,
    identity::IdentityEvent,
    market::{MarketEvent, StakeKind},
};
use std::time::Duration;

/// Decodes `bytes` as `T`; if it decodes, it re-encodes to the same bytes.
fn canonical<T: Decode<Cfg = C> + Encode, C>(bytes: &[u8], cfg: &C) {
    if let Ok(value) = T::decode_cfg(commonware_codec::Copying(bytes), cfg) {
        assert_eq!(value.encode().to_vec(), bytes, "a non-canonical encoding decoded");
    }
}

/// Runs `check` on random bytes and on mutations of each of `valid`.
fn fuzz(rng: &mut Rng, name: &str, valid: &[Vec<u8>], check: impl Fn(&[u8])) -> usize {
    let cases = fuzz_cases(3_000);
    for v in valid {
        check(v);
    }
    for _ in 0..cases {
        let input = match rng.below(4) {
            0 => {
                let len = rng.below(512);
                rng.bytes(len)
            }
            _ => {
                let base = rng.pick(valid).clone();
                rng.mutate(&base)
            }
        };
        check(&input);
    }
    eprintln!("decoder fuzzer: {name}: {cases} inputs");
    cases
}

fn transaction(calls: Vec<Call>) -> SignedTransaction {
    let key = PrivateKey::from_seed(5);
    Transaction {
        chain_id: "fuzz".into(),
        signer: Address::of(&key.public_key()),
        nonce: 3,
        fee: 1_000,
        expiry_height: 90,
        calls,
    }
    .sign(&key)
}

fn valid_transactions() -> Vec<SignedTransaction> {
    let device = DeviceIdentity::certify(
        PrivateKey::from_seed(6),
        Address([2; 32]),
        &PrivateKey::from_seed(7),
        "m",
        "s",
    );
    let reading = device.reading(1, 4, 5, numeric(215, 1, "C"));
    vec![
        transaction(vec![BankCall::Transfer { to: Address([1; 32]), amount: 7 }.into()]),
        transaction(vec![
            device.onboard_call("fuzz", &Address([3; 32])).into(),
            IdentityCall::GrantRole {
                device: device.id(),
                account: Address([4; 32]),
                role: "gateway".into(),
                expiry_height: Some(9),
            }
            .into(),
        ]),
        transaction(vec![DataCall::ReportFeed { feed: 1, readings: vec![reading] }.into()]),
        transaction(vec![
            MarketCall::Intent {
                region: "u33d".into(),
                components: vec![Component { kind: ResourceKind::Compute, quantity: 2 }],
                units: 3,
                max_price: 9,
                deadline_ms: 100,
                min_reputation: 10,
                partial: true,
            }
            .into(),
        ]),
        transaction(ownership_calls(device.id())),
        transaction(channel_calls()),
        transaction(product_calls()),
        transaction(wallets_calls()),
    ]
}

/// Data-product calls: a listing, subscriptions both ways, wrapped keys.
fn product_calls() -> Vec<Call> {
    let key = WrappedKey { ephemeral: [1; 32], sealed: [2; 48] };
    vec![
        ProductsCall::List {
            device: Hash([3; 32]),
            streams: vec![1, 2],
            terms: Terms {
                asset: Some(4),
                per_reading: Some(5),
                per_period: Some(PeriodPrice { price: 0, period_ms: 60_000 }),
                licence: Hash([6; 32]),
                access: Access::AllowList { buyers: vec![Address([7; 32])] },
                history: true,
                sealed: true,
            },
        }
        .into(),
        ProductsCall::Subscribe {
            product: 1,
            payment: Payment::Periods { periods: 3 },
            encryption_key: [8; 32],
        }
        .into(),
        ProductsCall::Subscribe {
            product: 1,
            payment: Payment::Channel { channel: 2 },
            encryption_key: [8; 32],
        }
        .into(),
        ProductsCall::PublishKeys {
            product: 1,
            keys: vec![KeyGrant { subscription: 1, stream: 2, epoch: 0, key }],
        }
        .into(),
        ProductsCall::Revoke { subscription: 1 }.into(),
    ]
}

/// Channel calls: an open, a stream, a settlement and a close with vouchers.
fn channel_calls() -> Vec<Call> {
    let payer = PrivateKey::from_seed(12);
    let voucher =
        |cumulative| SignedVoucher::sign(&payer, "fuzz", Voucher { channel: 4, cumulative });
    vec![
        ChannelsCall::Open {
            payee: Address([2; 32]),
            asset: None,
            deposit: 9,
            challenge_blocks: 1,
        }
        .into(),
        ChannelsCall::OpenStream {
            payee: Address([2; 32]),
            asset: Some(3),
            deposit: u64::MAX,
            rate_per_sec: 1,
        }
        .into(),
        ChannelsCall::Settle { channel: 4, voucher: voucher(5) }.into(),
        ChannelsCall::Close { channel: 4, voucher: Some(voucher(u64::MAX)) }.into(),
        ChannelsCall::StartClose { channel: 0 }.into(),
    ]
}

/// Wallets calls: a policy at its list bounds, a session key, an act and a multisig
/// proposal each carrying a call (their carried calls are where nesting is refused).
fn wallets_calls() -> Vec<Call> {
    use machina_types::wallets::{POLICY_COUNTERPARTIES_MAX, POLICY_LIMITS_MAX};
    let transfer: Call = BankCall::Transfer { to: Address([1; 32]), amount: 7 }.into();
    let limit = |i: u64| Limit {
        asset: (i > 0).then_some(i),
        per_period: u64::MAX - i,
        period_ms: 86_400_000,
        per_tx: Some(i),
    };
    let policy = Policy {
        guardian: Address([2; 32]),
        frozen: false,
        expires_at_ms: Some(u64::MAX),
        limits: (0..POLICY_LIMITS_MAX as u64).map(limit).collect(),
        counterparties: vec![Address([3; 32]); POLICY_COUNTERPARTIES_MAX],
        modules: vec![1, 4],
        markets: vec![Hash([4; 32])],
        cooldown_ms: 1_000,
    };
    let account = Address([5; 32]);
    vec![
        WalletsCall::SetPolicy { account, policy: policy.clone() }.into(),
        WalletsCall::AddSessionKey { account, key: Address([6; 32]), policy }.into(),
        WalletsCall::Act { account, calls: vec![transfer.clone()] }.into(),
        WalletsCall::CreateMultisig {
            members: vec![Address([7; 32]), Address([8; 32])],
            threshold: 2,
            timelock_ms: 0,
        }
        .into(),
        WalletsCall::Propose { multisig: Address([9; 32]), calls: vec![transfer] }.into(),
        WalletsCall::Recover { account, asset: Some(3), amount: 1, to: Address([1; 32]) }.into(),
    ]
}

/// Ownership calls: a tokenization, an offering with tranches, a proposal holding calls, a
/// usage right.
fn ownership_calls(device: Hash) -> Vec<Call> {
    let transfer: Call = BankCall::Transfer { to: Address([1; 32]), amount: 7 }.into();
    vec![
        OwnershipCall::Tokenize {
            devices: vec![device],
            symbol: "WT1".into(),
            name: "Wind turbine".into(),
            supply: 1_000,
            retained: 10,
            reserve_bps: 500,
            governance: None,
        }
        .into(),
        OwnershipCall::CreateOffering {
            machine: 1,
            shares: 600,
            price: 1_000,
            asset: None,
            min_shares: 300,
            buyer_min: 1,
            buyer_max: 300,
            deadline: 90,
            beneficiary: Address([5; 32]),
            tranches: vec![
                Tranche { bps: 6_000, milestone: Milestone::Close {} },
                Tranche { bps: 4_000, milestone: Milestone::FirstAnchor { stream: 1 } },
            ],
            milestones_by: 900,
        }
        .into(),
        OwnershipCall::Propose { machine: 1, calls: vec![transfer], description: Hash([7; 32]) }
            .into(),
        OwnershipCall::MintRight {
            device,
            kind: ResourceKind::Actuation { command: "unlock".into() },
            starts_ms: 5,
            ends_ms: 50,
            units: 2,
            to: Address([6; 32]),
            price: Some(5),
        }
        .into(),
    ]
}

fn block(txs: Vec<SignedTransaction>) -> Block {
    let header = Header {
        context: Context {
            round: Round::new(Epoch::zero(), View::new(3)),
            leader: PrivateKey::from_seed(1).public_key(),
            parent: (View::new(2), sha256::Digest([7; 32])),
        },
        parent: Hash([7; 32]),
        height: 2,
        timestamp_ms: 1_700_000_000_000,
        tx_root: Block::tx_root(&txs.iter().map(SignedTransaction::hash).collect::<Vec<_>>()),
        tx_count: txs.len() as u32,
        state_root: Hash([1; 32]),
        ops_root: Hash([2; 32]),
        ops_range: OpsRange { start: 3, end: 10 },
    };
    Block { header, txs }
}

#[test]
fn random_and_mutated_encodings_never_panic_a_decoder_and_what_decodes_is_canonical() {
    let mut rng = Rng::from_env();
    let txs = valid_transactions();
    let encoded: Vec<Vec<u8>> = txs.iter().map(|t| t.encode().to_vec()).collect();
    let mut total = fuzz(&mut rng, "transactions", &encoded, |bytes| {
        if let Ok(tx) = SignedTransaction::decode_checked(bytes) {
            assert_eq!(tx.encode().to_vec(), bytes);
            let _ = tx.verify_signature();
            let _ = tx.tx.calls.iter().map(Call::check).count();
        }
    });
    let gossip_cfg = (RangeCfg::new(0..=TXS_PER_MESSAGE_MAX), ());
    total += fuzz(&mut rng, "gossip messages", &[txs.encode().to_vec()], |bytes| {
        canonical::<Vec<SignedTransaction>, _>(bytes, &gossip_cfg)
    });
    total += fuzz(&mut rng, "blocks", &[block(txs.clone()).encode().to_vec()], |bytes| {
        canonical::<Block, _>(bytes, &())
    });
    let device = DeviceIdentity::certify(
        PrivateKey::from_seed(8),
        Address([2; 32]),
        &PrivateKey::from_seed(9),
        "m",
        "s",
    );
    let mut readings: Vec<Vec<u8>> = [numeric(-5, 2, "kWh"), numeric(i64::MAX, 18, "")]
        .into_iter()
        .map(|v| device.reading(2, u64::from(u8::MAX), 6, v).encode().to_vec())
        .collect();
    let plain = device.reading(2, 9, 6, numeric(215, 1, "C")).reading;
    let sealed = machina_types::sealed::seal(plain, &[4; 32], 3, [5; 24]).unwrap();
    readings.push(sealed.sign(&device.key).encode().to_vec());
    total += fuzz(&mut rng, "signed readings", &readings, |bytes| {
        if let Some(r) = SignedReading::decode_checked(bytes) {
            assert_eq!(r.encode().to_vec(), bytes);
            let _ = r.verify(&Address([3; 32]));
        }
    });
    let gateway = PrivateKey::from_seed(10);
    let command = Command {
        chain_id: "fuzz".into(),
        lease: 4,
        device: device.id(),
        command: "unlock".into(),
        deadline_ms: 99,
        gateway: Address::of(&gateway.public_key()),
    }
    .sign(&gateway);
    total += fuzz(&mut rng, "commands", &[command.encode().to_vec()], |bytes| {
        if let Ok(c) = SignedCommand::decode_cfg(commonware_codec::Copying(bytes), &()) {
            assert_eq!(c.encode().to_vec(), bytes);
            let _ = c.check("fuzz", &device.id(), 1);
        }
    });
    let ack = ActuationAck { lease: 4, signature: gateway.sign(b"x", b"y") };
    total += fuzz(&mut rng, "acknowledgements", &[ack.encode().to_vec()], |bytes| {
        canonical::<ActuationAck, _>(bytes, &())
    });
    let payer = PrivateKey::from_seed(8);
    let payer_address = Address::of(&payer.public_key());
    let voucher = SignedVoucher::sign(&payer, "fuzz", Voucher { channel: 3, cumulative: 500 });
    total += fuzz(&mut rng, "payment-channel vouchers", &[voucher.encode().to_vec()], |bytes| {
        canonical::<SignedVoucher, _>(bytes, &());
        if let Ok(v) = SignedVoucher::decode_cfg(commonware_codec::Copying(bytes), &()) {
            // A mutated voucher verifies only if it still says the same thing.
            if v.verify("fuzz", &payer_address) {
                assert_eq!(v.voucher, voucher.voucher);
            }
        }
    });
    let password = machina_types::device::mqtt_password(&gateway, "fuzz", &device.id(), "c", 9);
    total += fuzz(&mut rng, "MQTT passwords", &[password.into_bytes()], |bytes| {
        let _ = parse_mqtt_password(bytes);
    });
    let receipt = Receipt {
        tx_hash: Hash([1; 32]),
        height: 3,
        index: 0,
        signer: Address([2; 32]),
        fee: 400,
        outcome: machina_types::Outcome::Failed {
            call: 0,
            code: machina_types::ErrorCode::Internal,
        },
        events: vec![machina_types::Event::Data(DataEvent::FeedClosed { feed: 2 })],
    };
    // One event of each module, with boundary values, so that every module's event
    // decoder is mutated.
    let events = BlockEvents(vec![
        Event::Bank(BankEvent::Transfer {
            from: Address([0; 32]),
            to: Address([0xff; 32]),
            amount: u64::MAX,
        }),
        Event::Identity(IdentityEvent::RoleGranted {
            device: Hash([1; 32]),
            account: Address([2; 32]),
            role: "r".repeat(machina_types::limits::ROLE_LEN_MAX),
        }),
        Event::Data(DataEvent::FeedUpdated {
            feed: u64::MAX - 1,
            value: Some(i64::MIN),
            sources: u8::MAX,
        }),
        Event::Data(DataEvent::Anchored {
            device: Hash([3; 32]),
            stream: u32::MAX,
            index: 0,
            first_seq: 1,
            last_seq: machina_types::limits::SEQ_MAX,
            count: 1,
        }),
        Event::Market(MarketEvent::Staked {
            account: Address([4; 32]),
            kind: StakeKind::Solver,
            amount: 0,
        }),
        Event::Ownership(OwnershipEvent::Voted {
            proposal: 3,
            voter: Address([8; 32]),
            approve: true,
            weight: 300,
        }),
        Event::Ownership(OwnershipEvent::RightListed { right: 4, price: Some(9) }),
        Event::Channels(ChannelsEvent::Paid {
            channel: 4,
            to: Address([2; 32]),
            amount: 1,
            total: u64::MAX,
        }),
        Event::Channels(ChannelsEvent::Closed { channel: 4, paid: 0, refunded: 9 }),
        Event::Products(ProductsEvent::Subscribed {
            subscription: 1,
            product: 2,
            subscriber: Address([3; 32]),
            paid: 4,
            until_ms: u64::MAX,
        }),
        Event::Products(ProductsEvent::Rotated { device: Hash([5; 32]), stream: 6, epoch: 7 }),
        Event::Wallets(WalletsEvent::Recovered {
            account: Address([9; 32]),
            asset: Some(u64::MAX),
            amount: u64::MAX,
            to: Address([1; 32]),
        }),
        Event::Wallets(WalletsEvent::Approved {
            multisig: Address([9; 32]),
            proposal: u64::MAX,
            member: Address([2; 32]),
            approvals: u8::MAX,
        }),
        Event::BlockStepFailed {
            step: "market-clearing".into(),
            code: machina_types::ErrorCode::Internal,
        },
    ]);
    let records = vec![receipt.encode().to_vec(), events.encode().to_vec()];
    total += fuzz(&mut rng, "receipts and block events", &records, |bytes| {
        canonical::<Receipt, _>(bytes, &());
        canonical::<BlockEvents, _>(bytes, &());
    });
    assert!(total > 0);
}

/// JSON `text` with a random edit: a character changed, removed or inserted, or a value
/// replaced by a boundary.
fn mutate_json(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(chars.len().max(1));
        match rng.below(4) {
            0 if i < chars.len() => chars[i] = *rng.pick(&['0', 'f', '1', '"', '-', '9', 'é']),
            1 if i < chars.len() => {
                chars.remove(i);
            }
            2 => chars.insert(i.min(chars.len()), *rng.pick(&['a', '0', '{', ']', ','])),
            _ => chars.truncate(i),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_proof_bundles_never_panic_the_verifier_and_are_refused_when_they_change() {
    let node = TestNode::start_with(|config| {
        config.gateway.mqtt_listen = Some(free_addr());
        config.gateway.anchor_interval_ms = 100;
    });
    let (fleet, _) = node.onboard_fleet(1);
    let device = &fleet[0];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let reading = device.reading(1, 1, now.as_millis() as u64, numeric(215, 1, "C"));
    node.client.submit_reading(&reading).unwrap();
    let started = std::time::Instant::now();
    let reading_bundle = loop {
        if let Ok(bundle) = node.client.reading_proof(&device.id(), 1, 1) {
            break bundle;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the reading was not anchored");
        std::thread::sleep(Duration::from_millis(50));
    };
    let account_bundle = node.client.account_proof(&node.addr(0)).unwrap();
    let proven = verify_bundle(&account_bundle, &node.genesis).expect("a real bundle verifies");
    let proven_reading =
        verify_reading(&reading_bundle, &node.genesis).expect("a real reading bundle verifies");

    let mut rng = Rng::from_env();
    let account_text = serde_json::to_string(&account_bundle).unwrap();
    let reading_text = serde_json::to_string(&reading_bundle).unwrap();
    let cases = fuzz_cases(3_000);
    let mut refused = 0;
    for _ in 0..cases {
        let text = mutate_json(&mut rng, &account_text);
        if let Ok(bundle) = serde_json::from_str::<ProofBundle>(&text) {
            match verify_bundle(&bundle, &node.genesis) {
                Ok(verified) => assert_eq!(verified, proven, "a changed bundle proved: {text}"),
                Err(_) => refused += 1,
            }
        }
        let text = mutate_json(&mut rng, &reading_text);
        if let Ok(bundle) = serde_json::from_str::<ReadingBundle>(&text) {
            match verify_reading(&bundle, &node.genesis) {
                Ok(verified) => assert_eq!(verified, proven_reading, "a changed reading proved"),
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!(
        "decoder fuzzer: proof bundles: {} mutations, {refused} parsed and refused",
        2 * cases
    );
    assert!(refused > 0);
}
