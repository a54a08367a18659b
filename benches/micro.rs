//! Micro benchmarks of the hot paths: `cargo bench --bench micro`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use switchboard::bridge::transcript::{Transcript, TranscriptEntry};
use switchboard::protocol::{Message, ServerRequest, parse_tool_call_result};

const TOOL_CALL_LINE: &str = r#"{"method":"item/tool/call","id":0,"params":{"threadId":"01a1fdef-14b9-7a61-9e00-4f08468a89a1","turnId":"01a1fdef-14cf-70d1-bf27-aba5beb70d10","callId":"call_resp_0","namespace":null,"tool":"lookup_ticket","arguments":{"ticket_id":"T-1"}}}"#;

fn protocol(c: &mut Criterion) {
    c.bench_function("decode and type an item/tool/call line", |b| {
        b.iter(|| {
            let message =
                Message::decode(black_box(TOOL_CALL_LINE)).unwrap_or_else(|e| panic!("{e}"));
            let Message::Request(request) = message else {
                panic!("not a request")
            };
            black_box(ServerRequest::from_request(&request).ok())
        })
    });
    let answer = json!({"contentItems": [{"type": "inputText", "text": "ticket T-1: open"}], "success": true});
    c.bench_function("validate a tool-call result", |b| {
        b.iter(|| black_box(parse_tool_call_result(black_box(answer.clone())).is_ok()))
    });
}

fn transcript(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("switchboard-micro-{}", std::process::id()));
    let mut persisted = Transcript::persisted(&dir, "bench").unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("append a transcript row (written to disk)", |b| {
        b.iter(|| {
            let entry = TranscriptEntry::UserMessage {
                text: "look up ticket T-1".to_string(),
            };
            black_box(
                persisted
                    .append(0, Some("turn".to_string()), entry)
                    .1
                    .is_ok(),
            )
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn console(c: &mut Criterion) {
    let app =
        switchboard::lab::console::loaded_app(1, 10_000, 1_000).unwrap_or_else(|e| panic!("{e}"));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function(
        "render a 160x48 frame: 10,000 rows, 1,000 pending calls",
        |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| switchboard::console::ui::render(&app, frame))
                    .unwrap_or_else(|e| panic!("{e}"));
            })
        },
    );
}

criterion_group!(benches, protocol, transcript, console);
criterion_main!(benches);
