//! AWS Signature Version 4 verification, in the Authorization-header form and the query-string
//! (presigned) form, as DynamoDB checks it.
//!
//! The checks run in DynamoDB's order, each with DynamoDB's error: the signature's parts are all
//! present; the date is ISO 8601 basic format and within 15 minutes of the server's clock;
//! `host` is signed; the algorithm is AWS4-HMAC-SHA256; the credential scope is
//! `KEY/DATE/REGION/dynamodb/aws4_request` with the request's date; the key is known
//! ([`Parsed::verify`] from here on, because the body is needed); the signature matches.
//!
//! The canonical request follows the SigV4 rules for services other than S3: the path has its
//! dot segments and empty segments removed and is then URI-encoded (so a path that arrived
//! percent-encoded is encoded twice, as the SDKs sign it); query parameters are decoded,
//! re-encoded strictly and sorted; each signed header's values are trimmed, runs of whitespace
//! collapsed, repeated headers joined with commas. The payload hash is the
//! `x-amz-content-sha256` header when present (`UNSIGNED-PAYLOAD`, or a digest that must equal
//! the body's), otherwise the SHA-256 of the body. A presigner may not know the body, so a
//! presigned request may also sign `UNSIGNED-PAYLOAD`; nothing else that differs from the body's
//! digest is accepted.
//!
//! Beyond DynamoDB's own checks, the signature must bind the operation: `X-Amz-Target` and
//! `Content-Type` (when sent) and, in the header form, the date header must be among the signed
//! headers; an operation that changes data must sign its payload (no `UNSIGNED-PAYLOAD`); a
//! presigned request expires after `X-Amz-Expires` seconds (as well as outside the clock
//! window); the headers and query parameters a signature depends on may appear only once; a
//! credential scope's region may not contain `:` (it becomes a segment of ARNs).
//!
//! Not checked: session tokens (accepted as signed, never validated).

use std::time::{SystemTime, UNIX_EPOCH};

use flywheel_protocol::{ApiError, ErrorKind};
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The only signing algorithm DynamoDB accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The service name a credential scope must carry.
pub const SERVICE: &str = "dynamodb";

/// How far `X-Amz-Date` may be from the server's clock, either way (DynamoDB: 15 minutes).
pub const CLOCK_SKEW_SECONDS_MAX: i64 = 15 * 60;

/// DynamoDB's message for a signature that does not match.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// DynamoDB's message for an access key it does not know.
pub const UNKNOWN_ACCESS_KEY: &str = "The security token included in the request is invalid.";

/// The payload hash a signer uses when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Flywheel's message for an operation that changes data, signed without its body.
pub const UNSIGNED_PAYLOAD_REFUSED: &str =
    "UNSIGNED-PAYLOAD is accepted only for operations that read: sign the body of a request that changes data.";

/// The longest `X-Amz-Expires` SigV4 allows: seven days.
pub const PRESIGNED_EXPIRES_SECONDS_MAX: i64 = 7 * 24 * 3600;

/// Headers a signed request may carry at most once.
const SINGLE_HEADERS: [&str; 7] =
    ["authorization", "host", "x-amz-date", "date", "x-amz-target", "content-type", "x-amz-content-sha256"];

/// Query parameters of a presigned request that may appear at most once.
const SINGLE_QUERY_PARAMETERS: [&str; 6] =
    ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"];

/// The parts of a request a signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as it arrived, still percent-encoded.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// A signature read from a request whose form, date and scope are valid, not yet checked
/// against a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub access_key_id: String,
    pub region: String,
    /// `YYYYMMDD` of the credential scope.
    scope_date: String,
    /// `YYYYMMDDTHHMMSSZ`, as it goes into the string to sign.
    timestamp: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: bool,
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::IncompleteSignature, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidSignature, message)
}

