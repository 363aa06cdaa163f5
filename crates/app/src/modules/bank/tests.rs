//! Bank rules and invariants, block by block on an in-memory state.

use super::{fee_pool, keys, state::*};
use crate::{exec::Applied, state::MemState};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::bank::BankEvent;
use machina_types::{Address, BankCall, Call, ErrorCode, Hash, Outcome, Transaction};
use proptest::prelude::*;

use crate::testing::{CHAIN, Chain, START};

fn receipt(applied: &Applied) -> &machina_types::Receipt {
    match applied {
        Applied::Included(r) => r,
        Applied::Rejected(code) => panic!("rejected: {code}"),
    }
}

#[test]
fn genesis_funds_accounts_in_block_one() {
    let chain = Chain::new(3);
    assert_eq!(chain.balance(&chain.addr(2)), START);
}

#[test]
fn transfer_moves_funds_and_pays_the_fee_to_the_pool() {
    let mut chain = Chain::new(2);
    let (a, b) = (chain.addr(0), chain.addr(1));
    let tx = chain.tx(0, vec![BankCall::Transfer { to: b, amount: 500 }]);
    let fee = tx.tx.fee;
    let r = chain.block(vec![tx]);
    assert_eq!(receipt(&r[0]).outcome, Outcome::Success);
    assert_eq!(chain.balance(&a), START - 500 - fee);
    assert_eq!(chain.balance(&b), START + 500);
    assert_eq!(chain.balance(&fee_pool()), fee);
    assert_eq!(chain.account(&a).nonce, 1);
}

