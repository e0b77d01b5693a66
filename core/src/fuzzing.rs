//! Entry points for the fuzz harnesses (`fuzz/`) into parsers the public
//! API reaches only through a whole validation. Not a supported API: hidden
//! from the documentation and free to change with the harnesses.

/// The registered dates a claims text held, as the parser read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClaimDates {
    /// `exp` as (floor, ceiling) whole seconds.
    pub exp: Option<(i64, i64)>,
    /// `nbf` as (floor, ceiling) whole seconds.
    pub nbf: Option<(i64, i64)>,
    /// `iat` as (floor, ceiling) whole seconds.
    pub iat: Option<(i64, i64)>,
}

/// Parses a JWT claims text as token validation does (`role_claim` names
/// the claim that lists roles), returning the dates it read or the parser's
/// error text.
pub fn parse_claims(text: &str, role_claim: Option<&str>) -> Result<ClaimDates, String> {
    let claims = crate::token::parse_claims_text(text, role_claim).map_err(|e| e.to_string())?;
    let pair = |d: Option<crate::token::NumericDate>| d.map(|d| (d.floor, d.ceil));
    Ok(ClaimDates {
        exp: pair(claims.exp),
        nbf: pair(claims.nbf),
        iat: pair(claims.iat),
    })
}

/// [`HttpDecision::filter_response`](crate::guard::HttpDecision::filter_response)
/// with every listing that loses items read a second time for where its
/// items start and end, never placed from the first pass's keys: the
/// reference the one-pass placing must equal byte for byte.
pub fn filter_response_read_twice(
    decision: &crate::guard::HttpDecision,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, crate::guard::HttpResponse> {
    decision.filter_response_reading(content_type, body, crate::guard::http::Second::Always)
}
