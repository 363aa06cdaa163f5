//! The fuzzer's payment-channel operations: opening voucher channels and streams, top-ups,
//! vouchers settled (the payer's, another account's, another chain's, another channel's,
//! stale or over the deposit), payer closes and their challenge, stream withdrawals and
//! cancels, with boundary amounts.

use super::{ACCOUNTS, Id, Op, Run, SignedBy, TxOps, account, edges, num};
use machina_types::{
    Call, ChannelsCall, Event,
    channels::{ChannelsEvent, SignedVoucher, Voucher, state::Channel},
    limits::CHANNEL_CHALLENGE_BLOCKS_MAX,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Channels opened, vouchers settled or streams withdrawn (payments), channels closed.
pub(super) static OPENED: AtomicU64 = AtomicU64::new(0);
pub(super) static PAYMENTS: AtomicU64 = AtomicU64::new(0);
pub(super) static CLOSED: AtomicU64 = AtomicU64::new(0);

/// Who signs a voucher, and for what.
#[derive(Clone, Copy, Debug)]
pub(crate) enum VoucherBy {
    /// The channel's payer, for this chain.
    Payer,
    /// This account, whoever the payer is.
    Account(usize),
    /// The payer, for another chain.
    OtherChain,
    /// The payer, for the next channel id.
    OtherChannel,
}

#[derive(Clone, Debug)]
pub(crate) enum ChannelOp {
    Open {
        payee: usize,
        asset: bool,
        deposit: u64,
        /// A stream at this rate if set, else a voucher channel.
        stream_rate: Option<u64>,
        challenge_blocks: u64,
    },
    TopUp {
        channel: Id,
        amount: u64,
    },
    /// Settles (or closes with) a voucher for `cumulative`.
    Voucher {
        channel: Id,
        cumulative: u64,
        by: VoucherBy,
        close: bool,
    },
    Close {
        channel: Id,
    },
    StartClose {
        channel: Id,
    },
    Finish {
        channel: Id,
    },
    Withdraw {
        channel: Id,
    },
    Cancel {
        channel: Id,
    },
}

fn deposit() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..100_000, 1 => num()]
}

fn voucher_by() -> impl Strategy<Value = VoucherBy> {
    prop_oneof![
        6 => Just(VoucherBy::Payer),
        1 => account().prop_map(VoucherBy::Account),
        1 => Just(VoucherBy::OtherChain),
        1 => Just(VoucherBy::OtherChannel),
    ]
}

/// Channel calls, one at a time.
pub(super) fn op() -> BoxedStrategy<Op> {
    let channel = || super::id();
    let cumulative = prop_oneof![4 => 0u64..100_000, 1 => num()];
    prop_oneof![
        (
            account(),
            proptest::bool::weighted(0.2),
            deposit(),
            proptest::option::weighted(0.3, edges(1..50, 1_000, u64::MAX)),
            edges(1..20, CHANNEL_CHALLENGE_BLOCKS_MAX, u64::MAX),
        )
            .prop_map(|(payee, asset, deposit, stream_rate, challenge_blocks)| {
                ChannelOp::Open { payee, asset, deposit, stream_rate, challenge_blocks }
            }),
        (channel(), deposit()).prop_map(|(channel, amount)| ChannelOp::TopUp { channel, amount }),
        (channel(), cumulative, voucher_by(), any::<bool>()).prop_map(
            |(channel, cumulative, by, close)| ChannelOp::Voucher {
                channel,
                cumulative,
                by,
                close
            }
        ),
        channel().prop_map(|channel| ChannelOp::Close { channel }),
        channel().prop_map(|channel| ChannelOp::StartClose { channel }),
        channel().prop_map(|channel| ChannelOp::Finish { channel }),
        channel().prop_map(|channel| ChannelOp::Withdraw { channel }),
        channel().prop_map(|channel| ChannelOp::Cancel { channel }),
    ]
    .prop_map(Op::Channel)
    .boxed()
}

