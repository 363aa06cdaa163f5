//! Request metrics: requests by route template and status, and their durations.
//!
//! Labels are the matched route's template (`/v1/devices/{id}`), never the raw path, so the
//! number of series stays bounded whatever clients send.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use commonware_runtime::{
    Metrics,
    telemetry::metrics::{CounterFamily, Histogram, MetricsExt},
};
use std::time::Instant;

/// Buckets (seconds) of the request-duration histogram.
const BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// The API's metrics.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: CounterFamily<Vec<(String, String)>>,
    seconds: Histogram,
}

impl ApiMetrics {
    /// Registers the metrics on `context`.
    pub fn new(context: &impl Metrics) -> Self {
        Self {
            requests: context.family("requests", "requests answered, by route and status"),
            seconds: context.histogram(
                "request_seconds",
                "time from a request's arrival to its response's head",
                BUCKETS,
            ),
        }
    }
}

/// Counts each request by its route template and the response's status.
pub async fn track(State(metrics): State<ApiMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics.requests.get_or_create(&vec![("route".into(), route), ("status".into(), status)]).inc();
    metrics.seconds.observe(started.elapsed().as_secs_f64());
    response
}
