//! The web console, served by the admin listener under `/console`: a page to browse tables and
//! items, run queries, edit and delete items, create and delete tables, and watch request rates,
//! latencies and partition heat. Plain HTML, CSS and JavaScript modules, embedded in the binary:
//! nothing is fetched from elsewhere and nothing is built at run time.
//!
//! Routes:
//! - `GET /console` (and `/console/`): the page;
//! - `GET /console/assets/NAME`: its style sheet and scripts;
//! - `POST /console/api`: one DynamoDB operation, named by `X-Amz-Target` exactly as on the API
//!   listener, in the region of `X-Flywheel-Region` (default `us-east-1`); the answer is the same
//!   JSON the API listener would send, with the same status;
//! - `GET /console/api/summary`: every table's item count, size, indexes, per-partition counters,
//!   stream and TTL, as JSON.
//!
//! Trust: the admin listener is for the operator. It binds to loopback by default and checks no
//! signature, so whoever can reach it can read and change every table: bind it only where every
//! caller is trusted. Two guards keep *web pages* the operator visits from using it through the
//! operator's browser: every API call needs the `X-Amz-Target` header, which a cross-site page
//! cannot send without a CORS preflight (never granted here), and a `Host` that is not an IP
//! address or `localhost` is refused, which defeats DNS rebinding.
//!
//! Console requests are not counted in the request metrics (`flywheel_requests_total` and
//! friends describe client traffic on the API listener); their reads and writes do count in the
//! engine's partition counters, like any other.

use bytes::Bytes;
use flywheel_engine::{RequestContext, TableSummary};
use flywheel_protocol::ApiError;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL};
use hyper::{Method, Request, Response, StatusCode};

use super::text;
use crate::Server;

/// The region a console request addresses when it names none.
const DEFAULT_REGION: &str = "us-east-1";

/// Longest region name accepted in `X-Flywheel-Region`.
const REGION_BYTES_MAX: usize = 64;

/// Largest console API request body: DynamoDB's 16 MB plus room for JSON framing, as on the API
/// listener.
const REQUEST_BODY_BYTES_MAX: usize = flywheel_types::limits::REQUEST_BODY_BYTES_MAX + 64 * 1024;

/// The page only loads what it ships with, and nothing may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("index.html");

/// The page's files, by the name under `/console/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("console.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("dom.js")),
    ("tables.js", "text/javascript; charset=utf-8", include_str!("tables.js")),
    ("items.js", "text/javascript; charset=utf-8", include_str!("items.js")),
    ("metrics.js", "text/javascript; charset=utf-8", include_str!("metrics.js")),
    ("prometheus.js", "text/javascript; charset=utf-8", include_str!("prometheus.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_str!("charts.js")),
];

/// Whether `path` belongs to the console.
pub fn owns(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// Answers one request under `/console`.
pub async fn handle(server: &Server, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let host = req.headers().get("host").and_then(|v| v.to_str().ok());
    if !host_is_address_or_localhost(host) {
        return text(
            StatusCode::FORBIDDEN,
            "text/plain",
            "the console answers only to an IP address or localhost in the URL\n",
        );
    }
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET, "/console" | "/console/") => page(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML),
        (&Method::GET, "/console/api/summary") => json(200, summary_json(&server.engine().table_summaries())),
        (&Method::POST, "/console/api") => api(server, req).await,
        (&Method::GET, _) => match path.strip_prefix("/console/assets/").and_then(find_asset) {
            Some((content_type, body)) => page(StatusCode::OK, content_type, body),
            None => text(StatusCode::NOT_FOUND, "text/plain", "not found: the console is at /console\n"),
        },
        (_, "/console/api") => text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "POST only\n"),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n"),
    }
}

fn find_asset(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS.iter().find(|(n, _, _)| *n == name).map(|(_, content_type, body)| (*content_type, *body))
}

/// A file of the page. `no-cache`: a browser revalidates, so a new binary's page is never mixed
/// with an old one's scripts.
fn page(status: StatusCode, content_type: &'static str, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = text(status, content_type, Bytes::from_static(body.as_bytes()));
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    r
}

fn json(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = text(status, "application/x-amz-json-1.0", body);
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn api_error(e: &ApiError) -> Response<Full<Bytes>> {
    json(e.kind.status(), e.to_json())
}

/// One DynamoDB operation through the engine, exactly as the API listener runs it, minus the
/// signature (see the module comment for why none is needed here).
async fn api(server: &Server, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let op = match flywheel_protocol::parse_target(header("x-amz-target").unwrap_or_default()) {
        Ok(op) => op,
        Err(e) => return api_error(&e),
    };
    let region = header("x-flywheel-region").map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REGION);
    if region.len() > REGION_BYTES_MAX || !region.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return api_error(&ApiError::validation(format!(
            "X-Flywheel-Region must be at most {REGION_BYTES_MAX} visible ASCII characters without '/'"
        )));
    }
    let host = header("host").unwrap_or("localhost").to_string();
    let body = match Limited::new(body, REQUEST_BODY_BYTES_MAX).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return api_error(&ApiError::validation("Request size exceeded the maximum allowed size of 16777216 bytes"))
        }
    };
    let ctx = RequestContext::new(region, host);
    match server.engine().dispatch(&ctx, op, &body).await {
        Ok(out) => json(200, out),
        Err(e) => {
            tracing::debug!(operation = op.name(), error = %e, "console request failed");
            api_error(&e)
        }
    }
}

