//! Machines, offerings, revenue and governance on the test chain, whose invariants
//! (treasury covers reserve and holders, revenue owed equals revenue distributed, escrow
//! equals what offerings and proposals hold, supplies conserved) are checked after every
//! block.

use super::{escrow_account, keys, state::*};
use crate::modules::identity::tests::{Fixture, OTHER, OWNER};
use crate::testing::Chain;
use machina_types::{
    Address, BankCall, Call, DeviceId, ErrorCode, Event, Hash, IdentityCall, OwnershipCall,
    identity::roles,
    ownership::{Governance, MachineId, Milestone, OfferingId, OwnershipEvent, Tranche, treasury},
};
use proptest::prelude::*;

const A: usize = 4;
const B: usize = 5;
const C: usize = 6;
const D: usize = 7;
const PRICE: u64 = 1_000;

fn rules() -> Governance {
    Governance {
        threshold_bps: 100,
        deposit: 50_000,
        quorum_bps: 2_000,
        approval_bps: 6_000,
        voting_blocks: 10,
        timelock_blocks: 5,
        execution_blocks: 20,
    }
}

struct Machines {
    f: Fixture,
}

impl Machines {
    fn new() -> Self {
        Self { f: Fixture::with_chain(Chain::new(8)) }
    }

    fn chain(&mut self) -> &mut Chain {
        &mut self.f.chain
    }

    fn addr(&self, i: usize) -> Address {
        self.f.chain.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.f.chain.balance(&self.addr(i))
    }

    fn height(&self) -> u64 {
        self.f.chain.height
    }

    /// Runs empty blocks until the chain's height is `height`.
    fn until(&mut self, height: u64) {
        while self.f.chain.height < height {
            self.f.chain.block(vec![]);
        }
    }

    /// Onboards a device to OWNER and tokenizes it into `supply` shares, `retained` kept.
    fn tokenize(&mut self, serial: u64, supply: u64, retained: u64, reserve_bps: u16) -> Machine {
        let device = self.f.onboard(serial, OWNER);
        let call = OwnershipCall::Tokenize {
            devices: vec![device],
            symbol: format!("WT{serial}"),
            name: format!("Wind turbine {serial}"),
            supply,
            retained,
            reserve_bps,
            governance: Some(rules()),
        };
        let events = self.chain().run(OWNER, call).unwrap();
        let id = events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Tokenized { machine, .. }) => Some(*machine),
                _ => None,
            })
            .unwrap();
        self.machine(id)
    }

    fn machine(&self, id: MachineId) -> Machine {
        self.f.chain.state.get(&keys::machine(id)).unwrap()
    }

    fn shares(&self, m: &Machine, holder: &Address) -> u64 {
        self.f
            .chain
            .state
            .get(&crate::modules::bank::keys::asset_balance(m.shares, holder))
            .unwrap_or(0)
    }

    fn offering(&self, id: OfferingId) -> Offering {
        self.f.chain.state.get(&keys::offering(id)).unwrap()
    }

    fn offer(&mut self, m: &Machine, shares: u64, min: u64, deadline: u64) -> OfferingId {
        self.offer_with(m, shares, min, deadline, vec![])
    }

    fn offer_with(
        &mut self,
        m: &Machine,
        shares: u64,
        min: u64,
        deadline: u64,
        tranches: Vec<Tranche>,
    ) -> OfferingId {
        let call = offering_call(m.id, shares, min, deadline, self.addr(OWNER), tranches);
        let events = self.chain().run(OWNER, call).unwrap();
        match &events[0] {
            Event::Ownership(OwnershipEvent::OfferingCreated { offering, .. }) => *offering,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Pays `amount` of income into the machine's treasury (a customer paying it).
    fn pay(&mut self, m: &Machine, amount: u64) {
        self.chain().run(OTHER, BankCall::Transfer { to: m.treasury, amount }).unwrap();
    }

    fn give(&mut self, m: &Machine, from: usize, to: usize, amount: u64) -> Result<(), ErrorCode> {
        let to = self.addr(to);
        self.chain().run(from, BankCall::TransferAsset { asset: m.shares, to, amount }).map(drop)
    }

    fn claim(&mut self, m: &Machine, who: usize) -> Result<u64, ErrorCode> {
        let events = self.chain().run(who, OwnershipCall::Claim { machine: m.id })?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Claimed { amount, .. }) => Some(*amount),
                _ => None,
            })
            .unwrap())
    }

    fn propose(&mut self, m: &Machine, who: usize, calls: Vec<Call>) -> Result<u64, ErrorCode> {
        let call = OwnershipCall::Propose { machine: m.id, calls, description: Hash::of(&[b"d"]) };
        let events = self.chain().run(who, call)?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Proposed { proposal, .. }) => Some(*proposal),
                _ => None,
            })
            .unwrap())
    }

    fn vote(&mut self, proposal: u64, who: usize, approve: bool) -> Result<(), ErrorCode> {
        self.chain().run(who, OwnershipCall::Vote { proposal, approve }).map(drop)
    }

    fn proposal(&self, id: u64) -> Proposal {
        self.f.chain.state.get(&keys::proposal(id)).unwrap()
    }

    /// A machine whose 1,000 shares are held 400 by OWNER (its sponsor), 300 by A and 300
    /// by B, with nothing in the treasury, and the governance [`rules`].
    fn held(&mut self, reserve_bps: u16) -> Machine {
        let m = self.tokenize(1, 1_000, 1_000, reserve_bps);
        self.give(&m, OWNER, A, 300).unwrap();
        self.give(&m, OWNER, B, 300).unwrap();
        m
    }
}

