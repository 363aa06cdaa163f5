//! Payment channels and streams on the test chain, whose invariants (the escrow holds what
//! open channels were deposited less what they paid, a closed channel holds nothing, native
//! supply conserved) are checked after every block.

use super::{escrow_account, keys, state::*};
use crate::{
    exec::Applied,
    testing::{CHAIN, Chain, START},
};
use machina_types::{
    Address, Amount, ChannelsCall, ErrorCode, Event, Outcome,
    channels::{ChannelId, ChannelsEvent, SignedVoucher, Voucher},
};
use proptest::prelude::*;

const PAYER: usize = 1;
const PAYEE: usize = 2;
const OTHER: usize = 3;

struct World {
    chain: Chain,
}

impl World {
    fn new() -> Self {
        Self { chain: Chain::new(4) }
    }

    fn addr(&self, i: usize) -> Address {
        self.chain.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.chain.balance(&self.addr(i))
    }

    fn open(&mut self, deposit: Amount, challenge_blocks: u64) -> ChannelId {
        let payee = self.addr(PAYEE);
        let call = ChannelsCall::Open { payee, asset: None, deposit, challenge_blocks };
        opened(&self.chain.run(PAYER, call).unwrap())
    }

    fn channel(&self, id: ChannelId) -> Channel {
        self.chain.state.get(&keys::channel(id)).unwrap()
    }

    fn voucher(&self, channel: ChannelId, cumulative: Amount) -> SignedVoucher {
        sign(&self.chain, PAYER, CHAIN, channel, cumulative)
    }

    /// Runs `call` from `i` and checks that it fails with `code` and changes nothing but the
    /// signer's fee and nonce: the channel record, the parties' balances and the escrow.
    fn refused(&mut self, i: usize, call: ChannelsCall, id: ChannelId, code: ErrorCode) {
        let before = (self.channel(id), self.balance(PAYER), self.balance(PAYEE));
        let escrow = self.chain.balance(&escrow_account());
        let tx = self.chain.tx(i, vec![call]);
        let result = self.chain.block(vec![tx]).remove(0);
        let (got, paid_fee) = match result {
            Applied::Included(receipt) => match receipt.outcome {
                Outcome::Failed { code, .. } => (code, receipt.fee),
                Outcome::Success => panic!("expected {code}, the call succeeded"),
            },
            Applied::Rejected(code) => {
                // Not included: the nonce is still free.
                self.chain.nonces[i] -= 1;
                (code, 0)
            }
        };
        assert_eq!(got, code);
        let after = (self.channel(id), self.balance(PAYER), self.balance(PAYEE));
        assert_eq!(after.0, before.0, "the channel changed");
        // The signer pays its fee (a failed call's fee is kept); nobody else's balance moves.
        let fee = |who: usize| if i == who { paid_fee } else { 0 };
        assert_eq!(after.1 + fee(PAYER), before.1, "the payer's balance changed");
        assert_eq!(after.2 + fee(PAYEE), before.2, "the payee's balance changed");
        assert_eq!(self.chain.balance(&escrow_account()), escrow, "the escrow changed");
    }
}

fn sign(
    chain: &Chain,
    i: usize,
    chain_id: &str,
    channel: ChannelId,
    cumulative: Amount,
) -> SignedVoucher {
    SignedVoucher::sign(&chain.keys[i], chain_id, Voucher { channel, cumulative })
}

fn opened(events: &[Event]) -> ChannelId {
    events
        .iter()
        .find_map(|e| match e {
            Event::Channels(ChannelsEvent::Opened { channel, .. }) => Some(*channel),
            _ => None,
        })
        .expect("an Opened event")
}

/// What the payee was paid by `events`.
fn paid(events: &[Event]) -> Amount {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Channels(ChannelsEvent::Paid { amount, .. }) => Some(*amount),
            _ => None,
        })
        .sum()
}

