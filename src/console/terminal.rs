//! Entering and leaving the full-screen terminal. The guard restores the terminal when
//! dropped, and ratatui's panic hook restores it on a panic, so no exit path leaves the
//! user's shell in raw mode. `run` also turns SIGTERM and SIGHUP into a normal exit, so
//! the guard runs for them too.

use std::io::{Write, stdout};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::SetTitle;
use ratatui::DefaultTerminal;
use ratatui::layout::Rect;

use super::app::App;

/// xterm's title stack: save the title on entry, restore it on exit. Terminals without
/// the stack ignore both, and are left with an empty title instead of ours.
const PUSH_TITLE: &[u8] = b"\x1b[22;0t";
const POP_TITLE: &[u8] = b"\x1b[23;0t";

pub struct Terminal {
    inner: DefaultTerminal,
}

impl Terminal {
    pub fn enter() -> std::io::Result<Terminal> {
        // `init` installs a panic hook that restores the terminal before the panic
        // message is printed.
        let inner = ratatui::try_init()?;
        take_over()?;
        Ok(Terminal { inner })
    }
}

/// What the console turns on beside ratatui's raw mode and alternate screen.
fn take_over() -> std::io::Result<()> {
    let mut out = stdout();
    out.write_all(PUSH_TITLE)?;
    crossterm::execute!(out, EnableMouseCapture, EnableBracketedPaste)
}

/// Gives the terminal back as it was.
fn give_back() {
    let mut out = stdout();
    let _ = crossterm::execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        SetTitle("")
    );
    let _ = out.write_all(POP_TITLE);
    let _ = out.flush();
    ratatui::restore();
}

impl super::Screen for Terminal {
    fn draw(&mut self, app: &App) -> std::io::Result<()> {
        self.inner.draw(|frame| super::ui::render(app, frame))?;
        Ok(())
    }

    fn area(&self) -> std::io::Result<Rect> {
        let size = self.inner.size()?;
        Ok(Rect::new(0, 0, size.width, size.height))
    }

    fn bell(&mut self) {
        let mut out = stdout();
        let _ = out.write_all(b"\x07");
        let _ = out.flush();
    }

    fn set_title(&mut self, title: &str) {
        let _ = crossterm::execute!(stdout(), SetTitle(title));
    }

    fn clear(&mut self) -> std::io::Result<()> {
        self.inner.clear()
    }

    fn suspend(&mut self) -> std::io::Result<()> {
        give_back();
        // Stops the process like a ^Z in cooked mode would; returns once resumed.
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP).map_err(std::io::Error::from)?;
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(stdout(), crossterm::terminal::EnterAlternateScreen)?;
        take_over()?;
        Ok(())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        give_back();
    }
}
