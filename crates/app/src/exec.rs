//! Block execution.
//!
//! [`BlockExecutor`] applies a block's transactions one at a time over the state at the start
//! of the block. Each transaction is first checked for inclusion (chain, expiry, fee cap,
//! the signer's wallet policy (frozen, expired, cooldown), nonce, ability to pay the fee); a
//! transaction that fails these is [`Applied::Rejected`]
//! and changes nothing; a block builder drops it, a verifier rejects the block. An included
//! transaction pays its fee and uses its nonce; then its calls run atomically: if one fails,
//! none of their writes are kept and the receipt names the failing call and its code. A
//! signer's wallet policy also refuses a call its allow lists do not allow, and fails the call
//! after which the transaction's spending exceeds a limit (see [`crate::modules::wallets`]).
//!
//! Signatures are not checked here: callers verify them (in batches) before execution.
//!
//! # Panics
//!
//! A panic is a broken invariant, never bad input: every value a call takes from outside is
//! range-checked by its stateless check and every sum over such values is checked arithmetic
//! with an error code. As defense in depth, a call that panics anyway fails with
//! [`ErrorCode::Internal`]: its transaction's calls leave no writes (its fee is paid and its
//! nonce used, as for any failed call), the panic is printed and counted in [`PANICS`]; a
//! panic while charging the fee rejects the transaction (it cannot be included). A
//! block-level step that fails or panics drops its own writes, records a
//! [`Event::BlockStepFailed`] among the block's events and is counted in [`STEP_FAILURES`];
//! the other steps and the block's transactions go on. Execution is deterministic, so every
//! node reaches the same outcome and no single input can stop the chain.

pub use crate::module::{BlockEnv, PANICS};
use crate::{
    module::{Ctx, ExecError, STEP_EVENTS_MAX, guarded},
    modules::{
        self,
        bank::{self, ChargeError},
        wallets::enforce::{GuardError, TxGuard},
    },
    state::{Collecting, Key, Missing, StateRead, Writes, encode_value},
};
use machina_types::{
    Address, BlockEvents, ErrorCode, Event, Hash, Outcome, Receipt, SignedTransaction,
    tx::CheckParams,
};
use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::atomic::{AtomicU64, Ordering},
};

/// Block-level steps that failed since the process started (their writes dropped).
pub static STEP_FAILURES: AtomicU64 = AtomicU64::new(0);

// The events of every step (and one failure event each) fit in a block's events.
const _: () =
    assert!(modules::STEP_COUNT * (STEP_EVENTS_MAX + 1) <= machina_types::limits::BLOCK_EVENTS_MAX);

/// Keys that belong to the chain itself rather than to a module.
pub mod keys {
    use crate::state::{Key, key};
    use machina_types::Hash;

    /// The receipt of an included transaction, by transaction hash.
    pub fn receipt(tx_hash: &Hash) -> Key {
        key(&[b"chain/receipt/", &tx_hash.0])
    }

    /// The events of a block's block-level steps, by height (absent when there were none).
    pub fn block_events(height: u64) -> Key {
        key(&[b"chain/block-events/", &height.to_be_bytes()])
    }
}

/// The result of applying one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Included: its receipt (success or the failing call).
    Included(Receipt),
    /// Not includable; nothing changed.
    Rejected(ErrorCode),
}

/// Applies transactions of one block.
pub struct BlockExecutor {
    env: BlockEnv,
    writes: Writes,
    receipts: Vec<Receipt>,
    events: Vec<Event>,
    /// Whether block 1's genesis writes are in `writes`.
    genesis_done: bool,
    /// Block-level steps already run (their writes are in `writes`).
    steps_done: usize,
}

/// A block's effect: state writes, receipts, and the events of its block-level steps.
#[derive(Clone, Debug, Default)]
pub struct BlockOutput {
    /// Writes to apply to state (`None` deletes).
    pub writes: Writes,
    /// Receipts of included transactions, in block order.
    pub receipts: Vec<Receipt>,
    /// Events of the block-level steps (a market batch's clearing, leases falling due),
    /// which belong to no transaction.
    pub events: Vec<Event>,
}

impl BlockExecutor {
    /// Starts executing a block.
    pub fn new(env: BlockEnv) -> Self {
        Self {
            env,
            writes: Writes::new(),
            receipts: Vec::new(),
            events: Vec::new(),
            genesis_done: false,
            steps_done: 0,
        }
    }

    /// The block's environment.
    pub fn env(&self) -> &BlockEnv {
        &self.env
    }