#[test]
fn a_payee_settles_and_closes_with_the_latest_voucher_and_is_paid_exactly_it() {
    let mut w = World::new();
    let payer_start = w.balance(PAYER);
    let id = w.open(10_000, 50);
    let c = w.channel(id);
    assert_eq!((c.payer, c.payee, c.deposit, c.paid), (w.addr(PAYER), w.addr(PAYEE), 10_000, 0));
    let payee_start = w.balance(PAYEE);
    // A thousand vouchers of 7 each; the payee settles the 400th mid-way and closes with
    // the last: the chain sees two of them.
    let vouchers: Vec<_> = (1..=1_000).map(|n| w.voucher(id, 7 * n)).collect();
    let events = w
        .chain
        .run(PAYEE, ChannelsCall::Settle { channel: id, voucher: vouchers[399].clone() })
        .unwrap();
    assert_eq!(paid(&events), 2_800);
    assert_eq!(w.channel(id).paid, 2_800);
    let last = vouchers[999].clone();
    let events =
        w.chain.run(PAYEE, ChannelsCall::Close { channel: id, voucher: Some(last) }).unwrap();
    assert_eq!(paid(&events), 4_200);
    let c = w.channel(id);
    assert!(c.is_closed());
    assert_eq!((c.paid, c.refunded, c.held()), (7_000, 3_000, 0));
    let fees = 3 * 10_000; // generous bound on three transactions' fees
    assert!(
        w.balance(PAYEE) + fees >= payee_start + 7_000 && w.balance(PAYEE) <= payee_start + 7_000
    );
    assert!(
        w.balance(PAYER) <= payer_start - 7_000 && w.balance(PAYER) + fees >= payer_start - 7_000
    );
    // Closing twice, settling or topping up a closed channel: refused, nothing changed.
    let again = ChannelsCall::Close { channel: id, voucher: None };
    w.refused(PAYEE, again, id, ErrorCode::ChannelClosed);
    let late = ChannelsCall::Settle { channel: id, voucher: w.voucher(id, 8_000) };
    w.refused(PAYEE, late, id, ErrorCode::ChannelClosed);
    w.refused(PAYER, ChannelsCall::TopUp { channel: id, amount: 1 }, id, ErrorCode::ChannelClosed);
}

#[test]
fn bad_vouchers_are_refused_with_their_codes_and_change_nothing() {
    let mut w = World::new();
    let id = w.open(1_000, 10);
    let other = w.open(1_000, 10);
    w.chain.run(PAYEE, ChannelsCall::Settle { channel: id, voucher: w.voucher(id, 500) }).unwrap();
    let settle = |voucher| ChannelsCall::Settle { channel: id, voucher };
    // A lower or equal cumulative amount.
    w.refused(PAYEE, settle(w.voucher(id, 499)), id, ErrorCode::StaleVoucher);
    w.refused(PAYEE, settle(w.voucher(id, 500)), id, ErrorCode::StaleVoucher);
    // A voucher for another channel (refused before execution too).
    w.refused(PAYEE, settle(w.voucher(other, 600)), id, ErrorCode::VoucherForAnotherChannel);
    // For another chain, or signed by someone other than the payer.
    let foreign = sign(&w.chain, PAYER, "another-chain", id, 600);
    w.refused(PAYEE, settle(foreign), id, ErrorCode::BadVoucher);
    let forged = sign(&w.chain, OTHER, CHAIN, id, 600);
    w.refused(PAYEE, settle(forged), id, ErrorCode::BadVoucher);
    // A tampered amount.
    let mut tampered = w.voucher(id, 600);
    tampered.voucher.cumulative = 900;
    w.refused(PAYEE, settle(tampered), id, ErrorCode::BadVoucher);
    // More than the deposit, then the deposit exactly (MAX) passes.
    w.refused(PAYEE, settle(w.voucher(id, 1_001)), id, ErrorCode::VoucherOverDeposit);
    // Only the payee settles or closes; only the payer tops up or starts a close.
    w.refused(OTHER, settle(w.voucher(id, 600)), id, ErrorCode::NotPayee);
    w.refused(PAYER, ChannelsCall::Close { channel: id, voucher: None }, id, ErrorCode::NotPayee);
    w.refused(PAYEE, ChannelsCall::TopUp { channel: id, amount: 5 }, id, ErrorCode::NotPayer);
    w.refused(OTHER, ChannelsCall::StartClose { channel: id }, id, ErrorCode::NotPayer);
    w.refused(PAYEE, ChannelsCall::Withdraw { channel: id }, id, ErrorCode::WrongChannelMode);
    let events = w.chain.run(PAYEE, settle(w.voucher(id, 1_000))).unwrap();
    assert_eq!(paid(&events), 500);
    assert_eq!(w.channel(id).held(), 0);
    // An unknown channel, and a channel to oneself.
    let unknown = ChannelsCall::Finish { channel: 99 };
    assert_eq!(w.chain.run(OTHER, unknown), Err(ErrorCode::UnknownChannel));
    let me = w.addr(PAYER);
    let selfish = ChannelsCall::Open { payee: me, asset: None, deposit: 1, challenge_blocks: 1 };
    assert_eq!(w.chain.run(PAYER, selfish), Err(ErrorCode::SelfChannel));
}

