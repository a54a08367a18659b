//! Small helpers shared by every layer.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock is before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The last `n` characters of an id. codex ids are UUIDv7, whose first characters are a
/// timestamp shared by a thread and its turns; the tail tells them apart.
pub fn id_tail(id: &str, n: usize) -> &str {
    let count = id.chars().count();
    match id.char_indices().nth(count.saturating_sub(n)) {
        Some((start, _)) => &id[start..],
        None => id,
    }
}

/// Lower-case base-36 digits of `n`: short, URL-safe identifiers.
pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".to_string();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Creates (or opens for appending) a file only its owner can read: transcripts and
/// tokens hold what the model and the handlers said.
pub fn open_private_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Creates a folder (and its missing parents) that only its owner can enter: the data
/// directory holds transcripts and logs. Folders that already exist keep their mode.
pub fn create_private_dir_all(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_tails() {
        assert_eq!(
            id_tail("01a1fe0b-14b9-7a61-9e00-4f08468a89a1", 8),
            "468a89a1"
        );
        assert_eq!(id_tail("short", 8), "short");
        assert_eq!(id_tail("", 8), "");
    }

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(u64::MAX), "3w5e11264sgsf");
    }
}
