//! Accepting and serving connections, with hyper's own HTTP/1 server underneath axum:
//!
//! - `TCP_NODELAY` on every accepted socket, so a small reply or websocket frame is not
//!   held back by Nagle's algorithm waiting for the peer's delayed ACK;
//! - a header-read timeout (hyper's `header_read_timeout`): a connection that never
//!   finishes its request headers is closed;
//! - a cap on open connections, in total and per peer address: over it, the oldest
//!   connection that has not yet made an authenticated request is shed to make room,
//!   and the new one is refused only when every open one is authenticated;
//! - the replies hyper makes itself before any route runs (400 for a malformed request,
//!   414 for an over-long target, 431 for too many or too large headers) come with a
//!   JSON body and `Content-Type: application/json`, like every other reply.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tower_service::Service;

/// A connection that has not finished its request headers this long after it started
/// sending them (or after it was accepted) is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request head (request line and headers) larger than this gets 431. Above the
/// longest request target hyper takes (65,534 bytes, 414 beyond), so a long target gets
/// 414 rather than 431.
pub const MAX_HEADER_BYTES: usize = 128 * 1024;

/// Open connections at most, websockets included.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Open connections at most from one peer address.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 512;

/// File descriptors kept free for everything else (app-server pipes, transcripts,
/// handler processes) when the connection cap is derived from the open-file limit.
const FDS_KEPT_FREE: u64 = 256;

/// How the listener treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
        }
    }
}

impl Limits {
    /// The limits with the total cap lowered, if need be, to fit `open_files` (the
    /// process's open-file soft limit) with room to spare.
    pub fn fitted_to(mut self, open_files: u64) -> Limits {
        let room = usize::try_from(open_files.saturating_sub(FDS_KEPT_FREE)).unwrap_or(usize::MAX);
        self.max_connections = self.max_connections.min(room.max(16));
        self.max_connections_per_peer = self.max_connections_per_peer.min(self.max_connections);
        self
    }
}

/// Raises the open-file soft limit to the hard limit; returns the soft limit in force
/// afterwards (unchanged when raising fails).
pub fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return u64::MAX;
    };
    if soft >= hard {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!(target: "service", "raised the open-file limit from {soft} to {hard}");
            hard
        }
        Err(e) => {
            tracing::warn!(target: "service", "could not raise the open-file limit from {soft} to {hard}: {e}");
            soft
        }
    }
}

/// Per-connection facts the routes can read from a request's extensions.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    /// `TCP_NODELAY` as read back from the socket after accepting it.
    pub nodelay: bool,
    authenticated: Arc<AtomicBool>,
}

impl ConnectionInfo {
    /// Called by the auth guard when a request on this connection passed it: from then
    /// on the connection is not shed to make room for others.
    pub fn authenticated(&self) {
        self.authenticated.store(true, Ordering::Relaxed);
    }
}

struct Entry {
    peer: IpAddr,
    authenticated: Arc<AtomicBool>,
    shed: Option<oneshot::Sender<()>>,
}

/// The open connections, oldest first (ids only grow).
#[derive(Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
}

impl Registry {
    /// Makes room for a connection from `peer` within `limits`, shedding the oldest
    /// unauthenticated connection (from the same peer when that peer is over its cap).
    /// Returns false when there is no room and nothing to shed.
    fn make_room(&mut self, peer: IpAddr, limits: &Limits) -> bool {
        loop {
            let from_peer = self.open.values().filter(|e| e.peer == peer).count();
            let per_peer_full = from_peer >= limits.max_connections_per_peer;
            let total_full = self.open.len() >= limits.max_connections;
            if !per_peer_full && !total_full {
                return true;
            }
            let victim = self
                .open
                .iter()
                .find(|(_, e)| {
                    !e.authenticated.load(Ordering::Relaxed) && (!per_peer_full || e.peer == peer)
                })
                .map(|(id, _)| *id);
            let Some(id) = victim else {
                return false;
            };
            if let Some(mut entry) = self.open.remove(&id)
                && let Some(shed) = entry.shed.take()
            {
                let _ = shed.send(());
            }
            tracing::info!(target: "service", "shed the oldest unauthenticated connection (from {peer}) to make room");
        }
    }
}

/// Removes its connection from the registry when the socket is dropped (which, for a
/// websocket, is when the upgraded stream ends).
struct Registered {
    id: u64,
    registry: Arc<Mutex<Registry>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.open.remove(&self.id);
        }
    }
}

/// An accepted socket: counts as open while it lives, and turns hyper's bare error
/// replies into JSON ones.
pub struct ConnectionIo {
    inner: TcpStream,
    _registered: Registered,
    /// A JSON reply substituted for hyper's, and how much of it is written.
    substitute: Option<(Vec<u8>, usize)>,
}

