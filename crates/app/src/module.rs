//! The module contract and the execution context modules run in.
//!
//! Every module implements [`Module`]: its genesis, its block-level steps, the keys a call
//! reads, and the execution of its calls. The stateless side of the contract (argument
//! checks, the native tokens a call may spend, the module's tag and error range) is
//! [`machina_types::ModuleCall`], on the call type itself, so clients and firmware run it
//! too. The executor, the API's admission and gossip reach modules only through these two
//! traits and the registry in [`crate::modules`].
//!
//! A call that fails leaves no writes: the context buffers the transaction's writes and the
//! executor drops them unless every call of the transaction succeeds.

use crate::{
    genesis::Genesis,
    state::{Key, Missing, StateRead, Writes, decode_value, encode_value},
};
use commonware_codec::{Decode, Encode};
use machina_types::{
    Address, ErrorCode, Event, Hash, Height, ModuleCall, limits::EVENTS_PER_TX_MAX,
};
use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// Events one block-level step (such as a market's batch clearing) may record. Bounds the
/// work of one step: a market records one event per market cleared and per lease settled.
pub const STEP_EVENTS_MAX: usize = 8192;

/// Calls and steps whose execution panicked since the process started (each failed with
/// `internal`).
pub static PANICS: AtomicU64 = AtomicU64::new(0);

/// What a block executes against besides state.
#[derive(Clone, Debug)]
pub struct BlockEnv {
    /// The block's height.
    pub height: Height,
    /// The block's timestamp (ms since the Unix epoch), set by its proposer.
    pub timestamp_ms: u64,
    /// The block's proposer.
    pub proposer: Address,
    /// The chain's genesis (chain id, parameters, allocations).
    pub genesis: Arc<Genesis>,
}

/// Why a call stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The call failed for a reason the client can act on.
    Fail(ErrorCode),
    /// A state key was not loaded; the executor fetches it and retries the transaction.
    Missing(Key),
}

impl From<ErrorCode> for ExecError {
    fn from(code: ErrorCode) -> Self {
        Self::Fail(code)
    }
}

impl From<Missing> for ExecError {
    fn from(m: Missing) -> Self {
        Self::Missing(m.0)
    }
}

/// Result of a call.
pub type ExecResult<T = ()> = Result<T, ExecError>;

/// Runs `f`, turning a panic into [`ErrorCode::Internal`] (counted in [`PANICS`]).
pub(crate) fn guarded<T>(f: impl FnOnce() -> ExecResult<T>) -> ExecResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        Err(ExecError::Fail(ErrorCode::Internal))
    })
}

/// A block-level step: runs before the block's transactions, as its module's account, with
/// up to [`STEP_EVENTS_MAX`] events. One failing does not stop the next.
pub struct Step {
    /// The name recorded if it fails (`<module>-<what>`).
    pub name: &'static str,
    /// The keys the step will read in this block, fetched in one batch before it runs.
    pub hint: fn(&BlockEnv, &mut Vec<Key>),
    /// The step.
    pub run: fn(&mut Ctx<'_>) -> ExecResult,
}

/// A state machine module.
pub trait Module {
    /// The module's call type, with its stateless checks.
    type Call: ModuleCall;

    /// Block-level steps the module runs before every block's transactions, in order.
    const STEPS: &'static [Step] = &[];

    /// Adds the keys [`Module::genesis`] reads.
    fn genesis_hint(_genesis: &Genesis, _keys: &mut Vec<Key>) {}

    /// Writes the module's initial state from the genesis document, in block 1, before any
    /// step or transaction. A failure here is a genesis document the chain cannot start from.
    fn genesis(_ctx: &mut Ctx<'_>, _genesis: &Genesis) -> ExecResult {
        Ok(())
    }

    /// Adds the keys `call` by `signer` will read, so they can be fetched in one batch before
    /// execution. A key left out costs a retry, never a wrong result.
    fn hint(call: &Self::Call, signer: &Address, keys: &mut Vec<Key>);

    /// Executes `call` on behalf of `ctx.signer()`. Its arguments passed
    /// [`ModuleCall::check`].
    fn execute(ctx: &mut Ctx<'_>, call: &Self::Call) -> ExecResult;

    /// The module's account (holds its pools and signs its block-level steps).
    fn account() -> Address {
        Address::module(Self::Call::MODULE)
    }
}

/// The view a call executes against: its own pending writes over a read view (the block's
/// writes so far over the state at the start of the block).
pub struct Ctx<'a> {
    base: &'a dyn StateRead,
    writes: Writes,
    events: Vec<Event>,
    events_max: usize,
    env: &'a BlockEnv,
    signer: Address,
    origin: Hash,
    /// How many [`Ctx::attempt_as`] this context is nested in.
    depth: u8,
    /// Native tokens credited minus debited through this context: the native supply is
    /// fixed after genesis, so every call and step leaves it at zero (checked in debug
    /// builds).
    native_flow: i128,
}

impl<'a> Ctx<'a> {
    /// A context for `signer` over `base`.
    pub fn new(base: &'a dyn StateRead, env: &'a BlockEnv, signer: Address) -> Self {
        Self {
            base,
            writes: Writes::new(),
            events: Vec::new(),
            events_max: EVENTS_PER_TX_MAX,
            env,
            signer,
            origin: Hash::default(),
            depth: 0,
            native_flow: 0,
        }
    }

    /// A context for a block-level step of module account `signer` (no transaction), which
    /// may record up to [`STEP_EVENTS_MAX`] events.
    pub fn system(base: &'a dyn StateRead, env: &'a BlockEnv, signer: Address) -> Self {
        let origin = Hash::of(&[b"machina/block-step/", &env.height.to_be_bytes()]);
        Self { events_max: STEP_EVENTS_MAX, origin, ..Self::new(base, env, signer) }
    }

