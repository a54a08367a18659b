//! Entering and leaving the full-screen terminal. The guard restores the terminal when
//! dropped, and ratatui's panic hook restores it on a panic, so no exit path leaves the
//! user's shell in raw mode.

use std::io::{Write, stdout};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::SetTitle;
use ratatui::DefaultTerminal;
use ratatui::layout::Rect;

use super::app::App;

pub struct Terminal {
    inner: DefaultTerminal,
}

impl Terminal {
    pub fn enter() -> std::io::Result<Terminal> {
        // `init` installs a panic hook that restores the terminal before the panic
        // message is printed.
        let inner = ratatui::try_init()?;
        crossterm::execute!(stdout(), EnableMouseCapture, EnableBracketedPaste)?;
        Ok(Terminal { inner })
    }
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
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = crossterm::execute!(
            stdout(),
            DisableMouseCapture,
            DisableBracketedPaste,
            SetTitle("")
        );
        ratatui::restore();
    }
}
