//! Revenue to share holders in O(1), exactly.
//!
//! A machine's shares have a fixed supply. Each payment of revenue to the holders raises one
//! number, the revenue paid so far ([`RevenueIndex::credited`]). A holder's position
//! ([`Holding`]) remembers that number at its last settlement; what its shares earned since
//! is `shares * (credited - checkpoint) / supply`, computed only when the holder acts or its
//! shares move. A share transfer settles both sides first, so revenue earned before a
//! transfer stays with the seller and the buyer earns from the transfer on. The cost of a
//! payment, a claim or a transfer does not depend on the number of holders.
//!
//! The division is exact: a holding keeps what it is owed in whole units and the rest as a
//! fraction over the supply ([`Holding::fraction`]), carried into its next settlement. So a
//! holder of a quarter of the shares is owed exactly a quarter of every payment made while
//! it held them, and with all holdings settled, `(claimed + owed) * supply + fractions =
//! credited * supply`: the fractions add up to whole units, the dust ([`dust`]) nobody can
//! claim, never lost and never created.
//!
//! Every sum is checked: a payment or settlement that would overflow fails with
//! [`ErrorCode::Overflow`] and changes nothing. (A settlement multiplies the holding's shares
//! by the revenue since its checkpoint: with at most `2^64` units paid between two
//! settlements of one holding, the product fits.)

use crate::{Amount, ErrorCode};
use serde::{Deserialize, Serialize};

/// Revenue paid to a fixed supply of shares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RevenueIndex {
    /// Revenue paid in so far, in units.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub credited: u128,
}

/// One holder's position: the index its shares were last settled at, and what they have
/// earned and it has not claimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Holding {
    /// [`RevenueIndex::credited`] at the last settlement.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub checkpoint: u128,
    /// Earned and not claimed, in whole units.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub owed: u128,
    /// Earned beyond `owed`, in `1 / supply` of a unit (less than the supply).
    pub fraction: u64,
}

crate::struct_codec!(RevenueIndex { credited: plain });
crate::struct_codec!(Holding { checkpoint: plain, owed: plain, fraction: plain });

impl RevenueIndex {
    /// Pays `amount` units of revenue to the holders.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Overflow`] if the index would overflow; nothing changes then.
    pub fn credit(&mut self, amount: Amount) -> Result<(), ErrorCode> {
        self.credited = self.credited.checked_add(u128::from(amount)).ok_or(ErrorCode::Overflow)?;
        Ok(())
    }
}

impl Holding {
    /// A holding that starts earning now (it earned nothing before).
    pub fn starting(index: &RevenueIndex) -> Self {
        Self { checkpoint: index.credited, owed: 0, fraction: 0 }
    }

    /// Adds what `shares` of `supply` earned since the checkpoint and moves the checkpoint
    /// to now. Call it before the holding's shares change.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Overflow`] if the product or what is owed would overflow; nothing
    /// changes then.
    pub fn settle(
        &mut self,
        index: &RevenueIndex,
        shares: u64,
        supply: u64,
    ) -> Result<(), ErrorCode> {
        debug_assert!(supply > 0 && shares <= supply, "shares are part of a positive supply");
        let supply = u128::from(supply.max(1));
        let since = index.credited.checked_sub(self.checkpoint).ok_or(ErrorCode::Overflow)?;
        let earned = since
            .checked_mul(u128::from(shares))
            .and_then(|e| e.checked_add(u128::from(self.fraction)))
            .ok_or(ErrorCode::Overflow)?;
        let owed = self.owed.checked_add(earned / supply).ok_or(ErrorCode::Overflow)?;
        // Less than the supply, a u64.
        let fraction = (earned % supply) as u64;
        *self = Self { checkpoint: index.credited, owed, fraction };
        Ok(())
    }

    /// The whole units owed (settle first).
    pub fn claimable(&self) -> u128 {
        self.owed
    }

    /// Takes the whole units owed (settle first) and returns them; the fraction stays.
    pub fn claim(&mut self) -> u128 {
        core::mem::take(&mut self.owed)
    }
}

