//! The consensus application: builds blocks from the mempool, verifies peers' blocks by
//! re-executing them, and reports finalized blocks.
//!
//! It implements the engine's `stateful::Application`: the engine forks a state batch from
//! the parent block's state, hands it here to execute a block on, keeps the merkleized
//! result as pending state, applies it when the block is finalized and acknowledges the block
//! only once the state is durable. A block commits to its state root, so a block whose
//! re-execution yields another root is refused.

use crate::{
    chain::{ChainInfo, FinalizedBlock},
    execute::{self, Mode},
    mempool::Mempool,
};
use commonware_consensus::{Viewable, marshal::ancestry::Ancestry, simplex::scheme::ed25519};
use commonware_cryptography::{Digested, Digestible};
use commonware_glue::stateful::{
    Application, Finality, Input, Proposed,
    db::{DatabaseSet, Shared},
};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::{merkle::Location, qmdb::sync::Target};
use commonware_utils::non_empty_range;
use futures::StreamExt;
use machina_app::{BlockEnv, Genesis, exec::keys as chain_keys, state::decode_value};
use machina_store::StateDb;
use machina_types::{
    Address, BlockEvents, Hash, Receipt,
    block::{Block, Context, Header, OpsRange},
};
use std::{collections::BTreeSet, sync::Arc, time::Duration};

/// The consensus signing scheme: ed25519 votes, certificates list the signers' signatures.
pub type Scheme = ed25519::Scheme;

/// The node's database set: one state database.
pub type Databases<E> = Shared<StateDb<E>>;

/// How far (per elapsed view) a block's timestamp may run ahead of its parent's.
const TIMESTAMP_GAP_PER_VIEW_MS: u64 = 60_000;
/// How far ahead of the local clock a block's timestamp may be before verification waits.
const CLOCK_DRIFT_MS: u64 = 500;

/// The Machina consensus application.
#[derive(Clone)]
pub struct MachinaApp {
    genesis: Arc<Genesis>,
    genesis_block: Block,
    chain: Arc<ChainInfo>,
}

impl MachinaApp {
    /// Creates the application for `genesis`, reporting into `chain`.
    pub fn new<E: Spawner + Clock + Storage + Metrics>(chain: Arc<ChainInfo>) -> Self {
        let genesis = chain.genesis().clone();
        let genesis_block = genesis_block::<E>(&genesis);
        Self { genesis, genesis_block, chain }
    }

    /// The genesis block.
    pub fn genesis_block(&self) -> &Block {
        &self.genesis_block
    }
}

/// The genesis block of `genesis`: height 0, empty state, committing to the genesis hash in
/// place of a state root (genesis state is created by block 1).
pub fn genesis_block<E: Spawner + Clock + Storage + Metrics>(genesis: &Genesis) -> Block {
    use commonware_consensus::types::{Epoch, Round, View};
    let target = <Databases<E> as DatabaseSet<E>>::initial_sync_targets();
    let leader = genesis.validators[0].public_key().expect("validated genesis");
    Block {
        header: Header {
            context: Context {
                round: Round::new(Epoch::zero(), View::zero()),
                leader,
                parent: (View::zero(), Hash::ZERO.digest()),
            },
            parent: Hash::ZERO,
            height: 0,
            timestamp_ms: genesis.genesis_time_ms,
            tx_root: Block::tx_root(&[]),
            tx_count: 0,
            state_root: genesis.hash(),
            ops_root: Hash::from(target.root),
            ops_range: OpsRange { start: *target.range.start(), end: *target.range.end() },
        },
        txs: Vec::new(),
    }
}

