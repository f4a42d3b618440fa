//! The HTTP listener, with the limits a public endpoint needs that `axum::serve` does not set:
//! a client must send a request's headers within `server.header_timeout_secs` (else the
//! connection is closed: slow-header attacks), and [`read_body`] bounds a body's size and the time
//! it may take to arrive (`server.max_body_bytes`, `server.body_timeout_secs`).

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// How long in-flight requests may take to finish once shutdown is asked.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` resolves, then lets requests in flight finish (up to [`DRAIN`]).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Handlers that care (operator endpoints) read the peer's address from the request.
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                })
                .service(app.clone()),
        );
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Header timeouts, resets, malformed requests: the client is gone.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRefused {
    /// Over the limit, or the client went away mid-body.
    TooLargeOrUnreadable,
    /// Not all there within the body timeout.
    TimedOut,
}

impl BodyRefused {
    pub(crate) fn reason_code(self) -> &'static str {
        match self {
            BodyRefused::TooLargeOrUnreadable => "body_too_large",
            BodyRefused::TimedOut => "body_timeout",
        }
    }

    pub(crate) fn status(self) -> axum::http::StatusCode {
        match self {
            BodyRefused::TooLargeOrUnreadable => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefused::TimedOut => axum::http::StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub(crate) fn message(self, limit: usize) -> String {
        match self {
            BodyRefused::TooLargeOrUnreadable => format!("body over {limit} bytes or unreadable"),
            BodyRefused::TimedOut => "body not received in time".to_owned(),
        }
    }
}

/// The whole body, at most `limit` bytes, within `timeout`.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyRefused> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyRefused::TooLargeOrUnreadable),
        Err(_) => Err(BodyRefused::TimedOut),
    }
}
