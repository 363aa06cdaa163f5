//! Agent wallets end to end through the API of a real node: a device whose owner set it a
//! policy of 1,000 units a day spends 1,000 and is refused its 1,001st unit (and, with a
//! ten-second window, spends again once block time enters the next window); a session key
//! acts for an account within its policy, is refused outside it and after its revocation;
//! a frozen account's transactions are refused and its guardian recovers its balance; a
//! 2-of-3 multisig pays only once two members approved. Every refusal carries its code
//! and changes nothing it names.

mod common;

use common::TestNode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_sdk::client::TxStatus;
use machina_types::{
    Address, BankCall, Call, Event, WalletsCall,
    wallets::{Limit, Policy, WalletsEvent},
};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const DAY_MS: u64 = 24 * 3600 * 1000;

fn pay(to: Address, amount: u64) -> Call {
    BankCall::Transfer { to, amount }.into()
}

fn daily(guardian: Address, per_day: u64) -> Policy {
    let limit = Limit { asset: None, per_period: per_day, period_ms: DAY_MS, per_tx: None };
    Policy { limits: vec![limit], ..Policy::guarded_by(guardian) }
}

struct World {
    node: TestNode,
}

impl World {
    fn addr(&self, i: usize) -> Address {
        self.node.addr(i)
    }

    fn balance(&self, address: &Address) -> u64 {
        self.node.client.account(address).unwrap().balance
    }

    /// Sends `calls` signed by `key` and waits for their outcome.
    fn send(&self, key: &PrivateKey, calls: Vec<Call>) -> TxStatus {
        let (_, hash) = self.node.client.send(key, calls).unwrap();
        self.node.client.wait(&hash, WAIT).unwrap()
    }

    /// Sends `calls`, which must succeed; returns their events.
    fn ok(&self, key: &PrivateKey, calls: Vec<Call>) -> Vec<Event> {
        let status = self.send(key, calls);
        assert_eq!(status.status.to_string(), "finalized", "{:?}", status.error);
        status.receipt.map(|r| r.events).unwrap_or_default()
    }

    /// Sends `calls`, which must fail with `code` leaving the balances of `watched` as they
    /// were (the signer's but for the fee).
    fn refused(&self, key: &PrivateKey, calls: Vec<Call>, code: &str, watched: &[Address]) {
        let signer = Address::of(&key.public_key());
        let before: Vec<u64> = watched.iter().map(|a| self.balance(a)).collect();
        let signer_before = self.balance(&signer);
        let status = self.send(key, calls);
        let error = status.error.as_ref().map(|e| e.code.as_str());
        assert_eq!(error, Some(code), "{status:?}");
        let fee = status.receipt.map_or(0, |r| r.fee);
        assert_eq!(self.balance(&signer), signer_before - fee, "the signer paid only its fee");
        let after: Vec<u64> = watched.iter().map(|a| self.balance(a)).collect();
        assert_eq!(before, after, "a refused transaction moved funds");
    }
}

#[test]
fn a_device_spends_within_the_daily_limit_its_owner_set_and_is_refused_the_next_unit() {
    let node = TestNode::start();
    let (fleet, _) = node.onboard_fleet(1);
    let w = World { node };
    let owner = &w.node.accounts[0];
    let device = &fleet[0].key;
    let device_addr = Address::of(&device.public_key());
    let shop = w.addr(3);
    w.ok(owner, vec![pay(device_addr, 1_000_000)]);
    // The owner sets the device's policy: the device does not sign it.
    let set = WalletsCall::SetPolicy { account: device_addr, policy: daily(w.addr(0), 1_000) };
    w.ok(owner, vec![set.into()]);
    let policy = w.node.client.policy(&device_addr).unwrap().expect("a policy");
    assert_eq!(policy.policy.guardian, w.addr(0));
    w.ok(device, vec![pay(shop, 400)]);
    w.ok(device, vec![pay(shop, 600)]);
    w.refused(device, vec![pay(shop, 1)], "over_spending_limit", &[shop]);
    let policy = w.node.client.policy(&device_addr).unwrap().unwrap();
    assert_eq!(policy.usage[0].spent, 1_000, "the day's spending, and only it, was counted");
    // The device may not lift its own policy.
    let lift = WalletsCall::RemovePolicy { account: device_addr };
    w.refused(device, vec![lift.into()], "not_guardian", &[]);
}

#[test]
fn a_session_key_acts_within_its_policy_then_is_refused_outside_it_and_after_revocation() {
    let w = World { node: TestNode::start() };
    let account = &w.node.accounts[1];
    let key = &w.node.accounts[2];
    let (a, k, shop) = (w.addr(1), w.addr(2), w.addr(3));
    let session = Policy { expires_at_ms: Some(u64::MAX), ..daily(a, 100) };
    let add = WalletsCall::AddSessionKey { account: a, key: k, policy: session };
    w.ok(account, vec![add.into()]);
    assert!(w.node.client.session_key(&a, &k).unwrap().is_some());
    let act = |amount| -> Vec<Call> {
        vec![WalletsCall::Act { account: a, calls: vec![pay(shop, amount)] }.into()]
    };
    let before = w.balance(&a);
    let events = w.ok(key, act(60));
    assert!(events.contains(&Event::Wallets(WalletsEvent::Acted { account: a, key: k })));
    assert_eq!(w.balance(&a), before - 60, "the account paid; the key paid only its fee");
    w.refused(key, act(41), "over_spending_limit", &[a, shop]);
    let revoke = WalletsCall::RevokeSessionKey { account: a, key: k };
    w.ok(account, vec![revoke.into()]);
    assert!(w.node.client.session_key(&a, &k).unwrap().is_none());
    w.refused(key, act(1), "unknown_session_key", &[a, shop]);
}

