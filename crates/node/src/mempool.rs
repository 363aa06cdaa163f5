//! The mempool: transactions waiting for a block.
//!
//! Bounded in total and per sender; deduplicated by hash; ordered for block building by fee
//! (highest first) while each sender's transactions stay in nonce order. Every entry's
//! signature has been verified, so block verification skips transactions already here.
//! Finalized blocks prune it: included transactions, nonces the chain has moved past, and
//! expired transactions leave, with the reason kept for status queries.
//!
//! All collections are ordered maps, never hash maps, so that block building is a
//! deterministic function of what arrived and in which order (simulations replay by seed).

use commonware_codec::EncodeSize;
use machina_types::{Address, Amount, ErrorCode, Hash, Height, SignedTransaction, tx::FeeSchedule};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque},
    sync::{Arc, Mutex},
};

/// Mempool limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most transactions held per sender (also how far ahead of the account's nonce a
    /// transaction may be).
    pub max_per_sender: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self { max_txs: 200_000, max_per_sender: 4096 }
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
    /// When this node first saw it (ms since the Unix epoch).
    pub received_ms: u64,
    /// Arrival order, the tie-breaker between equal fees.
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

/// Shared handle to the mempool.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<Mutex<Inner>>,
    config: MempoolConfig,
    fees: FeeSchedule,
}

