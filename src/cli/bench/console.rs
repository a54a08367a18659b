//! The console: frame time with a full screen of data, redraws while idle, time to the
//! first frame, and key-to-frame latency while calls stream in.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use super::bridge::{STATIC_CATALOG, static_catalog, synthetic_stdio};
use super::{BenchError, Figure, Result, quantile};
use crate::bridge::{self, BridgeConfig, BridgeEvent, BridgeHandle};
use crate::console::app::App;
use crate::console::{ConsoleOptions, event_loop, headless};
use crate::lab::console::{BIG_OUTPUT_AT, TURN_ROWS, big_call, status};
use crate::lab::synthetic;

const FRAMES: usize = 200;
/// Rows of the working session.
const WORKING_ROWS: u64 = 10_000;

/// [`crate::lab::console::loaded_app`], for the bench's error type.
pub fn loaded_app(sessions: usize, rows: u64, pending: usize) -> Result<App> {
    crate::lab::console::loaded_app(sessions, rows, pending)
        .map_err(BenchError::from("bench catalog"))
}

fn frame_times(app: &App, width: u16, height: u16) -> Result<Vec<u32>> {
    headless::frame_times(app, width, height, FRAMES).map_err(BenchError::from("draw"))
}

struct Running {
    keys: mpsc::Sender<headless::Input>,
    drawn: tokio::sync::Mutex<mpsc::UnboundedReceiver<Instant>>,
    draws: Arc<Mutex<Vec<Instant>>>,
    started: Instant,
    task: tokio::task::JoinHandle<
        std::result::Result<crate::console::LoopStats, crate::console::ConsoleError>,
    >,
}

fn start_console(bridge: &BridgeHandle) -> Result<Running> {
    let (mut screen, drawn) =
        headless::RecordingScreen::new(120, 40).map_err(BenchError::from("screen"))?;
    let draws = screen.draws.clone();
    let (keys, mut key_rx) = mpsc::channel::<headless::Input>(64);
    let input = futures_util::stream::poll_fn(move |cx| key_rx.poll_recv(cx));
    let bridge = bridge.clone();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        event_loop(
            &bridge,
            &mut screen,
            Box::pin(input),
            ConsoleOptions::default(),
        )
        .await
    });
    Ok(Running {
        keys,
        drawn: tokio::sync::Mutex::new(drawn),
        draws,
        started,
        task,
    })
}

fn key(c: char) -> headless::Input {
    headless::char_key(c)
}

fn draws_since(draws: &Mutex<Vec<Instant>>, since: Instant) -> Vec<Instant> {
    draws
        .lock()
        .map(|d| d.iter().copied().filter(|t| *t >= since).collect())
        .unwrap_or_default()
}

async fn stop(running: Running) -> Result<()> {
    let _ = running.keys.send(key('q')).await;
    running
        .task
        .await
        .map_err(BenchError::from("console task"))?
        .map_err(BenchError::from("console"))?;
    Ok(())
}

/// Key-to-frame latencies for `presses` keys, one every 100 ms.
async fn key_latencies(running: &Running, presses: usize) -> Result<Vec<u32>> {
    let mut drawn = running.drawn.lock().await;
    let mut latencies = Vec::new();
    for _ in 0..presses {
        tokio::time::sleep(Duration::from_millis(100)).await;
        while drawn.try_recv().is_ok() {}
        let sent = Instant::now();
        running
            .keys
            .send(key('j'))
            .await
            .map_err(BenchError::from("key"))?;
        let frame = tokio::time::timeout(Duration::from_secs(2), drawn.recv())
            .await
            .map_err(BenchError::from("no frame within 2 s of a key"))?
            .ok_or_else(|| BenchError("the console stopped".to_string()))?;
        latencies.push(u32::try_from((frame - sent).as_micros()).unwrap_or(u32::MAX));
    }
    Ok(latencies)
}

/// The working session's views: followed at the bottom, scrolled to a big output in
/// the middle (folded, then expanded in place), and that output in the detail view.
struct WorkingViews {
    bottom: App,
    middle: App,
    expanded: App,
    detail: App,
}

