//! The OpenAPI 3.1 document for the JSON API, served at `/api/openapi.json`.
//! Written out by hand beside the handlers it describes (`api.rs`); the
//! integration suite calls every operation it lists, so a route that is
//! documented but missing fails the build.

use axum::Json;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": if name == "seq" { "integer" } else { "string" } } })
}

/// The document.
pub fn document() -> Value {
    let csrf = json!({ "name": "X-CSRF-Token", "in": "header", "required": true, "schema": { "type": "string" },
        "description": "The session's CSRF token, from GET /api/session." });
    let not_found = error_response(
        "No such thing, or you are not a member of its case (indistinguishable on purpose).",
    );
    let unauthorized = error_response("Not signed in.");
    let invalid = error_response("Invalid input; nothing was changed.");
    let forbidden = error_response("Missing or wrong CSRF token, or not allowed.");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Confer API",
            "version": crate::VERSION,
            "description": "Case-scoped messaging for children's safeguarding. Authentication is the session cookie \
                (`__Host-confer_session`); state-changing calls also need `X-CSRF-Token`. See docs/protocol.md for the websocket."
        },
        "components": {
            "securitySchemes": { "session": { "type": "apiKey", "in": "cookie", "name": "__Host-confer_session" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object",
                    "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } },
                "Restriction": { "type": "object", "additionalProperties": false, "properties": {
                    "agencies": { "type": "array", "items": { "type": "string" } },
                    "people": { "type": "array", "items": { "type": "string" } },
                    "reason": { "type": "string", "minLength": 1 } } },
                "Message": { "type": "object", "required": ["id", "channel", "seq", "created_at", "visible"], "properties": {
                    "id": { "type": "string" }, "channel": { "type": "string" }, "seq": { "type": "integer", "minimum": 1 },
                    "author": { "type": "object" }, "body": { "type": "string" }, "created_at": { "type": "integer" },
                    "edited_at": { "type": ["integer", "null"] }, "redacted_at": { "type": ["integer", "null"] },
                    "redacted_by": { "type": ["string", "null"] }, "restricted": { "type": "boolean" },
                    "restriction_reason": { "type": ["string", "null"] }, "visible": { "type": "boolean" } } },
                "NewMessage": { "type": "object", "additionalProperties": false, "required": ["client_id", "body"], "properties": {
                    "client_id": { "type": "string", "minLength": 1, "maxLength": 100 },
                    "body": { "type": "string", "minLength": 1, "maxLength": 16384 },
                    "restricted_to": { "$ref": "#/components/schemas/Restriction" } } },
                "Posted": { "type": "object", "required": ["seq", "message_id", "duplicate"], "properties": {
                    "seq": { "type": "integer" }, "message_id": { "type": "string" }, "client_id": { "type": "string" },
                    "duplicate": { "type": "boolean" }, "message": { "$ref": "#/components/schemas/Message" } } },
                "SearchHit": { "type": "object", "required": ["type", "case_id", "case_reference", "snippet", "link"], "properties": {
                    "type": { "type": "string", "enum": ["message"] }, "case_id": { "type": "string" },
                    "case_reference": { "type": "string" }, "channel_id": { "type": "string" }, "channel_name": { "type": "string" },
                    "message_id": { "type": "string" }, "seq": { "type": "integer" }, "author": { "type": "object" },
                    "created_at": { "type": "integer" }, "edited": { "type": "boolean" }, "restricted": { "type": "boolean" },
                    "snippet": { "type": "string", "description": "A few words around the match" },
                    "link": { "type": "string", "description": "The page showing the record, at the record" } } },
                "Reader": { "type": "object", "properties": { "person_id": { "type": "string" }, "name": { "type": "string" },
                    "agency_id": { "type": "string" }, "agency": { "type": "string" }, "read_at": { "type": "integer" } } }
            }
        },
        "security": [{ "session": [] }],
        "paths": {
            "/api/session": { "get": { "operationId": "session", "summary": "Who is signed in, and the CSRF token",
                "responses": { "200": ok("The person and token", json!({ "type": "object" })), "401": unauthorized } } },
            "/api/agencies": { "get": { "operationId": "listAgencies", "summary": "The partnership's agencies",
                "responses": { "200": ok("Agencies", json!({ "type": "object" })), "401": unauthorized } } },
            "/api/cases": { "get": { "operationId": "listCases", "summary": "The cases you are a member of",
                "responses": { "200": ok("Cases", json!({ "type": "object" })), "401": unauthorized } } },
            "/api/cases/{case_id}": { "get": { "operationId": "getCase", "summary": "One case with its team and channels (audited read)",
                "parameters": [path_param("case_id")],
                "responses": { "200": ok("The case", json!({ "type": "object" })), "401": unauthorized, "404": not_found } } },
            "/api/cases/{case_id}/members": { "post": { "operationId": "addMember",
                "summary": "Give a person need-to-know access (the lead social worker or a manager in the team); invite a guest by email",
                "parameters": [path_param("case_id"), csrf],
                "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["email", "reason"], "properties": {
                    "email": { "type": "string" }, "reason": { "type": "string", "minLength": 1 }, "expires_at": { "type": "integer" },
                    "guest": { "type": "object", "required": ["name", "agency_id"], "properties": {
                        "name": { "type": "string" }, "agency_id": { "type": "string" } } } } })),
                "responses": { "201": ok("Added", json!({ "type": "object" })), "401": unauthorized, "403": forbidden,
                    "404": not_found, "409": error_response("Already a member"), "422": invalid } } },
            "/api/cases/{case_id}/members/{person_id}": { "delete": { "operationId": "removeMember",
                "summary": "End a person's access at once (closes their live subscriptions)",
                "parameters": [path_param("case_id"), path_param("person_id"), csrf],
                "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["reason"],
                    "properties": { "reason": { "type": "string", "minLength": 1 } } })),
                "responses": { "204": { "description": "Removed" }, "401": unauthorized, "403": forbidden, "404": not_found, "422": invalid } } },
            "/api/channels/{channel_id}/messages": {
                "get": { "operationId": "listMessages", "summary": "Messages after a sequence number, in order",
                    "parameters": [path_param("channel_id"),
                        { "name": "after_seq", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }],
                    "responses": { "200": ok("A page of messages", json!({ "type": "object", "properties": {
                        "messages": { "type": "array", "items": { "$ref": "#/components/schemas/Message" } },
                        "next_after_seq": { "type": "integer" }, "has_more": { "type": "boolean" } } })),
                        "401": unauthorized, "404": not_found, "422": invalid } },
                "post": { "operationId": "postMessage", "summary": "Send a message (idempotent on client_id)",
                    "parameters": [path_param("channel_id"), csrf],
                    "requestBody": body(json!({ "$ref": "#/components/schemas/NewMessage" })),
                    "responses": { "201": ok("Committed", json!({ "$ref": "#/components/schemas/Posted" })),
                        "200": ok("A retry: the first result again", json!({ "$ref": "#/components/schemas/Posted" })),
                        "401": unauthorized, "403": forbidden, "404": not_found, "413": invalid.clone(), "422": invalid } } },
            "/api/channels/{channel_id}/messages/{seq}": {
                "patch": { "operationId": "editMessage", "summary": "Edit your own message (the original is kept for auditors)",
                    "parameters": [path_param("channel_id"), path_param("seq"), csrf],
                    "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["body"],
                        "properties": { "body": { "type": "string", "minLength": 1 } } })),
                    "responses": { "200": ok("The edited message", json!({ "$ref": "#/components/schemas/Message" })),
                        "401": unauthorized, "403": forbidden, "404": not_found, "422": invalid } },
                "delete": { "operationId": "redactMessage", "summary": "Remove a message's text (author, or a manager in the team)",
                    "parameters": [path_param("channel_id"), path_param("seq"), csrf],
                    "responses": { "200": ok("The removed message", json!({ "$ref": "#/components/schemas/Message" })),
                        "401": unauthorized, "403": forbidden, "404": not_found } } },
            "/api/channels/{channel_id}/messages/{seq}/reads": { "get": { "operationId": "readers",
                "summary": "Who has read a message, from which agency, and when",
                "parameters": [path_param("channel_id"), path_param("seq")],
                "responses": { "200": ok("Readers", json!({ "type": "object", "properties": {
                    "seq": { "type": "integer" }, "read_by": { "type": "array", "items": { "$ref": "#/components/schemas/Reader" } } } })),
                    "401": unauthorized, "404": not_found } } },
            "/api/channels/{channel_id}/read": { "post": { "operationId": "markRead", "summary": "Record that you have read up to a message",
                "parameters": [path_param("channel_id"), csrf],
                "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["seq"],
                    "properties": { "seq": { "type": "integer", "minimum": 1 } } })),
                "responses": { "204": { "description": "Recorded" }, "401": unauthorized, "403": forbidden, "404": not_found, "422": invalid } } },
            "/api/search": { "get": { "operationId": "search",
                "summary": "Search the cases you are a member of: only what you could read by opening it (audited, without the words)",
                "parameters": [{ "name": "q", "in": "query", "required": true,
                    "schema": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "description": "Words to find, all required (at most 8); punctuation separates words." }],
                "responses": { "200": ok("The newest 50 hits at most", json!({ "type": "object", "required": ["results", "has_more"], "properties": {
                    "results": { "type": "array", "items": { "$ref": "#/components/schemas/SearchHit" } },
                    "has_more": { "type": "boolean" } } })),
                    "401": unauthorized, "422": invalid } } }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
