//! The loopback server of a simulator: a free port on 127.0.0.1, axum serving the simulator's
//! router on it until the [`Server`] is dropped, and a [`Connection`] switch that a request can
//! pull to close its connection without an answer (as a proxy or a crash does).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A bound loopback port, not serving yet: its address is known before the simulator's state is
/// built (GitLab renders its own URL into its answers).
pub struct Loopback {
    listener: TcpListener,
    address: SocketAddr,
}

impl Loopback {
    /// Binds a free loopback port for the simulator of `service` (named in the panic message).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn bind(service: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("bind a loopback port for the {service} simulator: {error}"));
        let address =
            listener.local_addr().unwrap_or_else(|error| panic!("the {service} simulator's address: {error}"));
        Loopback { listener, address }
    }

    /// The address bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `router` on the port, each request with its [`Connection`] as connect info
    /// (`ConnectInfo<Connection>`), until the returned server is dropped.
    pub fn serve(self, router: Router) -> Server {
        let service = router.into_make_service_with_connect_info::<Connection>();
        let listener = CuttableListener(self.listener);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, service).await;
        });
        Server { address: self.address, task }
    }
}

/// A running loopback server; it stops when dropped.
pub struct Server {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The switch of one connection, given to its requests as connect info.
#[derive(Debug, Clone, Default)]
pub struct Connection(Arc<AtomicBool>);

impl Connection {
    /// Closes the connection instead of writing the answer: whatever the handler returns, not a
    /// byte of it is sent.
    pub fn cut(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a request pulled the switch (an in-process call then gets no answer).
    pub fn is_cut(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A listener whose connections carry a switch to cut them.
struct CuttableListener(TcpListener);

/// A TCP stream that fails every write once its connection is cut, so the server closes it
/// without sending a byte of the answer.
struct CuttableStream {
    inner: TcpStream,
    cut: Arc<AtomicBool>,
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (CuttableStream, Connection) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection::default();
                    return (CuttableStream { inner: stream, cut: connection.0.clone() }, connection);
                }
                // Too many open files and the like: wait, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Connection> {
        Ok(Connection::default())
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
