//! Policies, session keys, the kill switch, recovery and multisigs, each rule and each
//! refusal; every refusal leaves the wallets' state and every balance but the fee as it was.

use super::{keys, state::Guarded};
use crate::{
    exec::Applied,
    genesis::Params,
    modules::identity::tests::{Fixture, OTHER, OWNER},
    state::Key,
    testing::Chain,
};
use machina_types::{
    Address, BankCall, Call, ErrorCode, Event, MarketCall, Outcome, WalletsCall,
    market::{Component, ResourceKind},
    wallets::{Limit, Policy, WalletsEvent, params::WalletsParams, state::Multisig},
};

const DAY: u64 = 24 * 3600 * 1000;

fn pay(to: Address, amount: u64) -> Call {
    Call::Bank(BankCall::Transfer { to, amount })
}

fn daily(guardian: Address, per_period: u64, per_tx: Option<u64>) -> Policy {
    let limit = Limit { asset: None, per_period, period_ms: DAY, per_tx };
    Policy { limits: vec![limit], ..Policy::guarded_by(guardian) }
}

fn set(account: Address, policy: Policy) -> WalletsCall {
    WalletsCall::SetPolicy { account, policy }
}

/// What a refusal must leave as it was: the values at `keys` and the balances of `watched`.
struct Snapshot {
    values: Vec<Option<Vec<u8>>>,
    balances: Vec<u64>,
}

fn snapshot(chain: &Chain, keys: &[Key], watched: &[Address]) -> Snapshot {
    Snapshot {
        values: keys.iter().map(|k| chain.state.entries.get(k).cloned()).collect(),
        balances: watched.iter().map(|a| chain.balance(a)).collect(),
    }
}

/// Runs `calls` from account `i`, expects them to fail with `code`, and checks that the
/// values at `keys` and the balances of `watched` did not change, the signer's but for the
/// fee.
fn refused(chain: &mut Chain, i: usize, calls: Vec<Call>, code: ErrorCode, keys: &[Key]) {
    let signer = chain.addr(i);
    let fees = crate::modules::bank::fee_pool();
    let watched: Vec<Address> =
        chain.holders.iter().copied().filter(|a| *a != signer && *a != fees).collect();
    let before = snapshot(chain, keys, &watched);
    let balance = chain.balance(&signer);
    let tx = chain.tx(i, calls);
    let receipt = match chain.block(vec![tx]).remove(0) {
        Applied::Included(receipt) => receipt,
        Applied::Rejected(code) => panic!("rejected: {code}"),
    };
    assert!(matches!(receipt.outcome, Outcome::Failed { code: c, .. } if c == code), "{receipt:?}");
    let after = snapshot(chain, keys, &watched);
    assert_eq!(before.values, after.values, "state changed");
    assert_eq!(before.balances, after.balances, "a balance changed");
    assert_eq!(chain.balance(&signer), balance - receipt.fee, "the signer paid more than its fee");
}

/// Expects a transaction of `calls` from `i` to be rejected at inclusion with `code`, its
/// nonce unused.
fn rejected(chain: &mut Chain, i: usize, calls: Vec<Call>, code: ErrorCode) {
    let nonce = chain.account(&chain.addr(i)).nonce;
    let balance = chain.balance(&chain.addr(i));
    let tx = chain.tx_with_nonce(i, nonce, calls);
    assert_eq!(chain.block(vec![tx]), vec![Applied::Rejected(code)]);
    assert_eq!(chain.account(&chain.addr(i)).nonce, nonce);
    assert_eq!(chain.balance(&chain.addr(i)), balance, "no fee");
}

/// A fixture with device 1 owned by `OWNER`; returns it with the device's account index.
fn device_fixture() -> (Fixture, usize) {
    let mut f = Fixture::new();
    f.onboard(1, OWNER);
    let device = f.chain.add_account(Fixture::device_key(1));
    let device_addr = f.chain.addr(device);
    f.chain.run(0, pay(device_addr, 1_000_000)).unwrap();
    (f, device)
}