/// Seconds since the Unix epoch, now.
pub fn now_unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Reads and checks everything about a request's signature that does not need the secret or
/// the body. `now` is the server's clock in Unix seconds.
pub fn parse(request: &Request<'_>, now: i64) -> Result<Parsed, ApiError> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let query = request.query.map(query_pairs).unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // A header or parameter the signature depends on, sent twice, could be read one way here
    // and another way by whatever reads it next: refuse rather than pick one.
    for name in SINGLE_HEADERS {
        if request.headers.get_all(name).iter().count() > 1 {
            return Err(invalid(format!("Found more than one '{name}' header.")));
        }
    }
    for name in SINGLE_QUERY_PARAMETERS {
        if query.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(invalid(format!("Found more than one '{name}' query-string parameter.")));
        }
    }
    let authorization = header("authorization");
    let presigned = param("X-Amz-Algorithm").is_some();
    if authorization.is_some() && presigned {
        return Err(invalid(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        ));
    }
    // Which header carried the date (header form only; presigned requests sign it in the query).
    let mut date_header: Option<&str> = None;
    let (algorithm, credential, signed_headers, signature, date) = if let Some(authorization) = authorization {
        let authorization = authorization.trim();
        if !authorization.starts_with("AWS4-") {
            return Err(ApiError::new(
                ErrorKind::MissingAuthenticationToken,
                "Request is missing Authentication Token",
            ));
        }
        let (algorithm, rest) = authorization.split_once(char::is_whitespace).unwrap_or((authorization, ""));
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',').map(str::trim) {
            let Some((key, value)) = part.split_once('=') else { continue };
            match key.trim() {
                "Credential" => credential = Some(value.trim()),
                "SignedHeaders" => signed_headers = Some(value.trim()),
                "Signature" => signature = Some(value.trim()),
                _ => {}
            }
        }
        let date = match (header("x-amz-date"), header("date")) {
            (Some(d), _) => {
                date_header = Some("x-amz-date");
                Some(d.to_string())
            }
            (None, Some(d)) => {
                date_header = Some("date");
                Some(http_date_to_basic(d).unwrap_or_else(|| d.to_string()))
            }
            (None, None) => None,
        };
        let mut missing = String::new();
        for (name, value) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed_headers)] {
            if value.is_none_or(str::is_empty) {
                missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
            }
        }
        if date.is_none() {
            missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
        }
        if !missing.is_empty() {
            return Err(incomplete(format!("{missing}Authorization={authorization}")));
        }
        (
            algorithm.to_string(),
            credential.unwrap_or_default().to_string(),
            signed_headers.unwrap_or_default().to_string(),
            signature.unwrap_or_default().to_string(),
            date.unwrap_or_default(),
        )
    } else if presigned {
        let names = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"];
        let mut missing = String::new();
        for name in names {
            if param(name).is_none_or(str::is_empty) {
                missing.push_str(&format!("AWS query-string parameters must include '{name}'. "));
            }
        }
        if !missing.is_empty() {
            return Err(incomplete(format!("{missing}Re-examine the query-string parameters.")));
        }
        let [algorithm, credential, signature, signed_headers, date] = names.map(|n| param(n).unwrap_or_default());
        (algorithm.into(), credential.into(), signed_headers.into(), signature.into(), date.into())
    } else {
        return Err(ApiError::new(ErrorKind::MissingAuthenticationToken, "Request is missing Authentication Token"));
    };

    let signed_at = parse_basic_date(&date).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    if signed_at < now - CLOCK_SKEW_SECONDS_MAX {
        return Err(invalid(format!(
            "Signature expired: {date} is now earlier than {} ({} - 15 min.)",
            format_basic_date(now - CLOCK_SKEW_SECONDS_MAX),
            format_basic_date(now)
        )));
    }
    if signed_at > now + CLOCK_SKEW_SECONDS_MAX {
        return Err(invalid(format!(
            "Signature not yet current: {date} is still later than {} ({} + 15 min.)",
            format_basic_date(now + CLOCK_SKEW_SECONDS_MAX),
            format_basic_date(now)
        )));
    }
    if presigned {
        if let Some(expires) = param("X-Amz-Expires") {
            let seconds = expires.parse::<i64>().ok().filter(|s| (1..=PRESIGNED_EXPIRES_SECONDS_MAX).contains(s));
            let Some(seconds) = seconds else {
                return Err(incomplete(format!(
                    "X-Amz-Expires must be a whole number of seconds from 1 to {PRESIGNED_EXPIRES_SECONDS_MAX}, \
                     not '{expires}'."
                )));
            };
            if signed_at + seconds < now {
                return Err(invalid(format!(
                    "Signature expired: {date} is now earlier than {} ({} - {seconds} sec.)",
                    format_basic_date(now - seconds),
                    format_basic_date(now)
                )));
            }
        }
    }
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_ascii_lowercase).collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(invalid("'Host' must be a 'SignedHeader' in the AWS Authorization."));
    }
    if algorithm != ALGORITHM {
        return Err(incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). ")));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, \
             got '{credential}'"
        )));
    };
    let mut wrong = Vec::new();
    // The region becomes part of ARNs that policies match colon by colon: it may not add colons.
    if region.is_empty() || region.contains(':') {
        wrong.push(format!("Credential should be scoped to a valid region, not '{region}'."));
    }
    if *service != SERVICE {
        wrong.push(format!("Credential should be scoped to correct service: '{SERVICE}'."));
    }
    if *terminator != "aws4_request" {
        wrong.push(format!("Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."));
    }
    if !date.starts_with(scope_date) || scope_date.len() != 8 {
        wrong.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{scope_date}' != '{}', from '{date}'.",
            &date[..8]
        ));
    }
    if !wrong.is_empty() {
        return Err(invalid(wrong.join(" ")));
    }
    // What decides the operation and how its body is read must be signed too, or a captured
    // request could be replayed as another operation: the target, the content type, and (in
    // the header form) the date.
    for (name, shown) in [("x-amz-target", "X-Amz-Target"), ("content-type", "Content-Type")] {
        if request.headers.contains_key(name) && !signed_headers.iter().any(|h| h == name) {
            return Err(invalid(format!("'{shown}' must be a 'SignedHeader' in the AWS Authorization.")));
        }
    }
    if let Some(name) = date_header {
        if !signed_headers.iter().any(|h| h == name) {
            let shown = if name == "date" { "Date" } else { "X-Amz-Date" };
            return Err(invalid(format!("'{shown}' must be a 'SignedHeader' in the AWS Authorization.")));
        }
    }
    Ok(Parsed {
        access_key_id: key.to_string(),
        region: region.to_string(),
        scope_date: scope_date.to_string(),
        timestamp: date,
        signed_headers,
        signature,
        presigned,
    })
}

