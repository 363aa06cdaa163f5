//! The OpenAPI 3.1 document of the API (feature `openapi`), generated from the route types.
//!
//! Each area registers its routes in the file of the same name (`openapi/chain.rs`,
//! `openapi/data.rs`, `openapi/market.rs`, `openapi/ownership.rs`, `openapi/rewards.rs`, `openapi/channels.rs`, `openapi/products.rs`):
//! `openapi/data.rs`, `openapi/market.rs`, `openapi/ownership.rs`, `openapi/rewards.rs`,
//! `openapi/wallets.rs`):
//! method, path, parameters with the exact form the node parses (hex patterns, integer
//! bounds), request body and every response with its type's schema. Schemas come from the types' `ToSchema` derives, so a
//! field added to a response type appears here.
//! Every route answers 503 `unavailable` when the node is overloaded or has no finalized
//! block yet, and every error is the [`ErrorEnvelope`].

mod chain;
mod channels;
mod data;
mod explorer;
mod market;
mod ownership;
mod products;
mod rewards;
mod wallets;

use crate::error::{ErrorEnvelope, codes};
use machina_types::{ErrorCode, schema::HASH_PATTERN};
use serde_json::{Value, json};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Content, HttpMethod, InfoBuilder, OpenApiBuilder, PathItem, Paths, Ref, RefOr, Required,
        ResponseBuilder,
        path::{OperationBuilder, Parameter, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        schema::{ComponentsBuilder, ObjectBuilder, Schema, Type},
    },
};

/// The document, as served at `/openapi.json`, with the `x-error-codes` extension listing
/// every transaction error code (name, number, message).
pub fn document() -> Value {
    let mut routes = Routes::default();
    chain::register(&mut routes);
    data::register(&mut routes);
    market::register(&mut routes);
    ownership::register(&mut routes);
    rewards::register(&mut routes);
    channels::register(&mut routes);
    products::register(&mut routes);
    wallets::register(&mut routes);
    explorer::register(&mut routes);
    let mut components = ComponentsBuilder::new();
    for (name, schema) in routes.schemas {
        components = components.schema(name, schema);
    }
    let info = InfoBuilder::new()
        .title("Machina node API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Submit transactions, read finalized state with proofs, follow finalized blocks. \
             Amounts are integers in the token's smallest unit. Every error is \
             {\"error\": {\"code\", \"message\"}} with a stable code (see x-error-codes).",
        ));
    let openapi =
        OpenApiBuilder::new().info(info).paths(routes.paths).components(Some(components.build()));
    let mut document = serde_json::to_value(openapi.build()).expect("the document serializes");
    let error_codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "code": c.name(), "number": c.code(), "message": c.message() }))
        .collect();
    document["x-error-codes"] = json!(error_codes);
    document
}

/// Every code an error envelope may carry: the transaction codes and the API's own.
pub fn all_error_codes() -> Vec<&'static str> {
    let mut all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    all.extend_from_slice(codes::ALL);
    all
}

/// The schema of an error code: one of [`all_error_codes`].
pub(crate) fn error_code() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(all_error_codes()))
}

/// Paths and the component schemas they reference.
#[derive(Default)]
struct Routes {
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Routes {
    /// A reference to `T`'s schema, registering it and every schema it references.
    fn schema<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        if !self.schemas.iter().any(|(known, _)| *known == name) {
            self.schemas.push((name.clone(), T::schema()));
            let mut nested = Vec::new();
            T::schemas(&mut nested);
            for (name, schema) in nested {
                if !self.schemas.iter().any(|(known, _)| *known == name) {
                    self.schemas.push((name, schema));
                }
            }
        }
        Ref::from_schema_name(name).into()
    }

    /// Registers `op` at `method path`.
    fn add(&mut self, method: HttpMethod, path: &str, op: Op) {
        let operation = op.operation.responses(op.responses).build();
        self.paths.paths.insert(path.to_string(), PathItem::new(method, operation));
    }
}