#[test]
fn a_device_with_1000_a_day_spends_1000_is_refused_the_1001st_unit_and_spends_next_day() {
    let (mut f, device) = device_fixture();
    let chain = &mut f.chain;
    let (dev, to) = (chain.addr(device), chain.addr(OTHER));
    // The owner sets the device's policy without the device's consent.
    chain.run(OWNER, set(dev, daily(chain.addr(OWNER), 1_000, None))).unwrap();
    chain.run(device, pay(to, 600)).unwrap();
    chain.run(device, pay(to, 400)).unwrap();
    let key = keys::policy(&dev);
    refused(chain, device, vec![pay(to, 1)], ErrorCode::OverSpendingLimit, &[key]);
    let g: Guarded = chain.state.get(&key).unwrap();
    assert_eq!(g.usage[0].spent, 1_000);
    chain.wait(DAY);
    chain.run(device, pay(to, 1)).unwrap();
    chain.run(device, pay(to, 999)).unwrap();
    refused(chain, device, vec![pay(to, 1)], ErrorCode::OverSpendingLimit, &[key]);
}

#[test]
fn the_per_transaction_cap_counts_every_call_of_the_transaction() {
    let mut chain = Chain::new(3);
    let (a, to) = (chain.addr(1), chain.addr(2));
    chain.run(1, set(a, daily(chain.addr(0), u64::MAX, Some(100)))).unwrap();
    let key = keys::policy(&a);
    refused(&mut chain, 1, vec![pay(to, 60), pay(to, 41)], ErrorCode::OverTransactionCap, &[key]);
    refused(&mut chain, 1, vec![pay(to, 101)], ErrorCode::OverTransactionCap, &[key]);
    let tx = chain.tx(1, vec![pay(to, 60), pay(to, 40)]);
    assert!(
        matches!(&chain.block(vec![tx])[0], Applied::Included(r) if r.outcome == Outcome::Success)
    );
}

#[test]
fn limits_hold_at_their_boundaries() {
    let mut chain = Chain::new(3);
    let (a, to) = (chain.addr(1), chain.addr(2));
    chain.run(1, set(a, daily(a, 0, None))).unwrap();
    let key = keys::policy(&a);
    refused(&mut chain, 1, vec![pay(to, 1)], ErrorCode::OverSpendingLimit, &[key]);
    // Receiving is not spending, and the fee is not spending.
    chain.run(2, pay(a, 5)).unwrap();
    chain.run(1, set(a, daily(a, 1, Some(1)))).unwrap();
    chain.run(1, pay(to, 1)).unwrap();
    refused(&mut chain, 1, vec![pay(to, 1)], ErrorCode::OverSpendingLimit, &[key]);
    chain.run(1, set(a, daily(a, u64::MAX, Some(u64::MAX - 1)))).unwrap();
    chain.run(1, pay(to, 10)).unwrap();
    let g: Guarded = chain.state.get(&key).unwrap();
    assert_eq!(g.usage[0].spent, 11, "a replaced policy keeps the window's spending");
}

#[test]
fn only_the_guardian_or_the_device_owner_changes_freezes_or_removes_a_policy() {
    let (mut f, device) = device_fixture();
    let chain = &mut f.chain;
    let dev = chain.addr(device);
    // The device names itself its guardian: its owner still governs it.
    chain.run(device, set(dev, daily(dev, 10, None))).unwrap();
    chain.run(OWNER, set(dev, daily(chain.addr(OWNER), 5, None))).unwrap();
    let key = keys::policy(&dev);
    let stranger = OTHER;
    for call in [
        set(dev, daily(chain.addr(stranger), 1, None)),
        WalletsCall::Freeze { account: dev },
        WalletsCall::Unfreeze { account: dev },
        WalletsCall::RemovePolicy { account: dev },
        WalletsCall::Recover { account: dev, asset: None, amount: 1, to: chain.addr(stranger) },
    ] {
        refused(chain, stranger, vec![call.clone().into()], ErrorCode::NotGuardian, &[key]);
        refused(chain, device, vec![call.into()], ErrorCode::NotGuardian, &[key]);
    }
    chain.run(OWNER, WalletsCall::RemovePolicy { account: dev }).unwrap();
    assert!(!chain.state.entries.contains_key(&key));
    refused(
        chain,
        OWNER,
        vec![WalletsCall::Freeze { account: dev }.into()],
        ErrorCode::NoPolicy,
        &[key],
    );
}

