//! A test chain: executes blocks on an in-memory state and checks value conservation after
//! every block. Shared by the modules' tests.

use crate::{
    exec::{Applied, BlockEnv, BlockExecutor},
    genesis::{Genesis, GenesisAccount, Params},
    modules::{bank, channels, data, identity, market, ownership, products, rewards},
    state::MemState,
};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::bank::BankEvent;
use machina_types::ownership::OwnershipEvent;
use machina_types::wallets::WalletsEvent;
use machina_types::{
    Address, BankCall, Call, ChannelsCall, ErrorCode, Event, Outcome, SignedTransaction,
    Transaction,
};
use std::{collections::BTreeSet, sync::Arc};

/// The test chain's id.
pub(crate) const CHAIN: &str = "test-chain";
/// Every genesis account's native balance.
pub(crate) const START: u64 = 1_000_000_000_000;
/// Block time between blocks (ms).
pub(crate) const BLOCK_MS: u64 = 100;

/// A chain on an in-memory state that checks supply invariants after every block.
pub(crate) struct Chain {
    pub(crate) state: MemState,
    pub(crate) genesis: Arc<Genesis>,
    pub(crate) height: u64,
    /// Block time of the last block (ms).
    pub(crate) now_ms: u64,
    pub(crate) keys: Vec<PrivateKey>,
    pub(crate) nonces: Vec<u64>,
    /// Every address that may hold native tokens or assets.
    pub(crate) holders: BTreeSet<Address>,
    pub(crate) assets: BTreeSet<u64>,
    /// Events of the last block's block-level steps.
    pub(crate) block_events: Vec<Event>,
    /// Every multisig created, oldest first.
    pub(crate) multisigs: Vec<Address>,
}

impl Chain {
    /// A chain with `accounts` funded accounts; account 0 is the validator.
    pub(crate) fn new(accounts: usize) -> Self {
        Self::with_params(accounts, Params::default())
    }

    /// A chain with `accounts` funded accounts and parameters `params`.
    pub(crate) fn with_params(accounts: usize, params: Params) -> Self {
        Self::with_validators(accounts, params, vec![PrivateKey::from_seed(0)])
    }

