//! The rewards module's events.

use super::{Epoch, PoolId};
use crate::{Address, Amount, DeviceId, bank::AssetId};
use serde::{Deserialize, Serialize};

/// Something the rewards module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RewardsEvent {
    /// A pool opened and its funding moved to escrow.
    PoolCreated {
        /// The pool.
        pool: PoolId,
        /// Who funded it (and gets back what is left at its close).
        funder: Address,
        /// The asset paid (the native token if absent).
        asset: Option<AssetId>,
        /// Escrowed: `per_epoch * epochs`.
        funded: Amount,
        /// The first height of its epoch 0.
        start: u64,
    },
    /// A device was enrolled in a pool.
    Enrolled {
        /// The pool.
        pool: PoolId,
        /// The device.
        device: DeviceId,
        /// Its counter when enrolled (work before it does not count).
        baseline: u64,
    },
    /// A device's work was credited to an epoch.
    Reported {
        /// The pool.
        pool: PoolId,
        /// The device.
        device: DeviceId,
        /// The epoch credited (the one before the report's).
        epoch: Epoch,
        /// Work credited (the counter's growth since the last report, capped).
        work: u64,
    },
    /// A device's reward for an epoch was paid.
    Paid {
        /// The pool.
        pool: PoolId,
        /// The epoch.
        epoch: Epoch,
        /// The device.
        device: DeviceId,
        /// Who received it (the device's machine treasury if tokenized, else its owner).
        to: Address,
        /// Paid: `per_epoch * work / total_work`, rounded down.
        amount: Amount,
        /// The device's work in the epoch.
        work: u64,
        /// Every device's work in the epoch.
        total_work: u64,
    },
    /// A pool was closed and what was left returned to its funder.
    Closed {
        /// The pool.
        pool: PoolId,
        /// Returned to the funder.
        refunded: Amount,
    },
}

crate::enum_codec!(RewardsEvent {
    0 => PoolCreated { pool: plain, funder: plain, asset: plain, funded: plain, start: plain },
    1 => Enrolled { pool: plain, device: plain, baseline: plain },
    2 => Reported { pool: plain, device: plain, epoch: plain, work: plain },
    3 => Paid {
        pool: plain,
        epoch: plain,
        device: plain,
        to: plain,
        amount: plain,
        work: plain,
        total_work: plain,
    },
    4 => Closed { pool: plain, refunded: plain },
});