    /// Keys the block-begin steps read first.
    pub fn begin_hints(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        if self.env.height == 1 {
            modules::genesis_hint(&self.env.genesis, &mut keys);
        }
        for (_, step) in modules::steps() {
            (step.hint)(&self.env, &mut keys);
        }
        keys
    }

    /// Runs the block-begin steps: in block 1, every module's genesis; in every block, each
    /// module's block-level steps (a market's batch clearing, settlement of due leases).
    /// Returns every key the next step needed and could not read (nothing of that step
    /// changed then): load them all and call again; steps already run are not run twice.
    pub fn begin(&mut self, base: &dyn StateRead) -> Result<(), Vec<Key>> {
        if self.env.height == 1 && !self.genesis_done {
            let view = Layered { top: &self.writes, base };
            let mut ctx = Ctx::new(&view, &self.env, Address::module("genesis"));
            match modules::genesis(&mut ctx, &self.env.genesis) {
                Ok(()) => {}
                Err(ExecError::Missing(k)) => return Err(vec![k]),
                Err(ExecError::Fail(code)) => panic!("genesis failed: {code}"),
            }
            let (writes, _) = ctx.into_parts();
            self.writes.extend(writes);
            self.genesis_done = true;
        }
        while let Some((account, step)) = modules::steps().nth(self.steps_done) {
            let view = Layered { top: &self.writes, base };
            let collecting = Collecting::new(&view);
            let mut ctx = Ctx::system(&collecting, &self.env, account);
            let result = guarded(|| (step.run)(&mut ctx));
            debug_assert!(
                result.is_err() || ctx.native_flow() == 0,
                "block-level step {} created or destroyed {} native tokens",
                step.name,
                ctx.native_flow()
            );
            let (writes, events) = ctx.into_parts();
            // A step that read keys it could not see may have failed for that reason alone:
            // load them and run it again.
            let missed = collecting.missed();
            if !missed.is_empty() {
                return Err(missed);
            }
            self.steps_done += 1;
            match result {
                Ok(()) => {
                    self.writes.extend(writes);
                    self.events.extend(events);
                }
                Err(error) => {
                    let code = match error {
                        ExecError::Fail(code) => code,
                        ExecError::Missing(_) => ErrorCode::Internal,
                    };
                    STEP_FAILURES.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "block-level step {} failed at height {}: {code}; its writes are dropped",
                        step.name, self.env.height
                    );
                    self.events.push(Event::BlockStepFailed { step: step.name.into(), code });
                }
            }
        }
        Ok(())
    }

    /// Adds the keys applying `tx` will read.
    pub fn hint(tx: &SignedTransaction, keys: &mut Vec<Key>) {
        let signer = &tx.tx.signer;
        keys.push(bank::keys::account(signer));
        keys.push(bank::keys::account(&bank::fee_pool()));
        TxGuard::hint(signer, keys);
        for call in &tx.tx.calls {
            modules::hint(call, signer, keys);
        }
    }

    /// Applies one transaction whose signature the caller has verified. On `Err(Missing)`
    /// nothing changed: load the key and call again.
    pub fn apply(
        &mut self,
        base: &dyn StateRead,
        tx: &SignedTransaction,
        tx_hash: Hash,
    ) -> Result<Applied, Missing> {
        let genesis = &self.env.genesis;
        let params = CheckParams {
            chain_id: &genesis.chain_id,
            height: self.env.height,
            fees: genesis.params.fees,
        };
        if let Err(code) = tx.check_envelope(&params) {
            return Ok(Applied::Rejected(code));
        }
        let fee = tx.tx.fee;
        let signer = tx.tx.signer;

        let block_view = Layered { top: &self.writes, base };
        // The signer's wallet policy: a frozen or expired account, or one in its cooldown,
        // cannot be included (nor can one whose policy cannot be read: a broken invariant).
        let now_ms = self.env.timestamp_ms;
        let loaded = catch_unwind(AssertUnwindSafe(|| TxGuard::load(&block_view, signer, now_ms)))
            .unwrap_or_else(|_| {
                PANICS.fetch_add(1, Ordering::Relaxed);
                Err(GuardError::Reject(ErrorCode::Internal))
            });
        let mut guard = match loaded {
            Ok(guard) => guard,
            Err(GuardError::Reject(code)) => return Ok(Applied::Rejected(code)),
            Err(GuardError::Missing(missing)) => return Err(missing),
        };
        let mut ctx = Ctx::new(&block_view, &self.env, signer);
        // A panic while charging (a broken invariant) rejects the transaction, like any
        // transaction that cannot be included.
        let charged =
            catch_unwind(AssertUnwindSafe(|| bank::charge(&mut ctx, &signer, tx.tx.nonce, fee)))
                .unwrap_or_else(|_| {
                    PANICS.fetch_add(1, Ordering::Relaxed);
                    Err(ChargeError::Reject(ErrorCode::Internal))
                });
        match charged {
            Ok(()) => {}
            Err(ChargeError::Reject(code)) => return Ok(Applied::Rejected(code)),
            Err(ChargeError::Missing(k)) => return Err(Missing(k)),
        }
        debug_assert_eq!(ctx.native_flow(), 0, "charging the fee moves it to the fee pool");
        guard.note_included(&mut ctx);
        let (mut writes, _) = ctx.into_parts();

        let (outcome, events) = {
            let charged_view = Layered { top: &writes, base: &block_view };
            let mut calls_ctx = Ctx::new(&charged_view, &self.env, signer);
            let mut outcome = match guarded(|| Ok(guard.begin(&calls_ctx)?)) {
                Ok(()) => Outcome::Success,
                Err(ExecError::Missing(k)) => return Err(Missing(k)),
                Err(ExecError::Fail(code)) => Outcome::Failed { call: 0, code },
            };
            let calls = if outcome == Outcome::Success { tx.tx.calls.as_slice() } else { &[] };
            for (i, call) in calls.iter().enumerate() {
                calls_ctx.set_origin(&tx_hash, i);
                // The call runs only if the signer's policy allows it, and counts only if
                // what the calls have spent so far stays within the policy's limits.
                let result = guarded(|| {
                    guard.allows(call)?;
                    modules::execute(&mut calls_ctx, call)?;
                    guard.check(&calls_ctx)
                });
                match result {
                    Ok(()) => {}
                    Err(ExecError::Missing(k)) => return Err(Missing(k)),
                    Err(ExecError::Fail(code)) => {
                        outcome = Outcome::Failed { call: i as u8, code };
                        break;
                    }
                }
            }
            debug_assert!(
                outcome != Outcome::Success || calls_ctx.native_flow() == 0,
                "transaction {tx_hash} created or destroyed {} native tokens",
                calls_ctx.native_flow()
            );
            if outcome == Outcome::Success {
                match guarded(|| Ok(guard.commit(&mut calls_ctx)?)) {
                    Ok(()) => {}
                    Err(ExecError::Missing(k)) => return Err(Missing(k)),
                    Err(ExecError::Fail(code)) => {
                        let call = tx.tx.calls.len().saturating_sub(1) as u8;
                        outcome = Outcome::Failed { call, code };
                    }
                }
            }
            let (call_writes, events) = calls_ctx.into_parts();
            if outcome == Outcome::Success {
                writes.extend(call_writes);
                (outcome, events)
            } else {
                (outcome, Vec::new())
            }
        };

        let receipt = Receipt {
            tx_hash,
            height: self.env.height,
            index: self.receipts.len() as u32,
            signer,
            fee,
            outcome,
            events,
        };
        writes.insert(keys::receipt(&tx_hash), Some(encode_value(&receipt)));
        self.writes.extend(writes);
        self.receipts.push(receipt.clone());
        Ok(Applied::Included(receipt))
    }

    /// Receipts so far.
    pub fn receipts(&self) -> &[Receipt] {
        &self.receipts
    }

    /// The block's writes (with its block-level events stored by height), receipts and
    /// block-level events.
    pub fn finish(mut self) -> BlockOutput {
        if !self.events.is_empty() {
            let events = BlockEvents(self.events);
            let key = keys::block_events(self.env.height);
            self.writes.insert(key, Some(encode_value(&events)));
            self.events = events.0;
        }
        BlockOutput { writes: self.writes, receipts: self.receipts, events: self.events }
    }
}

