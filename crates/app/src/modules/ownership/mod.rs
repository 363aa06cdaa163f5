//! The ownership module: machines split into shares, their revenue paid to holders in
//! constant time, offerings of their shares and holder governance (see
//! [`machina_types::ownership`] for the model).
//!
//! Invariants (checked by the tests after every call):
//! - a machine's treasury holds at least its reserve plus what its holders are owed
//!   (`reserve + pending`); anything above is income not yet split, split by the next call
//!   that touches the machine ([`sync`]);
//! - the shares the treasury holds cover those reserved by open offerings (`offered`);
//! - what holders can claim, plus the rounding dust, equals the revenue distributed.

pub use machina_types::ownership::{keys, state};
#[cfg(test)]
mod tests;

mod governance;
mod offerings;
mod rights;

pub use governance::proposal;
pub use offerings::{SETTLE_PER_BLOCK, offering};
#[cfg(test)]
pub(crate) use offerings::{tranche_amount, tranches};
pub use rights::{after_nft_transfer, before_nft_burn, data_rights_holder, reserved, right};

use super::{bank, identity};
use crate::{
    module::{Ctx, ExecResult, Module, Step},
    state::Key,
};
use machina_types::{
    Address, Amount, DeviceId, ErrorCode, Event, OwnershipCall,
    bank::{AssetId, state::AssetInfo},
    identity::IdentityEvent,
    limits::GOVERNANCE_BLOCKS_MAX,
    ownership::{BPS, MachineId, OwnershipEvent, revenue::Holding, treasury},
};
use state::{Checkpoint, Counters, Machine, Position};

/// The ownership module.
pub struct Ownership;

impl Module for Ownership {
    type Call = OwnershipCall;

    const STEPS: &'static [Step] = &[Step {
        name: "ownership-offerings",
        hint: offerings::close_hint,
        run: offerings::close_step,
    }];

    fn hint(call: &OwnershipCall, signer: &Address, keys: &mut Vec<Key>) {
        match call {
            OwnershipCall::Tokenize { devices, .. } => {
                keys.push(self::keys::counters());
                for d in devices {
                    keys.extend([identity::keys::device(d), self::keys::machine_of_device(d)]);
                }
            }
            OwnershipCall::Claim { machine } | OwnershipCall::Configure { machine, .. } => {
                keys.extend([self::keys::machine(*machine), self::keys::position(*machine, signer)])
            }
            OwnershipCall::CreateOffering { machine, .. } => {
                keys.extend([self::keys::machine(*machine), self::keys::counters()])
            }
            OwnershipCall::Buy { offering, .. } => keys.extend([
                self::keys::offering(*offering),
                self::keys::purchase_of(*offering, signer),
                self::keys::closing(),
            ]),
            OwnershipCall::ReleaseTranche { offering, .. } => {
                keys.push(self::keys::offering(*offering))
            }
            OwnershipCall::Propose { machine, .. } => {
                keys.extend([self::keys::machine(*machine), self::keys::position(*machine, signer)])
            }
            OwnershipCall::Vote { proposal, .. } => keys
                .extend([self::keys::proposal(*proposal), self::keys::ballot(*proposal, signer)]),
            OwnershipCall::Execute { proposal } | OwnershipCall::Close { proposal } => {
                keys.push(self::keys::proposal(*proposal))
            }
            OwnershipCall::MintRight { device, .. } => keys.extend([
                identity::keys::device(device),
                self::keys::device_rights(device),
                bank::keys::next_nft_id(),
            ]),
            OwnershipCall::ListRight { right, .. }
            | OwnershipCall::BuyRight { right, .. }
            | OwnershipCall::UseRight { right, .. } => {
                keys.extend([self::keys::right(*right), bank::keys::nft(*right)])
            }
            OwnershipCall::MintDataAsset { device, stream, .. } => keys.extend([
                identity::keys::device(device),
                self::keys::data_asset(device, *stream),
                bank::keys::next_nft_id(),
            ]),
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &OwnershipCall) -> ExecResult {
        match call {
            OwnershipCall::Tokenize {
                devices,
                symbol,
                name,
                supply,
                retained,
                reserve_bps,
                governance,
            } => {
                let governance =
                    governance.unwrap_or(ctx.env().genesis.params.ownership.governance);
                let plan = Plan { symbol, name, supply: *supply, retained: *retained };
                tokenize(ctx, devices, plan, *reserve_bps, governance)
            }
            OwnershipCall::Claim { machine } => claim(ctx, *machine),
            OwnershipCall::Configure { machine, reserve_bps, governance } => {
                let mut m = self::machine(ctx, *machine)?;
                if ctx.signer() != m.treasury {
                    return Err(ErrorCode::NotMachineController.into());
                }
                sync(ctx, &mut m)?;
                m.reserve_bps = *reserve_bps;
                m.governance = *governance;
                store_machine(ctx, &m);
                emit(ctx, OwnershipEvent::Configured { machine: m.id })
            }
            OwnershipCall::CreateOffering { .. } => offerings::create(ctx, call),
            OwnershipCall::Buy { offering, shares } => offerings::buy(ctx, *offering, *shares),
            OwnershipCall::ReleaseTranche { offering, tranche } => {
                offerings::release(ctx, *offering, *tranche)
            }
            OwnershipCall::Propose { machine, calls, description } => {
                governance::propose(ctx, *machine, calls, description)
            }
            OwnershipCall::Vote { proposal, approve } => governance::vote(ctx, *proposal, *approve),
            OwnershipCall::Execute { proposal } => governance::execute(ctx, *proposal),
            OwnershipCall::Close { proposal } => governance::close(ctx, *proposal),
            OwnershipCall::MintRight { device, kind, starts_ms, ends_ms, units, to, price } => {
                let terms = rights::Terms {
                    device: *device,
                    kind: kind.clone(),
                    starts_ms: *starts_ms,
                    ends_ms: *ends_ms,
                    units: *units,
                    to: *to,
                    price: *price,
                };
                rights::mint(ctx, terms)
            }
            OwnershipCall::ListRight { right, price } => rights::list(ctx, *right, *price),
            OwnershipCall::BuyRight { right, max_price } => rights::buy(ctx, *right, *max_price),
            OwnershipCall::UseRight { right, units } => rights::use_right(ctx, *right, *units),
            OwnershipCall::MintDataAsset { device, stream, to } => {
                rights::mint_data_asset(ctx, device, *stream, to)
            }
        }
    }
}

