//! The permissive default: what the server reads of AWS Signature Version 4 without
//! `--credentials` — that a request is signed, and the region of its credential scope (tables are
//! namespaced per region). Any well-formed signature is accepted unchecked. Verification, the
//! opt-in mode, is [`crate::sigv4`].

use flywheel_protocol::{ApiError, ErrorKind};

/// The region of the request's credential scope, from the `Authorization` header or the
/// presigned-URL query (`X-Amz-Credential`).
pub fn region(authorization: Option<&str>, query: Option<&str>) -> Result<String, ApiError> {
    if let Some(header) = authorization {
        return region_from_header(header);
    }
    if let Some(credential) = query.and_then(|q| query_param(q, "X-Amz-Credential")) {
        let decoded = credential.replace("%2F", "/").replace("%2f", "/");
        return scope_region(&decoded).ok_or_else(|| incomplete(&format!("X-Amz-Credential={credential}")));
    }
    Err(ApiError::new(ErrorKind::MissingAuthenticationToken, "Request is missing Authentication Token"))
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

fn incomplete(shown: &str) -> ApiError {
    ApiError::new(
        ErrorKind::IncompleteSignature,
        format!("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={shown}"),
    )
}

/// `AKID/DATE/REGION/SERVICE/aws4_request` → REGION.
fn scope_region(credential: &str) -> Option<String> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, _date, region, _service, "aws4_request"] if !key.is_empty() && !region.is_empty() => {
            Some(region.to_string())
        }
        _ => None,
    }
}

fn region_from_header(header: &str) -> Result<String, ApiError> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256").map(str::trim_start).ok_or_else(|| {
        ApiError::new(
            ErrorKind::IncompleteSignature,
            format!("Authorization header requires 'Credential' parameter. Authorization={header}"),
        )
    })?;
    let mut credential = None;
    let mut signature = false;
    let mut signed_headers = false;
    for part in rest.split(',').map(str::trim) {
        if let Some(c) = part.strip_prefix("Credential=") {
            credential = Some(c);
        } else if part.starts_with("Signature=") {
            signature = true;
        } else if part.starts_with("SignedHeaders=") {
            signed_headers = true;
        }
    }
    match (credential.and_then(scope_region), signature, signed_headers) {
        (Some(region), true, true) => Ok(region),
        _ => Err(incomplete(header)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credential_scope() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-west-2/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(region(Some(h), None).unwrap(), "eu-west-2");
        let q =
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-west-1%2Fdynamodb%2Faws4_request";
        assert_eq!(region(None, Some(q)).unwrap(), "us-west-1");
    }

    #[test]
    fn rejects_missing_and_malformed() {
        let e = region(None, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingAuthenticationToken);
        assert_eq!(e.message, "Request is missing Authentication Token");
        assert_eq!(
            region(Some("AWS4-HMAC-SHA256 Credential=x"), None).unwrap_err().kind,
            ErrorKind::IncompleteSignature
        );
        assert_eq!(region(Some("Basic abc"), None).unwrap_err().kind, ErrorKind::IncompleteSignature);
    }
}
