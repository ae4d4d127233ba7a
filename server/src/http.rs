//! The HTTP surface: GraphQL (`/graphql`, subscriptions at `/graphql/ws`, GraphiQL at
//! `/graphiql`), Prometheus `/metrics`, `/healthz`, and a small JSON API that the CLI uses
//! (submit signed transactions, post content, status, transactions, neurons, blocks, focus).
//! Every error is a 4xx with a code (`extensions.code` in GraphQL, `{"error": {"code"}}` in
//! JSON); a per-IP rate limit and body caps guard every route but `/healthz` and `/metrics`.

use std::{net::SocketAddr, sync::Arc};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    middleware::{Next, from_fn},
    web,
};
use engine::{Address, EngineError, ErrorCode, Node, Origin, Particle};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::{
    blocking::run_blocking,
    codes::ApiCode,
    graphql::CyberSchema,
    limits::{InFlight, RateLimiter},
    metrics::{Metrics, Route},
    pool::{DevicePool, Priority},
    relay::{FIRST_RESEND, RELAYED, Relay},
    search::SearchIndex,
    wire::{ErrorBody, ErrorDetail, SignedTxBody},
};

fn error_body(code: impl Into<ApiCode>, message: impl std::fmt::Display) -> HttpResponse {
    let code = code.into();
    let error = ErrorDetail { code: code.as_str().to_owned(), message: message.to_string() };
    HttpResponse::build(code.http_status()).json(ErrorBody { error })
}

fn engine_error(error: &EngineError) -> HttpResponse {
    if !error.is_client_error() {
        tracing::error!(%error, "request failed inside the node");
    }
    error_body(error.code(), error)
}

/// Runs blocking engine work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, HttpResponse> {
    match run_blocking(work).await {
        Ok(result) => result.map_err(|e| engine_error(&e)),
        Err(_) => Err(error_body(ErrorCode::Unavailable, "the node is busy or stopping")),
    }
}

/// Admits a transaction; one a client sent (not a peer's relay) is forwarded to the peers.
async fn submit(
    request: HttpRequest,
    node: web::Data<Node>,
    relay: web::Data<Relay>,
    body: web::Json<SignedTxBody>,
) -> HttpResponse {
    let signed = match body.decode() {
        Ok(signed) => signed,
        Err(e) => return engine_error(&EngineError::Malformed(e)),
    };
    let node = node.into_inner();
    // A peer's relay is admitted as a peer's (`Origin::Peer`) and not forwarded again.
    let (origin, outgoing) = match request.headers().contains_key(RELAYED) {
        true => (Origin::Peer, None),
        false => (Origin::Client, relay.prepare(&signed)),
    };
    match blocking(move || node.submit_from(signed, origin)).await {
        Ok(receipt) => {
            outgoing.into_iter().for_each(|body| relay.forward(receipt.cid, body, FIRST_RESEND));
            HttpResponse::Ok().json(receipt)
        }
        Err(response) => response,
    }
}

async fn post_particle(
    node: web::Data<Node>,
    search: web::Data<SearchIndex>,
    limit: web::Data<ContentLimit>,
    body: web::Payload,
) -> HttpResponse {
    let limit = limit.0;
    let body = match body.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return error_body(ErrorCode::Malformed, e),
        Err(_) => {
            return error_body(ErrorCode::TooLarge, format!("content is over the limit of {limit} bytes"));
        }
    };
    let node = node.into_inner();
    let search = search.into_inner();
    match blocking(move || search.post(&node, &body)).await {
        Ok(particle) => HttpResponse::Ok().json(json!({ "cid": particle.to_string() })),
        Err(response) => response,
    }
}

/// Stored content by CID, read on the blocking pool, answered when `accept` takes it (else
/// `NOT_FOUND` saying there is no `what` stored for the particle).
async fn stored_content(node: &Node, cid: &str, what: &'static str, accept: fn(&[u8]) -> bool) -> HttpResponse {
    let particle = match Particle::parse(cid) {
        Ok(p) => p,
        Err(e) => return engine_error(&e),
    };
    let query = node.query();
    match blocking(move || query.content(&particle)).await {
        Ok(Some(bytes)) if accept(&bytes) => HttpResponse::Ok().content_type("application/octet-stream").body(bytes),
        Ok(_) => error_body(ErrorCode::NotFound, format!("no {what} stored for {particle}")),
        Err(response) => response,
    }
}