fn emit(ctx: &mut Ctx<'_>, event: OwnershipEvent) -> ExecResult {
    ctx.emit(Event::Ownership(event))
}

/// The account that escrows offerings' funds and proposals' deposits.
pub fn escrow_account() -> Address {
    Address::module("ownership/escrow")
}

/// The machine `id`.
pub fn machine(ctx: &Ctx<'_>, id: MachineId) -> ExecResult<Machine> {
    Ok(ctx.get(&keys::machine(id))?.ok_or(ErrorCode::UnknownMachine)?)
}

fn store_machine(ctx: &mut Ctx<'_>, m: &Machine) {
    ctx.put(keys::machine(m.id), m);
}

/// The machine whose shares `asset` is, if it is a machine's.
pub fn machine_of_asset(ctx: &Ctx<'_>, asset: AssetId) -> ExecResult<Option<MachineId>> {
    Ok(ctx.get(&keys::machine_of_asset(asset))?)
}

/// Who is paid for what `device` earns when `seller` sold it: the machine's treasury while
/// the device belongs to one (a device a holder decision moved out of its machine is paid
/// as any other), the seller otherwise.
pub fn payee(ctx: &Ctx<'_>, device: &DeviceId, seller: &Address) -> ExecResult<Address> {
    let Some(id) = ctx.get::<MachineId>(&keys::machine_of_device(device))? else {
        return Ok(*seller);
    };
    let owner = identity::device(ctx, device)?.owner;
    Ok(if owner == treasury(id) { owner } else { *seller })
}

/// What a tokenization creates.
struct Plan<'a> {
    symbol: &'a str,
    name: &'a str,
    supply: u64,
    retained: u64,
}

