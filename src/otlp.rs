//! OpenTelemetry trace export: with `telemetry.otlp_endpoint` set, every span the process
//! records (a request with its correlation id, a consumed event, a notification, a push) is
//! also sent to that collector over OTLP/HTTP (protobuf), in batches from the SDK's own thread,
//! and what is still buffered is flushed on a graceful stop. Without an endpoint nothing is
//! added to the subscriber: no cost and no surprise.
//!
//! The HTTP requests go through Onboard's own `reqwest` client on the process's Tokio runtime,
//! so neither a gRPC stack nor a second HTTP client is compiled in.

use crate::config::TelemetrySection;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take before it is given up (the batch is then dropped, as the SDK
/// does; tracing never holds the application up).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The collector URL spans are posted to: the base endpoint with `/v1/traces` (the OTLP
/// convention for `OTEL_EXPORTER_OTLP_ENDPOINT`); http or https only.
pub fn traces_url(endpoint: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|error| format!("'{endpoint}' is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "'{endpoint}' must be an http:// or https:// URL with a host"
        ));
    }
    Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
}

/// The running export, to be flushed when the process stops.
pub struct OtlpExport {
    provider: SdkTracerProvider,
}

impl OtlpExport {
    /// Sends what is still buffered (waiting at most [`FLUSH_TIMEOUT`]) and stops the export.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The SDK blocks while the exporter's requests run on this runtime.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        if let Ok(Err(error)) = flushed {
            eprintln!("onboard: the last spans could not be exported: {error}");
        }
    }
}

/// The `tracing` layer exporting spans, when `section` names an endpoint; must be called
/// inside the Tokio runtime the process runs on. An endpoint that is not a URL adds nothing
/// (the configuration's validation reports it).
pub fn layer<S>(
    section: &TelemetrySection,
) -> Option<(OpenTelemetryLayer<S, SdkTracer>, OtlpExport)>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let url = traces_url(section.otlp_endpoint.as_deref()?).ok()?;
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let client = TokioHttpClient {
        client: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .ok()?,
        runtime,
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("onboard: spans will not be exported: {error}");
            return None;
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(section.service_name.clone())
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("onboard"));
    Some((layer, OtlpExport { provider }))
}

/// The exporter's HTTP client: the SDK calls it from its own thread, and the request runs on
/// the process's runtime.
#[derive(Debug)]
struct TokioHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for TokioHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
        let client = self.client.clone();
        self.runtime
            .spawn(async move {
                let answer = client.execute(request).await?;
                let mut response = Response::builder().status(answer.status().as_u16());
                for (name, value) in answer.headers() {
                    response = response.header(name.as_str(), value.as_bytes());
                }
                let body = answer.bytes().await?;
                Ok::<_, HttpError>(response.body(body)?)
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_an_http_or_https_base_url() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://collector.example/otlp/").unwrap(),
            "https://collector.example/otlp/v1/traces"
        );
        for bad in ["collector:4318", "grpc://collector:4317", "http://", ""] {
            assert!(traces_url(bad).is_err(), "{bad} was accepted");
        }
    }
}
