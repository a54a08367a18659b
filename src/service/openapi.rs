//! The OpenAPI document, generated from the route handlers' annotations and the wire
//! types. `docs/openapi.json` is this document; a test fails when they differ.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use super::{approvals, catalog, routes, stream, wire};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "HTTP and websocket API over a Switchboard bridge, compatible with the codex-manager routes its Python SDK uses (remote skills, wait helpers, stream signals). Every route needs `Authorization: Bearer <token>` unless the server runs with --no-auth on loopback."
    ),
    paths(
        routes::create_session,
        routes::list_sessions,
        routes::get_session,
        routes::delete_session,
        routes::send_message,
        routes::interrupt,
        routes::resume_session,
        routes::session_tool_calls,
        routes::all_tool_calls,
        routes::respond,
        routes::claim_call,
        routes::release_claim,
        routes::claim_request,
        routes::release_request_claim,
        approvals::session_approvals,
        approvals::session_tool_input,
        approvals::set_approval_policy,
        approvals::decide_approval,
        approvals::decide_tool_input,
        approvals::all_requests,
        approvals::answer_request,
        catalog::reload,
        routes::health,
        routes::catalog_stats,
        routes::openapi,
        stream::stream,
    ),
    components(schemas(
        wire::StreamCommand,
        wire::StreamEvent,
        wire::ToolCallSignal,
        wire::NotificationSignal,
        wire::ToolCallResolvedPayload,
        wire::TranscriptUpdate,
        wire::SessionEventPayload,
        wire::PendingCallRecord,
        wire::ErrorBody,
        wire::CallClaimedBody,
        wire::ClaimEventPayload,
        wire::RequestClaimEventPayload,
        approvals::ApprovalRecord,
        approvals::ToolInputRecord,
        approvals::RequestSignal,
        approvals::ResolvedPayload,
    )),
    modifiers(&Auth),
    tags(
        (name = "sessions", description = "Sessions (codex threads), their turns and transcripts"),
        (name = "tool-calls", description = "Pending dynamic tool calls and their answers"),
        (name = "approvals", description = "Pending approvals, user-input questions and other requests, and their decisions"),
        (name = "stream", description = "The websocket event stream"),
        (name = "service", description = "Health, the catalog's reload and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme and the 401/403 replies every route can give.
struct Auth;

impl utoipa::Modify for Auth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        let error = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        let unauthorized = ResponseBuilder::new()
            .description("Missing or wrong bearer token")
            .content("application/json", error())
            .build();
        let forbidden = ResponseBuilder::new()
            .description("A browser origin other than the server's own, or (without a token) a non-loopback Host")
            .content("application/json", error())
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .insert("401".to_string(), unauthorized.clone().into());
                operation
                    .responses
                    .responses
                    .insert("403".to_string(), forbidden.clone().into());
            }
        }
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null))
}

/// The document as checked into `docs/openapi.json`: pretty, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}
