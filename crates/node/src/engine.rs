//! Wires one validator: consensus (simplex), block dissemination and backfill (marshal,
//! buffered broadcast, resolver), state (the `stateful` glue over QMDB with its state-sync
//! resolver), the application, and transaction gossip.
//!
//! State sync (fetching a recent state from peers instead of replaying blocks) is not
//! enabled: a node that falls behind catches up by fetching and re-executing the finalized
//! blocks it missed, which the certificates make safe to take from any peer.
//!
//! The wiring is generic over the runtime context and the network, so the same code runs
//! on the tokio runtime with authenticated TCP p2p in production and on the deterministic
//! runtime with a simulated network in tests.

use crate::{
    application::{MachinaApp, Scheme},
    chain::ChainInfo,
    gossip,
    mempool::{Mempool, MempoolConfig},
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        resolver::p2p as marshal_resolver,
        standard::{Deferred, Standard},
    },
    simplex::{
        self,
        config::{ForwardPolicy, SkipBudget, SkipPolicy},
        elector::RoundRobin,
    },
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digested, Digestible, Sha256, Signer, certificate::ConstantProvider, ed25519,
};
use commonware_glue::stateful::{
    Config as StatefulConfig, Mailbox as StatefulMailbox, Stateful, SyncPlan,
    db::{AttachableResolver, Shared, SyncEngineConfig},
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::{
    archive::immutable,
    merkle::mmr,
    qmdb::sync::{Request, ServeError, Source, source},
};
use commonware_utils::{NZDuration, NZU64, NZUsize};
use machina_app::Genesis;
use machina_store::{archive_config, page_cache, state_db_config};
use machina_types::block::Block;
use std::{num::NonZeroUsize, sync::Arc, time::Duration};

/// The marshal variant: whole blocks.
pub type Variant = Standard<Block>;
/// Handle to marshal (finalized blocks and certificates by height).
pub type Marshal = MarshalMailbox<Scheme, Variant>;
/// A finalization certificate.
pub type Finalization =
    simplex::types::Finalization<Scheme, commonware_cryptography::sha256::Digest>;

/// p2p channel ids.
pub mod channel {
    /// Consensus votes.
    pub const VOTES: u64 = 0;
    /// Consensus certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Consensus resolver.
    pub const RESOLVER: u64 = 2;
    /// Marshal backfill.
    pub const BACKFILL: u64 = 3;
    /// Block broadcast.
    pub const BROADCAST: u64 = 4;
    /// Transaction gossip.
    pub const TXS: u64 = 5;
    /// Every channel, in registration order.
    pub const ALL: [u64; 6] = [VOTES, CERTIFICATES, RESOLVER, BACKFILL, BROADCAST, TXS];
}

/// Consensus timing.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for a leader's proposal.
    pub leader: Duration,
    /// How long to wait for a proposal to be certified.
    pub certification: Duration,
    /// How often to retry a timed-out view's messages.
    pub retry: Duration,
}

impl Timeouts {
    /// Timeouts for a chain's genesis: a leader gets the block interval plus a margin to
    /// propose (one second with peers, two alone, where a slow disk is the only delay).
    pub fn for_genesis(genesis: &Genesis) -> Self {
        let interval = Duration::from_millis(genesis.params.block_interval_ms);
        let margin = if genesis.validators.len() == 1 { 2 } else { 1 };
        let leader = interval + Duration::from_secs(margin);
        Self { leader, certification: leader * 2, retry: Duration::from_millis(500) }
    }
}

/// Everything one validator needs besides the network.
#[derive(Clone)]
pub struct EngineConfig {
    /// This validator's consensus and p2p key.
    pub signer: ed25519::PrivateKey,
    /// The chain's genesis.
    pub genesis: Arc<Genesis>,
    /// Prefix of every storage partition this validator uses.
    pub partition_prefix: String,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// Pages in the storage page cache.
    pub cache_pages: NonZeroUsize,
}

/// A (sender, receiver) pair of one p2p channel.
pub type ChannelPair<S, R> = (S, R);