#[test]
fn a_frozen_account_is_refused_and_its_guardian_recovers_its_balance() {
    let w = World { node: TestNode::start() };
    let (account, guardian) = (&w.node.accounts[4], &w.node.accounts[5]);
    let (a, g, safe) = (w.addr(4), w.addr(5), w.addr(6));
    let set = WalletsCall::SetPolicy { account: a, policy: Policy::guarded_by(g) };
    w.ok(account, vec![set.into()]);
    let recover = |amount| -> Vec<Call> {
        vec![WalletsCall::Recover { account: a, asset: None, amount, to: safe }.into()]
    };
    w.refused(guardian, recover(1), "not_frozen", &[a, safe]);
    w.ok(guardian, vec![WalletsCall::Freeze { account: a }.into()]);
    // Mempool admission refuses the frozen account's transaction: no fee, no nonce.
    let nonce = w.node.client.account(&a).unwrap().next_nonce;
    match w.node.client.send(account, vec![pay(safe, 1)]) {
        Err(machina_sdk::Error::Api { code, .. }) => assert_eq!(code, "account_frozen"),
        other => panic!("a frozen account's transaction was taken: {other:?}"),
    }
    assert_eq!(w.node.client.account(&a).unwrap().next_nonce, nonce);
    let (held, safe_before) = (w.balance(&a), w.balance(&safe));
    w.ok(guardian, recover(held));
    assert_eq!((w.balance(&a), w.balance(&safe)), (0, safe_before + held));
}

#[test]
fn a_two_of_three_multisig_treasury_pays_only_with_two_approvals() {
    let w = World { node: TestNode::start() };
    let members = [w.addr(1), w.addr(2), w.addr(3)];
    let keys = &w.node.accounts;
    let create =
        WalletsCall::CreateMultisig { members: members.to_vec(), threshold: 2, timelock_ms: 0 };
    let events = w.ok(&keys[1], vec![create.into()]);
    let Some(m) = events.iter().find_map(|e| match e {
        Event::Wallets(WalletsEvent::MultisigCreated { multisig, .. }) => Some(*multisig),
        _ => None,
    }) else {
        panic!("no multisig in {events:?}");
    };
    let stored = w.node.client.multisig(&m).unwrap().expect("the multisig");
    assert_eq!((stored.threshold, stored.members.len()), (2, 3));
    w.ok(&keys[0], vec![pay(m, 10_000)]);
    let vendor = w.addr(7);
    let propose = WalletsCall::Propose { multisig: m, calls: vec![pay(vendor, 2_500)] };
    let events = w.ok(&keys[1], vec![propose.into()]);
    let Some(id) = events.iter().find_map(|e| match e {
        Event::Wallets(WalletsEvent::Proposed { proposal, .. }) => Some(*proposal),
        _ => None,
    }) else {
        panic!("no proposal in {events:?}");
    };
    let execute: Vec<Call> = vec![WalletsCall::Execute { multisig: m, proposal: id }.into()];
    w.refused(&keys[1], execute.clone(), "threshold_not_met", &[m, vendor]);
    let approve: Vec<Call> = vec![WalletsCall::Approve { multisig: m, proposal: id }.into()];
    w.refused(&keys[4], approve.clone(), "not_member", &[m, vendor]);
    w.refused(&keys[1], approve.clone(), "already_approved", &[m, vendor]);
    w.ok(&keys[2], approve);
    let proposal = w.node.client.multisig_proposal(&m, id).unwrap().expect("open");
    assert_eq!(proposal.approvals, vec![members[0], members[1]]);
    let vendor_before = w.balance(&vendor);
    w.ok(&keys[3], execute.clone());
    assert_eq!((w.balance(&m), w.balance(&vendor)), (7_500, vendor_before + 2_500));
    assert!(w.node.client.multisig_proposal(&m, id).unwrap().is_none(), "finished");
    w.refused(&keys[3], execute, "multisig_proposal_finished", &[m, vendor]);
}

/// The latest finalized block's time (ms).
fn block_time(w: &World) -> u64 {
    w.node.client.block(None).unwrap().header.timestamp_ms
}

/// Waits until the latest finalized block's time satisfies `ready`.
fn wait_for_block_time(w: &World, ready: impl Fn(u64) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !ready(block_time(w)) {
        assert!(std::time::Instant::now() < deadline, "block time never got there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn spending_refused_in_one_window_is_allowed_again_in_the_next() {
    const PERIOD_MS: u64 = 10_000;
    let w = World { node: TestNode::start() };
    let (key, a, shop) = (&w.node.accounts[6], w.addr(6), w.addr(3));
    let limit = Limit { asset: None, per_period: 1_000, period_ms: PERIOD_MS, per_tx: None };
    let policy = Policy { limits: vec![limit], ..Policy::guarded_by(w.addr(0)) };
    w.ok(key, vec![WalletsCall::SetPolicy { account: a, policy }.into()]);
    // Start early in a window, so that the spend and its refusal fall in the same one.
    wait_for_block_time(&w, |t| t % PERIOD_MS < 1_000);
    w.ok(key, vec![pay(shop, 1_000)]);
    w.refused(key, vec![pay(shop, 1)], "over_spending_limit", &[shop]);
    let window = w.node.client.policy(&a).unwrap().unwrap().usage[0].window_start_ms;
    wait_for_block_time(&w, |t| t >= window + PERIOD_MS);
    w.ok(key, vec![pay(shop, 1)]);
    let usage = w.node.client.policy(&a).unwrap().unwrap().usage[0];
    assert!(usage.window_start_ms > window, "a later window");
    assert_eq!(usage.spent, 1, "only the new window's spending counts");
}
