#!/usr/bin/env python3
"""codex-manager's Python SDK approvals and tool-input flow, walked against a Switchboard
server on the real codex.

Standard library only (the HTTP and websocket helpers of remote_skills_flow.py). Every
request is the one the SDK sends, and every reply is read the way the SDK reads it (see
shared/docs/codex-manager-approvals-api.md):

  1. sessions.create(approval_policy="untrusted", filesystem_sandbox="danger-full-access")
  2. stream: the app_server.request.item.command_execution.request_approval signal, then
     the `approval` event; session(id).approvals.list() -> approvals.decide(accept,
     scope="turn"), the typed facade's response shape, `approval_resolved`, then the turn
     completes with the command's output (and the file it touched exists)
  3. session(id).tool_input.list() -> tool_input.decide(accept, answers=...), the answer
     in the reply; then the docs' decline example (response={"note": ...}): no answers
  4. a second decision on a decided id: the contract's not_found

Configuration as the SDK's from_env(): CODEX_MANAGER_API_BASE, CODEX_MANAGER_API_PREFIX,
CODEX_MANAGER_BEARER_TOKEN; SWITCHBOARD_WORK is the folder the scenario's command
touches. Exits 0 when every step behaved, 1 with a message otherwise.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_skills_flow import (  # noqa: E402
    TERMINAL,
    TIMEOUT_SECONDS,
    TOKEN,
    Failure,
    WebSocket,
    check,
    request,
    stream_url,
    turn_state,
)

WORK = os.environ.get("SWITCHBOARD_WORK", ".")
INTERVAL_SECONDS = 0.1


def send(session_id, text):
    """sessions.send_message: 202 with the turn id."""
    _, payload = request("POST", f"/sessions/{session_id}/messages", {"text": text}, allow=(400, 403, 404, 410))
    turn_id = isinstance(payload, dict) and payload.get("turnId")
    check(isinstance(turn_id, str) and turn_id, f"send response missing turnId: {payload}")
    return turn_id


def wait_turn(session_id, turn_id):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        _, detail = request("GET", f"/sessions/{session_id}", allow=(410,))
        status, reply = turn_state(detail, turn_id)
        if status in TERMINAL:
            return status, reply
        check(time.monotonic() < deadline, f"turn {turn_id} did not end in {TIMEOUT_SECONDS} s")
        time.sleep(INTERVAL_SECONDS)


def pending(session_id, route):
    """session(id).approvals.list() / .tool_input.list(): the documented `.get("data", [])` loop."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        status, listing = request("GET", f"/sessions/{session_id}/{route}", allow=(403, 410))
        check(status == 200, f"{route} list answered {status}")
        rows = listing.get("data", [])
        if rows:
            return rows
        check(time.monotonic() < deadline, f"nothing pending in {route} after {TIMEOUT_SECONDS} s")
        time.sleep(INTERVAL_SECONDS)


def typed(payload, id_key, session_id):
    """The typed facade's response models: ok | not_found | error (| reconciled)."""
    status = payload.get("status")
    check(status in ("ok", "not_found", "error", "reconciled"), f"status {status!r} in {payload}")
    check(isinstance(payload.get(id_key), str), f"{id_key} missing in {payload}")
    if status == "ok":
        check(payload.get("threadId") == session_id, f"threadId in {payload}")
    return status


def approvals_decide(approval_id, decision, scope=None):
    body = {"decision": decision}
    if scope is not None:
        body["scope"] = scope
    _, payload = request("POST", f"/approvals/{approval_id}/decision", body, allow=(404, 409, 500))
    return payload


def tool_input_decide(request_id, decision, answers=None, response=None):
    body = {"decision": decision}
    if answers is not None:
        body["answers"] = answers
    if response is not None:
        body["response"] = response
    _, payload = request("POST", f"/tool-input/{request_id}/decision", body, allow=(404, 500))
    return payload