/// The registered p2p channels, in [`channel::ALL`] order.
pub struct Channels<S, R> {
    /// One pair per channel id.
    pub pairs: Vec<ChannelPair<S, R>>,
}

/// A running validator's handles.
pub struct Node<E: commonware_storage::Context + Spawner + rand_core::CryptoRng> {
    /// Chain knowledge shared with the API.
    pub chain: Arc<ChainInfo>,
    /// Marshal: finalized blocks and certificates.
    pub marshal: Marshal,
    /// The state actor (its databases are the finalized state).
    pub stateful: StatefulMailbox<E, MachinaApp>,
    /// The consensus engine's task; aborting it stops the whole validator.
    pub handle: Handle<()>,
}

/// Largest p2p message any channel carries.
pub fn max_message_size(validators: usize) -> u32 {
    let n = validators as u32;
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, commonware_cryptography::sha256::Digest>(n),
        marshal::max_payload_size::<Variant, Scheme>(n, &()),
        gossip::max_message_size(),
    ])
}

const EPOCH_LENGTH: std::num::NonZeroU64 = NZU64!(u64::MAX);

/// The leader schedule: round robin over the validators, one view each.
///
/// Stable leader terms with optimistic validation (the leader proposing the next block
/// before the previous certifies) were measured slower on a 2-core machine running four
/// validators: more work in flight competes for the same cores.
pub fn elector() -> RoundRobin<Sha256> {
    RoundRobin::<Sha256>::default()
}
const STATE_SYNC_BATCH: std::num::NonZeroU64 = NZU64!(256);

