#!/usr/bin/env python3
"""A remote handler on the stream signal, as codex-manager's SDK runs one, timed per turn.

Standard library only, on the same wire contract as remote_skills_flow.py (whose
websocket client and request helpers it uses): subscribe to the session's stream, send a
message, answer each `app_server.request.item.tool.call` signal over HTTP
(respond_to_signal), and end the turn on its `app_server.turn.completed` frame.

Usage: bench_stream_handler.py SESSION_ID TURNS WARM_UP PROMPT
Configuration as the SDK's from_env(): CODEX_MANAGER_API_BASE, CODEX_MANAGER_API_PREFIX,
CODEX_MANAGER_BEARER_TOKEN. Prints {"turnsMs": [...]} for the timed turns; exits 1 with
a message on any failure.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_skills_flow import TOKEN, Failure, WebSocket, check, request, stream_url, submit  # noqa: E402

SIGNAL = "app_server.request.item.tool.call"
COMPLETED = "app_server.turn.completed"


def main():
    session_id, turns, warm_up, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    ws = WebSocket(stream_url(session_id), headers)
    check(ws.status == 101, f"the websocket handshake got HTTP {ws.status}")
    ws.send_json({"type": "subscribe", "threadId": session_id})
    while ws.recv_json().get("type") != "subscribed":
        pass
    times = []
    for n in range(warm_up + turns):
        begin = time.monotonic()
        _, sent = request("POST", f"/sessions/{session_id}/messages", {"text": prompt})
        turn_id = sent.get("turnId")
        check(isinstance(turn_id, str) and turn_id, f"no turnId in {sent}")
        while True:
            frame = ws.recv_json()
            kind = frame.get("type")
            payload = frame.get("payload") or {}
            if kind == SIGNAL:
                outcome = submit(str(payload["requestId"]), "ok")
                check(outcome == "ok", f"answer to the signal: {outcome}")
            elif kind == COMPLETED and payload["params"]["turn"]["id"] == turn_id:
                status = payload["params"]["turn"].get("status")
                check(status == "completed", f"turn {turn_id} ended {status}")
                break
        if n >= warm_up:
            times.append((time.monotonic() - begin) * 1000.0)
    ws.close()
    print(json.dumps({"turnsMs": times}))


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
