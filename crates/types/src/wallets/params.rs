//! The wallets module's parameters, in the genesis under `params.wallets`.

use serde::{Deserialize, Serialize};

/// Most open proposals a multisig may have under any chain's parameters.
pub const PROPOSALS_OPEN_MAX: u32 = 64;

/// The wallets module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WalletsParams {
    /// Most open proposals one multisig may have (1 to the protocol's 64).
    pub proposals_open_max: u32,
}

impl Default for WalletsParams {
    fn default() -> Self {
        Self { proposals_open_max: 8 }
    }
}

impl WalletsParams {
    /// Checks the parameters; names the first one that is out of bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(1..=PROPOSALS_OPEN_MAX).contains(&self.proposals_open_max) {
            return Err("wallets.proposals_open_max must be 1..=64");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_proposals_are_bounded_at_both_ends_and_default_when_absent() {
        for ok in [1, 2, PROPOSALS_OPEN_MAX - 1, PROPOSALS_OPEN_MAX] {
            assert_eq!(WalletsParams { proposals_open_max: ok }.validate(), Ok(()));
        }
        for bad in [0, PROPOSALS_OPEN_MAX + 1] {
            assert!(WalletsParams { proposals_open_max: bad }.validate().is_err());
        }
        let params: WalletsParams = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(params, WalletsParams::default());
    }
}