async fn content(node: web::Data<Node>, cid: web::Path<String>) -> HttpResponse {
    stored_content(&node, &cid, "content", |_| true).await
}

/// A compiled model's file by the CID a block header records, so an auditor can fetch the exact
/// weights behind any answer.
async fn model(node: web::Data<Node>, cid: web::Path<String>) -> HttpResponse {
    stored_content(&node, &cid, "model file", compiler::file::is_model_file).await
}

async fn status(node: web::Data<Node>) -> HttpResponse {
    let params = node.params();
    let mut status = serde_json::to_value(node.query().status()).expect("status serialises");
    status["params"] = serde_json::to_value(&params).expect("params serialise");
    // The genesis encoding leaves the block budget out at its default; a client sees it always.
    status["params"]["max_block_tx_bytes"] = params.max_block_tx_bytes.into();
    HttpResponse::Ok().json(status)
}

async fn neuron(node: web::Data<Node>, address: web::Path<String>) -> HttpResponse {
    match address.parse::<Address>() {
        Ok(address) => HttpResponse::Ok().json(node.query().neuron(&address)),
        Err(e) => engine_error(&e.into()),
    }
}

async fn tx_status(node: web::Data<Node>, cid: web::Path<String>) -> HttpResponse {
    let cid = match cid.parse() {
        Ok(cid) => cid,
        Err(e) => return error_body(ErrorCode::InvalidCid, format!("{cid:?}: {e}")),
    };
    match node.query().tx_status(&cid) {
        Ok(status) => HttpResponse::Ok().json(status),
        Err(e) => engine_error(&e),
    }
}

