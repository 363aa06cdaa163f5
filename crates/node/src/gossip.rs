//! Transaction gossip between validators.
//!
//! Transactions admitted through this node's API are sent to every peer in batches; batches
//! from peers are decoded (bounded), checked without state, signature-verified in one batch
//! and admitted to the local mempool; transactions that fail are dropped one by one.

use crate::chain::ChainInfo;
use commonware_codec::{Decode, Encode};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Spawner};
use machina_types::{SignedTransaction, limits::TX_SIZE_MAX};
use std::{sync::Arc, time::Duration};

/// Most transactions in one gossip message.
pub const TXS_PER_MESSAGE_MAX: usize = 1024;
/// How often queued transactions are sent.
const FLUSH_INTERVAL: Duration = Duration::from_millis(2);

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
                let now_ms = context
                    .current()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                admit(&chain, bytes, now_ms, &mut context);
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

fn admit(
    chain: &ChainInfo,
    bytes: impl commonware_codec::Buf,
    now_ms: u64,
    rng: &mut impl rand_core::CryptoRng,
) {
    let cfg = (commonware_codec::RangeCfg::new(0..=TXS_PER_MESSAGE_MAX), ());
    let Ok(txs) = Vec::<SignedTransaction>::decode_cfg(bytes, &cfg) else {
        return;
    };
    crate::ingress::admit(chain, txs, now_ms, false, rng);
}