fn now_ms(clock: &impl Clock) -> u64 {
    clock.current().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Views between a block and its parent, at least one.
fn view_gap(context: &Context) -> u64 {
    context.view().get().saturating_sub(context.parent.0.get()).max(1)
}

impl<E> Application<E> for MachinaApp
where
    E: Spawner + Clock + Storage + Metrics + commonware_storage::Context + rand_core::CryptoRng,
{
    type SigningScheme = Scheme;
    type Context = Context;
    type Block = Block;
    type Databases = Databases<E>;
    type Captured = ();
    type Provider = Mempool;
    type Input = ();

    fn sync_targets(block: &Block) -> <Databases<E> as DatabaseSet<E>>::SyncTargets {
        let range = block.header.ops_range;
        Target::new(
            block.header.ops_root.digest(),
            non_empty_range!(Location::new(range.start), Location::new(range.end)),
        )
    }

    async fn genesis(&mut self) -> Block {
        self.genesis_block.clone()
    }

    async fn propose(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<Block>,
        batches: <Databases<E> as DatabaseSet<E>>::Unmerkleized,
        input: Input<(), Mempool>,
    ) -> Option<Proposed<Self, E>> {
        let parent = ancestry.next().await?;
        let parent_header = &parent.inner().header;
        let ready_at = parent_header.timestamp_ms + self.genesis.params.block_interval_ms;
        let now = now_ms(&runtime);
        if now < ready_at {
            runtime.sleep(Duration::from_millis(ready_at - now)).await;
        }
        let latest = parent_header.timestamp_ms + TIMESTAMP_GAP_PER_VIEW_MS * view_gap(&context);
        let timestamp_ms = now_ms(&runtime).clamp(parent_header.timestamp_ms + 1, latest);

        let env = BlockEnv {
            height: parent_header.height + 1,
            timestamp_ms,
            proposer: Address::of(&context.leader),
            genesis: self.genesis.clone(),
        };
        let skip = self.pending_txs(&parent, ancestry).await;
        let candidates =
            input.provider.candidates(self.genesis.params.max_block_txs as usize, &skip);
        let txs: Vec<_> = candidates.iter().map(|p| (&p.tx, p.hash)).collect();
        let executed = execute::run(&batches, env, &txs, Mode::Build).await.ok()?;
        self.chain.record_execution(Mode::Build, &executed);
        // What cannot be included now leaves the mempool, so it never crowds the next
        // candidates (a sender whose balance or nonce changes resubmits).
        let refused: Vec<_> =
            executed.refused.iter().map(|&(i, code)| (candidates[i].hash, code)).collect();
        input.provider.evict(&refused);
        let included: Vec<_> =
            executed.included.iter().map(|&i| candidates[i].tx.clone()).collect();
        let hashes: Vec<Hash> = executed.included.iter().map(|&i| candidates[i].hash).collect();
        let merkleized = execute::commit(batches, &executed.output.writes).await;
        let header = execute::header(
            context,
            Hash::from(parent.digest()),
            parent_header.height + 1,
            timestamp_ms,
            &hashes,
            &merkleized,
        );
        let block = Block { header, txs: included };
        tracing::debug!(
            height = block.header.height,
            txs = block.txs.len(),
            candidates = candidates.len(),
            build_ms = now_ms(&runtime).saturating_sub(timestamp_ms),
            "proposed"
        );
        self.chain.cache_effects(block.header.digest(), executed.output);
        Some(Proposed { block, merkleized })
    }

    async fn process(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<Block>,
        batches: <Databases<E> as DatabaseSet<E>>::Unmerkleized,
        finality: Finality,
    ) -> Option<<Databases<E> as DatabaseSet<E>>::Merkleized> {
        let block = ancestry.next().await?;
        let parent = ancestry.next().await?;
        let (b, p) = (&block.inner().header, &parent.inner().header);
        let candidate = finality == Finality::Candidate;
        let hashes = block.inner().tx_hashes();
        if candidate {
            let max_txs = self.genesis.params.max_block_txs;
            if !structurally_valid(block.inner(), &hashes, p, &context, max_txs) {
                return None;
            }
            let now = now_ms(&runtime);
            if b.timestamp_ms > now + CLOCK_DRIFT_MS {
                runtime.sleep(Duration::from_millis(b.timestamp_ms - now - CLOCK_DRIFT_MS)).await;
            }
        }
        if candidate {
            let mempool = self.chain.mempool();
            let mut rng = runtime.child("verify");
            if !execute::verify_signatures(
                &block.inner().txs,
                &hashes,
                |h| mempool.contains(h),
                &mut rng,
            ) {
                return None;
            }
        }
        let env = BlockEnv {
            height: b.height,
            timestamp_ms: b.timestamp_ms,
            proposer: Address::of(&context.leader),
            genesis: self.genesis.clone(),
        };
        let txs: Vec<_> = block.inner().txs.iter().zip(hashes.iter().copied()).collect();
        let executed = execute::run(&batches, env, &txs, Mode::Verify).await.ok()?;
        self.chain.record_execution(Mode::Verify, &executed);
        let merkleized = execute::commit(batches, &executed.output.writes).await;
        if !execute::matches_header(b, &merkleized) {
            return None;
        }
        tracing::debug!(
            height = b.height,
            txs = hashes.len(),
            since_proposal_ms = now_ms(&runtime).saturating_sub(b.timestamp_ms),
            "verified"
        );
        self.chain.cache_effects(Hash::from(block.digest()), executed.output);
        Some(merkleized)
    }

    async fn capture(
        &mut self,
        _context: (E, Context),
        block: &Block,
        _batches: &<Databases<E> as DatabaseSet<E>>::Merkleized,
        _readers: <Databases<E> as DatabaseSet<E>>::Readers,
    ) {
        self.chain.note_root(block.header.digest(), &block.header);
    }

    async fn finalized(
        &mut self,
        (runtime, _context): (E, Context),
        block: &Block,
        _captured: (),
        readers: <Databases<E> as DatabaseSet<E>>::Readers,
    ) {
        let digest = block.header.digest();
        // Executed here since start (always, but for a block finalized while this node
        // replayed from storage): effects from the cache; else receipts and block-level
        // events from the state.
        let effects = match self.chain.take_effects(&digest) {
            Some(effects) => effects,
            None => {
                let guard = readers.read().await;
                let mut receipts = Vec::with_capacity(block.txs.len());
                for tx in &block.txs {
                    let key = chain_keys::receipt(&tx.hash());
                    let bytes = guard.get(&key.digest()).await.expect("state read");
                    let bytes = bytes.expect("finalized transaction has a receipt");
                    receipts.push(decode_value::<Receipt>(&key, &bytes.0));
                }
                let key = chain_keys::block_events(block.header.height);
                let bytes = guard.get(&key.digest()).await.expect("state read");
                let events = bytes.map(|b| decode_value::<BlockEvents>(&key, &b.0).0);
                let events = Arc::new(events.unwrap_or_default());
                crate::chain::Effects { receipts: Arc::new(receipts), events }
            }
        };
        let finalized = FinalizedBlock {
            digest,
            header: block.header.clone(),
            receipts: effects.receipts,
            events: effects.events,
        };
        let now = now_ms(&runtime);
        tracing::debug!(
            height = block.header.height,
            txs = block.txs.len(),
            since_proposal_ms = now.saturating_sub(block.header.timestamp_ms),
            "finalized"
        );
        self.chain.on_finalized(finalized, &block.txs, now);
    }
}

/// How many unfinalized ancestors a proposal looks through for transactions to leave out.
const PENDING_ANCESTORS_MAX: usize = 32;

impl MachinaApp {
    /// Hashes of the transactions in `parent` and its other unfinalized ancestors: the
    /// mempool still holds them until they finalize, and proposing them again would only
    /// waste execution (their nonces are used).
    async fn pending_txs(
        &self,
        parent: &Digested<Block>,
        mut ancestry: impl Ancestry<Block>,
    ) -> BTreeSet<Hash> {
        let finalized = self.chain.height();
        let mut skip = BTreeSet::new();
        let mut block = parent.clone();
        for _ in 0..PENDING_ANCESTORS_MAX {
            if block.inner().header.height <= finalized {
                break;
            }
            match self.chain.receipts(&Hash::from(block.digest())) {
                Some(receipts) => skip.extend(receipts.iter().map(|r| r.tx_hash)),
                None => skip.extend(block.inner().tx_hashes()),
            }
            match ancestry.next().await {
                Some(next) => block = next,
                None => break,
            }
        }
        skip
    }
}

/// Checks that need no state: height, parent link, body commitment, size, timestamp bounds.
fn structurally_valid(
    block: &Block,
    hashes: &[Hash],
    parent: &Header,
    context: &Context,
    max_txs: u32,
) -> bool {
    let h = &block.header;
    h.height == parent.height + 1
        && h.context == *context
        && block.txs.len() <= max_txs as usize
        && block.body_matches_header(hashes)
        && h.timestamp_ms > parent.timestamp_ms
        && h.timestamp_ms <= parent.timestamp_ms + TIMESTAMP_GAP_PER_VIEW_MS * view_gap(context)
}
