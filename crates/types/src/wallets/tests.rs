use super::*;
use crate::{BankCall, Call, ModuleCall, OwnershipCall};
use alloc::vec;
use commonware_codec::{DecodeExt, Encode};

fn addr(b: u8) -> Address {
    Address([b; 32])
}

fn transfer() -> Call {
    Call::Bank(BankCall::Transfer { to: addr(9), amount: 1 })
}

fn full_policy() -> Policy {
    Policy {
        guardian: addr(1),
        frozen: true,
        expires_at_ms: Some(u64::MAX),
        limits: (0..POLICY_LIMITS_MAX as u64)
            .map(|i| Limit {
                asset: if i == 0 { None } else { Some(i) },
                per_period: u64::MAX,
                period_ms: PERIOD_MS_MAX,
                per_tx: Some(u64::MAX),
            })
            .collect(),
        counterparties: vec![addr(2); POLICY_COUNTERPARTIES_MAX],
        modules: vec![0; POLICY_MODULES_MAX],
        markets: vec![Hash([3; 32]); POLICY_MARKETS_MAX],
        cooldown_ms: COOLDOWN_MS_MAX,
    }
}

#[test]
fn calls_round_trip_in_both_encodings() {
    let calls = [
        WalletsCall::SetPolicy { account: addr(1), policy: full_policy() },
        WalletsCall::SetPolicy { account: addr(1), policy: Policy::guarded_by(addr(1)) },
        WalletsCall::RemovePolicy { account: addr(1) },
        WalletsCall::Freeze { account: addr(1) },
        WalletsCall::Unfreeze { account: addr(1) },
        WalletsCall::Recover { account: addr(1), asset: Some(3), amount: 5, to: addr(2) },
        WalletsCall::AddSessionKey { account: addr(1), key: addr(4), policy: full_policy() },
        WalletsCall::RevokeSessionKey { account: addr(1), key: addr(4) },
        WalletsCall::Act { account: addr(1), calls: vec![transfer(); ACT_CALLS_MAX] },
        WalletsCall::CreateMultisig {
            members: vec![addr(1); MULTISIG_MEMBERS_MAX],
            threshold: 16,
            timelock_ms: TIMELOCK_MS_MAX,
        },
        WalletsCall::Propose { multisig: addr(5), calls: vec![transfer(); PROPOSAL_CALLS_MAX] },
        WalletsCall::Approve { multisig: addr(5), proposal: u64::MAX },
        WalletsCall::Execute { multisig: addr(5), proposal: 1 },
        WalletsCall::Cancel { multisig: addr(5), proposal: 0 },
    ];
    for call in calls {
        crate::call::assert_round_trips(&Call::Wallets(call));
    }
}

#[test]
fn a_call_carrying_a_carrier_is_refused_while_decoding_at_every_level() {
    let act = |calls| Call::Wallets(WalletsCall::Act { account: addr(1), calls });
    let propose = |calls| Call::Wallets(WalletsCall::Propose { multisig: addr(2), calls });
    let owned = |calls| {
        Call::Ownership(OwnershipCall::Propose { machine: 1, calls, description: Hash([0; 32]) })
    };
    let carriers = [act(vec![transfer()]), propose(vec![transfer()]), owned(vec![transfer()])];
    for inner in &carriers {
        for outer in
            [act(vec![inner.clone()]), propose(vec![inner.clone()]), owned(vec![inner.clone()])]
        {
            assert!(Call::decode(outer.encode()).is_err(), "{outer:?} decoded");
            assert_eq!(outer.check(), Err(ErrorCode::InvalidCall));
        }
    }
}

#[test]
fn policies_are_checked_at_their_bounds() {
    let ok = |policy: Policy| WalletsCall::SetPolicy { account: addr(1), policy }.check().is_ok();
    let mut p = full_policy();
    assert!(ok(p.clone()));
    p.cooldown_ms = COOLDOWN_MS_MAX + 1;
    assert!(!ok(p.clone()));
    let mut p = full_policy();
    p.counterparties.push(addr(3));
    assert!(!ok(p.clone()), "33 counterparties");
    let mut p = full_policy();
    p.modules.push(1);
    assert!(!ok(p));
    let mut p = full_policy();
    p.markets.push(Hash([1; 32]));
    assert!(!ok(p));
    let mut p = full_policy();
    p.limits.push(Limit { asset: Some(99), per_period: 1, period_ms: 1, per_tx: None });
    assert!(!ok(p), "9 limits");
    let limit = |per_period, period_ms, per_tx| {
        let mut p = Policy::guarded_by(addr(1));
        p.limits = vec![Limit { asset: None, per_period, period_ms, per_tx }];
        ok(p)
    };
    assert!(limit(0, 1, None), "a zero limit forbids spending");
    assert!(limit(1, 1, Some(1)));
    assert!(limit(u64::MAX, PERIOD_MS_MAX, Some(u64::MAX - 1)));
    assert!(!limit(1, 0, None), "an empty window");
    assert!(!limit(1, PERIOD_MS_MAX + 1, None));
    assert!(!limit(1, 1, Some(2)), "a per-transaction cap above the window's");
    let mut p = Policy::guarded_by(addr(1));
    p.limits = vec![Limit { asset: None, per_period: 1, period_ms: 1, per_tx: None }; 2];
    assert!(!ok(p), "two limits on one asset");
}

