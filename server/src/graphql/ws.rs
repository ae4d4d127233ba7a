//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`): async-graphql's
//! protocol engine on an actix-ws session, with what the engine leaves out:
//! - a second `subscribe` with an id that is still active closes the socket with 4409
//!   ("Subscriber for <id> already exists"), as graphql-transport-ws requires, instead of
//!   silently replacing the first;
//! - a session holds one of its address's in-flight slots for its life, every operation it
//!   starts passes the address's rate limit, and it runs [`MAX_OPERATIONS`] at most (else 4429);
//! - the session ends with its engine (a `connection_terminate`), a client that sends nothing
//!   for [`IDLE`] (WebSocket pings go out every [`PING`]; any frame counts), one that stops
//!   reading for [`SEND_TIMEOUT`], or one that floods messages faster than the engine takes them.

use std::{
    collections::HashSet,
    net::IpAddr,
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{WebSocket, WebSocketProtocols as Protocols, WsMessage};
use futures_util::{StreamExt, stream};
use serde::Deserialize;

use super::{CyberSchema, bounds::MAX_QUERY_BYTES};
use crate::limits::{InFlight, RateLimiter};

/// Operations one session may run at once.
pub(crate) const MAX_OPERATIONS: usize = 64;
/// A client that sends no frame for this long is gone.
const IDLE: Duration = Duration::from_secs(90);
/// How often the server pings (the client's pong is a frame).
const PING: Duration = Duration::from_secs(30);
/// A client that does not take a message for this long is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Client messages waiting for the engine; more means the client floods.
const BACKLOG: usize = 64;

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
    let limits = Limits {
        ip: request.peer_addr().map(|a| a.ip()),
        rate: request.app_data::<web::Data<RateLimiter>>().cloned(),
        in_flight: request.app_data::<web::Data<InFlight>>().cloned(),
    };
    let (mut response, session, messages) = actix_ws::handle(&request, body)?;
    response
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_PROTOCOL, header::HeaderValue::from_static(protocol.sec_websocket_protocol()));
    let messages = messages.aggregate_continuations().max_continuation_size(2 * MAX_QUERY_BYTES);
    actix_web::rt::spawn(run(CyberSchema::clone(&schema), protocol, session, messages, limits));
    Ok(response)
}

/// The HTTP limits a session answers to.
struct Limits {
    ip: Option<IpAddr>,
    rate: Option<web::Data<RateLimiter>>,
    in_flight: Option<web::Data<InFlight>>,
}

/// The fields of a protocol message this layer reads.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// What the session loop takes next.
enum Event {
    Client(Result<AggregatedMessage, actix_ws::ProtocolError>),
    Engine(WsMessage),
    /// The engine ended (the client terminated the connection, or the protocol ended it).
    EngineDone,
    Tick,
}

fn close(code: u16, description: impl Into<String>) -> Option<CloseReason> {
    Some(CloseReason { code: CloseCode::Other(code), description: Some(description.into()) })
}

async fn run(
    schema: CyberSchema,
    protocol: Protocols,
    mut session: actix_ws::Session,
    messages: actix_ws::AggregatedMessageStream,
    limits: Limits,
) {
    let _slot = match (&limits.in_flight, limits.ip) {
        (Some(in_flight), Some(ip)) => match in_flight.enter(ip) {
            Some(slot) => Some(slot),
            None => {
                let _ = session.close(close(4429, "too many concurrent requests from this address")).await;
                return;
            }
        },
        _ => None,
    };
    let (to_engine, from_client) = tokio::sync::mpsc::channel::<Vec<u8>>(BACKLOG);
    let from_client = tokio_stream::wrappers::ReceiverStream::new(from_client);
    let engine = WebSocket::new(schema, from_client, protocol).keepalive_timeout(None);
    let ticks = stream::unfold((), |()| async {
        actix_web::rt::time::sleep(PING).await;
        Some((Event::Tick, ()))
    });
    let engine = engine.map(Event::Engine).chain(stream::once(async { Event::EngineDone }));
    let mut events = std::pin::pin!(stream::select(stream::select(messages.map(Event::Client), engine), ticks));
    // Operations this session runs: their ids may not be reused until they complete.
    let mut active: HashSet<String> = HashSet::new();
    // Ids the client completed, whose `complete` the engine will echo (that echo must not free
    // a new operation the client has meanwhile started under the same id).
    let mut echoes: HashSet<String> = HashSet::new();
    let mut last_heard = Instant::now();
    let reason = loop {
        let Some(event) = events.next().await else { break None };
        let outgoing = match event {
            Event::Client(Ok(message)) => {
                last_heard = Instant::now();
                let bytes = match message {
                    AggregatedMessage::Text(text) => text.into_bytes(),
                    AggregatedMessage::Binary(bytes) => bytes,
                    AggregatedMessage::Ping(bytes) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    AggregatedMessage::Pong(_) => continue,
                    AggregatedMessage::Close(_) => break None,
                };
                if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(&bytes) {
                    match kind.as_str() {
                        "subscribe" | "start" => {
                            if !active.insert(id.clone()) {
                                if matches!(protocol, Protocols::GraphQLWS) {
                                    break close(4409, format!("Subscriber for {id} already exists"));
                                }
                            } else if active.len() > MAX_OPERATIONS {
                                break close(4429, format!("more than {MAX_OPERATIONS} operations at once"));
                            }
                            if let (Some(rate), Some(ip)) = (&limits.rate, limits.ip)
                                && !rate.allow(ip)
                            {
                                break close(4429, "too many requests from this address");
                            }
                        }
                        "complete" | "stop" if active.remove(&id) => {
                            echoes.insert(id);
                        }
                        _ => {}
                    }
                }
                if to_engine.try_send(bytes.to_vec()).is_err() {
                    break close(4429, "messages arrive faster than they are handled");
                }
                continue;
            }
            Event::Client(Err(_)) => break close(1002, "protocol error"),
            Event::Engine(WsMessage::Text(text)) => {
                // The engine ended an operation (its stream finished or failed): its id is
                // free, unless this is the echo of the client's own `complete`.
                if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(&text)
                    && matches!(kind.as_str(), "complete" | "error")
                    && !echoes.remove(&id)
                {
                    active.remove(&id);
                }
                text
            }
            Event::Engine(WsMessage::Close(code, description)) => break close(code, description),
            Event::EngineDone => break None,
            Event::Tick => {
                if last_heard.elapsed() > IDLE {
                    break close(1001, "idle");
                }
                if session.ping(b"").await.is_err() {
                    break None;
                }
                continue;
            }
        };
        match actix_web::rt::time::timeout(SEND_TIMEOUT, session.text(outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break None,
            Err(_) => break close(1008, "the client does not read"),
        }
    };
    let _ = session.close(reason).await;
}
