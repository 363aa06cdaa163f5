//! The mempool: transactions waiting for a block.
//!
//! Bounded in total and per sender; deduplicated by hash; ordered for block building by fee
//! per byte (highest first) while each sender's transactions stay in nonce order. Every
//! entry's signature has been verified, so block verification skips transactions already
//! here. Finalized blocks prune it: included transactions, nonces the chain has moved past,
//! and expired transactions leave, with the reason kept for status queries.
//!
//! Liveness against cheap flooding:
//! - a sender's pending transactions may together cost (fees plus the native tokens their
//!   calls send) at most its balance, when the caller read the balance (the API does; peers'
//!   gossip was admitted by a validator's API already);
//! - a sender has at most `max_per_sender` pending transactions, and an expiry at most
//!   `max_expiry_blocks` ahead, so nothing waits forever;
//! - a transaction that cannot be included when a block is built is evicted
//!   ([`Mempool::evict`]), so unexecutable transactions never fill the next candidates;
//! - a replacement (same sender and nonce) must pay at least [`REPLACEMENT_BUMP_PERCENT`]
//!   more per byte.
//!
//! All collections are ordered maps, never hash maps, so that block building is a
//! deterministic function of what arrived and in which order (simulations replay by seed).

use commonware_codec::EncodeSize;
use machina_types::{Address, Amount, ErrorCode, Hash, Height, SignedTransaction};
use std::{
    cmp::{Ordering, Reverse},
    collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque},
    sync::{Arc, Mutex},
};

/// How much more per byte a replacement must pay than the transaction it replaces.
pub const REPLACEMENT_BUMP_PERCENT: u128 = 10;

/// Mempool limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most transactions held per sender (also how far ahead of the account's nonce a
    /// transaction may be).
    pub max_per_sender: usize,
    /// How far ahead of the next block a transaction's expiry may be.
    pub max_expiry_blocks: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self { max_txs: 200_000, max_per_sender: 64, max_expiry_blocks: 10_000 }
    }
}

/// A fee per byte, compared exactly (fee * other size against other fee * size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeRate {
    fee: Amount,
    size: usize,
}

impl FeeRate {
    /// The rate of a transaction paying `fee` for `size` encoded bytes.
    pub fn new(fee: Amount, size: usize) -> Self {
        Self { fee, size: size.max(1) }
    }

    fn scaled(&self, other: &Self) -> u128 {
        u128::from(self.fee) * other.size as u128
    }

    /// Whether this rate is at least `percent` more than `other`.
    fn exceeds_by(&self, other: &Self, percent: u128) -> bool {
        self.scaled(other) * 100 >= other.scaled(self) * (100 + percent)
    }
}

impl Ord for FeeRate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.scaled(other).cmp(&other.scaled(self))
    }
}

impl PartialOrd for FeeRate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A verified transaction waiting for a block.
#[derive(Debug)]
pub struct PendingTx {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Its hash.
    pub hash: Hash,
    /// The fee it pays.
    pub fee: Amount,
    /// Its fee per byte.
    pub rate: FeeRate,
    /// What it may take from the sender: its fee plus the native tokens its calls send.
    pub cost: u128,
    /// When this node first saw it (ms since the Unix epoch).
    pub received_ms: u64,
    /// Arrival order, the tie-breaker between equal rates.
    seq: u64,
}

/// What the mempool knows of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// Waiting for a block.
    Pending,
    /// Removed without being included, for this reason.
    Dropped(ErrorCode),
}

/// A sender's account as the caller read it from the latest finalized state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// Its next nonce.
    pub nonce: u64,
    /// Its native balance.
    pub balance: Amount,
}

/// Shared handle to the mempool.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<Mutex<Inner>>,
    config: MempoolConfig,
}

/// One sender's pending transactions.
#[derive(Default)]
struct Queue {
    by_nonce: BTreeMap<u64, Hash>,
    /// The sum of their costs.
    cost: u128,
}

