//! OpenAPI schemas of the types whose JSON form is hand-written (feature `schema`): hashes
//! and addresses as 64 lowercase hex characters, error codes by name, and the patterns of
//! the text forms other types use. The derived schemas of the other types reference these.

use crate::{Address, ErrorCode, Hash};
use std::borrow::Cow;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};

/// 32 bytes as the API writes them (and a form every parser of them accepts).
pub const HASH_PATTERN: &str = "^[0-9a-f]{64}$";
/// Bytes as hex: an even number of lowercase hex characters.
pub const HEX_PATTERN: &str = "^([0-9a-f]{2})*$";
/// An ed25519 signature's encoding: 64 bytes as hex.
pub const SIGNATURE_PATTERN: &str = "^[0-9a-f]{128}$";
/// A `u128` amount, written as a decimal string (JSON numbers lose precision past 2^53).
pub const U128_PATTERN: &str = "^[0-9]{1,39}$";

/// A string schema matching `pattern`, described as `description`.
pub fn string_matching(pattern: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

/// A field serialized with [`crate::codec::hex_codec`] from an ed25519 signature.
pub fn signature() -> ObjectBuilder {
    string_matching(SIGNATURE_PATTERN, "An ed25519 signature: 128 lowercase hex characters.")
}

/// A field serialized with [`crate::codec::hex_bytes`].
pub fn hex_bytes() -> ObjectBuilder {
    string_matching(HEX_PATTERN, "Bytes as lowercase hex.")
}

/// An optional field of bytes as hex, `null` when absent.
pub fn hex_bytes_or_null() -> ObjectBuilder {
    let types = [Type::String, Type::Null];
    hex_bytes().schema_type(utoipa::openapi::schema::SchemaType::from_iter(types))
}

/// A field serialized with [`crate::codec::u128_string`].
pub fn u128_string() -> ObjectBuilder {
    string_matching(U128_PATTERN, "An amount as a decimal string.")
}

impl PartialSchema for Hash {
    fn schema() -> RefOr<Schema> {
        string_matching(HASH_PATTERN, "A SHA-256 digest: 64 lowercase hex characters.").into()
    }
}

impl ToSchema for Hash {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hash")
    }
}

impl PartialSchema for Address {
    fn schema() -> RefOr<Schema> {
        let about = "An account address (an ed25519 public key): 64 lowercase hex characters.";
        string_matching(HASH_PATTERN, about).into()
    }
}

impl ToSchema for Address {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Address")
    }
}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.name())))
            .description(Some("A transaction error code, by name."))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}