#[test]
fn a_payer_close_waits_its_challenge_period_in_which_the_payee_still_settles() {
    let mut w = World::new();
    let id = w.open(1_000, 5);
    w.chain.run(PAYER, ChannelsCall::TopUp { channel: id, amount: 500 }).unwrap();
    assert_eq!(w.channel(id).deposit, 1_500);
    w.refused(OTHER, ChannelsCall::Finish { channel: id }, id, ErrorCode::NotClosing);
    let events = w.chain.run(PAYER, ChannelsCall::StartClose { channel: id }).unwrap();
    let until = w.chain.height + 5;
    assert!(events.contains(&Event::Channels(ChannelsEvent::CloseStarted { channel: id, until })));
    w.refused(PAYER, ChannelsCall::StartClose { channel: id }, id, ErrorCode::ChannelClosing);
    w.refused(PAYER, ChannelsCall::TopUp { channel: id, amount: 1 }, id, ErrorCode::ChannelClosing);
    // The payee answers with its latest voucher during the challenge.
    w.chain
        .run(PAYEE, ChannelsCall::Settle { channel: id, voucher: w.voucher(id, 1_200) })
        .unwrap();
    while w.chain.height + 1 < until {
        w.refused(OTHER, ChannelsCall::Finish { channel: id }, id, ErrorCode::ChallengeOpen);
    }
    let payer = w.balance(PAYER);
    let events = w.chain.run(OTHER, ChannelsCall::Finish { channel: id }).unwrap();
    assert!(events.contains(&Event::Channels(ChannelsEvent::Closed {
        channel: id,
        paid: 1_200,
        refunded: 300
    })));
    assert_eq!(w.balance(PAYER), payer + 300, "the refund, with no fee paid by the payer");
    w.refused(OTHER, ChannelsCall::Finish { channel: id }, id, ErrorCode::ChannelClosed);
}

