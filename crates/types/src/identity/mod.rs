//! Calls of the identity module: makers, devices, firmware and roles.

#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod params;
#[cfg(feature = "std")]
pub mod state;

use crate::{
    Amount,
    address::Address,
    codec::{read_str, str_size, write_str},
    device::{DeviceCertificate, DeviceId, DeviceStatus},
    error::ErrorCode,
    hash::Hash,
    limits::*,
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::ed25519::Signature;
use serde::{Deserialize, Serialize};

/// Roles the chain itself gives meaning to (any other name is a custom role).
pub mod roles {
    /// May operate the device (e.g. send it commands).
    pub const OPERATOR: &str = "operator";
    /// May read the device's data.
    pub const READER: &str = "reader";
    /// May sell the device's resources.
    pub const SELLER: &str = "seller";
    /// May anchor the device's readings on chain.
    pub const GATEWAY: &str = "gateway";
    /// Granted to a feed's creator and accepted by it: the device may report to the
    /// creator's attribute-eligible feeds.
    pub const FEED_SOURCE: &str = "feed-source";
    /// Granted to a reward pool's funder and accepted by it: the device may enroll in the
    /// funder's attribute-eligible pools.
    pub const REWARD_EARNER: &str = "reward-earner";
}

/// A call to the identity module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IdentityCall {
    /// Register the signer as a maker, bonding native tokens.
    RegisterMaker {
        /// Maker name.
        name: String,
        /// The key that signs device certificates and firmware.
        maker_key: Address,
        /// Bond in native tokens (at least the chain minimum).
        bond: Amount,
    },
    /// Onboard a device from its maker certificate; the signer becomes its first owner.
    OnboardDevice {
        /// The maker-signed certificate.
        certificate: DeviceCertificate,
        /// The device key's signature over the claim (chain, device, owner).
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
        claim_signature: Signature,
    },
    /// Give the device to a new owner (owner only).
    TransferDevice {
        /// The device.
        device: DeviceId,
        /// New owner.
        to: Address,
    },
    /// Replace the device key (owner only, approved by the current device key).
    RotateKey {
        /// The device.
        device: DeviceId,
        /// The new key.
        new_key: Address,
        /// The current key's signature over the rotation (device, new key, epoch).
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
        signature: Signature,
    },
    /// Release firmware (signer: a maker; signed by its maker key).
    PublishFirmware {
        /// SHA-256 of the firmware image.
        firmware: Hash,
        /// Version label.
        version: String,
        /// The maker key's signature over (maker, firmware, version).
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
        signature: Signature,
    },
    /// Record the firmware a device reports running (signed by the device key).
    ReportFirmware {
        /// The device.
        device: DeviceId,
        /// The firmware hash; must be released by the device's maker.
        firmware: Hash,
        /// The device key's signature over (device, firmware).
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
        signature: Signature,
    },
    /// Set or clear a device attribute (owner only).
    SetAttribute {
        /// The device.
        device: DeviceId,
        /// Attribute key.
        key: String,
        /// New value, or `None` to remove.
        value: Option<String>,
    },
    /// Suspend a device: its readings and offers are refused until resumed (owner only).
    Suspend {
        /// The device.
        device: DeviceId,
    },
    /// Resume a suspended device (owner only).
    Resume {
        /// The device.
        device: DeviceId,
    },
    /// Retire a device for good (owner only).
    Decommission {
        /// The device.
        device: DeviceId,
    },
    /// Grant `account` a role on the device (owner only).
    GrantRole {
        /// The device.
        device: DeviceId,
        /// Who gets the role.
        account: Address,
        /// Role name.
        role: String,
        /// Last height the grant holds, if limited.
        expiry_height: Option<u64>,
    },
    /// Revoke a role (owner only).
    RevokeRole {
        /// The device.
        device: DeviceId,
        /// Whose role.
        account: Address,
        /// Role name.
        role: String,
    },
    /// Slash a maker's bond for certified fakes. Anyone may submit it; it carries the
    /// approvals of a quorum of the genesis validators over [`slash_message`], so no single
    /// validator can take a bond.
    SlashMaker {
        /// The maker.
        maker: Address,
        /// Amount to take from the bond.
        amount: Amount,
        /// Validators' signatures over [`slash_message`] (distinct validators).
        approvals: Vec<Approval>,
    },
    /// Accept a role a device's owner granted the signer (a feed's creator accepts the
    /// devices that may report to it).
    AcceptRole {
        /// The device.
        device: DeviceId,
        /// Role name.
        role: String,
    },
}

