//! The `:` command line: what a key would be too many for. Parsing and completion are
//! pure; `App` runs what a line comes to.

/// The commands, with their argument and what they do (for completion and help).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "session",
        "ID",
        "select the session whose id ends with (or contains) ID",
    ),
    (
        "tool",
        "NAME",
        "select the oldest waiting call of tool NAME in the queue",
    ),
    (
        "fail-all",
        "REASON",
        "fail every call waiting on you with REASON (asks first)",
    ),
    ("hold", "TOOL", "hold or release TOOL's handler"),
    (
        "rename",
        "NAME",
        "name the selected session's thread (thread/name/set): its title everywhere",
    ),
    ("quit", "", "quit (asks first when calls wait on you)"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Session(String),
    Tool(String),
    FailAll(String),
    Hold(String),
    Rename(String),
    Quit,
}

/// Reads one command line (with or without its leading `:`), or says what to fix.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim().trim_start_matches(':').trim();
    let (name, argument) = match line.split_once(char::is_whitespace) {
        Some((name, rest)) => (name, rest.trim()),
        None => (line, ""),
    };
    let needs = |what: &str| {
        if argument.is_empty() {
            Err(format!(":{name} needs {what}: :{name} {what}"))
        } else {
            Ok(argument.to_string())
        }
    };
    match name {
        "" => Err("type a command: session, tool, fail-all, hold, rename or quit".to_string()),
        "session" | "s" => needs("ID").map(Command::Session),
        "tool" | "t" => needs("NAME").map(Command::Tool),
        "fail-all" => needs("REASON").map(Command::FailAll),
        "hold" => needs("TOOL").map(Command::Hold),
        "rename" => needs("NAME").map(Command::Rename),
        "quit" | "q" if argument.is_empty() => Ok(Command::Quit),
        "quit" | "q" => Err(":quit takes no argument".to_string()),
        other => Err(format!(
            "unknown command `:{other}`: try session, tool, fail-all, hold, rename or quit"
        )),
    }
}

/// Completes `line` against the command names, or (after a command and a space) against
/// `arguments(command)`. Returns the completed line and the candidates left when the
/// completion is not unique.
pub fn complete(line: &str, arguments: impl Fn(&str) -> Vec<String>) -> (String, Vec<String>) {
    let (name, argument) = match line.split_once(' ') {
        Some((name, rest)) => (name, Some(rest.trim_start())),
        None => (line, None),
    };
    match argument {
        None => {
            let names: Vec<String> = COMMANDS
                .iter()
                .map(|(n, _, _)| n.to_string())
                .filter(|n| n.starts_with(name))
                .collect();
            match names.as_slice() {
                [only] => (format!("{only} "), Vec::new()),
                _ => (common_prefix(&names).unwrap_or(name).to_string(), names),
            }
        }
        Some(argument) => {
            let candidates: Vec<String> = arguments(name)
                .into_iter()
                .filter(|c| c.starts_with(argument))
                .collect();
            match candidates.as_slice() {
                [only] => (format!("{name} {only}"), Vec::new()),
                _ => {
                    let prefix = common_prefix(&candidates).unwrap_or(argument);
                    (format!("{name} {prefix}"), candidates)
                }
            }
        }
    }
}

fn common_prefix(words: &[String]) -> Option<&str> {
    let first = words.first()?;
    let mut end = first.len();
    for word in &words[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(word.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| i + a.len_utf8()),
        );
    }
    Some(&first[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_or_without_the_colon_and_say_what_is_missing() {
        assert_eq!(
            parse(":session 0001"),
            Ok(Command::Session("0001".to_string()))
        );
        assert_eq!(
            parse("tool crm.get"),
            Ok(Command::Tool("crm.get".to_string()))
        );
        assert_eq!(
            parse(":fail-all refunds are frozen"),
            Ok(Command::FailAll("refunds are frozen".to_string()))
        );
        assert_eq!(parse(":quit"), Ok(Command::Quit));
        assert_eq!(
            parse(":fail-all").unwrap_err(),
            ":fail-all needs REASON: :fail-all REASON"
        );
        assert!(
            parse(":frobnicate")
                .unwrap_err()
                .contains("unknown command")
        );
    }

    #[test]
    fn completion_fills_names_then_arguments() {
        let tools = |command: &str| match command {
            "tool" | "hold" => vec!["escalate_ticket".to_string(), "lookup_ticket".to_string()],
            _ => Vec::new(),
        };
        assert_eq!(complete("fa", tools), ("fail-all ".to_string(), vec![]));
        let (line, left) = complete("", tools);
        assert_eq!(line, "");
        assert_eq!(left.len(), COMMANDS.len());
        assert_eq!(
            complete("tool e", tools),
            ("tool escalate_ticket".to_string(), vec![])
        );
        let (line, left) = complete("hold ", tools);
        assert_eq!(line, "hold ");
        assert_eq!(left, ["escalate_ticket", "lookup_ticket"]);
    }
}
