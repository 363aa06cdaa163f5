//! The ownership module's parameters, in the genesis under `params.ownership`.

use super::Governance;
use serde::{Deserialize, Serialize};

/// The ownership module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct OwnershipParams {
    /// The governance rules of a machine tokenized without its own.
    pub governance: Governance,
}

impl Default for OwnershipParams {
    fn default() -> Self {
        Self {
            governance: Governance {
                threshold_bps: 100,
                deposit: 10_000,
                quorum_bps: 2_000,
                approval_bps: 5_001,
                voting_blocks: 100,
                timelock_blocks: 20,
                execution_blocks: 1_000,
            },
        }
    }
}

impl OwnershipParams {
    /// Checks the parameters; names the first one that is out of bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !self.governance.valid() {
            return Err(
                "ownership.governance: threshold and quorum at most 10000 bps (quorum positive), \
                 approval 5001-10000 bps, voting and execution 1-1000000 blocks, timelock at \
                 most 1000000",
            );
        }
        Ok(())
    }
}