fn offering_call(
    machine: MachineId,
    shares: u64,
    min_shares: u64,
    deadline: u64,
    beneficiary: Address,
    tranches: Vec<Tranche>,
) -> OwnershipCall {
    OwnershipCall::CreateOffering {
        machine,
        shares,
        price: PRICE,
        asset: None,
        min_shares,
        buyer_min: 10,
        buyer_max: 300,
        deadline,
        beneficiary,
        tranches,
        milestones_by: deadline + 100,
    }
}

fn buy(offering: OfferingId, shares: u64) -> OwnershipCall {
    OwnershipCall::Buy { offering, shares }
}

#[test]
fn tokenizing_hands_the_devices_to_the_treasury_and_keeps_their_role_grants() {
    let mut t = Machines::new();
    let device = t.f.onboard(1, OWNER);
    let seller = t.addr(OTHER);
    let grant = IdentityCall::GrantRole {
        device,
        account: seller,
        role: roles::SELLER.into(),
        expiry_height: None,
    };
    t.chain().run(OWNER, grant).unwrap();
    let before = t.f.device(&device);
    let call = OwnershipCall::Tokenize {
        devices: vec![device],
        symbol: "WT".into(),
        name: "Wind turbine".into(),
        supply: 1_000,
        retained: 100,
        reserve_bps: 1_000,
        governance: None,
    };
    t.chain().run(OWNER, call.clone()).unwrap();
    let m = t.machine(1);
    let after = t.f.device(&device);
    assert_eq!(after.owner, treasury(1));
    assert_eq!(m.treasury, treasury(1));
    assert_eq!(after.ownership, before.ownership, "grants made before stay valid");
    let g: machina_types::identity::state::RoleGrant =
        t.f.chain
            .state
            .get(&crate::modules::identity::keys::role(&device, &seller, roles::SELLER))
            .unwrap();
    assert!(g.holds(&after, t.height()));
    assert_eq!(t.shares(&m, &t.addr(OWNER)), 100);
    assert_eq!(t.shares(&m, &m.treasury), 900);
    assert_eq!(m.governance, t.f.chain.genesis.params.ownership.governance);

    // The former owner can neither move the device nor tokenize it again, and nobody can
    // change the share supply.
    let to = t.addr(OTHER);
    let transfer = IdentityCall::TransferDevice { device, to };
    assert_eq!(t.chain().run(OWNER, transfer), Err(ErrorCode::NotDeviceOwner));
    assert_eq!(t.chain().run(OWNER, call), Err(ErrorCode::NotDeviceOwner));
    let burn = BankCall::BurnAsset { asset: m.shares, amount: 1 };
    assert_eq!(t.chain().run(OWNER, burn), Err(ErrorCode::SharesFixed));
    let mint = BankCall::MintAsset { asset: m.shares, to, amount: 1 };
    assert_eq!(t.chain().run(OWNER, mint), Err(ErrorCode::SharesFixed));
    assert_eq!(t.f.device(&device).owner, treasury(1));
}

#[test]
fn devices_someone_else_owns_or_listed_twice_are_not_tokenized() {
    let mut t = Machines::new();
    let mine = t.f.onboard(1, OWNER);
    let theirs = t.f.onboard(2, OTHER);
    let call = |devices: Vec<DeviceId>| OwnershipCall::Tokenize {
        devices,
        symbol: "F".into(),
        name: "Fleet".into(),
        supply: 10,
        retained: 0,
        reserve_bps: 0,
        governance: None,
    };
    assert_eq!(t.chain().run(OWNER, call(vec![mine, theirs])), Err(ErrorCode::NotDeviceOwner));
    assert_eq!(call(vec![mine, mine]).check_call(), Err(ErrorCode::InvalidCall));
    assert_eq!(t.f.device(&mine).owner, t.addr(OWNER), "nothing changed");
    assert!(t.f.chain.state.get::<Machine>(&keys::machine(1)).is_none());
}

trait CheckCall {
    fn check_call(&self) -> Result<(), ErrorCode>;
}

impl CheckCall for OwnershipCall {
    fn check_call(&self) -> Result<(), ErrorCode> {
        machina_types::ModuleCall::check(self)
    }
}

