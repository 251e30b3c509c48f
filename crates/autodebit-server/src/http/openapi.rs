//! The OpenAPI document of the merchant API, generated from the handlers and their types
//! (utoipa): every operation carries the errors any route can answer and the `Idempotency-Key`
//! its `POST`s need. `openapi.json` at the crate root is the checked-in copy; a test fails when it
//! is stale (`AUTODEBIT_BLESS=1 cargo test -p autodebit-server openapi` rewrites it).

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Content, HttpMethod, OpenApi as Document, Ref, RefOr, Required, Response, ResponseBuilder,
    Schema,
};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::{PROBLEM_JSON, Problem};

/// The document's fixed parts.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "autodebit merchant API",
        description = "Alipay Auto Debit for merchants: bind a user's wallet once, charge it later, and never lose track of a payment, a refund or a token. Conventions: JSON, snake_case, amounts as integers in minor units, RFC 9457 problem details, `Idempotency-Key` on every POST, cursor pagination. No text takes a NUL character (U+0000): a body or query parameter holding one is refused (400), a path naming one names nothing (404).",
        version = "1"
    ),
    modifiers(&Security),
    tags(
        (name = "authorizations", description = "A user's consent to be charged"),
        (name = "payments", description = "One business order and its attempts"),
        (name = "refunds", description = "Money returned"),
        (name = "customs", description = "Customs declarations of paid payments (China customs only; on per merchant)"),
        (name = "secondary_merchants", description = "Secondary merchants registered by an acquirer or ISV (deprecated by Alipay for online payments; on per merchant)"),
        (name = "operations", description = "What needs a person, and what a person can do"),
        (name = "events", description = "What happened, for the merchant's own systems"),
        (name = "sandbox", description = "Sandbox mode only")
    ),
    components(schemas(Problem))
)]
#[derive(Debug)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name(Problem::name()))),
        )
        .into()
}

/// What every operation may answer besides its own success.
const COMMON: [(&str, &str); 9] = [
    (
        "400",
        "The request is malformed or a field is invalid (`param` names it)",
    ),
    ("401", "No valid API key"),
    (
        "404",
        "No such resource (or it belongs to another merchant)",
    ),
    (
        "409",
        "The resource's state does not allow this now, or the Idempotency-Key is in use",
    ),
    ("413", "The body is too large"),
    ("415", "The body is not application/json"),
    (
        "422",
        "The Idempotency-Key was used with another request, or Alipay refused",
    ),
    ("500", "The server failed (nothing about it is shown)"),
    (
        "503",
        "The database or Alipay did not answer; nothing was changed; try again",
    ),
];

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(
            "1 to 255 printable ASCII characters: the same key with the same request replays the first answer",
        ))
        .schema(Some(RefOr::T(Schema::Object(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[\\x20-\\x7E]+$"))
                .build(),
        ))))
        .build()
}

fn complete(operation: &mut Operation, post: bool) {
    for (status, description) in COMMON {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    }
    if post {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(idempotency_key()));
        if let Some(RefOr::T(RequestBody { required, .. })) = operation.request_body.as_mut() {
            *required = Some(Required::True);
        }
    }
}

/// Adds the common responses to every operation of `doc`, and the `Idempotency-Key` to every
/// `POST`.
pub fn finish(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        if let Some(op) = item.get.as_mut() {
            complete(op, false);
        }
        if let Some(op) = item.post.as_mut() {
            complete(op, true);
        }
        // A DELETE is idempotent as it is: no key.
        if let Some(op) = item.delete.as_mut() {
            complete(op, false);
        }
        let _ = HttpMethod::Get;
    }
}