/// [`crate::lab::console::working_app`] with 10,000 rows and 1,000 calls waiting, the
/// transcript focused and, unless `keys` is empty, scrolled from its top to the big
/// output of the middle turn and then given `keys`.
fn working(scroll: bool, keys: &str) -> Result<App> {
    let mut app = crate::lab::console::working_app(WORKING_ROWS, 1_000)
        .map_err(BenchError::from("bench catalog"))?;
    headless::press(&mut app, '\t');
    if !scroll {
        return Ok(app);
    }
    headless::press(&mut app, 'g');
    let middle = (WORKING_ROWS / 2 / TURN_ROWS) * TURN_ROWS + BIG_OUTPUT_AT;
    for _ in 0..middle {
        headless::press(&mut app, 'j');
    }
    for c in keys.chars() {
        headless::press(&mut app, c);
    }
    let thread = crate::lab::console::session(0).thread_id;
    let on_output = app.transcript(&thread).is_some_and(|view| {
        !view.follow
            && view.rows.get(view.bottom()).is_some_and(|row| {
                row.seq == middle
                    && matches!(
                        row.entry,
                        crate::bridge::TranscriptEntry::Item(
                            crate::bridge::items::ItemRow::Command { .. }
                        )
                    )
            })
    });
    if !on_output {
        return Err(BenchError(format!(
            "the transcript is not on the big output at row {middle}"
        )));
    }
    Ok(app)
}

fn working_views() -> Result<WorkingViews> {
    let views = WorkingViews {
        bottom: working(false, "")?,
        middle: working(true, "")?,
        expanded: working(true, "\r")?,
        detail: working(true, "v")?,
    };
    if views.detail.views.detail.is_none() {
        return Err(BenchError("the detail view did not open".to_string()));
    }
    Ok(views)
}

