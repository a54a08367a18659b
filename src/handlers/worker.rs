//! Worker handlers: one long-lived process answers many calls as JSON lines, so a call
//! costs a line each way instead of a process start.
//!
//! The contract: Switchboard writes one line per call to the worker's stdin, the handler
//! input plus an `id`:
//! `{"id":7,"tool":..,"arguments":..,"callId":..,"threadId":..,"turnId":..,"requestId":..}`.
//! The worker writes one line per answer to stdout, in any order:
//! `{"id":7,"contentItems":[..],"success":true}` or `{"id":7,"text":"..","success":true}`
//! (`success` defaults to true). stderr goes to the log. A call not answered within
//! `timeout_ms` fails; the worker keeps running. When the worker exits, its calls in flight
//! fail and the next call starts it again, at once if it had answered anything, else
//! after a back-off (250 ms doubling to 10 s) so a worker that dies at start is not
//! started in a loop.
//!
//! Both pipes are read as bytes, a line at a time, at most 1 MiB of a line kept (like
//! command handlers' stdout): a line that is not UTF-8 or not JSON fails only the call
//! whose `id` it carries and the worker goes on; a longer line is cut, and a `text`
//! answer is passed on cut, with the same note as a command handler's; nothing on stderr
//! stops the worker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use super::HandlerInput;
use super::output::{MAX_OUTPUT_BYTES, failure_outcome, with_truncation_note};
use crate::catalog::CommandSpec;
use crate::protocol::{ToolCallResult, parse_tool_call_result};

/// What the stdout reader hands a call: the answer, or what was wrong with its line
/// (a phrase that follows "worker for `tool` ").
type Answer = Result<Reply, String>;

/// How long a stderr line may be in the log; the rest of it is dropped.
const STDERR_LINE_BYTES: usize = 4 * 1024;
/// The end of a cut stdout line kept to find its `id` when it comes last.
const TAIL_BYTES: usize = 64;
/// The first restart of a worker that exited without answering waits this long; each
/// further one in a row twice as long, up to [`RESTART_MAX`].
pub(super) const RESTART_START: Duration = Duration::from_millis(250);
pub(super) const RESTART_MAX: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Reply {
    /// A whole line, parsed.
    Whole(Value),
    /// A line longer than [`MAX_OUTPUT_BYTES`]: the start of its `text`.
    Cut { text: String, success: bool },
}

/// A running worker process.
struct Worker {
    lines: mpsc::Sender<String>,
    /// Calls written and not yet answered; shared with the stdout reader.
    waiting: Arc<std::sync::Mutex<Waiting>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Waiting {
    calls: HashMap<u64, oneshot::Sender<Answer>>,
    /// Set when the process is gone: why, and when.
    exited: Option<(String, Instant)>,
    /// It answered at least one call.
    answered: bool,
}

/// How a worker ended, as the next call finds it.
struct Ended {
    why: String,
    at: Instant,
    answered: bool,
}

impl Worker {
    /// How it ended, if it did: marked by its stdout reader, or found not reading its
    /// stdin any more (it is exiting; the reader marks it soon).
    fn ended(&self) -> Option<Ended> {
        let waiting = self.waiting.lock().ok()?;
        match &waiting.exited {
            Some((why, at)) => Some(Ended {
                why: why.clone(),
                at: *at,
                answered: waiting.answered,
            }),
            None if self.lines.is_closed() => Some(Ended {
                why: "stopped reading its stdin".to_string(),
                at: Instant::now(),
                answered: waiting.answered,
            }),
            None => None,
        }
    }
}

/// One catalog worker: the process if it runs, and its restart back-off.
#[derive(Default)]
struct Slot {
    worker: Option<Arc<Worker>>,
    /// Exits (or failed starts) in a row without an answer in between.
    failures: u32,
    /// No start before this.
    restart_at: Option<Instant>,
    last_failure: String,
}

/// The wait before starting a worker again after `failures` exits in a row without an
/// answer: none after a worker that answered, then 250 ms, 500 ms, ... 10 s.
pub(super) fn restart_delay(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => RESTART_START
            .saturating_mul(1u32 << (n - 1).min(16))
            .min(RESTART_MAX),
    }
}

/// What identifies a worker: the argv, the folder it runs in and its environment.
type WorkerKey = (Vec<String>, std::path::PathBuf, BTreeMap<String, String>);

fn worker_key(spec: &CommandSpec) -> WorkerKey {
    (spec.argv.clone(), spec.cwd.clone(), spec.env.clone())
}

/// Live workers, by the argv and folder that started them.
#[derive(Default)]
pub(super) struct Workers {
    running: Mutex<HashMap<WorkerKey, Slot>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}

