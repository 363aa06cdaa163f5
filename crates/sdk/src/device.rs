//! Device-side helpers: a maker certifying a device, a device claiming itself for its first
//! owner, signing readings, logging in to the gateway's MQTT broker, and checking a command
//! before acting on it. The same signing and checking code builds without `std` in
//! `machina-types` for firmware; this module adds conveniences for hosts and simulators.

use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::{
    Address, Call, DeviceCertificate, DeviceId, Hash, IdentityCall, Reading, SignedReading, Value,
    codec::parse_hex,
    device::{self, CertificateBody},
    identity::roles,
    market::{Command, ResourceKind, SignedCommand},
    reading::StreamId,
};

/// A device: its key and its certificate.
#[derive(Clone, Debug)]
pub struct DeviceIdentity {
    /// The device's key.
    pub key: PrivateKey,
    /// The maker's certificate for it.
    pub certificate: DeviceCertificate,
}

impl DeviceIdentity {
    /// Certifies a device with key `key` as `maker`'s (signed with `maker_key`).
    pub fn certify(
        key: PrivateKey,
        maker: Address,
        maker_key: &PrivateKey,
        model: &str,
        serial: &str,
    ) -> Self {
        let certificate = CertificateBody {
            maker,
            device_key: Address::of(&key.public_key()),
            model: model.to_string(),
            serial_hash: Hash::of(&[serial.as_bytes()]),
        }
        .sign(maker_key);
        Self { key, certificate }
    }

    /// The device id.
    pub fn id(&self) -> DeviceId {
        self.certificate.device_id()
    }

    /// The call that onboards the device to `owner` (who must sign the transaction).
    pub fn onboard_call(&self, chain_id: &str, owner: &Address) -> IdentityCall {
        let message = device::claim_message(chain_id, &self.id(), owner);
        let claim_signature = self.key.sign(device::CLAIM_NAMESPACE, &message);
        IdentityCall::OnboardDevice { certificate: self.certificate.clone(), claim_signature }
    }

    /// The calls that onboard the device to `owner` and, if given, let `gateway` anchor its
    /// readings (the `gateway` role).
    pub fn onboard_calls(
        &self,
        chain_id: &str,
        owner: &Address,
        gateway: Option<Address>,
    ) -> Vec<Call> {
        let mut calls = vec![self.onboard_call(chain_id, owner).into()];
        calls.extend(gateway.map(|account| {
            Call::from(IdentityCall::GrantRole {
                device: self.id(),
                account,
                role: roles::GATEWAY.into(),
                expiry_height: None,
            })
        }));
        calls
    }

    /// Signs a reading of this device.
    pub fn reading(
        &self,
        stream: StreamId,
        seq: u64,
        timestamp_ms: u64,
        value: Value,
    ) -> SignedReading {
        Reading { device: self.id(), stream, seq, timestamp_ms, value }.sign(&self.key)
    }
}

/// The current time in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The MQTT username and password a device with `key` logs in to chain `chain_id`'s broker
/// with, as client `client_id`, now: the device id, and a token signed with the device key
/// (valid for a few minutes, once).
pub fn mqtt_login(
    key: &PrivateKey,
    chain_id: &str,
    device: &DeviceId,
    client_id: &str,
) -> (String, String) {
    let password = device::mqtt_password(key, chain_id, device, client_id, now_ms());
    (device.to_string(), password)
}

/// Why a device ignores a command it received.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefusal {
    /// The message is not a command the gateway signed.
    #[error("not a signed command: {0}")]
    Malformed(&'static str),
    /// The command's own checks failed (chain, device, deadline, signature).
    #[error("{0}")]
    Invalid(&'static str),
    /// A gateway other than the one the device trusts signed it.
    #[error("signed by {0}, not by the gateway this device trusts")]
    UntrustedGateway(Address),
    /// The lease is not active for this device and command.
    #[error("lease {0} is not an active lease of this device for this command")]
    NoSuchLease(u64),
}

/// Checks a message received on a device's commands topic: the JSON's `signed` field holds a
/// command signed by `gateway` (the gateway the device granted the `gateway` role), for this
/// chain and device and not past its deadline. The caller then checks the lease with
/// [`check_lease`] before acting.
pub fn verify_command(
    payload: &[u8],
    chain_id: &str,
    device: &DeviceId,
    gateway: &Address,
    now_ms: u64,
) -> Result<Command, CommandRefusal> {
    use commonware_codec::DecodeExt;
    let message: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| CommandRefusal::Malformed("not JSON"))?;
    let hex = message["signed"].as_str().ok_or(CommandRefusal::Malformed("no signed command"))?;
    let bytes = parse_hex(hex).map_err(|_| CommandRefusal::Malformed("not hex"))?;
    let signed = SignedCommand::decode(commonware_codec::Copying(&bytes[..]))
        .map_err(|_| CommandRefusal::Malformed("not an encoded command"))?;
    signed.check(chain_id, device, now_ms).map_err(CommandRefusal::Invalid)?;
    if signed.command.gateway != *gateway {
        return Err(CommandRefusal::UntrustedGateway(signed.command.gateway));
    }
    Ok(signed.command)
}

