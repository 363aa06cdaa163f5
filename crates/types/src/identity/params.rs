//! The identity module's parameters, in the genesis under `params.identity`.

use crate::Amount;
use serde::{Deserialize, Serialize};

/// The identity module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IdentityParams {
    /// Smallest bond a maker must lock to register.
    pub min_maker_bond: Amount,
}

impl Default for IdentityParams {
    fn default() -> Self {
        Self { min_maker_bond: 1_000_000_000 }
    }
}
