//! The cross-surface corpus (conformance/http_edge.json) through
//! `GuardLayer`: every request answered exactly as the core's reference
//! runner answers it, so a Rust host on tower and hosts in every other
//! language see the same status, headers and body.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcpguard::ManualClock;
use mcpguard::guard::{Guard, HttpOptions};
use mcpguard_testkit::http_vectors::{self, App, Input};
use mcpguard_testkit::vectors;
use mcpguard_tower::GuardLayer;
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[tokio::test]
async fn every_http_vector_answers_alike_through_the_tower_layer() {
    let path = vectors::dir().join("http_edge.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let clock = ManualClock::from_secs_f64(doc["clock"].as_f64().unwrap()).unwrap();
    let guard = Guard::from_json_with_clock(&doc["config"].to_string(), clock.clone()).unwrap();
    let options = HttpOptions::from_json(&doc["options"]).unwrap();
    let mut failures = Vec::new();
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        if let Some(s) = case.get("advance").and_then(Value::as_f64) {
            clock.advance_secs_f64(s).unwrap();
        }
        let input = Input::from_case(case).unwrap();
        let server = input.server.clone();
        let layer = GuardLayer::new(guard.clone(), options.clone()).server(move |_| server.clone());
        let app = input.app.clone();
        let service = tower::ServiceBuilder::new()
            .layer(layer)
            .service(tower::service_fn(move |_req: http::Request<_>| {
                let app: App = app.clone();
                async move {
                    let mut response = http::Response::builder()
                        .status(app.status)
                        .header("content-type", app.content_type.as_str())
                        .header("content-length", app.body.len());
                    for (name, value) in &app.headers {
                        response = response.header(name.as_str(), value.as_str());
                    }
                    let response = response.body(Full::new(Bytes::from(app.body))).unwrap();
                    Ok::<_, Infallible>(response)
                }
            }));
        let mut request =
            http::Request::builder()
                .method(input.method.as_str())
                .uri(if input.query.is_empty() {
                    input.path.clone()
                } else {
                    format!("{}?{}", input.path, input.query)
                });
        for (name, value) in &input.headers {
            request = request.header(name.as_slice(), value.as_slice());
        }
        let request = request
            .body(Full::new(Bytes::from(
                input.body.clone().unwrap_or_default(),
            )))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers: Vec<Value> = response
            .headers()
            .iter()
            .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let actual =
            json!({"status": status, "headers": headers, "body": String::from_utf8_lossy(&body)});
        if let Err(why) = http_vectors::compare(&case["expect"], &actual) {
            failures.push(format!("{}: {why}", case["name"]));
        }
    }
    eprintln!("http_edge.json (tower): {} cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
