//! The Machina node.
//!
//! Wires the engine (commonware simplex consensus, marshal block dissemination, QMDB state
//! through the `stateful` glue) to Machina's state machine, and adds what a chain node needs
//! around it: the mempool and its gossip, the HTTP API, metrics.

pub mod application;
pub mod chain;
pub mod execute;
pub mod explorer;
pub mod mempool;
pub mod ports;

pub use application::{MachinaApp, Scheme};
pub use chain::ChainInfo;
pub use mempool::{Mempool, MempoolConfig};
pub mod api;
pub mod engine;
pub mod gateway;
pub mod gossip;
pub mod health;
pub mod home;
pub mod ingress;
pub mod run;
