//! The fuzzer's wallets operations: policies (with boundary values in every limit, list
//! length and time), freezes, recoveries, session keys and their acts, multisigs and their
//! proposals; and a flow that adds a session key and acts with it, so acts get past the
//! key check.

use super::{ACCOUNTS, DEVICES, Id, Op, Run, SignedBy, TxOps, account, edges, num};
use machina_types::{
    Address, BankCall, Call, Event, Hash, WalletsCall,
    wallets::{
        COOLDOWN_MS_MAX, Limit, MULTISIG_MEMBERS_MAX, PERIOD_MS_MAX, POLICY_COUNTERPARTIES_MAX,
        POLICY_LIMITS_MAX, POLICY_MARKETS_MAX, POLICY_MODULES_MAX, Policy, TIMELOCK_MS_MAX,
        WalletsEvent,
    },
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Wallets calls that succeeded, acts that succeeded and multisig executions that paid.
static WALLET_CALLS: AtomicU64 = AtomicU64::new(0);
static ACTS: AtomicU64 = AtomicU64::new(0);
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

/// Names the newest multisig in an op.
const NEWEST: u8 = u8::MAX;

/// A wallets call, as a template filled in against the chain when it runs.
#[derive(Clone, Debug)]
pub(super) enum WalletOp {
    SetPolicy {
        account: usize,
        policy: PolicyOp,
    },
    RemovePolicy {
        account: usize,
    },
    Freeze {
        account: usize,
        frozen: bool,
    },
    Recover {
        account: usize,
        amount: u64,
        to: usize,
    },
    AddSession {
        account: usize,
        key: usize,
        policy: PolicyOp,
    },
    Revoke {
        account: usize,
        key: usize,
    },
    Act {
        account: usize,
        to: usize,
        amounts: Vec<u64>,
    },
    /// `members: 0` names accounts 1, 2 and 3.
    CreateMultisig {
        members: usize,
        threshold: u8,
        timelock_ms: u64,
    },
    Propose {
        multisig: u8,
        to: usize,
        amount: u64,
    },
    Approve {
        multisig: u8,
        proposal: Id,
    },
    Execute {
        multisig: u8,
        proposal: Id,
    },
    Cancel {
        multisig: u8,
        proposal: Id,
    },
    Fund {
        multisig: u8,
        amount: u64,
    },
}

/// A policy's shape: its guardian, a native limit, list lengths and times.
#[derive(Clone, Debug)]
pub(super) struct PolicyOp {
    guardian: usize,
    limit: Option<(u64, u64, Option<u64>)>,
    limits: usize,
    counterparties: usize,
    modules: usize,
    markets: usize,
    cooldown_ms: u64,
    expires_in_ms: Option<u64>,
}

/// An account a policy names: one of the accounts, or a device's account.
fn target() -> impl Strategy<Value = usize> {
    prop_oneof![6 => account(), 1 => ACCOUNTS..ACCOUNTS + DEVICES as usize]
}

/// A list length at its edges: 0, 1, `max - 1`, `max`, `max + 1`.
fn len(max: usize) -> BoxedStrategy<usize> {
    let edge = prop_oneof![Just(1usize), Just(max - 1), Just(max), Just(max + 1)];
    prop_oneof![8 => Just(0usize), 4 => edge].boxed()
}

/// A policy's shape, boxed (its tree is too large for a test thread's stack otherwise).
fn policy_op() -> BoxedStrategy<PolicyOp> {
    let per_period = edges(1..5_000, 1_000, u64::MAX);
    let period =
        prop_oneof![4 => Just(86_400_000u64), 1 => edges(1..5_000, PERIOD_MS_MAX, u64::MAX)];
    let limit = proptest::option::weighted(0.7, (per_period, period, proptest::option::of(num())));
    let cooldown = prop_oneof![6 => Just(0u64), 1 => edges(1..3_000, COOLDOWN_MS_MAX, u64::MAX)];
    let expires = proptest::option::weighted(0.2, edges(0..3_000, 100_000, u64::MAX));
    let lists = (len(POLICY_COUNTERPARTIES_MAX), len(POLICY_MODULES_MAX), len(POLICY_MARKETS_MAX));
    (target(), limit, len(POLICY_LIMITS_MAX), lists, cooldown, expires)
        .prop_map(|(guardian, limit, limits, lists, cooldown_ms, expires_in_ms)| PolicyOp {
            guardian,
            limit,
            limits,
            counterparties: lists.0,
            modules: lists.1,
            markets: lists.2,
            cooldown_ms,
            expires_in_ms,
        })
        .boxed()
}

/// A proposal id: mostly the newest, sometimes any or a raw number.
fn proposal() -> BoxedStrategy<Id> {
    let existing = any::<u8>().prop_map(Id::Existing);
    prop_oneof![4 => Just(Id::Newest), 2 => existing, 1 => num().prop_map(Id::Raw)].boxed()
}

fn amount() -> BoxedStrategy<u64> {
    prop_oneof![4 => 1u64..2_000, 1 => num()].boxed()
}

/// Policy, freeze, recovery and session-key ops.
fn policy_ops() -> BoxedStrategy<WalletOp> {
    let acts = proptest::collection::vec(amount(), 0..6);
    prop_oneof![
        3 => (target(), policy_op())
            .prop_map(|(account, policy)| WalletOp::SetPolicy { account, policy }),
        1 => target().prop_map(|account| WalletOp::RemovePolicy { account }),
        2 => (target(), any::<bool>())
            .prop_map(|(account, frozen)| WalletOp::Freeze { account, frozen }),
        1 => (target(), amount(), account())
            .prop_map(|(account, amount, to)| WalletOp::Recover { account, amount, to }),
        2 => (target(), account(), policy_op())
            .prop_map(|(account, key, policy)| WalletOp::AddSession { account, key, policy }),
        1 => (target(), account()).prop_map(|(account, key)| WalletOp::Revoke { account, key }),
        2 => (target(), account(), acts)
            .prop_map(|(account, to, amounts)| WalletOp::Act { account, to, amounts }),
    ]
    .boxed()
}

/// Multisig ops: creations at the bounds of members, threshold and timelock, proposals,
/// approvals, executions, cancellations and funding of the first few multisigs.
fn multisig_ops() -> BoxedStrategy<WalletOp> {
    let ms = || 0u8..4;
    let threshold = prop_oneof![4 => 1u8..3, 1 => Just(0u8), 1 => any::<u8>()];
    let members = prop_oneof![
        4 => 2usize..4,
        1 => Just(1usize),
        1 => Just(MULTISIG_MEMBERS_MAX),
        1 => Just(MULTISIG_MEMBERS_MAX + 1),
    ];
    let timelock =
        prop_oneof![4 => Just(0u64), 2 => 1u64..3_000, 1 => edges(0..1, TIMELOCK_MS_MAX, u64::MAX)];
    prop_oneof![
        2 => (members, threshold, timelock).prop_map(|(members, threshold, timelock_ms)| {
            WalletOp::CreateMultisig { members, threshold, timelock_ms }
        }),
        2 => (ms(), account(), amount())
            .prop_map(|(multisig, to, amount)| WalletOp::Propose { multisig, to, amount }),
        2 => (ms(), proposal())
            .prop_map(|(multisig, proposal)| WalletOp::Approve { multisig, proposal }),
        2 => (ms(), proposal())
            .prop_map(|(multisig, proposal)| WalletOp::Execute { multisig, proposal }),
        1 => (ms(), proposal())
            .prop_map(|(multisig, proposal)| WalletOp::Cancel { multisig, proposal }),
        1 => (ms(), amount()).prop_map(|(multisig, amount)| WalletOp::Fund { multisig, amount }),
    ]
    .boxed()
}

/// Wallets calls with boundary values.
pub(super) fn op() -> BoxedStrategy<Op> {
    prop_oneof![3 => policy_ops(), 2 => multisig_ops()]
        .prop_map(|op| Op::Wallets(Box::new(op)))
        .boxed()
}

/// An account adds a session key (another account) and the key acts for it at once.
pub(super) fn flow() -> BoxedStrategy<Vec<TxOps>> {
    (1..ACCOUNTS, 1..ACCOUNTS, policy_op(), account(), proptest::collection::vec(1u64..3_000, 1..4))
        .prop_map(|(owner, key, policy, to, amounts)| {
            let policy = PolicyOp { expires_in_ms: Some(60_000), ..policy };
            let add = WalletOp::AddSession { account: owner, key, policy };
            let act = WalletOp::Act { account: owner, to, amounts };
            vec![
                (SignedBy::Account(owner), vec![Op::Wallets(Box::new(add))]),
                (SignedBy::Account(key), vec![Op::Wallets(Box::new(act))]),
            ]
        })
        .boxed()
}

/// Accounts 1, 2 and 3 make a 2-of-3 multisig; then, on the newest multisig made before
/// this block (the previous flow's, if any), account 4 funds it, 1 proposes a payment, 2
/// approves it and 3 executes it.
pub(super) fn multisig_flow() -> BoxedStrategy<Vec<TxOps>> {
    (1u64..3_000, 1u64..3_000, account(), prop_oneof![4 => Just(0u64), 1 => Just(1_000u64)])
        .prop_map(|(fund, amount, to, timelock_ms)| {
            let op = |op| vec![Op::Wallets(Box::new(op))];
            let create = WalletOp::CreateMultisig { members: 0, threshold: 2, timelock_ms };
            let proposal = Id::Next;
            vec![
                (SignedBy::Account(1), op(create)),
                (SignedBy::Account(4), op(WalletOp::Fund { multisig: NEWEST, amount: fund })),
                (SignedBy::Account(1), op(WalletOp::Propose { multisig: NEWEST, to, amount })),
                (SignedBy::Account(2), op(WalletOp::Approve { multisig: NEWEST, proposal })),
                (SignedBy::Account(3), op(WalletOp::Execute { multisig: NEWEST, proposal })),
            ]
        })
        .boxed()
}

/// Counts the wallets milestones among a successful transaction's `events`.
pub(super) fn count(events: &[Event]) {
    for e in events {
        let Event::Wallets(e) = e else { continue };
        WALLET_CALLS.fetch_add(1, Ordering::Relaxed);
        match e {
            WalletsEvent::Acted { .. } => ACTS.fetch_add(1, Ordering::Relaxed),
            WalletsEvent::Executed { .. } => EXECUTIONS.fetch_add(1, Ordering::Relaxed),
            _ => continue,
        };
    }
}

/// Prints the wallets milestones of the run (each sequence ran twice).
pub(super) fn report() {
    let [calls, acts, executions] =
        [&WALLET_CALLS, &ACTS, &EXECUTIONS].map(|c| c.load(Ordering::Relaxed) / 2);
    eprintln!(
        "wallets: {calls} wallets events, {acts} session-key acts, {executions} multisig executions"
    );
}

impl Run {
    /// Account `i`, or for `ACCOUNTS..` a device's account (its current key).
    fn target(&self, i: usize) -> Address {
        match self.devices.get(i.wrapping_sub(ACCOUNTS)) {
            Some(id) if i >= ACCOUNTS => self.keys.get(id).map_or(Address([0xdd; 32]), |k| {
                Address::of(&commonware_cryptography::Signer::public_key(k))
            }),
            _ => self.addr(i % ACCOUNTS),
        }
    }

    /// The `n`-th multisig created (modulo how many; [`NEWEST`] for the newest), or an
    /// unknown address.
    fn multisig(&self, n: u8) -> Address {
        let all = &self.chain().multisigs;
        let i = if n == NEWEST { all.len().saturating_sub(1) } else { usize::from(n) };
        all.get(i % all.len().max(1)).copied().unwrap_or(Address([0xcc; 32]))
    }

    fn proposal(&self, multisig: &Address, id: Id) -> u64 {
        let m: Option<crate::modules::wallets::state::Multisig> =
            self.chain().state.get(&crate::modules::wallets::keys::multisig(multisig));
        id.resolve(m.map_or(1, |m| m.next_proposal))
    }

    fn policy(&self, p: &PolicyOp) -> Policy {
        let limit = |i: usize| {
            let (per_period, period_ms, per_tx) = p.limit.unwrap_or((1_000, 86_400_000, None));
            Limit { asset: (i > 0).then_some(i as u64), per_period, period_ms, per_tx }
        };
        let limits = match p.limit {
            Some(_) => (0..p.limits.max(1)).map(limit).collect(),
            None => Vec::new(),
        };
        Policy {
            guardian: self.target(p.guardian),
            frozen: false,
            expires_at_ms: p.expires_in_ms.map(|ms| self.chain().now_ms.saturating_add(ms)),
            limits,
            counterparties: (0..p.counterparties).map(|i| self.addr(i % ACCOUNTS)).collect(),
            modules: (0..p.modules).map(|i| [1, 8, 4][i % 3]).collect(),
            markets: vec![Hash([7; 32]); p.markets],
            cooldown_ms: p.cooldown_ms,
        }
    }

    /// The wallets call an op stands for.
    pub(super) fn wallets_call(&self, signer: usize, op: Op) -> Result<Call, Op> {
        let Op::Wallets(op) = op else { return Err(op) };
        let t = |i| self.target(i);
        Ok(match *op {
            WalletOp::SetPolicy { account, policy } => {
                WalletsCall::SetPolicy { account: t(account), policy: self.policy(&policy) }
            }
            WalletOp::RemovePolicy { account } => WalletsCall::RemovePolicy { account: t(account) },
            WalletOp::Freeze { account, frozen: true } => {
                WalletsCall::Freeze { account: t(account) }
            }
            WalletOp::Freeze { account, frozen: false } => {
                WalletsCall::Unfreeze { account: t(account) }
            }
            WalletOp::Recover { account, amount, to } => {
                WalletsCall::Recover { account: t(account), asset: None, amount, to: self.addr(to) }
            }
            WalletOp::AddSession { account, key, policy } => {
                let mut policy = self.policy(&policy);
                policy.expires_at_ms.get_or_insert(self.chain().now_ms + 60_000);
                WalletsCall::AddSessionKey { account: t(account), key: self.addr(key), policy }
            }
            WalletOp::Revoke { account, key } => {
                WalletsCall::RevokeSessionKey { account: t(account), key: self.addr(key) }
            }
            WalletOp::Act { account, to, amounts } => {
                let to = self.addr(to);
                let calls = amounts.iter().map(|&amount| BankCall::Transfer { to, amount }.into());
                WalletsCall::Act { account: t(account), calls: calls.collect() }
            }
            WalletOp::CreateMultisig { members, threshold, timelock_ms } => {
                // Past the accounts and devices, members no key of the run controls.
                let fixed = members == 0;
                let members = if fixed { 3 } else { members };
                let signer = if fixed { 0 } else { signer };
                let members = (0..members)
                    .map(|i| match i < ACCOUNTS + DEVICES as usize {
                        true => self.target((signer + i + usize::from(fixed)) % (ACCOUNTS + 3)),
                        false => Address([0x40 + i as u8; 32]),
                    })
                    .collect();
                WalletsCall::CreateMultisig { members, threshold, timelock_ms }
            }
            WalletOp::Propose { multisig, to, amount } => {
                let calls = vec![BankCall::Transfer { to: self.addr(to), amount }.into()];
                WalletsCall::Propose { multisig: self.multisig(multisig), calls }
            }
            WalletOp::Approve { multisig, proposal } => {
                let multisig = self.multisig(multisig);
                WalletsCall::Approve { multisig, proposal: self.proposal(&multisig, proposal) }
            }
            WalletOp::Execute { multisig, proposal } => {
                let multisig = self.multisig(multisig);
                WalletsCall::Execute { multisig, proposal: self.proposal(&multisig, proposal) }
            }
            WalletOp::Cancel { multisig, proposal } => {
                let multisig = self.multisig(multisig);
                WalletsCall::Cancel { multisig, proposal: self.proposal(&multisig, proposal) }
            }
            WalletOp::Fund { multisig, amount } => {
                return Ok(BankCall::Transfer { to: self.multisig(multisig), amount }.into());
            }
        }
        .into())
    }
}
