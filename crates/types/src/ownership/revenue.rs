//! Revenue to share holders in O(1): a reward-per-share index.
//!
//! A machine's shares have a fixed supply. Each payment of revenue raises one number, the
//! revenue per share so far ([`RevenueIndex::per_share`], in units of `1 / INDEX_SCALE`
//! of the smallest token unit). A holder's position ([`Holding`]) remembers the index it
//! was last settled at; what it earned since is `shares * (per_share - checkpoint)`,
//! computed only when the holder acts or its shares move. A share transfer settles both
//! sides first, so revenue earned before a transfer stays with the seller and the buyer
//! earns from the transfer on. The cost of a payment, a claim or a transfer does not depend
//! on the number of holders.
//!
//! Rounding is accounted, never lost or created: the index keeps the part of each payment
//! that does not divide by the supply ([`RevenueIndex::remainder`]; it is never paid out,
//! not even later, so nobody receives a fraction of revenue paid before it held shares),
//! and each holding keeps the fraction of a unit it earned but cannot claim yet. With `C`
//! the payments so far, `sum(claimed) * INDEX_SCALE + sum(owed) + remainder = C *
//! INDEX_SCALE` exactly, so what no holder can claim ([`dust`]) is a whole number of units.
//!
//! Every sum is checked: a payment, settlement or claim that would overflow fails with
//! [`ErrorCode::Overflow`] and changes nothing.

use crate::{Amount, ErrorCode};
use serde::{Deserialize, Serialize};

/// Fixed-point scale of the index: revenue per share is counted in `1 / 2^32` of the
/// smallest unit.
pub const INDEX_SCALE: u128 = 1 << 32;

// `per_share` grows by at most `amount * INDEX_SCALE / supply` per payment: one payment of
// `u64::MAX` units to a single share raises it by `u64::MAX * INDEX_SCALE`, so the index
// holds 2^32 such payments. A holding's earnings since its checkpoint,
// `shares * (per_share - checkpoint)` with `shares <= supply`, are at most the revenue paid
// since times `INDEX_SCALE`: within the same bound.
const _: () = assert!((u64::MAX as u128) * INDEX_SCALE <= u128::MAX >> 32);

/// Revenue paid to a fixed supply of shares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RevenueIndex {
    /// Revenue per share so far, scaled by [`INDEX_SCALE`].
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub per_share: u128,
    /// The scaled parts of the payments so far that did not divide by the supply (less than
    /// the supply per payment); kept, never paid to holders.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub remainder: u128,
    /// Revenue paid in so far, in units.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub credited: u128,
}

/// One holder's position: the index its shares were last settled at, and what they have
/// earned and it has not claimed (scaled by [`INDEX_SCALE`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Holding {
    /// [`RevenueIndex::per_share`] at the last settlement.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub checkpoint: u128,
    /// Earned and not claimed, scaled by [`INDEX_SCALE`].
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub owed: u128,
}

crate::struct_codec!(RevenueIndex { per_share: plain, remainder: plain, credited: plain });
crate::struct_codec!(Holding { checkpoint: plain, owed: plain });

impl RevenueIndex {
    /// Pays `amount` units of revenue to `supply` shares.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Overflow`] if the index would overflow; nothing changes then.
    pub fn credit(&mut self, amount: Amount, supply: u64) -> Result<(), ErrorCode> {
        debug_assert!(supply > 0, "shares have a positive supply");
        let supply = u128::from(supply.max(1));
        let scaled = u128::from(amount).checked_mul(INDEX_SCALE).ok_or(ErrorCode::Overflow)?;
        let per_share = self.per_share.checked_add(scaled / supply).ok_or(ErrorCode::Overflow)?;
        let remainder = self.remainder.checked_add(scaled % supply).ok_or(ErrorCode::Overflow)?;
        let credited = self.credited.checked_add(u128::from(amount)).ok_or(ErrorCode::Overflow)?;
        *self = Self { per_share, remainder, credited };
        Ok(())
    }
}

