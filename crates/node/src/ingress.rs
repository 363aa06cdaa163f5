//! Admission: the one path every transaction takes into the mempool, whatever its source
//! (the API, peers' gossip, the gateway, a load generator).
//!
//! In order: duplicates and the stateless checks (chain, expiry, calls through each
//! module's [`machina_types::ModuleCall::check`], fee); one batched signature verification;
//! each sender's account and wallet policy in the latest finalized state, read once per
//! batch (a frozen sender, or one whose policy expired, is refused); then the
//! mempool's per-sender accounting against that account (nonce window, fees plus native
//! spend of every pending transaction within the balance, limits). Every refusal is counted
//! by code.

use crate::{application::Databases, chain::ChainInfo, mempool::AccountView};
use commonware_runtime::{Clock, Metrics, Storage};
use machina_app::{
    modules::{bank, wallets},
    state::decode_value,
};
use machina_types::{Address, ErrorCode, Hash, SignedTransaction, tx::CheckParams};
use std::collections::BTreeMap;

/// Admits `txs` received at `now_ms`; `local` marks them for gossip to peers. Returns each
/// transaction's hash or refusal, in order.
pub async fn admit<E>(
    chain: &ChainInfo,
    db: &Databases<E>,
    txs: Vec<SignedTransaction>,
    now_ms: u64,
    local: bool,
    rng: &mut impl rand_core::CryptoRng,
) -> Vec<Result<Hash, ErrorCode>>
where
    E: Storage + Clock + Metrics + commonware_storage::Context,
{
    let checked = check(chain, txs, rng);
    let senders: Vec<Address> = checked.iter().flatten().map(|(tx, _)| tx.tx.signer).collect();
    let accounts = read_accounts(db, senders, now_ms).await;
    let mempool = chain.mempool();
    checked
        .into_iter()
        .map(|checked| {
            let (tx, hash) = checked?;
            let account = match &accounts {
                Ok(accounts) => accounts.get(&tx.tx.signer).copied(),
                Err(code) => return Err(*code),
            };
            let account = match account {
                Some(Err(code)) => return Err(code),
                Some(Ok(view)) => Some(view),
                None => None,
            };
            mempool.insert(tx, hash, chain.height(), account, now_ms, local).map(|()| hash)
        })
        .inspect(|result| match result {
            Ok(_) => chain.count_admitted(local),
            Err(code) => chain.count_refusal(*code),
        })
        .collect()
}

/// The stateless part: duplicates, checks, then one batched signature verification.
fn check(
    chain: &ChainInfo,
    txs: Vec<SignedTransaction>,
    rng: &mut impl rand_core::CryptoRng,
) -> Vec<Result<(SignedTransaction, Hash), ErrorCode>> {
    let genesis = chain.genesis();
    let params = CheckParams {
        chain_id: &genesis.chain_id,
        height: chain.height() + 1,
        fees: genesis.params.fees,
    };
    let mempool = chain.mempool();
    let checked: Vec<Result<(SignedTransaction, Hash), ErrorCode>> = txs
        .into_iter()
        .map(|tx| {
            let hash = tx.hash();
            if mempool.contains(&hash) {
                return Err(ErrorCode::Duplicate);
            }
            tx.check_envelope(&params)?;
            Ok((tx, hash))
        })
        .collect();
    let (candidates, hashes): (Vec<_>, Vec<_>) =
        checked.iter().flatten().map(|(tx, hash)| (tx.clone(), *hash)).unzip();
    let all_valid = crate::execute::verify_signatures(&candidates, &hashes, |_| false, rng);
    checked
        .into_iter()
        .map(|checked| {
            let (tx, hash) = checked?;
            if !all_valid && !tx.verify_signature() {
                return Err(tx.signature_refusal());
            }
            Ok((tx, hash))
        })
        .collect()
}

/// Each sender's nonce and balance in the latest finalized state (an absent account is
/// empty), or the refusal its wallet policy gives at `now_ms` (frozen, expired), read under
/// one read lock. `unavailable` if the state cannot be read.
async fn read_accounts<E>(
    db: &Databases<E>,
    mut senders: Vec<Address>,
    now_ms: u64,
) -> Result<BTreeMap<Address, Result<AccountView, ErrorCode>>, ErrorCode>
where
    E: Storage + Clock + Metrics + commonware_storage::Context,
{
    senders.sort_unstable();
    senders.dedup();
    let guard = db.read().await;
    let mut accounts = BTreeMap::new();
    for sender in senders {
        let key = bank::keys::account(&sender);
        let value = guard.get(&key.digest()).await.map_err(|_| ErrorCode::Unavailable)?;
        let account: bank::state::Account =
            value.map(|v| decode_value(&key, &v.0)).unwrap_or_default();
        let key = wallets::keys::policy(&sender);
        let value = guard.get(&key.digest()).await.map_err(|_| ErrorCode::Unavailable)?;
        let policy: Option<wallets::state::Guarded> = value.map(|v| decode_value(&key, &v.0));
        let view = AccountView { nonce: account.nonce, balance: account.balance };
        let admitted = wallets::enforce::admits(policy.as_ref(), now_ms).map(|()| view);
        accounts.insert(sender, admitted);
    }
    Ok(accounts)
}
