//! Runs the state machine over a state batch: fetches the keys a block will read in one
//! batched read, executes, fetches any key the hints missed and retries that transaction,
//! then writes the block's changes and merkleizes.

use crate::application::Databases;
use commonware_codec::Encode;
use commonware_cryptography::{BatchEntry, BatchVerifier, ed25519};
use commonware_glue::stateful::db::{DatabaseSet, Merkleized as _, Unmerkleized as _};
use commonware_parallel::Sequential;
use machina_app::{
    Applied, BlockEnv, BlockExecutor,
    exec::BlockOutput,
    state::{Key, Loaded, Writes},
};
use machina_types::{
    ErrorCode, Hash, SignedTransaction,
    block::{Block, Context, Header, OpsRange},
    tx::TX_NAMESPACE,
};
use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

type Batch<E> = <Databases<E> as DatabaseSet<E>>::Unmerkleized;
type Merkle<E> = <Databases<E> as DatabaseSet<E>>::Merkleized;

/// Whether transactions that cannot be included are skipped (building) or make the block
/// invalid (verifying).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Building a block: skip transactions that cannot be included.
    Build,
    /// Verifying a block: every transaction must be includable.
    Verify,
}

/// A block's execution.
pub struct Executed {
    /// Writes and receipts.
    pub output: BlockOutput,
    /// Indices of the included transactions in the input.
    pub included: Vec<usize>,
    /// Indices of the transactions that could not be included, with the reason (building
    /// only: the builder evicts them from the mempool).
    pub refused: Vec<(usize, ErrorCode)>,
    /// Time the block-level steps took (with the reads of keys they were not hinted).
    pub steps_time: Duration,
    /// Time the whole execution took (reads included, the commit not).
    pub time: Duration,
}

/// Executes `txs` as block `env` over `batch`. In [`Mode::Verify`], returns the code of the
/// first transaction that cannot be included.
pub async fn run<E>(
    batch: &Batch<E>,
    env: BlockEnv,
    txs: &[(&SignedTransaction, Hash)],
    mode: Mode,
) -> Result<Executed, ErrorCode>
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    let started = Instant::now();
    let mut exec = BlockExecutor::new(env);
    let mut keys = exec.begin_hints();
    for (tx, _) in txs {
        BlockExecutor::hint(tx, &mut keys);
    }
    let mut loaded = Loaded::default();
    load::<E>(batch, &mut loaded, keys).await;
    let steps_started = Instant::now();
    while let Err(missing) = exec.begin(&loaded) {
        let added = load::<E>(batch, &mut loaded, missing).await;
        assert!(added > 0, "a block-level step asked again for keys already loaded");
    }
    let steps_time = steps_started.elapsed();
    let mut included = Vec::with_capacity(txs.len());
    let mut refused = Vec::new();
    for (i, (tx, hash)) in txs.iter().enumerate() {
        let applied = loop {
            match exec.apply(&loaded, tx, *hash) {
                Ok(applied) => break applied,
                Err(missing) => {
                    let added = load::<E>(batch, &mut loaded, vec![missing.0]).await;
                    assert!(added > 0, "transaction {hash} asked again for a key already loaded");
                }
            }
        };
        match applied {
            Applied::Included(_) => included.push(i),
            Applied::Rejected(code) if mode == Mode::Verify => return Err(code),
            Applied::Rejected(code) => refused.push((i, code)),
        }
    }
    let output = exec.finish();
    Ok(Executed { output, included, refused, steps_time, time: started.elapsed() })
}