fn tokenize(
    ctx: &mut Ctx<'_>,
    devices: &[DeviceId],
    plan: Plan<'_>,
    reserve_bps: u16,
    governance: machina_types::ownership::Governance,
) -> ExecResult {
    let sponsor = ctx.signer();
    let mut owned = Vec::with_capacity(devices.len());
    for id in devices {
        let d = identity::owned_device(ctx, id)?;
        if ctx.get::<MachineId>(&keys::machine_of_device(id))?.is_some() {
            return Err(ErrorCode::AlreadyTokenized.into());
        }
        owned.push(d);
    }
    let mut counters: Counters = ctx.get(&keys::counters())?.unwrap_or_default();
    let id = counters.machine.max(1);
    counters.machine = id.checked_add(1).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::counters(), &counters);
    let treasury = treasury(id);
    let shares = bank::create_asset(
        ctx,
        AssetInfo {
            id: 0,
            issuer: Ownership::account(),
            symbol: plan.symbol.to_string(),
            name: plan.name.to_string(),
            decimals: 0,
            max_supply: Some(plan.supply),
            supply: 0,
            metadata: id.to_be_bytes().to_vec(),
        },
    )?;
    ctx.put(keys::machine_of_asset(shares), &id);
    let mut m = Machine {
        id,
        name: plan.name.to_string(),
        sponsor,
        treasury,
        shares,
        supply: plan.supply,
        devices: devices.to_vec(),
        reserve_bps,
        governance,
        reserve: 0,
        pending: 0,
        index: Default::default(),
        offered: 0,
        open_offerings: 0,
        created_height: ctx.env().height,
    };
    for (holder, amount) in [(treasury, plan.supply - plan.retained), (sponsor, plan.retained)] {
        if amount > 0 {
            bank::issue_asset(ctx, shares, &holder, amount)?;
            let mut p = position(ctx, &m, &holder)?;
            checkpoint(ctx, &m, &holder, &mut p, amount)?;
        }
    }
    for mut d in owned {
        // The owner changes without a new ownership epoch: the devices' role grants
        // (gateway, seller, operator) stay valid under the machine.
        d.owner = treasury;
        identity::store_device(ctx, &d);
        ctx.put(keys::machine_of_device(&d.id), &id);
        ctx.emit(Event::Identity(IdentityEvent::DeviceTransferred {
            device: d.id,
            from: sponsor,
            to: treasury,
        }))?;
    }
    sync(ctx, &mut m)?;
    store_machine(ctx, &m);
    emit(ctx, OwnershipEvent::Tokenized { machine: id, treasury, shares, supply: plan.supply })
}

/// Splits the treasury's income since the last call that touched the machine between its
/// reserve and its holders, and moves what the treasury's own (unsold) shares earned to
/// the reserve. Every call that reads the machine's revenue or moves its shares runs it
/// first, so income is split at the supply and holdings it arrived under.
pub fn sync(ctx: &mut Ctx<'_>, m: &mut Machine) -> ExecResult {
    let balance = bank::account(ctx, &m.treasury)?.balance;
    let booked = m.reserve.checked_add(m.pending).ok_or(ErrorCode::Overflow)?;
    // Only a proposal's calls spend from the treasury; one that spent what holders are owed
    // fails here if a later call of it touches the machine, or after its calls otherwise.
    if balance < booked {
        return Err(ErrorCode::TreasuryOverspent.into());
    }
    let income = m.income(balance);
    if income > 0 {
        let (reserved, distributed) = m.split(income);
        m.index.credit(distributed)?;
        m.pending += distributed;
        m.reserve += reserved;
        emit(ctx, OwnershipEvent::Revenue { machine: m.id, distributed, reserved })?;
    }
    let treasury = m.treasury;
    let mut p = position(ctx, m, &treasury)?;
    settle(ctx, m, &treasury, &mut p)?;
    let units = p.revenue.claim() as Amount;
    m.pending -= units;
    m.reserve += units;
    store_position(ctx, m, &treasury, &p);
    Ok(())
}

/// `holder`'s position in `m` (a new one starts earning now).
fn position(ctx: &Ctx<'_>, m: &Machine, holder: &Address) -> ExecResult<Position> {
    Ok(ctx
        .get(&keys::position(m.id, holder))?
        .unwrap_or(Position { revenue: Holding::starting(&m.index), ..Position::default() }))
}

fn store_position(ctx: &mut Ctx<'_>, m: &Machine, holder: &Address, p: &Position) {
    ctx.put(keys::position(m.id, holder), p);
}

/// Shares of `m` that `holder` holds now.
fn shares_of(ctx: &Ctx<'_>, m: &Machine, holder: &Address) -> ExecResult<u64> {
    Ok(bank::asset_balance(ctx, m.shares, holder)?)
}