async fn block(node: web::Data<Node>, height: web::Path<u64>) -> HttpResponse {
    let (query, height) = (node.query(), *height);
    match blocking(move || query.block(height)).await {
        Ok(Some((header, txs))) => HttpResponse::Ok().json(json!({
            "cid": header.cid().to_string(),
            "header": {
                "height": header.height,
                "time": header.time,
                "parent": header.parent.to_string(),
                "txs_root": hex::encode(header.txs_root),
                "graph_root": hex::encode(header.graph_root),
                "focus_root": hex::encode(header.focus_root),
                "model": header.model.map(|c| c.to_string()),
                "sprint": header.sprint.map(|c| c.to_string()),
            },
            "txs": txs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        Ok(None) => error_body(ErrorCode::NotFound, format!("no block at height {height}")),
        Err(response) => response,
    }
}

async fn focus(node: web::Data<Node>) -> HttpResponse {
    HttpResponse::Ok().json(node.query().focus().summary)
}

/// Most entries `GET /focus/top/{n}` returns.
const MAX_TOP: usize = 1000;

async fn top(node: web::Data<Node>, first: web::Path<usize>) -> HttpResponse {
    if *first > MAX_TOP {
        return error_body(ErrorCode::TooLarge, format!("at most {MAX_TOP} particles per request"));
    }
    let height = node.query().focus().summary.height;
    let ranked: Vec<_> = node
        .query()
        .top(*first)
        .into_iter()
        .map(|r| json!({ "cid": r.particle.to_string(), "focus": r.score }))
        .collect();
    HttpResponse::Ok().json(json!({ "height": height, "particles": ranked }))
}

#[derive(Deserialize)]
struct AtHeight {
    height: Option<u64>,
}

async fn focus_proof(node: web::Data<Node>, cid: web::Path<String>, at: web::Query<AtHeight>) -> HttpResponse {
    let particle = match Particle::parse(&cid) {
        Ok(p) => p,
        Err(e) => return engine_error(&e),
    };
    let height = match at.height {
        Some(h) => h,
        // The newest focus that a header already commits to.
        None => node.query().focus().summary.height.saturating_sub(1),
    };
    let node = node.into_inner();
    match blocking(move || node.query().focus_proof(&particle, height)).await {
        Ok(proof) => HttpResponse::Ok().json(proof),
        Err(response) => response,
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn json_error(error: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let response = match &error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            error_body(ErrorCode::TooLarge, &error)
        }
        _ => error_body(ErrorCode::Malformed, &error),
    };
    InternalError::from_response(error, response).into()
}

/// Largest content `POST /particle` reads.
struct ContentLimit(usize);

/// Largest GraphQL request body.
const MAX_GRAPHQL_BODY: usize = 256 * 1024;

/// Seconds a stopping server gives requests in flight.
const SHUTDOWN_GRACE_SECONDS: u64 = 5;

/// A transport-level GraphQL error (the request never reached the executor).
fn graphql_error(code: impl Into<ApiCode>, message: impl std::fmt::Display) -> HttpResponse {
    let code = code.into();
    HttpResponse::build(code.http_status())
        .json(json!({ "errors": [{ "message": message.to_string(), "extensions": { "code": code.as_str() } }] }))
}

async fn graphql(schema: web::Data<CyberSchema>, body: web::Payload) -> HttpResponse {
    let bytes = match body.to_bytes_limited(MAX_GRAPHQL_BODY).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return graphql_error(ApiCode::BadRequest, e),
        Err(_) => {
            return graphql_error(ErrorCode::TooLarge, format!("request body is over {MAX_GRAPHQL_BODY} bytes"));
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            return graphql_error(ApiCode::BadRequest, format!("not a GraphQL request: {e}"));
        }
    };
    // The schema's `Bounds` checks, parses and prices the query before anything else does.
    let mut response = schema.execute(request).await;
    crate::graphql::add_codes(&mut response);
    HttpResponse::Ok().json(response)
}

async fn sdl(schema: web::Data<CyberSchema>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(schema.sdl())
}

async fn metrics_route(node: web::Data<Node>, metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics.render(&node))
}

/// Rate limits by client IP and records latency; `/healthz` and `/metrics` pass untouched.
async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path();
    if path == "/healthz" || path == "/metrics" {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    }
    let route = if path.starts_with("/graphql") { Route::Graphql } else { Route::Rest };
    let limiter = request.app_data::<web::Data<RateLimiter>>().cloned();
    let in_flight = request.app_data::<web::Data<InFlight>>().cloned();
    let pool = request.app_data::<web::Data<DevicePool>>().map(|pool| pool.clone().into_inner());
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let ip = request.peer_addr().map(|a| a.ip());
    let refusal = |code: ApiCode, message: &str| match route {
        Route::Graphql => graphql_error(code, message),
        Route::Rest => error_body(code, message),
    };
    if let (Some(limiter), Some(ip)) = (&limiter, ip)
        && !limiter.allow(ip)
    {
        if let Some(metrics) = &metrics {
            metrics.rate_limited();
        }
        let response = refusal(ErrorCode::RateLimited.into(), "too many requests from this address");
        return Ok(request.into_response(response).map_into_right_body());
    }
    let _slot = match (&in_flight, ip) {
        (Some(in_flight), Some(ip)) => match in_flight.enter(ip) {
            Some(slot) => Some(slot),
            None => {
                let response = refusal(ApiCode::ConnectionLimit, "too many concurrent requests from this address");
                return Ok(request.into_response(response).map_into_right_body());
            }
        },
        _ => None,
    };
    // A request goes before the focus solve and Sprint in the device pool.
    let _turn = pool.map(|pool| pool.enter(Priority::Query));
    let start = std::time::Instant::now();
    // Within the budget or not at all: a body trickling in or a resolver running long is
    // answered TIMEOUT (work already on the blocking pool finishes there, unawaited).
    // Subscriptions are sessions, not requests.
    let budget = request.app_data::<web::Data<RequestBudget>>().map(|b| b.0).filter(|_| path != "/graphql/ws");
    let response = match budget {
        None => next.call(request).await?,
        Some(budget) => match actix_web::rt::time::timeout(budget, next.call(request)).await {
            Ok(response) => response?,
            Err(_) => {
                if let Some(metrics) = &metrics {
                    metrics.observe(route, start.elapsed());
                }
                // A write that timed out may still land: its outcome is for `GET /tx/{cid}`.
                let message = format!("the request took longer than {} ms", budget.as_millis());
                let response = refusal(ApiCode::Timeout, &message);
                // The request went into the abandoned call; the answer leaves as an error's.
                return Err(InternalError::from_response(message, response).into());
            }
        },
    };
    if let Some(metrics) = metrics {
        metrics.observe(route, start.elapsed());
    }
    Ok(response.map_into_left_body())
}