#[test]
fn an_offering_that_meets_its_minimum_delivers_shares_and_funds() {
    let mut t = Machines::new();
    let m = t.tokenize(1, 1_000, 100, 0);
    let deadline = t.height() + 10;
    let o = t.offer(&m, 600, 300, deadline);
    assert_eq!(t.machine(m.id).offered, 600);
    let owner_before = t.balance(OWNER);
    t.chain().run(A, buy(o, 200)).unwrap();
    t.chain().run(B, buy(o, 150)).unwrap();
    t.chain().run(C, buy(o, 100)).unwrap();
    // Per-buyer limits: at least 10 per purchase, at most 300 per buyer in all.
    assert_eq!(t.chain().run(A, buy(o, 101)), Err(ErrorCode::PurchaseOutOfBounds));
    assert_eq!(t.chain().run(D, buy(o, 9)), Err(ErrorCode::PurchaseOutOfBounds));
    assert_eq!(t.chain().run(D, buy(o, 301)), Err(ErrorCode::PurchaseOutOfBounds));
    assert_eq!(t.balance_of_escrow(), 450 * PRICE);
    assert_eq!(t.shares(&m, &t.addr(A)), 0, "shares move at the close");

    t.until(deadline);
    assert_eq!(t.offering(o).status, OfferingStatus::Open);
    t.chain().block(vec![]);
    let o_now = t.offering(o);
    assert_eq!(o_now.status, OfferingStatus::Succeeded);
    assert_eq!(t.shares(&m, &t.addr(A)), 200);
    assert_eq!(t.shares(&m, &t.addr(B)), 150);
    assert_eq!(t.shares(&m, &t.addr(C)), 100);
    assert_eq!(t.shares(&m, &m.treasury), 900 - 450, "unsold shares stay with the treasury");
    assert_eq!(t.machine(m.id).offered, 0);
    assert_eq!(t.balance(OWNER), owner_before + 450 * PRICE, "the beneficiary is paid");
    assert_eq!(t.balance_of_escrow(), 0);
    // Closed: no more purchases, and the sponsor may no longer sell treasury shares alone.
    assert_eq!(t.chain().run(D, buy(o, 10)), Err(ErrorCode::OfferingClosed));
    let again = offering_call(m.id, 10, 10, t.height() + 5, t.addr(OWNER), vec![]);
    assert_eq!(t.chain().run(OWNER, again), Err(ErrorCode::NotMachineController));
}

impl Machines {
    fn balance_of_escrow(&self) -> u64 {
        self.f.chain.balance(&escrow_account())
    }
}

#[test]
fn an_offering_that_misses_its_minimum_refunds_every_buyer_in_full() {
    let mut t = Machines::new();
    let m = t.tokenize(1, 1_000, 0, 0);
    let deadline = t.height() + 6;
    let o = t.offer(&m, 500, 400, deadline);
    let mut paid_in = Vec::new();
    for (who, shares) in [(A, 120), (B, 80), (A, 30)] {
        t.chain().run(who, buy(o, shares)).unwrap();
        paid_in.push((who, shares * PRICE));
    }
    let after_buying = [t.balance(A), t.balance(B)];
    t.until(deadline + 1);
    assert_eq!(t.offering(o).status, OfferingStatus::Failed);
    assert_eq!(t.balance(A), after_buying[0] + 150 * PRICE);
    assert_eq!(t.balance(B), after_buying[1] + 80 * PRICE);
    assert_eq!(t.shares(&m, &t.addr(A)), 0);
    assert_eq!(t.shares(&m, &m.treasury), 1_000);
    assert_eq!(t.machine(m.id).offered, 0, "the shares are free to offer again");
    assert_eq!(t.balance_of_escrow(), 0);
    assert_eq!(t.chain().run(C, buy(o, 10)), Err(ErrorCode::OfferingClosed));
}

#[test]
fn offerings_refuse_deadlines_in_the_past_and_more_shares_than_the_treasury_has() {
    let mut t = Machines::new();
    let m = t.tokenize(1, 1_000, 400, 0);
    let owner = t.addr(OWNER);
    let past = offering_call(m.id, 100, 10, t.height() - 1, owner, vec![]);
    assert_eq!(t.chain().run(OWNER, past), Err(ErrorCode::BadOfferingDeadline));
    let too_many = offering_call(m.id, 601, 10, t.height() + 5, owner, vec![]);
    assert_eq!(t.chain().run(OWNER, too_many), Err(ErrorCode::SharesUnavailable));
    t.offer(&m, 400, 10, t.height() + 5);
    let rest = offering_call(m.id, 201, 10, t.height() + 5, owner, vec![]);
    assert_eq!(t.chain().run(OWNER, rest), Err(ErrorCode::SharesUnavailable), "400 reserved");
    let stranger = offering_call(m.id, 10, 10, t.height() + 5, owner, vec![]);
    assert_eq!(t.chain().run(A, stranger), Err(ErrorCode::NotMachineController));
    let mut in_shares = offering_call(m.id, 100, 10, t.height() + 5, owner, vec![]);
    if let OwnershipCall::CreateOffering { asset, .. } = &mut in_shares {
        *asset = Some(m.shares);
    }
    assert_eq!(t.chain().run(OWNER, in_shares), Err(ErrorCode::SharesNotAccepted));
}

