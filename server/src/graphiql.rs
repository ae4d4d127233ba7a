//! GraphiQL served from the binary: the page and its vendored, gzipped assets
//! (`server/assets/graphiql/`), so the IDE works offline and air-gapped.

use std::io::Read;

use actix_web::{HttpRequest, HttpResponse, http::header, web};

const PAGE: &str = include_str!("../assets/graphiql/index.html");

/// `(name, content type, gzipped bytes)`.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("graphiql.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.js.gz")),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.css.gz")),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js.gz"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js.gz"),
    ),
];

/// `GET /graphiql`.
pub(crate) async fn page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(PAGE)
}

/// `GET /graphiql/assets/{name}`: gzipped as stored, or unpacked for a client that does not
/// accept gzip. Cached for a day: the assets change only with the binary.
pub(crate) async fn asset(request: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some((_, content_type, gzipped)) = ASSETS.iter().find(|(asset, _, _)| *asset == name.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let accepts_gzip = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|coding| coding.trim().starts_with("gzip")));
    let mut response = HttpResponse::Ok();
    response
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::VARY, "accept-encoding"));
    if accepts_gzip {
        return response.insert_header((header::CONTENT_ENCODING, "gzip")).body(*gzipped);
    }
    let mut plain = Vec::new();
    match flate2::read::GzDecoder::new(*gzipped).read_to_end(&mut plain) {
        Ok(_) => response.body(plain),
        Err(error) => {
            tracing::error!(%error, asset = %name, "a vendored GraphiQL asset does not unpack");
            HttpResponse::InternalServerError().finish()
        }
    }
}
