//! codex-manager's Python SDK flow (remote skills over HTTP and the websocket), walked by
//! a standard-library Python script against `switchboard serve --scripted-model`.

use std::process::Command;

use super::serve_support::ServeProcess;
use super::support::repo_path;

const TOKEN: &str = "python-flow-token-5f1e";

#[test]
fn the_sdk_remote_skills_flow_runs_against_serve() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let serve = ServeProcess::start(
        home.path(),
        &[("CODEX_MANAGER_BEARER_TOKEN", TOKEN)],
        &["--scripted-model", "--data-dir", data.to_str().unwrap()],
    );
    assert!(
        serve.token_line.contains("$CODEX_MANAGER_BEARER_TOKEN"),
        "{}",
        serve.token_line
    );
    // The same variables the SDK's from_env() reads.
    let output = Command::new("python3")
        .arg(repo_path("tests/python/remote_skills_flow.py"))
        .env("CODEX_MANAGER_API_BASE", &serve.url)
        .env("CODEX_MANAGER_BEARER_TOKEN", TOKEN)
        .env_remove("CODEX_MANAGER_API_PREFIX")
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK flow failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserve:\n{}",
        serve.stderr_lines().join("\n")
    );
    assert!(stdout.trim_end().ends_with("PASS"), "{stdout}");
    assert_eq!(serve.stop().code(), Some(0));
}