#[test]
fn a_frozen_account_is_rejected_at_inclusion_and_its_guardian_recovers_its_balance() {
    let mut chain = Chain::new(4);
    let (a, guardian, safe) = (chain.addr(1), chain.addr(2), chain.addr(3));
    chain.run(1, set(a, Policy::guarded_by(guardian))).unwrap();
    let key = keys::policy(&a);
    let recover = |amount| WalletsCall::Recover { account: a, asset: None, amount, to: safe };
    refused(&mut chain, 2, vec![recover(1).into()], ErrorCode::NotFrozen, &[key]);
    chain.run(2, WalletsCall::Freeze { account: a }).unwrap();
    rejected(&mut chain, 1, vec![pay(safe, 1)], ErrorCode::AccountFrozen);
    let balance = chain.balance(&a);
    refused(&mut chain, 2, vec![recover(balance + 1).into()], ErrorCode::InsufficientFunds, &[key]);
    let before = chain.balance(&safe);
    chain.run(2, recover(balance)).unwrap();
    assert_eq!((chain.balance(&a), chain.balance(&safe)), (0, before + balance));
    chain.run(2, WalletsCall::Unfreeze { account: a }).unwrap();
    chain.run(3, pay(a, 1_000_000)).unwrap();
    chain.run(1, pay(safe, 1)).unwrap();
}

#[test]
fn an_expired_policy_or_an_active_cooldown_rejects_at_inclusion() {
    let mut chain = Chain::new(3);
    let (a, to) = (chain.addr(1), chain.addr(2));
    let expiring = Policy { expires_at_ms: Some(chain.now_ms + 1_000), ..Policy::guarded_by(to) };
    chain.run(1, set(a, expiring)).unwrap();
    chain.run(1, pay(to, 1)).unwrap();
    chain.wait(1_000);
    rejected(&mut chain, 1, vec![pay(to, 1)], ErrorCode::PolicyExpired);
    chain.run(2, set(a, Policy { cooldown_ms: 1_000, ..Policy::guarded_by(to) })).unwrap();
    chain.run(1, pay(to, 1)).unwrap();
    rejected(&mut chain, 1, vec![pay(to, 1)], ErrorCode::CooldownActive);
    chain.wait(1_000);
    chain.run(1, pay(to, 1)).unwrap();
}

#[test]
fn allow_lists_refuse_other_modules_counterparties_and_markets() {
    let mut chain = Chain::new(4);
    let (a, friend, stranger) = (chain.addr(1), chain.addr(2), chain.addr(3));
    let listed = Policy { counterparties: vec![friend], ..Policy::guarded_by(friend) };
    chain.run(1, set(a, listed)).unwrap();
    let key = keys::policy(&a);
    chain.run(1, pay(friend, 1)).unwrap();
    let asset = BankCall::TransferAsset { asset: 1, to: stranger, amount: 1 };
    let channel = machina_types::ChannelsCall::Open {
        payee: stranger,
        asset: None,
        deposit: 1,
        challenge_blocks: 1,
    };
    let stream = machina_types::ChannelsCall::OpenStream {
        payee: stranger,
        asset: None,
        deposit: 1,
        rate_per_sec: 1,
    };
    for call in [pay(stranger, 1), asset.into(), channel.into(), stream.into()] {
        refused(&mut chain, 1, vec![call], ErrorCode::CounterpartyNotAllowed, &[key]);
    }
    chain.run(2, set(a, Policy { modules: vec![1], ..Policy::guarded_by(friend) })).unwrap();
    let intent = MarketCall::Intent {
        region: String::new(),
        components: vec![Component { kind: ResourceKind::Compute, quantity: 1 }],
        units: 1,
        max_price: 1,
        deadline_ms: chain.now_ms + DAY,
        min_reputation: 0,
        partial: false,
    };
    refused(&mut chain, 1, vec![intent.clone().into()], ErrorCode::CallNotAllowed, &[key]);
    let market = machina_types::market::market_id(&ResourceKind::Storage, "");
    chain.run(2, set(a, Policy { markets: vec![market], ..Policy::guarded_by(friend) })).unwrap();
    refused(&mut chain, 1, vec![intent.into()], ErrorCode::MarketNotAllowed, &[key]);
}

