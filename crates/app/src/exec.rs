//! Block execution.
//!
//! [`BlockExecutor`] applies a block's transactions one at a time over the state at the start
//! of the block. Each transaction is first checked for inclusion (chain, expiry, fee cap,
//! nonce, ability to pay the fee); a transaction that fails these is [`Applied::Rejected`]
//! and changes nothing; a block builder drops it, a verifier rejects the block. An included
//! transaction pays its fee and uses its nonce; then its calls run atomically: if one fails,
//! none of their writes are kept and the receipt names the failing call and its code.
//!
//! Signatures are not checked here: callers verify them (in batches) before execution.

use crate::{
    genesis::Genesis,
    module::{Ctx, ExecError, Module},
    modules::{
        bank::{self, Bank, ChargeError},
        data::Data,
        identity::Identity,
        market::{self, Market},
    },
    state::{Collecting, Key, Missing, StateRead, Writes, encode_value},
};
use machina_types::{
    Address, BlockEvents, Call, ErrorCode, Event, Hash, Height, Outcome, Receipt,
    SignedTransaction, tx::CheckParams,
};
use std::sync::Arc;

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
        Self { env, writes: Writes::new(), receipts: Vec::new(), events: Vec::new() }
    }

    /// The block's environment.
    pub fn env(&self) -> &BlockEnv {
        &self.env
    }

    /// Keys the block-begin step reads first.
    pub fn begin_hints(&self) -> Vec<Key> {
        let interval = self.env.genesis.params.market.auction_interval_blocks;
        let mut keys = market::begin_hints(self.env.height, interval);
        if self.env.height == 1 {
            keys.extend(self.env.genesis.accounts.iter().map(|a| bank::keys::account(&a.address)));
            keys.push(bank::keys::native_supply());
        }
        keys
    }

    /// Runs the block-begin step: in block 1, the genesis allocations; in every block, the
    /// market's batch clearing and settlement of due leases. Returns every key it needed and
    /// could not read (nothing changed then): load them all and call again.
    pub fn begin(&mut self, base: &dyn StateRead) -> Result<(), Vec<Key>> {
        if self.env.height == 1 && !self.genesis_done() {
            let accounts: Vec<_> =
                self.env.genesis.accounts.iter().map(|a| (a.address, a.balance)).collect();
            let view = Layered { top: &self.writes, base };
            let mut ctx = Ctx::new(&view, &self.env, Address::module("genesis"));
            match bank::apply_genesis(&mut ctx, &accounts) {
                Ok(()) => {}
                Err(ExecError::Missing(k)) => return Err(vec![k]),
                Err(ExecError::Fail(code)) => panic!("genesis allocation failed: {code}"),
            }
            let (writes, _) = ctx.into_parts();
            self.writes.extend(writes);
        }
        let view = Layered { top: &self.writes, base };
        let collecting = Collecting::new(&view);
        let mut ctx = Ctx::system(&collecting, &self.env, Address::module("market"));
        let result = market::begin_block(&mut ctx);
        let (writes, events) = ctx.into_parts();
        let missed = collecting.missed();
        if !missed.is_empty() {
            return Err(missed);
        }
        // A failing block-level step would be a bug; its effects are dropped, the same way on
        // every node, so the chain goes on.
        if result.is_ok() {
            self.writes.extend(writes);
            self.events.extend(events);
        }
        Ok(())
    }

    /// Whether block 1's genesis allocations are already in this block's writes.
    fn genesis_done(&self) -> bool {
        self.writes.contains_key(&bank::keys::native_supply())
    }

    /// Adds the keys applying `tx` will read.
    pub fn hint(tx: &SignedTransaction, keys: &mut Vec<Key>) {
        let signer = &tx.tx.signer;
        keys.push(bank::keys::account(signer));
        keys.push(bank::keys::account(&bank::fee_pool()));
        for call in &tx.tx.calls {
            match call {
                Call::Bank(c) => Bank::hint(c, signer, keys),
                Call::Identity(c) => Identity::hint(c, signer, keys),
                Call::Data(c) => Data::hint(c, signer, keys),
                Call::Market(c) => Market::hint(c, signer, keys),
            }
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
        let fee = tx.fee(&genesis.params.fees);
        let signer = tx.tx.signer;

        let block_view = Layered { top: &self.writes, base };
        let mut ctx = Ctx::new(&block_view, &self.env, signer);
        match bank::charge(&mut ctx, &signer, tx.tx.nonce, fee) {
            Ok(()) => {}
            Err(ChargeError::Reject(code)) => return Ok(Applied::Rejected(code)),
            Err(ChargeError::Missing(k)) => return Err(Missing(k)),
        }
        let (mut writes, _) = ctx.into_parts();

        let (outcome, events) = {
            let charged_view = Layered { top: &writes, base: &block_view };
            let mut calls_ctx = Ctx::new(&charged_view, &self.env, signer);
            let mut outcome = Outcome::Success;
            for (i, call) in tx.tx.calls.iter().enumerate() {
                calls_ctx.set_origin(&tx_hash, i);
                let result = match call {
                    Call::Bank(c) => Bank::execute(&mut calls_ctx, c),
                    Call::Identity(c) => Identity::execute(&mut calls_ctx, c),
                    Call::Data(c) => Data::execute(&mut calls_ctx, c),
                    Call::Market(c) => Market::execute(&mut calls_ctx, c),
                };
                match result {
                    Ok(()) => {}
                    Err(ExecError::Missing(k)) => return Err(Missing(k)),
                    Err(ExecError::Fail(code)) => {
                        outcome = Outcome::Failed { call: i as u8, code };
                        break;
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
