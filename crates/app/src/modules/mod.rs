//! The modules of the state machine, one directory each.

pub mod bank;
