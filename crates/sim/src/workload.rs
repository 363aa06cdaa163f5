//! A random transfer workload: each honest validator's workload task signs transfers
//! between a fixed set of funded accounts and submits them through its validator's
//! admission, as the API does. Randomness comes from the runtime, so it replays by seed.

use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_runtime::{Clock, deterministic};
use machina_app::modules::bank::{keys, state::Account};
use machina_node::{ChainInfo, MachinaApp, ingress};
use machina_types::{Address, BankCall, Call, Transaction};
use rand::RngExt;
use std::{sync::Arc, time::Duration};

/// Workload shape.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Time between submissions.
    pub tick: Duration,
    /// Transfers submitted per tick.
    pub txs_per_tick: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Self { tick: Duration::from_millis(50), txs_per_tick: 4 }
    }
}

/// Submits transfers from `senders` (to any of `all`) to the validator's mempool forever.
pub async fn run(
    mut context: deterministic::Context,
    workload: Workload,
    chain: Arc<ChainInfo>,
    stateful: commonware_glue::stateful::Mailbox<deterministic::Context, MachinaApp>,
    senders: Vec<PrivateKey>,
    all: Vec<Address>,
) {
    if senders.is_empty() {
        return;
    }
    let databases = stateful.subscribe_databases().await;
    loop {
        context.sleep(workload.tick).await;
        for _ in 0..workload.txs_per_tick {
            let key = &senders[context.random_range(0..senders.len())];
            let signer = Address::of(&key.public_key());
            let account = {
                let guard = databases.read().await;
                let bytes = guard.get(&keys::account(&signer).digest()).await.expect("read");
                bytes.map_or(Account::default(), |v| {
                    machina_app::state::decode_value::<Account>(&keys::account(&signer), &v.0)
                })
            };
            let nonce = chain.mempool().next_nonce(&signer, account.nonce);
            let to = all[context.random_range(0..all.len())];
            let amount = context.random_range(1..50_000u64);
            let tx = Transaction {
                chain_id: chain.genesis().chain_id.clone(),
                signer,
                nonce,
                fee: 10_000,
                expiry_height: chain.height() + 50,
                calls: vec![Call::Bank(BankCall::Transfer { to, amount })],
            }
            .sign(key);
            let now = context
                .current()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let _ = ingress::admit(&chain, &databases, vec![tx], now, true, &mut context).await;
        }
    }
}
