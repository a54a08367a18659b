//! The key binding table. Dispatch, the footer hints and the help overlay all read it, so
//! they cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where keyboard input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Sessions,
    Transcript,
    Queue,
    Composer,
    Editor,
    Inspector,
    ProtocolLog,
    /// Typing into a list's `/` filter.
    Filter,
    /// The detail view (pager).
    Detail,
    Help,
    Picker,
    /// The loaded threads (other clients' too), to watch one.
    Watch,
    /// Which app-server a new session goes to (a bridge with several).
    AppServers,
    Confirm,
    Notices,
    Command,
    /// An approval, question or elicitation card (`cards/`).
    Card,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    NewSession,
    Compose,
    SendMessage,
    LeaveComposer,
    Interrupt,
    CloseSession,
    ResumeThread,
    /// List the loaded threads (other clients' too); in that list, attach to watch one.
    WatchThread,
    /// Stop watching the selected watched session (`thread/unsubscribe`).
    Detach,
    /// Turn automatic answers on (asked first) or off for a watched session.
    ToggleAutoAnswer,
    OpenCall,
    /// Open the card of the oldest approval or question waiting on you.
    OpenRequest,
    /// A key the open card handles itself (`cards::RequestCard::on_key`).
    CardKey,
    ToggleHoldAll,
    ToggleHoldTool,
    Inspector,
    ProtocolLog,
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Expand,
    // Views.
    Filter,
    FilterApply,
    FilterClear,
    Detail,
    Zoom,
    GroupQueue,
    ContextUp,
    ContextDown,
    ContextPageUp,
    ContextPageDown,
    EditorSend,
    EditorCancel,
    EditorToggleMode,
    EditorToggleSuccess,
    EditorFail,
    EditorRunHandler,
    Confirm,
    Decline,
    /// ^C: warns once, quits on a second press (asking first when calls wait).
    CtrlC,
    ComposerNewline,
    HistoryPrev,
    HistoryNext,
    ExternalEditor,
    CopyId,
    CopyArguments,
    CopyAnswer,
    CommandLine,
    RunCommand,
    CompleteCommand,
    ToggleMark,
    MarkRange,
    ClearMarks,
    HandBack,
    EditorSendMarked,
    EditorSendTool,
    Redraw,
    Suspend,
    Notices,
    /// Probe what codex hands the model for the catalog (`console/inspect.rs`).
    Probe,
    /// Replay the selected transcript call against today's handler.
    ReplayCall,
    /// Try app-server again after reconnecting gave up.
    Reconnect,
    /// Name the selected session (`:rename`).
    Rename,
    /// Take the open call or request over from whoever is answering it (asks first).
    TakeOver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

const fn plain(code: KeyCode) -> Key {
    Key {
        code,
        modifiers: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::CONTROL,
    }
}

const fn ch(c: char) -> Key {
    plain(KeyCode::Char(c))
}

const fn alt_key(code: KeyCode) -> Key {
    Key {
        code,
        modifiers: KeyModifiers::ALT,
    }
}

const fn alt(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::ALT,
    }
}

const fn f(n: u8) -> Key {
    plain(KeyCode::F(n))
}

#[derive(Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the key is written in hints, e.g. `^S`.
    pub label: &'static str,
    pub action: Action,
    /// Short hint for the footer; empty when the binding is only listed in help.
    pub hint: &'static str,
    /// The help overlay's description.
    pub help: &'static str,
    /// Where it applies; empty means everywhere outside overlays.
    pub contexts: &'static [Context],
}

use Context as C;

const MAIN: &[Context] = &[C::Sessions, C::Transcript, C::Queue];
const ANYWHERE: &[Context] = &[
    C::Sessions,
    C::Transcript,
    C::Queue,
    C::Composer,
    C::Editor,
    C::Inspector,
    C::ProtocolLog,
    C::Filter,
    C::Help,
    C::Picker,
    C::Watch,
    C::AppServers,
    C::Confirm,
    C::Notices,
    C::Command,
    C::Detail,
    C::Card,
];
const LISTS: &[Context] = &[
    C::Sessions,
    C::Transcript,
    C::Queue,
    C::Inspector,
    C::ProtocolLog,
    C::Picker,
    C::Watch,
    C::AppServers,
    C::Help,
    C::Detail,
    C::Notices,
];
/// Lists with a `/` filter.
const FILTERED: &[Context] = &[
    C::Sessions,
    C::Transcript,
    C::Queue,
    C::Inspector,
    C::ProtocolLog,
];