impl Holding {
    /// A holding that starts earning now (it earned nothing before).
    pub fn starting(index: &RevenueIndex) -> Self {
        Self { checkpoint: index.per_share, owed: 0 }
    }

    /// Adds what `shares` earned since the checkpoint and moves the checkpoint to now.
    /// Call it before the holding's shares change.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Overflow`] if what is owed would overflow; nothing changes then.
    pub fn settle(&mut self, index: &RevenueIndex, shares: u64) -> Result<(), ErrorCode> {
        let since = index.per_share.checked_sub(self.checkpoint).ok_or(ErrorCode::Overflow)?;
        let earned = since.checked_mul(u128::from(shares)).ok_or(ErrorCode::Overflow)?;
        let owed = self.owed.checked_add(earned).ok_or(ErrorCode::Overflow)?;
        *self = Self { checkpoint: index.per_share, owed };
        Ok(())
    }

    /// The whole units owed (settle first); the fraction of a unit stays owed.
    pub fn claimable(&self) -> u128 {
        self.owed / INDEX_SCALE
    }

    /// Takes the whole units owed (settle first) and returns them.
    pub fn claim(&mut self) -> u128 {
        let units = self.claimable();
        self.owed -= units * INDEX_SCALE;
        units
    }
}

/// What no holder can claim, in whole units, once every holding is settled: the index's
/// remainder and the holdings' fractions of a unit. `None` if they do not add up to whole units
/// (a broken invariant: some revenue was lost or created).
pub fn dust<'a>(
    index: &RevenueIndex,
    holdings: impl IntoIterator<Item = &'a Holding>,
) -> Option<u128> {
    let mut fractions = index.remainder;
    for holding in holdings {
        fractions = fractions.checked_add(holding.owed % INDEX_SCALE)?;
    }
    fractions.is_multiple_of(INDEX_SCALE).then_some(fractions / INDEX_SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOLDERS: usize = 4;

    #[derive(Clone, Debug)]
    enum Op {
        /// Revenue paid to the machine.
        Pay(u64),
        /// `shares` move from one holder to another (as many as the sender has, at most).
        Transfer { from: usize, to: usize, shares: u64 },
        /// A holder claims.
        Claim(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(u32::MAX as u64 - 1),
                Just(u32::MAX as u64),
                0..=u32::MAX as u64
            ]
            .prop_map(Op::Pay),
            (0..HOLDERS, 0..HOLDERS, 0..=1_000_000u64)
                .prop_map(|(from, to, shares)| Op::Transfer { from, to, shares }),
            (0..HOLDERS).prop_map(Op::Claim),
        ]
    }

    /// A machine with `supply` shares held by holder 0, run through `ops`: holders settle
    /// before their shares move and claim whenever they like.
    struct Machine {
        index: RevenueIndex,
        supply: u64,
        shares: [u64; HOLDERS],
        holdings: [Holding; HOLDERS],
        claimed: [u128; HOLDERS],
        /// Exactly earned by each holder, times the supply (so it is an integer).
        exact: [u128; HOLDERS],
    }

    impl Machine {
        fn new(supply: u64) -> Self {
            let mut shares = [0; HOLDERS];
            shares[0] = supply;
            Self {
                index: RevenueIndex::default(),
                supply,
                shares,
                holdings: [Holding::default(); HOLDERS],
                claimed: [0; HOLDERS],
                exact: [0; HOLDERS],
            }
        }

        fn apply(&mut self, op: &Op) {
            match *op {
                Op::Pay(amount) => {
                    self.index.credit(amount, self.supply).unwrap();
                    for h in 0..HOLDERS {
                        self.exact[h] += u128::from(amount) * u128::from(self.shares[h]);
                    }
                }
                Op::Transfer { from, to, shares } => {
                    let shares = shares.min(self.shares[from]);
                    self.holdings[from].settle(&self.index, self.shares[from]).unwrap();
                    self.holdings[to].settle(&self.index, self.shares[to]).unwrap();
                    self.shares[from] -= shares;
                    self.shares[to] += shares;
                }
                Op::Claim(h) => {
                    self.holdings[h].settle(&self.index, self.shares[h]).unwrap();
                    self.claimed[h] += self.holdings[h].claim();
                }
            }
        }
    }

    proptest! {
        #[test]
        fn claims_plus_dust_equal_revenue_and_nobody_gets_what_others_earned(
            supply in prop_oneof![Just(1u64), Just(2), Just(1_000), 1..=1_000_000u64],
            ops in proptest::collection::vec(op(), 0..64),
        ) {
            let mut m = Machine::new(supply);
            for op in &ops {
                m.apply(op);
            }
            for h in 0..HOLDERS {
                m.apply(&Op::Claim(h));
            }
            let claimed: u128 = m.claimed.iter().sum();
            let dust = dust(&m.index, m.holdings.iter()).expect("fractions add up to whole units");
            prop_assert_eq!(claimed + dust, m.index.credited, "revenue is neither lost nor created");
            let payments = ops.iter().filter(|o| matches!(o, Op::Pay(_))).count() as u128;
            let supply = u128::from(supply);
            for h in 0..HOLDERS {
                // Never more than earned (in particular nothing paid before the holder held
                // shares), and at most one unit short per payment plus one for the fraction.
                prop_assert!(m.claimed[h] * supply <= m.exact[h], "holder {} got more than it earned", h);
                prop_assert!((m.claimed[h] + payments + 1) * supply > m.exact[h], "holder {} lost revenue", h);
            }
        }
    }

    #[test]
    fn a_buyer_earns_only_from_the_transfer_on() {
        let mut m = Machine::new(100);
        m.apply(&Op::Pay(1_000));
        m.apply(&Op::Transfer { from: 0, to: 1, shares: 50 });
        m.apply(&Op::Pay(1_000));
        m.apply(&Op::Claim(0));
        m.apply(&Op::Claim(1));
        assert_eq!(m.claimed[0], 1_500, "the seller keeps what was earned before the transfer");
        assert_eq!(m.claimed[1], 500);
    }

    #[test]
    fn rounding_is_kept_and_never_lost() {
        // Three shares, one unit at a time: each unit splits into thirds, with a remainder
        // of a 2^32th of a unit each time.
        let mut index = RevenueIndex::default();
        let mut holdings = [Holding::default(); 3];
        for _ in 0..3 {
            index.credit(1, 3).unwrap();
        }
        let mut claimed = 0;
        for holding in &mut holdings {
            holding.settle(&index, 1).unwrap();
            claimed += holding.claim();
        }
        // Each holder is owed a hair under one unit (three times a third, rounded down):
        // nothing is claimable yet, and the three units are all accounted as dust.
        assert_eq!(claimed, 0);
        assert_eq!(dust(&index, holdings.iter()), Some(3));
        // Three more units divide exactly: each holder now claims one.
        index.credit(3, 3).unwrap();
        for holding in &mut holdings {
            holding.settle(&index, 1).unwrap();
            claimed += holding.claim();
        }
        assert_eq!(claimed, 3);
        assert_eq!(claimed + dust(&index, holdings.iter()).unwrap(), 6);
    }

    #[test]
    fn an_overflowing_payment_fails_and_changes_nothing() {
        let mut index = RevenueIndex { per_share: u128::MAX - 1, remainder: 0, credited: 0 };
        let before = index;
        assert_eq!(index.credit(u64::MAX, 1), Err(ErrorCode::Overflow));
        assert_eq!(index, before);
        let mut holding = Holding { checkpoint: 0, owed: u128::MAX };
        let held = holding;
        assert_eq!(
            holding.settle(&RevenueIndex { per_share: 1, ..before }, 1),
            Err(ErrorCode::Overflow)
        );
        assert_eq!(holding, held);
    }
}