/// One operation under construction.
struct Op {
    operation: OperationBuilder,
    responses: utoipa::openapi::ResponsesBuilder,
}

impl Op {
    /// An operation described by `summary`.
    fn new(summary: &str) -> Self {
        Self {
            operation: OperationBuilder::new().summary(Some(summary)),
            responses: utoipa::openapi::ResponsesBuilder::new(),
        }
    }

    /// Adds a parameter.
    fn param(mut self, parameter: Parameter) -> Self {
        self.operation = self.operation.parameter(parameter);
        self
    }

    /// A JSON request body of `schema`.
    fn body(mut self, schema: RefOr<Schema>) -> Self {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", Content::new(Some(schema)));
        self.operation = self.operation.request_body(Some(body.build()));
        self
    }

    /// A response of `status` whose body is `content_type` of `schema`.
    fn answer(
        mut self,
        status: u16,
        description: &str,
        content_type: &str,
        schema: Option<RefOr<Schema>>,
    ) -> Self {
        let response = ResponseBuilder::new()
            .description(description)
            .content(content_type, Content::new(schema));
        self.responses = self.responses.response(status.to_string(), response);
        self
    }

    /// A JSON response of `status` with `schema`.
    fn ok(self, status: u16, description: &str, schema: RefOr<Schema>) -> Self {
        self.answer(status, description, "application/json", Some(schema))
    }

    /// An error response of `status`.
    fn error(self, routes: &mut Routes, status: u16, description: &str) -> Self {
        let envelope = routes.schema::<ErrorEnvelope>();
        self.ok(status, description, envelope)
    }

    /// The usual errors of a read, by status: 400 (a parameter does not parse), 404
    /// (nothing at this id) and 503 (not available yet, or the node is overloaded).
    fn fails(mut self, routes: &mut Routes, statuses: &[u16]) -> Self {
        for &status in statuses {
            let description = match status {
                400 => "An invalid parameter (`invalid_parameter`).",
                404 => "Nothing at this id (`not_found`).",
                _ => "Not available yet, or the node is overloaded (`unavailable`).",
            };
            self = self.error(routes, status, description);
        }
        self
    }

    /// The errors of a JSON submission beyond its refusals: 413 and 415.
    fn body_errors(self, routes: &mut Routes, too_large: &str) -> Self {
        self.error(routes, 413, too_large).error(
            routes,
            415,
            "The body was not sent as JSON: the content type must be `application/json` \
             (`unsupported_media_type`).",
        )
    }
}

/// A required path parameter.
fn path(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    parameter(ParameterIn::Path, name, description, schema)
}

/// An optional query parameter.
fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    parameter(ParameterIn::Query, name, description, schema)
}

/// A parameter in `place`, required in the path and optional in the query.
fn parameter(
    place: ParameterIn,
    name: &str,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    let required = match place {
        ParameterIn::Path => Required::True,
        _ => Required::False,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// 32 bytes in hex: a hash, an address, a device, market or state key id.
fn hex32() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(HASH_PATTERN))
}

/// An unsigned integer of at most `max` (the parameter's Rust type's range).
pub(super) fn uint(max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(utoipa::Number::UInt(0)))
        .maximum(Some(utoipa::Number::UInt(max as usize)))
}

/// A `u64` (ids, heights, sequence numbers, timestamps).
fn u64_any() -> ObjectBuilder {
    uint(u64::MAX)
}

/// The schema of a string the explorer or metrics route answers.
fn text() -> RefOr<Schema> {
    String::schema()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let name = reference.strip_prefix("#/components/schemas/").expect("a schema ref");
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{reference} does not resolve"
            );
        }
    }

    #[test]
    fn every_error_code_is_listed() {
        let document = document();
        let listed = document["x-error-codes"].as_array().expect("x-error-codes");
        assert_eq!(listed.len(), ErrorCode::ALL.len());
        assert!(all_error_codes().contains(&"unsupported_media_type"));
    }
}