/// Every binding, in the order the help overlay lists them. The first binding that
/// matches the key in the current context wins.
pub const BINDINGS: &[Binding] = &[
    // Overlays first: they get keys before anything else.
    Binding {
        keys: &[ctrl('s')],
        label: "^S",
        action: Action::EditorSend,
        hint: "send",
        help: "send the answer (invalid input is never sent)",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::EditorCancel,
        hint: "close",
        help: "close the editor; what you typed stays as this call's draft",
        contexts: &[C::Editor],
    },
    // The textarea's own keys are emacs-like (^F forward, ^B back, ^R redo, ^K kill...):
    // the editor's commands use function keys, with Alt letters for terminals without.
    Binding {
        keys: &[f(2), alt('t')],
        label: "F2",
        action: Action::EditorToggleMode,
        hint: "text/raw",
        help: "switch between text mode (one inputText item) and raw mode (the whole result JSON); also Alt-t",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(3), alt('x')],
        label: "F3",
        action: Action::EditorFail,
        hint: "fail",
        help: "fail the call (what you typed is the reason), or back to text mode; also Alt-x",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(4), ctrl('o')],
        label: "F4",
        action: Action::EditorToggleSuccess,
        hint: "success",
        help: "toggle success true/false (text mode); also ^O",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(5), alt('r')],
        label: "F5",
        action: Action::EditorRunHandler,
        hint: "run handler",
        help: "run the tool's handler and load its answer for review; also Alt-r",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(6), alt('m')],
        label: "F6",
        action: Action::EditorSendMarked,
        hint: "send to marked",
        help: "send this answer to this call and every marked call; also Alt-m",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(7), alt('a')],
        label: "F7",
        action: Action::EditorSendTool,
        hint: "send to tool",
        help: "send this answer to this call and every other call of its tool waiting on you; also Alt-a",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[f(8), alt('o')],
        label: "F8",
        action: Action::TakeOver,
        hint: "",
        help: "take the call over from the operator or worker answering it (asks first; their answer is refused from then on); also Alt-o",
        contexts: &[C::Editor, C::Card],
    },
    Binding {
        keys: &[ch('A')],
        label: "A",
        action: Action::OpenRequest,
        hint: "approvals",
        help: "open the card of the oldest approval, question or elicitation waiting on you",
        contexts: &[C::Sessions, C::Transcript, C::Queue],
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::CardKey,
        hint: "decide",
        help: "send the selected decision (Up/Down choose, 1-9 pick and send)",
        contexts: &[C::Card],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::CardKey,
        hint: "close",
        help: "close the card without deciding: the request stays in the queue",
        contexts: &[C::Card],
    },
    Binding {
        keys: &[ch('y')],
        label: "y",
        action: Action::Confirm,
        hint: "yes",
        help: "confirm (only y: Enter never confirms)",
        contexts: &[C::Confirm],
    },
    Binding {
        keys: &[ch('n'), plain(KeyCode::Esc)],
        label: "n",
        action: Action::Decline,
        hint: "no",
        help: "cancel",
        contexts: &[C::Confirm],
    },
    Binding {
        keys: &[plain(KeyCode::Tab)],
        label: "Tab",
        action: Action::FocusNext,
        hint: "focus",
        help: "leave the composer for the next pane (the draft stays)",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[plain(KeyCode::BackTab)],
        label: "S-Tab",
        action: Action::FocusPrev,
        hint: "",
        help: "leave the composer for the previous pane",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::SendMessage,
        hint: "send",
        help: "send the message to the selected session; focus goes to the transcript",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[ctrl('j')],
        label: "^J",
        action: Action::ComposerNewline,
        hint: "",
        help: "a new line in the message (also Shift-Enter or Alt-Enter where the terminal tells them apart)",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[plain(KeyCode::Up)],
        label: "↑",
        action: Action::HistoryPrev,
        hint: "",
        help: "on the first line: the previous message sent (history)",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[plain(KeyCode::Down)],
        label: "↓",
        action: Action::HistoryNext,
        hint: "",
        help: "on the last line: the next message in the history, then what you were typing",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[alt('e')],
        label: "Alt-e",
        action: Action::ExternalEditor,
        hint: "",
        help: "edit the text in $VISUAL / $EDITOR (vi if neither is set)",
        contexts: &[C::Composer, C::Editor],
    },
    Binding {
        keys: &[alt('c')],
        label: "Alt-c",
        action: Action::CopyAnswer,
        hint: "",
        help: "copy the answer to the clipboard (OSC 52)",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::LeaveComposer,
        hint: "leave",
        help: "leave the composer (the draft stays)",
        contexts: &[C::Composer],
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::OpenCall,
        hint: "answer",
        help: "open the response editor on the selected call",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[ch(' ')],
        label: "Space",
        action: Action::ToggleMark,
        hint: "mark",
        help: "mark or unmark the selected call (F6 in the editor answers every marked call)",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[ch('y')],
        label: "y",
        action: Action::CopyId,
        hint: "",
        help: "copy the selected call's id to the clipboard (OSC 52)",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[ch('Y')],
        label: "Y",
        action: Action::CopyArguments,
        hint: "",
        help: "copy the selected call's arguments (pretty JSON) to the clipboard",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[ch('V')],
        label: "V",
        action: Action::MarkRange,
        hint: "",
        help: "mark every call from the last marked one to the selected one",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::ClearMarks,
        hint: "",
        help: "unmark every call",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[ch('B')],
        label: "B",
        action: Action::HandBack,
        hint: "",
        help: "hand the marked (or selected) held calls back: send each its handler's proposed answer",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::ResumeThread,
        hint: "resume",
        help: "resume the selected thread",
        contexts: &[C::Picker],
    },
    Binding {
        keys: &[plain(KeyCode::Enter), ch('w')],
        label: "Enter",
        action: Action::WatchThread,
        hint: "watch",
        help: "attach to the selected thread to watch it (its requests wait for you)",
        contexts: &[C::Watch],
    },
    Binding {
        keys: &[plain(KeyCode::Enter), ch('n')],
        label: "Enter",
        action: Action::NewSession,
        hint: "create",
        help: "create the new session on the selected app-server",
        contexts: &[C::AppServers],
    },
    Binding {
        keys: &[plain(KeyCode::Enter), ch(' ')],
        label: "Enter",
        action: Action::Expand,
        hint: "expand",
        help: "expand or fold the selected transcript row (full JSON)",
        contexts: &[C::Transcript],
    },
    // Views: filters, the detail view, zoom.
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::FilterApply,
        hint: "apply",
        help: "keep the filter and go back to the list",
        contexts: &[C::Filter],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::FilterClear,
        hint: "clear",
        help: "clear the filter",
        contexts: &[C::Filter],
    },
    Binding {
        keys: &[ch('/')],
        label: "/",
        action: Action::Filter,
        hint: "filter",
        help: "filter the focused list (case-insensitive; Enter keeps it, Esc clears it)",
        contexts: FILTERED,
    },
    Binding {
        keys: &[ch('v'), plain(KeyCode::Enter)],
        label: "v",
        action: Action::Detail,
        hint: "view",
        help: "open the selected protocol line in the detail view",
        contexts: &[C::ProtocolLog],
    },
    Binding {
        keys: &[ch('v')],
        label: "v",
        action: Action::Detail,
        hint: "view",
        help: "open the selected call, row or tool in the detail view (wrapped, scrollable)",
        contexts: &[C::Queue, C::Transcript, C::Inspector, C::Sessions],
    },
    Binding {
        keys: &[ctrl('g')],
        label: "^G",
        action: Action::Detail,
        hint: "full view",
        help: "the call in full: arguments, schema problems and the input schema",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[alt_key(KeyCode::Up), alt_key(KeyCode::Char('k'))],
        label: "M-↑",
        action: Action::ContextUp,
        hint: "",
        help: "scroll the arguments up (M-↓ down, M-PgUp/M-PgDn a page; the wheel too)",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[alt_key(KeyCode::Down), alt_key(KeyCode::Char('j'))],
        label: "M-↓",
        action: Action::ContextDown,
        hint: "",
        help: "scroll the arguments down",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[alt_key(KeyCode::PageUp)],
        label: "M-PgUp",
        action: Action::ContextPageUp,
        hint: "",
        help: "scroll the arguments a page up",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[alt_key(KeyCode::PageDown)],
        label: "M-PgDn",
        action: Action::ContextPageDown,
        hint: "",
        help: "scroll the arguments a page down",
        contexts: &[C::Editor],
    },
    Binding {
        keys: &[ch('z')],
        label: "z",
        action: Action::Zoom,
        hint: "zoom",
        help: "zoom: the focused pane takes the whole screen (z again restores)",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('o')],
        label: "o",
        action: Action::GroupQueue,
        hint: "order",
        help: "order the queue: oldest first, by tool, by session",
        contexts: &[C::Queue],
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('q'), ch('v')],
        label: "Esc",
        action: Action::Back,
        hint: "back",
        help: "close the detail view",
        contexts: &[C::Detail],
    },
    Binding {
        keys: &[ch(' ')],
        label: "Space",
        action: Action::PageDown,
        hint: "",
        help: "page down",
        contexts: &[C::Detail],
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('q'), ch('?')],
        label: "Esc",
        action: Action::Back,
        hint: "close",
        help: "close the help",
        contexts: &[C::Help],
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('q'), ch('N')],
        label: "Esc",
        action: Action::Back,
        hint: "close",
        help: "close the notice history",
        contexts: &[C::Notices],
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('q')],
        label: "Esc",
        action: Action::Back,
        hint: "back",
        help: "close this view",
        contexts: &[
            C::Picker,
            C::Watch,
            C::AppServers,
            C::Inspector,
            C::ProtocolLog,
        ],
    },
    // Lists.
    Binding {
        keys: &[plain(KeyCode::Up), ch('k')],
        label: "↑/k",
        action: Action::Up,
        hint: "",
        help: "move up / scroll up",
        contexts: LISTS,
    },
    Binding {
        keys: &[plain(KeyCode::Down), ch('j')],
        label: "↓/j",
        action: Action::Down,
        hint: "",
        help: "move down / scroll down",
        contexts: LISTS,
    },
    Binding {
        keys: &[plain(KeyCode::PageUp)],
        label: "PgUp",
        action: Action::PageUp,
        hint: "",
        help: "page up",
        contexts: LISTS,
    },
    Binding {
        keys: &[plain(KeyCode::PageDown)],
        label: "PgDn",
        action: Action::PageDown,
        hint: "",
        help: "page down",
        contexts: LISTS,
    },
    Binding {
        keys: &[plain(KeyCode::Home), ch('g')],
        label: "Home",
        action: Action::Top,
        hint: "",
        help: "go to the top",
        contexts: LISTS,
    },
    Binding {
        keys: &[plain(KeyCode::End), ch('G')],
        label: "End",
        action: Action::Bottom,
        hint: "",
        help: "go to the end (the transcript follows the tail again)",
        contexts: LISTS,
    },
    // Main view.
    Binding {
        keys: &[plain(KeyCode::Tab)],
        label: "Tab",
        action: Action::FocusNext,
        hint: "focus",
        help: "focus the next pane",
        contexts: MAIN,
    },
    Binding {
        keys: &[plain(KeyCode::BackTab)],
        label: "S-Tab",
        action: Action::FocusPrev,
        hint: "",
        help: "focus the previous pane",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('n')],
        label: "n",
        action: Action::NewSession,
        hint: "new",
        help: "create a session with the catalog's tools",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('n')],
        label: "n",
        action: Action::NewSession,
        hint: "",
        help: "create a session with the catalog in use (after a reload: its new definitions)",
        contexts: &[C::Inspector],
    },
    Binding {
        keys: &[ch('i')],
        label: "i",
        action: Action::Compose,
        hint: "message",
        help: "type a message to the selected session",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('a')],
        label: "a",
        action: Action::OpenCall,
        hint: "answer",
        help: "answer: the selected call in the queue, else the oldest call waiting on you",
        contexts: &[C::Sessions, C::Transcript, C::Queue],
    },
    Binding {
        keys: &[ch('x')],
        label: "x",
        action: Action::Interrupt,
        hint: "interrupt",
        help: "interrupt the selected session's running turn",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('c')],
        label: "c",
        action: Action::CloseSession,
        hint: "close",
        help: "close the selected session (its pending calls expire)",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        action: Action::ResumeThread,
        hint: "resume",
        help: "list app-server's threads and resume one",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('w')],
        label: "w",
        action: Action::WatchThread,
        hint: "watch",
        help: "list the threads app-server has loaded (other clients' too) and watch one",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('D')],
        label: "D",
        action: Action::Detach,
        hint: "",
        help: "detach from the selected watched session (thread/unsubscribe; its client goes on)",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('U')],
        label: "U",
        action: Action::ToggleAutoAnswer,
        hint: "",
        help: "auto-answer a watched session's requests (catalog handlers and rules), or stop",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('h')],
        label: "h",
        action: Action::ToggleHoldAll,
        hint: "hold",
        help: "hold every handler: answers wait for your review",
        contexts: &[C::Sessions, C::Transcript, C::Queue, C::Inspector],
    },
    Binding {
        keys: &[ch('H')],
        label: "H",
        action: Action::ToggleHoldTool,
        hint: "",
        help: "hold the selected call's (or tool's) handler",
        contexts: &[C::Queue, C::Inspector],
    },
    Binding {
        keys: &[ch('t')],
        label: "t",
        action: Action::Inspector,
        hint: "tools",
        help: "catalog inspector: schemas, handlers, statistics, warnings",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('p')],
        label: "p",
        action: Action::Probe,
        hint: "probe",
        help: "probe: run codex on the scripted model with this catalog, in the background, and show what the model sees (shadowed, sanitised, deferred, built-ins)",
        contexts: &[C::Inspector],
    },
    Binding {
        keys: &[ch('R')],
        label: "R",
        action: Action::ReplayCall,
        hint: "replay",
        help: "replay the selected tool call: today's handler with the recorded arguments, the recorded answer beside the new one with a diff (nothing is sent)",
        contexts: &[C::Transcript],
    },
    Binding {
        keys: &[ch('l')],
        label: "l",
        action: Action::ProtocolLog,
        hint: "log",
        help: "protocol log: raw JSON-RPC lines both ways",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('?')],
        label: "?",
        action: Action::Help,
        hint: "help",
        help: "show this help",
        contexts: &[
            C::Sessions,
            C::Transcript,
            C::Queue,
            C::Inspector,
            C::ProtocolLog,
        ],
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        action: Action::RunCommand,
        hint: "run",
        help: "run the command",
        contexts: &[C::Command],
    },
    Binding {
        keys: &[plain(KeyCode::Tab)],
        label: "Tab",
        action: Action::CompleteCommand,
        hint: "complete",
        help: "complete the command or its argument (session ids, tool names)",
        contexts: &[C::Command],
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        action: Action::Back,
        hint: "cancel",
        help: "close the command line",
        contexts: &[C::Command],
    },
    Binding {
        keys: &[ch(':')],
        label: ":",
        action: Action::CommandLine,
        hint: "",
        help: "command line: :session ID, :tool NAME, :fail-all REASON, :hold TOOL, :quit",
        contexts: &[
            C::Sessions,
            C::Transcript,
            C::Queue,
            C::Inspector,
            C::ProtocolLog,
        ],
    },
    Binding {
        keys: &[ctrl('r')],
        label: "^R",
        action: Action::Reconnect,
        hint: "",
        help: "after reconnecting to app-server gave up: try again (the sessions resume once it is back)",
        contexts: &[
            C::Sessions,
            C::Transcript,
            C::Queue,
            C::Inspector,
            C::ProtocolLog,
        ],
    },
    Binding {
        keys: &[ch('e')],
        label: "e",
        action: Action::Rename,
        hint: "",
        help: "rename the selected session (its thread's name, its title everywhere): opens :rename",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('N')],
        label: "N",
        action: Action::Notices,
        hint: "",
        help: "notice history: the last notices that flashed by in the footer",
        contexts: MAIN,
    },
    Binding {
        keys: &[ch('q')],
        label: "q",
        action: Action::Quit,
        hint: "quit",
        help: "quit (asks first when calls wait on you)",
        contexts: MAIN,
    },
    Binding {
        keys: &[ctrl('c')],
        label: "^C",
        action: Action::CtrlC,
        hint: "",
        help: "twice: quit from anywhere (asks first when calls wait); in the quit dialog: quit",
        contexts: ANYWHERE,
    },
    Binding {
        keys: &[ctrl('l')],
        label: "^L",
        action: Action::Redraw,
        hint: "",
        help: "redraw the screen",
        contexts: ANYWHERE,
    },
    Binding {
        keys: &[ctrl('z')],
        label: "^Z",
        action: Action::Suspend,
        hint: "",
        help: "suspend to the shell (fg resumes)",
        contexts: ANYWHERE,
    },
];

