//! The stylesheet and the script, embedded in the binary. Pages link them with a version
//! (a hash of the content), so a versioned URL can be cached for a year: a new build links
//! a new URL.

use std::sync::OnceLock;

use poem::{
    handler,
    http::{header, StatusCode},
    web::Path,
    Request, Response,
};
use sha2::{Digest as _, Sha256};

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");

struct Asset {
    body: &'static str,
    content_type: &'static str,
    version: String,
    url: String,
}

fn asset(name: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Asset { body, content_type, url: format!("/static/{name}?v={version}"), version }
}

fn css() -> &'static Asset {
    static CELL: OnceLock<Asset> = OnceLock::new();
    CELL.get_or_init(|| asset("app.css", CSS, "text/css; charset=utf-8"))
}

fn js() -> &'static Asset {
    static CELL: OnceLock<Asset> = OnceLock::new();
    CELL.get_or_init(|| asset("app.js", JS, "text/javascript; charset=utf-8"))
}

/// The stylesheet's versioned URL.
pub fn css_url() -> &'static str {
    &css().url
}

/// The script's versioned URL.
pub fn js_url() -> &'static str {
    &js().url
}

/// `GET /static/{file}`: the asset, cached for a year under its current version, revalidated
/// (by its `ETag`) under any other URL.
#[handler]
pub fn serve(req: &Request, Path(file): Path<String>) -> Response {
    let asset = match file.as_str() {
        "app.css" => css(),
        "app.js" => js(),
        _ => return Response::builder().status(StatusCode::NOT_FOUND).body("not found"),
    };
    let etag = format!("\"{}\"", asset.version);
    let versioned = req.uri().query().is_some_and(|q| q == format!("v={}", asset.version));
    let cache = if versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
    let builder = Response::builder().header(header::ETAG, etag.as_str()).header(header::CACHE_CONTROL, cache);
    let matches = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    if matches {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    builder.content_type(asset.content_type).body(asset.body)
}