#[derive(Default)]
struct Inner {
    by_hash: BTreeMap<Hash, Arc<PendingTx>>,
    senders: BTreeMap<Address, BTreeMap<u64, Hash>>,
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
    pub fn new(config: MempoolConfig, fees: FeeSchedule) -> Self {
        Self { inner: Arc::default(), config, fees }
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

    /// The next nonce a sender's new transaction should use, counting pending ones, if the
    /// mempool knows the sender.
    pub fn next_nonce(&self, sender: &Address) -> Option<u64> {
        let inner = self.lock();
        let pending = inner.senders.get(sender).and_then(|q| q.keys().next_back()).map(|n| n + 1);
        pending.or_else(|| inner.nonces.get(sender).copied())
    }

    /// Admits a transaction whose stateless checks, signature included, passed.
    /// `account_nonce` is the sender's next nonce in the latest state, when the caller read
    /// it; `local` marks transactions to gossip to peers.
    pub fn insert(
        &self,
        tx: SignedTransaction,
        hash: Hash,
        account_nonce: Option<u64>,
        received_ms: u64,
        local: bool,
    ) -> Result<(), ErrorCode> {
        let fee = tx.fee(&self.fees);
        debug_assert!(tx.encode_size() <= machina_types::limits::TX_SIZE_MAX);
        let mut inner = self.lock();
        if inner.by_hash.contains_key(&hash) {
            return Err(ErrorCode::Duplicate);
        }
        let signer = tx.tx.signer;
        let nonce = tx.tx.nonce;
        let known = account_nonce.unwrap_or(0).max(inner.nonces.get(&signer).copied().unwrap_or(0));
        if account_nonce.is_some() {
            inner.nonces.insert(signer, known);
        }
        if nonce < known {
            return Err(ErrorCode::NonceTooLow);
        }
        if nonce - known >= self.config.max_per_sender as u64 {
            return Err(ErrorCode::NonceTooHigh);
        }
        let replaced = match inner.senders.get(&signer).and_then(|q| q.get(&nonce)) {
            Some(existing) if inner.by_hash[existing].fee >= fee => {
                return Err(ErrorCode::Duplicate);
            }
            Some(existing) => Some(*existing),
            None => None,
        };
        if replaced.is_none() {
            if inner.senders.get(&signer).is_some_and(|q| q.len() >= self.config.max_per_sender) {
                return Err(ErrorCode::SenderLimit);
            }
            if inner.by_hash.len() >= self.config.max_txs {
                return Err(ErrorCode::MempoolFull);
            }
        }
        if let Some(old) = replaced {
            inner.remove(&old, Some(ErrorCode::Duplicate));
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let expiry = tx.tx.expiry_height;
        let pending = Arc::new(PendingTx { tx, hash, fee, received_ms, seq });
        inner.by_hash.insert(hash, pending.clone());
        inner.senders.entry(signer).or_default().insert(nonce, hash);
        inner.by_expiry.insert((expiry, hash));
        inner.dropped.remove(&hash);
        if local {
            inner.outbox.push(pending);
        }
        Ok(())
    }

    /// Up to `max` transactions for a block: highest fee first, each sender's in nonce order
    /// from its next nonce. A sender's later transactions follow only its earlier ones.
    /// Transactions in `skip` (already in unfinalized ancestors of the block being built)
    /// are passed over, but their senders' later transactions still follow.
    pub fn candidates(&self, max: usize, skip: &BTreeSet<Hash>) -> Vec<Arc<PendingTx>> {
        let inner = self.lock();
        let mut cursors: BTreeMap<&Address, std::collections::btree_map::Range<'_, u64, Hash>> =
            BTreeMap::new();
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &inner.senders {
            let start = inner.nonces.get(sender).copied().unwrap_or(0);
            let mut range = queue.range(start..);
            if let Some((&nonce, hash)) = range.next() {
                if nonce != start && inner.nonces.contains_key(sender) {
                    continue; // a gap: nothing of this sender can execute yet
                }
                let tx = &inner.by_hash[hash];
                heap.push((tx.fee, Reverse(tx.seq), sender, nonce, *hash));
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
                heap.push((tx.fee, Reverse(tx.seq), sender, next, *next_hash));
            }
        }
        out
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
                .map(|q| q.range(..next).map(|(_, h)| *h).collect())
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
            queue.remove(&tx.tx.tx.nonce);
            if queue.is_empty() {
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

    fn tx(seed: u64, nonce: u64, max_fee: u64) -> (SignedTransaction, Hash) {
        let key = PrivateKey::from_seed(seed);
        let tx = Transaction {
            chain_id: "t".into(),
            signer: Address::of(&key.public_key()),
            nonce,
            max_fee,
            expiry_height: 10,
            calls: vec![Call::Bank(BankCall::Transfer { to: Address([1; 32]), amount: 1 })],
        }
        .sign(&key);
        let hash = tx.hash();
        (tx, hash)
    }

    fn pool(max_txs: usize, max_per_sender: usize) -> Mempool {
        Mempool::new(
            MempoolConfig { max_txs, max_per_sender },
            FeeSchedule { base: 0, per_call: 0, per_byte: 0 },
        )
    }

    fn fee_pool() -> Mempool {
        // Fee equals max_fee only through replacement tests; here fee = base.
        Mempool::new(MempoolConfig::default(), FeeSchedule::default())
    }

    #[test]
    fn duplicates_and_replays_are_refused() {
        let pool = pool(10, 10);
        let (t, h) = tx(1, 0, 1000);
        assert_eq!(pool.insert(t.clone(), h, Some(0), 0, true), Ok(()));
        assert_eq!(pool.insert(t, h, Some(0), 0, true), Err(ErrorCode::Duplicate));
        let (t, h) = tx(1, 3, 1000);
        assert_eq!(pool.insert(t, h, Some(5), 0, true), Err(ErrorCode::NonceTooLow));
    }

    #[test]
    fn limits_are_enforced_per_sender_and_in_total() {
        let pool = pool(3, 2);
        for n in 0..2 {
            let (t, h) = tx(1, n, 1000);
            pool.insert(t, h, Some(0), 0, false).unwrap();
        }
        let (t, h) = tx(1, 2, 1000);
        assert_eq!(pool.insert(t, h, Some(0), 0, false), Err(ErrorCode::NonceTooHigh));
        let (t, h) = tx(2, 0, 1000);
        pool.insert(t, h, Some(0), 0, false).unwrap();
        let (t, h) = tx(3, 0, 1000);
        assert_eq!(pool.insert(t, h, Some(0), 0, false), Err(ErrorCode::MempoolFull));
    }

    #[test]
    fn candidates_follow_nonce_order_per_sender_and_fee_across_senders() {
        let pool = fee_pool();
        // Sender 1 pays more per transaction (more calls are not modelled; use replacement).
        let (a0, ha0) = tx(1, 0, 10_000);
        let (a1, ha1) = tx(1, 1, 10_000);
        let (b0, hb0) = tx(2, 0, 10_000);
        pool.insert(a1, ha1, Some(0), 0, false).unwrap();
        pool.insert(b0, hb0, Some(0), 0, false).unwrap();
        pool.insert(a0, ha0, Some(0), 0, false).unwrap();
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
        pool.insert(t0.clone(), h0, Some(0), 0, false).unwrap();
        pool.insert(t1, h1, Some(0), 0, false).unwrap();
        pool.insert(other, ho, Some(0), 0, false).unwrap();
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
        pool.insert(a, ha, None, 0, true).unwrap();
        pool.insert(b, hb, None, 0, false).unwrap();
        let out: Vec<Hash> = pool.take_outbox().iter().map(|p| p.hash).collect();
        assert_eq!(out, vec![ha]);
        assert!(pool.take_outbox().is_empty());
    }

    fn tx_with_calls(seed: u64, nonce: u64, calls: usize) -> (SignedTransaction, Hash) {
        let key = PrivateKey::from_seed(seed);
        let call = Call::Bank(BankCall::Transfer { to: Address([1; 32]), amount: 1 });
        let tx = Transaction {
            chain_id: "t".into(),
            signer: Address::of(&key.public_key()),
            nonce,
            max_fee: 1_000_000,
            expiry_height: 10,
            calls: vec![call; calls],
        }
        .sign(&key);
        let hash = tx.hash();
        (tx, hash)
    }

    proptest::proptest! {
        #[test]
        fn candidates_keep_each_sender_contiguous_and_lead_with_the_highest_fee(
            inserts in proptest::collection::vec((0u64..5, 0u64..6, 1usize..4), 1..40),
            max in 1usize..50,
        ) {
            let pool = Mempool::new(MempoolConfig::default(), FeeSchedule::default());
            for (sender, nonce, calls) in inserts {
                let (tx, hash) = tx_with_calls(sender, nonce, calls);
                let _ = pool.insert(tx, hash, Some(0), 0, false);
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
            // The first candidate is the highest-fee transaction among senders' first nonces.
            let heads: Vec<u64> = (0u64..5)
                .filter_map(|seed| {
                    let signer = Address::of(&PrivateKey::from_seed(seed).public_key());
                    let inner = pool.lock();
                    let hash = inner.senders.get(&signer)?.get(&0)?;
                    Some(inner.by_hash[hash].fee)
                })
                .collect();
            if let (Some(first), Some(best)) = (out.first(), heads.iter().max()) {
                proptest::prop_assert_eq!(first.fee, *best);
            }
        }
    }
}
