//! Genesis: the chain's identity, its validators, the first balances and the parameters.

use commonware_cryptography::ed25519;
use machina_types::{Address, Amount, Hash, limits::CHAIN_ID_LEN_MAX, tx::FeeSchedule};
use serde::{Deserialize, Serialize};

/// Chain parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The fee rule.
    pub fees: FeeSchedule,
    /// Target time between blocks, in milliseconds.
    pub block_interval_ms: u64,
    /// Most transactions a block may hold.
    pub max_block_txs: u32,
    /// Smallest bond a maker must lock to register.
    #[serde(default = "default_min_maker_bond")]
    pub min_maker_bond: Amount,
    /// Deposit a feed's creator locks until the feed is closed (prices feed spam).
    #[serde(default = "default_feed_deposit")]
    pub feed_deposit: Amount,
    /// The market's rules.
    #[serde(default)]
    pub market: MarketParams,
}

/// The market module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MarketParams {
    /// Blocks per auction batch: markets clear at every multiple of this height.
    pub auction_interval_blocks: u64,
    /// Protocol fee on a delivered lease, in basis points (at most 300: providers keep at
    /// least 97%).
    pub protocol_fee_bps: u16,
    /// Share of a timed-out lease's value taken from the provider's stake, in basis points.
    pub slash_bps: u16,
    /// Provider stake an account needs to offer.
    pub min_provider_stake: Amount,
    /// Solver stake an account needs to submit solutions.
    pub min_solver_stake: Amount,
    /// Blocks between unbonding and withdrawing stake.
    pub unbonding_blocks: u64,
    /// How long a consumer may dispute a claimed delivery (ms).
    pub dispute_window_ms: u64,
    /// Share of the surplus a winning solution adds that its solver earns, in basis points.
    pub solver_reward_bps: u16,
    /// Deposit locked with every open order (intent or offer), returned when it closes: the
    /// price of a slot in a book.
    pub order_deposit: Amount,
}

impl Default for MarketParams {
    fn default() -> Self {
        Self {
            auction_interval_blocks: 10,
            protocol_fee_bps: 100,
            slash_bps: 5_000,
            min_provider_stake: 1_000_000,
            min_solver_stake: 1_000_000,
            unbonding_blocks: 600,
            dispute_window_ms: 30_000,
            solver_reward_bps: 2_000,
            order_deposit: 10_000,
        }
    }
}

fn default_min_maker_bond() -> Amount {
    1_000_000_000
}

fn default_feed_deposit() -> Amount {
    1_000_000
}

impl Default for Params {
    fn default() -> Self {
        Self {
            fees: FeeSchedule::default(),
            block_interval_ms: 100,
            max_block_txs: 8192,
            min_maker_bond: default_min_maker_bond(),
            feed_deposit: default_feed_deposit(),
            market: MarketParams::default(),
        }
    }
}

/// A funded account at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// Address.
    pub address: Address,
    /// Native balance.
    pub balance: Amount,
}

/// The genesis document every node of a chain shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
            || self.validators.len() > machina_types::limits::VALIDATORS_MAX
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
        let max_txs = machina_types::limits::TXS_PER_BLOCK_MAX as u32;
        if self.params.max_block_txs == 0 || self.params.max_block_txs > max_txs {
            return Err(GenesisError::Param("max_block_txs must be 1..=16384"));
        }
        let market = &self.params.market;
        if market.auction_interval_blocks == 0 {
            return Err(GenesisError::Param("market.auction_interval_blocks must be positive"));
        }
        if market.protocol_fee_bps > 300 {
            return Err(GenesisError::Param("market.protocol_fee_bps must be at most 300"));
        }
        if market.slash_bps > 10_000 || market.solver_reward_bps > 10_000 {
            return Err(GenesisError::Param("market basis points must be at most 10000"));
        }
        const DAY_MS: u64 = 24 * 3600 * 1000;
        if market.dispute_window_ms > 30 * DAY_MS || market.unbonding_blocks > 1 << 40 {
            return Err(GenesisError::Param(
                "market.dispute_window_ms must be at most 30 days, unbonding_blocks at most 2^40",
            ));
        }
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
