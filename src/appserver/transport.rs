//! Byte-level transports to app-server: a child process over stdio (one JSON message per
//! line), a websocket (one message per text frame), or an in-memory pair for tests and
//! the synthetic peer. Each is hidden behind the same two channels, so nothing above this
//! module knows which one it talks to.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use super::AppServerError;

/// Bound on queued outgoing lines; a full queue makes senders wait, which is the
/// back-pressure we want when app-server reads slowly.
const OUTGOING_CAPACITY: usize = 1024;
/// Bound on inbound lines not yet handled by the connection reader.
const INCOMING_CAPACITY: usize = 1024;

/// How to reach app-server.
#[derive(Debug, Clone)]
pub enum TransportSpec {
    /// Spawn `program args...` (normally `codex app-server ...`) and talk over stdio.
    Stdio {
        program: PathBuf,
        args: Vec<String>,
        /// Extra environment on top of the inherited one (e.g. `CODEX_HOME`).
        env: Vec<(String, String)>,
    },
    /// Attach to `codex app-server --listen ws://...`.
    WebSocket { url: String, bearer: Option<String> },
}

impl TransportSpec {
    pub fn describe(&self) -> String {
        match self {
            TransportSpec::Stdio { program, .. } => format!("stdio ({})", program.display()),
            TransportSpec::WebSocket { url, .. } => format!("websocket ({url})"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TransportSpec::Stdio { .. } => "stdio",
            TransportSpec::WebSocket { .. } => "websocket",
        }
    }
}

/// One line to send, with an optional acknowledgement once it is written and flushed.
#[derive(Debug)]
pub struct Outgoing {
    pub line: String,
    pub written: Option<oneshot::Sender<Result<(), String>>>,
}

/// What the transport hands up.
#[derive(Debug)]
pub enum Incoming {
    Line(String),
    /// The peer is gone; no more lines will come. Sent exactly once, last.
    Closed {
        reason: String,
    },
}

/// Channels of an open transport. Dropping it closes the transport; dropping the stdio
/// variant also kills the child (`kill_on_drop`).
pub struct RawConnection {
    pub outgoing: mpsc::Sender<Outgoing>,
    pub incoming: mpsc::Receiver<Incoming>,
    /// The child's process id, for fault injection and diagnostics.
    pub child_pid: Option<u32>,
    /// Fires when the child should be killed now (bridge shutdown or restart).
    pub kill: Option<oneshot::Sender<()>>,
}

/// Opens a fresh transport each time it is called. The bridge calls it once at start and
/// again for every reconnect, so a spawned app-server is started anew and a websocket is
/// dialled again.
pub type Connector = std::sync::Arc<
    dyn Fn() -> futures_util::future::BoxFuture<'static, Result<RawConnection, AppServerError>>
        + Send
        + Sync,
>;

/// The connector for a transport spec: spawns or dials what the spec describes.
pub fn connector(spec: &TransportSpec) -> Connector {
    let spec = spec.clone();
    std::sync::Arc::new(move || {
        let spec = spec.clone();
        Box::pin(async move { connect(&spec).await })
    })
}

pub async fn connect(spec: &TransportSpec) -> Result<RawConnection, AppServerError> {
    match spec {
        TransportSpec::Stdio { program, args, env } => spawn_stdio(program, args, env),
        TransportSpec::WebSocket { url, bearer } => connect_websocket(url, bearer.as_deref()).await,
    }
}

fn spawn_stdio(
    program: &PathBuf,
    args: &[String],
    env: &[(String, String)],
) -> Result<RawConnection, AppServerError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| AppServerError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    let child_pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(AppServerError::Closed {
            reason: "app-server started without stdio pipes".to_string(),
        });
    };

    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(OUTGOING_CAPACITY);
    let (in_tx, in_rx) = mpsc::channel::<Incoming>(INCOMING_CAPACITY);
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exit_tx, exit_rx) = oneshot::channel::<String>();

    tokio::spawn(async move {
        let mut writer = BufWriter::new(stdin);
        while let Some(first) = out_rx.recv().await {
            // Batch whatever is already queued into one flush: cheap under load, and a
            // lone message still goes out at once.
            let mut batch = vec![first];
            while batch.len() < 256 {
                match out_rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut result = Ok(());
            for item in &batch {
                if let Err(e) = write_line(&mut writer, &item.line).await {
                    result = Err(e.to_string());
                    break;
                }
            }
            if result.is_ok() {
                result = writer.flush().await.map_err(|e| e.to_string());
            }
            let failed = result.is_err();
            if !failed && super::timeline::on() {
                for item in &batch {
                    if item.written.is_some() {
                        super::timeline::mark("appserver.answer.written");
                    } else if item.line.contains(r#""method":"turn/start""#) {
                        super::timeline::mark("appserver.turn_start.written");
                    }
                }
            }
            for item in batch {
                if let Some(ack) = item.written {
                    let _ = ack.send(result.clone());
                }
            }
            if failed {
                break;
            }
        }
    });

    // app-server explains why it stopped on stderr (e.g. a config key it no longer
    // accepts); the last lines go into the reason a lost connection is reported with.
    let tail = StderrTail::default();
    let (stderr_done_tx, stderr_done_rx) = oneshot::channel::<()>();
    tokio::spawn({
        let tail = tail.clone();
        async move {
            // Bytes, not `lines()`: one byte that is not UTF-8 must not stop the reading,
            // or the pipe fills and app-server blocks on its next log line.
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::with_capacity(1024);
            while let Ok(n) = reader.read_until(b'\n', &mut buf).await {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end();
                tracing::info!(target: "appserver::stderr", "{line}");
                tail.push(line);
                buf.clear();
            }
            let _ = stderr_done_tx.send(());
        }
    });

    tokio::spawn(watch_child(child, kill_rx, exit_tx));

    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut buf = Vec::with_capacity(4096);
        let reason = loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) => break None,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let line = text.trim_end_matches(['\n', '\r']);
                    if line.is_empty() {
                        continue;
                    }
                    if in_tx.send(Incoming::Line(line.to_string())).await.is_err() {
                        return;
                    }
                }
                Err(e) => break Some(format!("reading app-server stdout failed: {e}")),
            }
        };
        // The exit status usually lands right after EOF; wait briefly so the reason
        // can say how app-server ended.
        let exit = tokio::time::timeout(Duration::from_secs(2), exit_rx)
            .await
            .ok()
            .and_then(Result::ok);
        let reason = match (reason, exit) {
            (Some(read_error), _) => read_error,
            (None, Some(status)) => format!("app-server exited ({status})"),
            (None, None) => "app-server closed its stdout".to_string(),
        };
        // Its last stderr lines are read by now, or very soon after it exited.
        let _ = tokio::time::timeout(Duration::from_millis(500), stderr_done_rx).await;
        let reason = tail.explain(reason);
        let _ = in_tx.send(Incoming::Closed { reason }).await;
    });

    Ok(RawConnection {
        outgoing: out_tx,
        incoming: in_rx,
        child_pid,
        kill: Some(kill_tx),
    })
}

