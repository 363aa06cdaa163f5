//! Payment channels: many small payments from one payer to one payee for two transactions.
//!
//! A channel escrows a payer's deposit (the native token or a bank asset) for one payee.
//! Two modes:
//!
//! - **Vouchers** ([`ChannelsCall::Open`]): the payer signs cumulative [`Voucher`]s off chain
//!   (per reading, per request, per kWh); the payee keeps the highest and, whenever it likes,
//!   [settles](ChannelsCall::Settle) it (takes what it adds to what was settled before, the
//!   channel stays open) or [closes](ChannelsCall::Close) the channel with it (the rest goes
//!   back to the payer). The payer may [top up](ChannelsCall::TopUp) the deposit, or
//!   [start a close](ChannelsCall::StartClose): the channel stays open for its challenge
//!   period, in which the payee may still settle or close with its latest voucher; after it
//!   anyone may [finish](ChannelsCall::Finish) the close, refunding the payer. A payee that
//!   accepts a channel checks its challenge period is long enough for it to answer. The
//!   chain's work is the same whatever the number of vouchers: one signature check per
//!   settlement, none per voucher.
//! - **Streams** ([`ChannelsCall::OpenStream`]): the deposit flows to the payee at a rate
//!   per second from the block that opens it, by block time, until it runs out. The payee
//!   [withdraws](ChannelsCall::Withdraw) what has accrued whenever it likes; either side
//!   [cancels](ChannelsCall::Cancel): the payee gets what accrued, the payer the rest. A
//!   payer tops a stream up while it still runs (a stream that ran dry has ended).
//!
//! A machine's shares cannot fund a channel (their revenue and votes are kept by their
//! module). A closed channel stays readable, with what it paid and refunded.

pub mod event;
#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod state;
pub mod voucher;

pub use event::ChannelsEvent;
pub use voucher::{SignedVoucher, VOUCHER_NAMESPACE, Voucher, voucher_message};

use crate::{Address, Amount, ErrorCode, bank::AssetId, limits::CHANNEL_CHALLENGE_BLOCKS_MAX};
use serde::{Deserialize, Serialize};

/// Identifies a payment channel (assigned in opening order, from 1).
pub type ChannelId = u64;

/// A call to the channels module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChannelsCall {
    /// Open a voucher channel from the signer (the payer) to `payee`, escrowing `deposit`.
    Open {
        /// Who the vouchers pay.
        payee: Address,
        /// The asset: a bank asset, or the native token if absent.
        asset: Option<AssetId>,
        /// Escrowed now (more with top-ups); the most the vouchers can pay.
        deposit: Amount,
        /// Blocks a payer's close waits for the payee's latest voucher (1 to 1,000,000).
        challenge_blocks: u64,
    },
    /// Open a stream from the signer (the payer) to `payee`: `deposit` flows to the payee at
    /// `rate_per_sec` from this block's time.
    OpenStream {
        /// Who the stream pays.
        payee: Address,
        /// The asset: a bank asset, or the native token if absent.
        asset: Option<AssetId>,
        /// Escrowed now; the stream ends when it has all flowed.
        deposit: Amount,
        /// Paid per second of block time.
        rate_per_sec: Amount,
    },
    /// Add to a channel's deposit (its payer only; not while closing, nor to a stream that
    /// ran dry).
    TopUp {
        /// The channel.
        channel: ChannelId,
        /// Added to the deposit.
        amount: Amount,
    },
    /// Pay the payee what `voucher` adds to what was settled; the channel stays open (its
    /// payee only).
    Settle {
        /// The channel.
        channel: ChannelId,
        /// The payer's latest voucher for it.
        voucher: SignedVoucher,
    },
    /// Close a voucher channel: settle `voucher` if given and return the rest to the payer
    /// (its payee only).
    Close {
        /// The channel.
        channel: ChannelId,
        /// The payer's latest voucher, if it adds anything.
        voucher: Option<SignedVoucher>,
    },
    /// Start closing a voucher channel: after its challenge period anyone may finish the
    /// close (its payer only).
    StartClose {
        /// The channel.
        channel: ChannelId,
    },
    /// Finish a close whose challenge period has passed, refunding the payer (anyone).
    Finish {
        /// The channel.
        channel: ChannelId,
    },
    /// Pay a stream's payee what has accrued (its payee only).
    Withdraw {
        /// The stream.
        channel: ChannelId,
    },
    /// End a stream: the payee gets what accrued, the payer the rest (its payer or payee).
    Cancel {
        /// The stream.
        channel: ChannelId,
    },
}

