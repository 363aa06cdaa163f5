//! Limits that keep the API serving under abuse: open connections, idle connections,
//! requests in flight and how long one may take, event streams.
//!
//! - At most [`CONNECTIONS_MAX`] connections are open; more wait in the kernel's backlog
//!   until one closes.
//! - A connection on which no byte moves either way for [`IDLE_TIMEOUT`] is closed (a client
//!   that opens connections and sends nothing, or sends a request byte by byte, or stops
//!   reading its answer, holds a slot for that long at most). Event streams send a keep-alive
//!   more often than that.
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

/// Connections open at once.
pub const CONNECTIONS_MAX: usize = 1024;
/// How long a connection may move no byte in either direction.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests handled at once.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 256;
/// How long a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Event streams open at once.
pub const EVENT_STREAMS_MAX: usize = 256;

/// A listener that holds at most [`CONNECTIONS_MAX`] connections open.
pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    /// Limits `listener`.
    pub fn new(listener: TcpListener) -> Self {
        Self { listener, slots: Arc::new(Semaphore::new(CONNECTIONS_MAX)) }
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
                    return (Limited::new(stream, permit), addr);
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
    _slot: OwnedSemaphorePermit,
}

impl Limited {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit) -> Self {
        Self { stream, idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)), _slot: slot }
    }

    /// Pushes the idle deadline back after progress.
    fn progressed(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
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
