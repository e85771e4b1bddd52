//! Accepting and serving HTTP/1.1 connections, bounded so that no client can
//! hold the service's sockets: a connection must send its request's headers
//! within [`HEADER_READ_TIMEOUT`] (an idle keep-alive connection too, as
//! hyper times the wait for the next request's headers the same way), at
//! most [`MAX_CONNECTIONS`] are open at once (past that, new ones wait in the
//! listener's backlog), and at most [`MAX_CONNECTIONS_PER_ADDRESS`] of them
//! from one address (past that, a new one is closed at once), so that one
//! client cannot take every slot. On shutdown it stops accepting, lets
//! in-flight requests finish within the grace period, then returns.
//!
//! `axum::serve` has neither a header timeout nor a connection cap, so this
//! drives hyper directly. HTTP/1 only: hyper-util's automatic HTTP/2
//! detection reads the first bytes of a connection without any timeout.
//! Connections may be upgraded (the subscriptions' WebSocket); hyper-util's
//! `GracefulShutdown` cannot watch an upgradeable connection, so shutdown
//! is signalled to each connection by a watch channel instead. An upgraded
//! socket leaves the server's count when it is handed over.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most connections open at once; each holds a file descriptor.
pub const MAX_CONNECTIONS: usize = 1024;

/// Most connections open at once from one address (an IPv6 client's /64).
/// Behind a reverse proxy every connection has the proxy's address.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// Largest read buffer of a connection, which bounds a request's head
/// (hyper's default is about 400 KB, for each of [`MAX_CONNECTIONS`]).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How a server treats its connections.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_CONNECTIONS_PER_ADDRESS`].
    pub max_connections_per_address: usize,
    /// How long in-flight requests may take to finish after shutdown begins
    /// (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: Duration,
}

impl ServeOptions {
    /// The service's limits, with `shutdown_grace` from the settings.
    pub fn new(shutdown_grace: Duration) -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_address: MAX_CONNECTIONS_PER_ADDRESS,
            shutdown_grace,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains
/// (see the module's documentation). Each request carries the peer's
/// address as axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let open = Arc::new(Mutex::new(HashMap::new()));
    // `closing` tells connections to finish; each holds a `done` sender,
    // so `finished` ends once every connection has.
    let (closing, closing_seen) = watch::channel(false);
    let (done, mut finished) = mpsc::channel::<()>(1);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most often: wait for some to
                    // be released rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = Slot::take(&open, peer.ip(), options.max_connections_per_address) else {
            tracing::debug!(%peer, "too many connections from one address; closed");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut closing = closing_seen.clone();
        let done = done.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = async { drop(closing.wait_for(|closing| *closing).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
            drop((slot, permit, done));
        });
    }
    drop(listener);
    let _ = closing.send(true);
    drop(done);
    tokio::select! {
        _ = finished.recv() => tracing::info!("in-flight requests finished"),
        () = tokio::time::sleep(options.shutdown_grace) => tracing::warn!(
            grace_s = options.shutdown_grace.as_secs(),
            "shutdown grace elapsed with requests still in flight; stopping anyway"
        ),
    }
    Ok(())
}

/// The connections open per network.
type OpenConnections = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection counted against its network, until dropped.
struct Slot {
    open: OpenConnections,
    network: IpAddr,
}

impl Slot {
    /// A slot for a connection from `address`, unless its network already
    /// has `max` open.
    fn take(open: &OpenConnections, address: IpAddr, max: usize) -> Option<Self> {
        let network = network(address);
        let mut counts = open.lock().ok()?;
        let count = counts.entry(network).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self {
            open: Arc::clone(open),
            network,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.open.lock()
            && let Some(count) = counts.get_mut(&self.network)
        {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.network);
            }
        }
    }
}

/// The network an address stands for: an IPv4 address itself (also written
/// as IPv6), an IPv6 address its /64, which one host usually holds whole.
pub fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

/// The peer of a request served by [`serve`], if known.
pub fn peer(request: &axum::extract::Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}
