//! The channels module's events.

use super::ChannelId;
use crate::{Address, Amount, bank::AssetId};
use serde::{Deserialize, Serialize};

/// Something the channels module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ChannelsEvent {
    /// A channel or stream opened and its deposit moved to escrow.
    Opened {
        /// The channel.
        channel: ChannelId,
        /// Who pays.
        payer: Address,
        /// Who is paid.
        payee: Address,
        /// The asset (the native token if absent).
        asset: Option<AssetId>,
        /// Escrowed.
        deposit: Amount,
    },
    /// A channel's deposit grew.
    ToppedUp {
        /// The channel.
        channel: ChannelId,
        /// Added.
        amount: Amount,
        /// The deposit now.
        deposit: Amount,
    },
    /// The payee was paid: a voucher settled, or a stream's accrual withdrawn.
    Paid {
        /// The channel.
        channel: ChannelId,
        /// The payee.
        to: Address,
        /// Paid now.
        amount: Amount,
        /// Paid to the payee in all so far (a settled voucher's cumulative amount).
        total: Amount,
    },
    /// The payer started closing a voucher channel.
    CloseStarted {
        /// The channel.
        channel: ChannelId,
        /// The first height at which the close may be finished.
        until: u64,
    },
    /// A channel closed: the payee had `paid`, the payer got `refunded` back.
    Closed {
        /// The channel.
        channel: ChannelId,
        /// Paid to the payee in all.
        paid: Amount,
        /// Returned to the payer.
        refunded: Amount,
    },
}

crate::enum_codec!(ChannelsEvent {
    0 => Opened { channel: plain, payer: plain, payee: plain, asset: plain, deposit: plain },
    1 => ToppedUp { channel: plain, amount: plain, deposit: plain },
    2 => Paid { channel: plain, to: plain, amount: plain, total: plain },
    3 => CloseStarted { channel: plain, until: plain },
    4 => Closed { channel: plain, paid: plain, refunded: plain },
});