#[test]
fn tranches_are_released_on_milestones_or_to_the_treasury_when_time_runs_out() {
    let mut t = Machines::new();
    let m = t.tokenize(1, 1_000, 0, 0);
    let deadline = t.height() + 4;
    let tranches = vec![
        Tranche { bps: 5_000, milestone: Milestone::Close {} },
        Tranche { bps: 3_000, milestone: Milestone::DevicesActive {} },
        Tranche { bps: 2_000, milestone: Milestone::LeasesDelivered { count: 5 } },
    ];
    let o = t.offer_with(&m, 333, 1, deadline, tranches);
    t.chain().run(A, buy(o, 33)).unwrap();
    let raised = 33 * PRICE;
    let owner_before = t.balance(OWNER);
    t.until(deadline + 1);
    assert_eq!(t.balance(OWNER), owner_before + raised / 2, "the close tranche");
    let release = |tranche| OwnershipCall::ReleaseTranche { offering: o, tranche };
    assert_eq!(t.chain().run(C, release(0)), Err(ErrorCode::TrancheUnavailable), "released");
    t.chain().run(C, release(1)).unwrap();
    assert_eq!(t.balance(OWNER), owner_before + raised / 2 + raised * 3 / 10);
    assert_eq!(t.chain().run(C, release(2)), Err(ErrorCode::MilestoneUnmet));
    assert_eq!(t.chain().run(C, release(3)), Err(ErrorCode::TrancheUnavailable));
    // Nobody delivered five leases before `milestones_by`: the last part goes to the
    // treasury, that is to the holders.
    t.until(deadline + 101);
    t.chain().run(C, release(2)).unwrap();
    assert_eq!(t.balance_of_escrow(), 0);
    assert_eq!(t.f.chain.balance(&m.treasury), raised / 5);
    assert_eq!(t.claim(&m, A).unwrap(), raised / 5 * 33 / 1_000, "A holds 33 of 1,000");
}

#[test]
fn revenue_is_claimed_in_proportion_and_stays_with_the_seller_across_a_transfer() {
    let mut t = Machines::new();
    let m = t.held(1_000);
    t.pay(&m, 1_000_000);
    // 10% to the reserve, 900,000 to holders: 400, 300 and 300 of 1,000 shares.
    assert_eq!(t.claim(&m, A).unwrap(), 270_000);
    assert_eq!(t.claim(&m, A), Err(ErrorCode::NothingToClaim));
    // B keeps what it earned while selling its shares to C; C earns from then on.
    t.give(&m, B, C, 300).unwrap();
    t.pay(&m, 1_000_000);
    assert_eq!(t.claim(&m, B).unwrap(), 270_000);
    assert_eq!(t.claim(&m, C).unwrap(), 270_000);
    assert_eq!(t.claim(&m, OWNER).unwrap(), 720_000);
    assert_eq!(t.claim(&m, D), Err(ErrorCode::NothingToClaim), "not a holder");
    let machine = t.machine(m.id);
    assert_eq!(machine.reserve, 200_000);
    assert_eq!(machine.index.credited, 1_800_000);
}

#[test]
fn votes_count_the_shares_held_when_the_proposal_was_made() {
    let mut t = Machines::new();
    let m = t.held(10_000);
    t.pay(&m, 1_000_000);
    let d = t.addr(D);
    let spend = BankCall::Transfer { to: d, amount: 400_000 };
    assert_eq!(t.propose(&m, D, vec![spend.clone().into()]), Err(ErrorCode::BelowThreshold));
    let a_before = t.balance(A);
    let p = t.propose(&m, A, vec![spend.into()]).unwrap();
    assert!(t.balance(A) < a_before - 50_000 + 1, "the deposit is locked");
    assert_eq!(t.vote(p, D, true), Err(ErrorCode::NoVotingShares));
    t.vote(p, A, true).unwrap();
    assert_eq!(t.vote(p, A, true), Err(ErrorCode::AlreadyVoted));
    // A's shares move to D after the proposal: neither can vote them again.
    t.give(&m, A, D, 300).unwrap();
    assert_eq!(t.vote(p, D, true), Err(ErrorCode::NoVotingShares));
    t.vote(p, B, false).unwrap();
    assert_eq!(t.proposal(p).yes, 300);
    assert_eq!(t.proposal(p).no, 300);
    let execute = OwnershipCall::Execute { proposal: p };
    assert_eq!(t.chain().run(C, execute.clone()), Err(ErrorCode::VotingOpen));
    t.vote(p, OWNER, true).unwrap();
    let end = t.proposal(p).end;
    t.until(end - 1);
    assert_eq!(t.chain().run(C, execute.clone()), Err(ErrorCode::VotingOpen), "last vote block");
    assert_eq!(t.chain().run(C, execute.clone()), Err(ErrorCode::TimelockActive));
    t.until(end + 4);
    assert_eq!(t.chain().run(C, execute.clone()), Err(ErrorCode::TimelockActive));
    let d_before = t.balance(D);
    t.chain().run(C, execute.clone()).unwrap();
    assert_eq!(t.balance(D), d_before + 400_000);
    assert_eq!(t.machine(m.id).reserve, 600_000);
    assert_eq!(t.proposal(p).status, ProposalStatus::Executed);
    assert_eq!(t.chain().run(C, execute), Err(ErrorCode::ProposalFinished));
    let close = OwnershipCall::Close { proposal: p };
    assert_eq!(t.chain().run(C, close), Err(ErrorCode::ProposalFinished));
}