crate::enum_codec!(ChannelsCall {
    0 => Open { payee: plain, asset: plain, deposit: plain, challenge_blocks: plain },
    1 => OpenStream { payee: plain, asset: plain, deposit: plain, rate_per_sec: plain },
    2 => TopUp { channel: plain, amount: plain },
    3 => Settle { channel: plain, voucher: plain },
    4 => Close { channel: plain, voucher: plain },
    5 => StartClose { channel: plain },
    6 => Finish { channel: plain },
    7 => Withdraw { channel: plain },
    8 => Cancel { channel: plain },
});

/// What a stream opened at `start_ms` with `deposit` at `rate_per_sec` has paid out in all by
/// `now_ms`: the rate times the whole seconds elapsed, at most the deposit.
pub fn streamed(deposit: Amount, rate_per_sec: Amount, start_ms: u64, now_ms: u64) -> Amount {
    let secs = now_ms.saturating_sub(start_ms) / 1000;
    let flowed = u128::from(rate_per_sec) * u128::from(secs);
    flowed.min(u128::from(deposit)) as Amount
}

impl crate::call::ModuleCall for ChannelsCall {
    const MODULE: &'static str = "channels";
    const TAG: u8 = 7;
    const ERRORS: core::ops::RangeInclusive<u16> = 600..=649;

    /// Stateless validity: positive deposits, top-ups and rates, and a challenge period of
    /// 1 to [`CHANNEL_CHALLENGE_BLOCKS_MAX`] blocks; a voucher must name the call's channel.
    fn check(&self) -> Result<(), ErrorCode> {
        match self {
            Self::Open { deposit, challenge_blocks, .. } => {
                if *deposit == 0 || !(1..=CHANNEL_CHALLENGE_BLOCKS_MAX).contains(challenge_blocks) {
                    return Err(ErrorCode::InvalidCall);
                }
            }
            Self::OpenStream { deposit, rate_per_sec, .. } => {
                if *deposit == 0 || *rate_per_sec == 0 {
                    return Err(ErrorCode::InvalidCall);
                }
            }
            Self::TopUp { amount, .. } => {
                if *amount == 0 {
                    return Err(ErrorCode::InvalidCall);
                }
            }
            Self::Settle { channel, voucher } | Self::Close { channel, voucher: Some(voucher) } => {
                if voucher.voucher.channel != *channel {
                    return Err(ErrorCode::VoucherForAnotherChannel);
                }
            }
            Self::Close { voucher: None, .. }
            | Self::StartClose { .. }
            | Self::Finish { .. }
            | Self::Withdraw { .. }
            | Self::Cancel { .. } => {}
        }
        Ok(())
    }

