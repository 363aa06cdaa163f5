//! The modules of the state machine, one directory each.

pub mod bank;
pub mod data;
pub mod identity;
pub mod market;
