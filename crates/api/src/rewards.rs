//! The rewards module's routes: a pool with where it stands, an epoch's total work, a
//! device's enrollment and its work in an epoch. Epoch totals and enrollments answer the
//! [`machina_types::rewards::state`] records themselves.

use machina_types::{
    Amount,
    rewards::{
        Epoch,
        state::{DeviceWork, Pool},
    },
};
use serde::{Deserialize, Serialize};

/// `GET /v1/reward-pools/{id}`: a pool with what its escrow still holds and where it stands
/// for the next block (the latest finalized height plus one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolView {
    /// The pool.
    #[serde(flatten)]
    pub pool: Pool,
    /// What the escrow still holds for it: funded, less paid and refunded.
    pub escrow_left: Amount,
    /// The latest finalized height, which the fields below follow from.
    pub height: u64,
    /// The epoch the next block lies in (null before epoch 0 starts). Epochs past the last
    /// one paid for keep counting.
    pub epoch: Option<u64>,
    /// Whether the next block may enroll a device: the pool is open, its last epoch has not
    /// started and it is not full.
    pub enrollment_open: bool,
    /// The epoch a report in the next block credits (the one that just ended), null when
    /// reports are not taken (epoch 0, or after the last epoch's reporting).
    pub reporting_epoch: Option<Epoch>,
    /// Whether the next block may pay a claim: the pool is open, epoch 0's reporting has
    /// closed and the claim deadline (`claim_until`) has not passed.
    pub claims_open: bool,
    /// The last epoch whose rewards may be claimed in the next block (every earlier one may
    /// be too), null if none may.
    pub claimable_through: Option<Epoch>,
    /// Whether the next block may close the pool: it is open and its claim deadline passed.
    pub closable: bool,
}

impl PoolView {
    /// The view of `pool` at the latest finalized `height`, given the chain's most devices
    /// per pool.
    pub fn new(pool: Pool, height: u64, devices_per_pool_max: u32) -> Self {
        let next = height.saturating_add(1);
        let epoch = pool.epoch_at(next);
        let epochs = u64::from(pool.epochs);
        let open = !pool.closed;
        let enrollment_open =
            open && epoch.unwrap_or(0) < epochs && pool.enrolled < devices_per_pool_max;
        // Reports in epoch e (1 to `epochs`) credit epoch e - 1.
        let reporting_epoch = epoch
            .filter(|e| open && (1..=epochs).contains(e))
            .and_then(|e| Epoch::try_from(e - 1).ok());
        let claims_open = open && next >= pool.claims_open(0) && next < pool.claim_until;
        // Epoch e's claims open at the start of epoch e + 2.
        let claimable_through = epoch
            .filter(|_| claims_open)
            .and_then(|e| e.checked_sub(2))
            .map(|e| e.min(epochs.saturating_sub(1)))
            .and_then(|e| Epoch::try_from(e).ok());
        let closable = open && next >= pool.claim_until;
        Self {
            escrow_left: pool.held(),
            pool,
            height,
            epoch,
            enrollment_open,
            reporting_epoch,
            claims_open,
            claimable_through,
            closable,
        }
    }
}

/// `GET /v1/reward-pools/{id}/epochs/{epoch}/devices/{device}`: the work credited to a
/// device for an epoch, whether its reward was paid, and that reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkView {
    /// The device's work and whether its reward was paid.
    #[serde(flatten)]
    pub work: DeviceWork,
    /// Every device's work credited to the epoch so far (final once its reporting closed).
    pub total_work: u64,
    /// Its reward, `per_epoch * work / total_work` rounded down: what its claim pays (or
    /// paid) once the epoch's reporting has closed; before, later reports may lower it.
    pub reward: Amount,
}

#[cfg(test)]
mod tests {
    use super::*;
    use machina_types::{
        Address, Hash,
        data::Eligibility,
        rewards::{Work, state::EpochTotal},
    };

    /// Three epochs of 10 blocks from height 11; claims until 11 + (3 + 2 + 1) * 10 = 71.
    fn pool() -> Pool {
        Pool {
            id: 1,
            funder: Address([1; 32]),
            asset: None,
            per_epoch: 1_000,
            epochs: 3,
            epoch_blocks: 10,
            start: 11,
            claim_until: 71,
            work: Work::AnchoredReadings { stream: 1 },
            eligibility: Eligibility::Devices { devices: vec![Hash([2; 32])] },
            min_reputation: 0,
            max_work_per_epoch: 100,
            enrolled: 1,
            funded: 3_000,
            paid: 400,
            refunded: 0,
            closed: false,
        }
    }

    #[test]
    fn a_pool_view_follows_the_pool_through_its_epochs() {
        // Before epoch 0 starts: enrollment only.
        let v = PoolView::new(pool(), 5, 10);
        assert_eq!((v.epoch, v.enrollment_open, v.reporting_epoch), (None, true, None));
        assert_eq!((v.claims_open, v.claimable_through, v.closable), (false, None, false));
        assert_eq!(v.escrow_left, 2_600);
        // Epoch 1 (heights 21..=30): reports credit epoch 0; nothing to claim yet.
        let v = PoolView::new(pool(), 20, 10);
        assert_eq!((v.epoch, v.enrollment_open, v.reporting_epoch), (Some(1), true, Some(0)));
        assert!(!v.claims_open);
        // Epoch 2: epoch 0 may be claimed.
        let v = PoolView::new(pool(), 30, 10);
        assert_eq!((v.reporting_epoch, v.claimable_through), (Some(1), Some(0)));
        // Epoch 3: the last epoch's reports; enrollment closed.
        let v = PoolView::new(pool(), 40, 10);
        assert_eq!((v.enrollment_open, v.reporting_epoch), (false, Some(2)));
        assert_eq!(v.claimable_through, Some(1));
        // Epochs 4 and 5 (the claim window): every epoch may be claimed, none reported.
        for height in [50, 69] {
            let v = PoolView::new(pool(), height, 10);
            assert_eq!((v.reporting_epoch, v.claimable_through), (None, Some(2)));
            assert!(v.claims_open && !v.closable);
        }
        // From height 71 the pool may be closed; once closed nothing is open.
        let v = PoolView::new(pool(), 70, 10);
        assert_eq!((v.claims_open, v.claimable_through, v.closable), (false, None, true));
        let closed = Pool { closed: true, refunded: 2_600, ..pool() };
        let v = PoolView::new(closed, 70, 10);
        assert!(!v.closable && !v.enrollment_open);
        assert_eq!(v.escrow_left, 0);
        // A full pool takes no enrollment.
        assert!(!PoolView::new(pool(), 5, 1).enrollment_open);
    }

    #[test]
    fn views_flatten_their_record() {
        let view = PoolView::new(pool(), 30, 10);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["per_epoch"], 1_000);
        assert_eq!(json["work"]["kind"], "anchored_readings");
        assert_eq!(json["claimable_through"], 0);
        assert_eq!(serde_json::from_value::<PoolView>(json).unwrap(), view);
        let total = EpochTotal { total_work: 40, devices: 2 };
        let work = WorkView {
            work: DeviceWork { work: 10, claimed: true },
            total_work: total.total_work,
            reward: pool().reward(10, total.total_work),
        };
        let json = serde_json::to_value(work).unwrap();
        assert_eq!(json["work"], 10);
        assert_eq!(json["reward"], 250);
        assert_eq!(serde_json::from_value::<WorkView>(json).unwrap(), work);
    }
}
