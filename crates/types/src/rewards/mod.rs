//! Rewards (X-to-earn): anyone funds a pool that pays devices, epoch by epoch, pro rata to
//! work the chain sees by itself.
//!
//! - [`RewardsCall::CreatePool`] escrows `per_epoch * epochs` from its signer (the funder).
//!   Epoch 0 starts at the next height; epoch `e` covers heights
//!   `[start + e * epoch_blocks, start + (e + 1) * epoch_blocks)`.
//! - The work a pool counts ([`Work`]) is a counter the chain keeps per device: readings
//!   anchored on a stream (`data`'s `StreamState::readings`) or leases delivered to others
//!   (`identity`'s `reputation.good`). A device's work is the growth of its counter.
//! - [`RewardsCall::Enroll`]: anyone enrolls a device that meets the pool's rule (its
//!   eligibility, its minimum reputation, active). The device's counter at that moment is its
//!   baseline. Enrollment is keyed by the device id (which a key rotation does not change),
//!   once per pool: one reward per device, and a device costs a bonded maker.
//! - [`RewardsCall::Report`]: during epoch `e` (1 to `epochs`), anyone reports a device once:
//!   the growth of its counter since its last report (or its enrollment), at most
//!   `max_work_per_epoch`, is credited to epoch `e - 1`, the epoch that just ended. Work is
//!   thus credited to the epoch before the report, each unit of work counts once (the counter
//!   moves on to its current value whatever the cap let through), and the cap stops a device
//!   that skipped reports from hoarding several epochs of work into one. Reporting for epoch
//!   `e - 1` closes at the end of epoch `e`; a device enrolled during epoch `k` reports first
//!   in epoch `k + 1`. The device must still meet the pool's rule when it reports.
//! - [`RewardsCall::Claim`]: once epoch `e`'s reporting has closed, anyone claims a device's
//!   reward for it, `per_epoch * work / total_work` (rounded down), paid to whoever is paid
//!   for the device's earnings (its machine's treasury if tokenized, else its owner), until
//!   the pool's claim deadline: the end of epoch `epochs + 1` plus the chain's
//!   `claim_window_epochs`.
//! - [`RewardsCall::Close`]: after the deadline, anyone returns what is left in the pool
//!   (unclaimed rewards, epochs without work, rounding dust) to the funder.
//!
//! What the counters prove: an anchor's reading count is declared by whoever anchors (the
//! device's owner or gateway) and a lease delivery may be between colluding accounts, so a
//! pool trusts the devices its eligibility admits, and `max_work_per_epoch` bounds what any
//! one device can take from an epoch.

pub mod event;
#[cfg(feature = "std")]
pub mod keys;
pub mod params;
#[cfg(feature = "std")]
pub mod state;

pub use event::RewardsEvent;

use crate::{
    Amount, DeviceId, ErrorCode, bank::AssetId, data::Eligibility, limits::*, reading::StreamId,
};
use serde::{Deserialize, Serialize};

/// Identifies a reward pool (assigned in creation order, from 1).
pub type PoolId = u64;

/// An epoch of a pool (from 0).
pub type Epoch = u32;

/// The work a pool pays for: a counter the chain keeps per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// Readings of `stream` anchored on chain (the stream's anchored reading count).
    AnchoredReadings {
        /// The stream.
        stream: StreamId,
    },
    /// Leases the device delivered to others (its reputation's good count, which
    /// self-trades do not raise).
    LeasesDelivered {},
}

crate::enum_codec!(Work {
    0 => AnchoredReadings { stream: plain },
    1 => LeasesDelivered {},
});

