//! The data module's parameters, in the genesis under `params.data`.

use crate::Amount;
use serde::{Deserialize, Serialize};

/// The data module's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DataParams {
    /// Deposit a feed's creator locks until the feed is closed (prices feed spam).
    pub feed_deposit: Amount,
}

impl Default for DataParams {
    fn default() -> Self {
        Self { feed_deposit: 1_000_000 }
    }
}