impl Parsed {
    /// Checks the signature against `secret` and the request's `body`.
    /// `unsigned_payload_allowed` is false for operations that change data: their body must be
    /// signed, or a captured signature would carry any body.
    pub fn verify(
        &self,
        request: &Request<'_>,
        body: &[u8],
        secret: &str,
        unsigned_payload_allowed: bool,
    ) -> Result<(), ApiError> {
        let body_hash = hex::encode(Sha256::digest(body));
        let declared = request.headers.get("x-amz-content-sha256").map(|v| String::from_utf8_lossy(v.as_bytes()));
        let candidates: Vec<&str> = match declared.as_deref() {
            Some(UNSIGNED_PAYLOAD) => vec![UNSIGNED_PAYLOAD],
            Some(declared) if declared.eq_ignore_ascii_case(&body_hash) => vec![declared],
            Some(_) => {
                return Err(invalid("The provided 'x-amz-content-sha256' header does not match what was computed."));
            }
            None if self.presigned => vec![&body_hash, UNSIGNED_PAYLOAD],
            None => vec![&body_hash],
        };
        let Ok(provided) = hex::decode(&self.signature) else {
            return Err(invalid(SIGNATURE_MISMATCH));
        };
        let key = signing_key(secret, &self.scope_date, &self.region, SERVICE);
        for payload_hash in candidates {
            let canonical = canonical_request(request, &self.signed_headers, payload_hash, self.presigned);
            let to_sign = string_to_sign(&self.timestamp, &self.scope(), &canonical);
            let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
            mac.update(to_sign.as_bytes());
            // Constant-time comparison: a timing difference must not reveal how much matched.
            if mac.verify_slice(&provided).is_ok() {
                if payload_hash == UNSIGNED_PAYLOAD && !unsigned_payload_allowed {
                    return Err(invalid(UNSIGNED_PAYLOAD_REFUSED));
                }
                return Ok(());
            }
            // What DynamoDB tells the client, the operator gets in the log instead.
            tracing::debug!(
                canonical_request = %redact_token(&canonical),
                string_to_sign = %to_sign,
                "signature mismatch"
            );
        }
        Err(invalid(SIGNATURE_MISMATCH))
    }

    fn scope(&self) -> String {
        format!("{}/{}/{SERVICE}/aws4_request", self.scope_date, self.region)
    }
}