/// Adds what `holder`'s shares earned since its last settlement to what it is owed.
fn settle(ctx: &Ctx<'_>, m: &Machine, holder: &Address, p: &mut Position) -> ExecResult {
    let shares = shares_of(ctx, m, holder)?;
    Ok(p.revenue.settle(&m.index, shares, m.supply)?)
}

/// Records `holder`'s new share balance at this height, and forgets checkpoints no vote
/// can need (older than the longest voting period), two at a time.
fn checkpoint(
    ctx: &mut Ctx<'_>,
    m: &Machine,
    holder: &Address,
    p: &mut Position,
    shares: u64,
) -> ExecResult {
    let height = ctx.env().height;
    let last = match p.checkpoints > p.first {
        true => ctx.get::<Checkpoint>(&keys::checkpoint(m.id, holder, p.checkpoints - 1))?,
        false => None,
    };
    let index = match last {
        Some(c) if c.height == height => p.checkpoints - 1,
        _ => {
            p.checkpoints = p.checkpoints.checked_add(1).ok_or(ErrorCode::Overflow)?;
            p.checkpoints - 1
        }
    };
    ctx.put(keys::checkpoint(m.id, holder, index), &Checkpoint { height, shares });
    let cutoff = height.saturating_sub(GOVERNANCE_BLOCKS_MAX + 1);
    for _ in 0..2 {
        if p.first + 1 >= p.checkpoints {
            break;
        }
        let next: Checkpoint = ctx.stored(&keys::checkpoint(m.id, holder, p.first + 1))?;
        if next.height > cutoff {
            break;
        }
        ctx.delete(keys::checkpoint(m.id, holder, p.first));
        p.first += 1;
    }
    store_position(ctx, m, holder, p);
    Ok(())
}

/// The shares `holder` held at the end of block `height` (which must not be older than
/// the longest voting period).
fn shares_at(ctx: &Ctx<'_>, m: &Machine, holder: &Address, height: u64) -> ExecResult<u64> {
    let Some(p) = ctx.get::<Position>(&keys::position(m.id, holder))? else {
        return Ok(0);
    };
    // The last checkpoint at or before `height`, by binary search over first..count.
    let (mut lo, mut hi) = (p.first, p.checkpoints);
    let mut found = 0;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let c: Checkpoint = ctx.stored(&keys::checkpoint(m.id, holder, mid))?;
        if c.height <= height {
            found = c.shares;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(found)
}

/// Moves shares between holders: both sides' revenue is settled first (what the shares
/// earned before stays with the sender), then their balances checkpointed for votes.
pub fn transfer_shares(
    ctx: &mut Ctx<'_>,
    id: MachineId,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> ExecResult {
    let mut m = machine(ctx, id)?;
    sync(ctx, &mut m)?;
    let mut sender = position(ctx, &m, from)?;
    settle(ctx, &m, from, &mut sender)?;
    store_position(ctx, &m, from, &sender);
    let mut receiver = position(ctx, &m, to)?;
    settle(ctx, &m, to, &mut receiver)?;
    store_position(ctx, &m, to, &receiver);
    bank::move_asset(ctx, m.shares, from, to, amount)?;
    if *from == m.treasury && shares_of(ctx, &m, from)? < m.offered {
        return Err(ErrorCode::SharesUnavailable.into());
    }
    // Reload: a self-transfer stored one position twice.
    for holder in [from, to] {
        let mut p = position(ctx, &m, holder)?;
        let shares = shares_of(ctx, &m, holder)?;
        checkpoint(ctx, &m, holder, &mut p, shares)?;
    }
    store_machine(ctx, &m);
    Ok(())
}

fn claim(ctx: &mut Ctx<'_>, id: MachineId) -> ExecResult {
    let holder = ctx.signer();
    let mut m = machine(ctx, id)?;
    sync(ctx, &mut m)?;
    let mut p = position(ctx, &m, &holder)?;
    settle(ctx, &m, &holder, &mut p)?;
    // At most `pending`, which is an `Amount`.
    let amount = p.revenue.claim() as Amount;
    if amount == 0 {
        return Err(ErrorCode::NothingToClaim.into());
    }
    m.pending -= amount;
    store_position(ctx, &m, &holder, &p);
    store_machine(ctx, &m);
    bank::transfer(ctx, &m.treasury, &holder, amount)?;
    emit(ctx, OwnershipEvent::Claimed { machine: id, holder, amount })
}