/// What the HTTP layer needs to know.
pub(crate) struct HttpSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) max_content_bytes: usize,
    pub(crate) rate_limit_per_ip: u32,
    pub(crate) max_in_flight_per_ip: usize,
    pub(crate) max_connections: usize,
    pub(crate) request_timeout: std::time::Duration,
}

/// Longest a request may take from its head to its answer (body upload and work included).
struct RequestBudget(std::time::Duration);

/// Serves until SIGINT/SIGTERM; in-flight requests finish first.
pub(crate) fn serve(
    node: Arc<Node>,
    search: Arc<SearchIndex>,
    blocks: broadcast::Sender<Arc<engine::BlockEvent>>,
    pool: Arc<DevicePool>,
    metrics: Arc<Metrics>,
    relay: Arc<Relay>,
    settings: HttpSettings,
) -> std::io::Result<()> {
    // Base64 inflates by 4/3; the rest of the JSON envelope is small.
    let json_limit = node.tx_limits().max_tx_bytes * 4 / 3 + 1024;
    let context = crate::graphql::Context {
        node: Arc::clone(&node),
        search: Arc::clone(&search),
        blocks,
        relay: Arc::clone(&relay),
    };
    let relay = web::Data::from(relay);
    let schema = web::Data::new(crate::graphql::schema(context));
    let search = web::Data::from(search);
    let data = web::Data::from(node);
    let metrics = web::Data::from(metrics);
    let pool = web::Data::from(pool);
    let limiter = web::Data::new(RateLimiter::new(settings.rate_limit_per_ip));
    let in_flight = web::Data::new(InFlight::new(settings.max_in_flight_per_ip));
    let content_limit = web::Data::new(ContentLimit(settings.max_content_bytes));
    let budget = web::Data::new(RequestBudget(settings.request_timeout));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(schema.clone())
                .app_data(metrics.clone())
                .app_data(pool.clone())
                .app_data(limiter.clone())
                .app_data(in_flight.clone())
                .app_data(content_limit.clone())
                .app_data(budget.clone())
                .app_data(search.clone())
                .app_data(relay.clone())
                .app_data(web::JsonConfig::default().limit(json_limit).error_handler(json_error))
                .wrap(from_fn(guard))
                .route("/graphql", web::post().to(graphql))
                .route("/graphql/ws", web::get().to(crate::graphql::ws::handshake))
                .route("/graphql/sdl", web::get().to(sdl))
                .route("/graphiql", web::get().to(crate::graphiql::page))
                .route("/graphiql/assets/{name}", web::get().to(crate::graphiql::asset))
                .route("/metrics", web::get().to(metrics_route))
                .route("/healthz", web::get().to(healthz))
                .route("/status", web::get().to(status))
                .route("/tx", web::post().to(submit))
                .route("/tx/{cid}", web::get().to(tx_status))
                .route("/neuron/{address}", web::get().to(neuron))
                .route("/block/{height}", web::get().to(block))
                .route("/focus", web::get().to(focus))
                .route("/focus/top/{first}", web::get().to(top))
                .route("/focus/proof/{cid}", web::get().to(focus_proof))
                .route("/particle", web::post().to(post_particle))
                .route("/particle/{cid}/content", web::get().to(content))
                .route("/model/{cid}", web::get().to(model))
                .default_service(web::to(|| async { error_body(ErrorCode::NotFound, "no such route") }))
        })
        .max_connections(settings.max_connections)
        // On SIGTERM, requests in flight get this long to finish; an open subscription never
        // finishes, and must not hold the node for actix's default 30 s.
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS)
        .bind(settings.listen)?;
        tracing::info!(listen = %settings.listen, "serving HTTP: GraphQL at /graphql, GraphiQL at /graphiql");
        server.run().await
    })
}
