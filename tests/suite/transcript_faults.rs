//! A full disk under a running `serve`, on the real codex: the data directory is a small
//! tmpfs (mounted for the test; when the machine does not allow it the test says why and
//! the unit tests' injected short writes cover the same code, unless CI requires it with
//! `SWITCHBOARD_REQUIRE_TMPFS`).

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use switchboard::bridge::ManualPolicy;
use switchboard::service::{self, ServeConfig};

use super::api_support::{ApiHarness, TOKEN, frames_until, next_frame};
use super::support::CodexBridge;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match out {
            Ok(out) if out.status.success() => return Some(Tmpfs(dir)),
            Ok(out) => format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => format!("could not run mount: {e}"),
        };
        if std::env::var("SWITCHBOARD_REQUIRE_TMPFS").is_ok_and(|v| !v.is_empty() && v != "0") {
            panic!("SWITCHBOARD_REQUIRE_TMPFS is set but {why}");
        }
        eprintln!("not testing on a real full disk: {why}");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// Fills the file system `path` is on; what it wrote is freed by removing `path`.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
}

/// The next `session_updated` frame of `sid` whose `persisted` is `persisted`.
async fn updated(socket: &mut super::api_support::Socket, sid: &str, persisted: bool) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if frame["type"] == "session_updated"
            && frame["threadId"] == sid
            && frame["payload"]["persisted"] == persisted
        {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_on_every_face_and_clears_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("256k") else {
        return;
    };
    let data = tmpfs.0.path().join("data");
    let codex = CodexBridge::start_configured(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
        true,
        |config| config.data_dir = Some(data.clone()),
    )
    .await;
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(codex.bridge.clone(), config).await.unwrap();
    let h = ApiHarness {
        codex,
        server,
        http: reqwest::Client::new(),
    };
    let health = h.get("/api/health").await;
    assert_eq!((health.status, &health.body["status"]), (200, &json!("ok")));

    let ballast = tmpfs.0.path().join("ballast");
    fill(&ballast);
    let mut socket = h.socket("").await;
    let sid = h.create_session("lookup_ticket").await;

    // The API: the session says it is not persisted, and why.
    let session = h.get(&format!("/api/sessions/{sid}")).await;
    let info = &session.body["session"];
    assert_eq!(info["persisted"], false, "{info}");
    let reason = info["persistError"].as_str().unwrap().to_string();
    assert!(reason.contains("No space left on device"), "{reason}");
    assert!(reason.contains(&format!("{sid}.jsonl")), "{reason}");
    // Health: up, degraded, with the reason.
    let health = h.get("/api/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "degraded");
    let said = health.body["reason"].as_str().unwrap();
    assert!(
        said.starts_with(&format!("1 session(s) not persisted; session {sid}: ")),
        "{said}"
    );
    // The event stream: a bridge_error for the session, and the session marked.
    let frames = frames_until(&mut socket, "bridge_error").await;
    let error = frames.last().unwrap();
    assert_eq!(error["threadId"], sid.as_str());
    assert!(
        error["payload"]["message"]
            .as_str()
            .unwrap()
            .starts_with("transcript not persisted: could not write transcript "),
        "{error}"
    );
    let marked = updated(&mut socket, &sid, false).await;
    assert!(marked["payload"]["persistError"].is_string());
    // The transcript view shows it too.
    let transcript = serde_json::to_string(&session.body).unwrap();
    assert!(
        transcript.contains("transcript not persisted"),
        "{transcript}"
    );

    // Space comes back: the retry writes the waiting rows and says so.
    std::fs::remove_file(&ballast).unwrap();
    let cleared = updated(&mut socket, &sid, true).await;
    assert!(cleared["payload"].get("persistError").is_none());
    let health = h.get("/api/health").await;
    assert_eq!(health.body["status"], "ok", "{:?}", health.body);
    assert!(health.body.get("reason").is_none());
    let session = h.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(session.body["session"]["persisted"], true);
    let path = data.join("sessions").join(format!("{sid}.jsonl"));
    let (rows, bad) = switchboard::bridge::transcript::read_transcript(&path).unwrap();
    assert_eq!(bad, 0);
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| match &r.entry {
            switchboard::bridge::TranscriptEntry::SessionStarted { .. } => "session.started",
            switchboard::bridge::TranscriptEntry::Error { .. } => "error",
            switchboard::bridge::TranscriptEntry::Notice { .. } => "notice",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["session.started", "error", "notice"]);
}
