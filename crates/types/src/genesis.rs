//! Genesis: the chain's identity, its validators, the first balances and the parameters.

use crate::{Address, Amount, Hash, limits::CHAIN_ID_LEN_MAX, tx::FeeSchedule};
pub use crate::{
    data::params::DataParams, identity::params::IdentityParams, market::params::MarketParams,
    ownership::params::OwnershipParams, rewards::params::RewardsParams,
    wallets::params::WalletsParams,
};
use commonware_cryptography::ed25519;
use serde::{Deserialize, Serialize};

/// Chain parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Params {
    /// The fee rule.
    pub fees: FeeSchedule,
    /// Target time between blocks, in milliseconds.
    pub block_interval_ms: u64,
    /// Most transactions a block may hold.
    pub max_block_txs: u32,
    /// The identity module's rules.
    #[serde(default)]
    pub identity: IdentityParams,
    /// The data module's rules.
    #[serde(default)]
    pub data: DataParams,
    /// The market's rules.
    #[serde(default)]
    pub market: MarketParams,
    /// The ownership module's rules.
    #[serde(default)]
    pub ownership: OwnershipParams,
    /// The rewards module's rules.
    #[serde(default)]
    pub rewards: RewardsParams,
    /// The wallets module's rules.
    #[serde(default)]
    pub wallets: WalletsParams,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            fees: FeeSchedule::default(),
            block_interval_ms: 100,
            max_block_txs: 8192,
            identity: IdentityParams::default(),
            data: DataParams::default(),
            market: MarketParams::default(),
            ownership: OwnershipParams::default(),
            rewards: RewardsParams::default(),
            wallets: WalletsParams::default(),
        }
    }
}

/// A funded account at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct GenesisAccount {
    /// Address.
    pub address: Address,
    /// Native balance.
    pub balance: Amount,
}

/// The genesis document every node of a chain shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Genesis {
    /// The chain id transactions must name.
    pub chain_id: String,
    /// Timestamp of the genesis block, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Validator public keys (as addresses).
    pub validators: Vec<Address>,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Parameters.
    pub params: Params,
}

/// A genesis document that cannot start a chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The chain id is empty or too long.
    #[error("chain id must be 1-{CHAIN_ID_LEN_MAX} bytes")]
    ChainId,
    /// No validators or too many, or a key that is not a strong ed25519 key, or a duplicate.
    #[error("validators must be 1-128 distinct, strong ed25519 public keys")]
    Validators,
    /// An account is listed twice.
    #[error("account {0} is listed twice")]
    DuplicateAccount(Address),
    /// Balances overflow the supply type.
    #[error("total supply overflows")]
    SupplyOverflow,
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(&'static str),
}

impl Genesis {
    /// The genesis hash: SHA-256 of the document's canonical JSON. The genesis block commits
    /// to it, so nodes with different genesis documents can never agree on a block.
    pub fn hash(&self) -> Hash {
        Hash::of(&[&serde_json::to_vec(self).expect("genesis serializes")])
    }

    /// Checks that the document can start a chain.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.is_empty() || self.chain_id.len() > CHAIN_ID_LEN_MAX {
            return Err(GenesisError::ChainId);
        }
        let mut validators = std::collections::BTreeSet::new();
        if self.validators.is_empty()
            || self.validators.len() > crate::limits::VALIDATORS_MAX
            || !self.validators.iter().all(|v| v.public_key().is_some() && validators.insert(*v))
        {
            return Err(GenesisError::Validators);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut total: Amount = 0;
        for account in &self.accounts {
            if !seen.insert(account.address) {
                return Err(GenesisError::DuplicateAccount(account.address));
            }
            total = total.checked_add(account.balance).ok_or(GenesisError::SupplyOverflow)?;
        }
        if self.params.block_interval_ms == 0 || self.params.block_interval_ms > 60_000 {
            return Err(GenesisError::Param("block_interval_ms must be 1..=60000"));
        }
        let max_txs = crate::limits::TXS_PER_BLOCK_MAX as u32;
        if self.params.max_block_txs == 0 || self.params.max_block_txs > max_txs {
            return Err(GenesisError::Param("max_block_txs must be 1..=16384"));
        }
        self.params.market.validate().map_err(GenesisError::Param)?;
        self.params.ownership.validate().map_err(GenesisError::Param)?;
        self.params.rewards.validate().map_err(GenesisError::Param)?;
        self.params.wallets.validate().map_err(GenesisError::Param)?;
        Ok(())
    }

    /// Total native supply.
    pub fn total_supply(&self) -> Amount {
        self.accounts.iter().map(|a| a.balance).sum()
    }

    /// The namespace consensus signs under: votes of one chain never count on another.
    pub fn consensus_namespace(&self) -> Vec<u8> {
        format!("machina/{}/consensus", self.chain_id).into_bytes()
    }

    /// The validator set in the order consensus uses (sorted by key).
    ///
    /// # Panics
    ///
    /// If the genesis does not [`validate`](Self::validate).
    pub fn validator_set(&self) -> commonware_utils::ordered::Set<ed25519::PublicKey> {
        let keys: Vec<_> =
            self.validators.iter().map(|v| v.public_key().expect("validated genesis")).collect();
        commonware_utils::ordered::Set::try_from(keys)
            .expect("validated genesis has distinct validators")
    }
}
