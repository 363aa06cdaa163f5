//! The harness's view of a Machina validator: how to start one (honest or Byzantine) on the
//! deterministic runtime and simulated network.

use crate::{
    disk::{Disk, SlowDisk},
    gateway::GatewayScenario,
    timeline::{Event, Timed, Timeline},
    workload::{self, Workload},
};
use commonware_consensus::{
    simplex::{
        elector::RoundRobin,
        mocks::{equivocator, relay::Relay},
    },
    types::Epoch,
};
use commonware_cryptography::{Sha256, Signer, ed25519};
use commonware_glue::simulate::{
    engine::{EngineDefinition, InitContext},
    processed::ProcessedHeight,
    reporter::MonitorReporter,
};
use commonware_runtime::{Clock, Handle, Quota, Spawner, Supervisor, deterministic};
use commonware_utils::NZUsize;
use machina_app::{Genesis, Params, genesis::GenesisAccount};
use machina_node::{
    ChainInfo, MachinaApp, MempoolConfig, Scheme,
    engine::{self, Channels, EngineConfig, Marshal, Timeouts, channel},
    run::CHANNEL_QUOTA,
};
use machina_types::Address;
use std::{collections::BTreeSet, sync::Arc, time::Duration};

/// Balance of each workload account at genesis.
pub const ACCOUNT_BALANCE: u64 = 1_000_000_000;

/// Definition of a simulated Machina network.
#[derive(Clone)]
pub struct MachinaEngine {
    validators: Vec<ed25519::PrivateKey>,
    accounts: Vec<ed25519::PrivateKey>,
    genesis: Arc<Genesis>,
    byzantine: BTreeSet<usize>,
    workload: Workload,
    timeline: Timeline,
    disk_sync: Option<Duration>,
    gateway: Option<GatewayScenario>,
}

impl MachinaEngine {
    /// `validators` validators and `accounts` funded workload accounts.
    pub fn new(validators: usize, accounts: usize) -> Self {
        let validators: Vec<_> =
            (0..validators as u64).map(ed25519::PrivateKey::from_seed).collect();
        let accounts: Vec<_> =
            (0..accounts as u64).map(|i| ed25519::PrivateKey::from_seed(1_000 + i)).collect();
        let genesis = Genesis {
            chain_id: "machina-sim".into(),
            genesis_time_ms: 0,
            validators: validators.iter().map(|k| Address::of(&k.public_key())).collect(),
            accounts: accounts
                .iter()
                .map(|k| GenesisAccount {
                    address: Address::of(&k.public_key()),
                    balance: ACCOUNT_BALANCE,
                })
                .collect(),
            params: Params::default(),
        };
        genesis.validate().expect("simulation genesis");
        Self {
            validators,
            accounts,
            genesis: Arc::new(genesis),
            byzantine: BTreeSet::new(),
            workload: Workload::default(),
            timeline: Timeline::default(),
            disk_sync: None,
            gateway: None,
        }
    }

    /// Runs `scenario` on validator 0 (with its gateway), funding its actors at genesis.
    pub fn with_gateway(mut self, scenario: GatewayScenario) -> Self {
        let mut genesis = (*self.genesis).clone();
        crate::gateway::fund(&mut genesis, &scenario.actors);
        genesis.validate().expect("simulation genesis");
        self.genesis = Arc::new(genesis);
        self.gateway = Some(scenario);
        self
    }

    /// Replaces validator `index` with an equivocating one.
    pub fn with_equivocator(mut self, index: usize) -> Self {
        self.byzantine.insert(index);
        self
    }

    /// Sets the workload.
    pub fn with_workload(mut self, workload: Workload) -> Self {
        self.workload = workload;
        self
    }

    /// Gives every validator a disk that takes `sync` to make a finalized block's state
    /// durable (storage is otherwise instant).
    pub fn with_disk_sync(mut self, sync: Duration) -> Self {
        self.disk_sync = Some(sync);
        self
    }

    /// When each validator started, learned a finalized tip, and was handed a block (shared
    /// by every clone of this engine, so one run per engine).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The genesis.
    pub fn genesis(&self) -> &Arc<Genesis> {
        &self.genesis
    }

    /// Validator public keys, in index order.
    pub fn public_keys(&self) -> Vec<ed25519::PublicKey> {
        self.validators.iter().map(|k| k.public_key()).collect()
    }

