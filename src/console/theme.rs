//! Colour themes: the palette the console draws with. Rendering uses a handful of base
//! colours, one per role (cyan for the accent, yellow for warnings, red for errors,
//! green for what is fine, magenta for what waits on you) plus the dim and reverse
//! modifiers for muted text and the selection; a theme maps each role to the colour of
//! its choice in every drawn frame. `dark` is the look the roles are drawn in (the
//! terminal's own colours); `light` suits a light background. The config file picks a
//! theme and overrides single entries (`[colors]` in console.toml); `NO_COLOR` wins
//! over both.

use std::str::FromStr;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// The palette's entries, as the config file names them.
pub const ENTRIES: &[&str] = &[
    "accent",
    "warning",
    "error",
    "ok",
    "attention",
    "muted",
    "selection",
];

/// The built-in themes.
pub const THEMES: &[&str] = &["dark", "light"];

/// A palette: `None` keeps the role's base colour (or, for `muted` and `selection`,
/// the dim and reverse modifiers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Theme {
    /// Focused panes, keys in hints, links (base: cyan).
    pub accent: Option<Color>,
    /// Reconnecting, held handlers, notices (base: yellow).
    pub warning: Option<Color>,
    /// Failures, lost connections, schema problems (base: red).
    pub error: Option<Color>,
    /// Connected, successful answers (base: green).
    pub ok: Option<Color>,
    /// Calls waiting on you (base: magenta).
    pub attention: Option<Color>,
    /// Dim text (base: the dim modifier): drawn in this colour.
    pub muted: Option<Color>,
    /// The selected row (base: reverse video): drawn on this background.
    pub selection: Option<Color>,
}

impl Theme {
    /// A built-in theme by name.
    pub fn named(name: &str) -> Option<Theme> {
        match name {
            "dark" => Some(Theme::default()),
            "light" => Some(Theme {
                accent: Some(Color::Rgb(0x00, 0x55, 0xaa)),
                warning: Some(Color::Rgb(0x8a, 0x5a, 0x00)),
                error: Some(Color::Rgb(0xb0, 0x00, 0x20)),
                ok: Some(Color::Rgb(0x1a, 0x7f, 0x37)),
                attention: Some(Color::Rgb(0x8b, 0x00, 0x8b)),
                muted: Some(Color::Rgb(0x6e, 0x77, 0x81)),
                selection: Some(Color::Rgb(0xc8, 0xdc, 0xf5)),
            }),
            _ => None,
        }
    }

    /// Sets entry `name` to `color`; false when there is no such entry.
    pub fn set(&mut self, name: &str, color: Color) -> bool {
        let slot = match name {
            "accent" => &mut self.accent,
            "warning" => &mut self.warning,
            "error" => &mut self.error,
            "ok" => &mut self.ok,
            "attention" => &mut self.attention,
            "muted" => &mut self.muted,
            "selection" => &mut self.selection,
            _ => return false,
        };
        *slot = Some(color);
        true
    }

    fn map(&self, color: Color) -> Color {
        let role = match color {
            Color::Cyan => self.accent,
            Color::Yellow => self.warning,
            Color::Red => self.error,
            Color::Green => self.ok,
            Color::Magenta => self.attention,
            _ => None,
        };
        role.unwrap_or(color)
    }

    /// Redraws a frame in this theme's colours.
    pub fn apply(&self, buffer: &mut Buffer) {
        if *self == Theme::default() {
            return;
        }
        for cell in &mut buffer.content {
            cell.fg = self.map(cell.fg);
            cell.bg = self.map(cell.bg);
            if let Some(selection) = self.selection
                && cell.modifier.contains(Modifier::REVERSED)
            {
                cell.modifier.remove(Modifier::REVERSED);
                // A reversed cell's background is its text colour.
                if cell.bg == Color::Reset {
                    cell.bg = selection;
                }
            }
            if let Some(muted) = self.muted
                && cell.modifier.contains(Modifier::DIM)
                && cell.fg == Color::Reset
            {
                cell.fg = muted;
            }
        }
    }
}

/// Reads a colour as the config file writes it: a name (`red`, `light-blue`,
/// `dark-gray`, `white`...), an index (`0`..`255`) or `#rrggbb`.
pub fn parse_color(text: &str) -> Result<Color, String> {
    Color::from_str(text.trim()).map_err(|_| {
        format!(
            "`{text}` is not a colour: write a name (black, red, green, yellow, blue, magenta, cyan, gray, dark-gray, light-red..., white), an index 0-255 or #rrggbb"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn colours_are_read_by_name_index_and_hex() {
        assert_eq!(parse_color("red"), Ok(Color::Red));
        assert_eq!(parse_color("light-blue"), Ok(Color::LightBlue));
        assert_eq!(parse_color("#0055aa"), Ok(Color::Rgb(0, 0x55, 0xaa)));
        assert_eq!(parse_color("42"), Ok(Color::Indexed(42)));
        assert!(
            parse_color("purpel")
                .unwrap_err()
                .contains("is not a colour")
        );
    }

    #[test]
    fn a_theme_maps_each_role_and_the_dark_one_changes_nothing() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 3, 1));
        buffer.set_string(0, 0, "a", Style::new().fg(Color::Cyan));
        buffer.set_string(1, 0, "s", Style::new().add_modifier(Modifier::REVERSED));
        buffer.set_string(2, 0, "m", Style::new().add_modifier(Modifier::DIM));
        let before = buffer.clone();
        Theme::default().apply(&mut buffer);
        assert_eq!(buffer, before);

        let mut theme = Theme::default();
        assert!(theme.set("accent", Color::Rgb(1, 2, 3)));
        assert!(theme.set("selection", Color::Blue));
        assert!(theme.set("muted", Color::DarkGray));
        assert!(!theme.set("acent", Color::Blue));
        theme.apply(&mut buffer);
        assert_eq!(buffer.content[0].fg, Color::Rgb(1, 2, 3));
        assert_eq!(buffer.content[1].bg, Color::Blue);
        assert!(!buffer.content[1].modifier.contains(Modifier::REVERSED));
        assert_eq!(buffer.content[2].fg, Color::DarkGray);
    }
}
