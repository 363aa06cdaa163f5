//! An independent reference model of the bank's transfer rules.
//!
//! It does not share code with the state machine: it re-derives fees from the fee schedule,
//! enforces nonces, and applies transfers with the same all-or-nothing rule, from the
//! genesis document alone. Replaying the finalized blocks through it must reproduce every
//! receipt outcome and every balance the chain reports; any difference is a bug in one of
//! the two.

use commonware_codec::EncodeSize;
use machina_app::{Genesis, modules::bank::fee_pool};
use machina_types::{Address, BankCall, Call, ErrorCode, Outcome, block::Block, tx::FeeSchedule};
use std::collections::BTreeMap;

/// The model's state.
#[derive(Clone, Debug)]
pub struct Model {
    chain_id: String,
    fees: FeeSchedule,
    /// Native balances.
    pub balances: BTreeMap<Address, u64>,
    /// Next nonces.
    pub nonces: BTreeMap<Address, u64>,
    supply: u64,
}

impl Model {
    /// The state right after genesis allocations.
    pub fn new(genesis: &Genesis) -> Self {
        let balances = genesis.accounts.iter().map(|a| (a.address, a.balance)).collect();
        Self {
            chain_id: genesis.chain_id.clone(),
            fees: genesis.params.fees,
            balances,
            nonces: BTreeMap::new(),
            supply: genesis.total_supply(),
        }
    }

    fn balance(&self, a: &Address) -> u64 {
        self.balances.get(a).copied().unwrap_or(0)
    }

    /// Applies a finalized block; returns each transaction's expected outcome, or why the
    /// block should never have been finalized.
    pub fn apply(&mut self, block: &Block) -> Result<Vec<Outcome>, String> {
        let height = block.header.height;
        let mut outcomes = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            let t = &tx.tx;
            if t.chain_id != self.chain_id || t.expiry_height < height {
                return Err(format!("height {height}: includable check failed for {}", tx.hash()));
            }
            let nonce = self.nonces.get(&t.signer).copied().unwrap_or(0);
            if t.nonce != nonce {
                return Err(format!("height {height}: nonce {} expected {nonce}", t.nonce));
            }
            let required = self.fees.base
                + self.fees.per_call * t.calls.len() as u64
                + self.fees.per_byte * tx.encode_size() as u64;
            let fee = t.fee;
            if fee < required || self.balance(&t.signer) < fee {
                return Err(format!("height {height}: fee {fee} not payable"));
            }
            *self.balances.entry(t.signer).or_default() -= fee;
            *self.balances.entry(fee_pool()).or_default() += fee;
            self.nonces.insert(t.signer, nonce + 1);
            outcomes.push(self.transfers(&t.signer, &t.calls)?);
        }
        Ok(outcomes)
    }

    fn transfers(&mut self, signer: &Address, calls: &[Call]) -> Result<Outcome, String> {
        let mut scratch = self.balances.clone();
        for (i, call) in calls.iter().enumerate() {
            let Call::Bank(BankCall::Transfer { to, amount }) = call else {
                return Err(format!("the model only knows transfers, got {call:?}"));
            };
            let from = scratch.get(signer).copied().unwrap_or(0);
            if from < *amount {
                return Ok(Outcome::Failed { call: i as u8, code: ErrorCode::InsufficientFunds });
            }
            *scratch.entry(*signer).or_default() -= amount;
            *scratch.entry(*to).or_default() += amount;
        }
        self.balances = scratch;
        Ok(Outcome::Success)
    }

    /// Checks that balances add up to the supply.
    pub fn check_supply(&self) -> Result<(), String> {
        let total: u64 = self.balances.values().sum();
        if total == self.supply {
            Ok(())
        } else {
            Err(format!("model supply {total} != genesis supply {}", self.supply))
        }
    }
}