/// A call to the rewards module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RewardsCall {
    /// Open a pool funded by the signer: `per_epoch * epochs` moves to the module's escrow.
    CreatePool {
        /// The asset paid: a bank asset, or the native token if absent.
        asset: Option<AssetId>,
        /// Paid per epoch, split between the devices that worked in it.
        per_epoch: Amount,
        /// Epochs the pool pays for (1 to the chain's `rewards.epochs_max`).
        epochs: u32,
        /// Blocks per epoch (1 to the chain's `rewards.epoch_blocks_max`).
        epoch_blocks: u64,
        /// What counts as work.
        work: Work,
        /// Which devices may enroll (role and attribute rules count devices that granted
        /// the funder the role, or `reward-earner` for attributes, and whose grant the
        /// funder accepted).
        eligibility: Eligibility,
        /// Lowest market reputation (percent) a device must have to enroll and report.
        min_reputation: u8,
        /// Most work credited to one device for one epoch.
        max_work_per_epoch: u64,
    },
    /// Enroll an eligible device in a pool, recording its counter as its baseline (anyone
    /// may call it; once per device and pool).
    Enroll {
        /// The pool.
        pool: PoolId,
        /// The device.
        device: DeviceId,
    },
    /// Credit an enrolled device's work since its last report to the epoch that just ended
    /// (anyone may call it; once per device and epoch).
    Report {
        /// The pool.
        pool: PoolId,
        /// The device.
        device: DeviceId,
    },
    /// Pay a device its reward for an epoch whose reporting has closed (anyone may call it;
    /// once per device and epoch).
    Claim {
        /// The pool.
        pool: PoolId,
        /// The epoch.
        epoch: Epoch,
        /// The device.
        device: DeviceId,
    },
    /// Return what is left in a pool to its funder, after its claim deadline (anyone may
    /// call it).
    Close {
        /// The pool.
        pool: PoolId,
    },
}

crate::enum_codec!(RewardsCall {
    0 => CreatePool {
        asset: plain,
        per_epoch: plain,
        epochs: plain,
        epoch_blocks: plain,
        work: plain,
        eligibility: plain,
        min_reputation: plain,
        max_work_per_epoch: plain,
    },
    1 => Enroll { pool: plain, device: plain },
    2 => Report { pool: plain, device: plain },
    3 => Claim { pool: plain, epoch: plain, device: plain },
    4 => Close { pool: plain },
});

/// What a pool escrows: `per_epoch * epochs`, if it fits an [`Amount`].
pub fn funding(per_epoch: Amount, epochs: u32) -> Option<Amount> {
    per_epoch.checked_mul(Amount::from(epochs))
}

impl crate::call::ModuleCall for RewardsCall {
    const MODULE: &'static str = "rewards";
    const TAG: u8 = 6;
    const ERRORS: core::ops::RangeInclusive<u16> = 550..=599;

