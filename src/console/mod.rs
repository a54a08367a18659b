//! The operator console: a full-screen ratatui face over a running bridge. It holds a
//! `BridgeHandle` and receives `BridgeEvent`s; it never touches app-server or a handler
//! process itself (the inspect keys' probe and replay run in `crate::inspect`).
//!
//! The loop is event-driven: terminal input, bridge events, protocol lines and the
//! outcomes of bridge requests all feed one `select!`, and a frame is drawn only when
//! something changed: at once after input, and at most once per frame interval for
//! bursts of bridge events. While calls wait, a one-second
//! tick keeps their timers current; with nothing pending there is no tick at all.

pub mod app;
pub mod cards;
pub mod catalog_reload;
pub mod claims;
pub mod command;
pub mod config;
pub mod editor;
pub mod headless;
pub mod inspect;
pub mod keys;
pub mod link;
pub mod model;
pub mod navigate;
mod terminal;
pub mod text;
pub mod theme;
pub mod ui;
pub mod view;

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use app::{App, Effect, ListenInfo, Outcome, Request};
pub use link::{Link, LinkError, LinkEvent};

/// The shortest time between two frames; events in between share one frame.
const FRAME_INTERVAL: Duration = Duration::from_millis(16);

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("terminal error: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Bridge(#[from] crate::bridge::BridgeError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("console config: {0}")]
    Config(#[from] config::ConfigError),
}

#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// Where the API is served, shown in the header.
    pub listen: Option<ListenInfo>,
    /// Create a session at start and put this message in the composer (demo mode).
    pub first_message: Option<String>,
    /// The codex the inspector's probe runs (the sessions' binary and app-server
    /// arguments; the model is always the scripted one).
    pub codex: inspect::ProbeCodex,
    /// The approval policy and sandbox of the sessions the console creates (codex's
    /// words); `None` leaves them to codex's configuration.
    pub sessions: SessionDefaults,
    /// Who the operator is on the requests they open, and how long a claim holds
    /// (console.toml's `operator` and `claim_lease_ms`); `None`: the defaults.
    pub claims: Option<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDefaults {
    pub approval_policy: Option<String>,
    pub sandbox: Option<String>,
}

/// Runs the console until the operator quits. The terminal is restored on every exit
/// path, panics included.
pub async fn run(bridge: impl Into<Link>, options: ConsoleOptions) -> Result<(), ConsoleError> {
    use tokio::signal::unix::{SignalKind, signal};
    let bridge = bridge.into();
    let config = config::load()?;
    keys::install(&config.keys);
    let mut options = options;
    options.claims = Some((config.operator_name(), config.claim_lease_ms));
    // Registered before the terminal is taken, so no signal finds it half set up.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminal = terminal::Terminal::enter(config.colors, config.theme)?;
    let input = EventStream::new();
    let result = tokio::select! {
        result = event_loop(&bridge, &mut terminal, input, options) => result.map(|_| ()),
        // Leaving the loop drops its state; the guard below restores the terminal.
        _ = terminate.recv() => {
            tracing::info!("SIGTERM: leaving the console");
            Ok(())
        }
        _ = hangup.recv() => {
            tracing::info!("SIGHUP: leaving the console");
            Ok(())
        }
    };
    drop(terminal);
    result
}

/// Where the loop draws, and the terminal features beside drawing. The real terminal
/// rings the bell and sets the title; a test screen only counts.
pub trait Screen {
    fn draw(&mut self, app: &App) -> std::io::Result<()>;
    fn area(&self) -> std::io::Result<ratatui::layout::Rect>;
    fn bell(&mut self);
    fn set_title(&mut self, title: &str);
    /// Forget what is on screen, so the next frame draws every cell (^L).
    fn clear(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Give the terminal back to the shell, stop until resumed, then take it again (^Z).
    fn suspend(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Put `text` on the clipboard (the real terminal writes OSC 52).
    fn copy(&mut self, _text: &str) {}
    /// Edit `text` in the external editor, with the terminal given back meanwhile.
    fn edit_externally(&mut self, _text: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("no external editor on this screen"))
    }
}

/// What a run of the loop did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub frames: u64,
    pub bells: u64,
}

/// The console's event loop, generic over where it draws and where input comes from so
/// that tests drive it with a `TestBackend` and a scripted key stream.
pub async fn event_loop<S, I>(
    bridge: impl Into<Link>,
    screen: &mut S,
    mut input: I,
    options: ConsoleOptions,
) -> Result<LoopStats, ConsoleError>
where
    S: Screen,
    I: futures_util::Stream<Item = std::io::Result<Event>> + Unpin,
{
    let bridge = &bridge.into();
    let mut stats = LoopStats::default();
    let mut events = bridge.subscribe();
    let initial = bridge.load().await?;
    let mut app = App::new(bridge.catalog(), initial.status.clone());
    app.listen = options.listen.clone();
    app.remote = bridge.remote_url().map(|url| link::LinkState::Connected {
        url: url.to_string(),
    });
    if let Some((operator, lease_ms)) = &options.claims {
        app.claims = claims::Claims::new(operator, *lease_ms);
    }
    let (outcomes_tx, mut outcomes) = mpsc::channel::<Outcome>(256);
    let mut effects = app.on_outcome(loaded(initial));
    if let Some(message) = &options.first_message {
        app.composer.insert_str(message);
        effects.push(Effect::Bridge(Request::CreateSession { app_server: None }));
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    // Input is drawn at once; only bursts of bridge events wait for the frame interval.
    let mut urgent = false;
    let mut last_frame = Instant::now() - FRAME_INTERVAL;

    loop {
        for effect in effects.drain(..) {
            match effect {
                Effect::Bell => stats.bells += 1,
                Effect::EditExternally { target, text } => {
                    let edited = screen.edit_externally(&text).map_err(|e| e.to_string());
                    app.on_edited(target, edited);
                    screen.clear()?;
                    (dirty, urgent) = (true, true);
                    continue;
                }
                Effect::Redraw | Effect::Suspend => {
                    if effect == Effect::Suspend {
                        screen.suspend()?;
                    }
                    screen.clear()?;
                    (dirty, urgent) = (true, true);
                    continue;
                }
                _ => {}
            }
            apply(effect, bridge, &outcomes_tx, screen, &options);
        }
        if app.quit {
            return Ok(stats);
        }
        let frame_due = dirty && (urgent || last_frame.elapsed() >= FRAME_INTERVAL);
        if frame_due {
            app.now_ms = crate::util::now_ms();
            screen.draw(&app)?;
            stats.frames += 1;
            dirty = false;
            urgent = false;
            last_frame = Instant::now();
        }
        let wait_for_frame = tokio::time::sleep_until((last_frame + FRAME_INTERVAL).into());
        tokio::select! {
            input_event = input.next() => {
                match input_event {
                    Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                        app.now_ms = crate::util::now_ms();
                        effects = app.on_key(key);
                        (dirty, urgent) = (true, true);
                    }
                    Some(Ok(Event::Paste(text))) => {
                        app.on_paste(&text);
                        (dirty, urgent) = (true, true);
                    }
                    Some(Ok(Event::Mouse(mouse))) => {
                        effects = app.on_mouse(mouse, screen.area()?);
                        (dirty, urgent) = (true, true);
                    }
                    Some(Ok(Event::Resize(_, _))) => (dirty, urgent) = (true, true),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(stats),
                }
            }
            event = events.recv() => match event {
                Some(LinkEvent::Bridge(event)) => {
                    app.now_ms = crate::util::now_ms();
                    effects = app.on_bridge_event(event);
                    dirty = true;
                }
                Some(LinkEvent::Protocol(line)) => {
                    app.on_protocol_line(line);
                    dirty |= app.view == app::View::ProtocolLog;
                }
                Some(LinkEvent::Link(state)) => {
                    app.remote = Some(state);
                    dirty = true;
                }
                None => return Ok(stats),
            },
            Some(outcome) = outcomes.recv() => {
                app.now_ms = crate::util::now_ms();
                        effects = app.on_outcome(outcome);
                dirty = true;
            }
            _ = ticker.tick(), if app.needs_ticks() => {
                app.now_ms = crate::util::now_ms();
                effects = app.on_tick();
                dirty = true;
            }
            _ = wait_for_frame, if dirty => {}
        }
    }
}

/// Takes the colours out of a drawn frame (`NO_COLOR`): what carries meaning stays in
/// bold, dim, reverse and the text itself.
pub fn without_colors(buffer: &mut ratatui::buffer::Buffer) {
    for cell in &mut buffer.content {
        cell.fg = ratatui::style::Color::Reset;
        cell.bg = ratatui::style::Color::Reset;
    }
}

/// Everything the console shows, read from the bridge in one go, as the state machine
/// takes it.
fn loaded(snapshot: crate::bridge::calls::Snapshot) -> Outcome {
    Outcome::Loaded(Box::new((
        snapshot.status,
        snapshot.sessions,
        snapshot.pending,
    )))
}

fn apply(
    effect: Effect,
    bridge: &Link,
    outcomes: &mpsc::Sender<Outcome>,
    screen: &mut impl Screen,
    options: &ConsoleOptions,
) {
    match effect {
        Effect::Inspect(request) => {
            let catalog = bridge.catalog();
            let outcomes = outcomes.clone();
            let codex = options.codex.clone();
            // Beside the loop, like bridge requests: a probe takes seconds.
            tokio::spawn(async move {
                let outcome = match request {
                    inspect::InspectRequest::Probe => Outcome::Probed(
                        crate::inspect::probe::probe_tools(
                            &catalog,
                            codex.bin.as_deref(),
                            &codex.app_server_args,
                        )
                        .await,
                    ),
                    inspect::InspectRequest::Replay(call) => Outcome::Replayed(Box::new(
                        crate::inspect::replay::replay_call(&catalog, &call).await,
                    )),
                };
                let _ = outcomes.send(outcome).await;
            });
        }
        Effect::Bell => screen.bell(),
        Effect::Copy(text) => screen.copy(&text),
        // Handled by the loop itself.
        Effect::Redraw | Effect::Suspend | Effect::EditExternally { .. } => {}
        Effect::Title(title) => screen.set_title(&title),
        Effect::Resync => {
            let bridge = bridge.clone();
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                match bridge.load().await {
                    Ok(snapshot) => {
                        let _ = outcomes.send(loaded(snapshot)).await;
                    }
                    Err(e) => tracing::warn!(target: "console", "reading state again failed: {e}"),
                }
            });
        }
        Effect::Bridge(request) => {
            let bridge = bridge.clone();
            let outcomes = outcomes.clone();
            let sessions = options.sessions.clone();
            // Requests run beside the loop: the console never waits on app-server.
            tokio::spawn(async move {
                let outcome = perform(&bridge, request, &sessions).await;
                let _ = outcomes.send(outcome).await;
            });
        }
    }
}

