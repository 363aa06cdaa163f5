//! The identity lifecycle, step by step, each step and each refusal.

use super::{bond_pool, keys, slashed_pool, state::*};
use crate::testing::{CHAIN, Chain};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::identity::IdentityEvent;
use machina_types::{
    Address, DeviceCertificate, DeviceId, ErrorCode, Event, Hash, IdentityCall,
    device::{self, CertificateBody, DeviceStatus},
    identity::{Approval, SLASH_NAMESPACE, slash_message},
};

pub(crate) const MAKER: usize = 1;
pub(crate) const OWNER: usize = 2;
pub(crate) const OTHER: usize = 3;
const BOND: u64 = 5_000_000_000;

/// A chain with a registered maker (account 1) and helpers to build its devices.
pub(crate) struct Fixture {
    pub(crate) chain: Chain,
    pub(crate) maker_key: PrivateKey,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self::with_chain(Chain::new(4))
    }

    /// A fixture over `chain` (which needs at least 4 accounts).
    pub(crate) fn with_chain(mut chain: Chain) -> Self {
        let maker_key = PrivateKey::from_seed(500);
        let register = IdentityCall::RegisterMaker {
            name: "Acme Sensors".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond: BOND,
        };
        chain.run(MAKER, register).unwrap();
        Self { chain, maker_key }
    }

    pub(crate) fn device_key(serial: u64) -> PrivateKey {
        PrivateKey::from_seed(600 + serial)
    }

    pub(crate) fn certificate(&self, serial: u64) -> DeviceCertificate {
        CertificateBody {
            maker: self.chain.addr(MAKER),
            device_key: Address::of(&Self::device_key(serial).public_key()),
            model: "TH-100".into(),
            serial_hash: Hash::of(&[&serial.to_be_bytes()]),
        }
        .sign(&self.maker_key)
    }

    pub(crate) fn onboard_call(&self, serial: u64, owner: usize) -> IdentityCall {
        let certificate = self.certificate(serial);
        let message =
            device::claim_message(CHAIN, &certificate.device_id(), &self.chain.addr(owner));
        let claim_signature = Self::device_key(serial).sign(device::CLAIM_NAMESPACE, &message);
        IdentityCall::OnboardDevice { certificate, claim_signature }
    }

    /// Onboards device `serial` to `owner`; returns its id.
    pub(crate) fn onboard(&mut self, serial: u64, owner: usize) -> DeviceId {
        let call = self.onboard_call(serial, owner);
        self.chain.run(owner, call).unwrap();
        self.certificate(serial).device_id()
    }

    pub(crate) fn device(&self, id: &DeviceId) -> Device {
        self.chain.state.get(&keys::device(id)).unwrap()
    }
}

#[test]
fn a_maker_registers_and_its_bond_moves_to_the_bond_pool() {
    let f = Fixture::new();
    let maker: Maker = f.chain.state.get(&keys::maker(&f.chain.addr(MAKER))).unwrap();
    assert_eq!(maker.bond, BOND);
    assert_eq!(f.chain.balance(&bond_pool()), BOND);
}

#[test]
fn a_maker_cannot_register_twice_or_below_the_minimum_bond() {
    let mut f = Fixture::new();
    let key = Address::of(&f.maker_key.public_key());
    let again = IdentityCall::RegisterMaker { name: "Acme".into(), maker_key: key, bond: BOND };
    assert_eq!(f.chain.run(MAKER, again), Err(ErrorCode::MakerExists));
    let small = IdentityCall::RegisterMaker { name: "Tiny".into(), maker_key: key, bond: 1 };
    assert_eq!(f.chain.run(OTHER, small), Err(ErrorCode::BondTooSmall));
}

#[test]
fn a_certified_device_claimed_by_its_owner_is_onboarded_to_that_owner() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let d = f.device(&id);
    assert_eq!(d.owner, f.chain.addr(OWNER));
    assert_eq!(d.maker(), f.chain.addr(MAKER));
    assert_eq!(d.status, DeviceStatus::Active);
    assert_eq!(d.keys, vec![Address::of(&Fixture::device_key(1).public_key())]);
    let maker: Maker = f.chain.state.get(&keys::maker(&f.chain.addr(MAKER))).unwrap();
    assert_eq!(maker.devices, 1);
}