#[test]
fn sessions_acts_and_multisigs_are_checked_at_their_bounds() {
    let session = |expires_at_ms| {
        let policy = Policy { expires_at_ms, ..Policy::guarded_by(addr(1)) };
        WalletsCall::AddSessionKey { account: addr(1), key: addr(2), policy }.check()
    };
    assert_eq!(session(Some(0)), Ok(()));
    assert_eq!(session(None), Err(ErrorCode::InvalidCall), "a session key must expire");
    let own = WalletsCall::AddSessionKey {
        account: addr(1),
        key: addr(1),
        policy: Policy { expires_at_ms: Some(1), ..Policy::guarded_by(addr(1)) },
    };
    assert_eq!(own.check(), Err(ErrorCode::InvalidCall), "an account is not its own session key");
    let act = |calls: Vec<Call>| WalletsCall::Act { account: addr(1), calls }.check();
    assert_eq!(act(vec![]), Err(ErrorCode::InvalidCall));
    assert_eq!(act(vec![transfer()]), Ok(()));
    assert_eq!(act(vec![transfer(); ACT_CALLS_MAX]), Ok(()));
    assert_eq!(act(vec![transfer(); ACT_CALLS_MAX + 1]), Err(ErrorCode::InvalidCall));
    let freeze = Call::Wallets(WalletsCall::Freeze { account: addr(1) });
    assert_eq!(act(vec![freeze]), Err(ErrorCode::InvalidCall), "no wallets calls in an act");
    let zero = Call::Bank(BankCall::Transfer { to: addr(9), amount: 0 });
    assert_eq!(act(vec![zero]), Err(ErrorCode::InvalidCall), "carried calls are checked");
    let multisig = |n: usize, threshold: u8, timelock_ms| {
        let members = (0..n).map(|i| addr(i as u8)).collect();
        WalletsCall::CreateMultisig { members, threshold, timelock_ms }.check().is_ok()
    };
    assert!(multisig(2, 1, 0));
    assert!(multisig(2, 2, TIMELOCK_MS_MAX));
    assert!(multisig(MULTISIG_MEMBERS_MAX, 16, 0));
    assert!(multisig(MULTISIG_MEMBERS_MAX - 1, 15, 0));
    assert!(!multisig(1, 1, 0), "one member");
    assert!(!multisig(MULTISIG_MEMBERS_MAX + 1, 1, 0));
    assert!(!multisig(3, 0, 0), "no approvals needed");
    assert!(!multisig(3, 4, 0), "more approvals than members");
    assert!(!multisig(3, 2, TIMELOCK_MS_MAX + 1));
    let twice = vec![addr(1), addr(1)];
    assert!(
        WalletsCall::CreateMultisig { members: twice, threshold: 1, timelock_ms: 0 }
            .check()
            .is_err()
    );
    let recover = |amount| {
        WalletsCall::Recover { account: addr(1), asset: None, amount, to: addr(2) }.check()
    };
    assert_eq!(recover(0), Err(ErrorCode::InvalidCall));
    assert_eq!(recover(u64::MAX), Ok(()));
}

#[cfg(feature = "std")]
#[test]
fn every_key_is_described_and_read_back_from_its_description() {
    use super::keys::*;
    use crate::describe::known;
    let (a, k) = (addr(1), addr(2));
    assert_eq!(known(&describe_policy(&a)).unwrap().key, policy(&a));
    assert_eq!(known(&describe_session(&a, &k)).unwrap().key, session(&a, &k));
    assert_eq!(known(&describe_multisig(&a)).unwrap().key, multisig(&a));
    assert_eq!(known(&describe_proposal(&a, u64::MAX)).unwrap().key, proposal(&a, u64::MAX));
    assert_ne!(session(&a, &k), session(&k, &a));
    assert!(known("wallets/proposal/00/1").is_none());
    assert!(known("wallets/policy").is_none());
}