    /// A chain with `accounts` funded accounts, parameters `params` and validators
    /// `validators` (account 0 signs as the proposer).
    pub(crate) fn with_validators(
        accounts: usize,
        params: Params,
        validators: Vec<PrivateKey>,
    ) -> Self {
        let keys: Vec<_> = (0..accounts as u64).map(PrivateKey::from_seed).collect();
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            validators: validators.iter().map(|k| Address::of(&k.public_key())).collect(),
            accounts: keys
                .iter()
                .map(|k| GenesisAccount { address: Address::of(&k.public_key()), balance: START })
                .collect(),
            params,
        };
        genesis.validate().unwrap();
        let mut holders: BTreeSet<Address> =
            keys.iter().map(|k| Address::of(&k.public_key())).collect();
        holders.extend([bank::fee_pool(), identity::bond_pool(), identity::slashed_pool()]);
        holders.extend([market::escrow_account(), market::stake_account(), market::treasury()]);
        holders.extend([market::deposits_account(), data::feed_deposits()]);
        holders.extend([ownership::escrow_account(), rewards::escrow_account()]);
        holders.insert(channels::escrow_account());
        let mut chain = Self {
            state: MemState::default(),
            genesis: Arc::new(genesis),
            height: 0,
            now_ms: 0,
            nonces: vec![0; accounts],
            keys,
            holders,
            assets: BTreeSet::new(),
            block_events: Vec::new(),
            multisigs: Vec::new(),
        };
        chain.block(vec![]);
        chain
    }

    pub(crate) fn addr(&self, i: usize) -> Address {
        Address::of(&self.keys[i].public_key())
    }

    /// Adds `key` as an (unfunded) account; returns its index.
    pub(crate) fn add_account(&mut self, key: PrivateKey) -> usize {
        self.holders.insert(Address::of(&key.public_key()));
        self.keys.push(key);
        self.nonces.push(0);
        self.keys.len() - 1
    }

    /// A transaction of `calls` from account `i` with its next nonce.
    pub(crate) fn tx(&mut self, i: usize, calls: Vec<impl Into<Call>>) -> SignedTransaction {
        let nonce = self.nonces[i];
        self.nonces[i] += 1;
        self.tx_with_nonce(i, nonce, calls)
    }

    pub(crate) fn tx_with_nonce(
        &self,
        i: usize,
        nonce: u64,
        calls: Vec<impl Into<Call>>,
    ) -> SignedTransaction {
        Transaction {
            chain_id: CHAIN.into(),
            signer: self.addr(i),
            nonce,
            fee: 0,
            expiry_height: self.height + 10,
            calls: calls.into_iter().map(Into::into).collect(),
        }
        .sign_paying_fee(&self.keys[i], &self.genesis.params.fees)
    }

    /// Runs one call from account `i` in its own block: its events, or the failing code.
    pub(crate) fn run(&mut self, i: usize, call: impl Into<Call>) -> Result<Vec<Event>, ErrorCode> {
        let tx = self.tx(i, vec![call]);
        match self.block(vec![tx]).remove(0) {
            Applied::Included(receipt) => match receipt.outcome {
                Outcome::Success => Ok(receipt.events),
                Outcome::Failed { code, .. } => Err(code),
            },
            Applied::Rejected(code) => panic!("transaction rejected: {code}"),
        }
    }

    /// Creates an asset `KWH` as account `i` and mints `amount` of it to `i`; its id.
    pub(crate) fn create_asset(&mut self, i: usize, amount: u64) -> u64 {
        let create = BankCall::CreateAsset {
            symbol: "KWH".into(),
            name: "Kilowatt hours".into(),
            decimals: 0,
            max_supply: None,
            metadata: vec![],
        };
        let events = self.run(i, create).unwrap();
        let Event::Bank(BankEvent::AssetCreated { asset, .. }) = events[0] else {
            panic!("an asset is created")
        };
        let to = self.addr(i);
        self.run(i, BankCall::MintAsset { asset, to, amount }).unwrap();
        asset
    }

    /// Account `i`'s balance of `asset`.
    pub(crate) fn asset_balance(&self, asset: u64, who: &Address) -> u64 {
        self.state.get(&bank::keys::asset_balance(asset, who)).unwrap_or(0)
    }

    /// Advances block time by `ms` (the next block is that much later).
    pub(crate) fn wait(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Executes a block of `txs` and checks invariants; returns each transaction's result.
    pub(crate) fn block(&mut self, txs: Vec<SignedTransaction>) -> Vec<Applied> {
        self.height += 1;
        self.now_ms += BLOCK_MS;
        let env = BlockEnv {
            height: self.height,
            timestamp_ms: self.now_ms,
            proposer: self.addr(0),
            genesis: self.genesis.clone(),
        };
        let mut exec = BlockExecutor::new(env);
        exec.begin(&self.state).unwrap();
        let results: Vec<Applied> =
            txs.iter().map(|tx| exec.apply(&self.state, tx, tx.hash()).unwrap()).collect();
        for tx in &txs {
            self.note_holders(tx);
        }
        for r in &results {
            if let Applied::Included(receipt) = r {
                for e in &receipt.events {
                    if let Event::Bank(BankEvent::AssetCreated { asset, .. }) = e {
                        self.assets.insert(*asset);
                    }
                    if let Event::Ownership(OwnershipEvent::Tokenized { treasury, .. }) = e {
                        self.holders.insert(*treasury);
                    }
                    if let Event::Wallets(WalletsEvent::MultisigCreated { multisig, .. }) = e {
                        self.holders.insert(*multisig);
                        self.multisigs.push(*multisig);
                    }
                    if let Event::Bank(BankEvent::Transfer { to, .. }) = e {
                        self.holders.insert(*to);
                    }
                }
            }
        }
        let out = exec.finish();
        self.state.apply(&out.writes);
        self.block_events = out.events;
        self.check_invariants();
        results
    }

    fn note_holders(&mut self, tx: &SignedTransaction) {
        for call in &tx.tx.calls {
            if let Call::Bank(
                BankCall::Transfer { to, .. }
                | BankCall::MintAsset { to, .. }
                | BankCall::TransferAsset { to, .. },
            ) = call
            {
                self.holders.insert(*to);
            }
            if let Call::Channels(
                ChannelsCall::Open { payee, .. } | ChannelsCall::OpenStream { payee, .. },
            ) = call
            {
                self.holders.insert(*payee);
            }
        }
    }

    fn check_invariants(&self) {
        let supply: u64 = self.state.get(&bank::keys::native_supply()).unwrap();
        let held: u64 = self.holders.iter().map(|a| self.balance(a)).sum();
        assert_eq!(held, supply, "native supply not conserved at height {}", self.height);
        assert_eq!(supply, self.genesis.total_supply());
        for id in &self.assets {
            let info: bank::state::AssetInfo = self.state.get(&bank::keys::asset(*id)).unwrap();
            let held: u64 = self
                .holders
                .iter()
                .map(|a| self.state.get::<u64>(&bank::keys::asset_balance(*id, a)).unwrap_or(0))
                .sum();
            assert_eq!(held, info.supply, "asset {id} supply not conserved");
            assert!(info.max_supply.is_none_or(|cap| info.supply <= cap));
        }
        self.check_market();
        self.check_feeds();
        self.check_ownership();
        self.check_rewards();
        self.check_channels();
        self.check_products();
        self.check_multisigs();
    }

    /// Each multisig counts its open proposals, which are all below its next id, each
    /// approved by distinct members only, at most the chain's maximum.
    fn check_multisigs(&self) {
        use crate::modules::wallets::{keys, state::Multisig, state::MultisigProposal};
        for address in &self.multisigs {
            let m: Multisig = self.state.get(&keys::multisig(address)).unwrap();
            let open = (1..m.next_proposal)
                .filter_map(|id| self.state.get::<MultisigProposal>(&keys::proposal(address, id)))
                .inspect(|p| {
                    assert!(p.approvals.iter().all(|a| m.members.contains(a)));
                    let mut distinct = p.approvals.clone();
                    distinct.sort();
                    distinct.dedup();
                    assert_eq!(distinct.len(), p.approvals.len(), "an approval counted twice");
                    let reached = p.approvals.len() >= usize::from(m.threshold);
                    assert_eq!(p.approved_at_ms.is_some(), reached);
                })
                .count();
            assert_eq!(open, m.open as usize, "multisig {address} miscounts its proposals");
            assert!(m.open <= self.genesis.params.wallets.proposals_open_max);
        }
    }

    /// The rewards escrow holds, per asset, exactly what its pools were funded less what
    /// they paid and refunded; no pool paid more than it was funded, and a closed one
    /// holds nothing.
    fn check_rewards(&self) {
        use rewards::state::Pool;
        let next: u64 = self.state.get(&rewards::keys::next_pool_id()).unwrap_or(1);
        let mut held: std::collections::BTreeMap<Option<u64>, u128> = Default::default();
        for id in 1..next {
            let p: Pool = self.state.get(&rewards::keys::pool(id)).unwrap();
            assert!(p.paid <= p.funded, "pool {id} paid more than it was funded");
            assert!(p.paid + p.refunded <= p.funded, "pool {id} gave out more than it held");
            assert!(!p.closed || p.held() == 0, "closed pool {id} still holds funds");
            *held.entry(p.asset).or_default() += u128::from(p.held());
        }
        self.check_escrow("rewards", &rewards::escrow_account(), held);
    }

    /// The channels escrow holds, per asset, what its open channels were deposited less
    /// what they paid; a closed channel holds nothing and paid at most its deposit.
    fn check_channels(&self) {
        use channels::state::Channel;
        let next: u64 = self.state.get(&channels::keys::next_channel_id()).unwrap_or(1);
        let mut held: std::collections::BTreeMap<Option<u64>, u128> = Default::default();
        for id in 1..next {
            let c: Channel = self.state.get(&channels::keys::channel(id)).unwrap();
            assert!(c.paid + c.refunded <= c.deposit, "channel {id} paid out more than it held");
            assert!(!c.is_closed() || c.held() == 0, "closed channel {id} still holds funds");
            *held.entry(c.asset).or_default() += u128::from(c.held());
        }
        self.check_escrow("channels", &channels::escrow_account(), held);
    }

    /// A listed product's streams name it, and a stream is in at most one listed product;
    /// a product's subscribers are subscriptions to it, at most its bound.
    fn check_products(&self) {
        use products::state::{Counters, Product, StreamKeys, Subscription};
        let c: Counters = self.state.get(&products::keys::counters()).unwrap_or_default();
        for id in 1..c.product {
            let p: Product = self.state.get(&products::keys::product(id)).unwrap();
            for s in &p.streams {
                let k: StreamKeys =
                    self.state.get(&products::keys::stream(&p.device, *s)).unwrap_or_default();
                if p.listed {
                    assert_eq!(k.product, Some(id), "listed product {id} lost stream {s}");
                }
            }
            assert!(p.subscribers.len() <= machina_types::limits::PRODUCT_SUBSCRIBERS_MAX);
            for entry in &p.subscribers {
                let sub: Subscription =
                    self.state.get(&products::keys::subscription(entry.subscription)).unwrap();
                assert_eq!((sub.product, sub.until_ms), (id, entry.until_ms));
                assert_eq!(sub.status, products::state::SubscriptionStatus::Active {});
            }
        }
    }

    /// `escrow` holds exactly `held` of each asset (`None`: the native token).
    fn check_escrow(
        &self,
        module: &str,
        escrow: &Address,
        mut held: std::collections::BTreeMap<Option<u64>, u128>,
    ) {
        let native = u128::from(self.balance(escrow));
        assert_eq!(
            native,
            held.remove(&None).unwrap_or(0),
            "{module} escrow differs from what it holds in native tokens at height {}",
            self.height
        );
        for (asset, expected) in held {
            let asset = asset.expect("native holdings were taken out");
            let balance: u64 =
                self.state.get(&bank::keys::asset_balance(asset, escrow)).unwrap_or(0);
            assert_eq!(u128::from(balance), expected, "{module} escrow of asset {asset} differs");
        }
    }

    /// Every machine's treasury holds its reserve and what holders are owed, and its shares
    /// cover those offerings reserve; what holders are owed (settled now, with their
    /// fractions) is exactly what was distributed and not claimed; the escrow holds the open
    /// offerings' funds and the open proposals' deposits.
    fn check_ownership(&self) {
        use ownership::state::{
            Counters, Machine, Offering, OfferingStatus, Position, Proposal, ProposalStatus,
            Purchase,
        };
        let c: Counters = self.state.get(&ownership::keys::counters()).unwrap_or_default();
        for id in 1..c.machine {
            let m: Machine = self.state.get(&ownership::keys::machine(id)).unwrap();
            let shares = |a: &Address| {
                self.state.get::<u64>(&bank::keys::asset_balance(m.shares, a)).unwrap_or(0)
            };
            assert!(self.balance(&m.treasury) >= m.reserve + m.pending, "treasury {id} short");
            assert!(shares(&m.treasury) >= m.offered, "treasury {id} lacks offered shares");
            let supply = u128::from(m.supply);
            let mut owed = 0u128;
            for a in &self.holders {
                let Some(mut p) = self.state.get::<Position>(&ownership::keys::position(id, a))
                else {
                    assert_eq!(shares(a), 0, "holder {a} of machine {id} has no position");
                    continue;
                };
                p.revenue.settle(&m.index, shares(a), m.supply).unwrap();
                owed += p.revenue.owed * supply + u128::from(p.revenue.fraction);
            }
            assert_eq!(owed, u128::from(m.pending) * supply, "machine {id} revenue");
        }
        let mut escrowed = 0u128;
        for id in 1..c.offering {
            let o: Offering = self.state.get(&ownership::keys::offering(id)).unwrap();
            if o.asset.is_some() {
                continue;
            }
            let purchase =
                |i: u32| -> Purchase { self.state.get(&ownership::keys::purchase(id, i)).unwrap() };
            escrowed += match o.status {
                OfferingStatus::Open | OfferingStatus::Delivering => u128::from(o.raised),
                OfferingStatus::Refunding => {
                    (o.settled..o.buyers).map(|i| u128::from(purchase(i).paid)).sum()
                }
                OfferingStatus::Failed => 0,
                OfferingStatus::Succeeded => {
                    let all = ownership::tranches(&o);
                    (0..all.len())
                        .filter(|i| o.released & (1 << i) == 0)
                        .map(|i| u128::from(ownership::tranche_amount(o.raised, &all, i)))
                        .sum()
                }
            };
        }
        let mut deposits = 0u128;
        for id in 1..c.proposal {
            let p: Proposal = self.state.get(&ownership::keys::proposal(id)).unwrap();
            if p.status == ProposalStatus::Open {
                deposits += u128::from(p.deposit);
            }
        }
        let held = u128::from(self.balance(&ownership::escrow_account()));
        assert_eq!(held, deposits + escrowed, "ownership escrow differs from what it owes");
    }

    /// The feed deposit account holds exactly the deposits of open feeds.
    fn check_feeds(&self) {
        let next: u64 = self.state.get(&data::keys::next_feed_id()).unwrap_or(1);
        let held: u64 = (1..next)
            .filter_map(|id| self.state.get::<data::state::Feed>(&data::keys::feed(id)))
            .map(|f| f.deposit)
            .sum();
        assert_eq!(self.balance(&data::feed_deposits()), held, "feed deposits not conserved");
    }

    /// The market's conservation: escrow in = paid + fees + refunds + solver rewards + held,
    /// with held equal to what open intents and leases hold; stake in = withdrawn + slashed +
    /// held, with held equal to every account's stake; the treasury holds fees and slashes.
    fn check_market(&self) {
        use machina_types::market::StakeKind;
        use market::state::{Counters, Intent, Lease, Stake, Totals};
        let t: Totals = self.state.get(&market::keys::totals()).unwrap_or_default();
        let escrow = u128::from(self.balance(&market::escrow_account()));
        assert_eq!(
            t.escrowed,
            t.paid + t.fees + t.refunded + t.solver_rewards + escrow,
            "market escrow not conserved at height {}",
            self.height
        );
        let c: Counters = self.state.get(&market::keys::counters()).unwrap_or_default();
        let in_intents: u128 = (1..c.next_intent)
            .filter_map(|id| self.state.get::<Intent>(&market::keys::intent(id)))
            .map(|i| u128::from(i.escrow))
            .sum();
        let open_leases: Vec<Lease> = (1..c.next_lease)
            .filter_map(|id| self.state.get::<Lease>(&market::keys::lease(id)))
            .filter(|l| l.status.is_open())
            .collect();
        let in_leases: u128 = open_leases.iter().map(|l| u128::from(l.escrow)).sum();
        assert_eq!(escrow, in_intents + in_leases, "escrow held differs from what orders hold");
        self.check_orders(&t, &c);
        let bps = u128::from(self.genesis.params.market.slash_bps);
        let mut locks: std::collections::BTreeMap<Address, u128> = Default::default();
        for l in &open_leases {
            *locks.entry(l.seller).or_default() += u128::from(l.escrow) * bps / 10_000;
        }
        for a in &self.holders {
            let s: Stake =
                self.state.get(&market::keys::stake(StakeKind::Provider, a)).unwrap_or_default();
            let locked = locks.get(a).copied().unwrap_or(0);
            assert_eq!(u128::from(s.locked), locked, "stake lock of {a} differs from its leases");
        }
        let stake = u128::from(self.balance(&market::stake_account()));
        assert_eq!(t.staked, t.withdrawn + t.slashed + stake, "stake not conserved");
        let staked: u128 = self
            .holders
            .iter()
            .flat_map(|a| [StakeKind::Provider, StakeKind::Solver].map(|k| (k, a)))
            .filter_map(|(k, a)| self.state.get::<Stake>(&market::keys::stake(k, a)))
            .map(|s| u128::from(s.bonded) + u128::from(s.unbonding))
            .sum();
        assert_eq!(stake, staked, "stake held differs from accounts' stakes");
        assert_eq!(
            u128::from(self.balance(&market::treasury())),
            t.fees + t.slashed,
            "treasury differs from fees and slashes"
        );
    }

    /// Order deposits: taken = returned + held, held = the deposits of open orders; each
    /// account's open-order count matches its open orders.
    fn check_orders(&self, t: &market::state::Totals, c: &market::state::Counters) {
        use market::state::{Intent, Offer, OrderStatus};
        let mut open: std::collections::BTreeMap<Address, u32> = Default::default();
        let mut held = 0u128;
        for id in 1..c.next_intent {
            let Some(i) = self.state.get::<Intent>(&market::keys::intent(id)) else { continue };
            if i.status == OrderStatus::Open {
                held += u128::from(i.deposit);
                *open.entry(i.consumer).or_default() += 1;
            }
        }
        for id in 1..c.next_offer {
            let Some(o) = self.state.get::<Offer>(&market::keys::offer(id)) else { continue };
            if o.status == OrderStatus::Open {
                held += u128::from(o.deposit);
                *open.entry(o.seller).or_default() += 1;
            }
        }
        let deposits = u128::from(self.balance(&market::deposits_account()));
        assert_eq!(deposits, held, "deposits held differ from open orders' deposits");
        assert_eq!(t.deposited, t.deposits_returned + deposits, "order deposits not conserved");
        for a in &self.holders {
            let count: u32 = self.state.get(&market::keys::open_orders(a)).unwrap_or(0);
            assert_eq!(count, open.get(a).copied().unwrap_or(0), "open orders of {a} miscounted");
        }
    }

    pub(crate) fn account(&self, a: &Address) -> bank::state::Account {
        self.state.get(&bank::keys::account(a)).unwrap_or_default()
    }

    pub(crate) fn balance(&self, a: &Address) -> u64 {
        self.account(a).balance
    }
}