#[test]
fn a_proposal_cannot_spend_what_holders_are_owed() {
    let mut t = Machines::new();
    let m = t.held(0);
    t.pay(&m, 1_000_000);
    let spend = BankCall::Transfer { to: t.addr(D), amount: 1 };
    let p = t.propose(&m, OWNER, vec![spend.into()]).unwrap();
    t.vote(p, OWNER, true).unwrap();
    t.vote(p, A, true).unwrap();
    t.until(t.proposal(p).executable_from());
    let execute = OwnershipCall::Execute { proposal: p };
    assert_eq!(t.chain().run(C, execute), Err(ErrorCode::TreasuryOverspent));
    assert_eq!(t.claim(&m, A).unwrap(), 300_000, "holders' revenue untouched");
    // It stays executable until it expires; then anyone closes it and, as it reached its
    // quorum, the deposit goes back to the proposer.
    let close = OwnershipCall::Close { proposal: p };
    assert_eq!(t.chain().run(C, close.clone()), Err(ErrorCode::ProposalExecutable));
    t.until(t.proposal(p).expires() + 1);
    let execute = OwnershipCall::Execute { proposal: p };
    assert_eq!(t.chain().run(C, execute), Err(ErrorCode::ProposalExpired));
    let owner_before = t.balance(OWNER);
    t.chain().run(C, close).unwrap();
    assert_eq!(t.balance(OWNER), owner_before + 50_000);
    // A proposal spending first and moving shares after does not get further.
    let spend = BankCall::Transfer { to: t.addr(D), amount: 1 };
    let move_shares = BankCall::TransferAsset { asset: m.shares, to: t.addr(D), amount: 1 };
    let q = t.propose(&m, OWNER, vec![spend.into(), move_shares.into()]).unwrap();
    t.vote(q, OWNER, true).unwrap();
    t.until(t.proposal(q).executable_from());
    let execute = OwnershipCall::Execute { proposal: q };
    assert_eq!(t.chain().run(C, execute), Err(ErrorCode::TreasuryOverspent));
}

#[test]
fn a_proposal_without_quorum_is_not_executed_and_forfeits_its_deposit() {
    let mut t = Machines::new();
    let m = t.held(0);
    let spend = BankCall::Transfer { to: t.addr(D), amount: 1 };
    let p = t.propose(&m, B, vec![spend.into()]).unwrap();
    t.until(t.proposal(p).executable_from());
    let execute = OwnershipCall::Execute { proposal: p };
    assert_eq!(t.chain().run(C, execute), Err(ErrorCode::NotApproved));
    t.chain().run(C, OwnershipCall::Close { proposal: p }).unwrap();
    // The deposit went to the treasury: revenue for the holders.
    assert_eq!(t.claim(&m, A).unwrap(), 15_000);
}

#[test]
fn a_tokenized_device_moves_only_by_a_holder_decision() {
    let mut t = Machines::new();
    let m = t.held(0);
    let device = m.devices[0];
    let to = t.addr(D);
    let transfer = IdentityCall::TransferDevice { device, to };
    assert_eq!(t.chain().run(OWNER, transfer.clone()), Err(ErrorCode::NotDeviceOwner));
    let p = t.propose(&m, OWNER, vec![transfer.into()]).unwrap();
    t.vote(p, OWNER, true).unwrap();
    t.until(t.proposal(p).executable_from());
    t.chain().run(C, OwnershipCall::Execute { proposal: p }).unwrap();
    assert_eq!(t.f.device(&device).owner, to);
}

#[test]
fn proposals_cannot_nest_governance_or_buy_the_machines_own_shares() {
    let nested = OwnershipCall::Vote { proposal: 1, approve: true };
    let call = OwnershipCall::Propose {
        machine: 1,
        calls: vec![nested.into()],
        description: Hash::of(&[b"x"]),
    };
    assert_eq!(call.check_call(), Err(ErrorCode::InvalidCall));
    // A proposal inside a proposal does not even decode.
    let inner = OwnershipCall::Propose {
        machine: 1,
        calls: vec![BankCall::Transfer { to: Address::default(), amount: 1 }.into()],
        description: Hash::of(&[b"x"]),
    };
    let outer = OwnershipCall::Propose {
        machine: 1,
        calls: vec![inner.into()],
        description: Hash::of(&[b"y"]),
    };
    use commonware_codec::{DecodeExt, Encode};
    assert!(OwnershipCall::decode(outer.encode()).is_err());
}

#[derive(Clone, Debug)]
enum Op {
    Pay(u64),
    Give { from: usize, to: usize, shares: u64 },
    Claim(usize),
}

const HOLDERS: [usize; 4] = [OWNER, A, B, C];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        prop_oneof![Just(1u64), Just(999), 1..5_000_000u64].prop_map(Op::Pay),
        (0..4usize, 0..4usize, 0..400u64).prop_map(|(from, to, shares)| Op::Give {
            from: HOLDERS[from],
            to: HOLDERS[to],
            shares
        }),
        (0..4usize).prop_map(|i| Op::Claim(HOLDERS[i])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For any sequence of payments, share transfers and claims: every claim is at most
    /// what the claimant's shares earned while it held them (so nobody is paid revenue
    /// from before it held shares), and claims plus what is still owed plus the dust equal
    /// the revenue distributed (checked after every block by the test chain).
    #[test]
    fn claims_never_exceed_what_was_earned_while_holding(ops in prop::collection::vec(op(), 1..24)) {
        let mut t = Machines::new();
        let m = t.held(2_500);
        // What each holder's shares earned, as exact fractions over the supply.
        let mut earned = std::collections::BTreeMap::<usize, u128>::new();
        let mut claimed = std::collections::BTreeMap::<usize, u128>::new();
        for op in ops {
            match op {
                Op::Pay(amount) => {
                    let before = t.machine(m.id);
                    t.pay(&m, amount);
                    let reserved = u128::from(amount) * 2_500 / 10_000;
                    let distributed = u128::from(amount) - reserved;
                    for h in HOLDERS {
                        let shares = u128::from(t.shares(&m, &t.addr(h)));
                        *earned.entry(h).or_default() += distributed * shares;
                    }
                    // Income is split by the next call that touches the machine.
                    prop_assert_eq!(t.machine(m.id).index, before.index);
                }
                Op::Give { from, to, shares } => {
                    let held = t.shares(&m, &t.addr(from));
                    let result = t.give(&m, from, to, shares.max(1));
                    prop_assert_eq!(result.is_ok(), shares.max(1) <= held);
                }
                Op::Claim(h) => {
                    if let Ok(amount) = t.claim(&m, h) {
                        *claimed.entry(h).or_default() += u128::from(amount);
                    }
                }
            }
            for h in HOLDERS {
                let got = claimed.get(&h).copied().unwrap_or(0) * u128::from(m.supply);
                prop_assert!(got <= earned.get(&h).copied().unwrap_or(0), "{h} paid more than earned");
            }
        }
    }
}

