//! Every code an API answer carries (`error.code` in REST, `extensions.code` in GraphQL) and
//! the HTTP status each maps to: the engine's [`ErrorCode`]s and the server's own.

use actix_web::http::StatusCode;
use engine::ErrorCode;

/// A code of an error answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiCode {
    /// What the engine refused or failed with.
    Engine(ErrorCode),
    /// `BAD_REQUEST`: a request the API cannot read (bad arguments, cursors, bodies).
    BadRequest,
    /// `CONNECTION_LIMIT`: too many requests in flight from one address.
    ConnectionLimit,
    /// `QUERY_TOO_COMPLEX`: over the GraphQL cost limit.
    QueryTooComplex,
    /// `QUERY_TOO_DEEP`: over the GraphQL depth limit.
    QueryTooDeep,
    /// `GRAPHQL_VALIDATION_FAILED`: unknown fields, wrong types.
    ValidationFailed,
    /// `GRAPHQL_PARSE_FAILED`: not GraphQL.
    ParseFailed,
    /// `TIMEOUT`: the request (its body, or its work) took longer than the node allows.
    Timeout,
}

impl From<ErrorCode> for ApiCode {
    fn from(code: ErrorCode) -> Self {
        ApiCode::Engine(code)
    }
}

impl ApiCode {
    /// The code as answers spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ApiCode::Engine(code) => code.as_str(),
            ApiCode::BadRequest => "BAD_REQUEST",
            ApiCode::ConnectionLimit => "CONNECTION_LIMIT",
            ApiCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ApiCode::QueryTooDeep => "QUERY_TOO_DEEP",
            ApiCode::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ApiCode::ParseFailed => "GRAPHQL_PARSE_FAILED",
            ApiCode::Timeout => "TIMEOUT",
        }
    }

    /// The status of a REST answer with this code.
    pub(crate) fn http_status(self) -> StatusCode {
        match self {
            ApiCode::Engine(ErrorCode::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::Engine(ErrorCode::RateLimited) | ApiCode::ConnectionLimit => StatusCode::TOO_MANY_REQUESTS,
            ApiCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiCode::Engine(ErrorCode::NotFound) => StatusCode::NOT_FOUND,
            ApiCode::Engine(ErrorCode::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            ApiCode::Engine(ErrorCode::Internal | ErrorCode::Genesis) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