fn session(account: Address, key: Address, per_day: u64, expires_at_ms: u64) -> WalletsCall {
    let policy = Policy { expires_at_ms: Some(expires_at_ms), ..daily(account, per_day, None) };
    WalletsCall::AddSessionKey { account, key, policy }
}

fn act(account: Address, calls: Vec<Call>) -> Call {
    WalletsCall::Act { account, calls }.into()
}

#[test]
fn a_session_key_acts_within_its_policy_and_the_accounts_until_revoked_or_expired() {
    let mut chain = Chain::new(4);
    let (a, k, to) = (chain.addr(1), chain.addr(2), chain.addr(3));
    let far = chain.now_ms + 10 * DAY;
    chain.run(1, session(a, k, 50, far)).unwrap();
    chain.run(1, set(a, daily(chain.addr(3), 70, None))).unwrap();
    let (skey, pkey) = (keys::session(&a, &k), keys::policy(&a));
    let watched = [skey, pkey];
    let before = chain.balance(&a);
    let events = chain.run(2, act(a, vec![pay(to, 30)])).unwrap();
    assert!(events.contains(&Event::Wallets(WalletsEvent::Acted { account: a, key: k })));
    assert_eq!(chain.balance(&a), before - 30, "the account paid, the key paid only its fee");
    refused(&mut chain, 2, vec![act(a, vec![pay(to, 21)])], ErrorCode::OverSpendingLimit, &watched);
    chain.run(1, pay(to, 30)).unwrap();
    // The session has 20 left, the account 10: the account's limit holds too.
    refused(&mut chain, 2, vec![act(a, vec![pay(to, 11)])], ErrorCode::OverSpendingLimit, &watched);
    chain.run(2, act(a, vec![pay(to, 10)])).unwrap();
    chain.run(3, WalletsCall::Freeze { account: a }).unwrap();
    refused(&mut chain, 2, vec![act(a, vec![pay(to, 1)])], ErrorCode::AccountFrozen, &watched);
    chain.run(3, WalletsCall::RemovePolicy { account: a }).unwrap();
    chain.run(1, WalletsCall::RevokeSessionKey { account: a, key: k }).unwrap();
    refused(&mut chain, 2, vec![act(a, vec![pay(to, 1)])], ErrorCode::UnknownSessionKey, &[]);
    chain.run(1, session(a, k, 50, chain.now_ms + 1_000)).unwrap();
    chain.wait(1_000);
    refused(&mut chain, 2, vec![act(a, vec![pay(to, 1)])], ErrorCode::SessionExpired, &[skey]);
}

#[test]
fn a_session_key_cannot_act_for_an_account_it_was_not_added_to_nor_manage_wallets() {
    let mut chain = Chain::new(4);
    let (a, k, b) = (chain.addr(1), chain.addr(2), chain.addr(3));
    chain.run(1, session(a, k, 50, chain.now_ms + DAY)).unwrap();
    refused(&mut chain, 2, vec![act(b, vec![pay(a, 1)])], ErrorCode::UnknownSessionKey, &[]);
    let widen: Call = session(a, k, u64::MAX, u64::MAX).into();
    let tx = chain.tx(2, vec![act(a, vec![widen])]);
    assert_eq!(chain.block(vec![tx]), vec![Applied::Rejected(ErrorCode::InvalidCall)]);
    // A non-guardian cannot add or revoke a session key for an account.
    let key = keys::session(&a, &k);
    refused(&mut chain, 3, vec![session(a, b, 1, u64::MAX).into()], ErrorCode::NotGuardian, &[]);
    let revoke = WalletsCall::RevokeSessionKey { account: a, key: k };
    refused(&mut chain, 3, vec![revoke.into()], ErrorCode::NotGuardian, &[key]);
}

/// Creates a multisig of accounts 1, 2 and 3 needing `threshold`, funded with 1,000.
fn multisig(chain: &mut Chain, threshold: u8, timelock_ms: u64) -> Address {
    let members = vec![chain.addr(1), chain.addr(2), chain.addr(3)];
    let events = chain.run(1, WalletsCall::CreateMultisig { members, threshold, timelock_ms });
    let address = match &events.unwrap()[..] {
        [Event::Wallets(WalletsEvent::MultisigCreated { multisig, .. })] => *multisig,
        other => panic!("{other:?}"),
    };
    chain.holders.insert(address);
    chain.run(0, pay(address, 1_000)).unwrap();
    address
}