impl Workers {
    pub(super) async fn run(
        &self,
        spec: &CommandSpec,
        input: &HandlerInput,
    ) -> (ToolCallResult, Option<String>) {
        let tool = input.tool.as_str();
        // The timeout covers waiting for a restart as well as the answer.
        let deadline = Instant::now() + spec.timeout;
        let worker = match self.worker_for(spec, deadline).await {
            Ok(worker) => worker,
            Err(error) => return failure_outcome(format!("worker for `{tool}` {error}")),
        };
        let id = worker.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = match serde_json::to_value(input) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        line.insert("id".to_string(), Value::from(id));
        let (tx, rx) = oneshot::channel();
        {
            let Ok(mut waiting) = worker.waiting.lock() else {
                return failure_outcome(format!("worker for `{tool}` is unusable"));
            };
            if let Some((why, _)) = &waiting.exited {
                return failure_outcome(format!("worker for `{tool}` exited: {why}"));
            }
            waiting.calls.insert(id, tx);
        }
        if worker
            .lines
            .send(Value::Object(line).to_string())
            .await
            .is_err()
        {
            self.forget(&worker, id);
            return failure_outcome(format!(
                "worker for `{tool}` is not accepting calls (it stopped reading its stdin)"
            ));
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(Reply::Whole(answer)))) => map_answer(tool, answer),
            Ok(Ok(Ok(Reply::Cut { text, success }))) => (
                ToolCallResult::text(success, with_truncation_note(&text, true)),
                None,
            ),
            Ok(Ok(Err(why))) => failure_outcome(format!("worker for `{tool}` {why}")),
            Ok(Err(_)) => failure_outcome(format!("worker for `{tool}` stopped answering")),
            Err(_) => {
                self.forget(&worker, id);
                failure_outcome(format!(
                    "worker for `{tool}` did not answer within {} ms",
                    spec.timeout.as_millis()
                ))
            }
        }
    }

    /// Forgets every worker but those `keep` runs, so that their next call starts a new
    /// process. Calls in flight keep the process they were written to; it gets the end
    /// of its stdin when the last of them is done.
    pub(super) async fn retire_except(&self, keep: &[&CommandSpec]) {
        let keep: HashSet<WorkerKey> = keep.iter().map(|spec| worker_key(spec)).collect();
        self.running
            .lock()
            .await
            .retain(|key, _| keep.contains(key));
    }

    fn forget(&self, worker: &Worker, id: u64) {
        if let Ok(mut waiting) = worker.waiting.lock() {
            waiting.calls.remove(&id);
        }
    }

    /// The worker for `spec`: the running one, or a new one once its back-off is over
    /// (waiting for it if that is before `deadline`). The error follows "worker for
    /// `tool` ".
    async fn worker_for(
        &self,
        spec: &CommandSpec,
        deadline: Instant,
    ) -> Result<Arc<Worker>, String> {
        let key = worker_key(spec);
        loop {
            let start_at = {
                let mut running = self.running.lock().await;
                let slot = running.entry(key.clone()).or_default();
                if let Some(worker) = &slot.worker {
                    let Some(ended) = worker.ended() else {
                        return Ok(worker.clone());
                    };
                    // Marked dead: start another, after a pause if it answered nothing.
                    slot.failures = if ended.answered { 0 } else { slot.failures + 1 };
                    slot.restart_at = Some(ended.at + restart_delay(slot.failures));
                    slot.last_failure = format!("exited: {}", ended.why);
                    slot.worker = None;
                }
                let now = Instant::now();
                match slot.restart_at {
                    Some(at) if at > now => {
                        if at > deadline {
                            return Err(format!(
                                "failed {} time(s) in a row without answering (last: {}); it is started again in {} ms",
                                slot.failures,
                                slot.last_failure,
                                (at - now).as_millis()
                            ));
                        }
                        at
                    }
                    _ => match spawn(spec) {
                        Ok(worker) => {
                            let worker = Arc::new(worker);
                            slot.worker = Some(worker.clone());
                            return Ok(worker);
                        }
                        Err(error) => {
                            slot.failures += 1;
                            slot.restart_at = Some(now + restart_delay(slot.failures));
                            slot.last_failure = format!("could not be started: {error}");
                            return Err(slot.last_failure.clone());
                        }
                    },
                }
            };
            tokio::time::sleep_until(start_at).await;
        }
    }
}

