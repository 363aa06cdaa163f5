//! The market module's parameters, in the genesis under `params.market`.

use crate::Amount;
use serde::{Deserialize, Serialize};

/// The market module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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

impl MarketParams {
    /// Checks the parameters can run a market; names the first one that cannot.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.auction_interval_blocks == 0 {
            return Err("market.auction_interval_blocks must be positive");
        }
        if self.protocol_fee_bps > 300 {
            return Err("market.protocol_fee_bps must be at most 300");
        }
        if self.slash_bps > 10_000 || self.solver_reward_bps > 10_000 {
            return Err("market basis points must be at most 10000");
        }
        const DAY_MS: u64 = 24 * 3600 * 1000;
        if self.dispute_window_ms > 30 * DAY_MS || self.unbonding_blocks > 1 << 40 {
            return Err(
                "market.dispute_window_ms must be at most 30 days, unbonding_blocks at most 2^40",
            );
        }
        Ok(())
    }
}
