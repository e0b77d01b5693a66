//! `GuardLayer` in front of a real `rmcp` streamable-HTTP server on axum,
//! driven by the real `rmcp` client: an allowed call, a 401 with
//! `resource_metadata`, a 403 on a tool, a 429 with `Retry-After`, and a
//! filtered `tools/list`.

use std::sync::Arc;
use std::time::Duration;

use mcpguard::guard::{Guard, HttpOptions};
use mcpguard::{ManualClock, token::Principal};
use mcpguard_testkit as kit;
use mcpguard_tower::GuardLayer;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolRequestParams, ServerCapabilities, ServerConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde_json::json;
use tower::ServiceExt as _;

const T: u64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";

#[derive(Debug, Clone)]
struct Files {
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Files {
    fn new() -> Self {
        Files {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Reads a file")]
    async fn read_file(&self) -> String {
        "contents".to_string()
    }

    #[tool(description = "Writes a file")]
    async fn write_file(&self) -> String {
        "written".to_string()
    }
}

#[tool_handler]
impl ServerHandler for Files {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn guard(limit: u64) -> Guard {
    let config = json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}]},
        "servers": {"filesystem": {"tags": ["files"], "tools": {"write_file": {"tags": ["files-write"]}}}},
        "rate_limit": {"limit": limit, "window_seconds": 60}
    });
    // The clock only decides token expiry and windows; it never moves here.
    Guard::from_json_with_clock(&config.to_string(), ManualClock::new(T)).unwrap()
}

fn token(client: &str, scope: &str) -> String {
    let claims = json!({"iss": ISS, "sub": client, "client_id": client, "aud": RES,
        "exp": T + 3600, "scope": scope});
    kit::sign(
        "RS256",
        "rsa",
        &json!({"alg": "RS256", "kid": "k1"}).to_string(),
        &claims.to_string(),
    )
}

/// Serves the MCP server at `/mcp` behind the guard; returns its URL.
async fn serve(guard: Guard, json_response: bool) -> String {
    let mut config = StreamableHttpServerConfig::default();
    config.json_response = json_response;
    let service = StreamableHttpService::new(
        || Ok(Files::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let layer = GuardLayer::new(guard, HttpOptions::new(Some("filesystem")));
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn client(
    url: &str,
    token: Option<&str>,
) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        config = config.auth_header(t.to_string());
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        ().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .map_err(|_| "handshake timed out".to_string())?
    .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn an_allowed_call_reaches_the_tool_and_tools_list_is_filtered() {
    for json_response in [false, true] {
        let url = serve(guard(100), json_response).await;
        let files = token("files-app", "tag:files");
        let c = client(&url, Some(&files)).await.expect("handshake");
        let result = c
            .call_tool(CallToolRequestParams::new("read_file"))
            .await
            .expect("read_file is allowed");
        assert_eq!(result.is_error, Some(false));
        let tools = c.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["read_file"], "json_response={json_response}");

        let writer = token("writer", "tag:files tag:files-write");
        let w = client(&url, Some(&writer)).await.expect("handshake");
        let mut names: Vec<String> = w
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["read_file", "write_file"]);
    }
}

#[tokio::test]
async fn a_client_without_a_token_gets_a_401_that_names_the_metadata() {
    let url = serve(guard(100), false).await;
    let err = client(&url, None).await.expect_err("no token");
    assert!(err.contains("resource_metadata"), "{err}");
    assert!(
        err.contains("/.well-known/oauth-protected-resource/mcp"),
        "{err}"
    );
}

#[tokio::test]
async fn a_tool_the_token_does_not_grant_is_refused_with_403() {
    let url = serve(guard(100), false).await;
    let files = token("files-app", "tag:files");
    let c = client(&url, Some(&files)).await.expect("handshake");
    let err = c
        .call_tool(CallToolRequestParams::new("write_file"))
        .await
        .expect_err("write_file needs tag:files-write");
    let text = format!("{err:?}");
    assert!(
        text.contains("403") || text.contains("insufficient_scope"),
        "{text}"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let layer = GuardLayer::new(guard(2), HttpOptions::new(Some("filesystem")));
    let app = tower::service_fn(|_req: http::Request<_>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"{}"),
        )))
    });
    let service = tower::ServiceBuilder::new().layer(layer).service(app);
    let auth = format!("Bearer {}", token("busy", "tag:files"));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let request = http::Request::post("/mcp")
            .header("authorization", &auth)
            .body(http_body_util::Full::new(bytes::Bytes::from(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}})
                    .to_string(),
            )))
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        statuses.push(response.status().as_u16());
        retry_after = response.headers().get("retry-after").cloned();
    }
    assert_eq!(statuses, [200, 200, 429]);
    assert!(retry_after.is_some(), "429 carries Retry-After");
}

#[tokio::test]
async fn the_metadata_document_is_served_and_the_principal_reaches_the_service() {
    let layer = GuardLayer::new(guard(10), HttpOptions::new(Some("filesystem")));
    let app = tower::service_fn(|req: http::Request<_>| async move {
        let who = req
            .extensions()
            .get::<Arc<Principal>>()
            .and_then(|p| p.client_id.clone())
            .unwrap_or_default();
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from(who),
        )))
    });
    let service = tower::ServiceBuilder::new().layer(layer).service(app);
    let request = http::Request::get("/.well-known/oauth-protected-resource/mcp")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["resource"], RES);

    let request = http::Request::get("/mcp")
        .header(
            "authorization",
            format!("Bearer {}", token("app-7", "tag:files")),
        )
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"app-7");
}