#[test]
fn a_certificate_not_signed_by_the_maker_key_is_refused() {
    let mut f = Fixture::new();
    let forged = CertificateBody { ..f.certificate(1).body }.sign(&PrivateKey::from_seed(999));
    let message = device::claim_message(CHAIN, &forged.device_id(), &f.chain.addr(OWNER));
    let claim_signature = Fixture::device_key(1).sign(device::CLAIM_NAMESPACE, &message);
    let call = IdentityCall::OnboardDevice { certificate: forged, claim_signature };
    assert_eq!(f.chain.run(OWNER, call), Err(ErrorCode::BadCertificate));
}

#[test]
fn an_intercepted_certificate_cannot_be_claimed_by_someone_else() {
    let mut f = Fixture::new();
    let call = f.onboard_call(1, OWNER); // the device signed a claim for OWNER
    assert_eq!(f.chain.run(OTHER, call), Err(ErrorCode::BadDeviceSignature));
}

#[test]
fn a_device_cannot_be_onboarded_twice_or_by_an_unregistered_maker() {
    let mut f = Fixture::new();
    f.onboard(1, OWNER);
    let again = f.onboard_call(1, OWNER);
    assert_eq!(f.chain.run(OWNER, again), Err(ErrorCode::DeviceExists));
    let mut orphan = f.certificate(2);
    orphan.body.maker = f.chain.addr(OTHER);
    let orphan = orphan.body.sign(&f.maker_key);
    let message = device::claim_message(CHAIN, &orphan.device_id(), &f.chain.addr(OWNER));
    let claim_signature = Fixture::device_key(2).sign(device::CLAIM_NAMESPACE, &message);
    let call = IdentityCall::OnboardDevice { certificate: orphan, claim_signature };
    assert_eq!(f.chain.run(OWNER, call), Err(ErrorCode::UnknownMaker));
}

#[test]
fn only_the_owner_transfers_a_device() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let to = f.chain.addr(OTHER);
    assert_eq!(
        f.chain.run(OTHER, IdentityCall::TransferDevice { device: id, to }),
        Err(ErrorCode::NotDeviceOwner)
    );
    f.chain.run(OWNER, IdentityCall::TransferDevice { device: id, to }).unwrap();
    assert_eq!(f.device(&id).owner, to);
}

fn rotation(id: &DeviceId, old: &PrivateKey, new: &PrivateKey, epoch: u64) -> IdentityCall {
    let new_key = Address::of(&new.public_key());
    let signature =
        old.sign(device::ROTATION_NAMESPACE, &device::rotation_message(CHAIN, id, &new_key, epoch));
    IdentityCall::RotateKey { device: *id, new_key, signature }
}

#[test]
fn a_key_rotation_needs_the_owner_and_the_current_key_and_keeps_the_old_key_known() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let (old, new) = (Fixture::device_key(1), PrivateKey::from_seed(777));
    assert_eq!(f.chain.run(OTHER, rotation(&id, &old, &new, 0)), Err(ErrorCode::NotDeviceOwner));
    assert_eq!(
        f.chain.run(OWNER, rotation(&id, &new, &new, 0)),
        Err(ErrorCode::BadDeviceSignature),
        "the new key cannot approve itself"
    );
    f.chain.run(OWNER, rotation(&id, &old, &new, 0)).unwrap();
    let d = f.device(&id);
    assert_eq!(d.current_key(), Address::of(&new.public_key()));
    assert_eq!(d.keys.len(), 2);
    assert_eq!(d.key_epoch, 1);
    assert_eq!(
        f.chain.run(OWNER, rotation(&id, &old, &PrivateKey::from_seed(778), 1)),
        Err(ErrorCode::BadDeviceSignature),
        "the retired key can no longer rotate"
    );
}

