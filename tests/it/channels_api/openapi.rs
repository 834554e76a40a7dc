//! The JSON API: its OpenAPI document lists only routes that exist.

use super::*;

#[tokio::test]
async fn every_operation_in_the_openapi_document_exists() {
    let app = TestApp::start().await;
    let (case_id, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let doc: serde_json::Value = app
        .client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, ops) in paths {
        let concrete = path
            .replace("{case_id}", &case_id)
            .replace("{channel_id}", &channel)
            .replace("{person_id}", "no-such-person")
            .replace("{seq}", "999");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = sam
                .client
                .request(m, app.url(&concrete))
                .header("x-csrf-token", &sam.csrf)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert_ne!(status, 405, "{method} {path} is routed");
            let text = res.text().await.unwrap();
            // A documented route answers JSON, never the HTML "page not found".
            assert!(
                !text.contains("<!DOCTYPE html>"),
                "{method} {path}: {status} {text}"
            );
        }
    }
}
