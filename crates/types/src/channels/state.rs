//! The channels module's stored values.

use super::{ChannelId, streamed};
use crate::{Address, Amount, bank::AssetId};
use serde::{Deserialize, Serialize};

/// How a channel pays its payee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// By the payer's signed cumulative vouchers.
    Vouchers {
        /// Blocks a payer's close waits for the payee's latest voucher.
        challenge_blocks: u64,
    },
    /// By block time, at a rate per second.
    Stream {
        /// Paid per second.
        rate_per_sec: Amount,
        /// The block time (ms) it started at.
        start_ms: u64,
    },
}

crate::enum_codec!(Mode {
    0 => Vouchers { challenge_blocks: plain },
    1 => Stream { rate_per_sec: plain, start_ms: plain },
});

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Paying.
    Open {},
    /// The payer started a close; it may be finished from height `until`.
    Closing {
        /// The first height at which the close may be finished.
        until: u64,
    },
    /// Closed: nothing left in escrow.
    Closed {},
}

crate::enum_codec!(Status {
    0 => Open {},
    1 => Closing { until: plain },
    2 => Closed {},
});

/// A payment channel or stream and its accounts: its escrow holds `deposit - paid` until it
/// closes, and `deposit = paid + refunded` once closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Channel {
    /// Its id.
    pub id: ChannelId,
    /// Who pays (and gets the rest back).
    pub payer: Address,
    /// Who is paid.
    pub payee: Address,
    /// The asset (the native token if absent).
    pub asset: Option<AssetId>,
    /// Deposited in all.
    pub deposit: Amount,
    /// Paid to the payee so far (for vouchers, the highest cumulative amount settled).
    pub paid: Amount,
    /// Returned to the payer at the close.
    pub refunded: Amount,
    /// How it pays.
    pub mode: Mode,
    /// Where it is in its life.
    #[serde(flatten)]
    pub status: Status,
}

crate::struct_codec!(Channel {
    id: plain,
    payer: plain,
    payee: plain,
    asset: plain,
    deposit: plain,
    paid: plain,
    refunded: plain,
    mode: plain,
    status: plain,
});

impl Channel {
    /// What the escrow holds for it.
    pub fn held(&self) -> Amount {
        self.deposit - self.paid - self.refunded
    }

    /// For a stream, what it has paid out in all by block time `now_ms` (withdrawn or not);
    /// for a voucher channel, what was settled.
    pub fn accrued(&self, now_ms: u64) -> Amount {
        match self.mode {
            Mode::Stream { rate_per_sec, start_ms } => {
                streamed(self.deposit, rate_per_sec, start_ms, now_ms)
            }
            Mode::Vouchers { .. } => self.paid,
        }
    }

    /// Whether it is closed.
    pub fn is_closed(&self) -> bool {
        self.status == Status::Closed {}
    }
}
