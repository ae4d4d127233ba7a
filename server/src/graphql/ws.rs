//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`): async-graphql's
//! protocol engine on an actix-ws session, with what the engine leaves out: a second `subscribe`
//! with an id that is still active closes the socket with 4409 ("Subscriber for <id> already
//! exists"), as graphql-transport-ws requires, instead of silently replacing the first.

use std::{collections::HashSet, time::Duration};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use actix_ws::{CloseCode, CloseReason, Message};
use async_graphql::http::{WebSocket, WebSocketProtocols as Protocols, WsMessage};
use futures_util::{StreamExt, stream};
use serde::Deserialize;

use super::CyberSchema;

/// A session idle this long is closed (the protocol's keep-alive pings count as activity).
const IDLE: Duration = Duration::from_secs(60);

/// `GET /graphql/ws`: the handshake, then the session on its own task.
pub(crate) async fn handshake(
    schema: web::Data<CyberSchema>,
    request: HttpRequest,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let protocol = request
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').find_map(|p| p.trim().parse::<Protocols>().ok()))
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest("Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws")
        })?;
    let (mut response, session, messages) = actix_ws::handle(&request, body)?;
    response
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_PROTOCOL, header::HeaderValue::from_static(protocol.sec_websocket_protocol()));
    actix_web::rt::spawn(run(CyberSchema::clone(&schema), protocol, session, messages));
    Ok(response)
}

/// The fields of a protocol message this layer reads.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// What the session loop takes next: a frame from the client or a message from the engine.
enum Event {
    Client(Result<Message, actix_ws::ProtocolError>),
    Engine(WsMessage),
}

async fn run(
    schema: CyberSchema,
    protocol: Protocols,
    mut session: actix_ws::Session,
    messages: actix_ws::MessageStream,
) {
    let (to_engine, from_client) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let from_client = tokio_stream::wrappers::UnboundedReceiverStream::new(from_client);
    let engine = WebSocket::new(schema, from_client, protocol).keepalive_timeout(Some(IDLE));
    let mut events = stream::select(messages.map(Event::Client), engine.map(Event::Engine));
    // Subscriptions this session runs: their ids may not be reused until they complete.
    let mut active: HashSet<String> = HashSet::new();
    // Ids the client completed, whose `complete` the engine will echo (that echo must not free
    // a new subscription the client has meanwhile started under the same id).
    let mut echoes: HashSet<String> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Event::Client(Ok(Message::Text(text))) => {
                if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(&text) {
                    match (kind.as_str(), protocol) {
                        ("subscribe", Protocols::GraphQLWS) if !active.insert(id.clone()) => {
                            let reason = CloseReason {
                                code: CloseCode::Other(4409),
                                description: Some(format!("Subscriber for {id} already exists")),
                            };
                            let _ = session.close(Some(reason)).await;
                            return;
                        }
                        ("complete" | "stop", _) if active.remove(&id) => {
                            echoes.insert(id);
                        }
                        _ => {}
                    }
                }
                if to_engine.send(text.as_bytes().to_vec()).is_err() {
                    break;
                }
            }
            Event::Client(Ok(Message::Binary(bytes))) => {
                if to_engine.send(bytes.to_vec()).is_err() {
                    break;
                }
            }
            Event::Client(Ok(Message::Ping(bytes))) => {
                if session.pong(&bytes).await.is_err() {
                    break;
                }
            }
            Event::Client(Ok(Message::Close(_)) | Err(_)) => break,
            Event::Client(Ok(_)) => {}
            Event::Engine(WsMessage::Text(text)) => {
                // The engine ended a subscription (its stream finished or failed): its id is free,
                // unless this is the echo of the client's own `complete`.
                if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(&text)
                    && matches!(kind.as_str(), "complete" | "error")
                    && !echoes.remove(&id)
                {
                    active.remove(&id);
                }
                if session.text(text).await.is_err() {
                    break;
                }
            }
            Event::Engine(WsMessage::Close(code, description)) => {
                let reason = CloseReason { code: CloseCode::Other(code), description: Some(description) };
                let _ = session.close(Some(reason)).await;
                return;
            }
        }
    }
    let _ = session.close(None).await;
}