    fn senders_of(&self, index: usize) -> Vec<ed25519::PrivateKey> {
        let n = self.validators.len();
        self.accounts
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == index)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

/// A validator as properties see it.
pub enum NodeState {
    /// An honest validator.
    Honest(Honest),
    /// A Byzantine validator (nothing to inspect).
    Byzantine,
}

/// An honest validator's handles.
pub struct Honest {
    /// Its index.
    pub index: usize,
    /// Finalized blocks and certificates.
    pub marshal: Marshal,
    /// The state actor.
    pub stateful: commonware_glue::stateful::Mailbox<deterministic::Context, MachinaApp>,
    /// Chain knowledge.
    pub chain: Arc<ChainInfo>,
}

impl ProcessedHeight for NodeState {
    async fn processed_height(&self) -> u64 {
        match self {
            // A Byzantine validator never blocks an exit condition.
            NodeState::Byzantine => u64::MAX,
            NodeState::Honest(h) => h.marshal.get_processed().await.map_or(0, |p| p.height().get()),
        }
    }
}

impl EngineDefinition for MachinaEngine {
    type PublicKey = ed25519::PublicKey;
    type Engine = Handle<()>;
    type State = NodeState;

    fn participants(&self) -> Vec<ed25519::PublicKey> {
        self.public_keys()
    }

    fn channels(&self) -> Vec<(u64, Quota)> {
        channel::ALL.iter().map(|c| (*c, CHANNEL_QUOTA)).collect()
    }

    fn max_message_size(&self) -> u32 {
        engine::max_message_size(self.validators.len())
    }

    async fn init(&self, ctx: InitContext<'_, ed25519::PublicKey>) -> (Handle<()>, NodeState) {
        let InitContext { context, index, public_key, oracle, channels, monitor, .. } = ctx;
        if self.byzantine.contains(&index) {
            return (self.equivocator(context, index, channels), NodeState::Byzantine);
        }
        let cfg = EngineConfig {
            signer: self.validators[index].clone(),
            genesis: self.genesis.clone(),
            partition_prefix: format!("validator-{index}"),
            mempool: MempoolConfig::default(),
            timeouts: Timeouts::for_genesis(&self.genesis),
            cache_pages: NZUsize!(256),
        };
        let workload_ctx = context.child("workload");
        let gateway_ctx = context.child("gateway");
        let clock = context.child("timeline");
        let disk_ctx = context.child("disk");
        let disk = Disk { validator: index, sync: self.disk_sync, timeline: self.timeline.clone() };
        let (pk, timeline) = (public_key.clone(), self.timeline.clone());
        let node = engine::start(
            context,
            cfg,
            Channels { pairs: channels },
            oracle.control(public_key.clone()),
            oracle.manager(),
            move |mailbox| {
                let state = SlowDisk::new(mailbox, disk_ctx, disk);
                Timed::new(MonitorReporter::new(pk, monitor, state), index, clock, timeline)
            },
        )
        .await;
        self.timeline.record(workload_ctx.current(), index, Event::Started);
        let all: Vec<Address> =
            self.accounts.iter().map(|k| Address::of(&k.public_key())).collect();
        workload_ctx.spawn({
            let (chain, stateful) = (node.chain.clone(), node.stateful.clone());
            let (senders, workload) = (self.senders_of(index), self.workload);
            move |ctx| workload::run(ctx, workload, chain, stateful, senders, all)
        });
        if let Some(scenario) = self.gateway.clone().filter(|_| index == 0) {
            let (chain, stateful) = (node.chain.clone(), node.stateful.clone());
            gateway_ctx.spawn(move |ctx| scenario.run(ctx, chain, stateful));
        }
        let state =
            Honest { index, marshal: node.marshal, stateful: node.stateful, chain: node.chain };
        (node.handle, NodeState::Honest(state))
    }

    fn start(engine: Handle<()>) -> Handle<()> {
        engine
    }
}

impl MachinaEngine {
    fn equivocator(
        &self,
        context: deterministic::Context,
        index: usize,
        channels: Vec<commonware_glue::simulate::engine::ChannelPair<ed25519::PublicKey>>,
    ) -> Handle<()> {
        let scheme = Scheme::signer(
            &self.genesis.consensus_namespace(),
            self.genesis.validator_set(),
            self.validators[index].clone(),
        )
        .expect("validator key");
        let mut channels = channels.into_iter();
        let votes = channels.next().expect("votes channel");
        let certificates = channels.next().expect("certificates channel");
        let byzantine = equivocator::Equivocator::<_, _, RoundRobin<Sha256>, Sha256>::new(
            context,
            equivocator::Config {
                scheme,
                elector: engine::elector(),
                epoch: Epoch::zero(),
                relay: Arc::new(Relay::new()),
            },
        );
        byzantine.start(votes, certificates)
    }
}
