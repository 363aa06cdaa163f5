//! Transaction gossip between validators.
//!
//! Transactions admitted through this node's API are sent to every peer in batches; batches
//! from peers are decoded (bounded), checked without state, signature-verified in one batch
//! and admitted to the local mempool. A peer that sends undecodable or badly signed
//! transactions is not trusted further with the batch: the whole batch is dropped.

use crate::chain::ChainInfo;
use commonware_codec::{Decode, Encode};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Spawner};
use machina_types::{SignedTransaction, limits::TX_SIZE_MAX, tx::CheckParams};
use std::{sync::Arc, time::Duration};

/// Most transactions in one gossip message.
pub const TXS_PER_MESSAGE_MAX: usize = 1024;
/// How often queued transactions are sent.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// Largest gossip message.
pub fn max_message_size() -> usize {
    5 + TXS_PER_MESSAGE_MAX * TX_SIZE_MAX
}

/// Starts the gossip task.
pub fn start<E, S, R>(context: E, chain: Arc<ChainInfo>, (sender, receiver): (S, R)) -> Handle<()>
where
    E: Spawner + Clock + rand_core::CryptoRng,
    S: Sender,
    R: Receiver,
{
    context.spawn(move |context| run(context, chain, sender, receiver))
}

async fn run<E, S, R>(mut context: E, chain: Arc<ChainInfo>, mut sender: S, mut receiver: R)
where
    E: Spawner + Clock + rand_core::CryptoRng,
    S: Sender,
    R: Receiver,
{
    loop {
        commonware_macros::select! {
            _ = context.sleep(FLUSH_INTERVAL) => {
                flush(&chain, &mut sender);
            },
            message = receiver.recv() => {
                let Ok((_, bytes)) = message else { return };
                admit(&chain, bytes, &mut context);
            },
        }
    }
}

fn flush<S: Sender>(chain: &ChainInfo, sender: &mut S) {
    let pending = chain.mempool().take_outbox();
    for batch in pending.chunks(TXS_PER_MESSAGE_MAX) {
        let txs: Vec<SignedTransaction> = batch.iter().map(|p| p.tx.clone()).collect();
        sender.send(Recipients::All, txs.encode(), false);
    }
}

fn admit(chain: &ChainInfo, bytes: impl commonware_codec::Buf, rng: &mut impl rand_core::CryptoRng) {
    let cfg = (commonware_codec::RangeCfg::new(0..=TXS_PER_MESSAGE_MAX), ());
    let Ok(txs) = Vec::<SignedTransaction>::decode_cfg(bytes, &cfg) else { return };
    let genesis = chain.genesis();
    let params = CheckParams {
        chain_id: &genesis.chain_id,
        height: chain.height() + 1,
        fees: genesis.params.fees,
    };
    let mempool = chain.mempool();
    let fresh: Vec<(SignedTransaction, machina_types::Hash)> = txs
        .into_iter()
        .map(|tx| {
            let hash = tx.hash();
            (tx, hash)
        })
        .filter(|(tx, hash)| !mempool.contains(hash) && tx.check_envelope(&params).is_ok())
        .collect();
    let (txs, hashes): (Vec<_>, Vec<_>) = fresh.into_iter().unzip();
    if !crate::execute::verify_signatures(&txs, &hashes, |_| false, rng) {
        return;
    }
    for (tx, hash) in txs.into_iter().zip(hashes) {
        let _ = mempool.insert(tx, hash, None, 0, false);
    }
}
