//! The console without a terminal: a screen that draws into a test buffer and records
//! when, an input type for scripted keys, and frame timing. Benchmarks and tests use
//! these so that only this module (inside the console) touches ratatui and crossterm.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use tokio::sync::mpsc;

use super::Screen;
use super::app::App;

/// One item of the console's input stream.
pub type Input = std::io::Result<Event>;

/// A plain key press, as the input stream carries it.
pub fn char_key(c: char) -> Input {
    Ok(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

/// Draws into a `width`x`height` test buffer and records every frame's time.
pub struct RecordingScreen {
    terminal: Terminal<TestBackend>,
    area: Rect,
    /// Every frame's time, for counting frames over a window.
    pub draws: Arc<Mutex<Vec<Instant>>>,
    /// Each frame's time as it is drawn, for waiting on the next frame.
    drawn: mpsc::UnboundedSender<Instant>,
}

impl RecordingScreen {
    pub fn new(
        width: u16,
        height: u16,
    ) -> std::io::Result<(RecordingScreen, mpsc::UnboundedReceiver<Instant>)> {
        let (drawn, frames) = mpsc::unbounded_channel();
        let terminal = Terminal::new(TestBackend::new(width, height))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok((
            RecordingScreen {
                terminal,
                area: Rect::new(0, 0, width, height),
                draws: Arc::new(Mutex::new(Vec::new())),
                drawn,
            },
            frames,
        ))
    }
}

impl Screen for RecordingScreen {
    fn draw(&mut self, app: &App) -> std::io::Result<()> {
        self.terminal
            .draw(|frame| super::ui::render(app, frame))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let now = Instant::now();
        if let Ok(mut draws) = self.draws.lock() {
            draws.push(now);
        }
        let _ = self.drawn.send(now);
        Ok(())
    }

    fn area(&self) -> std::io::Result<Rect> {
        Ok(self.area)
    }

    fn bell(&mut self) {}

    fn set_title(&mut self, _title: &str) {}
}

/// How long each of `frames` renders of `app` takes at `width`x`height`, in µs.
pub fn frame_times(app: &App, width: u16, height: u16, frames: usize) -> std::io::Result<Vec<u32>> {
    let mut terminal = Terminal::new(TestBackend::new(width, height))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut times = Vec::with_capacity(frames);
    for _ in 0..frames {
        let started = Instant::now();
        terminal
            .draw(|frame| super::ui::render(app, frame))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        times.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok(times)
}

/// Presses the key `c` in `app` (`\t` is Tab, `\r` Enter), as a typed key would: for
/// benchmarks that set up a view without a terminal.
pub fn press(app: &mut App, c: char) {
    let code = match c {
        '\t' => KeyCode::Tab,
        '\r' => KeyCode::Enter,
        c => KeyCode::Char(c),
    };
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}