fn spawn(spec: &CommandSpec) -> Result<Worker, String> {
    let mut command = Command::new(&spec.program);
    command
        .args(spec.argv.get(1..).unwrap_or_default())
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", spec.program.display()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("started without pipes".to_string());
    };
    let name = spec.argv.join(" ");
    let waiting = Arc::new(std::sync::Mutex::new(Waiting::default()));
    let (lines_tx, mut lines_rx) = mpsc::channel::<String>(1024);

    tokio::spawn(async move {
        let mut writer = BufWriter::new(stdin);
        while let Some(first) = lines_rx.recv().await {
            let mut ok = write_line(&mut writer, &first).await;
            // Write whatever else is queued before one flush.
            while ok && let Ok(next) = lines_rx.try_recv() {
                ok = write_line(&mut writer, &next).await;
            }
            if !ok || writer.flush().await.is_err() {
                break;
            }
        }
    });

    // Read to the end whatever it prints, so the worker never blocks on (or dies of) a
    // closed stderr.
    let stderr_name = name.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr);
        while let Ok(Some(line)) = read_line_capped(&mut reader, STDERR_LINE_BYTES).await {
            let text = String::from_utf8_lossy(&line.head);
            let more = if line.is_cut() { " [line cut]" } else { "" };
            tracing::info!(target: "handlers::worker", "{stderr_name}: {}{more}", text.trim_end());
        }
    });

    let reader_waiting = waiting.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let end = loop {
            match read_line_capped(&mut reader, MAX_OUTPUT_BYTES).await {
                Ok(Some(line)) => deliver(&reader_waiting, &name, &line),
                Ok(None) => break "closed its stdout".to_string(),
                Err(e) => {
                    // Cannot read it any more: it is no use alive.
                    let _ = child.start_kill();
                    break format!("unreadable output: {e}");
                }
            }
        };
        let status = match child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        let why = format!("{end} ({status})");
        tracing::warn!(target: "handlers::worker", "worker {name} ended: {why}");
        if let Ok(mut waiting) = reader_waiting.lock() {
            waiting.exited = Some((why.clone(), Instant::now()));
            for (_, call) in waiting.calls.drain() {
                let _ = call.send(Err(format!("exited: {why}")));
            }
        }
    });

    Ok(Worker {
        lines: lines_tx,
        waiting,
        next_id: AtomicU64::new(0),
    })
}

async fn write_line<W: tokio::io::AsyncWrite + Unpin>(writer: &mut W, line: &str) -> bool {
    writer.write_all(line.as_bytes()).await.is_ok() && writer.write_all(b"\n").await.is_ok()
}

/// One line of output (without its newline), at most `cap` bytes of it kept.
#[derive(Debug, Default)]
struct Line {
    head: Vec<u8>,
    /// The last [`TAIL_BYTES`] of a cut line.
    tail: Vec<u8>,
    /// The whole line's length.
    len: usize,
}

impl Line {
    fn is_cut(&self) -> bool {
        self.len > self.head.len()
    }

    fn push(&mut self, chunk: &[u8], cap: usize) {
        let room = cap.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..room]);
        self.len += chunk.len();
        if self.is_cut() {
            self.tail
                .extend_from_slice(&chunk[chunk.len().saturating_sub(TAIL_BYTES)..]);
            if self.tail.len() > 4 * TAIL_BYTES {
                self.tail.drain(..self.tail.len() - TAIL_BYTES);
            }
        }
    }

    fn finish(mut self) -> Line {
        if self.tail.len() > TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        self
    }
}

/// Reads one line, keeping at most `cap` bytes of it and discarding the rest as it comes,
/// so a line of any length costs at most `cap` plus the reader's buffer. `None` at the
/// end of the stream; a last line without a newline still counts.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Line::default();
    let mut any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(any.then(|| line.finish()));
        }
        any = true;
        let (chunk, used, ended) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        line.push(chunk, cap);
        reader.consume(used);
        if ended {
            return Ok(Some(line.finish()));
        }
    }
}

/// Hands a line to the call whose id it carries.
fn deliver(waiting: &std::sync::Mutex<Waiting>, name: &str, line: &Line) {
    if line.head.iter().all(u8::is_ascii_whitespace) && !line.is_cut() {
        return;
    }
    let (id, answer) = decode_line(line);
    let Some(id) = id else {
        let problem = match &answer {
            Err(why) => why.clone(),
            Ok(_) => "an answer without a numeric id".to_string(),
        };
        let excerpt = String::from_utf8_lossy(&line.head[..line.head.len().min(200)]);
        tracing::warn!(target: "handlers::worker", "worker {name} {problem}, and no call id could be found in it: {excerpt}");
        return;
    };
    let call = waiting.lock().ok().and_then(|mut w| {
        let call = w.calls.remove(&id);
        if call.is_some() {
            w.answered = true;
        }
        call
    });
    match call {
        Some(call) => {
            if let Err(why) = &answer {
                tracing::warn!(target: "handlers::worker", "worker {name}, call {id}: {why}");
            }
            let _ = call.send(answer);
        }
        None => {
            tracing::warn!(target: "handlers::worker", "worker {name} answered unknown or late call {id}")
        }
    }
}