/// The last lines app-server wrote to stderr, kept to explain why it stopped.
#[derive(Clone, Default)]
struct StderrTail(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>);

impl StderrTail {
    /// Lines kept, and characters kept of each: enough for an error and its cause.
    const LINES: usize = 6;
    const LINE_CHARS: usize = 300;

    fn push(&self, line: &str) {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::LINE_CHARS)
            .collect();
        if line.trim().is_empty() {
            return;
        }
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == Self::LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// `reason`, followed by what app-server last said on stderr, if anything.
    fn explain(&self, reason: String) -> String {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.is_empty() {
            return reason;
        }
        let said: Vec<&str> = lines.iter().map(String::as_str).collect();
        format!("{reason}; its stderr ended with: {}", said.join(" | "))
    }
}

async fn write_line<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    line: &str,
) -> std::io::Result<()> {
    writer.write_all(line.as_bytes()).await?;
    writer.write_all(b"\n").await
}

/// Owns the child: reports how it exited, and kills it on request or when dropped.
async fn watch_child(mut child: Child, kill: oneshot::Receiver<()>, exit: oneshot::Sender<String>) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let text = match status {
        Ok(status) => describe_exit(status),
        Err(e) => format!("wait failed: {e}"),
    };
    tracing::warn!(target: "appserver", "app-server process ended: {text}");
    let _ = exit.send(text);
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

