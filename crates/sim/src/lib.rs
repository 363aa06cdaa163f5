//! Deterministic simulations of a Machina validator network.
//!
//! Every validator runs the real node (consensus, marshal, state, mempool, gossip) on the
//! engine's deterministic runtime over a simulated network with configurable latency and
//! loss, under a random transfer workload. The harness can crash and restart validators,
//! partition and heal the network, and replace a validator with a Byzantine one. A run is a
//! pure function of its seed: the same seed gives the same execution, bit for bit.
//!
//! [`gateway`] runs the gateway's core on validator 0 with in-process devices, for gateway
//! and market scenarios that replay to the same state root and event log.
//!
//! After a run, [`properties`] check that honest validators finalized the same blocks, that
//! each one's state matches the root its blocks commit to, that supply is conserved, and
//! that an independent [`model`] of the bank, replaying the finalized blocks, agrees with
//! every balance, nonce and receipt.
//!
//! Recovery scenarios read their figures from a [`timeline`] of each validator's finalized
//! tips and processed blocks in simulated time. The simulated network has links but no
//! connections, so those scenarios restore a cut link when the production TCP transport
//! would carry traffic again, which [`transport`] computes from production's settings; and
//! storage is instant, so they may give validators a [`disk`] that takes time to sync.

pub mod disk;
pub mod engine;
pub mod gateway;
pub mod model;
pub mod properties;
pub mod timeline;
pub mod transport;
pub mod workload;

pub use engine::{MachinaEngine, NodeState};

/// A simulated link: 10 ms latency, 5 ms jitter, delivering `success_percent` of messages.
pub fn link(success_percent: u64) -> commonware_p2p::simulated::Link {
    commonware_p2p::simulated::Link {
        latency: std::time::Duration::from_millis(10),
        jitter: std::time::Duration::from_millis(5),
        success_rate: commonware_utils::Probability::new(success_percent, 100)
            .expect("a percentage"),
    }
}
