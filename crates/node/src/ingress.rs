//! Admission of transactions that arrive in bulk (from peers, or from a load generator):
//! stateless checks, one batched signature verification, then the mempool.

use crate::chain::ChainInfo;
use machina_types::{ErrorCode, Hash, SignedTransaction, tx::CheckParams};

/// Admits `txs` received at `now_ms`; `local` marks them for gossip to peers. Returns each
/// transaction's hash or refusal, in order.
pub fn admit(
    chain: &ChainInfo,
    txs: Vec<SignedTransaction>,
    now_ms: u64,
    local: bool,
    rng: &mut impl rand_core::CryptoRng,
) -> Vec<Result<Hash, ErrorCode>> {
    let genesis = chain.genesis();
    let params = CheckParams {
        chain_id: &genesis.chain_id,
        height: chain.height() + 1,
        fees: genesis.params.fees,
    };
    let mempool = chain.mempool();
    let checked: Vec<(SignedTransaction, Hash, Result<(), ErrorCode>)> = txs
        .into_iter()
        .map(|tx| {
            let hash = tx.hash();
            let verdict = if mempool.contains(&hash) {
                Err(ErrorCode::Duplicate)
            } else {
                tx.check_envelope(&params)
            };
            (tx, hash, verdict)
        })
        .collect();
    let (candidates, hashes): (Vec<_>, Vec<_>) = checked
        .iter()
        .filter(|(_, _, v)| v.is_ok())
        .map(|(tx, hash, _)| (tx.clone(), *hash))
        .unzip();
    let all_valid = crate::execute::verify_signatures(&candidates, &hashes, |_| false, rng);
    checked
        .into_iter()
        .map(|(tx, hash, verdict)| {
            verdict?;
            if !all_valid && !tx.verify_signature() {
                return Err(tx.signature_refusal());
            }
            mempool.insert(tx, hash, chain.height(), None, now_ms, local).map(|()| hash)
        })
        .inspect(|result| {
            if let Err(code) = result {
                chain.count_refusal(*code);
            }
        })
        .collect()
}
