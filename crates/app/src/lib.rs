//! Machina's state machine.
//!
//! A pure, deterministic function from (state, block) to (state writes, receipts). No clock,
//! randomness, I/O, async, floats or unordered iteration: the same block on the same state
//! gives the same writes on every machine.
//!
//! State is a map from 32-byte hashed keys to encoded values ([`state`]). Execution reads
//! through a [`state::StateRead`] that may not hold every key: a read of a key it lacks stops
//! the transaction with [`state::Missing`], the caller fetches that key from the real store
//! and runs the transaction again. Nothing is written by a transaction that stopped, so the
//! retry is exact. Modules name the keys a call will read up front ([`module::Module::hint`])
//! so that, in practice, every key is fetched in one batch before execution starts.
//!
//! Modules live in [`modules`], one directory each, with their calls' handlers, storage keys,
//! state types and tests side by side.

pub mod exec;
#[cfg(test)]
mod fuzz;
pub mod module;
pub mod modules;
pub mod state;
#[cfg(test)]
pub(crate) mod testing;

pub use exec::{Applied, BlockExecutor};
pub use machina_types::{Genesis, Params, describe, genesis};
pub use module::BlockEnv;
pub use state::{Key, MemState, Missing, StateRead};