#[test]
fn a_device_key_serves_one_device_only_ever() {
    let mut f = Fixture::new();
    let first = f.onboard(1, OWNER);
    let second = f.onboard(2, OWNER);
    // Another serial certified with the first device's key.
    let body = CertificateBody {
        maker: f.chain.addr(MAKER),
        device_key: Address::of(&Fixture::device_key(1).public_key()),
        model: "TH-100".into(),
        serial_hash: Hash::of(&[&99u64.to_be_bytes()]),
    };
    let certificate = body.sign(&f.maker_key);
    let message = device::claim_message(CHAIN, &certificate.device_id(), &f.chain.addr(OWNER));
    let claim_signature = Fixture::device_key(1).sign(device::CLAIM_NAMESPACE, &message);
    let clone = IdentityCall::OnboardDevice { certificate, claim_signature };
    assert_eq!(f.chain.run(OWNER, clone), Err(ErrorCode::DeviceKeyInUse));
    // Neither the other device's key nor a key rotated away may be taken again.
    let (key1, key2) = (Fixture::device_key(1), Fixture::device_key(2));
    assert_eq!(
        f.chain.run(OWNER, rotation(&first, &key1, &key2, 0)),
        Err(ErrorCode::DeviceKeyInUse)
    );
    let new = PrivateKey::from_seed(777);
    f.chain.run(OWNER, rotation(&first, &key1, &new, 0)).unwrap();
    assert_eq!(
        f.chain.run(OWNER, rotation(&second, &key2, &key1, 0)),
        Err(ErrorCode::DeviceKeyInUse)
    );
}

fn firmware_release(f: &Fixture, firmware: Hash) -> IdentityCall {
    let message = device::firmware_message(CHAIN, &f.chain.addr(MAKER), &firmware, "1.2.0");
    let signature = f.maker_key.sign(device::FIRMWARE_NAMESPACE, &message);
    IdentityCall::PublishFirmware { firmware, version: "1.2.0".into(), signature }
}

fn firmware_report(id: &DeviceId, key: &PrivateKey, firmware: Hash) -> IdentityCall {
    let message = device::firmware_report_message(CHAIN, id, &firmware);
    let signature = key.sign(device::FIRMWARE_REPORT_NAMESPACE, &message);
    IdentityCall::ReportFirmware { device: *id, firmware, signature }
}

#[test]
fn a_device_reports_firmware_its_maker_released_and_nothing_else() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let firmware = Hash([9; 32]);
    let report = firmware_report(&id, &Fixture::device_key(1), firmware);
    assert_eq!(f.chain.run(OWNER, report.clone()), Err(ErrorCode::UnknownFirmware));
    let release = firmware_release(&f, firmware);
    assert_eq!(f.chain.run(OTHER, release.clone()), Err(ErrorCode::UnknownMaker));
    f.chain.run(MAKER, release).unwrap();
    let forged = firmware_report(&id, &PrivateKey::from_seed(1), firmware);
    assert_eq!(f.chain.run(OWNER, forged), Err(ErrorCode::BadDeviceSignature));
    f.chain.run(OTHER, report).unwrap(); // anyone may relay the device-signed report
    assert_eq!(f.device(&id).firmware, Some(firmware));
}

#[test]
fn the_owner_sets_replaces_and_removes_attributes_within_the_limit() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let set = |key: &str, value: Option<&str>| IdentityCall::SetAttribute {
        device: id,
        key: key.into(),
        value: value.map(Into::into),
    };
    f.chain.run(OWNER, set("site", Some("warehouse-w"))).unwrap();
    f.chain.run(OWNER, set("site", Some("warehouse-x"))).unwrap();
    assert_eq!(f.device(&id).attribute("site"), Some("warehouse-x"));
    f.chain.run(OWNER, set("site", None)).unwrap();
    assert_eq!(f.device(&id).attribute("site"), None);
    assert_eq!(f.chain.run(OTHER, set("site", Some("x"))), Err(ErrorCode::NotDeviceOwner));
    for i in 0..machina_types::limits::ATTRIBUTES_PER_DEVICE_MAX {
        f.chain.run(OWNER, set(&format!("k{i}"), Some("v"))).unwrap();
    }
    assert_eq!(f.chain.run(OWNER, set("one-more", Some("v"))), Err(ErrorCode::AttributeLimit));
}

#[test]
fn a_suspended_device_resumes_but_a_decommissioned_one_is_final() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    f.chain.run(OWNER, IdentityCall::Suspend { device: id }).unwrap();
    assert_eq!(f.device(&id).status, DeviceStatus::Suspended);
    f.chain.run(OWNER, IdentityCall::Resume { device: id }).unwrap();
    let events = f.chain.run(OWNER, IdentityCall::Decommission { device: id }).unwrap();
    assert_eq!(
        events,
        vec![Event::Identity(IdentityEvent::DeviceStatusChanged {
            device: id,
            status: DeviceStatus::Decommissioned
        })]
    );
    for call in [
        IdentityCall::Resume { device: id },
        IdentityCall::Decommission { device: id },
        IdentityCall::TransferDevice { device: id, to: f.chain.addr(OTHER) },
    ] {
        assert_eq!(f.chain.run(OWNER, call), Err(ErrorCode::DeviceDecommissioned));
    }
}

