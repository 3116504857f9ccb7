//! A TCP proxy on a loopback port, between a client and a local server, that a test can switch
//! "down": while down, every connection is answered `503 Service Unavailable` and closed, and the
//! connections already open are cut, as when a service has an outage. Switched up again, it
//! forwards bytes untouched.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    down: watch::Sender<bool>,
    task: JoinHandle<()>,
}

const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

impl FaultProxy {
    /// Starts a proxy to `target` (`127.0.0.1:port`) on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port for the fault proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let (down, watcher) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, target, watcher.clone()));
            }
        });
        FaultProxy { address, down, task }
    }

    /// The URL clients should use instead of the target's.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Switches the outage on (`true`) or off.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut down: watch::Receiver<bool>) {
    if *down.borrow_and_update() {
        let _ = client.write_all(UNAVAILABLE).await;
        let _ = client.shutdown().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        // The outage starts: cut this connection too.
        _ = down.wait_for(|d| *d) => {}
    }
}

/// The socket address of an `http://host:port` URL.
///
/// # Panics
/// When the URL has no host and port.
pub fn socket_of(url: &str) -> SocketAddr {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let authority = authority.replace("localhost", "127.0.0.1");
    authority.parse().unwrap_or_else(|e| panic!("{url} is not http://host:port: {e}"))
}
