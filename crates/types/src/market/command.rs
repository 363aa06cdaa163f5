//! Messages devices, consumers and the gateway sign about a lease: acknowledgements, receipts and commands.

use super::*;

/// What a device signs to acknowledge it performed `command` for `lease` on `chain_id`.
pub fn ack_message(chain_id: &str, lease: LeaseId, command: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + command.len() + 10);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&lease.to_be_bytes());
    out.extend_from_slice(command.as_bytes());
    out
}

/// What a consumer signs to confirm `lease` on `chain_id` was delivered.
pub fn receipt_message(chain_id: &str, lease: LeaseId) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + 9);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&lease.to_be_bytes());
    out
}

/// A device's acknowledgement of a leased command, as it publishes it on
/// `machina/v1/<device>/acks`: the lease and its signature over [`ack_message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ActuationAck {
    /// The lease.
    pub lease: LeaseId,
    /// The device's signature.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: Signature,
}

crate::struct_codec!(ActuationAck { lease: plain, signature: plain });

/// The namespace of gateway-signed commands.
pub const COMMAND_NAMESPACE: &[u8] = b"machina/command/v1";

/// What a gateway signs when it sends a leased command to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Command {
    /// The chain the lease is on.
    pub chain_id: String,
    /// The lease.
    pub lease: LeaseId,
    /// The device that must act.
    pub device: DeviceId,
    /// The command (the lease's `actuation:<command>`).
    pub command: String,
    /// The lease's delivery deadline (block time, ms); a device ignores the command after.
    pub deadline_ms: u64,
    /// The gateway's account: the device must have granted it the `gateway` role.
    pub gateway: Address,
}

crate::struct_codec!(Command {
    chain_id: str(CHAIN_ID_LEN_MAX),
    lease: plain,
    device: plain,
    command: str(KIND_NAME_LEN_MAX),
    deadline_ms: plain,
    gateway: plain,
});

/// A command with its gateway's signature, as published on `machina/v1/<device>/commands`
/// (hex of this encoding under `"signed"` in the JSON message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SignedCommand {
    /// The command.
    pub command: Command,
    /// The gateway key's signature over the command's encoding.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: Signature,
}

crate::struct_codec!(SignedCommand { command: plain, signature: plain });

impl Command {
    /// Signs the command with the gateway's key.
    pub fn sign(self, gateway_key: &commonware_cryptography::ed25519::PrivateKey) -> SignedCommand {
        use commonware_codec::Encode;
        use commonware_cryptography::Signer;
        let signature = gateway_key.sign(COMMAND_NAMESPACE, &self.encode());
        SignedCommand { command: self, signature }
    }
}

impl SignedCommand {
    /// Checks what a device can check alone: the signature is the named gateway's, and the
    /// command is for this chain and device and not past its deadline. The caller then checks
    /// that it trusts the gateway and that the lease is active for this device and command.
    pub fn check(
        &self,
        chain_id: &str,
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        use commonware_codec::Encode;
        use commonware_cryptography::Verifier;
        let c = &self.command;
        if c.chain_id != chain_id {
            return Err("the command is for another chain");
        }
        if c.device != *device {
            return Err("the command is for another device");
        }
        if c.deadline_ms <= now_ms {
            return Err("the command's deadline has passed");
        }
        let key = c.gateway.public_key().ok_or("the gateway key is not a valid key")?;
        if !key.verify(COMMAND_NAMESPACE, &c.encode(), &self.signature) {
            return Err("the gateway's signature does not verify");
        }
        Ok(())
    }
}