#[test]
fn roles_are_granted_with_an_expiry_and_revoked_by_the_owner() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let account = f.chain.addr(OTHER);
    let expiry = f.chain.height + 3;
    let grant = IdentityCall::GrantRole {
        device: id,
        account,
        role: "reader".into(),
        expiry_height: Some(expiry),
    };
    assert_eq!(f.chain.run(OTHER, grant.clone()), Err(ErrorCode::NotDeviceOwner));
    f.chain.run(OWNER, grant).unwrap();
    let holds = |f: &Fixture| {
        let ctx_state = &f.chain.state;
        let grant: Option<RoleGrant> = ctx_state.get(&keys::role(&id, &account, "reader"));
        grant.is_some_and(|g| g.expiry_height.is_none_or(|e| f.chain.height < e))
    };
    assert!(holds(&f));
    f.chain.block(vec![]);
    f.chain.block(vec![]);
    assert!(!holds(&f), "the grant expires");
    let revoke = IdentityCall::RevokeRole { device: id, account, role: "reader".into() };
    f.chain.run(OWNER, revoke).unwrap();
    assert!(f.chain.state.get::<RoleGrant>(&keys::role(&id, &account, "reader")).is_none());
}

/// Approvals of slashing `amount` of `maker`'s bond by `validators`, as of the maker's
/// current slashed total.
fn approvals(f: &Fixture, validators: &[&PrivateKey], amount: u64) -> Vec<Approval> {
    let maker = f.chain.addr(MAKER);
    let record: Maker = f.chain.state.get(&keys::maker(&maker)).unwrap();
    let message = slash_message(CHAIN, &maker, amount, record.slashed);
    validators
        .iter()
        .map(|k| Approval {
            validator: Address::of(&k.public_key()),
            signature: k.sign(SLASH_NAMESPACE, &message),
        })
        .collect()
}

#[test]
fn a_single_validator_cannot_slash_a_maker_only_a_quorum_can() {
    let validators: Vec<PrivateKey> = (0..4).map(|i| PrivateKey::from_seed(7_000 + i)).collect();
    let v: Vec<&PrivateKey> = validators.iter().collect();
    let chain = Chain::with_validators(4, crate::Params::default(), validators.clone());
    let mut f = Fixture::with_chain(chain);
    let maker = f.chain.addr(MAKER);
    let slash = |amount, approvals| IdentityCall::SlashMaker { maker, amount, approvals };

    let one = approvals(&f, &v[..1], BOND);
    assert_eq!(f.chain.run(OTHER, slash(BOND, one)), Err(ErrorCode::NoQuorum));
    let mut repeated = approvals(&f, &[v[0], v[1]], BOND);
    repeated.push(repeated[0].clone());
    assert_eq!(f.chain.run(OTHER, slash(BOND, repeated)), Err(ErrorCode::NoQuorum));
    let outsider = PrivateKey::from_seed(9);
    let with_outsider = approvals(&f, &[v[0], v[1], &outsider], BOND);
    assert_eq!(f.chain.run(OTHER, slash(BOND, with_outsider)), Err(ErrorCode::NotValidator));
    let other_amount = approvals(&f, &v[..3], BOND / 2);
    assert_eq!(f.chain.run(OTHER, slash(BOND, other_amount)), Err(ErrorCode::BadSignature));
    let too_much = approvals(&f, &v[..3], BOND + 1);
    assert_eq!(f.chain.run(OTHER, slash(BOND + 1, too_much)), Err(ErrorCode::InsufficientFunds));

    let quorum = approvals(&f, &v[..3], BOND / 2);
    f.chain.run(OTHER, slash(BOND / 2, quorum.clone())).unwrap();
    let record: Maker = f.chain.state.get(&keys::maker(&maker)).unwrap();
    assert_eq!((record.bond, record.slashed), (BOND - BOND / 2, BOND / 2));
    assert_eq!(f.chain.balance(&slashed_pool()), BOND / 2);
    assert_eq!(f.chain.balance(&bond_pool()), BOND - BOND / 2);
    assert_eq!(
        f.chain.run(OTHER, slash(BOND / 2, quorum)),
        Err(ErrorCode::BadSignature),
        "an approval is used once"
    );
}

