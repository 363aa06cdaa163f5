//! Limits that keep the API serving under abuse: open connections, idle connections,
//! requests in flight and how long one may take, event streams.
//!
//! - At most `connections_max` connections are open; more wait in the kernel's backlog until
//!   one closes.
//! - A connection on which no byte moves either way for `idle_timeout_ms` is closed (a client
//!   that opens connections and sends nothing, or sends a request byte by byte, or stops
//!   reading its answer, holds a slot for that long at most). Event streams send a keep-alive
//!   every 15 s, more often than the default.
//! - At most [`REQUESTS_IN_FLIGHT_MAX`] requests are handled at once; more are answered 503
//!   `unavailable` at once. A request not answered within [`REQUEST_TIMEOUT`] is answered
//!   503. Event streams (`/v1/events`) are long-lived and limited by [`EVENT_STREAMS_MAX`]
//!   instead.

use super::error::ApiError;
use axum::{extract::Request, middleware::Next, response::Response};
use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

/// The API's connection limits (the `[api]` section of `config.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Connections open at once.
    pub connections_max: usize,
    /// How long a connection may move no byte in either direction (ms).
    pub idle_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { connections_max: 1024, idle_timeout_ms: 30_000 }
    }
}

/// Requests handled at once.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 256;
/// How long a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Event streams open at once.
pub const EVENT_STREAMS_MAX: usize = 256;

/// A listener that holds at most `connections_max` connections open.
pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl LimitedListener {
    /// Limits `listener` as `config` says.
    pub fn new(listener: TcpListener, config: ApiConfig) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(config.connections_max.max(1))),
            idle: Duration::from_millis(config.idle_timeout_ms.max(1)),
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = Limited;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = self.slots.clone().acquire_owned().await.expect("the semaphore stays open");
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (Limited::new(stream, permit, self.idle), addr);
                }
                // Out of file descriptors or a connection reset before accept: wait a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection that frees its slot when dropped and fails once idle too long.
pub struct Limited {
    stream: TcpStream,
    idle: Pin<Box<Sleep>>,
    timeout: Duration,
    _slot: OwnedSemaphorePermit,
}

impl Limited {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Self { stream, idle: Box::pin(tokio::time::sleep(timeout)), timeout, _slot: slot }
    }

    /// Pushes the idle deadline back after progress.
    fn progressed(&mut self) {
        let deadline = Instant::now() + self.timeout;
        self.idle.as_mut().reset(deadline);
    }

    /// While nothing moves: an error once the idle deadline passed.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "idle")),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if result.as_ref().is_ok_and(|n| *n > 0) {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.stream).poll_flush(cx) {
            Poll::Pending => self.check_idle(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Request admission: a slot among [`REQUESTS_IN_FLIGHT_MAX`] and [`REQUEST_TIMEOUT`] (event
/// streams excepted: they are counted by their own route).
#[derive(Clone)]
pub struct RequestLimits {
    in_flight: Arc<Semaphore>,
    /// Open event streams.
    pub event_streams: Arc<Semaphore>,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(REQUESTS_IN_FLIGHT_MAX)),
            event_streams: Arc::new(Semaphore::new(EVENT_STREAMS_MAX)),
        }
    }
}

/// The middleware applying [`RequestLimits`].
pub async fn limit(
    axum::extract::State(limits): axum::extract::State<RequestLimits>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.uri().path() == "/v1/events" {
        return Ok(next.run(request).await);
    }
    let Ok(_slot) = limits.in_flight.clone().try_acquire_owned() else {
        return Err(ApiError::unavailable("too many requests in flight; try again"));
    };
    tokio::time::timeout(REQUEST_TIMEOUT, next.run(request))
        .await
        .map_err(|_| ApiError::unavailable("the request took too long"))
}