/// The canonical request: method, URI, query, headers, signed-header list and payload hash,
/// one per line. Bytes rather than a string: header values need not be UTF-8.
pub fn canonical_request(
    request: &Request<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(request.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(request.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(request.query.unwrap_or(""), presigned).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for value in request.headers.get_all(name.as_str()) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// The canonical request for a log line, with any session token's value left out: a client
/// may well send a real AWS token here, and logs travel further than requests.
fn redact_token(canonical: &[u8]) -> String {
    let text = String::from_utf8_lossy(canonical);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.starts_with("x-amz-security-token:") {
            out.push_str("x-amz-security-token:(redacted)");
        } else if i == 2 {
            // The canonical query; its names are already strictly encoded.
            let params: Vec<String> = line
                .split('&')
                .map(|p| match p.strip_prefix("X-Amz-Security-Token=") {
                    Some(_) => "X-Amz-Security-Token=(redacted)".to_string(),
                    None => p.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Appends a header value with its ends trimmed and each run of spaces or tabs made one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let mut words = value.split(is_space).filter(|w| !w.is_empty()).peekable();
    while let Some(word) = words.next() {
        out.extend_from_slice(word);
        if words.peek().is_some() {
            out.push(b' ');
        }
    }
}

/// The string to sign: algorithm, timestamp, credential scope, hash of the canonical request.
pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request)))
}

/// The signing key: the secret HMAC-chained through date, region, service and terminator.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

/// The hex signature of `string_to_sign` under `key`.
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The canonical URI: dot segments and empty segments removed, then every byte but unreserved
/// characters and `/` percent-encoded. An empty path is `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        encode_into(&mut out, segment.as_bytes());
    }
    if segments.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: every parameter decoded, then strictly encoded, sorted by name
/// and value. A presigned request's own `X-Amz-Signature` is left out.
pub fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut name = String::new();
            encode_into(&mut name, &percent_decode(k));
            let mut value = String::new();
            encode_into(&mut value, &percent_decode(v));
            (name, value)
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The query's parameters, decoded (as UTF-8, lossily: they only need to be read).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v)).into_owned(),
            )
        })
        .collect()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`.
fn encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Decodes `%XX` escapes; anything else, a malformed escape included, stays as it is. A `+` is
/// a plus sign: SigV4 signers encode a space as `%20`.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = (bytes[i + 1] as char).to_digit(16);
            let lo = (bytes[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds, or `None` if it is not exactly that shape or not a real
/// date and time.
pub fn parse_basic_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let month_days = [31, if is_leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[month as usize - 1] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Unix seconds → `YYYYMMDDTHHMMSSZ`.
pub fn format_basic_date(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// An HTTP `Date` header (RFC 1123) → `YYYYMMDDTHHMMSSZ`.
fn http_date_to_basic(s: &str) -> Option<String> {
    let t = httpdate::parse_http_date(s).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(format_basic_date(secs as i64))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based algorithm: 400-year
/// eras of 146,097 days, years starting in March so the leap day comes last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    /// The AWS Signature Version 4 test suite's credentials and date.
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_DATE: &str = "20150830T123600Z";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// Signs like the test suite: service `service`, region `us-east-1`, empty body.
    fn suite_signature(method: &str, path: &str, query: Option<&str>, extra: &[(&str, &str)], signed: &str) -> String {
        let mut pairs = vec![("host", "example.amazonaws.com"), ("x-amz-date", SUITE_DATE)];
        pairs.extend_from_slice(extra);
        let map = headers(&pairs);
        let request = Request { method, path, query, headers: &map };
        let signed: Vec<String> = signed.split(';').map(String::from).collect();
        let canonical = canonical_request(&request, &signed, &hex::encode(Sha256::digest(b"")), false);
        let to_sign = string_to_sign(SUITE_DATE, "20150830/us-east-1/service/aws4_request", &canonical);
        sign(&signing_key(SUITE_SECRET, "20150830", "us-east-1", "service"), &to_sign)
    }

    /// A test-suite case: name, path, query, headers besides host and date, signed headers,
    /// expected signature.
    type SuiteCase = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );

    /// Requests and signatures from the AWS SigV4 test suite (get-vanilla and its variants).
    #[test]
    fn signs_the_aws_test_suite_requests() {
        let cases: &[SuiteCase] = &[
            (
                "get-vanilla",
                "/",
                None,
                &[],
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla-empty-query-key",
                "/",
                Some("Param1=value1"),
                &[],
                "host;x-amz-date",
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            ),
            (
                "get-utf8",
                "/ሴ",
                None,
                &[],
                "host;x-amz-date",
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            (
                "normalize-path/get-slashes",
                "//example//",
                None,
                &[],
                "host;x-amz-date",
                "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            ),
            (
                "normalize-path/get-slash-pointless-dot",
                "/./example",
                None,
                &[],
                "host;x-amz-date",
                "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
            ),
            (
                "normalize-path/get-space",
                "/example space/",
                None,
                &[],
                "host;x-amz-date",
                "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
            ),
            (
                "get-header-key-duplicate",
                "/",
                None,
                &[("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
                "host;my-header1;x-amz-date",
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ),
        ];
        for (name, path, query, extra, signed, expected) in cases {
            assert_eq!(suite_signature("GET", path, *query, extra, signed), *expected, "{name}");
        }
    }

    #[test]
    fn canonical_request_has_the_documented_shape() {
        // The test suite's post-vanilla-empty-query-value canonical request.
        let map = headers(&[("host", "example.amazonaws.com"), ("x-amz-date", SUITE_DATE)]);
        let request = Request { method: "POST", path: "/", query: Some("Param1=value1"), headers: &map };
        let signed = ["host".to_string(), "x-amz-date".to_string()];
        let canonical = canonical_request(&request, &signed, &hex::encode(Sha256::digest(b"")), false);
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn canonical_uris() {
        for (path, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/a/b/../c", "/a/c"),
            ("/..", "/"),
            ("/example space/", "/example%20space/"),
            // A path that arrived percent-encoded is encoded again, as the SDKs sign it.
            ("/a%20b", "/a%2520b"),
            ("/ሴ", "/%E1%88%B4"),
            ("/-_.~", "/-_.~"),
        ] {
            assert_eq!(canonical_uri(path), expected, "{path:?}");
        }
    }

    #[test]
    fn canonical_queries() {
        for (query, presigned, expected) in [
            ("", false, ""),
            ("Param1=value1", false, "Param1=value1"),
            ("b=2&a=1", false, "a=1&b=2"),
            ("a=2&a=1", false, "a=1&a=2"),
            ("Param1", false, "Param1="),
            ("x=a%20b", false, "x=a%20b"),
            ("x=a+b", false, "x=a%2Bb"),
            ("%2f=%7e", false, "%2F=~"),
            ("x=%zz", false, "x=%25zz"),
            ("X-Amz-Signature=abc&a=1", true, "a=1"),
            ("X-Amz-Signature=abc&a=1", false, "X-Amz-Signature=abc&a=1"),
        ] {
            assert_eq!(canonical_query(query, presigned), expected, "{query:?}");
        }
    }

    #[test]
    fn header_values_are_trimmed_and_spaces_collapsed() {
        for (value, expected) in [("  a   b\tc  ", "a b c"), ("\"a   b   c\"", "\"a b c\""), ("", ""), ("x", "x")] {
            let mut out = Vec::new();
            push_trimmed(&mut out, value.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{value:?}");
        }
    }

    #[test]
    fn logged_canonical_requests_leave_out_session_tokens() {
        let canonical =
            b"POST\n/\na=1&X-Amz-Security-Token=secret%2Ftoken&z=2\nhost:h\nx-amz-security-token:secret\n\n\
            host;x-amz-security-token\nUNSIGNED-PAYLOAD";
        assert_eq!(
            redact_token(canonical),
            "POST\n/\na=1&X-Amz-Security-Token=(redacted)&z=2\nhost:h\nx-amz-security-token:(redacted)\n\n\
             host;x-amz-security-token\nUNSIGNED-PAYLOAD"
        );
    }

    #[test]
    fn basic_format_dates() {
        for (text, seconds) in [
            ("19700101T000000Z", Some(0)),
            ("20150830T123600Z", Some(1_440_938_160)),
            ("20240229T235959Z", Some(1_709_251_199)),
            ("20230229T000000Z", None),
            ("20241301T000000Z", None),
            ("20240101T240000Z", None),
            ("20240101T000000", None),
            ("2024-01-01T00:00:00Z", None),
            ("201", None),
        ] {
            assert_eq!(parse_basic_date(text), seconds, "{text}");
            if let Some(s) = seconds {
                assert_eq!(format_basic_date(s), text);
            }
        }
        assert_eq!(http_date_to_basic("Sun, 30 Aug 2015 12:36:00 GMT").as_deref(), Some(SUITE_DATE));
    }

    const NOW: &str = "20240101T002000Z";

    fn now() -> i64 {
        parse_basic_date(NOW).unwrap()
    }

    fn authorization(credential: &str, signed: &str) -> String {
        format!("{ALGORITHM} Credential={credential}, SignedHeaders={signed}, Signature=00")
    }

    fn parse_with(pairs: &[(&str, &str)], query: Option<&str>) -> Result<Parsed, ApiError> {
        let map = headers(pairs);
        parse(&Request { method: "POST", path: "/", query, headers: &map }, now())
    }

    fn message(result: Result<Parsed, ApiError>) -> (ErrorKind, String) {
        let e = result.unwrap_err();
        (e.kind, e.message)
    }

    #[test]
    fn parse_errors_are_dynamodbs() {
        use ErrorKind::*;
        let good = authorization("AKID/20240101/us-east-1/dynamodb/aws4_request", "host;x-amz-date");
        let good = good.as_str();
        let unsigned_host = authorization("AKID/20240101/us-east-1/dynamodb/aws4_request", "x-amz-date");
        let sha512 = good.replace("SHA256", "SHA512");
        let four_parts = authorization("a/b/c/d", "host");
        let bad_scope = authorization("AKID/20231231/us-east-1/s3/aws4", "host");
        let host = ("host", "localhost");
        let date = ("x-amz-date", "20240101T001500Z");
        assert!(parse_with(&[host, date, ("authorization", good)], None).is_ok());
        // Headers, query, and the error DynamoDB answers.
        type ParseCase<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, ErrorKind, String);
        let cases: Vec<ParseCase> = vec![
            (vec![host, date], None, MissingAuthenticationToken, "Request is missing Authentication Token".into()),
            (vec![host, date, ("authorization", "Basic abc")], None, MissingAuthenticationToken, "Request is missing Authentication Token".into()),
            (
                vec![host, ("authorization", "AWS4-HMAC-SHA256 Credential=a")],
                None,
                IncompleteSignature,
                "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
                 Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
                 Authorization=AWS4-HMAC-SHA256 Credential=a"
                    .into(),
            ),
            (
                vec![host, ("x-amz-date", "2024"), ("authorization", good)],
                None,
                IncompleteSignature,
                "Date must be in ISO-8601 'basic format'. Got '2024'. See http://en.wikipedia.org/wiki/ISO_8601".into(),
            ),
            (
                vec![host, ("x-amz-date", "20240101T000000Z"), ("authorization", good)],
                None,
                InvalidSignature,
                "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T002000Z - 15 min.)".into(),
            ),
            (
                vec![host, ("x-amz-date", "20240101T004000Z"), ("authorization", good)],
                None,
                InvalidSignature,
                "Signature not yet current: 20240101T004000Z is still later than 20240101T003500Z (20240101T002000Z + 15 min.)"
                    .into(),
            ),
            (
                vec![host, date, ("authorization", unsigned_host.as_str())],
                None,
                InvalidSignature,
                "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ),
            (
                vec![host, date, ("authorization", sha512.as_str())],
                None,
                IncompleteSignature,
                "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ".into(),
            ),
            (
                vec![host, date, ("authorization", four_parts.as_str())],
                None,
                IncompleteSignature,
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'".into(),
            ),
            (
                vec![host, date, ("authorization", bad_scope.as_str())],
                None,
                InvalidSignature,
                "Credential should be scoped to correct service: 'dynamodb'. \
                 Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4'. \
                 Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                 '20231231' != '20240101', from '20240101T001500Z'."
                    .into(),
            ),
            (
                vec![host],
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T001500Z"),
                IncompleteSignature,
                "AWS query-string parameters must include 'X-Amz-Credential'. \
                 AWS query-string parameters must include 'X-Amz-Signature'. \
                 AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
                    .into(),
            ),
            (
                vec![host, ("authorization", good)],
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256"),
                InvalidSignature,
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".into(),
            ),
        ];
        for (pairs, query, kind, text) in cases {
            assert_eq!(message(parse_with(&pairs, query)), (kind, text), "{pairs:?} {query:?}");
        }
    }

    #[test]
    fn the_signature_must_bind_the_operation() {
        use ErrorKind::*;
        let scope = "AKID/20240101/us-east-1/dynamodb/aws4_request";
        let host = ("host", "localhost");
        let date = ("x-amz-date", "20240101T001500Z");
        let target = ("x-amz-target", "DynamoDB_20120810.GetItem");
        let json = ("content-type", "application/x-amz-json-1.0");
        let all = authorization(scope, "content-type;host;x-amz-date;x-amz-target");
        assert!(parse_with(&[host, date, target, json, ("authorization", &all)], None).is_ok());
        let must_sign =
            |what: &str| (InvalidSignature, format!("'{what}' must be a 'SignedHeader' in the AWS Authorization."));
        let no_target = authorization(scope, "content-type;host;x-amz-date");
        assert_eq!(
            message(parse_with(&[host, date, target, json, ("authorization", &no_target)], None)),
            must_sign("X-Amz-Target")
        );
        let no_type = authorization(scope, "host;x-amz-date;x-amz-target");
        assert_eq!(
            message(parse_with(&[host, date, target, json, ("authorization", &no_type)], None)),
            must_sign("Content-Type")
        );
        let no_date = authorization(scope, "content-type;host;x-amz-target");
        assert_eq!(
            message(parse_with(&[host, date, target, json, ("authorization", &no_date)], None)),
            must_sign("X-Amz-Date")
        );
        // Two Authorization headers: neither is picked.
        assert_eq!(
            message(parse_with(&[host, date, target, json, ("authorization", &all), ("authorization", &all)], None)),
            (InvalidSignature, "Found more than one 'authorization' header.".to_string())
        );
        // A region with a colon would add a segment to every ARN it names.
        let colon = authorization("AKID/20240101/a:b/dynamodb/aws4_request", "host;x-amz-date");
        assert_eq!(
            message(parse_with(&[host, date, ("authorization", &colon)], None)),
            (InvalidSignature, "Credential should be scoped to a valid region, not 'a:b'.".to_string())
        );
    }

    #[test]
    fn presigned_requests_expire() {
        let query = |date: &str, expires: &str| {
            format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fdynamodb%2Faws4_request\
                 &X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
            )
        };
        let host = [("host", "localhost")];
        // NOW is 00:20:00; signed at 00:15:00.
        assert!(parse_with(&host, Some(&query("20240101T001500Z", "300"))).is_ok());
        assert_eq!(
            message(parse_with(&host, Some(&query("20240101T001500Z", "299")))),
            (
                ErrorKind::InvalidSignature,
                "Signature expired: 20240101T001500Z is now earlier than 20240101T001501Z (20240101T002000Z - 299 sec.)"
                    .to_string()
            )
        );
        for bad in ["0", "-5", "604801", "soon"] {
            let (kind, text) = message(parse_with(&host, Some(&query("20240101T001500Z", bad))));
            assert_eq!(kind, ErrorKind::IncompleteSignature, "{bad}");
            assert!(text.starts_with("X-Amz-Expires must be"), "{bad}: {text}");
        }
        let twice = format!("{}&X-Amz-Expires=900", query("20240101T001500Z", "300"));
        assert_eq!(message(parse_with(&host, Some(&twice))).0, ErrorKind::InvalidSignature);
    }

    #[test]
    fn unsigned_payloads_only_for_reads() {
        let body = br#"{"TableName":"T"}"#;
        let mut map = headers(&[("host", "localhost"), ("x-amz-target", "DynamoDB_20120810.DeleteItem")]);
        map.insert("x-amz-content-sha256", HeaderValue::from_static(UNSIGNED_PAYLOAD));
        sign_request(&mut map, body, "secret", NOW);
        let request = Request { method: "POST", path: "/", query: None, headers: &map };
        let parsed = parse(&request, now()).unwrap();
        assert_eq!(parsed.verify(&request, body, "secret", true), Ok(()));
        assert_eq!(
            parsed.verify(&request, body, "secret", false),
            Err(ApiError::new(ErrorKind::InvalidSignature, UNSIGNED_PAYLOAD_REFUSED))
        );
    }

    /// Signs a request the way an SDK does, for round trips through parse and verify.
    fn sign_request(map: &mut HeaderMap, body: &[u8], secret: &str, date: &str) {
        map.insert("x-amz-date", HeaderValue::from_str(date).unwrap());
        let signed: Vec<String> = ["host", "x-amz-date", "x-amz-target"].map(String::from).to_vec();
        let request = Request { method: "POST", path: "/", query: None, headers: map };
        let payload = map
            .get("x-amz-content-sha256")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| hex::encode(Sha256::digest(body)));
        let canonical = canonical_request(&request, &signed, &payload, false);
        let scope = format!("{}/us-east-1/dynamodb/aws4_request", &date[..8]);
        let signature =
            sign(&signing_key(secret, &date[..8], "us-east-1", "dynamodb"), &string_to_sign(date, &scope, &canonical));
        let value =
            format!("{ALGORITHM} Credential=AKID/{scope}, SignedHeaders={}, Signature={signature}", signed.join(";"));
        map.insert("authorization", HeaderValue::from_str(&value).unwrap());
    }

    fn verify_with(map: &HeaderMap, body: &[u8], secret: &str) -> Result<(), ApiError> {
        let request = Request { method: "POST", path: "/", query: None, headers: map };
        parse(&request, now())?.verify(&request, body, secret, true)
    }

    #[test]
    fn verifies_what_it_signs_and_nothing_else() {
        let body = br#"{"TableName":"T"}"#;
        let mut map = headers(&[("host", "localhost:8000"), ("x-amz-target", "DynamoDB_20120810.GetItem")]);
        sign_request(&mut map, body, "secret", NOW);
        assert_eq!(verify_with(&map, body, "secret"), Ok(()));
        let mismatch = Err(ApiError::new(ErrorKind::InvalidSignature, SIGNATURE_MISMATCH));
        assert_eq!(verify_with(&map, body, "other secret"), mismatch);
        assert_eq!(verify_with(&map, br#"{"TableName":"U"}"#, "secret"), mismatch, "the body is signed");
        let mut retargeted = map.clone();
        retargeted.insert("x-amz-target", HeaderValue::from_static("DynamoDB_20120810.DeleteTable"));
        assert_eq!(verify_with(&retargeted, body, "secret"), mismatch, "signed headers are signed");
        let mut unsigned_header = map.clone();
        unsigned_header.insert("x-extra", HeaderValue::from_static("anything"));
        assert_eq!(verify_with(&unsigned_header, body, "secret"), Ok(()), "unsigned headers are not");
    }

    #[test]
    fn x_amz_content_sha256_is_the_payload_hash() {
        let body = br#"{"TableName":"T"}"#;
        let mut map = headers(&[("host", "localhost"), ("x-amz-target", "DynamoDB_20120810.GetItem")]);
        map.insert("x-amz-content-sha256", HeaderValue::from_static(UNSIGNED_PAYLOAD));
        sign_request(&mut map, body, "secret", NOW);
        assert_eq!(verify_with(&map, body, "secret"), Ok(()));
        assert_eq!(verify_with(&map, b"{}", "secret"), Ok(()), "UNSIGNED-PAYLOAD leaves the body unsigned");

        let digest = hex::encode(Sha256::digest(body));
        map.insert("x-amz-content-sha256", HeaderValue::from_str(&digest).unwrap());
        sign_request(&mut map, body, "secret", NOW);
        assert_eq!(verify_with(&map, body, "secret"), Ok(()));
        let e = verify_with(&map, b"{}", "secret").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidSignature);
        assert_eq!(e.message, "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }

    #[test]
    fn presigned_requests_verify_with_either_payload_hash() {
        let body = br#"{"TableName":"T"}"#;
        let date = "20240101T001500Z";
        for payload in [UNSIGNED_PAYLOAD.to_string(), hex::encode(Sha256::digest(body))] {
            let map = headers(&[("host", "localhost"), ("x-amz-target", "DynamoDB_20120810.GetItem")]);
            let query = format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fdynamodb%2Faws4_request\
                 &X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-Security-Token=tok%2Fen&X-Amz-SignedHeaders=host%3Bx-amz-target"
            );
            let request = Request { method: "POST", path: "/", query: Some(&query), headers: &map };
            let signed = ["host".to_string(), "x-amz-target".to_string()];
            let canonical = canonical_request(&request, &signed, &payload, true);
            let to_sign = string_to_sign(date, "20240101/us-east-1/dynamodb/aws4_request", &canonical);
            let signature = sign(&signing_key("secret", "20240101", "us-east-1", "dynamodb"), &to_sign);
            let query = format!("{query}&X-Amz-Signature={signature}");
            let request = Request { method: "POST", path: "/", query: Some(&query), headers: &map };
            let parsed = parse(&request, now()).unwrap();
            assert_eq!(parsed.access_key_id, "AKID");
            assert_eq!(parsed.region, "us-east-1");
            assert_eq!(parsed.verify(&request, body, "secret", true), Ok(()), "{payload}");
            assert!(parsed.verify(&request, body, "wrong", true).is_err());
        }
    }
}