    fn native_spend(&self) -> u128 {
        match self {
            Self::Open { asset: None, deposit, .. }
            | Self::OpenStream { asset: None, deposit, .. } => u128::from(*deposit),
            // A top-up's asset is the channel's, which only state knows: admission counts it
            // as native, the safe side.
            Self::TopUp { amount, .. } => u128::from(*amount),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Call, ModuleCall};
    use commonware_codec::{DecodeExt, Encode, EncodeSize};
    use commonware_cryptography::{Signer, ed25519::PrivateKey};

    fn voucher(channel: ChannelId, cumulative: Amount) -> SignedVoucher {
        SignedVoucher::sign(&PrivateKey::from_seed(3), "test", Voucher { channel, cumulative })
    }

    #[test]
    fn calls_round_trip_in_both_encodings() {
        let payee = Address::of(&PrivateKey::from_seed(4).public_key());
        let calls = [
            ChannelsCall::Open {
                payee,
                asset: None,
                deposit: u64::MAX,
                challenge_blocks: CHANNEL_CHALLENGE_BLOCKS_MAX,
            },
            ChannelsCall::OpenStream { payee, asset: Some(9), deposit: 1, rate_per_sec: 1 },
            ChannelsCall::TopUp { channel: u64::MAX, amount: 1 },
            ChannelsCall::Settle { channel: 2, voucher: voucher(2, 10) },
            ChannelsCall::Close { channel: 2, voucher: Some(voucher(2, u64::MAX)) },
            ChannelsCall::Close { channel: 3, voucher: None },
            ChannelsCall::StartClose { channel: 0 },
            ChannelsCall::Finish { channel: 1 },
            ChannelsCall::Withdraw { channel: 1 },
            ChannelsCall::Cancel { channel: 1 },
        ];
        for call in calls {
            assert_eq!(call.check(), Ok(()), "{call:?}");
            let call = Call::Channels(call);
            let bytes = call.encode();
            assert_eq!(bytes.len(), call.encode_size());
            assert_eq!(Call::decode(bytes).unwrap(), call);
            let json = serde_json::to_value(&call).unwrap();
            assert_eq!(serde_json::from_value::<Call>(json).unwrap(), call);
        }
    }

    #[test]
    fn calls_are_checked_at_their_bounds() {
        let payee = Address([1; 32]);
        let open = |deposit, challenge_blocks| {
            ChannelsCall::Open { payee, asset: None, deposit, challenge_blocks }.check()
        };
        assert_eq!(open(1, 1), Ok(()));
        assert_eq!(open(1, CHANNEL_CHALLENGE_BLOCKS_MAX), Ok(()));
        assert_eq!(open(0, 1), Err(ErrorCode::InvalidCall), "no deposit");
        assert_eq!(open(1, 0), Err(ErrorCode::InvalidCall), "no challenge period");
        assert_eq!(open(1, CHANNEL_CHALLENGE_BLOCKS_MAX + 1), Err(ErrorCode::InvalidCall));
        let stream = |deposit, rate_per_sec| {
            ChannelsCall::OpenStream { payee, asset: None, deposit, rate_per_sec }.check()
        };
        assert_eq!(stream(u64::MAX, u64::MAX), Ok(()));
        assert_eq!(stream(0, 1), Err(ErrorCode::InvalidCall));
        assert_eq!(stream(1, 0), Err(ErrorCode::InvalidCall));
        assert_eq!(
            ChannelsCall::TopUp { channel: 1, amount: 0 }.check(),
            Err(ErrorCode::InvalidCall)
        );
        let other = ChannelsCall::Settle { channel: 1, voucher: voucher(2, 5) };
        assert_eq!(other.check(), Err(ErrorCode::VoucherForAnotherChannel));
        let other = ChannelsCall::Close { channel: 1, voucher: Some(voucher(2, 5)) };
        assert_eq!(other.check(), Err(ErrorCode::VoucherForAnotherChannel));
        let open = ChannelsCall::Open { payee, asset: None, deposit: 7, challenge_blocks: 1 };
        assert_eq!(open.native_spend(), 7);
        let open = ChannelsCall::Open { payee, asset: Some(1), deposit: 7, challenge_blocks: 1 };
        assert_eq!(open.native_spend(), 0);
    }

    #[test]
    fn a_stream_pays_whole_seconds_up_to_its_deposit() {
        assert_eq!(streamed(100, 7, 1_000, 1_000), 0);
        assert_eq!(streamed(100, 7, 1_000, 1_999), 0, "no whole second yet");
        assert_eq!(streamed(100, 7, 1_000, 3_000), 14);
        assert_eq!(streamed(100, 7, 1_000, 1_000_000), 100, "at most the deposit");
        assert_eq!(streamed(u64::MAX, u64::MAX, 0, u64::MAX), u64::MAX, "no overflow");
        assert_eq!(streamed(100, 7, 5_000, 1_000), 0, "a clock before the start pays nothing");
    }
}