/// Namespace of validators' approvals of a maker slash.
pub const SLASH_NAMESPACE: &[u8] = b"machina/slash-maker/v1";

/// A validator's signature approving a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Approval {
    /// The validator.
    pub validator: Address,
    /// Its signature.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: Signature,
}

crate::struct_codec!(Approval { validator: plain, signature: plain });

/// What validators sign to approve slashing `amount` of `maker`'s bond on `chain_id`.
/// `slashed_before` is the maker's slashed total when approved, so an approval is used once.
pub fn slash_message(
    chain_id: &str,
    maker: &Address,
    amount: Amount,
    slashed_before: Amount,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + 50);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&maker.0);
    out.extend_from_slice(&amount.to_be_bytes());
    out.extend_from_slice(&slashed_before.to_be_bytes());
    out
}

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max
}

impl crate::call::ModuleCall for IdentityCall {
    const MODULE: &'static str = "identity";
    const TAG: u8 = 2;
    const ERRORS: core::ops::RangeInclusive<u16> = 310..=349;

    /// Stateless validity of the arguments.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::RegisterMaker { name, bond, .. } => valid_name(name, NAME_LEN_MAX) && *bond > 0,
            Self::OnboardDevice { certificate, .. } => {
                valid_name(&certificate.body.model, NAME_LEN_MAX)
            }
            Self::PublishFirmware { version, .. } => valid_name(version, FIRMWARE_VERSION_LEN_MAX),
            Self::SetAttribute { key, value, .. } => {
                valid_name(key, ATTRIBUTE_KEY_LEN_MAX)
                    && value.as_ref().is_none_or(|v| v.len() <= ATTRIBUTE_VALUE_LEN_MAX)
            }
            Self::GrantRole { role, .. } | Self::RevokeRole { role, .. } => {
                valid_name(role, ROLE_LEN_MAX)
            }
            Self::SlashMaker { amount, approvals, .. } => {
                *amount > 0 && !approvals.is_empty() && approvals.len() <= VALIDATORS_MAX
            }
            Self::AcceptRole { role, .. } => valid_name(role, ROLE_LEN_MAX),
            Self::TransferDevice { .. }
            | Self::RotateKey { .. }
            | Self::ReportFirmware { .. }
            | Self::Suspend { .. }
            | Self::Resume { .. }
            | Self::Decommission { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }

    fn native_spend(&self) -> u128 {
        match self {
            Self::RegisterMaker { bond, .. } => u128::from(*bond),
            _ => 0,
        }
    }
}

impl Write for IdentityCall {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::RegisterMaker { name, maker_key, bond } => {
                0u8.write(buf);
                write_str(name, buf);
                maker_key.write(buf);
                bond.write(buf);
            }
            Self::OnboardDevice { certificate, claim_signature } => {
                1u8.write(buf);
                certificate.write(buf);
                claim_signature.write(buf);
            }
            Self::TransferDevice { device, to } => {
                2u8.write(buf);
                device.write(buf);
                to.write(buf);
            }
            Self::RotateKey { device, new_key, signature } => {
                3u8.write(buf);
                device.write(buf);
                new_key.write(buf);
                signature.write(buf);
            }
            Self::PublishFirmware { firmware, version, signature } => {
                4u8.write(buf);
                firmware.write(buf);
                write_str(version, buf);
                signature.write(buf);
            }
            Self::ReportFirmware { device, firmware, signature } => {
                5u8.write(buf);
                device.write(buf);
                firmware.write(buf);
                signature.write(buf);
            }
            Self::SetAttribute { device, key, value } => {
                6u8.write(buf);
                device.write(buf);
                write_str(key, buf);
                value.is_some().write(buf);
                if let Some(v) = value {
                    write_str(v, buf);
                }
            }
            Self::Suspend { device } => {
                7u8.write(buf);
                device.write(buf);
            }
            Self::Resume { device } => {
                8u8.write(buf);
                device.write(buf);
            }
            Self::Decommission { device } => {
                9u8.write(buf);
                device.write(buf);
            }
            Self::GrantRole { device, account, role, expiry_height } => {
                10u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
                expiry_height.write(buf);
            }
            Self::RevokeRole { device, account, role } => {
                11u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::SlashMaker { maker, amount, approvals } => {
                12u8.write(buf);
                maker.write(buf);
                amount.write(buf);
                approvals.write(buf);
            }
            Self::AcceptRole { device, role } => {
                13u8.write(buf);
                device.write(buf);
                write_str(role, buf);
            }
        }
    }
}