#[test]
fn a_stream_pays_by_block_time_and_either_side_cancels() {
    let mut w = World::new();
    let payee = w.addr(PAYEE);
    let open = ChannelsCall::OpenStream { payee, asset: None, deposit: 1_000, rate_per_sec: 10 };
    let id = opened(&w.chain.run(PAYER, open).unwrap());
    let Mode::Stream { start_ms, .. } = w.channel(id).mode else { panic!("a stream") };
    // Blocks are 100 ms apart: after 30 more seconds of block time, 300 have accrued.
    w.chain.wait(30_000 - 100);
    let events = w.chain.run(PAYEE, ChannelsCall::Withdraw { channel: id }).unwrap();
    assert_eq!(w.chain.now_ms - start_ms, 30_000);
    assert_eq!(paid(&events), 300);
    // Within the same second nothing more has accrued.
    w.refused(PAYEE, ChannelsCall::Withdraw { channel: id }, id, ErrorCode::NothingAccrued);
    w.refused(PAYEE, ChannelsCall::StartClose { channel: id }, id, ErrorCode::NotPayer);
    w.refused(PAYER, ChannelsCall::StartClose { channel: id }, id, ErrorCode::WrongChannelMode);
    let settle = ChannelsCall::Settle { channel: id, voucher: w.voucher(id, 10) };
    w.refused(PAYEE, settle, id, ErrorCode::WrongChannelMode);
    w.refused(OTHER, ChannelsCall::Cancel { channel: id }, id, ErrorCode::NotPayer);
    w.chain.run(PAYER, ChannelsCall::TopUp { channel: id, amount: 500 }).unwrap();
    w.chain.wait(20_000);
    let events = w.chain.run(PAYER, ChannelsCall::Cancel { channel: id }).unwrap();
    let c = w.channel(id);
    let total = (w.chain.now_ms - start_ms) / 1000 * 10;
    assert_eq!(paid(&events), total - 300);
    assert_eq!((c.paid, c.refunded), (total, 1_500 - total));
    assert!(c.is_closed());

    // A stream that ran dry pays its whole deposit and cannot be topped up.
    let open = ChannelsCall::OpenStream { payee, asset: None, deposit: 50, rate_per_sec: u64::MAX };
    let id = opened(&w.chain.run(PAYER, open).unwrap());
    w.chain.wait(1_000);
    w.refused(PAYER, ChannelsCall::TopUp { channel: id, amount: 1 }, id, ErrorCode::StreamEnded);
    let events = w.chain.run(PAYEE, ChannelsCall::Cancel { channel: id }).unwrap();
    assert_eq!(paid(&events), 50);
    assert_eq!(w.channel(id).refunded, 0);
}

#[test]
fn an_asset_channel_pays_in_its_asset() {
    let mut w = World::new();
    let asset = w.chain.create_asset(PAYER, 100);
    let me = w.addr(PAYER);
    let payee = w.addr(PAYEE);
    let open = ChannelsCall::Open { payee, asset: Some(asset), deposit: 100, challenge_blocks: 1 };
    let id = opened(&w.chain.run(PAYER, open).unwrap());
    let close = ChannelsCall::Close { channel: id, voucher: Some(w.voucher(id, 40)) };
    w.chain.run(PAYEE, close).unwrap();
    let balance = |w: &World, who: &Address| w.chain.asset_balance(asset, who);
    assert_eq!((balance(&w, &payee), balance(&w, &me)), (40, 60));
    let unknown =
        ChannelsCall::Open { payee, asset: Some(asset + 1), deposit: 1, challenge_blocks: 1 };
    assert!(w.chain.run(PAYER, unknown).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whichever vouchers the payee settles, in whatever order, it is paid exactly the
    /// highest it settled, never more than the deposit, and the payer gets the rest.
    #[test]
    fn settling_any_vouchers_pays_exactly_the_highest(
        deposit in 1u64..=START / 2,
        cumulative in proptest::collection::vec(0u64..=START, 1..8),
    ) {
        let mut w = World::new();
        let id = w.open(deposit, 1);
        let mut best = 0;
        for amount in cumulative {
            let result = w.chain.run(PAYEE, ChannelsCall::Settle { channel: id, voucher: w.voucher(id, amount) });
            if amount > best && amount <= deposit {
                prop_assert!(result.is_ok());
                best = amount;
            } else {
                prop_assert!(result.is_err());
            }
            prop_assert_eq!(w.channel(id).paid, best);
        }
        w.chain.run(PAYEE, ChannelsCall::Close { channel: id, voucher: None }).unwrap();
        let c = w.channel(id);
        prop_assert_eq!((c.paid, c.refunded), (best, deposit - best));
    }
}
