//! The webhook endpoint's connections: the accept loop and its cap on open connections, each
//! connection served by hyper (HTTP/1.1) with a time-out on request headers (which also closes a
//! kept-alive connection left idle), over TLS when configured, and the drain on stop: no new
//! connection, idle ones closed at once, requests in progress answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::worker::Stop;

/// The most bytes of request line and headers a client may send (hyper's read buffer, which
/// bounds the memory a connection holds before its handler runs). GitLab's are under 2 kB.
const MAX_HEAD_BYTES: usize = 128 * 1024;
/// The pause after `accept` failed (out of file descriptors, most often), so that a failing
/// accept does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// The least time between two log lines about refused connections or failing accepts.
const WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// How connections are taken and served.
pub(crate) struct Listening {
    /// The most connections open at once.
    pub max_connections: usize,
    /// How long a client has to send a request's headers (and how long an idle connection lives).
    pub header_read_timeout: Duration,
    /// TLS, when the endpoint serves HTTPS.
    pub tls: Option<TlsAcceptor>,
}

/// A warning written at most once per [`WARNING_INTERVAL`], with the count of its occurrences.
struct Throttled {
    last: Option<Instant>,
    count: u64,
}

impl Throttled {
    fn new() -> Self {
        Throttled { last: None, count: 0 }
    }

    /// Counts one occurrence; `Some(count since the last line)` when a line is due.
    fn occurred(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < WARNING_INTERVAL) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// Accepts and serves connections until `stop`, then drains them. Returns when the last
/// connection is closed (the caller bounds how long it waits).
pub(crate) async fn serve(listener: TcpListener, app: Router, listening: Listening, stop: Stop) -> std::io::Result<()> {
    let Listening { max_connections, header_read_timeout, tls } = listening;
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // A client that shut its side down after the request still gets the answer (a `400` for
        // a body shorter than announced).
        .half_close(true);
    let mut connections = JoinSet::new();
    let (mut refused, mut failed_accepts) = (Throttled::new(), Throttled::new());
    let stopping = stop.clone().wait();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            () = &mut stopping => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        if let Some(count) = failed_accepts.occurred() {
                            tracing::warn!(error = %error, count, "cannot accept connections; trying again");
                        }
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                // Closed at once beyond the cap: a flood of idle connections must not take the
                // file descriptors that real deliveries need.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    drop(stream);
                    if let Some(count) = refused.occurred() {
                        tracing::warn!(
                            max_connections,
                            refused = count,
                            "too many open connections: new ones are closed at once (--max-connections)"
                        );
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let served = Served { http: http.clone(), app: app.clone(), stop: stop.clone(), _slot: slot };
                connections.spawn(served.run(stream, tls.clone(), header_read_timeout));
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection and what serving it takes; its slot is given back when it ends.
struct Served {
    http: http1::Builder,
    app: Router,
    stop: Stop,
    _slot: OwnedSemaphorePermit,
}

impl Served {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, handshake_timeout: Duration) {
        let Some(acceptor) = tls else {
            return self.http(TokioIo::new(stream)).await;
        };
        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.http(TokioIo::new(stream)).await,
            // Plain HTTP sent to the TLS port ends here too: the connection is closed.
            Ok(Err(error)) => tracing::debug!(error = %error, "TLS handshake failed; connection closed"),
            Err(_) => tracing::debug!("no TLS handshake within the header time-out; connection closed"),
        }
    }

    async fn http<I>(self, io: I)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let connection = self.http.serve_connection(io, TowerToHyperService::new(self.app));
        tokio::pin!(connection);
        let stopping = self.stop.wait();
        tokio::pin!(stopping);
        let mut draining = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(error) = ended {
                        // Header time-outs, clients that went away, malformed requests: routine.
                        tracing::debug!(error = %error, "connection ended");
                    }
                    return;
                }
                () = &mut stopping, if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_written_once_per_interval_with_the_count_since_the_last() {
        let mut warning = Throttled::new();
        assert_eq!(warning.occurred(), Some(1), "the first is written");
        assert_eq!(warning.occurred(), None);
        assert_eq!(warning.occurred(), None);
        warning.last = warning.last.map(|last| last - WARNING_INTERVAL);
        assert_eq!(warning.occurred(), Some(3), "the next line counts the ones not written");
    }
}