/// `Host` names this machine by address or as `localhost`: a DNS name could be an attacker's,
/// rebound to 127.0.0.1 to reach this listener from a page in the operator's browser.
fn host_is_address_or_localhost(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .and_then(|h| h.strip_prefix('['))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
}

/// The summary as JSON: `{"tables": [{"region", "name", "itemCount", "sizeBytes", "indexes":
/// [{"name", "global", "active", "itemCount", "sizeBytes"}], "partitions": [[writes, reads], …],
/// "streamViewType", "ttlAttribute"}]}`. Written by hand: this crate does not know serde.
fn summary_json(tables: &[TableSummary]) -> Vec<u8> {
    use std::fmt::Write;
    let mut out = String::from("{\"tables\":[");
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"region\":");
        push_string(&mut out, &t.region);
        out.push_str(",\"name\":");
        push_string(&mut out, &t.name);
        let _ = write!(out, ",\"itemCount\":{},\"sizeBytes\":{},\"indexes\":[", t.item_count, t.size_bytes);
        for (j, index) in t.indexes.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            push_string(&mut out, &index.name);
            let _ = write!(
                out,
                ",\"global\":{},\"active\":{},\"itemCount\":{},\"sizeBytes\":{}}}",
                index.global, index.active, index.item_count, index.size_bytes
            );
        }
        out.push_str("],\"partitions\":[");
        for (j, (writes, reads)) in t.partitions.iter().enumerate() {
            let _ = write!(out, "{}[{writes},{reads}]", if j > 0 { "," } else { "" });
        }
        out.push_str("],\"streamViewType\":");
        push_optional_string(&mut out, t.stream_view_type.as_deref());
        out.push_str(",\"ttlAttribute\":");
        push_optional_string(&mut out, t.ttl_attribute.as_deref());
        out.push('}');
    }
    out.push_str("]}");
    out.into_bytes()
}

fn push_optional_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_string(out, s),
        None => out.push_str("null"),
    }
}

/// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_engine::IndexSummary;

    #[test]
    fn only_addresses_and_localhost_are_accepted() {
        for (host, local) in [
            (Some("127.0.0.1:8001"), true),
            (Some("127.0.0.1"), true),
            (Some("[::1]:8001"), true),
            (Some("localhost:8001"), true),
            (Some("LOCALHOST"), true),
            (Some("console.localhost:8001"), true),
            (Some("10.1.2.3:8001"), true),
            (Some("evil.example:8001"), false),
            (Some("127.0.0.1.evil.example"), false),
            (Some("[not-an-address]:8001"), false),
            (None, false),
        ] {
            assert_eq!(host_is_address_or_localhost(host), local, "{host:?}");
        }
    }

    #[test]
    fn every_asset_the_page_names_is_served() {
        for (name, _, body) in ASSETS {
            assert!(!body.is_empty(), "{name}");
        }
        let mut named =
            INDEX_HTML.split("assets/").skip(1).map(|s| s.split('"').next().unwrap_or_default()).collect::<Vec<_>>();
        for (_, _, body) in ASSETS {
            named.extend(body.split("from './").skip(1).map(|s| s.split('\'').next().unwrap_or_default()));
        }
        for name in named {
            assert!(find_asset(name).is_some(), "{name} is imported but not served");
        }
    }

    #[test]
    fn summary_is_json() {
        let tables = vec![TableSummary {
            region: "us-east-1".into(),
            name: "Music".into(),
            item_count: 2,
            size_bytes: 40,
            indexes: vec![IndexSummary {
                name: "byYear".into(),
                global: true,
                active: false,
                item_count: 1,
                size_bytes: 20,
                violations: 0,
            }],
            partitions: vec![(1, 2), (0, 0)],
            stream_view_type: None,
            ttl_attribute: Some("exp\"ires\u{1}".into()),
        }];
        assert_eq!(
            String::from_utf8(summary_json(&tables)).unwrap(),
            r#"{"tables":[{"region":"us-east-1","name":"Music","itemCount":2,"sizeBytes":40,"indexes":[{"name":"byYear","global":true,"active":false,"itemCount":1,"sizeBytes":20}],"partitions":[[1,2],[0,0]],"streamViewType":null,"ttlAttribute":"exp\"ires\u0001"}]}"#
        );
        assert_eq!(String::from_utf8(summary_json(&[])).unwrap(), r#"{"tables":[]}"#);
    }
}