/// A weak key: the curve's identity point, of small order (ZIP-215 verification accepts
/// signatures of it that anyone can make).
fn weak_key() -> Address {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    Address(bytes)
}

#[test]
fn weak_keys_cannot_become_maker_keys_device_keys_or_rotated_keys() {
    let mut f = Fixture::new();
    let register =
        IdentityCall::RegisterMaker { name: "Weak".into(), maker_key: weak_key(), bond: BOND };
    assert_eq!(f.chain.run(OTHER, register), Err(ErrorCode::WeakKey));

    // A certificate for a weak device key: the maker signs it, the claim cannot be signed
    // by anyone honestly, and the key is refused before anything else.
    let certificate = CertificateBody {
        maker: f.chain.addr(MAKER),
        device_key: weak_key(),
        model: "TH-100".into(),
        serial_hash: Hash::of(&[b"weak"]),
    }
    .sign(&f.maker_key);
    let onboard = IdentityCall::OnboardDevice {
        certificate,
        claim_signature: PrivateKey::from_seed(1).sign(device::CLAIM_NAMESPACE, b"anything"),
    };
    assert_eq!(f.chain.run(OWNER, onboard), Err(ErrorCode::WeakKey));

    let id = f.onboard(1, OWNER);
    let message = device::rotation_message(CHAIN, &id, &weak_key(), 0);
    let signature = Fixture::device_key(1).sign(device::ROTATION_NAMESPACE, &message);
    let rotate = IdentityCall::RotateKey { device: id, new_key: weak_key(), signature };
    assert_eq!(f.chain.run(OWNER, rotate), Err(ErrorCode::WeakKey));
}

#[test]
fn a_rotation_or_firmware_report_signed_for_another_chain_is_refused() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let new = PrivateKey::from_seed(778);
    let new_key = Address::of(&new.public_key());
    let elsewhere = device::rotation_message("another-chain", &id, &new_key, 0);
    let signature = Fixture::device_key(1).sign(device::ROTATION_NAMESPACE, &elsewhere);
    let rotate = IdentityCall::RotateKey { device: id, new_key, signature };
    assert_eq!(f.chain.run(OWNER, rotate), Err(ErrorCode::BadDeviceSignature));

    let firmware = Hash([5; 32]);
    let release = device::firmware_message(CHAIN, &f.chain.addr(MAKER), &firmware, "2.0");
    let signature = f.maker_key.sign(device::FIRMWARE_NAMESPACE, &release);
    let publish = IdentityCall::PublishFirmware { firmware, version: "2.0".into(), signature };
    f.chain.run(MAKER, publish).unwrap();
    let report = device::firmware_report_message("another-chain", &id, &firmware);
    let signature = Fixture::device_key(1).sign(device::FIRMWARE_REPORT_NAMESPACE, &report);
    let call = IdentityCall::ReportFirmware { device: id, firmware, signature };
    assert_eq!(f.chain.run(OWNER, call), Err(ErrorCode::BadDeviceSignature));
}

#[test]
fn role_grants_end_when_the_device_changes_owner() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let gateway = f.chain.addr(OTHER);
    let grant = IdentityCall::GrantRole {
        device: id,
        account: gateway,
        role: machina_types::identity::roles::GATEWAY.into(),
        expiry_height: None,
    };
    f.chain.run(OWNER, grant.clone()).unwrap();
    let holds = |f: &Fixture| {
        let d = f.device(&id);
        let g: Option<RoleGrant> = f.chain.state.get(&keys::role(&id, &gateway, "gateway"));
        g.is_some_and(|g| g.holds(&d, f.chain.height))
    };
    assert!(holds(&f));
    let new_owner = f.chain.addr(MAKER);
    f.chain.run(OWNER, IdentityCall::TransferDevice { device: id, to: new_owner }).unwrap();
    assert!(!holds(&f), "the previous owner's grant ended with the transfer");
    f.chain.run(MAKER, grant).unwrap();
    assert!(holds(&f), "the new owner may grant it again");
}