/// Reads `keys` (those not loaded yet) from `batch` in one batched read; returns how many
/// were not loaded yet. Execution retries only after a read that loaded something, so a
/// retry that would loop forever is a broken invariant and stops loudly instead.
async fn load<E>(batch: &Batch<E>, loaded: &mut Loaded, mut keys: Vec<Key>) -> usize
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    keys.sort_unstable();
    keys.dedup();
    keys.retain(|k| !loaded.contains(k));
    if keys.is_empty() {
        return 0;
    }
    let added = keys.len();
    let digests: Vec<_> = keys.iter().map(|k| k.digest()).collect();
    let refs: Vec<_> = digests.iter().collect();
    let values = batch.get_many(&refs).await.expect("state database read failed");
    for (key, value) in keys.into_iter().zip(values) {
        loaded.insert(key, value.map(|v| v.0));
    }
    added
}

/// Writes a block's changes into `batch` and merkleizes it.
pub async fn commit<E>(mut batch: Batch<E>, writes: &Writes) -> Merkle<E>
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    for (key, value) in writes {
        batch = batch.write(key.digest(), value.clone().map(machina_store::Value));
    }
    batch.merkleize().await.expect("state merkleization failed")
}

/// The state commitments a header carries for a merkleized batch.
fn commitments<E>(merkleized: &Merkle<E>) -> (Hash, Hash, OpsRange)
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    let range = OpsRange { start: *merkleized.sync_boundary(), end: *merkleized.bounds().tip.size };
    (Hash::from(merkleized.root()), Hash::from(merkleized.ops_root()), range)
}

/// Builds the header of a block with transactions `tx_hashes` whose execution produced
/// `merkleized`.
pub fn header<E>(
    context: Context,
    parent: Hash,
    height: u64,
    timestamp_ms: u64,
    tx_hashes: &[Hash],
    merkleized: &Merkle<E>,
) -> Header
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    let (state_root, ops_root, ops_range) = commitments::<E>(merkleized);
    Header {
        context,
        parent,
        height,
        timestamp_ms,
        tx_root: Block::tx_root(tx_hashes),
        tx_count: tx_hashes.len() as u32,
        state_root,
        ops_root,
        ops_range,
    }
}

/// Whether re-execution produced the state the header commits to.
pub fn matches_header<E>(header: &Header, merkleized: &Merkle<E>) -> bool
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    let (state_root, ops_root, ops_range) = commitments::<E>(merkleized);
    header.state_root == state_root && header.ops_root == ops_root && header.ops_range == ops_range
}

/// Verifies the signatures of `txs` in one batch, skipping those `known` reports as already
/// verified.
pub fn verify_signatures(
    txs: &[SignedTransaction],
    hashes: &[Hash],
    known: impl Fn(&Hash) -> bool,
    rng: &mut impl rand_core::CryptoRng,
) -> bool {
    let mut items = Vec::new();
    for (tx, hash) in txs.iter().zip(hashes) {
        if known(hash) {
            continue;
        }
        let Some(key) = public_key(&tx.tx.signer) else {
            return false;
        };
        items.push((key, tx.tx.encode(), &tx.signature));
    }
    if items.is_empty() {
        return true;
    }
    ed25519::PublicKey::verify_batch(
        rng,
        &items,
        |_, (key, message, signature)| BatchEntry {
            namespace: TX_NAMESPACE,
            message,
            public_key: key,
            signature,
        },
        &Sequential,
    )
}

/// Most decompressed keys kept.
const KEYS_CACHED: usize = 1 << 16;

/// The public key of `address`, decompressed once and cached: decompressing costs about as
/// much as verifying a signature, and senders repeat.
fn public_key(address: &machina_types::Address) -> Option<ed25519::PublicKey> {
    static KEYS: LazyLock<Mutex<HashMap<machina_types::Address, ed25519::PublicKey>>> =
        LazyLock::new(Mutex::default);
    if let Some(key) = KEYS.lock().expect("key cache").get(address) {
        return Some(key.clone());
    }
    let key = address.public_key()?;
    let mut keys = KEYS.lock().expect("key cache");
    if keys.len() >= KEYS_CACHED {
        keys.clear();
    }
    keys.insert(*address, key.clone());
    Some(key)
}