#[derive(Default)]
struct Inner {
    by_hash: BTreeMap<Hash, Arc<PendingTx>>,
    senders: BTreeMap<Address, Queue>,
    by_expiry: BTreeSet<(Height, Hash)>,
    /// The next nonce of each sender, as of the latest finalized block.
    nonces: BTreeMap<Address, u64>,
    /// Transactions admitted locally (API) that peers have not been sent yet.
    outbox: Vec<Arc<PendingTx>>,
    dropped: BTreeMap<Hash, ErrorCode>,
    dropped_order: VecDeque<Hash>,
    next_seq: u64,
}

/// How many drop reasons are remembered for status queries.
const DROPPED_REMEMBERED: usize = 65_536;

impl Mempool {
    /// An empty mempool.
    pub fn new(config: MempoolConfig) -> Self {
        Self { inner: Arc::default(), config }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `hash` is pending (and so has a verified signature).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().by_hash.contains_key(hash)
    }

    /// The pending transaction with `hash`.
    pub fn get(&self, hash: &Hash) -> Option<Arc<PendingTx>> {
        self.lock().by_hash.get(hash).cloned()
    }

    /// What the mempool knows of `hash`.
    pub fn state(&self, hash: &Hash) -> Option<TxState> {
        let inner = self.lock();
        if inner.by_hash.contains_key(hash) {
            return Some(TxState::Pending);
        }
        inner.dropped.get(hash).map(|code| TxState::Dropped(*code))
    }

