//! Transactions the gateway signs itself (anchors, feed reports): read the finalized state,
//! pick the next nonce, pay the exact fee, admit to the local mempool (and so to peers).

use super::devices::Runtime;
use crate::{application::Databases, chain::ChainInfo, mempool::TxState};
use commonware_codec::Decode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::{
    modules::{
        bank::{keys as bank_keys, state::Account},
        identity::{
            keys as identity_keys,
            state::{Device, RoleGrant},
        },
    },
    state::{Key, decode_value},
};
use machina_types::{Address, Call, ErrorCode, Hash, Height, Transaction};
use std::sync::Arc;

/// How many blocks a gateway transaction stays valid.
const VALIDITY_BLOCKS: u64 = 100;

/// Signs and submits the gateway's transactions; reads the finalized state.
pub struct Submitter<E: Runtime> {
    context: E,
    chain: Arc<ChainInfo>,
    db: Databases<E>,
    key: PrivateKey,
    /// Serializes submissions, so concurrent callers never pick the same nonce; the
    /// runtime it holds is the randomness of admission's batched signature checks.
    turn: tokio::sync::Mutex<E>,
}

/// A submitted transaction, until it is final.
pub struct InFlight {
    /// Its hash.
    pub tx: Hash,
    /// The last height it may be included at.
    pub expiry: Height,
}

impl<E: Runtime> Submitter<E> {
    /// A submitter signing with `key`, reading the time from `context`.
    pub fn new(context: E, chain: Arc<ChainInfo>, db: Databases<E>, key: PrivateKey) -> Self {
        let turn = tokio::sync::Mutex::new(context.child("admit"));
        Self { context, chain, db, key, turn }
    }

    /// The runtime (its clock, tasks and storage).
    pub fn context(&self) -> &E {
        &self.context
    }

    /// The time now, in milliseconds since the Unix epoch, by the runtime's clock.
    pub fn now_ms(&self) -> u64 {
        now_ms(&self.context)
    }

    /// The chain.
    pub fn chain(&self) -> &ChainInfo {
        &self.chain
    }

    /// Reads a value of the finalized state.
    pub async fn read<T: Decode<Cfg = ()>>(&self, key: &Key) -> Option<T> {
        let guard = self.db.read().await;
        let bytes = guard.get(&key.digest()).await.expect("state read");
        bytes.map(|v| decode_value(key, &v.0))
    }

    /// The account that signs the gateway's transactions.
    pub fn account(&self) -> Address {
        Address::of(&self.key.public_key())
    }

    /// The grant of `role` to `account` on `device` if it holds at the finalized height, as
    /// the identity module decides it ([`RoleGrant::holds`]).
    pub async fn grant(&self, device: &Device, account: &Address, role: &str) -> Option<RoleGrant> {
        let grant: Option<RoleGrant> =
            self.read(&identity_keys::role(&device.id, account, role)).await;
        grant.filter(|g| g.holds(device, self.chain.height()))
    }

    /// Whether `account` holds `role` on `device` at the finalized height (owners hold every
    /// role).
    pub async fn has_role(&self, device: &Device, account: &Address, role: &str) -> bool {
        let grant: Option<RoleGrant> =
            self.read(&identity_keys::role(&device.id, account, role)).await;
        device.role_held_by(account, grant.as_ref(), self.chain.height())
    }

    /// Whether `flight` is still waiting: in the mempool and not expired. A finalized
    /// transaction has left the mempool (and its effect is in the state); so has a dropped one.
    pub fn pending(&self, flight: &InFlight) -> bool {
        self.chain.mempool().state(&flight.tx) == Some(TxState::Pending)
            && self.chain.height() <= flight.expiry
    }

    /// Signs `calls` with the next nonce and the exact fee and admits the transaction.
    pub async fn submit(&self, calls: Vec<Call>) -> Result<InFlight, ErrorCode> {
        let mut rng = self.turn.lock().await;
        let signer = self.account();
        let account: Account = self.read(&bank_keys::account(&signer)).await.unwrap_or_default();
        let nonce = self.chain.mempool().next_nonce(&signer, account.nonce);
        let genesis = self.chain.genesis();
        let expiry = self.chain.height() + VALIDITY_BLOCKS;
        let tx = Transaction {
            chain_id: genesis.chain_id.clone(),
            signer,
            nonce,
            fee: 0,
            expiry_height: expiry,
            calls,
        }
        .sign_paying_fee(&self.key, &genesis.params.fees);
        let now = self.now_ms();
        let hash = crate::ingress::admit(&self.chain, &self.db, vec![tx], now, true, &mut *rng)
            .await
            .remove(0)?;
        Ok(InFlight { tx: hash, expiry })
    }
}

/// The time now, in milliseconds since the Unix epoch, by `clock`.
pub fn now_ms(clock: &impl commonware_runtime::Clock) -> u64 {
    clock.current().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
