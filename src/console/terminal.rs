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
    /// False under `NO_COLOR` (or `colors = false`): frames keep only bold, dim,
    /// reverse and the like.
    colors: bool,
    /// The palette frames are drawn in when they have colours.
    theme: super::theme::Theme,
}

impl Terminal {
    pub fn enter(colors: bool, theme: super::theme::Theme) -> std::io::Result<Terminal> {
        // `init` installs a panic hook that restores the terminal before the panic
        // message is printed.
        let inner = ratatui::try_init()?;
        take_over()?;
        Ok(Terminal {
            inner,
            colors,
            theme,
        })
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
        let colors = self.colors;
        let theme = self.theme;
        self.inner.draw(|frame| {
            super::ui::render(app, frame);
            // NO_COLOR (or `colors = false`) wins over any theme.
            if colors {
                theme.apply(frame.buffer_mut());
            } else {
                super::without_colors(frame.buffer_mut());
            }
        })?;
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

    fn copy(&mut self, text: &str) {
        let mut out = stdout();
        let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
        let _ = out.flush();
    }

    fn edit_externally(&mut self, text: &str) -> std::io::Result<String> {
        give_back();
        let edited = run_editor(text);
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(stdout(), crossterm::terminal::EnterAlternateScreen)?;
        take_over()?;
        edited
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

/// Runs `$VISUAL`, else `$EDITOR`, else `vi` on a private temporary file holding `text`,
/// and returns what the file holds afterwards.
fn run_editor(text: &str) -> std::io::Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-edit-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let path = dir.join("message.md");
    let edited = edit_file(&editor, &path, text);
    let _ = std::fs::remove_dir_all(&dir);
    edited
}

fn edit_file(editor: &str, path: &std::path::Path, text: &str) -> std::io::Result<String> {
    std::fs::write(path, text)?;
    // Through the shell, so an editor given with arguments (`code --wait`) works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "{editor} exited with {status}"
        )));
    }
    std::fs::read_to_string(path)
}

/// Standard base64 with padding, for OSC 52.
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64("call 01a1-7".as_bytes()), "Y2FsbCAwMWExLTc=");
    }
}