/// A channel's life in one block: the payer opens it, the payee settles rising vouchers and
/// sometimes closes, the payer sometimes starts a close.
pub(super) fn flow() -> BoxedStrategy<Vec<TxOps>> {
    (0..ACCOUNTS, 0..ACCOUNTS, 1u64..10_000, proptest::collection::vec(0u64..12_000, 1..5), 0u8..3)
        .prop_map(|(payer, payee, deposit, amounts, end)| {
            let open = ChannelOp::Open {
                payee,
                asset: false,
                deposit,
                stream_rate: None,
                challenge_blocks: 2,
            };
            let mut txs = vec![(SignedBy::Account(payer), vec![Op::Channel(open)])];
            let mut cumulative = 0;
            for step in amounts {
                cumulative += step;
                let settle = ChannelOp::Voucher {
                    channel: Id::Next,
                    cumulative,
                    // The channel does not exist before the block: name its payer.
                    by: VoucherBy::Account(payer),
                    close: false,
                };
                txs.push((SignedBy::Account(payee), vec![Op::Channel(settle)]));
            }
            let channel = Id::Next;
            match end {
                0 => txs.push((
                    SignedBy::Account(payee),
                    vec![Op::Channel(ChannelOp::Close { channel })],
                )),
                1 => txs.push((
                    SignedBy::Account(payer),
                    vec![Op::Channel(ChannelOp::StartClose { channel })],
                )),
                _ => {}
            }
            txs
        })
        .boxed()
}

impl Run {
    fn next_channel(&self) -> u64 {
        let key = crate::modules::channels::keys::next_channel_id();
        self.chain().state.get(&key).unwrap_or(1)
    }

    /// The call a channel op stands for, against the chain as it is. `Id::Next` names the
    /// channel the newest open in the same block created (the next id, before it exists).
    pub(super) fn channel_call(&self, op: &ChannelOp) -> Call {
        let next = self.next_channel();
        match op.clone() {
            ChannelOp::Open { payee, asset, deposit, stream_rate, challenge_blocks } => {
                let payee = self.addr(payee);
                let asset = asset.then(|| Id::Newest.resolve(self.next_asset()));
                match stream_rate {
                    Some(rate_per_sec) => {
                        ChannelsCall::OpenStream { payee, asset, deposit, rate_per_sec }
                    }
                    None => ChannelsCall::Open { payee, asset, deposit, challenge_blocks },
                }
            }
            ChannelOp::TopUp { channel, amount } => {
                ChannelsCall::TopUp { channel: channel.resolve(next), amount }
            }
            ChannelOp::Voucher { channel, cumulative, by, close } => {
                let channel = channel.resolve(next);
                let voucher = self.voucher(channel, cumulative, by);
                if close {
                    ChannelsCall::Close { channel, voucher: Some(voucher) }
                } else {
                    ChannelsCall::Settle { channel, voucher }
                }
            }
            ChannelOp::Close { channel } => {
                ChannelsCall::Close { channel: channel.resolve(next), voucher: None }
            }
            ChannelOp::StartClose { channel } => {
                ChannelsCall::StartClose { channel: channel.resolve(next) }
            }
            ChannelOp::Finish { channel } => {
                ChannelsCall::Finish { channel: channel.resolve(next) }
            }
            ChannelOp::Withdraw { channel } => {
                ChannelsCall::Withdraw { channel: channel.resolve(next) }
            }
            ChannelOp::Cancel { channel } => {
                ChannelsCall::Cancel { channel: channel.resolve(next) }
            }
        }
        .into()
    }

    /// A voucher for `channel` signed as `by` says; a channel opened earlier in the block is
    /// paid by the account that opens it there, unknown here: account 0 signs then.
    fn voucher(&self, channel: u64, cumulative: u64, by: VoucherBy) -> SignedVoucher {
        let key = crate::modules::channels::keys::channel(channel);
        let stored: Option<Channel> = self.chain().state.get(&key);
        let keys = &self.chain().keys;
        let payer = stored
            .and_then(|c| {
                keys.iter().position(|k| {
                    use commonware_cryptography::Signer;
                    machina_types::Address::of(&k.public_key()) == c.payer
                })
            })
            .unwrap_or(0);
        let chain_id = self.chain().genesis.chain_id.clone();
        let (signer, chain_id, channel) = match by {
            VoucherBy::Payer => (payer, chain_id, channel),
            VoucherBy::Account(i) => (i, chain_id, channel),
            VoucherBy::OtherChain => (payer, format!("{chain_id}-other"), channel),
            VoucherBy::OtherChannel => (payer, chain_id, channel.wrapping_add(1)),
        };
        SignedVoucher::sign(&keys[signer], &chain_id, Voucher { channel, cumulative })
    }
}

/// Counts the channel milestones among `events`.
pub(super) fn count(events: &[Event]) {
    for e in events {
        let counter = match e {
            Event::Channels(ChannelsEvent::Opened { .. }) => &OPENED,
            Event::Channels(ChannelsEvent::Paid { .. }) => &PAYMENTS,
            Event::Channels(ChannelsEvent::Closed { .. }) => &CLOSED,
            _ => continue,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