/// The call id a line carries, and what it says for that call.
fn decode_line(line: &Line) -> (Option<u64>, Answer) {
    if line.is_cut() {
        let fields = scan_head(&line.head);
        let id = fields.id.or_else(|| tail_id(&line.tail));
        let answer = match fields.text {
            Some(Ok(text)) => Ok(Reply::Cut {
                text,
                success: fields.success.unwrap_or(true),
            }),
            Some(Err(why)) => Err(format!("printed an answer whose `text` {why}")),
            None => Err(format!(
                "printed an answer of {} bytes, over the 1 MiB limit, with no `text` in its first MiB to cut (only `text` answers can be cut)",
                line.len
            )),
        };
        return (id, answer);
    }
    let text = match std::str::from_utf8(&line.head) {
        Ok(text) => text,
        Err(e) => {
            return (
                scan_head(&line.head).id,
                Err(format!(
                    "printed an answer that is not UTF-8 (invalid byte at {} of the line); answers must be UTF-8 JSON",
                    e.valid_up_to()
                )),
            );
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value) => (
            value.get("id").and_then(Value::as_u64),
            Ok(Reply::Whole(value)),
        ),
        Err(e) => (
            scan_head(&line.head).id,
            Err(format!("printed an answer that is not JSON ({e})")),
        ),
    }
}

/// What could be read from the start of a line that is cut (or not valid): the
/// top-level `id`, `success` and the start of `text`.
#[derive(Debug, Default)]
struct HeadFields {
    id: Option<u64>,
    success: Option<bool>,
    /// The text up to the cut, or what is wrong with it.
    text: Option<Result<String, String>>,
}

/// Reads the top-level members of a JSON object from its first bytes, as far as they go.
fn scan_head(bytes: &[u8]) -> HeadFields {
    let mut scan = Scan { b: bytes, i: 0 };
    let mut fields = HeadFields::default();
    scan.ws();
    if !scan.eat(b'{') {
        return fields;
    }
    loop {
        scan.ws();
        let Some(key) = scan.raw_string() else {
            return fields;
        };
        scan.ws();
        if !scan.eat(b':') {
            return fields;
        }
        scan.ws();
        match key {
            b"id" => match scan.integer() {
                Some(id) => fields.id = Some(id),
                None => return fields,
            },
            b"success" => {
                if scan.literal(b"true") {
                    fields.success = Some(true);
                } else if scan.literal(b"false") {
                    fields.success = Some(false);
                } else {
                    return fields;
                }
            }
            b"text" => {
                let (text, whole) = scan.string_prefix();
                fields.text = Some(text);
                if !whole {
                    return fields;
                }
            }
            _ => {
                if !scan.skip_value() {
                    return fields;
                }
            }
        }
        scan.ws();
        if !scan.eat(b',') {
            return fields;
        }
    }
}

