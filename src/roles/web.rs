//! The customer and operator web page: serves the built Angular app from a directory at `/`,
//! with the single-page-app fallback to `index.html`, or a page saying how to build it.

use crate::roles::api::problem::Problem;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use std::path::{Path, PathBuf};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Where `npx ng build` in `web/` writes the app, relative to the working directory.
pub const DEFAULT_WEB_DIR: &str = "web/dist/onboard/browser";

/// How to build the app, shown when it is missing.
pub const BUILD_HINT: &str = "cd web && npm ci && npx ng build";

/// A router whose fallback serves the app in `dir`: files as they are, and `index.html` for
/// browser navigations to any other path (the app routes them itself). API clients asking for
/// an unknown path still get a problem+json 404, not the page.
pub fn router(dir: PathBuf) -> Router {
    if !dir.join("index.html").is_file() {
        tracing::warn!(
            web_dir = %dir.display(),
            "The web page is not built; `/` explains how to build it ({BUILD_HINT})."
        );
    }
    Router::new().fallback(move |request: Request| serve(dir.clone(), request))
}

/// Whether the built app is present in `dir`.
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

async fn serve(dir: PathBuf, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Problem::not_found("no such endpoint").into_response();
    }
    let wants_page = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let index = dir.join("index.html");
    if !index.is_file() {
        return if wants_page {
            not_built_page(&dir).into_response()
        } else {
            Problem::not_found("no such endpoint").into_response()
        };
    }
    // `/` and app routes (no file of that name) get index.html; ServeDir refuses `..` itself.
    let is_root = request.uri().path() == "/";
    if !is_root {
        match ServeDir::new(&dir).oneshot(request).await {
            Ok(response) if response.status().is_success() => return response.into_response(),
            Ok(response) if response.status().is_redirection() => return response.into_response(),
            _ => {}
        }
        if !wants_page {
            return Problem::not_found("no such endpoint").into_response();
        }
    }
    match tokio::fs::read(&index).await {
        Ok(body) => {
            let mut response = Html(body).into_response();
            // The page names hashed bundles: always revalidate it so a rebuild shows at once.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the web page's index.html");
            not_built_page(&dir).into_response()
        }
    }
}

fn not_built_page(dir: &Path) -> Html<String> {
    let dir = html_escape(&dir.display().to_string());
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Onboard</title></head><body style=\"font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem\">\
         <h1>Onboard is running</h1>\
         <p>The web page is not built yet (nothing in <code>{dir}</code>). Build it with</p>\
         <pre>{BUILD_HINT}</pre>\
         <p>or start Onboard with <code>scripts/up.sh</code>, which builds it first. \
         The API is at <a href=\"/openapi.json\">/openapi.json</a>.</p></body></html>"
    ))
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    async fn get(router: Router, path: &str, accept: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(path)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .expect("a valid request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_missing_build_answers_a_page_saying_how_to_build_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let router = router(dir.path().join("absent"));
        let (status, body) = get(router.clone(), "/", "text/html").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(BUILD_HINT), "{body}");
        let (status, _) = get(router, "/v1/nothing", "application/json").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn files_are_served_and_app_routes_fall_back_to_index_html() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("index.html"), "<p>app</p>").expect("write");
        std::fs::write(dir.path().join("main.js"), "console.log(1)").expect("write");
        let router = router(dir.path().to_path_buf());
        assert_eq!(
            get(router.clone(), "/", "text/html").await,
            (StatusCode::OK, "<p>app</p>".into())
        );
        assert_eq!(
            get(router.clone(), "/main.js", "*/*").await,
            (StatusCode::OK, "console.log(1)".into())
        );
        assert_eq!(
            get(router.clone(), "/operator", "text/html").await,
            (StatusCode::OK, "<p>app</p>".into())
        );
        let (status, body) = get(router, "/v1/unknown", "application/json").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not-found"), "{body}");
    }
}
