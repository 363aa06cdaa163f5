//! Device-side helpers: a maker certifying a device, a device claiming itself for its first
//! owner, and signing readings. The same signing code builds without `std` in
//! `machina-types` for firmware; this module adds conveniences for hosts and simulators.

use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::{
    Address, Call, DeviceCertificate, DeviceId, Hash, IdentityCall, Reading, SignedReading, Value,
    device::{self, CertificateBody},
    identity::roles,
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