/// What no holder can claim, in whole units, once every holding of a machine with `supply`
/// shares is settled: their fractions added up. `None` if they do not add up to whole units
/// (a broken invariant: some revenue was lost or created).
pub fn dust<'a>(supply: u64, holdings: impl IntoIterator<Item = &'a Holding>) -> Option<u128> {
    let supply = u128::from(supply.max(1));
    let mut fractions: u128 = 0;
    for holding in holdings {
        fractions = fractions.checked_add(u128::from(holding.fraction))?;
    }
    fractions.is_multiple_of(supply).then_some(fractions / supply)
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
                    self.index.credit(amount).unwrap();
                    for h in 0..HOLDERS {
                        self.exact[h] += u128::from(amount) * u128::from(self.shares[h]);
                    }
                }
                Op::Transfer { from, to, shares } => {
                    let shares = shares.min(self.shares[from]);
                    self.holdings[from]
                        .settle(&self.index, self.shares[from], self.supply)
                        .unwrap();
                    self.holdings[to].settle(&self.index, self.shares[to], self.supply).unwrap();
                    self.shares[from] -= shares;
                    self.shares[to] += shares;
                }
                Op::Claim(h) => {
                    self.holdings[h].settle(&self.index, self.shares[h], self.supply).unwrap();
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
            let dust = dust(m.supply, m.holdings.iter()).expect("fractions add up to whole units");
            prop_assert_eq!(claimed + dust, m.index.credited, "revenue is neither lost nor created");
            let supply = u128::from(supply);
            for h in 0..HOLDERS {
                // Exactly what was earned, less a fraction of a unit (in particular nothing
                // paid before the holder held shares).
                prop_assert!(m.claimed[h] * supply <= m.exact[h], "holder {} got more than it earned", h);
                prop_assert!((m.claimed[h] + 1) * supply > m.exact[h], "holder {} lost revenue", h);
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
        // Three shares, one unit at a time: each unit splits into thirds.
        let mut index = RevenueIndex::default();
        let mut holdings = [Holding::default(); 3];
        index.credit(1).unwrap();
        let mut claimed = 0;
        for holding in &mut holdings {
            holding.settle(&index, 1, 3).unwrap();
            claimed += holding.claim();
        }
        // Each holder is owed a third: nothing is claimable yet, the unit is dust.
        assert_eq!(claimed, 0);
        assert_eq!(dust(3, holdings.iter()), Some(1));
        // Two more units: each holder has earned exactly one unit in all.
        index.credit(2).unwrap();
        for holding in &mut holdings {
            holding.settle(&index, 1, 3).unwrap();
            claimed += holding.claim();
        }
        assert_eq!(claimed, 3);
        assert_eq!(dust(3, holdings.iter()), Some(0));
    }

    #[test]
    fn a_quarter_of_the_shares_earns_exactly_a_quarter() {
        let mut index = RevenueIndex::default();
        let mut holding = Holding::starting(&index);
        index.credit(396).unwrap();
        holding.settle(&index, 250, 1_000).unwrap();
        assert_eq!(holding.claim(), 99);
        assert_eq!(holding.fraction, 0);
    }

    #[test]
    fn an_overflowing_settlement_fails_and_changes_nothing() {
        let mut index = RevenueIndex { credited: u128::MAX - 1 };
        assert_eq!(index.credit(u64::MAX), Err(ErrorCode::Overflow));
        assert_eq!(index.credited, u128::MAX - 1);
        let mut holding = Holding::default();
        let held = holding;
        assert_eq!(holding.settle(&index, 2, 2), Err(ErrorCode::Overflow));
        assert_eq!(holding, held);
        let mut full = Holding { checkpoint: 0, owed: u128::MAX, fraction: 0 };
        let held = full;
        assert_eq!(full.settle(&RevenueIndex { credited: 1 }, 1, 1), Err(ErrorCode::Overflow));
        assert_eq!(full, held);
    }
}
