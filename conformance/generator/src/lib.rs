//! Test kit for mcpguard: the committed test keys (conformance/keys/), a JWS
//! signer for any supported algorithm, the matching public JWKs, and raw
//! helpers to build deliberately broken tokens.
//!
//! Key names: `rsa`, `rsa2` (RSA 2048), `ec256` (P-256), `ec384` (P-384),
//! `ed25519`, and `hmac` (a 64-byte secret). The keys are test keys, public
//! in the repository: never use them for anything else.
//!
//! Functions panic on misuse (unknown key name, an algorithm the key cannot
//! sign): this is test tooling, and a panic names the mistake.

#[cfg(feature = "oauth-store")]
pub mod oauth_store;
#[cfg(feature = "tls")]
pub mod tls;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, signature::EcdsaSigningAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Every key name, asymmetric keys first.
pub const KEY_NAMES: [&str; 6] = ["rsa", "rsa2", "ec256", "ec384", "ed25519", "hmac"];

fn key_file(name: &str) -> (&'static str, &'static str, &'static str) {
    match name {
        "rsa" => (
            include_str!("../../keys/rsa.pem"),
            include_str!("../../keys/rsa.pub.pem"),
            include_str!("../../keys/rsa.jwk.json"),
        ),
        "rsa2" => (
            include_str!("../../keys/rsa2.pem"),
            include_str!("../../keys/rsa2.pub.pem"),
            include_str!("../../keys/rsa2.jwk.json"),
        ),
        "ec256" => (
            include_str!("../../keys/ec256.pem"),
            include_str!("../../keys/ec256.pub.pem"),
            include_str!("../../keys/ec256.jwk.json"),
        ),
        "ec384" => (
            include_str!("../../keys/ec384.pem"),
            include_str!("../../keys/ec384.pub.pem"),
            include_str!("../../keys/ec384.jwk.json"),
        ),
        "ed25519" => (
            include_str!("../../keys/ed25519.pem"),
            include_str!("../../keys/ed25519.pub.pem"),
            include_str!("../../keys/ed25519.jwk.json"),
        ),
        other => panic!("unknown asymmetric test key {other:?}"),
    }
}

/// The HMAC test secret (64 bytes).
pub fn hmac_secret() -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(include_str!("../../keys/hmac.key").trim())
        .expect("committed hmac.key is base64url")
}

/// The PKCS#8 private key PEM of an asymmetric key.
pub fn private_pem(name: &str) -> &'static str {
    key_file(name).0
}

/// The SPKI public key PEM of an asymmetric key.
pub fn public_pem(name: &str) -> &'static str {
    key_file(name).1
}