impl EncodeSize for IdentityCall {
    fn encode_size(&self) -> usize {
        let sig = Signature::SIZE;
        1 + match self {
            Self::RegisterMaker { name, .. } => str_size(name) + 32 + 8,
            Self::OnboardDevice { certificate, .. } => certificate.encode_size() + sig,
            Self::TransferDevice { .. } => 32 + 32,
            Self::RotateKey { .. } => 32 + 32 + sig,
            Self::PublishFirmware { version, .. } => 32 + str_size(version) + sig,
            Self::ReportFirmware { .. } => 32 + 32 + sig,
            Self::SetAttribute { key, value, .. } => {
                32 + str_size(key) + 1 + value.as_ref().map_or(0, |v| str_size(v))
            }
            Self::Suspend { .. } | Self::Resume { .. } | Self::Decommission { .. } => 32,
            Self::GrantRole { role, expiry_height, .. } => {
                32 + 32 + str_size(role) + expiry_height.encode_size()
            }
            Self::RevokeRole { role, .. } => 32 + 32 + str_size(role),
            Self::SlashMaker { approvals, .. } => 32 + 8 + approvals.encode_size(),
            Self::AcceptRole { role, .. } => 32 + str_size(role),
        }
    }
}

impl Read for IdentityCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::RegisterMaker {
                name: read_str(buf, NAME_LEN_MAX)?,
                maker_key: Address::read(buf)?,
                bond: u64::read(buf)?,
            },
            1 => Self::OnboardDevice {
                certificate: DeviceCertificate::read(buf)?,
                claim_signature: Signature::read(buf)?,
            },
            2 => Self::TransferDevice { device: Hash::read(buf)?, to: Address::read(buf)? },
            3 => Self::RotateKey {
                device: Hash::read(buf)?,
                new_key: Address::read(buf)?,
                signature: Signature::read(buf)?,
            },
            4 => Self::PublishFirmware {
                firmware: Hash::read(buf)?,
                version: read_str(buf, FIRMWARE_VERSION_LEN_MAX)?,
                signature: Signature::read(buf)?,
            },
            5 => Self::ReportFirmware {
                device: Hash::read(buf)?,
                firmware: Hash::read(buf)?,
                signature: Signature::read(buf)?,
            },
            6 => {
                let device = Hash::read(buf)?;
                let key = read_str(buf, ATTRIBUTE_KEY_LEN_MAX)?;
                let value = match bool::read(buf)? {
                    true => Some(read_str(buf, ATTRIBUTE_VALUE_LEN_MAX)?),
                    false => None,
                };
                Self::SetAttribute { device, key, value }
            }
            7 => Self::Suspend { device: Hash::read(buf)? },
            8 => Self::Resume { device: Hash::read(buf)? },
            9 => Self::Decommission { device: Hash::read(buf)? },
            10 => Self::GrantRole {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
                expiry_height: Option::<u64>::read(buf)?,
            },
            11 => Self::RevokeRole {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            12 => Self::SlashMaker {
                maker: Address::read(buf)?,
                amount: u64::read(buf)?,
                approvals: crate::codec::read_vec(buf, VALIDATORS_MAX, &())?,
            },
            13 => Self::AcceptRole { device: Hash::read(buf)?, role: read_str(buf, ROLE_LEN_MAX)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// What the identity module's calls did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IdentityEvent {
    /// A maker registered.
    MakerRegistered {
        /// The maker's account.
        maker: Address,
        /// Its bond.
        bond: Amount,
    },
    /// A maker's bond was slashed.
    MakerSlashed {
        /// The maker's account.
        maker: Address,
        /// Amount taken.
        amount: Amount,
    },
    /// A device was onboarded.
    DeviceOnboarded {
        /// The device.
        device: DeviceId,
        /// Its maker.
        maker: Address,
        /// Its first owner.
        owner: Address,
    },
    /// A device changed owner.
    DeviceTransferred {
        /// The device.
        device: DeviceId,
        /// Previous owner.
        from: Address,
        /// New owner.
        to: Address,
    },
    /// A device's key was replaced.
    DeviceKeyRotated {
        /// The device.
        device: DeviceId,
        /// The new key.
        key: Address,
        /// The new key's epoch (rotations so far).
        epoch: u64,
    },
    /// A maker released firmware.
    FirmwarePublished {
        /// The maker.
        maker: Address,
        /// The firmware hash.
        firmware: Hash,
    },
    /// A device reported its firmware.
    FirmwareReported {
        /// The device.
        device: DeviceId,
        /// The firmware hash.
        firmware: Hash,
    },
    /// A device's status changed.
    DeviceStatusChanged {
        /// The device.
        device: DeviceId,
        /// New status.
        status: DeviceStatus,
    },
    /// A device attribute was set or removed.
    AttributeChanged {
        /// The device.
        device: DeviceId,
        /// The attribute key.
        key: String,
    },
    /// A role was granted.
    RoleGranted {
        /// The device.
        device: DeviceId,
        /// Who got it.
        account: Address,
        /// The role.
        role: String,
    },
    /// A role was revoked.
    RoleRevoked {
        /// The device.
        device: DeviceId,
        /// Who lost it.
        account: Address,
        /// The role.
        role: String,
    },
    /// The grantee accepted a role on a device.
    RoleAccepted {
        /// The device.
        device: DeviceId,
        /// The grantee.
        account: Address,
        /// The role.
        role: String,
    },
}

impl Write for IdentityEvent {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::MakerRegistered { maker, bond } => {
                0u8.write(buf);
                maker.write(buf);
                bond.write(buf);
            }
            Self::MakerSlashed { maker, amount } => {
                1u8.write(buf);
                maker.write(buf);
                amount.write(buf);
            }
            Self::DeviceOnboarded { device, maker, owner } => {
                2u8.write(buf);
                device.write(buf);
                maker.write(buf);
                owner.write(buf);
            }
            Self::DeviceTransferred { device, from, to } => {
                3u8.write(buf);
                device.write(buf);
                from.write(buf);
                to.write(buf);
            }
            Self::DeviceKeyRotated { device, key, epoch } => {
                4u8.write(buf);
                device.write(buf);
                key.write(buf);
                epoch.write(buf);
            }
            Self::FirmwarePublished { maker, firmware } => {
                5u8.write(buf);
                maker.write(buf);
                firmware.write(buf);
            }
            Self::FirmwareReported { device, firmware } => {
                6u8.write(buf);
                device.write(buf);
                firmware.write(buf);
            }
            Self::DeviceStatusChanged { device, status } => {
                7u8.write(buf);
                device.write(buf);
                status.write(buf);
            }
            Self::AttributeChanged { device, key } => {
                8u8.write(buf);
                device.write(buf);
                write_str(key, buf);
            }
            Self::RoleGranted { device, account, role } => {
                9u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::RoleRevoked { device, account, role } => {
                10u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
            Self::RoleAccepted { device, account, role } => {
                11u8.write(buf);
                device.write(buf);
                account.write(buf);
                write_str(role, buf);
            }
        }
    }
}

impl EncodeSize for IdentityEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::MakerRegistered { .. } | Self::MakerSlashed { .. } => 32 + 8,
            Self::DeviceOnboarded { .. } | Self::DeviceTransferred { .. } => 32 * 3,
            Self::DeviceKeyRotated { .. } => 32 + 32 + 8,
            Self::FirmwarePublished { .. } | Self::FirmwareReported { .. } => 64,
            Self::DeviceStatusChanged { .. } => 32 + 1,
            Self::AttributeChanged { key, .. } => 32 + str_size(key),
            Self::RoleGranted { role, .. } | Self::RoleRevoked { role, .. } => 64 + str_size(role),
            Self::RoleAccepted { role, .. } => 64 + str_size(role),
        }
    }
}