#[test]
fn a_tokenized_devices_lease_payments_land_in_its_treasury_and_holders_set_its_price() {
    use machina_types::market::{
        Component, Delivery, MarketCall, MarketEvent, ResourceKind, StakeKind,
    };
    let mut t = Machines::new();
    let device = t.f.onboard(1, OWNER);
    // The operator sells the device's energy under a seller role granted before the
    // tokenization (grants survive it).
    let operator = t.addr(OTHER);
    let grant = IdentityCall::GrantRole {
        device,
        account: operator,
        role: roles::SELLER.into(),
        expiry_height: None,
    };
    t.chain().run(OWNER, grant).unwrap();
    t.chain()
        .run(OTHER, MarketCall::Stake { kind: StakeKind::Provider, amount: 1_000_000 })
        .unwrap();
    let tokenize = OwnershipCall::Tokenize {
        devices: vec![device],
        symbol: "WT".into(),
        name: "Wind turbine".into(),
        supply: 1_000,
        retained: 1_000,
        reserve_bps: 0,
        governance: Some(rules()),
    };
    t.chain().run(OWNER, tokenize).unwrap();
    let m = t.machine(1);
    t.give(&m, OWNER, A, 250).unwrap();
    let now = t.f.chain.now_ms;
    let offer = MarketCall::Offer {
        device,
        kind: ResourceKind::Energy,
        region: "u33d".into(),
        capacity: 10,
        floor_price: 100,
        delivery: Delivery::Receipt,
        expiry_ms: now + 3_600_000,
    };
    let events = t.chain().run(OTHER, offer).unwrap();
    let Event::Market(MarketEvent::OfferPosted { offer, .. }) = events[0] else { panic!() };
    let intent = MarketCall::Intent {
        region: "u33d".into(),
        components: vec![Component { kind: ResourceKind::Energy, quantity: 1 }],
        units: 4,
        max_price: 100,
        deadline_ms: now + 60_000,
        min_reputation: 0,
        partial: false,
    };
    t.chain().run(B, intent).unwrap();
    let mut lease = None;
    while lease.is_none() {
        t.chain().block(vec![]);
        lease = t.f.chain.block_events.iter().find_map(|e| match e {
            Event::Market(MarketEvent::MarketCleared { first_lease, leases: 1.., .. }) => {
                Some(*first_lease)
            }
            _ => None,
        });
    }
    let operator_before = t.balance(OTHER);
    let events = t.chain().run(B, MarketCall::Confirm { lease: lease.unwrap() }).unwrap();
    let paid = events
        .iter()
        .find_map(|e| match e {
            Event::Market(MarketEvent::Delivered { paid, .. }) => Some(*paid),
            _ => None,
        })
        .unwrap();
    assert!(paid > 0);
    assert_eq!(t.f.chain.balance(&m.treasury), paid, "the treasury is paid, not the seller");
    assert_eq!(t.balance(OTHER), operator_before);
    assert_eq!(t.claim(&m, A).unwrap(), paid / 4, "A holds a quarter");

    // Only the seller or the owner (the holders, through a proposal) may amend the offer.
    let amend = MarketCall::AmendOffer { offer, floor_price: 150, capacity: 10 };
    assert_eq!(t.chain().run(D, amend.clone()), Err(ErrorCode::Unauthorized));
    let p = t.propose(&m, OWNER, vec![amend.into()]).unwrap();
    t.vote(p, OWNER, true).unwrap();
    t.until(t.proposal(p).executable_from());
    t.chain().run(C, OwnershipCall::Execute { proposal: p }).unwrap();
    let stored: crate::modules::market::state::Offer =
        t.f.chain.state.get(&crate::modules::market::keys::offer(offer)).unwrap();
    assert_eq!(stored.floor_price, 150);
}

fn nft_owner(t: &Machines, id: u64) -> Address {
    let nft: crate::modules::bank::state::Nft =
        t.f.chain.state.get(&crate::modules::bank::keys::nft(id)).unwrap();
    nft.owner
}

