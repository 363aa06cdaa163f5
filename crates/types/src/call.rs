//! A call: one module operation inside a transaction.
//!
//! The encoding is a module tag byte followed by that module's call encoding, so adding a
//! module never changes the encoding of another's calls.

use crate::{
    bank::BankCall, channels::ChannelsCall, data::DataCall, error::ErrorCode,
    identity::IdentityCall, market::MarketCall, ownership::OwnershipCall, products::ProductsCall,
    rewards::RewardsCall, wallets::WalletsCall,
};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// What every module's call type provides on the types side, with no state: the checks
/// clients, firmware and the node all run, and the module's place in encodings and codes.
pub trait ModuleCall: Sized + Write + EncodeSize + Read<Cfg = ()> {
    /// The module's name (snake_case): its tag in the JSON form of calls, its module
    /// account's label and the prefix of its storage keys.
    const MODULE: &'static str;
    /// The byte that prefixes the module's calls in the binary encoding. Never reused.
    const TAG: u8;
    /// The error codes only this module's calls return (see [`crate::error::RANGES`]).
    const ERRORS: core::ops::RangeInclusive<u16>;

    /// Stateless validity of the call's arguments.
    fn check(&self) -> Result<(), ErrorCode>;

    /// Native tokens the call takes from its signer at most, as far as its arguments say
    /// (transfers, stake, bonds, escrow). The mempool adds these to fees to keep a sender's
    /// pending transactions within its balance; execution decides for real.
    fn native_spend(&self) -> u128 {
        0
    }
}

/// Declares [`Call`], one variant per module, with its dispatch and encoding: adding a
/// module on the types side is one line here.
macro_rules! calls {
    ($( $(#[$doc:meta])* $variant:ident($call:ty), )*) => {
        /// One operation of a transaction, addressed to a module.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        #[serde(tag = "module", content = "call", rename_all = "snake_case")]
        pub enum Call {
            $( $(#[$doc])* $variant($call), )*
        }

        impl Call {
            /// Stateless validity of the call's arguments.
            pub fn check(&self) -> Result<(), ErrorCode> {
                match self { $( Self::$variant(call) => call.check(), )* }
            }

            /// Native tokens the call takes from its signer at most
            /// ([`ModuleCall::native_spend`]).
            pub fn native_spend(&self) -> u128 {
                match self { $( Self::$variant(call) => call.native_spend(), )* }
            }

            /// The name of the module the call is for.
            pub fn module(&self) -> &'static str {
                match self { $( Self::$variant(_) => <$call>::MODULE, )* }
            }
        }

        /// Every module's name, tag and error range, in tag order.
        pub const MODULES: &[(&str, u8, core::ops::RangeInclusive<u16>)] =
            &[$( (<$call>::MODULE, <$call>::TAG, <$call>::ERRORS), )*];

        $(
            impl From<$call> for Call {
                fn from(call: $call) -> Self {
                    Self::$variant(call)
                }
            }
        )*

        impl Write for Call {
            fn write(&self, buf: &mut impl bytes::BufMut) {
                match self {
                    $( Self::$variant(call) => {
                        <$call>::TAG.write(buf);
                        call.write(buf);
                    } )*
                }
            }
        }

        impl EncodeSize for Call {
            fn encode_size(&self) -> usize {
                1 + match self { $( Self::$variant(call) => call.encode_size(), )* }
            }
        }

        impl Read for Call {
            type Cfg = ();

            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
                let tag = u8::read(buf)?;
                $( if tag == <$call>::TAG {
                    return Ok(Self::$variant(<$call>::read(buf)?));
                } )*
                Err(Error::InvalidEnum(tag))
            }
        }
    };
}

calls! {
    /// A bank call.
    Bank(BankCall),
    /// An identity call.
    Identity(IdentityCall),
    /// A data call.
    Data(DataCall),
    /// A market call.
    Market(MarketCall),
    /// An ownership call.
    Ownership(OwnershipCall),
    /// A rewards call.
    Rewards(RewardsCall),
    /// A payment channels call.
    Channels(ChannelsCall),
    /// A data products call.
    Products(ProductsCall),
    /// A wallets call.
    Wallets(WalletsCall),
}

/// The calls that carry calls of their own, as (module tag, call tag): an ownership
/// proposal, a session key's act, a multisig proposal. Each reader of carried calls refuses
/// them (see [`read_carried_calls`]), so a call's encoding nests at most one level deep.
pub const CARRIERS: &[(u8, u8)] = &[
    (<OwnershipCall as ModuleCall>::TAG, crate::ownership::PROPOSE_TAG),
    (<WalletsCall as ModuleCall>::TAG, crate::wallets::ACT_TAG),
    (<WalletsCall as ModuleCall>::TAG, crate::wallets::PROPOSE_TAG),
];

impl Call {
    /// Whether the call carries calls of its own (one of [`CARRIERS`]).
    pub fn carries_calls(&self) -> bool {
        matches!(
            self,
            Call::Ownership(OwnershipCall::Propose { .. })
                | Call::Wallets(WalletsCall::Act { .. } | WalletsCall::Propose { .. })
        )
    }
}

/// Reads at most `max` calls carried by another call, refusing a carrier among them before
/// reading it: decoding never recurses more than one level, whatever the input.
pub fn read_carried_calls(
    buf: &mut impl Buf,
    max: usize,
    what: &'static str,
) -> Result<alloc::vec::Vec<Call>, Error> {
    let len = crate::codec::read_len(buf, max)?;
    let mut calls = alloc::vec::Vec::with_capacity(len);
    for _ in 0..len {
        let head = buf.chunk();
        if head.len() < 2 || CARRIERS.contains(&(head[0], head[1])) {
            return Err(Error::Invalid(what, "a carried call cannot carry calls"));
        }
        calls.push(Call::read(buf)?);
    }
    Ok(calls)
}

/// Asserts that `call` round-trips through its binary encoding (of the size it declares)
/// and its JSON form.
#[cfg(test)]
pub(crate) fn assert_round_trips(call: &Call) {
    use commonware_codec::{DecodeExt, Encode};
    let bytes = call.encode();
    assert_eq!(bytes.len(), call.encode_size());
    assert_eq!(&Call::decode(bytes).unwrap(), call);
    let json = serde_json::to_value(call).unwrap();
    assert_eq!(&serde_json::from_value::<Call>(json).unwrap(), call);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_error_ranges_are_distinct_per_module() {
        for (i, (name, tag, errors)) in MODULES.iter().enumerate() {
            for (other, other_tag, other_errors) in &MODULES[i + 1..] {
                assert_ne!(tag, other_tag, "{name} and {other} share a tag");
                assert!(
                    errors.end() < other_errors.start() || other_errors.end() < errors.start(),
                    "{name} and {other} share error codes"
                );
            }
        }
    }
}
