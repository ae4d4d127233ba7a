//! The GraphQL API (spec/graph-and-api.md): the schema, its limits and its error codes.
//! `schema.graphql` at the repository root is this schema's SDL; a test holds them equal.

mod bounds;
mod objects;
mod root;
pub(crate) mod ws;

use std::sync::Arc;

use async_graphql::{ErrorExtensions, Schema};
use engine::{BlockEvent, EngineError, ErrorCode, Node};
use tokio::sync::broadcast;

use crate::{codes::ApiCode, relay::Relay, search::SearchIndex};

pub(crate) use root::{MutationRoot, QueryRoot, SubscriptionRoot};

/// The schema type.
pub(crate) type CyberSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Largest `first` of any list.
pub(crate) const MAX_PAGE: usize = 100;
/// Deepest selection accepted: the canonical introspection query (graphql-js
/// `getIntrospectionQuery()`, what GraphiQL and code generators send) nests 13 deep. Depth bounds
/// nothing else here: [`bounds`] prices every request before it runs.
const MAX_DEPTH: usize = 20;

/// Everything resolvers reach: the node, its search index, the stream of committed blocks and
/// the relay that forwards submitted transactions to the other validators.
pub(crate) struct Context {
    pub(crate) node: Arc<Node>,
    pub(crate) search: Arc<SearchIndex>,
    pub(crate) blocks: broadcast::Sender<Arc<BlockEvent>>,
    pub(crate) relay: Arc<Relay>,
}

/// Builds the schema over a node.
pub(crate) fn schema(context: Context) -> CyberSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(context)
        .limit_depth(MAX_DEPTH)
        .extension(bounds::Bounds)
        .finish()
}

/// The SDL of the schema (what `schema.graphql` holds).
pub(crate) fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot).finish().sdl()
}

/// An error with `extensions.code`.
pub(crate) fn coded(code: impl Into<ApiCode>, message: impl std::fmt::Display) -> async_graphql::Error {
    let code = code.into().as_str();
    async_graphql::Error::new(message.to_string()).extend_with(|_, ext| ext.set("code", code))
}

impl From<crate::blocking::Unavailable> for async_graphql::Error {
    fn from(_: crate::blocking::Unavailable) -> Self {
        coded(ErrorCode::Unavailable, "the node is busy or stopping")
    }
}

/// An engine error with its code.
pub(crate) fn engine_error(error: EngineError) -> async_graphql::Error {
    if !error.is_client_error() {
        tracing::error!(%error, "GraphQL request failed inside the node");
    }
    coded(error.code(), error)
}

/// Entries of a list whose `first` is not given.
pub(crate) const DEFAULT_PAGE: usize = 10;

/// Checks a page size.
pub(crate) fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(coded(ApiCode::BadRequest, "`first` must not be negative")),
        Some(n) if n as usize > MAX_PAGE => {
            Err(coded(ErrorCode::TooLarge, format!("`first` is at most {MAX_PAGE}, got {n}")))
        }
        Some(n) => Ok(n as usize),
    }
}

/// Gives every error without a code one: `QUERY_TOO_DEEP` (async-graphql's depth limits),
/// `GRAPHQL_VALIDATION_FAILED` (unknown fields, wrong types: errors outside any field path) or
/// `BAD_REQUEST`. Parse errors and costs over the bound are answered, coded, by `Bounds`
/// before execution.
pub(crate) fn add_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if error.message.contains("too deep") || error.message.contains("recursion") {
            ApiCode::QueryTooDeep
        } else if error.path.is_empty() {
            ApiCode::ValidationFailed
        } else {
            ApiCode::BadRequest
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    }
}