#[test]
fn a_usage_right_is_minted_by_holder_decision_sold_and_used_only_in_its_window() {
    use machina_types::market::ResourceKind;
    let mut t = Machines::new();
    let m = t.held(0);
    let now = t.f.chain.now_ms;
    let (starts_ms, ends_ms) = (now + 5_000, now + 10_000);
    let mint = OwnershipCall::MintRight {
        device: m.devices[0],
        kind: ResourceKind::Actuation { command: "unlock".into() },
        starts_ms,
        ends_ms,
        units: 2,
        to: m.treasury,
        price: Some(5_000),
    };
    assert_eq!(t.chain().run(OWNER, mint.clone()), Err(ErrorCode::NotDeviceOwner));
    let p = t.propose(&m, OWNER, vec![mint.into()]).unwrap();
    t.vote(p, OWNER, true).unwrap();
    t.until(t.proposal(p).executable_from());
    let events = t.chain().run(C, OwnershipCall::Execute { proposal: p }).unwrap();
    let right = events
        .iter()
        .find_map(|e| match e {
            Event::Ownership(OwnershipEvent::RightMinted { right, .. }) => Some(*right),
            _ => None,
        })
        .unwrap();
    assert_eq!(nft_owner(&t, right), m.treasury);

    // Sold at its listed price; the price is the machine's revenue.
    let buy = |max_price| OwnershipCall::BuyRight { right, max_price };
    assert_eq!(t.chain().run(D, buy(4_999)), Err(ErrorCode::NotForSale));
    t.chain().run(D, buy(5_000)).unwrap();
    assert_eq!(nft_owner(&t, right), t.addr(D));
    assert_eq!(t.chain().run(C, buy(5_000)), Err(ErrorCode::NotForSale), "sold, unlisted");
    assert_eq!(t.claim(&m, A).unwrap(), 1_500, "A holds 300 of 1,000 shares");

    // Used by its holder inside its window only, up to its units.
    let use_ = |units| OwnershipCall::UseRight { right, units };
    assert_eq!(t.chain().run(D, use_(1)), Err(ErrorCode::RightOutsideWindow));
    assert_eq!(t.chain().run(C, use_(1)), Err(ErrorCode::NotOwner));
    while t.f.chain.now_ms + crate::testing::BLOCK_MS < starts_ms {
        t.chain().block(vec![]);
    }
    t.chain().run(D, use_(1)).unwrap();
    assert_eq!(t.chain().run(D, use_(2)), Err(ErrorCode::RightExhausted));
    let burn = BankCall::BurnNft { id: right };
    assert_eq!(t.chain().run(D, burn.clone()), Err(ErrorCode::TokenBound), "not before its end");
    t.chain().run(D, use_(1)).unwrap();
    t.f.chain.wait(ends_ms - t.f.chain.now_ms);
    assert_eq!(t.chain().run(D, use_(1)), Err(ErrorCode::RightEnded));
    t.chain().run(D, burn).unwrap();
}

#[test]
fn a_listing_does_not_follow_the_token_and_the_window_must_not_have_ended() {
    use machina_types::market::ResourceKind;
    let mut t = Machines::new();
    let device = t.f.onboard(1, OWNER);
    let now = t.f.chain.now_ms;
    let owner = t.addr(OWNER);
    let mint = |ends_ms| OwnershipCall::MintRight {
        device,
        kind: ResourceKind::Compute,
        starts_ms: 0,
        ends_ms,
        units: 10,
        to: owner,
        price: Some(100),
    };
    assert_eq!(t.chain().run(OWNER, mint(now)), Err(ErrorCode::RightEnded));
    let events = t.chain().run(OWNER, mint(now + 60_000)).unwrap();
    let Event::Bank(machina_types::bank::BankEvent::NftMinted { id: right, .. }) = events[0] else {
        panic!("{events:?}")
    };
    let a = t.addr(A);
    t.chain().run(OWNER, BankCall::TransferNft { id: right, to: a }).unwrap();
    let buy = OwnershipCall::BuyRight { right, max_price: 100 };
    assert_eq!(t.chain().run(B, buy), Err(ErrorCode::NotForSale), "A did not list it");
    let list = OwnershipCall::ListRight { right, price: Some(80) };
    assert_eq!(t.chain().run(OWNER, list.clone()), Err(ErrorCode::NotOwner));
    t.chain().run(A, list).unwrap();
    let a_before = t.balance(A);
    t.chain().run(B, OwnershipCall::BuyRight { right, max_price: 100 }).unwrap();
    assert_eq!(t.balance(A), a_before + 80);
}