    /// Names the call being executed (its transaction's hash and its index there).
    pub fn set_origin(&mut self, tx_hash: &Hash, call: usize) {
        self.origin = Hash::of(&[&tx_hash.0, &(call as u64).to_be_bytes()]);
    }

    /// A hash naming the call being executed: the same whatever the order of transactions
    /// in its block, and different for every call.
    pub fn origin(&self) -> Hash {
        self.origin
    }

    /// Whether this context runs inside another call's calls ([`Ctx::attempt_as`]): a
    /// call that runs calls of its own as another account refuses to run nested, so such
    /// runs never chain.
    pub fn nested(&self) -> bool {
        self.depth > 0
    }

    /// The account executing (the transaction's signer).
    pub fn signer(&self) -> Address {
        self.signer
    }

    /// The block being executed.
    pub fn env(&self) -> &BlockEnv {
        self.env
    }

    /// Raw read through the layers.
    pub fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        self.base.read(key)
    }

    /// Reads and decodes a value.
    pub fn get<T: Decode<Cfg = ()>>(&self, key: &Key) -> Result<Option<T>, Missing> {
        Ok(self.read(key)?.map(|bytes| decode_value(key, &bytes)))
    }

    /// Reads a value the module's own records say is stored; `internal` if it is absent.
    /// Never a panic: in a block-level step's first pass, keys not loaded yet read as absent
    /// (the executor loads them and runs the step again), so such a read may come back empty
    /// without any invariant being broken.
    pub fn stored<T: Decode<Cfg = ()>>(&self, key: &Key) -> ExecResult<T> {
        self.get(key)?.ok_or(ExecError::Fail(ErrorCode::Internal))
    }

    /// Writes a value.
    pub fn put<T: Encode>(&mut self, key: Key, value: &T) {
        self.writes.insert(key, Some(encode_value(value)));
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: Key) {
        self.writes.insert(key, None);
    }

    /// Records an event. Receipts hold a bounded number; a call that would exceed it fails.
    pub fn emit(&mut self, event: Event) -> ExecResult {
        if self.events.len() >= self.events_max {
            return Err(ExecError::Fail(ErrorCode::InvalidCall));
        }
        self.events.push(event);
        Ok(())
    }

    /// Records native tokens credited (positive) or debited (negative); only the bank's
    /// balance primitives call this.
    pub(crate) fn note_native_flow(&mut self, delta: i128) {
        self.native_flow += delta;
    }

    /// Native tokens credited minus debited so far: zero whenever a call or step is done,
    /// since nothing creates or destroys native tokens after genesis.
    pub fn native_flow(&self) -> i128 {
        self.native_flow
    }

    /// The buffered writes and events, for the executor to keep.
    pub fn into_parts(self) -> (Writes, Vec<Event>) {
        (self.writes, self.events)
    }

    /// Runs `f` in a nested context over this one and keeps its writes and events only if it
    /// succeeds: a failure (or a panic, counted like any other) leaves this context as it was
    /// and is returned as `Ok(Err(code))`. A missing key stops the caller as usual. Block-level
    /// steps use it so that one lease or order that cannot be settled does not stop the others.
    pub fn attempt(
        &mut self,
        f: impl FnOnce(&mut Ctx<'_>) -> ExecResult,
    ) -> ExecResult<Result<(), ErrorCode>> {
        self.attempt_as(self.signer, f)
    }

    /// [`Ctx::attempt`] with `signer` as the nested context's signer: a machine's approved
    /// proposal makes its calls as the machine's treasury this way.
    pub fn attempt_as(
        &mut self,
        signer: Address,
        f: impl FnOnce(&mut Ctx<'_>) -> ExecResult,
    ) -> ExecResult<Result<(), ErrorCode>> {
        let events_max = self.events_max - self.events.len();
        let (result, writes, events, flow) = {
            let mut nested = Ctx {
                base: &*self,
                writes: Writes::new(),
                events: Vec::new(),
                events_max,
                env: self.env,
                signer,
                origin: self.origin,
                depth: self.depth.saturating_add(1),
                native_flow: 0,
            };
            let result = guarded(|| f(&mut nested));
            let flow = nested.native_flow;
            let (writes, events) = nested.into_parts();
            (result, writes, events, flow)
        };
        match result {
            Ok(()) => {
                self.writes.extend(writes);
                self.events.extend(events);
                self.native_flow += flow;
                Ok(Ok(()))
            }
            Err(ExecError::Missing(key)) => Err(ExecError::Missing(key)),
            Err(ExecError::Fail(code)) => Ok(Err(code)),
        }
    }
}

impl StateRead for Ctx<'_> {
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        Ctx::read(self, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Collecting, Loaded, key};

    #[test]
    fn a_stored_record_not_loaded_yet_is_an_error_the_step_retries_not_a_panic() {
        let chain = crate::testing::Chain::new(1);
        let env = BlockEnv {
            height: 2,
            timestamp_ms: 0,
            proposer: chain.addr(0),
            genesis: chain.genesis.clone(),
        };
        // A block-level step's first pass: nothing loaded, reads come back absent.
        let empty = Loaded::default();
        let collecting = Collecting::new(&empty);
        let ctx = Ctx::system(&collecting, &env, Address::module("test"));
        let record = key(&[b"test/record"]);
        // Called unguarded: a panic here fails the test.
        assert_eq!(ctx.stored::<u64>(&record), Err(ExecError::Fail(ErrorCode::Internal)));
        drop(ctx);
        assert_eq!(collecting.missed(), vec![record], "the executor loads it and runs again");
    }
}