/// A read view with pending writes on top of another view.
pub struct Layered<'a> {
    /// The pending writes.
    pub top: &'a Writes,
    /// The view underneath.
    pub base: &'a dyn StateRead,
}

impl StateRead for Layered<'_> {
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        match self.top.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.read(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        exec::Applied,
        genesis::{MarketParams, Params},
        modules::{bank, market},
        testing::Chain,
    };
    use commonware_cryptography::{Signer, ed25519::PrivateKey};
    use machina_types::{Address, BankCall, ErrorCode, Event, Outcome};

    fn included(applied: &Applied) -> &machina_types::Receipt {
        match applied {
            Applied::Included(receipt) => receipt,
            Applied::Rejected(code) => panic!("rejected: {code}"),
        }
    }

    #[test]
    fn a_call_that_hits_a_broken_invariant_fails_with_internal_and_the_block_goes_on() {
        let mut chain = Chain::new(3);
        let to = chain.addr(2);
        chain
            .run(1, BankCall::MintNft { to: chain.addr(1), metadata_hash: Default::default() })
            .unwrap();
        // Corrupt state (a broken invariant: only this crate writes state).
        chain.state.entries.insert(bank::keys::nft(1), vec![0xff; 3]);
        let broken = chain.tx(1, vec![BankCall::TransferNft { id: 1, to }]);
        let fine = chain.tx(0, vec![BankCall::Transfer { to, amount: 5 }]);
        let results = chain.block(vec![broken, fine]);
        assert_eq!(
            included(&results[0]).outcome,
            Outcome::Failed { call: 0, code: ErrorCode::Internal }
        );
        assert_eq!(included(&results[1]).outcome, Outcome::Success);
        assert!(crate::exec::PANICS.load(std::sync::atomic::Ordering::Relaxed) > 0);
    }

    #[test]
    fn the_context_counts_native_tokens_created_or_destroyed_and_keeps_only_kept_attempts() {
        let chain = Chain::new(2);
        let env = crate::BlockEnv {
            height: 1,
            timestamp_ms: 0,
            proposer: chain.addr(0),
            genesis: chain.genesis.clone(),
        };
        let (a, b) = (chain.addr(0), chain.addr(1));
        let mut ctx = crate::module::Ctx::new(&chain.state, &env, a);
        bank::credit(&mut ctx, &a, 7).unwrap();
        assert_eq!(ctx.native_flow(), 7, "a credit alone creates tokens");
        bank::debit(&mut ctx, &b, 7).unwrap();
        assert_eq!(ctx.native_flow(), 0, "a debit matching it balances the flow");
        let failed = ctx.attempt(|ctx| {
            bank::credit(ctx, &a, 5)?;
            Err(ErrorCode::InvalidCall.into())
        });
        assert_eq!(failed, Ok(Err(ErrorCode::InvalidCall)));
        assert_eq!(ctx.native_flow(), 0, "a failed attempt's flow is dropped with its writes");
        ctx.attempt(|ctx| bank::credit(ctx, &a, 5)).unwrap().unwrap();
        assert_eq!(ctx.native_flow(), 5, "a kept attempt's flow is kept");
    }

    #[test]
    fn a_signer_whose_account_cannot_be_read_is_rejected_not_fatal() {
        let mut chain = Chain::new(2);
        let broken = PrivateKey::from_seed(4_444);
        let i = chain.add_account(broken.clone());
        chain.holders.remove(&Address::of(&broken.public_key()));
        chain.state.entries.insert(bank::keys::account(&chain.addr(i)), vec![1, 2]);
        let tx = chain.tx(i, vec![BankCall::Transfer { to: chain.addr(0), amount: 1 }]);
        assert_eq!(chain.block(vec![tx])[0], Applied::Rejected(ErrorCode::Internal));
        chain.block(vec![]);
    }

    #[test]
    fn a_failing_block_level_step_drops_its_own_writes_records_it_and_the_chain_goes_on() {
        let params = Params {
            market: MarketParams { auction_interval_blocks: 5, ..MarketParams::default() },
            ..Params::default()
        };
        let mut chain = Chain::with_params(2, params);
        // What a stored value that panics the batch-end step looked like before hardening:
        // here a value that does not decode where the clearing reads its markets.
        chain.state.entries.insert(market::keys::active_markets(), vec![0xff; 7]);
        let mut failed_at = None;
        for _ in 0..6 {
            let tx = chain.tx(0, vec![BankCall::Transfer { to: chain.addr(1), amount: 1 }]);
            let results = chain.block(vec![tx]);
            assert_eq!(included(&results[0]).outcome, Outcome::Success);
            if chain.block_events.iter().any(|e| {
                matches!(e, Event::BlockStepFailed { step, code: ErrorCode::Internal }
                    if step == "market-clearing")
            }) {
                failed_at = Some(chain.height);
            }
        }
        assert_eq!(failed_at, Some(5), "the batch end failed, and only it");
        assert!(crate::exec::STEP_FAILURES.load(std::sync::atomic::Ordering::Relaxed) > 0);
    }
}