impl Read for IdentityEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::MakerRegistered { maker: Address::read(buf)?, bond: u64::read(buf)? },
            1 => Self::MakerSlashed { maker: Address::read(buf)?, amount: u64::read(buf)? },
            2 => Self::DeviceOnboarded {
                device: Hash::read(buf)?,
                maker: Address::read(buf)?,
                owner: Address::read(buf)?,
            },
            3 => Self::DeviceTransferred {
                device: Hash::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
            },
            4 => Self::DeviceKeyRotated {
                device: Hash::read(buf)?,
                key: Address::read(buf)?,
                epoch: u64::read(buf)?,
            },
            5 => Self::FirmwarePublished { maker: Address::read(buf)?, firmware: Hash::read(buf)? },
            6 => Self::FirmwareReported { device: Hash::read(buf)?, firmware: Hash::read(buf)? },
            7 => Self::DeviceStatusChanged {
                device: Hash::read(buf)?,
                status: DeviceStatus::read(buf)?,
            },
            8 => Self::AttributeChanged {
                device: Hash::read(buf)?,
                key: read_str(buf, ATTRIBUTE_KEY_LEN_MAX)?,
            },
            9 => Self::RoleGranted {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            10 => Self::RoleRevoked {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            11 => Self::RoleAccepted {
                device: Hash::read(buf)?,
                account: Address::read(buf)?,
                role: read_str(buf, ROLE_LEN_MAX)?,
            },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}
