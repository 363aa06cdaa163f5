//! The rewards module's parameters, in the genesis under `params.rewards`.

use crate::limits::{REWARD_DEVICES_MAX, REWARD_EPOCH_BLOCKS_MAX, REWARD_EPOCHS_MAX};
use serde::{Deserialize, Serialize};

/// The rewards module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RewardsParams {
    /// Most epochs a pool may pay for (at most the protocol's 10,000).
    pub epochs_max: u32,
    /// Most blocks in a pool's epoch (at most the protocol's 1,000,000).
    pub epoch_blocks_max: u64,
    /// Most devices one pool may enroll (at most the protocol's 10,000).
    pub devices_per_pool_max: u32,
    /// Epochs rewards may still be claimed after the last epoch's reporting closed and one
    /// more epoch passed; then the pool may be closed and what is left returned.
    pub claim_window_epochs: u32,
}

impl Default for RewardsParams {
    fn default() -> Self {
        Self {
            epochs_max: REWARD_EPOCHS_MAX,
            epoch_blocks_max: REWARD_EPOCH_BLOCKS_MAX,
            devices_per_pool_max: REWARD_DEVICES_MAX,
            claim_window_epochs: 10,
        }
    }
}

impl RewardsParams {
    /// Checks the parameters; names the first one that is out of bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(1..=REWARD_EPOCHS_MAX).contains(&self.epochs_max) {
            return Err("rewards.epochs_max must be 1..=10000");
        }
        if !(1..=REWARD_EPOCH_BLOCKS_MAX).contains(&self.epoch_blocks_max) {
            return Err("rewards.epoch_blocks_max must be 1..=1000000");
        }
        if !(1..=REWARD_DEVICES_MAX).contains(&self.devices_per_pool_max) {
            return Err("rewards.devices_per_pool_max must be 1..=10000");
        }
        if self.claim_window_epochs > REWARD_EPOCHS_MAX {
            return Err("rewards.claim_window_epochs must be at most 10000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_protocol_limits_and_each_bound_is_checked() {
        let ok = RewardsParams::default();
        assert_eq!(ok.validate(), Ok(()));
        let max = RewardsParams { claim_window_epochs: REWARD_EPOCHS_MAX, ..ok.clone() };
        assert_eq!(max.validate(), Ok(()));
        let low = RewardsParams {
            epochs_max: 1,
            epoch_blocks_max: 1,
            devices_per_pool_max: 1,
            claim_window_epochs: 0,
        };
        assert_eq!(low.validate(), Ok(()));
        for bad in [
            RewardsParams { epochs_max: 0, ..ok.clone() },
            RewardsParams { epochs_max: REWARD_EPOCHS_MAX + 1, ..ok.clone() },
            RewardsParams { epoch_blocks_max: 0, ..ok.clone() },
            RewardsParams { epoch_blocks_max: REWARD_EPOCH_BLOCKS_MAX + 1, ..ok.clone() },
            RewardsParams { devices_per_pool_max: 0, ..ok.clone() },
            RewardsParams { devices_per_pool_max: REWARD_DEVICES_MAX + 1, ..ok.clone() },
            RewardsParams { claim_window_epochs: REWARD_EPOCHS_MAX + 1, ..ok.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_genesis_without_rewards_parameters_takes_the_defaults() {
        let json = serde_json::json!({"epochs_max": 5});
        let params: RewardsParams = serde_json::from_value(json).unwrap();
        assert_eq!(params, RewardsParams { epochs_max: 5, ..RewardsParams::default() });
    }
}
