//! Identity: makers, devices, firmware and roles.
//!
//! Makers register with a bond and a maker key. A device is onboarded with a certificate
//! its maker's key signed (device key, model, serial hash) plus the device's own signature
//! claiming it for its first owner, so identities cost a maker's bond to fake and cannot be
//! claimed by whoever intercepts a certificate. The device id derives from maker and serial
//! hash and never changes; keys rotate (approved by the current key and the owner), and the
//! record remembers recent keys so earlier readings still verify. Owners transfer, suspend,
//! resume and decommission devices (final), set attributes and grant roles that other
//! modules check; a grant ends when the device changes owner, and the grantee may accept it
//! (feeds count only accepted grants, so nobody can enrol sources into someone else's feed).
//! A quorum of validators can slash a maker's bond for certified fakes; no single validator
//! can. Every key that enters (maker keys, device keys, rotated keys) must be a strong key.
//!
//! Invariant: the bond pool account holds exactly the sum of makers' bonds.

pub use machina_types::identity::{keys, params, state};
#[cfg(test)]
pub(crate) mod tests;

use crate::{
    module::{Ctx, ExecResult, Module},
    modules::bank,
    state::Key,
};
use machina_types::identity::IdentityEvent;
use machina_types::{
    Address, DeviceId, ErrorCode, Event, IdentityCall,
    device::{self, DeviceStatus},
    identity::{Approval, SLASH_NAMESPACE, roles, slash_message},
    limits::{ATTRIBUTES_PER_DEVICE_MAX, DEVICE_KEYS_REMEMBERED},
};
use state::{Attribute, Device, Firmware, Maker, Reputation, RoleGrant};

/// The account that holds makers' bonds.
pub fn bond_pool() -> Address {
    Address::module("maker-bonds")
}

/// The account that receives slashed bonds.
pub fn slashed_pool() -> Address {
    Address::module("slashed")
}

/// The identity module.
pub struct Identity;

impl Module for Identity {
    type Call = IdentityCall;