async fn perform(bridge: &Link, request: Request, sessions: &SessionDefaults) -> Outcome {
    let text = |e: LinkError| e.to_string();
    match request {
        // No cwd: the app-server's configured one applies, else its own folder (for a
        // spawned one, the console's; for one on another machine, never a local path).
        Request::CreateSession { app_server } => Outcome::SessionCreated(
            bridge
                .create_session(crate::bridge::CreateSession {
                    approval_policy: sessions.approval_policy.clone(),
                    sandbox: sessions.sandbox.clone(),
                    app_server,
                    ..Default::default()
                })
                .await
                .map_err(text),
        ),
        Request::Send {
            thread_id,
            text: message,
        } => Outcome::Sent(
            bridge
                .send_message(&thread_id, &message)
                .await
                .map_err(text),
        ),
        Request::Interrupt { thread_id } => {
            Outcome::Interrupted(bridge.interrupt(&thread_id).await.map_err(text))
        }
        Request::Close { thread_id } => {
            Outcome::Closed(bridge.close_session(&thread_id).await.map_err(text))
        }
        Request::Respond {
            request_id,
            result,
            claim,
        } => Outcome::Responded {
            result: respond(bridge, &request_id, result, claim)
                .await
                .map_err(text),
            request_id,
        },
        Request::Claim {
            request_id,
            holder,
            lease_ms,
            claim_id,
            takeover,
        } => Outcome::Claimed {
            result: bridge
                .claim_request(
                    &request_id,
                    crate::bridge::ClaimAsk {
                        holder,
                        lease: Duration::from_millis(lease_ms),
                        claim_id,
                        takeover,
                    },
                )
                .await
                .map_err(text),
            request_id,
            takeover,
        },
        Request::Release {
            request_id,
            claim_id,
        } => Outcome::Released {
            result: bridge
                .release_claim(&request_id, &claim_id)
                .await
                .map_err(text),
            request_id,
        },
        Request::RunHandler { request_id } => Outcome::HandlerRan {
            result: bridge.run_handler(&request_id).await.map_err(text),
            request_id,
        },
        Request::Hold(change) => Outcome::Hold(bridge.set_hold(change).await.map_err(text)),
        Request::ListThreads => Outcome::Threads(bridge.list_threads().await.map_err(text)),
        Request::Reconnect => Outcome::Reconnect(bridge.reconnect().await.map_err(text)),
        Request::Rename { thread_id, name } => {
            Outcome::Renamed(bridge.rename_session(&thread_id, &name).await.map_err(text))
        }
        Request::AnswerRequest {
            request_id,
            answer,
            claim_id,
        } => Outcome::RequestAnswered {
            result: bridge
                .answer_request_claimed(&request_id, answer, claim_id.as_deref())
                .await
                .map_err(text),
            request_id,
        },
        Request::ListRequests => Outcome::Requests(bridge.pending_requests().await.map_err(text)),
        Request::Resume { thread_id } => {
            Outcome::Resumed(bridge.resume_session(&thread_id).await.map_err(text))
        }
        Request::ListLoaded => Outcome::LoadedThreads(bridge.loaded_threads().await.map_err(text)),
        Request::Watch {
            thread_id,
            app_server,
        } => Outcome::Watched(
            bridge
                .watch_thread(&thread_id, app_server.as_deref())
                .await
                .map_err(text),
        ),
        Request::Detach { thread_id } => {
            Outcome::Detached(bridge.detach(&thread_id).await.map_err(text))
        }
        Request::AutoAnswer { thread_id, on } => {
            Outcome::AutoAnswer(bridge.set_auto_answer(&thread_id, on).await.map_err(text))
        }
    }
}