fn ms(call: fn(Address, u64) -> WalletsCall, m: Address, id: u64) -> Vec<Call> {
    vec![call(m, id).into()]
}

fn approve(multisig: Address, proposal: u64) -> WalletsCall {
    WalletsCall::Approve { multisig, proposal }
}

fn execute(multisig: Address, proposal: u64) -> WalletsCall {
    WalletsCall::Execute { multisig, proposal }
}

fn cancel(multisig: Address, proposal: u64) -> WalletsCall {
    WalletsCall::Cancel { multisig, proposal }
}

#[test]
fn a_two_of_three_multisig_spend_needs_two_approvals() {
    let mut chain = Chain::new(5);
    let m = multisig(&mut chain, 2, 0);
    let to = chain.addr(4);
    chain.run(1, WalletsCall::Propose { multisig: m, calls: vec![pay(to, 300)] }).unwrap();
    let (mkey, pkey) = (keys::multisig(&m), keys::proposal(&m, 1));
    let watched = [mkey, pkey];
    refused(&mut chain, 1, ms(execute, m, 1), ErrorCode::ThresholdNotMet, &watched);
    refused(&mut chain, 1, ms(approve, m, 1), ErrorCode::AlreadyApproved, &watched);
    refused(&mut chain, 4, ms(approve, m, 1), ErrorCode::NotMember, &watched);
    refused(&mut chain, 4, ms(execute, m, 1), ErrorCode::NotMember, &watched);
    chain.run(2, approve(m, 1)).unwrap();
    refused(&mut chain, 2, ms(approve, m, 1), ErrorCode::AlreadyApproved, &watched);
    let before = chain.balance(&to);
    chain.run(3, execute(m, 1)).unwrap();
    assert_eq!((chain.balance(&m), chain.balance(&to)), (700, before + 300));
    let watched = [mkey];
    refused(&mut chain, 3, ms(execute, m, 1), ErrorCode::MultisigProposalFinished, &watched);
    refused(&mut chain, 3, ms(approve, m, 1), ErrorCode::MultisigProposalFinished, &watched);
    refused(&mut chain, 3, ms(execute, m, 2), ErrorCode::UnknownMultisigProposal, &watched);
    refused(&mut chain, 3, ms(execute, m, 0), ErrorCode::UnknownMultisigProposal, &watched);
    let other = chain.addr(4);
    refused(&mut chain, 1, ms(execute, other, 1), ErrorCode::UnknownMultisig, &[]);
}

#[test]
fn a_failed_execution_leaves_the_proposal_open_and_the_proposer_may_cancel_it() {
    let mut chain = Chain::new(5);
    let m = multisig(&mut chain, 1, 1_000);
    let to = chain.addr(4);
    chain.run(2, WalletsCall::Propose { multisig: m, calls: vec![pay(to, 5_000)] }).unwrap();
    let watched = [keys::multisig(&m), keys::proposal(&m, 1)];
    refused(&mut chain, 2, ms(execute, m, 1), ErrorCode::MultisigTimelockActive, &watched);
    chain.wait(1_000);
    refused(&mut chain, 2, ms(execute, m, 1), ErrorCode::InsufficientFunds, &watched);
    refused(&mut chain, 1, ms(cancel, m, 1), ErrorCode::NotProposer, &watched);
    chain.run(2, cancel(m, 1)).unwrap();
    let stored: Multisig = chain.state.get(&keys::multisig(&m)).unwrap();
    assert_eq!((stored.open, stored.next_proposal), (0, 2));
    refused(&mut chain, 2, ms(execute, m, 1), ErrorCode::MultisigProposalFinished, &[]);
}