/// The public JWK of `name` (for `hmac`: the `oct` key), with `kid` and
/// `alg` added when given.
pub fn public_jwk(name: &str, kid: Option<&str>, alg: Option<&str>) -> Value {
    let mut jwk: Value = if name == "hmac" {
        json!({"kty": "oct", "k": b64url(&hmac_secret())})
    } else {
        serde_json::from_str(key_file(name).2).expect("committed JWK is JSON")
    };
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

/// A JWK Set of `(key name, kid, alg)` entries, as a JSON value.
pub fn jwks(keys: &[(&str, Option<&str>, Option<&str>)]) -> Value {
    json!({"keys": keys.iter().map(|(n, k, a)| public_jwk(n, *k, *a)).collect::<Vec<_>>()})
}

/// Merges `extra` into `base` member by member, objects recursively; a
/// `null` in `extra` removes the member (how a test says "without this
/// claim"). Anything but two objects: `extra` replaces `base`.
pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (k, v) in extra {
                if v.is_null() {
                    base.remove(&k);
                } else {
                    merge(base.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (base, extra) => *base = extra,
    }
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header_json.claims_json` (each base64url-encoded as given, byte
/// for byte) with key `key` under `alg` and returns the compact JWS.
pub fn sign(alg: &str, key: &str, header_json: &str, claims_json: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header_json.as_bytes()),
        b64url(claims_json.as_bytes())
    );
    let sig = sign_input(alg, key, input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// The `kid` under which the store and binding tests publish
/// [`hmac_secret`] (see [`hmac_jwks`]).
pub const HMAC_KID: &str = "hs-1";

/// A JWK Set with [`hmac_secret`] as an HS256 `oct` key, kid [`HMAC_KID`].
pub fn hmac_jwks() -> Value {
    serde_json::json!({ "keys": [{
        "kty": "oct", "kid": HMAC_KID, "alg": "HS256", "k": b64url(&hmac_secret())
    }] })
}

/// An HS256 JWT (`typ` `JWT`, kid [`HMAC_KID`]) over `claims`, signed with
/// [`hmac_secret`]: what a key set from [`hmac_jwks`] verifies.
pub fn sign_hs256(claims: &Value) -> String {
    let header = serde_json::json!({ "alg": "HS256", "kid": HMAC_KID, "typ": "JWT" });
    sign("HS256", "hmac", &header.to_string(), &claims.to_string())
}

/// Signs `header_json.claims_json` with an arbitrary HMAC secret (e.g. the
/// bytes of an RSA public key PEM, for key-confusion tests).
pub fn sign_hmac_with(alg: &str, secret: &[u8], header_json: &str, claims_json: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header_json.as_bytes()),
        b64url(claims_json.as_bytes())
    );
    let tag = hmac::sign(&hmac::Key::new(hmac_alg(alg), secret), input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

fn hmac_alg(alg: &str) -> hmac::Algorithm {
    match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        other => panic!("{other} is not an HMAC algorithm"),
    }
}

/// The raw signature of `input` by `key` under `alg` (ECDSA in raw `r‖s` form).
pub fn sign_input(alg: &str, key: &str, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        "HS256" | "HS384" | "HS512" => {
            assert_eq!(key, "hmac", "{alg} signs with the hmac key");
            hmac::sign(&hmac::Key::new(hmac_alg(alg), &hmac_secret()), input)
                .as_ref()
                .to_vec()
        }
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let pair = RsaKeyPair::from_pkcs8(&der(key)).expect("RSA PKCS#8 key");
            let enc: &'static dyn signature::RsaEncoding = match alg {
                "RS256" => &signature::RSA_PKCS1_SHA256,
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                "PS512" => &signature::RSA_PSS_SHA512,
                other => unreachable!("{other} is listed in the arm above"),
            };
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(enc, &rng, input, &mut sig).expect("RSA signing");
            sig
        }
        "ES256" => ecdsa(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, key, input),
        "ES384" => ecdsa(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, key, input),
        "EdDSA" => {
            let der = der(key);
            let pair = Ed25519KeyPair::from_pkcs8(&der)
                .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der))
                .expect("Ed25519 PKCS#8 key");
            pair.sign(input).as_ref().to_vec()
        }
        other => panic!("the test kit cannot sign {other}"),
    }
}

/// An ECDSA signature of `input` in ASN.1 DER form (which JWS forbids), for
/// tests that such signatures are refused.
pub fn sign_ecdsa_der(alg: &str, key: &str, input: &[u8]) -> Vec<u8> {
    let a = match alg {
        "ES256" => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        "ES384" => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        other => panic!("{other} is not ECDSA"),
    };
    ecdsa(a, key, input)
}

fn ecdsa(alg: &'static EcdsaSigningAlgorithm, key: &str, input: &[u8]) -> Vec<u8> {
    let pair = EcdsaKeyPair::from_pkcs8(alg, &der(key)).expect("EC PKCS#8 key");
    let _ = pair.public_key();
    pair.sign(&SystemRandom::new(), input)
        .expect("ECDSA signing")
        .as_ref()
        .to_vec()
}

fn der(key: &str) -> Vec<u8> {
    pem::parse(private_pem(key))
        .expect("committed PEM parses")
        .contents()
        .to_vec()
}

/// Joins three raw segments with dots (no encoding): for broken tokens.
pub fn join(header_b64: &str, payload_b64: &str, signature_b64: &str) -> String {
    format!("{header_b64}.{payload_b64}.{signature_b64}")
}

/// Splits a compact token into its three segments.
pub fn split(token: &str) -> (String, String, String) {
    let mut it = token.splitn(3, '.');
    let mut next = || it.next().unwrap_or_default().to_owned();
    (next(), next(), next())
}

/// Signs with `alg`/`key` over raw, already-encoded segments (which may be
/// deliberately non-canonical base64url).
pub fn sign_raw_segments(alg: &str, key: &str, header_b64: &str, payload_b64: &str) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let sig = sign_input(alg, key, input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_signs_with_its_algorithms() {
        for (alg, key) in [
            ("HS256", "hmac"),
            ("HS512", "hmac"),
            ("RS256", "rsa"),
            ("PS384", "rsa2"),
            ("ES256", "ec256"),
            ("ES384", "ec384"),
            ("EdDSA", "ed25519"),
        ] {
            let t = sign(alg, key, r#"{"alg":"x"}"#, "{}");
            assert_eq!(t.matches('.').count(), 2, "{alg}");
        }
        assert_eq!(sign_input("ES256", "ec256", b"x").len(), 64);
        assert_eq!(sign_input("ES384", "ec384", b"x").len(), 96);
    }

    #[test]
    fn public_jwks_carry_kid_and_alg() {
        let set = jwks(&[("rsa", Some("r1"), Some("RS256")), ("hmac", None, None)]);
        assert_eq!(set["keys"][0]["kid"], "r1");
        assert_eq!(set["keys"][1]["kty"], "oct");
    }
}

/// The conformance vectors' comparison rules (`docs/conformance.md`), shared
/// by the Rust runners (the core's and the C binding's, which reaches the
/// library only through its exported functions).
///
/// `expect` is a partial match: only the keys it lists are compared; lists
/// compare in order unless a key ends in `_set`; numbers compare
/// numerically; `error_contains` is a substring of the actual `error`;
/// `headers_contain` (inside `expect`) is checked with [`check_headers`](vectors::check_headers).
pub mod vectors {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    /// The folder of vector files: `$MCPGUARD_CONFORMANCE_DIR`, else the
    /// repository's `conformance/`.
    pub fn dir() -> PathBuf {
        match std::env::var_os("MCPGUARD_CONFORMANCE_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        }
    }

    /// Runs every `*.json` file of [`dir`] in name order through
    /// `run_file(file name, document, failures) -> cases run`, then fails
    /// (panics) listing every failure by file and case. A file that is not
    /// JSON is a failure; an empty folder is too.
    pub fn run_all(
        surface: &str,
        mut run_file: impl FnMut(&str, &Value, &mut Vec<String>) -> usize,
    ) {
        let dir = dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no vector files in {}", dir.display());
        let mut failures = Vec::new();
        let mut cases = 0;
        for file in &files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let doc = std::fs::read_to_string(file)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
            match doc {
                Ok(doc) => cases += run_file(&name, &doc, &mut failures),
                Err(e) => failures.push(format!("{name}: not JSON: {e}")),
            }
        }
        eprintln!(
            "conformance ({surface}): {cases} cases in {} files",
            files.len()
        );
        assert!(
            failures.is_empty(),
            "{} conformance failure(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// `headers_contain` / `headers_not_contain`: `{"Name": ["substring", …]}`,
    /// the name matched case-insensitively over every header of that name.
    pub fn check_headers(decision: &Value, spec: &Value, present: bool) -> Result<(), String> {
        let spec = spec
            .as_object()
            .ok_or("header expectations must be an object")?;
        let headers = decision["headers"].as_array().cloned().unwrap_or_default();
        for (name, subs) in spec {
            let values: Vec<&str> = headers
                .iter()
                .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .filter_map(|h| h[1].as_str())
                .collect();
            for sub in subs.as_array().ok_or("header substrings must be a list")? {
                let sub = sub.as_str().ok_or("header substrings must be strings")?;
                let found = values.iter().any(|v| v.contains(sub));
                if present && !found {
                    return Err(format!(
                        "header {name} should contain {sub:?}; got {values:?}"
                    ));
                }
                if !present && found {
                    return Err(format!(
                        "header {name} should not contain {sub:?}; got {values:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn partial_match(expect: &Value, actual: &Value, path: &str) -> Result<(), String> {
        match expect {
            Value::Object(exp) => {
                for (k, v) in exp {
                    if k == "headers_contain" && path.is_empty() {
                        continue; // checked against the decision's headers
                    }
                    if let Some(base) = k.strip_suffix("_set") {
                        let a = actual.get(base).ok_or(format!("{path}.{base}: missing"))?;
                        set_match(v, a, &format!("{path}.{base}"))?;
                        continue;
                    }
                    if k == "error_contains" {
                        // parse_filter: the error text must contain the substring.
                        let (Some(sub), Some(err)) = (v.as_str(), actual["error"].as_str()) else {
                            return Err(format!(
                                "{path}.error: expected an error containing {v}, got {actual}"
                            ));
                        };
                        if !err.contains(sub) {
                            return Err(format!(
                                "{path}.error: expected text containing {sub:?}, got {err:?}"
                            ));
                        }
                        continue;
                    }
                    let a = actual.get(k).unwrap_or(&Value::Null);
                    partial_match(v, a, &format!("{path}.{k}"))?;
                }
                Ok(())
            }
            Value::Array(exp) => {
                let act = actual
                    .as_array()
                    .ok_or(format!("{path}: expected {expect}, got {actual}"))?;
                if exp.len() != act.len() {
                    return Err(format!("{path}: expected {expect}, got {actual}"));
                }
                for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                    partial_match(e, a, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Value::Number(e) => match actual.as_f64() {
                Some(a) if (a - e.as_f64().unwrap_or(f64::NAN)).abs() <= 1e-9 => Ok(()),
                _ => Err(format!("{path}: expected {expect}, got {actual}")),
            },
            _ if expect == actual => Ok(()),
            _ => Err(format!("{path}: expected {expect}, got {actual}")),
        }
    }

    fn set_match(expect: &Value, actual: &Value, path: &str) -> Result<(), String> {
        let (Some(e), Some(a)) = (expect.as_array(), actual.as_array()) else {
            return Err(format!("{path}: expected a list, got {actual}"));
        };
        let same = e.len() == a.len()
            && e.iter().all(|x| a.contains(x))
            && a.iter().all(|x| e.contains(x));
        if same {
            Ok(())
        } else {
            Err(format!("{path}: expected the set {expect}, got {actual}"))
        }
    }
}

/// The HTTP-edge corpus (`conformance/http_edge.json`, op `http`): reading a
/// case's raw request and application response, and comparing two
/// responses the way every surface's runner does.
///
/// A response is `{"status", "headers": [[name, value], …], "body"}`.
/// Header names compare case-insensitively (HTTP's rule) and headers are
/// compared as a list sorted stably by name, so a stack that adds the
/// guard's headers before the application's and one that adds them after
/// agree, while two headers of one name must still come in the same order.
/// Values and bodies compare byte for byte.
///
/// A case's `app` is what the application behind the guard answers:
/// `{"status", "content_type", "body", "headers"?}`, `headers` being its
/// own further headers (`[[name, value], …]`). A forwarded response is the
/// application's with the guard's headers added; when the guard filtered
/// it (a listing), the filtered body goes with its own `Content-Length`
/// and without the headers that described the original (an `ETag`, a
/// digest: `mcpguard::guard::FILTERED_BODY_DROPS`), as each surface drops
/// them.
pub mod http_vectors {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    /// What the application behind the guard answers.
    #[derive(Debug, Clone)]
    pub struct App {
        /// Its status.
        pub status: u16,
        /// Its `Content-Type`.
        pub content_type: String,
        /// Its other headers (an `ETag`, say), sent after `Content-Type`.
        pub headers: Vec<(String, String)>,
        /// Its body.
        pub body: Vec<u8>,
    }

    impl App {
        /// The response a client sees when the guard forwards the request
        /// (or passes it): the application's, with `added` headers; when
        /// the guard filtered it, with the filtered body and without the
        /// application's headers the surface under test says a filtered
        /// body drops. `Content-Length` is the length of the body sent.
        pub fn response(
            &self,
            added: Vec<(String, String)>,
            filtered: Option<Filtered<'_>>,
        ) -> Value {
            let keeps_all = |_: &str| false;
            let (body, drops): (Vec<u8>, &Drops) = match filtered {
                Some(f) => (f.body, f.drops),
                None => (self.body.clone(), &keeps_all),
            };
            let mut headers = vec![
                json!(["Content-Type", self.content_type]),
                json!(["Content-Length", body.len().to_string()]),
            ];
            headers.extend(
                self.headers
                    .iter()
                    .filter(|(n, _)| !drops(n))
                    .map(|(n, v)| json!([n, v])),
            );
            headers.extend(added.into_iter().map(|(n, v)| json!([n, v])));
            json!({"status": self.status, "headers": headers, "body": String::from_utf8_lossy(&body)})
        }
    }

    /// Whether a surface drops an application header (by name, any case)
    /// with a filtered body.
    pub type Drops = dyn Fn(&str) -> bool;

    /// A body the guard filtered, and which of the application's headers
    /// the surface under test drops with it.
    pub struct Filtered<'a> {
        /// The filtered body.
        pub body: Vec<u8>,
        /// Whether a header is dropped.
        pub drops: &'a Drops,
    }

    /// A case's request, as bytes.
    #[derive(Debug, Clone)]
    pub struct Input {
        /// The method.
        pub method: String,
        /// The path.
        pub path: String,
        /// The raw query string.
        pub query: String,
        /// Every header; each character of a vector's value is one byte
        /// (Latin-1), as HTTP/1.1 carries it.
        pub headers: Vec<(Vec<u8>, Vec<u8>)>,
        /// The peer address.
        pub peer: Option<String>,
        /// The body (`body` text, or `body_base64url` bytes), absent for none.
        pub body: Option<Vec<u8>>,
        /// The host's routing choice of server.
        pub server: Option<String>,
        /// What the application answers.
        pub app: App,
    }

    fn latin1(text: &str) -> Result<Vec<u8>, String> {
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} is not one byte")))
            .collect()
    }

    impl Input {
        /// Reads `case["request"]` and `case["app"]`.
        pub fn from_case(case: &Value) -> Result<Input, String> {
            let r = &case["request"];
            let text = |v: &Value, what: &str| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{what}` must be a string"))
            };
            let opt = |v: &Value| v.as_str().map(str::to_string);
            let headers = r["headers"]
                .as_array()
                .ok_or("`request.headers` must be a list")?
                .iter()
                .map(|h| {
                    let name = h[0].as_str().ok_or("a header name must be a string")?;
                    let value = h[1].as_str().ok_or("a header value must be a string")?;
                    Ok((latin1(name)?, latin1(value)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let body = match (r.get("body"), r.get("body_base64url")) {
                (Some(Value::String(b)), _) => Some(b.as_bytes().to_vec()),
                (_, Some(Value::String(b))) => Some(
                    URL_SAFE_NO_PAD
                        .decode(b)
                        .map_err(|e| format!("body_base64url: {e}"))?,
                ),
                _ => None,
            };
            let a = &case["app"];
            Ok(Input {
                method: text(&r["method"], "request.method")?,
                path: text(&r["path"], "request.path")?,
                query: opt(&r["query"]).unwrap_or_default(),
                headers,
                peer: opt(&r["peer"]),
                body,
                server: opt(&r["server"]),
                app: App {
                    status: a["status"]
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or("`app.status`")?,
                    content_type: text(&a["content_type"], "app.content_type")?,
                    headers: match &a["headers"] {
                        Value::Null => Vec::new(),
                        Value::Array(hs) => hs
                            .iter()
                            .map(|h| match (h[0].as_str(), h[1].as_str()) {
                                (Some(n), Some(v)) => Ok((n.to_string(), v.to_string())),
                                _ => Err("`app.headers`: [name, value] pairs"),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err("`app.headers`: a list".into()),
                    },
                    body: text(&a["body"], "app.body")?.into_bytes(),
                },
            })
        }
    }

    /// A response's headers as `(lower-case name, value)`, sorted stably by name.
    pub fn normalized_headers(response: &Value) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = response["headers"]
            .as_array()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap_or_default().to_ascii_lowercase(),
                            h[1].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        headers
    }

    /// Whether `actual` is the `expect`ed response (see the module doc).
    pub fn compare(expect: &Value, actual: &Value) -> Result<(), String> {
        if expect.is_null() {
            return Err("the case has no `expect`: bless the vectors".into());
        }
        if expect["status"] != actual["status"] {
            return Err(format!(
                "status {} where {} was expected",
                actual["status"], expect["status"]
            ));
        }
        let (e, a) = (normalized_headers(expect), normalized_headers(actual));
        if e != a {
            return Err(format!("headers {a:?} where {e:?} were expected"));
        }
        if expect["body"] != actual["body"] {
            return Err(format!(
                "body {} where {} was expected",
                actual["body"], expect["body"]
            ));
        }
        Ok(())
    }
}