    /// The nonce a sender's next transaction should use: after its pending ones, and never
    /// below `state_nonce`, its account's nonce in the latest finalized state.
    pub fn next_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let inner = self.lock();
        let pending =
            inner.senders.get(sender).and_then(|q| q.by_nonce.keys().next_back()).map(|n| n + 1);
        pending.or_else(|| inner.nonces.get(sender).copied()).unwrap_or(0).max(state_nonce)
    }

    /// Admits a transaction whose stateless checks, signature included, passed, for a block
    /// above `height`. `account` is the sender's account in the latest state when the caller
    /// read it (then the sender's pending cost must stay within its balance); `local` marks
    /// transactions to gossip to peers.
    pub fn insert(
        &self,
        tx: SignedTransaction,
        hash: Hash,
        height: Height,
        account: Option<AccountView>,
        received_ms: u64,
        local: bool,
    ) -> Result<(), ErrorCode> {
        debug_assert!(tx.encode_size() <= machina_types::limits::TX_SIZE_MAX);
        if tx.tx.expiry_height > height.saturating_add(self.config.max_expiry_blocks) {
            return Err(ErrorCode::ExpiryTooFar);
        }
        let fee = tx.tx.fee;
        let rate = FeeRate::new(fee, tx.encode_size());
        let cost = tx.tx.calls.iter().map(|c| c.native_spend()).sum::<u128>() + u128::from(fee);
        let mut inner = self.lock();
        if inner.by_hash.contains_key(&hash) {
            return Err(ErrorCode::Duplicate);
        }
        let signer = tx.tx.signer;
        let nonce = tx.tx.nonce;
        let state_nonce = account.map_or(0, |a| a.nonce);
        let known = state_nonce.max(inner.nonces.get(&signer).copied().unwrap_or(0));
        if account.is_some() {
            inner.nonces.insert(signer, known);
        }
        if nonce < known {
            return Err(ErrorCode::NonceTooLow);
        }
        if nonce - known >= self.config.max_per_sender as u64 {
            return Err(ErrorCode::NonceTooHigh);
        }
        let queue = inner.senders.get(&signer);
        let replaced = queue.and_then(|q| q.by_nonce.get(&nonce)).map(|h| inner.by_hash[h].clone());
        if let Some(old) = &replaced
            && !rate.exceeds_by(&old.rate, REPLACEMENT_BUMP_PERCENT)
        {
            return Err(ErrorCode::ReplacementUnderpriced);
        }
        if let Some(balance) = account.map(|a| a.balance) {
            let pending = queue.map_or(0, |q| q.cost) - replaced.as_ref().map_or(0, |r| r.cost);
            if u128::from(balance) < u128::from(fee) {
                return Err(ErrorCode::CannotPayFee);
            }
            if u128::from(balance) < pending + cost {
                return Err(match pending {
                    0 => ErrorCode::InsufficientFunds,
                    _ => ErrorCode::PendingCostTooHigh,
                });
            }
        }
        if replaced.is_none() {
            if queue.is_some_and(|q| q.by_nonce.len() >= self.config.max_per_sender) {
                return Err(ErrorCode::SenderLimit);
            }
            if inner.by_hash.len() >= self.config.max_txs {
                return Err(ErrorCode::MempoolFull);
            }
        }
        if let Some(old) = replaced {
            inner.remove(&old.hash, Some(ErrorCode::ReplacementUnderpriced));
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let expiry = tx.tx.expiry_height;
        let pending = Arc::new(PendingTx { tx, hash, fee, rate, cost, received_ms, seq });
        inner.by_hash.insert(hash, pending.clone());
        let queue = inner.senders.entry(signer).or_default();
        queue.by_nonce.insert(nonce, hash);
        queue.cost += cost;
        inner.by_expiry.insert((expiry, hash));
        inner.dropped.remove(&hash);
        if local {
            inner.outbox.push(pending);
        }
        Ok(())
    }

    /// Up to `max` transactions for a block: highest fee per byte first, each sender's in
    /// nonce order from its next nonce. A sender's later transactions follow only its earlier
    /// ones. Transactions in `skip` (already in unfinalized ancestors of the block being
    /// built) are passed over, but their senders' later transactions still follow.
    pub fn candidates(&self, max: usize, skip: &BTreeSet<Hash>) -> Vec<Arc<PendingTx>> {
        let inner = self.lock();
        let mut cursors: BTreeMap<&Address, std::collections::btree_map::Range<'_, u64, Hash>> =
            BTreeMap::new();
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &inner.senders {
            let start = inner.nonces.get(sender).copied().unwrap_or(0);
            let mut range = queue.by_nonce.range(start..);
            if let Some((&nonce, hash)) = range.next() {
                if nonce != start && inner.nonces.contains_key(sender) {
                    continue; // a gap: nothing of this sender can execute yet
                }
                let tx = &inner.by_hash[hash];
                heap.push((tx.rate, Reverse(tx.seq), sender, nonce, *hash));
                cursors.insert(sender, range);
            }
        }
        let mut out = Vec::with_capacity(max.min(inner.by_hash.len()));
        while out.len() < max {
            let Some((_, _, sender, nonce, hash)) = heap.pop() else {
                break;
            };
            if !skip.contains(&hash) {
                out.push(inner.by_hash[&hash].clone());
            }
            let cursor = cursors.get_mut(sender).expect("cursor for every queued sender");
            if let Some((&next, next_hash)) = cursor.next()
                && next == nonce + 1
            {
                let tx = &inner.by_hash[next_hash];
                heap.push((tx.rate, Reverse(tx.seq), sender, next, *next_hash));
            }
        }
        out
    }

    /// Evicts transactions that could not be included in a block being built, each with the
    /// reason; status queries report them dropped.
    pub fn evict(&self, refused: &[(Hash, ErrorCode)]) {
        let mut inner = self.lock();
        for (hash, code) in refused {
            inner.remove(hash, Some(*code));
        }
    }

    /// Prunes after a finalized block at `height` that included `txs`.
    pub fn on_finalized(&self, height: Height, txs: &[SignedTransaction], hashes: &[Hash]) {
        let mut inner = self.lock();
        for hash in hashes {
            inner.remove(hash, None);
        }
        for tx in txs {
            let (signer, next) = (tx.tx.signer, tx.tx.nonce + 1);
            let entry = inner.nonces.entry(signer).or_insert(0);
            *entry = (*entry).max(next);
            let stale: Vec<Hash> = inner
                .senders
                .get(&signer)
                .map(|q| q.by_nonce.range(..next).map(|(_, h)| *h).collect())
                .unwrap_or_default();
            for hash in stale {
                inner.remove(&hash, Some(ErrorCode::NonceTooLow));
            }
        }
        let expired: Vec<Hash> =
            inner.by_expiry.range(..(height + 1, Hash::ZERO)).map(|(_, h)| *h).collect();
        for hash in expired {
            inner.remove(&hash, Some(ErrorCode::Expired));
        }
        // Forget nonces of senders with nothing pending once the map grows large; the
        // account's state nonce is authoritative anyway.
        if inner.nonces.len() > 4 * self.config.max_txs {
            let Inner { nonces, senders, .. } = &mut *inner;
            nonces.retain(|sender, _| senders.contains_key(sender));
        }
    }

    /// Takes the locally admitted transactions not yet gossiped.
    pub fn take_outbox(&self) -> Vec<Arc<PendingTx>> {
        std::mem::take(&mut self.lock().outbox)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("mempool lock poisoned")
    }
}