/// Answers a tool call with the console's claim; a bulk answer claims the call first and
/// leaves it alone when someone else holds it (`Claimed`, nothing written).
async fn respond(
    bridge: &Link,
    request_id: &str,
    result: crate::protocol::ToolCallResult,
    claim: app::RespondClaim,
) -> Result<crate::bridge::RespondOutcome, LinkError> {
    use crate::bridge::{ClaimOutcome, RespondOutcome};
    let mut claimed_first = false;
    let claim_id = match claim {
        app::RespondClaim::None => None,
        app::RespondClaim::Held(id) => Some(id),
        app::RespondClaim::First { holder, lease_ms } => {
            claimed_first = true;
            let ask = crate::bridge::ClaimAsk {
                holder,
                lease: Duration::from_millis(lease_ms),
                claim_id: None,
                takeover: false,
            };
            match bridge.claim_request(request_id, ask).await? {
                ClaimOutcome::Claimed { claim, .. } => Some(claim.claim_id),
                ClaimOutcome::Held { claim } => return Ok(RespondOutcome::Claimed { claim }),
                ClaimOutcome::NotFound => return Ok(RespondOutcome::NotFound),
                ClaimOutcome::InFlight => return Ok(RespondOutcome::InFlight),
                // A handler of the server answers it: nothing to claim, the answer
                // goes as any other.
                ClaimOutcome::NotClaimable { .. } => None,
            }
        }
    };
    let outcome = bridge
        .respond_claimed(request_id, result, claim_id.as_deref())
        .await;
    // A claim taken only to answer goes back when the answer did not go (a failed
    // write): the call is anyone's again, this console's included.
    if claimed_first
        && !matches!(outcome, Ok(RespondOutcome::Accepted))
        && let Some(claim_id) = &claim_id
    {
        let _ = bridge.release_claim(request_id, claim_id).await;
    }
    outcome
}

#[cfg(test)]
mod test_support;
