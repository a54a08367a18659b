#!/usr/bin/env python3
"""codex-manager's Python SDK remote-skills flow, walked against a Switchboard server.

Standard library only. Every request is the one the SDK sends, in the SDK's order, and
every reply is read the way the SDK reads it (see shared/docs/codex-manager-api.md):

  1. remote_skills.create_session: POST /api/sessions with dynamicTools
  2. skills.send_and_handle (polling): POST .../messages, then drain GET .../tool-calls,
     answer POST /api/tool-calls/{id}/response, poll GET /api/sessions/{id} until the
     turn is terminal, with the assistant reply in the same response
  3. on_app_server_request("item.tool.call") + respond_to_signal (stream): websocket
     /api/stream?threadId=..., subscribe, ping, the signal, the answer, the raw
     `server_request`, and the raw `notification` of turn/completed (what codex-manager's
     smoke test and web UI wait for)
  4. lifecycle exit: DELETE /api/sessions/{id}, then 410 on the session

Configuration as the SDK's from_env(): CODEX_MANAGER_API_BASE, CODEX_MANAGER_API_PREFIX,
CODEX_MANAGER_BEARER_TOKEN. Exits 0 when every step behaved, 1 with a message otherwise.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ.get("CODEX_MANAGER_API_BASE", "http://127.0.0.1:3001").rstrip("/")
PREFIX = "/" + os.environ.get("CODEX_MANAGER_API_PREFIX", "/api").strip("/")
TOKEN = os.environ.get("CODEX_MANAGER_BEARER_TOKEN", "").strip()
TERMINAL = {"completed", "complete", "failed", "error", "interrupted", "canceled", "cancelled"}
TIMEOUT_SECONDS = 60
INTERVAL_SECONDS = 0.25

SKILLS = {
    "lookup_ticket": {
        "description": "Look up a support ticket by id",
        "inputSchema": {
            "type": "object",
            "properties": {"ticket_id": {"type": "string"}},
            "required": ["ticket_id"],
        },
    }
}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def lookup_ticket(ticket_id=None, **_):
    return {"status": "open", "ticket": ticket_id, "owner": "dana"}


def skill_result_text(result):
    # The SDK sends a str as is, anything else as JSON with sorted keys.
    return result if isinstance(result, str) else json.dumps(result, sort_keys=True)


def dynamic_tools():
    return [
        {"name": name, "description": spec["description"], "inputSchema": spec["inputSchema"]}
        for name, spec in sorted(SKILLS.items())
    ]


def catalog_text():
    lines = ["You can call these remote skills:"]
    for name, spec in sorted(SKILLS.items()):
        lines.append(f"- {name}: {spec['description']}")
    return "\n".join(lines)


def request(method, path, body=None, allow=(), token=TOKEN):
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + PREFIX + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, content_type, raw = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as error:
        status, content_type, raw = error.code, error.headers.get("Content-Type", ""), error.read()
    # Without this content type the SDK hands back a string and every step breaks.
    check("application/json" in content_type, f"{method} {path}: content type {content_type!r}")
    payload = json.loads(raw) if raw else None
    if not 200 <= status < 300 and status not in allow:
        raise Failure(f"{method} {path} -> HTTP {status}: {payload}")
    return status, payload


def run_skill(tool, arguments):
    check(tool in SKILLS, f"a call for unknown skill {tool!r}")
    if isinstance(arguments, dict):
        result = lookup_ticket(**arguments)
    elif arguments is None:
        result = lookup_ticket()
    else:
        result = lookup_ticket(arguments)
    return skill_result_text(result)


def submit(request_id, text):
    """respond_to_pending_call / respond_to_signal: up to 3 attempts, classified by status."""
    body = {"response": {"contentItems": [{"type": "inputText", "text": text}], "success": True}}
    for attempt in range(1, 4):
        _, payload = request("POST", f"/tool-calls/{request_id}/response", body, allow=(404, 409, 500))
        check(isinstance(payload, dict) and "status" in payload, f"malformed answer reply {payload}")
        status = payload["status"]
        if status == "ok":
            return "ok"
        if status == "conflict" and payload.get("code") == "in_flight":
            return "conflict"
        if status == "not_found":
            return "not_found"
        check(status == "error", f"unexpected answer status {payload}")
        time.sleep(0.05 * attempt)
    raise Failure(f"answer for {request_id} failed three times")


def turn_state(detail, turn_id):
    """(status, assistant reply) from one GET /api/sessions/{id}, as wait.py reads them."""
    turns = detail["thread"].get("turns") or []
    status = next((str(t.get("status", "")).strip().lower() for t in turns if t.get("id") == turn_id), "")
    replies = [
        entry["content"].strip()
        for entry in detail.get("transcript") or []
        if entry.get("turnId") == turn_id
        and entry.get("role") == "assistant"
        and entry.get("status") == "complete"
        and isinstance(entry.get("content"), str)
        and entry["content"].strip()
    ]
    reply = replies[-1] if replies else None
    if status in TERMINAL:
        # wait.assistant_reply raises at once on a terminal turn without a reply.
        check(reply is not None, f"turn {turn_id} is {status} without an assistant reply")
    return status, reply


def send(session_id, text):
    body = {"text": catalog_text() + "\n\nUser request:\n" + text, "dynamicTools": dynamic_tools()}
    _, payload = request("POST", f"/sessions/{session_id}/messages", body, allow=(400, 403, 404, 410))
    turn_id = isinstance(payload, dict) and payload.get("turnId")
    check(isinstance(turn_id, str) and turn_id, f"send response missing turnId: {payload}")
    check(payload.get("status") == "accepted" and payload.get("sessionId") == session_id, str(payload))
    return turn_id


def send_and_handle(session_id, text):
    turn_id = send(session_id, text)
    answered = set()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        _, listing = request("GET", f"/sessions/{session_id}/tool-calls", allow=(403, 410))
        rows = listing.get("data") if isinstance(listing, dict) else None
        check(isinstance(rows, list), f"sessions.tool_calls response missing data list: {listing}")
        for row in rows:
            if row.get("threadId") not in (None, session_id):
                continue
            request_id = str(row["requestId"])
            # The SDK runs the handler before checking its cache: a listed call that was
            # already answered would run its side effects again.
            check(request_id not in answered, f"call {request_id} is still listed after it was answered")
            check(isinstance(row.get("arguments"), dict), f"arguments are not parsed: {row}")
            check(row.get("status") == "pending" and row.get("method") == "item/tool/call", str(row))
            outcome = submit(request_id, run_skill(row["tool"], row["arguments"]))
            check(outcome == "ok", f"answer for {request_id}: {outcome}")
            answered.add(request_id)
        _, detail = request("GET", f"/sessions/{session_id}", allow=(410,))
        status, reply = turn_state(detail, turn_id)
        if status in TERMINAL:
            break
        check(time.monotonic() < deadline, f"turn {turn_id} did not end in {TIMEOUT_SECONDS} s")
        time.sleep(INTERVAL_SECONDS)
    for _ in range(2):  # the detail and final-status reads
        _, detail = request("GET", f"/sessions/{session_id}", allow=(410,))
        status, reply = turn_state(detail, turn_id)
    return turn_id, status, reply, answered


class WebSocket:
    """Just enough of RFC 6455 for the SDK's stream: text frames, ping, close."""

    def __init__(self, url, headers):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=TIMEOUT_SECONDS)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {parts.hostname}:{parts.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ] + [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            check(chunk, "the server closed the websocket handshake")
            response += chunk
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        status_line = head.split(b"\r\n")[0].decode()
        self.status = int(status_line.split()[1])
        if self.status != 101:
            return
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        check(accept in head, "wrong Sec-WebSocket-Accept")

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            check(chunk, "the websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _send(self, opcode, payload):
        header = bytes([0x80 | opcode])
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, value):
        self._send(0x1, json.dumps(value).encode())

    def recv_json(self):
        """The next JSON object frame; pings are answered, other frames skipped."""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            check(length < 1 << 20, f"a frame of {length} bytes: over the SDK's 1 MiB limit")
            payload = self._read(length)
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                raise Failure("the server closed the websocket")
            elif opcode == 0x1:
                try:
                    frame = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    return frame

    def close(self):
        try:
            self._send(0x8, b"")
        finally:
            self.sock.close()


def stream_url(session_id):
    parts = urllib.parse.urlsplit(BASE)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{PREFIX}/stream?threadId={session_id}"


def stream_flow(session_id):
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    ws = WebSocket(stream_url(session_id), headers)
    check(ws.status == 101, f"the websocket handshake got HTTP {ws.status}")
    ws.send_json({"type": "subscribe", "threadId": session_id})
    ws.send_json({"type": "ping"})
    kinds = []
    while "pong" not in kinds:
        kinds.append(ws.recv_json().get("type"))
    check(kinds[0] == "ready", f"first frame {kinds[0]!r}, not ready")
    turn_id = send(session_id, "call:lookup_ticket and tell me its status")
    seen = []
    answered = None
    while True:
        frame = ws.recv_json()
        kind = frame.get("type", "unknown")
        seen.append(kind)
        payload = frame.get("payload")
        if kind == "app_server.request.item.tool.call":
            # AppServerSignal.from_stream_event and respond_to_signal read these.
            check(frame.get("threadId") == session_id, f"signal threadId {frame.get('threadId')}")
            params = payload["params"]
            check(isinstance(params.get("tool"), str) and params["tool"], "signal without a tool")
            owner = (payload.get("session") or {}).get("id") or (payload.get("context") or {}).get("threadId")
            check(owner == session_id, f"signal for session {owner}")
            request_id = payload["requestId"]
            check(isinstance(request_id, (str, int)), f"requestId {request_id!r}")
            check(payload.get("method") == "item/tool/call" and payload.get("signalType") == "request", str(payload))
            check(payload["context"].get("turnId") == turn_id, "signal for another turn")
            outcome = submit(str(request_id), run_skill(params["tool"], params.get("arguments")))
            check(outcome == "ok", f"answer to the signal: {outcome}")
            answered = str(request_id)
        elif kind == "tool_call_resolved":
            check(payload["requestId"] == answered, f"resolved {payload['requestId']}, answered {answered}")
            check(payload["status"] == "resolved" and payload["success"] is True, str(payload))
        elif kind == "server_request":
            # codex-manager's raw frame: the request as app-server sent it.
            check(frame.get("threadId") == session_id, f"server_request threadId {frame.get('threadId')}")
            check(payload.get("method") == "item/tool/call", f"server_request for {payload.get('method')}")
            check(isinstance(payload.get("id"), (str, int)), f"server_request id {payload.get('id')!r}")
            check(payload["params"].get("tool") == "lookup_ticket", f"server_request params {payload['params']}")
        elif (
            kind == "notification"
            and payload.get("method") == "turn/completed"
            and payload["params"]["turn"]["id"] == turn_id
        ):
            # What codex-manager's own smoke test and web UI wait for: the raw frame.
            check(frame.get("threadId") == session_id, f"notification threadId {frame.get('threadId')}")
            break
    check(answered is not None, f"no tool-call signal in {seen}")
    signal_at = seen.index("app_server.request.item.tool.call")
    check(signal_at < seen.index("tool_call_requested") < seen.index("tool_call_resolved"), f"order: {seen}")
    check(seen.index("tool_call_requested") < seen.index("server_request"), f"order: {seen}")
    check("app_server.turn.completed" in seen, f"no turn.completed signal before its raw frame: {seen}")
    ws.close()
    _, detail = request("GET", f"/sessions/{session_id}", allow=(410,))
    status, reply = turn_state(detail, turn_id)
    check(status == "completed", f"stream turn ended {status}")
    check('"status": "open"' in reply, f"the reply does not quote the skill: {reply!r}")
    return turn_id


def main():
    # Auth: the SDK sends its token on every request and the handshake; without one, 401.
    if TOKEN:
        status, payload = request("GET", "/sessions", allow=(401,), token="")
        check(status == 401 and payload.get("status") == "error", f"no token gave {status} {payload}")
        check(WebSocket(stream_url("x"), {}).status == 401, "a websocket without the token was accepted")

    # 1. remote_skills.lifecycle(register=...) -> create_session
    _, created = request("POST", "/sessions", {"cwd": ".", "dynamicTools": dynamic_tools()})
    session_id = created["session"]["sessionId"]
    check(isinstance(session_id, str) and session_id, f"no session id in {created}")
    summary = created["session"]
    for key in ("title", "materialized", "modelProvider", "approvalPolicy", "sessionControls", "createdAt",
                "updatedAt", "cwd", "source", "projectId"):
        check(key in summary, f"session summary lacks {key}")
    for key in ("id", "preview", "modelProvider", "createdAt", "updatedAt", "cwd", "source"):
        check(key in created["thread"], f"thread lacks {key}")
    print(f"created session {session_id}")

    # 2. skills.send_and_handle(...), the polling path.
    turn_id, status, reply, answered = send_and_handle(session_id, "call:lookup_ticket please")
    check(status == "completed", f"turn {turn_id} ended {status}")
    check(len(answered) == 1, f"answered {len(answered)} calls")
    check(reply and '"status": "open"' in reply, f"the reply does not quote the skill: {reply!r}")
    print(f"polling: turn {turn_id} completed, reply {reply!r}")

    # 3. on_app_server_request("item.tool.call") + respond_to_signal, the stream path.
    turn_id = stream_flow(session_id)
    print(f"stream: turn {turn_id} completed")

    # 4. lifecycle exit: delete, then the session is gone.
    _, deleted = request("DELETE", f"/sessions/{session_id}", allow=(404, 410))
    check(deleted.get("status") in ("ok", "deleted"), f"delete said {deleted}")
    status, gone = request("GET", f"/sessions/{session_id}", allow=(410,))
    check(status == 410 and gone.get("status") == "deleted", f"after delete: {status} {gone}")
    status, gone = request("GET", f"/sessions/{session_id}/tool-calls", allow=(410,))
    check(status == 410, f"tool-calls after delete: {status}")
    print("deleted; the session answers 410")
    print("PASS")


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