impl Inner {
    fn remove(&mut self, hash: &Hash, reason: Option<ErrorCode>) {
        let Some(tx) = self.by_hash.remove(hash) else {
            return;
        };
        let signer = tx.tx.tx.signer;
        if let Some(queue) = self.senders.get_mut(&signer) {
            queue.by_nonce.remove(&tx.tx.tx.nonce);
            queue.cost -= tx.cost;
            if queue.by_nonce.is_empty() {
                self.senders.remove(&signer);
            }
        }
        self.by_expiry.remove(&(tx.tx.tx.expiry_height, *hash));
        if let Some(code) = reason {
            self.dropped.insert(*hash, code);
            self.dropped_order.push_back(*hash);
            while self.dropped_order.len() > DROPPED_REMEMBERED {
                let old = self.dropped_order.pop_front().expect("non-empty");
                self.dropped.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer, ed25519::PrivateKey};
    use machina_types::{BankCall, Call, Transaction};

    /// A transfer of 1 from sender `seed` with `nonce`, paying `fee`.
    fn tx(seed: u64, nonce: u64, fee: u64) -> (SignedTransaction, Hash) {
        tx_with_calls(seed, nonce, fee, 1)
    }

    fn tx_with_calls(seed: u64, nonce: u64, fee: u64, calls: usize) -> (SignedTransaction, Hash) {
        let key = PrivateKey::from_seed(seed);
        let call = Call::Bank(BankCall::Transfer { to: Address([1; 32]), amount: 1 });
        let tx = Transaction {
            chain_id: "t".into(),
            signer: Address::of(&key.public_key()),
            nonce,
            fee,
            expiry_height: 10,
            calls: vec![call; calls],
        }
        .sign(&key);
        let hash = tx.hash();
        (tx, hash)
    }

    fn pool(max_txs: usize, max_per_sender: usize) -> Mempool {
        Mempool::new(MempoolConfig { max_txs, max_per_sender, ..MempoolConfig::default() })
    }

    fn rich(nonce: u64) -> Option<AccountView> {
        Some(AccountView { nonce, balance: u64::MAX })
    }

    #[test]
    fn duplicates_and_replays_are_refused() {
        let pool = pool(10, 10);
        let (t, h) = tx(1, 0, 1000);
        assert_eq!(pool.insert(t.clone(), h, 0, rich(0), 0, true), Ok(()));
        assert_eq!(pool.insert(t, h, 0, rich(0), 0, true), Err(ErrorCode::Duplicate));
        let (t, h) = tx(1, 3, 1000);
        assert_eq!(pool.insert(t, h, 0, rich(5), 0, true), Err(ErrorCode::NonceTooLow));
    }

    #[test]
    fn limits_are_enforced_per_sender_and_in_total() {
        let pool = pool(3, 2);
        for n in 0..2 {
            let (t, h) = tx(1, n, 1000);
            pool.insert(t, h, 0, rich(0), 0, false).unwrap();
        }
        let (t, h) = tx(1, 2, 1000);
        assert_eq!(pool.insert(t, h, 0, rich(0), 0, false), Err(ErrorCode::NonceTooHigh));
        let (t, h) = tx(2, 0, 1000);
        pool.insert(t, h, 0, rich(0), 0, false).unwrap();
        let (t, h) = tx(3, 0, 1000);
        assert_eq!(pool.insert(t, h, 0, rich(0), 0, false), Err(ErrorCode::MempoolFull));
    }

    #[test]
    fn two_accounts_holding_one_fee_each_cannot_fill_the_candidates() {
        // The attack: accounts with about one fee each submit their whole per-sender quota;
        // every transaction after the first cannot pay, yet all of them used to wait in the
        // mempool and lead every block's candidates.
        let pool = Mempool::new(MempoolConfig::default());
        let fee = 1_000;
        for sender in [1, 2] {
            let one_fee = Some(AccountView { nonce: 0, balance: fee + 1 });
            let (t, h) = tx(sender, 0, fee);
            pool.insert(t, h, 0, one_fee, 0, true).unwrap();
            for nonce in 1..64 {
                let (t, h) = tx(sender, nonce, fee);
                let refused = pool.insert(t, h, 0, one_fee, 0, true);
                assert_eq!(refused, Err(ErrorCode::PendingCostTooHigh));
            }
        }
        assert_eq!(pool.len(), 2);
        let honest = tx(3, 0, 500);
        pool.insert(honest.0, honest.1, 0, rich(0), 0, true).unwrap();
        let candidates = pool.candidates(100, &BTreeSet::new());
        assert_eq!(candidates.len(), 3, "the honest transaction is a candidate");
    }

    #[test]
    fn transactions_refused_while_building_a_block_are_evicted() {
        let pool = pool(100, 10);
        let (a, ha) = tx(1, 0, 1000);
        let (b, hb) = tx(2, 0, 1000);
        pool.insert(a, ha, 0, None, 0, false).unwrap();
        pool.insert(b, hb, 0, None, 0, false).unwrap();
        pool.evict(&[(ha, ErrorCode::CannotPayFee)]);
        assert_eq!(pool.state(&ha), Some(TxState::Dropped(ErrorCode::CannotPayFee)));
        let left: Vec<Hash> =
            pool.candidates(10, &BTreeSet::new()).iter().map(|p| p.hash).collect();
        assert_eq!(left, vec![hb]);
    }

    #[test]
    fn an_expiry_beyond_the_horizon_is_refused() {
        let pool = Mempool::new(MempoolConfig { max_expiry_blocks: 5, ..Default::default() });
        let (t, h) = tx(1, 0, 1000); // expires at height 10
        assert_eq!(pool.insert(t.clone(), h, 4, rich(0), 0, false), Err(ErrorCode::ExpiryTooFar));
        assert_eq!(pool.insert(t, h, 5, rich(0), 0, false), Ok(()));
    }

    #[test]
    fn the_highest_fee_per_byte_goes_first_and_a_replacement_must_pay_more_per_byte() {
        let pool = pool(100, 10);
        // Two calls cost more bytes: the same fee is a lower rate.
        let (big, hbig) = tx_with_calls(1, 0, 2_000, 2);
        let (small, hsmall) = tx_with_calls(2, 0, 2_000, 1);
        pool.insert(big, hbig, 0, rich(0), 0, false).unwrap();
        pool.insert(small, hsmall, 0, rich(0), 0, false).unwrap();
        let order: Vec<Hash> =
            pool.candidates(10, &BTreeSet::new()).iter().map(|p| p.hash).collect();
        assert_eq!(order, vec![hsmall, hbig], "fee per byte, not the largest fee");
        let (same, hsame) = tx(2, 0, 2_100);
        assert_eq!(
            pool.insert(same, hsame, 0, rich(0), 0, false),
            Err(ErrorCode::ReplacementUnderpriced)
        );
        let (better, hbetter) = tx(2, 0, 2_200);
        pool.insert(better, hbetter, 0, rich(0), 0, false).unwrap();
        assert_eq!(pool.state(&hsmall), Some(TxState::Dropped(ErrorCode::ReplacementUnderpriced)));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn candidates_follow_nonce_order_per_sender() {
        let pool = Mempool::new(MempoolConfig::default());
        let (a0, ha0) = tx(1, 0, 10_000);
        let (a1, ha1) = tx(1, 1, 10_000);
        let (b0, hb0) = tx(2, 0, 10_000);
        pool.insert(a1, ha1, 0, rich(0), 0, false).unwrap();
        pool.insert(b0, hb0, 0, rich(0), 0, false).unwrap();
        pool.insert(a0, ha0, 0, rich(0), 0, false).unwrap();
        let order: Vec<Hash> =
            pool.candidates(10, &BTreeSet::new()).iter().map(|p| p.hash).collect();
        let pos = |h| order.iter().position(|x| *x == h).unwrap();
        assert_eq!(order.len(), 3);
        assert!(pos(ha0) < pos(ha1), "nonce order within a sender");
        assert_eq!(pool.candidates(1, &BTreeSet::new()).len(), 1);
    }

    #[test]
    fn finalization_prunes_included_superseded_and_expired() {
        let pool = pool(10, 10);
        let (t0, h0) = tx(1, 0, 1000);
        let (t1, h1) = tx(1, 1, 1000);
        let (other, ho) = tx(2, 0, 1000);
        pool.insert(t0.clone(), h0, 0, rich(0), 0, false).unwrap();
        pool.insert(t1, h1, 0, rich(0), 0, false).unwrap();
        pool.insert(other, ho, 0, rich(0), 0, false).unwrap();
        // A block included a different transaction with sender 1's nonce 1 and t0.
        let (t1b, h1b) = tx(1, 1, 999);
        pool.on_finalized(5, &[t0, t1b], &[h0, h1b]);
        assert_eq!(pool.state(&h0), None, "included transactions are simply gone");
        assert_eq!(pool.state(&h1), Some(TxState::Dropped(ErrorCode::NonceTooLow)));
        assert_eq!(pool.state(&ho), Some(TxState::Pending));
        pool.on_finalized(10, &[], &[]);
        assert_eq!(pool.state(&ho), Some(TxState::Dropped(ErrorCode::Expired)));
        assert!(pool.is_empty());
    }

    #[test]
    fn only_local_transactions_are_gossiped() {
        let pool = pool(10, 10);
        let (a, ha) = tx(1, 0, 1000);
        let (b, hb) = tx(2, 0, 1000);
        pool.insert(a, ha, 0, None, 0, true).unwrap();
        pool.insert(b, hb, 0, None, 0, false).unwrap();
        let out: Vec<Hash> = pool.take_outbox().iter().map(|p| p.hash).collect();
        assert_eq!(out, vec![ha]);
        assert!(pool.take_outbox().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn candidates_keep_each_sender_contiguous_and_lead_with_the_highest_fee_rate(
            inserts in proptest::collection::vec((0u64..5, 0u64..6, 1usize..4, 1u64..5_000), 1..40),
            max in 1usize..50,
        ) {
            let pool = Mempool::new(MempoolConfig::default());
            for (sender, nonce, calls, fee) in inserts {
                let (tx, hash) = tx_with_calls(sender, nonce, fee, calls);
                let _ = pool.insert(tx, hash, 0, rich(0), 0, false);
            }
            let out = pool.candidates(max, &BTreeSet::new());
            proptest::prop_assert!(out.len() <= max);
            let mut seen = BTreeSet::new();
            let mut next: BTreeMap<Address, u64> = BTreeMap::new();
            for p in &out {
                proptest::prop_assert!(seen.insert(p.hash), "no duplicates");
                let expected = next.entry(p.tx.tx.signer).or_insert(0);
                proptest::prop_assert_eq!(p.tx.tx.nonce, *expected, "contiguous nonces from 0");
                *expected += 1;
            }
            // The first candidate has the highest rate among senders' first nonces.
            let heads: Vec<FeeRate> = (0u64..5)
                .filter_map(|seed| {
                    let signer = Address::of(&PrivateKey::from_seed(seed).public_key());
                    let inner = pool.lock();
                    let hash = inner.senders.get(&signer)?.by_nonce.get(&0)?;
                    Some(inner.by_hash[hash].rate)
                })
                .collect();
            if let (Some(first), Some(best)) = (out.first(), heads.iter().max()) {
                proptest::prop_assert_eq!(first.rate.cmp(best), Ordering::Equal);
            }
        }
    }
}