def approval_flow(session_id):
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    ws = WebSocket(stream_url(session_id), headers)
    check(ws.status == 101, f"the websocket handshake got HTTP {ws.status}")
    ws.send_json({"type": "subscribe", "threadId": session_id})
    turn_id = send(session_id, "run the command")
    seen = []
    signal = None
    while "approval" not in seen:
        frame = ws.recv_json()
        kind = frame.get("type")
        seen.append(kind)
        if kind == "app_server.request.item.command_execution.request_approval":
            signal = frame["payload"]
            check(signal.get("method") == "item/commandExecution/requestApproval", str(signal))
            check(signal["context"].get("turnId") == turn_id, "signal for another turn")
    check(signal is not None, f"no request signal before the approval event: {seen}")

    rows = pending(session_id, "approvals")
    check(len(rows) == 1, f"{len(rows)} approvals pending")
    approval = rows[0]
    check(str(signal["requestId"]) == approval["approvalId"], f"signal {signal['requestId']} vs {approval}")
    check(approval["method"] == "item/commandExecution/requestApproval", str(approval))
    check(approval["threadId"] == session_id and approval["turnId"] == turn_id, str(approval))
    check("ran.txt" in approval["details"]["command"], str(approval["details"]))
    check(not os.path.exists(os.path.join(WORK, "ran.txt")), "the command ran before it was approved")

    decided = approvals_decide(approval["approvalId"], "accept", scope="turn")
    check(typed(decided, "approvalId", session_id) == "ok", f"decide said {decided}")
    while True:
        frame = ws.recv_json()
        if frame.get("type") == "approval_resolved":
            payload = frame["payload"]
            check(payload["approvalId"] == approval["approvalId"], str(payload))
            check(payload["status"] == "resolved" and payload.get("decision") == "accept", str(payload))
            break
    ws.close()
    again = approvals_decide(approval["approvalId"], "decline")
    check(typed(again, "approvalId", session_id) == "not_found", f"a second decision said {again}")
    status, reply = wait_turn(session_id, turn_id)
    check(status == "completed", f"turn ended {status}")
    check("RAN" in reply, f"the reply does not carry the command's output: {reply!r}")
    check(os.path.exists(os.path.join(WORK, "ran.txt")), "the approved command did not run")
    _, listing = request("GET", f"/sessions/{session_id}/approvals")
    check(listing.get("data") == [], f"still listed after the decision: {listing}")
    return reply


def tool_input_flow(session_id):
    turn_id = send(session_id, "ask me")
    rows = pending(session_id, "tool-input")
    question = rows[0]
    check(question["method"] == "item/tool/requestUserInput", str(question))
    check(question["questions"][0]["id"] == "color", str(question["questions"]))
    labels = [o["label"] for o in question["questions"][0]["options"] or []]
    check("Blue" in labels, f"options {labels}")
    decided = tool_input_decide(question["requestId"], "accept", answers={"color": {"answers": ["Blue"]}})
    check(typed(decided, "requestId", session_id) == "ok", f"decide said {decided}")
    again = tool_input_decide(question["requestId"], "accept", answers={"color": {"answers": ["Red"]}})
    check(typed(again, "requestId", session_id) == "not_found", f"a second answer said {again}")
    status, reply = wait_turn(session_id, turn_id)
    check(status == "completed", f"turn ended {status}")
    check("Blue" in reply, f"the answer did not reach the model: {reply!r}")

    # The SDK docs' own example: decline with a note. The turn goes on with no answers.
    turn_id = send(session_id, "ask me")
    question = pending(session_id, "tool-input")[0]
    decided = tool_input_decide(question["requestId"], "decline", response={"note": "manual review"})
    check(typed(decided, "requestId", session_id) == "ok", f"decline said {decided}")
    status, declined = wait_turn(session_id, turn_id)
    check(status == "completed", f"declined turn ended {status}")
    check("Blue" not in declined and "Red" not in declined, f"a declined question got answers: {declined!r}")
    return reply, declined


def main():
    _, created = request(
        "POST",
        "/sessions",
        {"cwd": WORK, "approvalPolicy": "untrusted", "filesystemSandbox": "danger-full-access"},
    )
    session_id = created["session"]["sessionId"]
    check(created["session"].get("approvalPolicy") == "untrusted", f"policy in {created['session']}")
    print(f"created session {session_id}")
    reply = approval_flow(session_id)
    print(f"approval: accepted, reply {reply!r}")
    answered, declined = tool_input_flow(session_id)
    print(f"tool input: answered {answered!r}; declined {declined!r}")
    print("PASS")


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