    /// Stateless validity: a positive payout, epochs and epoch length within the protocol's
    /// limits (the chain's parameters may set lower ones), the funding fitting an amount, a
    /// positive cap on work within [`REWARD_WORK_MAX`], a reputation in percent and an
    /// eligibility rule as bounded as a feed's.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::CreatePool {
                per_epoch,
                epochs,
                epoch_blocks,
                eligibility,
                min_reputation,
                max_work_per_epoch,
                ..
            } => {
                *per_epoch > 0
                    && (1..=REWARD_EPOCHS_MAX).contains(epochs)
                    && (1..=REWARD_EPOCH_BLOCKS_MAX).contains(epoch_blocks)
                    && funding(*per_epoch, *epochs).is_some()
                    && (1..=REWARD_WORK_MAX).contains(max_work_per_epoch)
                    && *min_reputation <= 100
                    && eligibility.is_valid()
            }
            Self::Enroll { .. } | Self::Report { .. } | Self::Claim { .. } | Self::Close { .. } => {
                true
            }
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }

    fn native_spend(&self) -> u128 {
        match self {
            Self::CreatePool { asset: None, per_epoch, epochs, .. } => {
                u128::from(*per_epoch) * u128::from(*epochs)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, Call, Hash, ModuleCall, data::Eligibility};
    use alloc::vec;

    fn pool(per_epoch: Amount, epochs: u32, epoch_blocks: u64, max_work: u64) -> RewardsCall {
        pool_of(None, per_epoch, epochs, epoch_blocks, max_work)
    }

    fn pool_of(
        asset: Option<AssetId>,
        per_epoch: Amount,
        epochs: u32,
        epoch_blocks: u64,
        max_work: u64,
    ) -> RewardsCall {
        RewardsCall::CreatePool {
            asset,
            per_epoch,
            epochs,
            epoch_blocks,
            work: Work::AnchoredReadings { stream: 1 },
            eligibility: Eligibility::Maker { maker: Address([1; 32]) },
            min_reputation: 0,
            max_work_per_epoch: max_work,
        }
    }

    #[test]
    fn calls_round_trip_in_both_encodings() {
        let device = Hash([5; 32]);
        let calls = [
            pool(u64::MAX, 1, REWARD_EPOCH_BLOCKS_MAX, REWARD_WORK_MAX),
            RewardsCall::CreatePool {
                asset: Some(7),
                per_epoch: 1,
                epochs: REWARD_EPOCHS_MAX,
                epoch_blocks: 1,
                work: Work::LeasesDelivered {},
                eligibility: Eligibility::Devices { devices: vec![device; 3] },
                min_reputation: 100,
                max_work_per_epoch: 1,
            },
            RewardsCall::Enroll { pool: 1, device },
            RewardsCall::Report { pool: u64::MAX, device },
            RewardsCall::Claim { pool: 2, epoch: u32::MAX, device },
            RewardsCall::Close { pool: 0 },
        ];
        for call in calls {
            crate::call::assert_round_trips(&Call::Rewards(call));
        }
    }

    #[test]
    fn pools_are_checked_at_their_bounds() {
        let ok = |c: RewardsCall| c.check().is_ok();
        assert!(ok(pool(1, 1, 1, 1)));
        assert!(ok(pool(1, REWARD_EPOCHS_MAX, REWARD_EPOCH_BLOCKS_MAX, REWARD_WORK_MAX)));
        assert!(ok(pool(u64::MAX, 1, 1, 1)), "funding u64::MAX fits");
        assert!(!ok(pool(0, 1, 1, 1)), "nothing paid");
        assert!(!ok(pool(1, 0, 1, 1)), "no epochs");
        assert!(!ok(pool(1, REWARD_EPOCHS_MAX + 1, 1, 1)));
        assert!(!ok(pool(1, 1, 0, 1)), "empty epochs");
        assert!(!ok(pool(1, 1, REWARD_EPOCH_BLOCKS_MAX + 1, 1)));
        assert!(!ok(pool(1, 1, 1, 0)), "no work counted");
        assert!(!ok(pool(1, 1, 1, REWARD_WORK_MAX + 1)));
        assert!(!ok(pool(u64::MAX, 2, 1, 1)), "the funding overflows");
        assert!(!ok(pool(u64::MAX / 2 + 1, 2, 1, 1)));
        assert!(ok(pool(u64::MAX / 2, 2, 1, 1)));
        let with = |min_reputation, eligibility| RewardsCall::CreatePool {
            asset: None,
            per_epoch: 1,
            epochs: 1,
            epoch_blocks: 1,
            work: Work::LeasesDelivered {},
            eligibility,
            min_reputation,
            max_work_per_epoch: 1,
        };
        let maker = Eligibility::Maker { maker: Address([1; 32]) };
        assert!(ok(with(100, maker.clone())));
        assert!(!ok(with(101, maker)));
        assert!(!ok(with(0, Eligibility::Devices { devices: vec![] })));
        let many = vec![Hash([1; 32]); FEED_SOURCES_MAX + 1];
        assert!(!ok(with(0, Eligibility::Devices { devices: many })));
        assert_eq!(pool(3, 4, 1, 1).native_spend(), 12);
        assert_eq!(pool_of(Some(1), 3, 4, 1, 1).native_spend(), 0);
    }
}
