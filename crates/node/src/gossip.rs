//! Transaction gossip between validators.
//!
//! Transactions admitted through this node's API are sent to every peer in batches; batches
//! from peers are decoded (bounded) and go through the same admission as the API's
//! ([`crate::ingress::admit`]); transactions that fail are dropped one by one.

use crate::{application::Databases, chain::ChainInfo};
use commonware_codec::{Decode, Encode};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
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

/// Starts the gossip task; it admits peers' transactions against the state in `db`, once
/// the state is available.
pub fn start<E, S, R>(
    context: E,
    chain: Arc<ChainInfo>,
    db: impl Future<Output = Databases<E>> + Send + 'static,
    (sender, receiver): (S, R),
) -> Handle<()>
where
    E: Spawner + Clock + Storage + Metrics + commonware_storage::Context + rand_core::CryptoRng,
    S: Sender,
    R: Receiver,
{
    context.spawn(move |context| async move {
        let db = db.await;
        run(context, chain, db, sender, receiver).await
    })
}

async fn run<E, S, R>(
    mut context: E,
    chain: Arc<ChainInfo>,
    db: Databases<E>,
    mut sender: S,
    mut receiver: R,
) where
    E: Spawner + Clock + Storage + Metrics + commonware_storage::Context + rand_core::CryptoRng,
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
                admit(&chain, &db, bytes, now_ms, &mut context).await;
            },
        }
    }
}

fn flush<S: Sender>(chain: &ChainInfo, sender: &mut S) {
    let pending = chain.mempool().take_outbox();
    for batch in pending.chunks(TXS_PER_MESSAGE_MAX) {
        chain.count_gossip_sent(batch.len());
        let txs: Vec<SignedTransaction> = batch.iter().map(|p| p.tx.clone()).collect();
        sender.send(Recipients::All, txs.encode(), false);
    }
}

/// Takes a peer's gossip message: at most [`TXS_PER_MESSAGE_MAX`] transactions, each through
/// the one admission ([`crate::ingress::admit`], as a peer's) against the finalized state.
/// Returns each transaction's outcome, or `None` (counted as a `malformed` refusal) if the
/// message does not decode.
pub async fn admit<E>(
    chain: &ChainInfo,
    db: &Databases<E>,
    bytes: impl commonware_codec::Buf,
    now_ms: u64,
    rng: &mut impl rand_core::CryptoRng,
) -> Option<Vec<Result<machina_types::Hash, machina_types::ErrorCode>>>
where
    E: Storage + Clock + Metrics + commonware_storage::Context,
{
    let cfg = (commonware_codec::RangeCfg::new(0..=TXS_PER_MESSAGE_MAX), ());
    let Ok(txs) = Vec::<SignedTransaction>::decode_cfg(bytes, &cfg) else {
        chain.count_refusal(machina_types::ErrorCode::Malformed);
        return None;
    };
    chain.count_gossip_received(txs.len());
    Some(crate::ingress::admit(chain, db, txs, now_ms, false, rng).await)
}