#[test]
fn the_market_does_not_sell_units_a_usage_right_reserves() {
    use machina_types::market::{
        Component, Delivery, MarketCall, MarketEvent, ResourceKind, StakeKind,
    };
    let mut t = Machines::new();
    let device = t.f.onboard(1, OWNER);
    t.chain()
        .run(OWNER, MarketCall::Stake { kind: StakeKind::Provider, amount: 1_000_000 })
        .unwrap();
    let now = t.f.chain.now_ms;
    let right = OwnershipCall::MintRight {
        device,
        kind: ResourceKind::Energy,
        starts_ms: now + 3_600_000,
        ends_ms: now + 7_200_000,
        units: 2,
        to: t.addr(D),
        price: None,
    };
    t.chain().run(OWNER, right).unwrap();
    let offer = MarketCall::Offer {
        device,
        kind: ResourceKind::Energy,
        region: "u33d".into(),
        capacity: 3,
        floor_price: 10,
        delivery: Delivery::Receipt,
        expiry_ms: now + 3_600_000,
    };
    let events = t.chain().run(OWNER, offer).unwrap();
    let Event::Market(MarketEvent::OfferPosted { offer, .. }) = events[0] else { panic!() };
    let intent = |units, partial| MarketCall::Intent {
        region: "u33d".into(),
        components: vec![Component { kind: ResourceKind::Energy, quantity: 1 }],
        units,
        max_price: 20,
        deadline_ms: now + 60_000,
        min_reputation: 0,
        partial,
    };
    t.chain().run(B, intent(3, true)).unwrap();
    let mut sold = None;
    while sold.is_none() {
        t.chain().block(vec![]);
        sold = t.f.chain.block_events.iter().find_map(|e| match e {
            Event::Market(MarketEvent::MarketCleared { units, .. }) => Some(*units),
            _ => None,
        });
    }
    assert_eq!(sold, Some(1), "two of the three units are reserved by the right");
    let stored: crate::modules::market::state::Offer =
        t.f.chain.state.get(&crate::modules::market::keys::offer(offer)).unwrap();
    assert_eq!((stored.capacity, stored.sold), (2, 1), "the reserved units stay on the offer");
}

#[test]
fn a_streams_data_asset_carries_its_data_rights_and_is_minted_once() {
    let mut t = Machines::new();
    let device = t.f.onboard(1, OWNER);
    let mint = OwnershipCall::MintDataAsset { device, stream: 1, to: t.addr(A) };
    assert_eq!(t.chain().run(B, mint.clone()), Err(ErrorCode::NotDeviceOwner));
    let holder = |t: &Machines, stream| {
        let ctx_state = &t.f.chain.state;
        match ctx_state.get::<u64>(&keys::data_asset(&device, stream)) {
            Some(nft) => nft_owner(t, nft),
            None => t.f.device(&device).owner,
        }
    };
    assert_eq!(holder(&t, 1), t.addr(OWNER), "the owner holds a stream's rights by default");
    let events = t.chain().run(OWNER, mint.clone()).unwrap();
    let asset = events
        .iter()
        .find_map(|e| match e {
            Event::Ownership(OwnershipEvent::DataAssetMinted { asset, .. }) => Some(*asset),
            _ => None,
        })
        .unwrap();
    assert_eq!(holder(&t, 1), t.addr(A));
    assert_eq!(holder(&t, 2), t.addr(OWNER), "other streams stay with the owner");
    assert_eq!(t.chain().run(OWNER, mint), Err(ErrorCode::DataAssetExists));
    let b = t.addr(B);
    t.chain().run(A, BankCall::TransferNft { id: asset, to: b }).unwrap();
    assert_eq!(holder(&t, 1), t.addr(B));
    assert_eq!(t.chain().run(B, BankCall::BurnNft { id: asset }), Err(ErrorCode::TokenBound));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Shares moving between holders while a proposal is open never count twice: whoever
    /// votes, in whatever order with whatever transfers between, the votes add up to at most
    /// the shares outside the treasury when it was made, and each voter's weight is what it
    /// held then.
    #[test]
    fn votes_are_never_double_counted_across_transfers(
        steps in prop::collection::vec((0..4usize, 0..4usize, 1..400u64, any::<bool>()), 1..16),
    ) {
        let mut t = Machines::new();
        let m = t.held(0);
        let p = t.propose(&m, OWNER, vec![BankCall::Transfer { to: t.addr(D), amount: 1 }.into()])
            .unwrap();
        let snapshot = t.proposal(p).snapshot;
        let held_then: Vec<u64> = HOLDERS.iter().map(|h| t.shares(&m, &t.addr(*h))).collect();
        let mut voted = std::collections::BTreeSet::new();
        for (from, to, shares, vote) in steps {
            let _ = t.give(&m, HOLDERS[from], HOLDERS[to], shares);
            if vote && t.vote(p, HOLDERS[to], true).is_ok() {
                prop_assert!(voted.insert(to), "a second vote was accepted");
            }
        }
        let proposal = t.proposal(p);
        prop_assert_eq!(proposal.snapshot, snapshot);
        let expected: u64 = voted.iter().map(|i| held_then[*i]).sum();
        prop_assert_eq!(proposal.yes, expected);
        prop_assert!(proposal.yes + proposal.no <= proposal.circulating);
    }
}

#[test]
fn one_machine_cannot_fill_the_chains_close_queue_with_small_offerings() {
    let mut t = Machines::new();
    let m = t.tokenize(1, 1_000, 0, 0);
    let first_deadline = t.height() + 10;
    t.offer(&m, 10, 10, first_deadline);
    for _ in 1..super::state::OFFERINGS_PER_MACHINE_MAX {
        t.offer(&m, 10, 10, t.height() + 1_000);
    }
    let owner = t.addr(OWNER);
    let one_more = offering_call(m.id, 10, 10, t.height() + 1_000, owner, vec![]);
    assert_eq!(t.chain().run(OWNER, one_more.clone()), Err(ErrorCode::TooManyOfferings));
    // Once one closes (unsold, it fails), another may open.
    t.until(first_deadline + 1);
    assert_eq!(t.offering(1).status, OfferingStatus::Failed);
    t.chain().run(OWNER, one_more).unwrap();
}