#[test]
fn a_multisig_holds_at_most_its_open_proposals_and_executions_do_not_nest() {
    let params = Params { wallets: WalletsParams { proposals_open_max: 2 }, ..Params::default() };
    let mut chain = Chain::with_params(5, params);
    let m = multisig(&mut chain, 1, 0);
    let propose = |calls| WalletsCall::Propose { multisig: m, calls };
    chain.run(1, propose(vec![execute(m, 1).into()])).unwrap();
    chain.run(1, propose(vec![pay(m, 1)])).unwrap();
    let watched = [keys::multisig(&m), keys::proposal(&m, 3)];
    let third = vec![propose(vec![pay(m, 1)]).into()];
    refused(&mut chain, 1, third.clone(), ErrorCode::TooManyProposals, &watched);
    let watched = [keys::multisig(&m), keys::proposal(&m, 1)];
    refused(&mut chain, 1, ms(execute, m, 1), ErrorCode::NestedExecution, &watched);
    chain.run(1, cancel(m, 1)).unwrap();
    chain.run(1, third.into_iter().next().unwrap()).unwrap();
}

#[test]
fn a_multisig_execution_is_held_to_the_multisigs_own_policy() {
    let mut chain = Chain::new(5);
    let m = multisig(&mut chain, 1, 0);
    let guardian = chain.addr(4);
    let propose = |calls| WalletsCall::Propose { multisig: m, calls };
    chain.run(1, propose(vec![set(m, daily(guardian, 100, None)).into()])).unwrap();
    chain.run(1, execute(m, 1)).unwrap();
    chain.run(1, propose(vec![pay(guardian, 101)])).unwrap();
    let watched = [keys::multisig(&m), keys::policy(&m), keys::proposal(&m, 2)];
    refused(&mut chain, 1, ms(execute, m, 2), ErrorCode::OverSpendingLimit, &watched);
    chain.run(4, WalletsCall::Freeze { account: m }).unwrap();
    refused(&mut chain, 1, ms(execute, m, 2), ErrorCode::AccountFrozen, &watched);
}

#[test]
fn a_session_keys_own_allow_lists_hold_as_well_as_the_accounts() {
    let mut chain = Chain::new(5);
    let (a, k, friend, stranger) = (chain.addr(1), chain.addr(2), chain.addr(3), chain.addr(4));
    let policy = Policy {
        expires_at_ms: Some(u64::MAX),
        counterparties: vec![friend],
        ..Policy::guarded_by(a)
    };
    chain.run(1, WalletsCall::AddSessionKey { account: a, key: k, policy }).unwrap();
    chain.run(2, act(a, vec![pay(friend, 5)])).unwrap();
    let watched = [keys::session(&a, &k)];
    let code = ErrorCode::CounterpartyNotAllowed;
    refused(&mut chain, 2, vec![act(a, vec![pay(friend, 1), pay(stranger, 1)])], code, &watched);
    chain.run(1, set(a, Policy { modules: vec![4], ..Policy::guarded_by(a) })).unwrap();
    let code = ErrorCode::CallNotAllowed;
    refused(&mut chain, 2, vec![act(a, vec![pay(friend, 1)])], code, &watched);
}

#[test]
fn admission_refuses_a_frozen_account_and_an_expired_policy_only() {
    use super::enforce::admits;
    let policy = |frozen, expires_at_ms| {
        Guarded::new(Policy { frozen, expires_at_ms, ..Policy::guarded_by(Address([1; 32])) })
    };
    assert_eq!(admits(None, 5), Ok(()));
    assert_eq!(admits(Some(&policy(false, None)), 5), Ok(()));
    assert_eq!(admits(Some(&policy(true, None)), 5), Err(ErrorCode::AccountFrozen));
    assert_eq!(admits(Some(&policy(false, Some(6))), 5), Ok(()));
    assert_eq!(admits(Some(&policy(false, Some(5))), 5), Err(ErrorCode::PolicyExpired));
    assert_eq!(admits(Some(&policy(false, Some(0))), u64::MAX), Err(ErrorCode::PolicyExpired));
}

#[test]
fn a_policy_that_cannot_be_read_rejects_its_accounts_transaction_and_the_chain_goes_on() {
    let mut chain = Chain::new(3);
    let (a, b) = (chain.addr(1), chain.addr(2));
    // A broken invariant: only the state machine writes state.
    chain.state.entries.insert(keys::policy(&a), vec![0xff; 3]);
    rejected(&mut chain, 1, vec![pay(b, 1)], ErrorCode::Internal);
    chain.run(2, pay(a, 1)).unwrap();
}