impl ConnectionIo {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.substitute {
            if *written >= bytes.len() {
                self.substitute = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ConnectionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnectionIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some(substitute) = json_for_bare_reply(buf) {
            self.substitute = Some((substitute, 0));
            // Taken whole; it goes out (as its substitute) on the next write or flush.
            let _ = self.drain(cx);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }

    // Not vectored: hyper then writes each reply's head at the start of one buffer,
    // where `json_for_bare_reply` looks for it.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Recognises a reply hyper made itself for a request it could not parse (a 4xx status
/// line whose head has no `Content-Type` and an empty body: every reply of the routes
/// has a `Content-Type`) and returns the JSON reply to send instead.
pub fn json_for_bare_reply(buf: &[u8]) -> Option<Vec<u8>> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_end != buf.len() || !buf.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut empty_body = false;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-type:") || lower.starts_with("transfer-encoding:") {
            return None;
        }
        if let Some(length) = lower.strip_prefix("content-length:") {
            empty_body = length.trim() == "0";
        }
    }
    if !empty_body {
        return None;
    }
    let code: u16 = status_line.get(9..12)?.parse().ok()?;
    let (error, message) = match code {
        414 => (
            "uri_too_long",
            "the request target is too long (at most 65,534 bytes)",
        ),
        431 => (
            "request_header_fields_too_large",
            "the request headers are too large or too many (at most 100 headers and 128 KiB in all)",
        ),
        400 => (
            "bad_request",
            "the request could not be parsed as HTTP/1.1 (check the request line, the header syntax and Content-Length)",
        ),
        _ => ("request_failed", "the request could not be read"),
    };
    let body = serde_json::to_string(&super::error::error_body(error, message)).ok()?;
    Some(
        format!(
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests finish
/// (the caller bounds how long it waits).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    // Each connection holds a receiver; the sender closes when all have ended.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait a moment rather than spin.
                tracing::warn!(target: "service", "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(target: "service", "TCP_NODELAY on {peer}: {e}");
        }
        let authenticated = Arc::new(AtomicBool::new(false));
        let (shed_tx, shed_rx) = oneshot::channel::<()>();
        let id = {
            let Ok(mut open) = registry.lock() else {
                continue;
            };
            if !open.make_room(peer.ip(), &limits) {
                tracing::warn!(target: "service", "refused a connection from {peer}: {} connections are open and all are authenticated", open.open.len());
                continue;
            }
            let id = open.next_id;
            open.next_id += 1;
            open.open.insert(
                id,
                Entry {
                    peer: peer.ip(),
                    authenticated: authenticated.clone(),
                    shed: Some(shed_tx),
                },
            );
            id
        };
        let io = ConnectionIo {
            inner: socket,
            _registered: Registered {
                id,
                registry: registry.clone(),
            },
            substitute: None,
        };
        let info = ConnectionInfo {
            peer,
            nodelay: io.inner.nodelay().unwrap_or(false),
            authenticated,
        };
        tokio::spawn(serve_connection(
            io,
            app.clone(),
            info,
            limits,
            stop.clone(),
            shed_rx,
            open_rx.clone(),
        ));
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

async fn serve_connection(
    io: ConnectionIo,
    app: Router,
    info: ConnectionInfo,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    mut shed: oneshot::Receiver<()>,
    _open: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(info.clone());
        let mut app = app.clone();
        async move { Ok::<_, Infallible>(app.call(request).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(target: "service", "connection ended: {e}");
                }
                return;
            }
            _ = &mut shed => return,
            _ = stop.wait_for(|stopped| *stopped), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_have_tcp_nodelay_set() {
        use axum::Extension;
        use axum::routing::get;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            Router::new().route(
                "/nodelay",
                get(|Extension(info): Extension<ConnectionInfo>| async move {
                    info.nodelay.to_string()
                }),
            );
        let (stop_tx, stop) = watch::channel(false);
        let server = tokio::spawn(serve(listener, app, Limits::default(), stop));
        let body = reqwest::get(format!("http://{addr}/nodelay"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "true");
        stop_tx.send(true).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn hyper_bare_error_replies_become_json() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 20:00:00 GMT\r\n\r\n";
        let replaced = String::from_utf8(json_for_bare_reply(bare).unwrap_or_default()).unwrap();
        let (head, body) = replaced.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"], "error");
        assert_eq!(body["code"], "request_header_fields_too_large");
    }

    #[test]
    fn replies_of_the_routes_pass_untouched() {
        for reply in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400",
        ] {
            assert_eq!(json_for_bare_reply(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn the_oldest_unauthenticated_connection_is_shed_first() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_connections_per_peer: 2,
        };
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let mut registry = Registry::default();
        let mut shed = Vec::new();
        let mut add = |registry: &mut Registry, peer, authenticated: bool| {
            assert!(registry.make_room(peer, &limits));
            let (tx, rx) = oneshot::channel();
            let id = registry.next_id;
            registry.next_id += 1;
            registry.open.insert(
                id,
                Entry {
                    peer,
                    authenticated: Arc::new(AtomicBool::new(authenticated)),
                    shed: Some(tx),
                },
            );
            shed.push(rx);
            id
        };
        let authed = add(&mut registry, a, true);
        let first = add(&mut registry, a, false);
        // Peer a is at its cap: its oldest unauthenticated connection goes.
        let second = add(&mut registry, a, false);
        assert!(!registry.open.contains_key(&first));
        assert!(registry.open.contains_key(&authed) && registry.open.contains_key(&second));
        // The total is at its cap: the oldest unauthenticated of any peer goes.
        let other = add(&mut registry, b, false);
        let third = add(&mut registry, b, false);
        assert!(!registry.open.contains_key(&second));
        assert!(registry.open.contains_key(&other));
        // Peer b at its cap: its own oldest goes, not a's authenticated one.
        let fourth = add(&mut registry, b, false);
        assert!(!registry.open.contains_key(&other));
        assert!(registry.open.contains_key(&authed));
        // Only authenticated connections left: a newcomer is refused.
        for id in [third, fourth] {
            registry.open[&id]
                .authenticated
                .store(true, Ordering::Relaxed);
        }
        assert!(!registry.make_room(a, &limits));
    }
}