/// `"id": <n>}` at the very end of a line: the id of an answer that put it last.
fn tail_id(tail: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(tail).ok().or_else(|| {
        // The tail may start inside a character.
        (1..4).find_map(|skip| std::str::from_utf8(tail.get(skip..)?).ok())
    })?;
    let rest = text.trim_end().strip_suffix('}')?.trim_end();
    let digits_start = rest.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let id = rest[digits_start..].parse().ok()?;
    let rest = rest[..digits_start]
        .trim_end()
        .strip_suffix(':')?
        .trim_end();
    let rest = rest.strip_suffix("\"id\"")?.trim_end();
    (rest.ends_with(',') || rest.ends_with('{')).then_some(id)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.b[self.i..].starts_with(word);
        if hit {
            self.i += word.len();
        }
        hit
    }

    /// A whole number followed by something that is not a digit.
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.peek()?;
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// A whole string's raw bytes (escapes left as they are).
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    /// Skips one value; false if the bytes end first.
    fn skip_value(&mut self) -> bool {
        let mut depth = 0usize;
        loop {
            let Some(c) = self.peek() else {
                return false;
            };
            match c {
                b'"' => {
                    if self.raw_string().is_none() {
                        return false;
                    }
                    if depth == 0 {
                        return true;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => return true,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return true;
                    }
                }
                b',' if depth == 0 => return true,
                _ => {}
            }
            self.i += 1;
        }
    }

    /// A string decoded up to its end or up to where the bytes stop (a character or an
    /// escape cut in half is dropped); true if it ended.
    fn string_prefix(&mut self) -> (Result<String, String>, bool) {
        if !self.eat(b'"') {
            return (Err("is not a string".to_string()), true);
        }
        let mut out: Vec<u8> = Vec::new();
        let whole = loop {
            let Some(c) = self.peek() else {
                break false;
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break true;
                }
                b'\\' => {
                    let Some(escape) = self.b.get(self.i + 1).copied() else {
                        break false;
                    };
                    let simple = match escape {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return (Err("has a bad escape".to_string()), true),
                    };
                    if let Some(byte) = simple {
                        out.push(byte);
                        self.i += 2;
                        continue;
                    }
                    match self.unicode_escape() {
                        Ok(Some(ch)) => {
                            let mut utf8 = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                        }
                        Ok(None) => break false,
                        Err(why) => return (Err(why), true),
                    }
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        };
        let text = match String::from_utf8(out) {
            Ok(text) => Ok(text),
            Err(e) if !whole && e.utf8_error().error_len().is_none() => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                Ok(String::from_utf8(bytes).unwrap_or_default())
            }
            Err(e) => Err(format!(
                "is not UTF-8 (invalid byte at {} of the text)",
                e.utf8_error().valid_up_to()
            )),
        };
        (text, whole)
    }

    /// `\uXXXX` (and its low half, for a surrogate pair) at the cursor; `None` if the
    /// bytes stop inside it.
    fn unicode_escape(&mut self) -> Result<Option<char>, String> {
        let hex = |at: usize| -> Result<Option<u32>, String> {
            let Some(digits) = self.b.get(at..at + 4) else {
                return Ok(None);
            };
            let digits = std::str::from_utf8(digits).map_err(|_| "has a bad \\u escape")?;
            u32::from_str_radix(digits, 16)
                .map(Some)
                .map_err(|_| "has a bad \\u escape".to_string())
        };
        let Some(high) = hex(self.i + 2)? else {
            return Ok(None);
        };
        if !(0xD800..0xDC00).contains(&high) {
            self.i += 6;
            return Ok(Some(char::from_u32(high).unwrap_or('\u{FFFD}')));
        }
        // A surrogate pair: both halves, or stop before the first.
        let pair_at = self.i + 6;
        match self.b.get(pair_at..pair_at + 2) {
            None => return Ok(None),
            Some(b"\\u") => {}
            Some(_) => {
                self.i += 6;
                return Ok(Some('\u{FFFD}'));
            }
        }
        let Some(low) = hex(pair_at + 2)? else {
            return Ok(None);
        };
        self.i += 12;
        let code = 0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
        Ok(Some(char::from_u32(code).unwrap_or('\u{FFFD}')))
    }
}

/// An answer line (without its id) to the result for the model.
fn map_answer(tool: &str, answer: Value) -> (ToolCallResult, Option<String>) {
    let Value::Object(mut map) = answer else {
        return failure_outcome(format!("worker for `{tool}` answered with a non-object"));
    };
    map.remove("id");
    if map.contains_key("contentItems") {
        return match parse_tool_call_result(Value::Object(map)) {
            Ok(result) => (result, None),
            Err(why) => failure_outcome(format!("worker for `{tool}` gave a bad answer: {why}")),
        };
    }
    let success = map.get("success").and_then(Value::as_bool).unwrap_or(true);
    match map.get("text").and_then(Value::as_str) {
        Some(text) => (ToolCallResult::text(success, text), None),
        None => failure_outcome(format!(
            "worker for `{tool}` answered with neither contentItems nor text"
        )),
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod worker_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_map_like_command_output() {
        assert_eq!(
            map_answer("t", json!({"id": 1, "text": "ok"})).0,
            ToolCallResult::text(true, "ok")
        );
        assert_eq!(
            map_answer("t", json!({"id": 1, "text": "no", "success": false})).0,
            ToolCallResult::text(false, "no")
        );
        let items = map_answer(
            "t",
            json!({"id": 1, "contentItems": [{"type": "inputText", "text": "x"}]}),
        );
        assert_eq!(items.0, ToolCallResult::text(true, "x"));
        let (bad, failure) = map_answer("t", json!({"id": 1, "contentItems": 3}));
        assert!(!bad.success && failure.is_some());
        let (bad, _) = map_answer("t", json!({"id": 1}));
        assert!(bad.joined_text().contains("neither contentItems nor text"));
    }
}
