//! How the layer frames a listing response it filtered: the service's own
//! framing headers are replaced by the filtered body's length.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcpguard::guard::{Guard, HttpOptions};
use mcpguard_tower::GuardLayer;
use serde_json::json;
use tower::ServiceExt as _;

/// A listing the service answers with `Transfer-Encoding: chunked` set
/// among its headers.
const LISTING: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"read_file"}]}}"#;

#[tokio::test]
async fn a_filtered_listing_goes_out_with_its_length_and_without_the_services_chunking() {
    // Anonymous requests are allowed: the listing is still read and filtered.
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": {"issuers": [], "required": false},
        "servers": {"filesystem": {"tags": ["files"]}}
    });
    let guard = Guard::from_json(&config.to_string()).unwrap();
    let layer = GuardLayer::new(guard, HttpOptions::new(Some("filesystem")));
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|_req: http::Request<_>| async {
            let response = http::Response::builder()
                .header("content-type", "application/json")
                .header("transfer-encoding", "chunked")
                .body(Full::new(Bytes::from_static(LISTING.as_bytes())))
                .unwrap();
            Ok::<_, Infallible>(response)
        }));
    let request = http::Request::post("/mcp")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("transfer-encoding").is_none(),
        "{:?}",
        response.headers()
    );
    assert_eq!(
        response.headers().get_all("content-length").iter().count(),
        1
    );
    let length = response.headers()["content-length"].clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(length, body.len().to_string().as_str());
    assert_eq!(body, LISTING.as_bytes());
}