#[test]
fn a_failed_transfer_pays_its_fee_and_uses_its_nonce_but_moves_nothing() {
    let mut chain = Chain::new(2);
    let (a, b) = (chain.addr(0), chain.addr(1));
    let tx = chain.tx(0, vec![BankCall::Transfer { to: b, amount: START * 2 }]);
    let fee = tx.tx.fee;
    let r = chain.block(vec![tx]);
    assert_eq!(
        receipt(&r[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::InsufficientFunds }
    );
    assert!(receipt(&r[0]).events.is_empty());
    assert_eq!(chain.balance(&a), START - fee);
    assert_eq!(chain.balance(&b), START);
    assert_eq!(chain.account(&a).nonce, 1);
}

#[test]
fn the_calls_of_a_transaction_are_atomic() {
    let mut chain = Chain::new(3);
    let (a, b, c) = (chain.addr(0), chain.addr(1), chain.addr(2));
    let tx = chain.tx(
        0,
        vec![
            BankCall::Transfer { to: b, amount: 100 },
            BankCall::Transfer { to: c, amount: START * 10 },
        ],
    );
    let fee = tx.tx.fee;
    let r = chain.block(vec![tx]);
    assert_eq!(
        receipt(&r[0]).outcome,
        Outcome::Failed { call: 1, code: ErrorCode::InsufficientFunds }
    );
    assert_eq!(chain.balance(&b), START, "the first call's transfer was undone");
    assert_eq!(chain.balance(&a), START - fee);
}

#[test]
fn a_replayed_nonce_is_rejected_and_changes_nothing() {
    let mut chain = Chain::new(2);
    let b = chain.addr(1);
    let tx = chain.tx(0, vec![BankCall::Transfer { to: b, amount: 5 }]);
    chain.block(vec![tx.clone()]);
    let before = chain.state.clone();
    let r = chain.block(vec![tx]);
    assert_eq!(r[0], Applied::Rejected(ErrorCode::NonceTooLow));
    assert_eq!(chain.state, before);
}

#[test]
fn a_nonce_gap_is_rejected() {
    let mut chain = Chain::new(2);
    let b = chain.addr(1);
    let tx = chain.tx_with_nonce(0, 3, vec![BankCall::Transfer { to: b, amount: 5 }]);
    assert_eq!(chain.block(vec![tx])[0], Applied::Rejected(ErrorCode::NonceTooHigh));
}

#[test]
fn an_account_that_cannot_pay_the_fee_is_rejected() {
    let mut chain = Chain::new(2);
    let (a, poor) = (chain.addr(0), PrivateKey::from_seed(99));
    let poor_addr = Address::of(&poor.public_key());
    chain.holders.insert(poor_addr);
    let tx = chain.tx(0, vec![BankCall::Transfer { to: poor_addr, amount: 10 }]);
    chain.block(vec![tx]);
    let tx = Transaction {
        chain_id: CHAIN.into(),
        signer: poor_addr,
        nonce: 0,
        fee: 100_000,
        expiry_height: 100,
        calls: vec![Call::Bank(BankCall::Transfer { to: a, amount: 1 })],
    }
    .sign(&poor);
    assert_eq!(chain.block(vec![tx])[0], Applied::Rejected(ErrorCode::CannotPayFee));
}

#[test]
fn an_expired_or_foreign_transaction_is_rejected() {
    let mut chain = Chain::new(2);
    let b = chain.addr(1);
    let mut tx = chain.tx_with_nonce(0, 0, vec![BankCall::Transfer { to: b, amount: 5 }]);
    tx.tx.expiry_height = 1;
    assert_eq!(chain.block(vec![tx])[0], Applied::Rejected(ErrorCode::Expired));
    let mut tx = chain.tx_with_nonce(0, 0, vec![BankCall::Transfer { to: b, amount: 5 }]);
    tx.tx.chain_id = "elsewhere".into();
    assert_eq!(chain.block(vec![tx])[0], Applied::Rejected(ErrorCode::WrongChain));
}

fn create_asset(chain: &mut Chain, issuer: usize, cap: Option<u64>) -> u64 {
    let tx = chain.tx(
        issuer,
        vec![BankCall::CreateAsset {
            symbol: "KWH".into(),
            name: "Kilowatt hours".into(),
            decimals: 3,
            max_supply: cap,
            metadata: vec![1, 2, 3],
        }],
    );
    let r = chain.block(vec![tx]);
    match receipt(&r[0]).events[0] {
        machina_types::Event::Bank(BankEvent::AssetCreated { asset, .. }) => asset,
        ref e => panic!("unexpected event {e:?}"),
    }
}

#[test]
fn an_issuer_creates_mints_and_holders_transfer_and_burn_an_asset() {
    let mut chain = Chain::new(3);
    let (issuer, b, c) = (chain.addr(0), chain.addr(1), chain.addr(2));
    let id = create_asset(&mut chain, 0, Some(1_000));
    assert_eq!(id, 1);
    let info: AssetInfo = chain.state.get(&keys::asset(id)).unwrap();
    assert_eq!((info.issuer, info.supply, info.decimals), (issuer, 0, 3));

    let tx = chain.tx(0, vec![BankCall::MintAsset { asset: id, to: b, amount: 600 }]);
    assert_eq!(receipt(&chain.block(vec![tx])[0]).outcome, Outcome::Success);
    let tx = chain.tx(1, vec![BankCall::TransferAsset { asset: id, to: c, amount: 200 }]);
    assert_eq!(receipt(&chain.block(vec![tx])[0]).outcome, Outcome::Success);
    let tx = chain.tx(2, vec![BankCall::BurnAsset { asset: id, amount: 50 }]);
    assert_eq!(receipt(&chain.block(vec![tx])[0]).outcome, Outcome::Success);

    assert_eq!(chain.state.get::<u64>(&keys::asset_balance(id, &b)), Some(400));
    assert_eq!(chain.state.get::<u64>(&keys::asset_balance(id, &c)), Some(150));
    let info: AssetInfo = chain.state.get(&keys::asset(id)).unwrap();
    assert_eq!(info.supply, 550);
}

#[test]
fn only_the_issuer_mints_and_never_past_the_cap() {
    let mut chain = Chain::new(2);
    let b = chain.addr(1);
    let id = create_asset(&mut chain, 0, Some(100));
    let tx = chain.tx(1, vec![BankCall::MintAsset { asset: id, to: b, amount: 1 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::NotIssuer }
    );
    let tx = chain.tx(0, vec![BankCall::MintAsset { asset: id, to: b, amount: 101 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::SupplyCapExceeded }
    );
    let tx = chain.tx(0, vec![BankCall::MintAsset { asset: 77, to: b, amount: 1 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::UnknownAsset }
    );
}

#[test]
fn holders_cannot_move_or_burn_more_than_they_hold() {
    let mut chain = Chain::new(2);
    let a = chain.addr(0);
    let id = create_asset(&mut chain, 0, None);
    let tx = chain.tx(0, vec![BankCall::MintAsset { asset: id, to: a, amount: 10 }]);
    chain.block(vec![tx]);
    let tx = chain.tx(0, vec![BankCall::BurnAsset { asset: id, amount: 11 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::InsufficientFunds }
    );
    let tx = chain.tx(1, vec![BankCall::TransferAsset { asset: 9, to: a, amount: 1 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::UnknownAsset }
    );
}

#[test]
fn an_nft_is_minted_transferred_by_its_owner_only_and_burned() {
    let mut chain = Chain::new(3);
    let (b, c) = (chain.addr(1), chain.addr(2));
    let tx = chain.tx(0, vec![BankCall::MintNft { to: b, metadata_hash: Hash([4; 32]) }]);
    let r = chain.block(vec![tx]);
    assert_eq!(
        receipt(&r[0]).events,
        vec![machina_types::Event::Bank(BankEvent::NftMinted { id: 1, to: b })]
    );

    let tx = chain.tx(0, vec![BankCall::TransferNft { id: 1, to: c }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::NotOwner }
    );
    let tx = chain.tx(1, vec![BankCall::TransferNft { id: 1, to: c }]);
    assert_eq!(receipt(&chain.block(vec![tx])[0]).outcome, Outcome::Success);
    let nft: Nft = chain.state.get(&keys::nft(1)).unwrap();
    assert_eq!(nft.owner, c);

    let tx = chain.tx(2, vec![BankCall::BurnNft { id: 1 }]);
    assert_eq!(receipt(&chain.block(vec![tx])[0]).outcome, Outcome::Success);
    assert!(chain.state.get::<Nft>(&keys::nft(1)).is_none());
    let tx = chain.tx(2, vec![BankCall::BurnNft { id: 1 }]);
    assert_eq!(
        receipt(&chain.block(vec![tx])[0]).outcome,
        Outcome::Failed { call: 0, code: ErrorCode::UnknownNft }
    );
}

#[test]
fn receipts_are_stored_in_state_by_transaction_hash() {
    let mut chain = Chain::new(2);
    let b = chain.addr(1);
    let tx = chain.tx(0, vec![BankCall::Transfer { to: b, amount: 5 }]);
    let hash = tx.hash();
    let r = chain.block(vec![tx]);
    let stored: machina_types::Receipt =
        chain.state.get(&crate::exec::keys::receipt(&hash)).unwrap();
    assert_eq!(&stored, receipt(&r[0]));
    assert_eq!(stored.height, chain.height);
}

/// An operation of the random workload.
#[derive(Clone, Debug)]
enum Op {
    Transfer { from: usize, to: usize, amount: u64 },
    Create { by: usize },
    Mint { by: usize, asset: u64, to: usize, amount: u64 },
    Move { from: usize, asset: u64, to: usize, amount: u64 },
    Burn { by: usize, asset: u64, amount: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0usize..4;
    prop_oneof![
        4 => (who.clone(), who.clone(), 1u64..2 * START)
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        1 => who.clone().prop_map(|by| Op::Create { by }),
        2 => (who.clone(), 1u64..4, who.clone(), 1u64..5_000)
            .prop_map(|(by, asset, to, amount)| Op::Mint { by, asset, to, amount }),
        2 => (who.clone(), 1u64..4, who.clone(), 1u64..3_000)
            .prop_map(|(from, asset, to, amount)| Op::Move { from, asset, to, amount }),
        1 => (who, 1u64..4, 1u64..3_000).prop_map(|(by, asset, amount)| Op::Burn { by, asset, amount }),
    ]
}

fn run_workload(blocks: &[Vec<Op>]) -> MemState {
    let mut chain = Chain::new(4);
    for ops in blocks {
        let txs = ops
            .iter()
            .map(|op| match *op {
                Op::Transfer { from, to, amount } => {
                    let to = chain.addr(to);
                    chain.tx(from, vec![BankCall::Transfer { to, amount }])
                }
                Op::Create { by } => chain.tx(
                    by,
                    vec![BankCall::CreateAsset {
                        symbol: "A".into(),
                        name: "a".into(),
                        decimals: 0,
                        max_supply: Some(10_000),
                        metadata: vec![],
                    }],
                ),
                Op::Mint { by, asset, to, amount } => {
                    let to = chain.addr(to);
                    chain.tx(by, vec![BankCall::MintAsset { asset, to, amount }])
                }
                Op::Move { from, asset, to, amount } => {
                    let to = chain.addr(to);
                    chain.tx(from, vec![BankCall::TransferAsset { asset, to, amount }])
                }
                Op::Burn { by, asset, amount } => {
                    chain.tx(by, vec![BankCall::BurnAsset { asset, amount }])
                }
            })
            .collect();
        for r in chain.block(txs) {
            // A sender that spent everything cannot pay its next fee; its later nonces then
            // leave a gap. Nothing else may keep a generated transaction out.
            let allowed = [ErrorCode::CannotPayFee, ErrorCode::NonceTooHigh];
            assert!(
                matches!(r, Applied::Included(_))
                    || matches!(r, Applied::Rejected(code) if allowed.contains(&code)),
                "unexpected rejection: {r:?}"
            );
        }
    }
    chain.state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_workloads_conserve_supply_and_are_deterministic(
        blocks in proptest::collection::vec(proptest::collection::vec(op(), 0..12), 1..8)
    ) {
        let first = run_workload(&blocks);
        let second = run_workload(&blocks);
        prop_assert_eq!(first, second);
    }
}