/// Starts a validator. `context` is consumed last by the consensus engine, so aborting the
/// returned handle stops every actor started here.
///
/// `observe` wraps the state actor's mailbox before marshal reports finalized blocks to it
/// (simulations insert a progress monitor there; production passes it through).
pub async fn start<E, S, R, B, P, Rep>(
    context: E,
    cfg: EngineConfig,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
    observe: impl FnOnce(StatefulMailbox<E, MachinaApp>) -> Rep,
) -> Node<E>
where
    Rep: commonware_consensus::Reporter<Activity = marshal::Update<Block>>,
    E: Spawner
        + Clock
        + Storage
        + Metrics
        + Supervisor
        + commonware_storage::Context
        + rand_core::CryptoRng
        + rand::Rng,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    B: Blocker<PublicKey = ed25519::PublicKey> + Clone,
    P: Provider<PublicKey = ed25519::PublicKey> + Clone,
{
    let public_key = cfg.signer.public_key();
    let prefix = cfg.partition_prefix.clone();
    let participants = cfg.genesis.validator_set();
    let namespace = cfg.genesis.consensus_namespace();
    let scheme = Scheme::signer(&namespace, participants, cfg.signer.clone())
        .expect("this node's key is not a validator of the genesis");
    let cache = page_cache(cfg.cache_pages);

    let mut pairs = channels.pairs.into_iter();
    let mut next = || pairs.next().expect("one channel pair per channel id");
    let (votes, certificates, resolver_net) = (next(), next(), next());
    let (backfill, broadcast_net, txs_net) = (next(), next(), next());

    let mempool = Mempool::new(cfg.mempool);
    let chain =
        Arc::new(ChainInfo::new(cfg.genesis.clone(), mempool.clone(), &context.child("chain")));
    let app = MachinaApp::new::<E>(chain.clone());
    let genesis_block = app.genesis_block().clone();

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(broadcast_net);

    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(&prefix, "finalizations", cache.clone(), scheme_certificate_cfg()),
    )
    .await
    .expect("finalizations archive");
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", cache.clone(), ()),
    )
    .await
    .expect("blocks archive");

    let plan = SyncPlan::init(context.child("sync_plan"), prefix.clone()).await;
    let provider = ConstantProvider::new(scheme.clone());
    let (marshal_actor, marshal, floor) = MarshalActor::<_, Variant, _, _, _, _, _>::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider,
            epocher: FixedEpocher::new(EPOCH_LENGTH),
            start: plan.marshal_start(Digested::precomputed(
                genesis_block.clone(),
                genesis_block.digest(),
            )),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(4096),
            page_cache: cache.clone(),
            replay_buffer: machina_store::IO_BUFFER,
            key_write_buffer: machina_store::IO_BUFFER,
            value_write_buffer: machina_store::IO_BUFFER,
            block_codec_config: (),
            max_repair: NZUsize!(16),
            // Blocks handed to the state ahead of its acknowledgements, which wait for a disk
            // sync. One at a time, a validator that fell behind replays a block per sync,
            // barely faster than the chain grows; with 16, the blocks applied during a sync
            // share the next one. Bounds the blocks staged in memory (twice this) and those
            // a restart hands to the state again.
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;

    let (stateful_actor, stateful) = Stateful::new(
        context.child("stateful"),
        StatefulConfig {
            application: app,
            db_config: state_db_config(&prefix, cache.clone()),
            provider: mempool.clone(),
            marshal: (marshal.clone(), floor),
            mailbox_size: NZUsize!(1024),
            plan,
            resolvers: NoStateSync::default(),
            sync_config: SyncEngineConfig {
                fetch_batch_size: STATE_SYNC_BATCH,
                apply_batch_size: NZU64!(1024),
                max_outstanding_requests: NZUsize!(8),
            },
            prune_config: None,
            strategy: Sequential,
        },
    );
    let deferred = Deferred::new(
        context.child("deferred"),
        stateful.clone(),
        marshal.clone(),
        FixedEpocher::new(EPOCH_LENGTH),
    );
    marshal_actor.start(observe(stateful.clone()), buffer, resolver);
    stateful_actor.start();

    let state = stateful.clone();
    let db = async move { state.subscribe_databases().await };
    gossip::start(context.child("gossip"), chain.clone(), db, txs_net);

    let t = cfg.timeouts;
    let engine = simplex::Engine::new(
        context,
        simplex::Config {
            scheme,
            elector: elector(),
            blocker,
            automaton: deferred.clone(),
            relay: deferred.clone(),
            reporter: deferred,
            strategy: Sequential,
            partition: format!("{prefix}-consensus"),
            mailbox_size: NZUsize!(1024),
            epoch: Epoch::zero(),
            floor: simplex::config::Floor::Genesis(genesis_block.digest()),
            replay_buffer: machina_store::IO_BUFFER,
            write_buffer: machina_store::IO_BUFFER,
            page_cache: cache,
            leader_timeout: t.leader,
            certification_timeout: t.certification,
            timeout_retry: t.retry,
            view_retention: ViewDelta::new(10),
            skip: SkipPolicy::Enabled {
                timeout: t.certification * 3,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(200),
            forward: ForwardPolicy::Disabled,
            track_historical_votes: false,
        },
    );
    let handle = engine.start(votes, certificates, resolver_net);
    Node { chain, marshal, stateful, handle }
}

fn scheme_certificate_cfg() -> usize {
    use commonware_cryptography::certificate::Verifier as _;
    Scheme::certificate_codec_config_unbounded()
}

/// The state-sync source of a node that never state-syncs (it replays blocks instead).
pub struct NoStateSync<Op>(std::marker::PhantomData<fn() -> Op>);

impl<Op> Default for NoStateSync<Op> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<Op> Clone for NoStateSync<Op> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<Op: Send + Sync + 'static> Source for NoStateSync<Op> {
    type Family = mmr::Family;
    type Digest = commonware_cryptography::sha256::Digest;
    type Op = Op;
    type Error = ServeError<mmr::Family>;

    async fn serve(&self, _request: Request<mmr::Family>) -> source::Result<Self> {
        Err(ServeError::MissingSource)
    }
}

impl<Op: Send + Sync + 'static, DB: Send + Sync + 'static> AttachableResolver<DB>
    for NoStateSync<Op>
{
    async fn attach_database(&self, _db: Shared<DB>) {}
}