/// Checks that `lease` (as the chain has it finalized) is active, for this device, and for
/// the command's resource `actuation:<command>`.
pub fn check_lease(
    command: &Command,
    lease: &machina_types::market::state::Lease,
) -> Result<(), CommandRefusal> {
    let kind = ResourceKind::Actuation { command: command.command.clone() };
    if lease.id != command.lease
        || lease.device != command.device
        || lease.kind != kind
        || !lease.status.is_open()
    {
        return Err(CommandRefusal::NoSuchLease(command.lease));
    }
    Ok(())
}

/// A numeric value: `value` with `decimals` decimal places, in `unit` (e.g. `21.5` C is
/// `numeric(215, 1, "C")`).
pub fn numeric(value: i64, decimals: u8, unit: &str) -> Value {
    Value::Numeric { value, decimals, unit: unit.to_string() }
}

/// Parses a decimal number such as `-21.50` into a numeric value with as many decimals as
/// written.
pub fn parse_numeric(text: &str, unit: &str) -> Option<Value> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > usize::from(machina_types::reading::DECIMALS_MAX)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    Some(numeric(digits.parse().ok()?, fraction.len() as u8, unit))
}

/// The MQTT topic a device publishes a stream's readings on.
pub fn telemetry_topic(device: &DeviceId, stream: StreamId) -> String {
    format!("machina/v1/{device}/telemetry/{stream}")
}

/// The MQTT topic the gateway reports a device's refused readings on.
pub fn errors_topic(device: &DeviceId) -> String {
    format!("machina/v1/{device}/errors")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_parsed_as_written() {
        assert_eq!(parse_numeric("21.5", "C"), Some(numeric(215, 1, "C")));
        assert_eq!(parse_numeric("-0.05", "C"), Some(numeric(-5, 2, "C")));
        assert_eq!(parse_numeric("7", "kWh"), Some(numeric(7, 0, "kWh")));
        assert_eq!(parse_numeric("1.x", "C"), None);
    }

    #[test]
    fn a_device_acts_only_on_commands_its_gateway_signed_for_it() {
        use commonware_codec::Encode;
        let gateway = PrivateKey::from_seed(7);
        let gateway_account = Address::of(&gateway.public_key());
        let me = Hash([4; 32]);
        let command = |device, deadline_ms| Command {
            chain_id: "c".into(),
            lease: 9,
            device,
            command: "unlock".into(),
            deadline_ms,
            gateway: gateway_account,
        };
        let payload = |signed: &SignedCommand| {
            serde_json::json!({ "lease": 9, "signed": machina_types::codec::hex(&signed.encode()) })
                .to_string()
        };
        let good = payload(&command(me, 1_000).sign(&gateway));
        assert!(verify_command(good.as_bytes(), "c", &me, &gateway_account, 10).is_ok());
        assert!(verify_command(good.as_bytes(), "other", &me, &gateway_account, 10).is_err());
        assert!(verify_command(good.as_bytes(), "c", &me, &gateway_account, 1_000).is_err());
        let stranger = PrivateKey::from_seed(8);
        let forged = payload(&command(me, 1_000).sign(&stranger));
        assert!(verify_command(forged.as_bytes(), "c", &me, &gateway_account, 10).is_err());
        let elsewhere = payload(&command(Hash([5; 32]), 1_000).sign(&gateway));
        assert!(verify_command(elsewhere.as_bytes(), "c", &me, &gateway_account, 10).is_err());
        let unsigned = br#"{"lease":999,"command":"unlock","chain_id":"c"}"#;
        assert_eq!(
            verify_command(unsigned, "c", &me, &gateway_account, 10),
            Err(CommandRefusal::Malformed("no signed command"))
        );
    }

    #[test]
    fn a_certified_device_signs_readings_its_certificate_key_verifies() {
        let maker_key = PrivateKey::from_seed(1);
        let device = DeviceIdentity::certify(
            PrivateKey::from_seed(2),
            Address([1; 32]),
            &maker_key,
            "m",
            "s-1",
        );
        assert!(device.certificate.verify(&Address::of(&maker_key.public_key())));
        let reading = device.reading(1, 1, 10, numeric(1, 0, "C"));
        assert!(reading.verify(&device.certificate.body.device_key));
    }
}