fn matches(key: &Key, event: &KeyEvent) -> bool {
    if key.code != event.code {
        return false;
    }
    // Shift is part of the character for letters ('G', 'H'), so only compare the rest.
    let wanted = key.modifiers - KeyModifiers::SHIFT;
    let got = event.modifiers - KeyModifiers::SHIFT;
    wanted == got
}

/// The table in force: the built-in one, or a copy with the config file's keys.
static TABLE: std::sync::OnceLock<&'static [Binding]> = std::sync::OnceLock::new();

/// The binding table that dispatch, the footer and help read.
pub fn bindings() -> &'static [Binding] {
    TABLE.get().copied().unwrap_or(BINDINGS)
}

/// Every action with a binding, by its config name (`open-call` for `OpenCall`).
pub fn action_named(name: &str) -> Option<Action> {
    let wanted = name.replace('_', "-").to_ascii_lowercase();
    BINDINGS
        .iter()
        .map(|b| b.action)
        .find(|action| action_name(*action) == wanted)
}

/// An action's name in the config file: its variant name in kebab case.
pub fn action_name(action: Action) -> String {
    let mut name = String::new();
    for (i, c) in format!("{action:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// Reads a key as the config file writes it: `q`, `G`, `ctrl-s`, `alt-t`, `f2`, `enter`,
/// `esc`, `tab`, `backtab`, `space`, `up`, `down`, `left`, `right`, `home`, `end`,
/// `pageup`, `pagedown`, `backspace`, `delete`.
pub fn parse_key(text: &str) -> Result<Key, String> {
    let lower = text.to_ascii_lowercase();
    let (modifiers, rest) = if let Some(rest) = lower.strip_prefix("ctrl-") {
        (KeyModifiers::CONTROL, &text[text.len() - rest.len()..])
    } else if let Some(rest) = lower.strip_prefix("alt-") {
        (KeyModifiers::ALT, &text[text.len() - rest.len()..])
    } else {
        (KeyModifiers::NONE, text)
    };
    let code = match rest.to_ascii_lowercase().as_str() {
        "enter" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "backspace" => KeyCode::Backspace,
        "delete" => KeyCode::Delete,
        f if f.len() > 1
            && f.starts_with('f')
            && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
        {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        _ => {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if modifiers == KeyModifiers::CONTROL => {
                    KeyCode::Char(c.to_ascii_lowercase())
                }
                (Some(c), None) => KeyCode::Char(c),
                _ => {
                    return Err(format!(
                        "`{text}` is not a key: write a character, ctrl-X, alt-X, f1..f12, enter, esc, tab, space, up, down, home, end, pageup or pagedown"
                    ));
                }
            }
        }
    };
    Ok(Key { code, modifiers })
}

/// How a key is written in hints.
pub fn key_label(key: &Key) -> String {
    let base = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Enter => "Enter".to_string(),
        KeyCode::Esc => "Esc".to_string(),
        KeyCode::Tab => "Tab".to_string(),
        KeyCode::BackTab => "S-Tab".to_string(),
        KeyCode::Up => "↑".to_string(),
        KeyCode::Down => "↓".to_string(),
        KeyCode::Left => "←".to_string(),
        KeyCode::Right => "→".to_string(),
        KeyCode::Home => "Home".to_string(),
        KeyCode::End => "End".to_string(),
        KeyCode::PageUp => "PgUp".to_string(),
        KeyCode::PageDown => "PgDn".to_string(),
        other => format!("{other:?}"),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("^{}", base.to_ascii_uppercase())
    } else if key.modifiers.contains(KeyModifiers::ALT) {
        format!("Alt-{base}")
    } else {
        base
    }
}

/// The built-in table with `overrides` (an action's keys replaced everywhere it is
/// bound), made once for the life of the process.
pub fn table_with(overrides: &[(Action, Vec<Key>)]) -> &'static [Binding] {
    if overrides.is_empty() {
        return BINDINGS;
    }
    let table: Vec<Binding> = BINDINGS
        .iter()
        .map(
            |b| match overrides.iter().find(|(action, _)| *action == b.action) {
                Some((_, keys)) => Binding {
                    keys: Box::leak(keys.clone().into_boxed_slice()),
                    label: Box::leak(
                        keys.first()
                            .map(key_label)
                            .unwrap_or_default()
                            .into_boxed_str(),
                    ),
                    action: b.action,
                    hint: b.hint,
                    help: b.help,
                    contexts: b.contexts,
                },
                None => Binding { ..*b },
            },
        )
        .collect();
    Box::leak(table.into_boxed_slice())
}