async fn connect_websocket(
    url: &str,
    bearer: Option<&str>,
) -> Result<RawConnection, AppServerError> {
    let connect_error = |message: String| AppServerError::Connect {
        url: url.to_string(),
        message,
    };
    let mut request = url
        .into_client_request()
        .map_err(|e| connect_error(e.to_string()))?;
    if let Some(token) = bearer {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| connect_error("the bearer token is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    // TCP_NODELAY: an answer is one small frame and must not wait for a delayed ACK.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    let (mut sink, mut stream) = socket.split();

    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(OUTGOING_CAPACITY);
    let (in_tx, in_rx) = mpsc::channel::<Incoming>(INCOMING_CAPACITY);
    let (kill_tx, kill_rx) = oneshot::channel::<()>();

    tokio::spawn(async move {
        let mut kill_rx = kill_rx;
        loop {
            let item = tokio::select! {
                item = out_rx.recv() => item,
                _ = &mut kill_rx => None,
            };
            let Some(item) = item else {
                let _ = sink.close().await;
                break;
            };
            // A send stuck on a half-dead socket must not outlive the connection.
            let (result, killed) = tokio::select! {
                sent = sink.send(WsMessage::text(item.line)) => (sent.map_err(|e| e.to_string()), false),
                _ = &mut kill_rx => (Err("the connection was closed".to_string()), true),
            };
            let failed = result.is_err();
            if !failed && item.written.is_some() {
                super::timeline::mark("appserver.answer.written");
            }
            if let Some(ack) = item.written {
                let _ = ack.send(result);
            }
            if failed || killed {
                break;
            }
        }
    });

    tokio::spawn(async move {
        let reason = loop {
            match stream.next().await {
                Some(Ok(WsMessage::Text(text))) => {
                    if in_tx.send(Incoming::Line(text.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if in_tx.send(Incoming::Line(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    break match frame {
                        Some(f) => {
                            format!("websocket closed by app-server: {} {}", f.code, f.reason)
                        }
                        None => "websocket closed by app-server".to_string(),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                    break "websocket connection closed".to_string();
                }
                Some(Err(e)) => break format!("websocket error: {e}"),
            }
        };
        let _ = in_tx.send(Incoming::Closed { reason }).await;
    });

    Ok(RawConnection {
        outgoing: out_tx,
        incoming: in_rx,
        child_pid: None,
        kill: Some(kill_tx),
    })
}

/// The far end of an in-memory transport: what a test or the synthetic peer holds.
pub struct MemoryPeer {
    /// Lines the client wrote.
    pub from_client: mpsc::Receiver<Outgoing>,
    /// Send lines (or a close) to the client.
    pub to_client: mpsc::Sender<Incoming>,
}

/// An in-memory transport pair. Outgoing acks are the peer's business: the synthetic
/// peer acknowledges each line as it reads it.
pub fn memory() -> (RawConnection, MemoryPeer) {
    let (out_tx, out_rx) = mpsc::channel(OUTGOING_CAPACITY);
    let (in_tx, in_rx) = mpsc::channel(INCOMING_CAPACITY);
    (
        RawConnection {
            outgoing: out_tx,
            incoming: in_rx,
            child_pid: None,
            kill: None,
        },
        MemoryPeer {
            from_client: out_rx,
            to_client: in_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that dies at start, explaining why on stderr (as codex does for a config
    /// key it no longer accepts), with a byte that is not UTF-8 on the way.
    #[tokio::test]
    async fn a_child_that_exits_is_reported_with_the_tail_of_its_stderr() {
        let script = r#"echo starting >&2; printf 'bad \377 byte\n' >&2; echo 'Error: approval_policy = "untrusted" is no longer supported' >&2; exit 1"#;
        let mut raw = spawn_stdio(
            &PathBuf::from("sh"),
            &["-c".to_string(), script.to_string()],
            &[],
        )
        .unwrap();
        let reason = match raw.incoming.recv().await {
            Some(Incoming::Closed { reason }) => reason,
            Some(Incoming::Line(line)) => panic!("unexpected line {line}"),
            None => panic!("closed without a reason"),
        };
        assert!(
            reason.starts_with("app-server exited (exit code 1)"),
            "{reason}"
        );
        assert!(
            reason.contains(r#"approval_policy = "untrusted" is no longer supported"#),
            "{reason}"
        );
        assert!(reason.contains("starting | bad"), "{reason}");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_cut_to_length() {
        let tail = StderrTail::default();
        assert_eq!(tail.explain("gone".to_string()), "gone");
        for n in 0..10 {
            tail.push(&format!("line {n}"));
        }
        tail.push("   ");
        tail.push(&"x".repeat(1_000));
        let text = tail.explain("gone".to_string());
        assert!(
            text.starts_with("gone; its stderr ended with: line 5 | "),
            "{text}"
        );
        assert!(text.ends_with(&format!("| {}", "x".repeat(300))), "{text}");
    }
}
