//! The rewards module's stored values.

use super::{Epoch, PoolId, Work};
use crate::{Address, Amount, DeviceId, bank::AssetId, data::Eligibility};
use serde::{Deserialize, Serialize};

/// A reward pool: its rule (what it pays, for which work, to which devices, when) and its
/// accounts. What a device is paid for an epoch follows from this, the epoch's
/// [`EpochTotal`] and the device's [`DeviceWork`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Pool {
    /// Its id.
    pub id: PoolId,
    /// Who funded it (and gets back what is left at its close).
    pub funder: Address,
    /// The asset paid (the native token if absent).
    pub asset: Option<AssetId>,
    /// Paid per epoch, split pro rata to work.
    pub per_epoch: Amount,
    /// Epochs paid for.
    pub epochs: u32,
    /// Blocks per epoch.
    pub epoch_blocks: u64,
    /// The first height of epoch 0.
    pub start: u64,
    /// The first height at which claims are closed (and the pool may be closed).
    pub claim_until: u64,
    /// What counts as work.
    pub work: Work,
    /// Which devices may enroll.
    pub eligibility: Eligibility,
    /// Lowest market reputation (percent) to enroll and report.
    pub min_reputation: u8,
    /// Most work credited to one device for one epoch.
    pub max_work_per_epoch: u64,
    /// Devices enrolled.
    pub enrolled: u32,
    /// Escrowed at creation: `per_epoch * epochs`.
    pub funded: Amount,
    /// Paid to devices so far.
    pub paid: Amount,
    /// Returned to the funder at the close.
    pub refunded: Amount,
    /// Whether the pool was closed.
    pub closed: bool,
}

crate::struct_codec!(Pool {
    id: plain,
    funder: plain,
    asset: plain,
    per_epoch: plain,
    epochs: plain,
    epoch_blocks: plain,
    start: plain,
    claim_until: plain,
    work: plain,
    eligibility: plain,
    min_reputation: plain,
    max_work_per_epoch: plain,
    enrolled: plain,
    funded: plain,
    paid: plain,
    refunded: plain,
    closed: plain,
});

impl Pool {
    /// The epoch block `height` lies in (`None` before epoch 0 starts). Epochs past the
    /// last one paid for keep counting (reporting for the last happens in the next).
    pub fn epoch_at(&self, height: u64) -> Option<u64> {
        height.checked_sub(self.start).map(|blocks| blocks / self.epoch_blocks)
    }

    /// The first height of epoch `epoch`.
    pub fn epoch_start(&self, epoch: u64) -> u64 {
        self.start.saturating_add(epoch.saturating_mul(self.epoch_blocks))
    }

    /// The first height at which `epoch`'s rewards may be claimed: its reporting, during
    /// the next epoch, has closed.
    pub fn claims_open(&self, epoch: Epoch) -> u64 {
        self.epoch_start(u64::from(epoch) + 2)
    }

    /// What the escrow holds for the pool: funded, less paid and refunded.
    pub fn held(&self) -> Amount {
        self.funded - self.paid - self.refunded
    }

    /// The reward of `work` out of an epoch's `total_work`: `per_epoch * work / total_work`,
    /// rounded down (so an epoch never pays more than `per_epoch`).
    pub fn reward(&self, work: u64, total_work: u64) -> Amount {
        if total_work == 0 {
            return 0;
        }
        assert!(work <= total_work, "a device's work is part of its epoch's total");
        let share = u128::from(self.per_epoch) * u128::from(work) / u128::from(total_work);
        // At most `per_epoch`, since `work <= total_work`.
        share as Amount
    }
}

/// A device's enrollment in a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Enrollment {
    /// The device.
    pub device: DeviceId,
    /// Its counter at its last report (or at enrollment).
    pub last_counter: u64,
    /// The epoch of its last report (or of its enrollment): it reports next in a later one.
    pub last_report_epoch: Epoch,
}

crate::struct_codec!(Enrollment { device: plain, last_counter: plain, last_report_epoch: plain });

/// The work credited to an epoch of a pool, over every device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct EpochTotal {
    /// Work credited.
    pub total_work: u64,
    /// Devices credited.
    pub devices: u32,
}

crate::struct_codec!(EpochTotal { total_work: plain, devices: plain });

/// The work credited to one device for one epoch of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DeviceWork {
    /// Work credited.
    pub work: u64,
    /// Whether its reward was paid.
    pub claimed: bool,
}

crate::struct_codec!(DeviceWork { work: plain, claimed: plain });