/// The p50 and p99 frame of each run of one view.
#[derive(Default)]
struct Frames {
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Frames {
    fn measure(&mut self, app: &App, width: u16, height: u16) -> Result<()> {
        let times = frame_times(app, width, height)?;
        self.p50.push(quantile(&times, 0.5));
        self.p99.push(quantile(&times, 0.99));
        Ok(())
    }

    /// This view's p50 and p99 figures against `base`'s.
    fn against(&self, what: &str, size: &str, base: &Frames) -> [Figure; 2] {
        let name = |q: &str| {
            format!(
                "frame, 10,000 rows with 200 command outputs of 1,000 lines, {what}, {size}, {q}"
            )
        };
        let baseline = |q: &str| {
            format!("the existing scenario (10,000 rows, 1,000 pending calls), {size}, {q}")
        };
        [
            Figure::new(&name("p50"), "us", &self.p50)
                .against(&baseline("p50"), &base.p50)
                .target("< 16 ms"),
            Figure::new(&name("p99"), "us", &self.p99)
                .against(&baseline("p99"), &base.p99)
                .target("< 16 ms"),
        ]
    }
}

/// Frame times of the working session: 10,000 rows with 200 command outputs of 1,000
/// lines, file changes, reasoning, plans, tool calls and messages, against the
/// existing 10,000-row scenario measured in the same run.
fn working_figures(runs: usize) -> Result<Vec<Figure>> {
    let base = loaded_app(1, 10_000, 1_000)?;
    let views = working_views()?;
    let (mut base_wide, mut base_small) = (Frames::default(), Frames::default());
    let (mut bottom, mut small) = (Frames::default(), Frames::default());
    let (mut middle, mut expanded, mut detail) =
        (Frames::default(), Frames::default(), Frames::default());
    for _ in 0..runs {
        base_wide.measure(&base, 160, 48)?;
        base_small.measure(&base, 80, 24)?;
        bottom.measure(&views.bottom, 160, 48)?;
        small.measure(&views.bottom, 80, 24)?;
        middle.measure(&views.middle, 160, 48)?;
        expanded.measure(&views.expanded, 160, 48)?;
        detail.measure(&views.detail, 160, 48)?;
    }
    let mut figures = Vec::new();
    figures.extend(bottom.against("at the bottom (following)", "160x48", &base_wide));
    figures.extend(small.against("at the bottom (following)", "80x24", &base_small));
    figures.extend(middle.against(
        "scrolled to the middle, on a folded output",
        "160x48",
        &base_wide,
    ));
    figures.extend(expanded.against(
        "scrolled to the middle, that output expanded",
        "160x48",
        &base_wide,
    ));
    figures.extend(detail.against("the detail view on that output", "160x48", &base_wide));
    Ok(figures)
}

pub async fn run(runs: usize) -> Result<Vec<Figure>> {
    let mut working = working_figures(runs)?;
    working.extend(super::session_memory::figures()?);
    let full = loaded_app(1, 10_000, 1_000)?;
    let empty = App::new(static_catalog()?, status());
    // The queue focused, unfiltered and filtered to 111 of its 1,000 calls.
    let mut queue = loaded_app(1, 10_000, 1_000)?;
    for c in "\t\t".chars() {
        headless::press(&mut queue, c);
    }
    let mut filtered = loaded_app(1, 10_000, 1_000)?;
    for c in "\t\t/t-9\r".chars() {
        headless::press(&mut filtered, c);
    }
    // The editor on a call whose arguments and held proposal are 300 KB each.
    let mut big = loaded_app(1, 100, 0)?;
    big.on_bridge_event(BridgeEvent::ToolCallRequested { call: big_call() });
    headless::press(&mut big, 'a');
    let mut small = loaded_app(1, 100, 1)?;
    headless::press(&mut small, 'a');
    let (mut full_80, mut full_160, mut empty_160) = (vec![], vec![], vec![]);
    let (mut queue_160, mut filtered_160) = (vec![], vec![]);
    let (mut big_80, mut small_80) = (vec![], vec![]);
    for _ in 0..runs {
        full_80.push(quantile(&frame_times(&full, 80, 24)?, 0.5));
        full_160.push(quantile(&frame_times(&full, 160, 48)?, 0.5));
        empty_160.push(quantile(&frame_times(&empty, 160, 48)?, 0.5));
        queue_160.push(quantile(&frame_times(&queue, 160, 48)?, 0.5));
        filtered_160.push(quantile(&frame_times(&filtered, 160, 48)?, 0.5));
        big_80.push(quantile(&frame_times(&big, 80, 24)?, 0.5));
        small_80.push(quantile(&frame_times(&small, 80, 24)?, 0.5));
    }

    let (mut idle_frames, mut first_frame, mut quiet_keys, mut loaded_keys) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let config = BridgeConfig::new(synthetic_stdio()?, static_catalog()?);
        let bridge = bridge::start_on(
            config,
            synthetic::spawn_memory(synthetic::SyntheticConfig::default()),
        )
        .await
        .map_err(BenchError::from("bridge"))?;
        let running = start_console(&bridge)?;
        // First frame: from the loop's start to its first draw.
        let deadline = Instant::now() + Duration::from_secs(5);
        let first = loop {
            if let Some(first) = draws_since(&running.draws, running.started)
                .first()
                .copied()
            {
                break first;
            }
            if Instant::now() > deadline {
                return Err(BenchError("no first frame".to_string()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        first_frame.push((first - running.started).as_secs_f64() * 1e3);
        // Idle: nothing happens for 3 s; count the frames drawn.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let quiet_from = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        idle_frames.push(draws_since(&running.draws, quiet_from).len() as f64);
        quiet_keys.push(quantile(&key_latencies(&running, 20).await?, 0.5));

        // 100 calls per second stream in while keys are pressed.
        let session = bridge
            .create_session(crate::bridge::CreateSession::default())
            .await
            .map_err(BenchError::from("session"))?;
        bridge
            .send_message(
                &session.thread_id,
                &json!({"callsPerTurn": 400, "rate": 100.0}).to_string(),
            )
            .await
            .map_err(BenchError::from("turn"))?;
        loaded_keys.push(quantile(&key_latencies(&running, 30).await?, 0.99));
        stop(running).await?;
        bridge.shutdown().await;
    }
    let _ = STATIC_CATALOG;
    let mut figures = vec![
        Figure::new(
            "frame with 10,000 rows and 1,000 pending calls, 160x48, p50",
            "us",
            &full_160,
        )
        .against("frame of an empty console, 160x48, p50", &empty_160)
        .target("< 5 ms"),
        Figure::new(
            "frame with 10,000 rows and 1,000 pending calls, 80x24, p50",
            "us",
            &full_80,
        )
        .target("< 5 ms"),
        Figure::new(
            "frame, queue focused and filtered (/t-9: 111 of 1,000 pending calls), 160x48, p50",
            "us",
            &filtered_160,
        )
        .against(
            "the same queue unfiltered (1 of 1,000), 160x48, p50",
            &queue_160,
        )
        .target("< 5 ms"),
        Figure::new(
            "frame, editor on a call with 300 KB arguments and a 300 KB held answer, 80x24, p50",
            "us",
            &big_80,
        )
        .against("editor on a small call, 80x24, p50", &small_80)
        .target("< 16 ms"),
        Figure::new("frames drawn in 3 s of idle", "frames", &idle_frames).target("0"),
        Figure::new(
            "first frame after the console starts (bridge already up)",
            "ms",
            &first_frame,
        )
        .target("< 100 ms"),
        Figure::new(
            "key to frame while 100 calls/s arrive, p99",
            "us",
            &loaded_keys,
        )
        .against("key to frame with nothing arriving, p50", &quiet_keys)
        .target("input stays responsive"),
    ];
    figures.append(&mut working);
    Ok(figures)
}