    fn hint(call: &IdentityCall, signer: &Address, out: &mut Vec<Key>) {
        match call {
            IdentityCall::RegisterMaker { .. } => out.extend([
                keys::maker(signer),
                bank::keys::account(signer),
                bank::keys::account(&bond_pool()),
            ]),
            IdentityCall::OnboardDevice { certificate, .. } => out.extend([
                keys::maker(&certificate.body.maker),
                keys::device(&certificate.device_id()),
                keys::device_of_key(&certificate.body.device_key),
            ]),
            IdentityCall::PublishFirmware { firmware, .. } => {
                out.extend([keys::maker(signer), keys::firmware(signer, firmware)])
            }
            IdentityCall::AcceptRole { device, role } => {
                out.extend([keys::device(device), keys::role(device, signer, role)])
            }
            IdentityCall::SlashMaker { maker, .. } => out.extend([
                keys::maker(maker),
                bank::keys::account(&bond_pool()),
                bank::keys::account(&slashed_pool()),
            ]),
            IdentityCall::RotateKey { device, new_key, .. } => {
                out.extend([keys::device(device), keys::device_of_key(new_key)])
            }
            IdentityCall::TransferDevice { device, .. }
            | IdentityCall::ReportFirmware { device, .. }
            | IdentityCall::SetAttribute { device, .. }
            | IdentityCall::Suspend { device }
            | IdentityCall::Resume { device }
            | IdentityCall::Decommission { device }
            | IdentityCall::GrantRole { device, .. }
            | IdentityCall::RevokeRole { device, .. } => out.push(keys::device(device)),
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &IdentityCall) -> ExecResult {
        match call {
            IdentityCall::RegisterMaker { name, maker_key, bond } => {
                register_maker(ctx, name, maker_key, *bond)
            }
            IdentityCall::OnboardDevice { certificate, claim_signature } => {
                onboard(ctx, certificate, claim_signature)
            }
            IdentityCall::TransferDevice { device, to } => {
                let mut d = owned_device(ctx, device)?;
                let from = d.owner;
                d.owner = *to;
                d.ownership = d.ownership.checked_add(1).ok_or(ErrorCode::Overflow)?;
                store_device(ctx, &d);
                ctx.emit(Event::Identity(IdentityEvent::DeviceTransferred {
                    device: *device,
                    from,
                    to: *to,
                }))
            }
            IdentityCall::RotateKey { device, new_key, signature } => {
                rotate_key(ctx, device, new_key, signature)
            }
            IdentityCall::PublishFirmware { firmware, version, signature } => {
                publish_firmware(ctx, firmware, version, signature)
            }
            IdentityCall::ReportFirmware { device, firmware, signature } => {
                report_firmware(ctx, device, firmware, signature)
            }
            IdentityCall::SetAttribute { device, key, value } => {
                set_attribute(ctx, device, key, value.as_deref())
            }
            IdentityCall::Suspend { device } => {
                set_status(ctx, device, DeviceStatus::Active, DeviceStatus::Suspended)
            }
            IdentityCall::Resume { device } => {
                set_status(ctx, device, DeviceStatus::Suspended, DeviceStatus::Active)
            }
            IdentityCall::Decommission { device } => decommission(ctx, device),
            IdentityCall::GrantRole { device, account, role, expiry_height } => {
                let d = owned_device(ctx, device)?;
                let grant = RoleGrant {
                    expiry_height: *expiry_height,
                    ownership: d.ownership,
                    accepted: false,
                };
                ctx.put(keys::role(device, account, role), &grant);
                let (account, role) = (*account, role.clone());
                ctx.emit(Event::Identity(IdentityEvent::RoleGranted {
                    device: *device,
                    account,
                    role,
                }))
            }
            IdentityCall::RevokeRole { device, account, role } => {
                owned_device(ctx, device)?;
                ctx.delete(keys::role(device, account, role));
                let (account, role) = (*account, role.clone());
                ctx.emit(Event::Identity(IdentityEvent::RoleRevoked {
                    device: *device,
                    account,
                    role,
                }))
            }
            IdentityCall::SlashMaker { maker, amount, approvals } => {
                slash_maker(ctx, maker, *amount, approvals)
            }
            IdentityCall::AcceptRole { device, role } => accept_role(ctx, device, role),
        }
    }
}

/// The maker registered for `account`.
pub fn maker(ctx: &Ctx<'_>, account: &Address) -> ExecResult<Maker> {
    Ok(ctx.get(&keys::maker(account))?.ok_or(ErrorCode::UnknownMaker)?)
}

/// The device `id`.
pub fn device(ctx: &Ctx<'_>, id: &DeviceId) -> ExecResult<Device> {
    Ok(ctx.get(&keys::device(id))?.ok_or(ErrorCode::UnknownDevice)?)
}

/// The device `id`, which the signer must own and which must not be decommissioned.
pub fn owned_device(ctx: &Ctx<'_>, id: &DeviceId) -> ExecResult<Device> {
    let d = device(ctx, id)?;
    if d.owner != ctx.signer() {
        return Err(ErrorCode::NotDeviceOwner.into());
    }
    if d.status == DeviceStatus::Decommissioned {
        return Err(ErrorCode::DeviceDecommissioned.into());
    }
    Ok(d)
}

/// The device `id`, which must be active (not suspended or decommissioned).
pub fn active_device(ctx: &Ctx<'_>, id: &DeviceId) -> ExecResult<Device> {
    let d = device(ctx, id)?;
    match d.status.refusal() {
        Some(code) => Err(code.into()),
        None => Ok(d),
    }
}

/// Stores a device record.
pub fn store_device(ctx: &mut Ctx<'_>, d: &Device) {
    ctx.put(keys::device(&d.id), d);
}

/// The grant of `role` to `account` on `d` if it holds at the current height: made under
/// the device's current owner and not expired.
fn grant(
    ctx: &Ctx<'_>,
    d: &Device,
    account: &Address,
    role: &str,
) -> ExecResult<Option<RoleGrant>> {
    let grant: Option<RoleGrant> = ctx.get(&keys::role(&d.id, account, role))?;
    let height = ctx.env().height;
    Ok(grant.filter(|g| g.holds(d, height)))
}

/// Whether `account` holds `role` on `d` at the current height (owners hold every role).
pub fn has_role(ctx: &Ctx<'_>, d: &Device, account: &Address, role: &str) -> ExecResult<bool> {
    let grant: Option<RoleGrant> = ctx.get(&keys::role(&d.id, account, role))?;
    Ok(d.role_held_by(account, grant.as_ref(), ctx.env().height))
}

/// Whether `account` holds `role` on `d` and accepted it.
pub fn has_accepted_role(
    ctx: &Ctx<'_>,
    d: &Device,
    account: &Address,
    role: &str,
) -> ExecResult<bool> {
    Ok(grant(ctx, d, account, role)?.is_some_and(|g| g.accepted))
}

fn accept_role(ctx: &mut Ctx<'_>, id: &DeviceId, role: &str) -> ExecResult {
    let d = device(ctx, id)?;
    let account = ctx.signer();
    let mut g = grant(ctx, &d, &account, role)?.ok_or(ErrorCode::NoSuchGrant)?;
    g.accepted = true;
    ctx.put(keys::role(id, &account, role), &g);
    ctx.emit(Event::Identity(IdentityEvent::RoleAccepted {
        device: *id,
        account,
        role: role.to_string(),
    }))
}

/// Checks that the signer may anchor `d`'s readings (owner or `gateway` role).
pub fn require_gateway(ctx: &Ctx<'_>, d: &Device) -> ExecResult {
    if has_role(ctx, d, &ctx.signer(), roles::GATEWAY)? {
        Ok(())
    } else {
        Err(ErrorCode::Unauthorized.into())
    }
}

fn register_maker(ctx: &mut Ctx<'_>, name: &str, maker_key: &Address, bond: u64) -> ExecResult {
    let signer = ctx.signer();
    if ctx.get::<Maker>(&keys::maker(&signer))?.is_some() {
        return Err(ErrorCode::MakerExists.into());
    }
    if bond < ctx.env().genesis.params.identity.min_maker_bond {
        return Err(ErrorCode::BondTooSmall.into());
    }
    if !maker_key.is_strong_key() {
        return Err(ErrorCode::WeakKey.into());
    }
    bank::debit(ctx, &signer, bond)?;
    bank::credit(ctx, &bond_pool(), bond)?;
    let maker = Maker {
        account: signer,
        name: name.to_string(),
        maker_key: *maker_key,
        bond,
        slashed: 0,
        devices: 0,
    };
    ctx.put(keys::maker(&signer), &maker);
    ctx.emit(Event::Identity(IdentityEvent::MakerRegistered { maker: signer, bond }))
}

fn onboard(
    ctx: &mut Ctx<'_>,
    certificate: &machina_types::DeviceCertificate,
    claim: &machina_types::Signature,
) -> ExecResult {
    let mut maker = maker(ctx, &certificate.body.maker)?;
    if !certificate.verify(&maker.maker_key) {
        return Err(ErrorCode::BadCertificate.into());
    }
    let id = certificate.device_id();
    if ctx.get::<Device>(&keys::device(&id))?.is_some() {
        return Err(ErrorCode::DeviceExists.into());
    }
    let owner = ctx.signer();
    let message = device::claim_message(&ctx.env().genesis.chain_id, &id, &owner);
    let device_key = certificate.body.device_key;
    if !device_key.is_strong_key() {
        return Err(ErrorCode::WeakKey.into());
    }
    if !device::verify(&device_key, device::CLAIM_NAMESPACE, &message, claim) {
        return Err(ErrorCode::BadDeviceSignature.into());
    }
    claim_key(ctx, &device_key, &id)?;
    let record = Device {
        id,
        owner,
        certificate: certificate.clone(),
        keys: vec![device_key],
        key_epoch: 0,
        firmware: None,
        attributes: Vec::new(),
        status: DeviceStatus::Active,
        reputation: Reputation::default(),
        registered_height: ctx.env().height,
        ownership: 0,
    };
    store_device(ctx, &record);
    maker.devices += 1;
    ctx.put(keys::maker(&maker.account), &maker);
    ctx.emit(Event::Identity(IdentityEvent::DeviceOnboarded {
        device: id,
        maker: maker.account,
        owner,
    }))
}

/// Records that `key` belongs to device `id`; a key serves one device only, ever.
fn claim_key(ctx: &mut Ctx<'_>, key: &Address, id: &DeviceId) -> ExecResult {
    if ctx.get::<DeviceId>(&keys::device_of_key(key))?.is_some() {
        return Err(ErrorCode::DeviceKeyInUse.into());
    }
    ctx.put(keys::device_of_key(key), id);
    Ok(())
}

/// The device whose key (current or rotated away) signs for `account`, if any.
pub fn device_of_account(ctx: &Ctx<'_>, account: &Address) -> ExecResult<Option<Device>> {
    match ctx.get::<DeviceId>(&keys::device_of_key(account))? {
        Some(id) => Ok(ctx.get(&keys::device(&id))?),
        None => Ok(None),
    }
}

fn rotate_key(
    ctx: &mut Ctx<'_>,
    id: &DeviceId,
    new_key: &Address,
    signature: &machina_types::Signature,
) -> ExecResult {
    let mut d = owned_device(ctx, id)?;
    if !new_key.is_strong_key() {
        return Err(ErrorCode::WeakKey.into());
    }
    if d.keys.contains(new_key) {
        return Err(ErrorCode::InvalidCall.into());
    }
    let message = device::rotation_message(&ctx.env().genesis.chain_id, id, new_key, d.key_epoch);
    if !device::verify(&d.current_key(), device::ROTATION_NAMESPACE, &message, signature) {
        return Err(ErrorCode::BadDeviceSignature.into());
    }
    claim_key(ctx, new_key, id)?;
    d.keys.push(*new_key);
    if d.keys.len() > DEVICE_KEYS_REMEMBERED {
        d.keys.remove(0);
    }
    d.key_epoch += 1;
    store_device(ctx, &d);
    ctx.emit(Event::Identity(IdentityEvent::DeviceKeyRotated {
        device: *id,
        key: *new_key,
        epoch: d.key_epoch,
    }))
}

fn publish_firmware(
    ctx: &mut Ctx<'_>,
    firmware: &machina_types::Hash,
    version: &str,
    signature: &machina_types::Signature,
) -> ExecResult {
    let signer = ctx.signer();
    let maker = maker(ctx, &signer)?;
    let message = device::firmware_message(&ctx.env().genesis.chain_id, &signer, firmware, version);
    if !device::verify(&maker.maker_key, device::FIRMWARE_NAMESPACE, &message, signature) {
        return Err(ErrorCode::BadCertificate.into());
    }
    let release = Firmware { version: version.to_string(), height: ctx.env().height };
    ctx.put(keys::firmware(&signer, firmware), &release);
    ctx.emit(Event::Identity(IdentityEvent::FirmwarePublished {
        maker: signer,
        firmware: *firmware,
    }))
}

fn report_firmware(
    ctx: &mut Ctx<'_>,
    id: &DeviceId,
    firmware: &machina_types::Hash,
    signature: &machina_types::Signature,
) -> ExecResult {
    let mut d = active_device(ctx, id)?;
    if ctx.get::<Firmware>(&keys::firmware(&d.maker(), firmware))?.is_none() {
        return Err(ErrorCode::UnknownFirmware.into());
    }
    let message = device::firmware_report_message(&ctx.env().genesis.chain_id, id, firmware);
    if !device::verify(&d.current_key(), device::FIRMWARE_REPORT_NAMESPACE, &message, signature) {
        return Err(ErrorCode::BadDeviceSignature.into());
    }
    d.firmware = Some(*firmware);
    store_device(ctx, &d);
    ctx.emit(Event::Identity(IdentityEvent::FirmwareReported { device: *id, firmware: *firmware }))
}

fn set_attribute(ctx: &mut Ctx<'_>, id: &DeviceId, key: &str, value: Option<&str>) -> ExecResult {
    let mut d = owned_device(ctx, id)?;
    let position = d.attributes.binary_search_by(|a| a.key.as_str().cmp(key));
    match (position, value) {
        (Ok(i), Some(v)) => d.attributes[i].value = v.to_string(),
        (Ok(i), None) => {
            d.attributes.remove(i);
        }
        (Err(_), Some(_)) if d.attributes.len() >= ATTRIBUTES_PER_DEVICE_MAX => {
            return Err(ErrorCode::AttributeLimit.into());
        }
        (Err(i), Some(v)) => {
            d.attributes.insert(i, Attribute { key: key.to_string(), value: v.to_string() })
        }
        (Err(_), None) => {}
    }
    store_device(ctx, &d);
    ctx.emit(Event::Identity(IdentityEvent::AttributeChanged { device: *id, key: key.to_string() }))
}

fn set_status(
    ctx: &mut Ctx<'_>,
    id: &DeviceId,
    from: DeviceStatus,
    to: DeviceStatus,
) -> ExecResult {
    let mut d = owned_device(ctx, id)?;
    if d.status != from {
        return Err(ErrorCode::InvalidCall.into());
    }
    d.status = to;
    store_device(ctx, &d);
    ctx.emit(Event::Identity(IdentityEvent::DeviceStatusChanged { device: *id, status: to }))
}

fn decommission(ctx: &mut Ctx<'_>, id: &DeviceId) -> ExecResult {
    let mut d = owned_device(ctx, id)?;
    d.status = DeviceStatus::Decommissioned;
    store_device(ctx, &d);
    ctx.emit(Event::Identity(IdentityEvent::DeviceStatusChanged {
        device: *id,
        status: DeviceStatus::Decommissioned,
    }))
}

/// Validators whose approvals a decision needs: more than two thirds of them (all of one,
/// three of four).
pub fn quorum(validators: usize) -> usize {
    validators - (validators.saturating_sub(1)) / 3
}

fn slash_maker(
    ctx: &mut Ctx<'_>,
    account: &Address,
    amount: u64,
    approvals: &[Approval],
) -> ExecResult {
    let mut m = maker(ctx, account)?;
    let genesis = &ctx.env().genesis;
    let message = slash_message(&genesis.chain_id, account, amount, m.slashed);
    let mut approved = std::collections::BTreeSet::new();
    for a in approvals {
        if !genesis.validators.contains(&a.validator) {
            return Err(ErrorCode::NotValidator.into());
        }
        if !device::verify(&a.validator, SLASH_NAMESPACE, &message, &a.signature) {
            return Err(ErrorCode::BadSignature.into());
        }
        approved.insert(a.validator);
    }
    if approved.len() < quorum(genesis.validators.len()) {
        return Err(ErrorCode::NoQuorum.into());
    }
    m.bond = m.bond.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
    m.slashed = m.slashed.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    bank::debit(ctx, &bond_pool(), amount)?;
    bank::credit(ctx, &slashed_pool(), amount)?;
    ctx.put(keys::maker(account), &m);
    ctx.emit(Event::Identity(IdentityEvent::MakerSlashed { maker: *account, amount }))
}

/// Records a delivery met (`good`) or failed by a device, for modules that judge them.
pub fn record_reputation(ctx: &mut Ctx<'_>, id: &DeviceId, good: bool) -> ExecResult {
    let mut d = device(ctx, id)?;
    let counter = if good { &mut d.reputation.good } else { &mut d.reputation.bad };
    *counter = counter.saturating_add(1);
    store_device(ctx, &d);
    Ok(())
}
