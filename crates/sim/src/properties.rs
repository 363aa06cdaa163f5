//! Post-run checks over the honest validators.

use crate::{engine::NodeState, model::Model};
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_cryptography::ed25519;
use commonware_glue::simulate::{property::Property, tracker::ProgressTracker};
use machina_app::{
    Genesis,
    exec::keys as chain_keys,
    modules::bank::{keys, state::Account},
    state::decode_value,
};
use machina_types::{Hash, Receipt, block::Block};
use std::{future::Future, pin::Pin, sync::Arc};

/// Honest validators agree on every finalized block up to the lowest common height (at
/// least `min_height`); each one's state is the state its blocks commit to; and the
/// reference model, replaying the blocks, reproduces every receipt, balance and nonce.
#[derive(Clone)]
pub struct AgreementAndAudit {
    /// Honest validators expected to be running at the end.
    pub honest: usize,
    /// Lowest height every honest validator must have reached.
    pub min_height: u64,
    /// The chain's genesis.
    pub genesis: Arc<Genesis>,
}

/// What a property's check returns.
pub(crate) type Check<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

impl Property<ed25519::PublicKey, NodeState> for AgreementAndAudit {
    fn name(&self) -> &str {
        "agreement_and_audit"
    }

    fn check<'a>(
        &'a self,
        _tracker: &'a ProgressTracker<ed25519::PublicKey>,
        states: &'a [&'a NodeState],
    ) -> Check<'a> {
        Box::pin(async move {
            let honest: Vec<_> = states
                .iter()
                .filter_map(|s| match s {
                    NodeState::Honest(h) => Some(h),
                    NodeState::Byzantine => None,
                })
                .collect();
            if honest.len() != self.honest {
                return Err(format!(
                    "{} honest validators running, expected {}",
                    honest.len(),
                    self.honest
                ));
            }
            let mut common = u64::MAX;
            for h in &honest {
                let processed = h.marshal.get_processed().await.map_or(0, |p| p.height().get());
                common = common.min(processed);
            }
            if common < self.min_height {
                return Err(format!("lowest processed height {common} < {}", self.min_height));
            }
            for height in 1..=common {
                let mut digest = None;
                for h in &honest {
                    let block = block_at(&h.marshal, height).await?;
                    let d = block.header.digest();
                    if *digest.get_or_insert(d) != d {
                        return Err(format!("validators disagree at height {height}"));
                    }
                }
            }
            for h in &honest {
                audit(h, &self.genesis).await.map_err(|e| format!("validator {}: {e}", h.index))?;
            }
            Ok(())
        })
    }
}

async fn block_at(marshal: &machina_node::engine::Marshal, height: u64) -> Result<Block, String> {
    marshal
        .get_block(Identifier::Height(Height::new(height)))
        .await
        .map(|b| b.inner().clone())
        .ok_or_else(|| format!("no finalized block at height {height}"))
}

/// Replays a validator's finalized blocks through the model and compares with its state.
async fn audit(h: &crate::engine::Honest, genesis: &Genesis) -> Result<(), String> {
    let databases = h.stateful.subscribe_databases().await;
    let guard = databases.read().await;
    let root = Hash::from(guard.root());
    let Some((applied, _)) = h.chain.block_of_root(&root) else {
        return Err(format!("state root {root} belongs to no recent block"));
    };
    let mut model = Model::new(genesis);
    for height in 1..=applied {
        let block = block_at(&h.marshal, height).await?;
        if block.header.height == applied && block.header.state_root != root {
            return Err(format!("state root differs from block {applied}'s header"));
        }
        let outcomes = model.apply(&block)?;
        for (tx, expected) in block.txs.iter().zip(outcomes) {
            let key = chain_keys::receipt(&tx.hash());
            let bytes = guard.get(&key.digest()).await.map_err(|e| e.to_string())?;
            let receipt: Receipt = decode_value(&key, &bytes.ok_or("missing receipt")?.0);
            if receipt.outcome != expected || receipt.height != height {
                return Err(format!(
                    "receipt {:?} at {}, model says {expected:?}",
                    receipt.outcome, receipt.height
                ));
            }
        }
    }
    model.check_supply()?;
    let txs: usize = model.nonces.values().map(|n| *n as usize).sum();
    eprintln!("validator {}: audited {applied} blocks, {txs} transactions", h.index);
    for (address, balance) in &model.balances {
        let key = keys::account(address);
        let bytes = guard.get(&key.digest()).await.map_err(|e| e.to_string())?;
        let account: Account = bytes.map(|v| decode_value(&key, &v.0)).unwrap_or_default();
        let nonce = model.nonces.get(address).copied().unwrap_or(0);
        if account.balance != *balance || account.nonce != nonce {
            return Err(format!(
                "account {address}: chain has ({}, nonce {}), model ({balance}, nonce {nonce})",
                account.balance, account.nonce
            ));
        }
    }
    Ok(())
}