/// Puts the config file's keys in force for this process (the first call wins).
pub fn install(overrides: &[(Action, Vec<Key>)]) {
    let _ = TABLE.set(table_with(overrides));
}

/// How the first key bound to `action` is written (`?` when nothing binds it).
pub fn label_of(action: Action) -> &'static str {
    bindings()
        .iter()
        .find(|b| b.action == action)
        .map_or("?", |b| b.label)
}

/// The action bound to `event` in `context`, if any.
pub fn lookup(context: Context, event: &KeyEvent) -> Option<Action> {
    lookup_in(bindings(), context, event)
}

pub fn lookup_in(table: &[Binding], context: Context, event: &KeyEvent) -> Option<Action> {
    table
        .iter()
        .filter(|b| b.contexts.contains(&context))
        .find(|b| b.keys.iter().any(|k| matches(k, event)))
        .map(|b| b.action)
}

/// `(label, hint)` pairs for the footer in `context`.
pub fn hints(context: Context) -> impl Iterator<Item = (&'static str, &'static str)> {
    bindings()
        .iter()
        .filter(move |b| !b.hint.is_empty() && b.contexts.contains(&context))
        .map(|b| (b.label, b.hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn letters_are_text_in_the_composer_but_commands_elsewhere() {
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Context::Queue, &q), Some(Action::Quit));
        assert_eq!(lookup(Context::Composer, &q), None);
        assert_eq!(lookup(Context::Editor, &q), None);
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Context::Composer, &ctrl_c), Some(Action::CtrlC));
    }

    #[test]
    fn context_bindings_win_over_general_ones() {
        let enter = key(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(lookup(Context::Queue, &enter), Some(Action::OpenCall));
        assert_eq!(lookup(Context::Composer, &enter), Some(Action::SendMessage));
        assert_eq!(lookup(Context::Transcript, &enter), Some(Action::Expand));
        let esc = key(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(lookup(Context::Editor, &esc), Some(Action::EditorCancel));
        assert_eq!(lookup(Context::Help, &esc), Some(Action::Back));
    }

    #[test]
    fn shifted_letters_match_with_or_without_the_shift_flag() {
        let with_shift = key(KeyCode::Char('H'), KeyModifiers::SHIFT);
        let without = key(KeyCode::Char('H'), KeyModifiers::NONE);
        assert_eq!(
            lookup(Context::Queue, &with_shift),
            Some(Action::ToggleHoldTool)
        );
        assert_eq!(
            lookup(Context::Queue, &without),
            Some(Action::ToggleHoldTool)
        );
    }

    #[test]
    fn every_action_reachable_from_main_has_a_help_line() {
        for binding in BINDINGS {
            assert!(!binding.help.is_empty(), "{:?} has no help", binding.action);
            assert!(
                !binding.contexts.is_empty(),
                "{:?} applies nowhere",
                binding.action
            );
        }
        let footer: Vec<_> = hints(Context::Queue).map(|(_, h)| h).collect();
        assert!(
            footer.contains(&"answer") && footer.contains(&"quit"),
            "{footer:?}"
        );
    }

    #[test]
    fn editor_and_composer_commands_leave_the_textarea_keys_alone() {
        // ratatui-textarea's own emacs-like bindings (^C is its copy: the console takes
        // it for quitting, as codex does).
        // ^J is the composer's new line on purpose, as in codex.
        let taken_ctrl = "mhdkwnpfbaeuryxv";
        let taken_alt = "hdfb<>][npv";
        for binding in BINDINGS
            .iter()
            .filter(|b| b.contexts.contains(&C::Editor) || b.contexts.contains(&C::Composer))
        {
            for key in binding.keys {
                let KeyCode::Char(c) = key.code else {
                    continue;
                };
                if key.modifiers == KeyModifiers::CONTROL {
                    assert!(!taken_ctrl.contains(c), "^{c} is the textarea's");
                }
                if key.modifiers == KeyModifiers::ALT {
                    assert!(!taken_alt.contains(c), "Alt-{c} is the textarea's");
                }
                assert!(
                    !key.modifiers.is_empty() && key.modifiers != KeyModifiers::SHIFT,
                    "{:?}: a plain letter is text in the editor and the composer",
                    binding.action
                );
            }
        }
    }
}
