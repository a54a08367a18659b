"""Example command handler: reads the call as JSON on stdin, prints plain text.

Plain stdout becomes one inputText item; exit code 0 means success.
"""
import json
import sys

TICKETS = {
    "T-1": ("open", "dana", "Customer cannot reset their password"),
    "T-2": ("pending", "lee", "Invoice shows the wrong VAT rate"),
    "T-3": ("closed", "sam", "Login page slow in the morning"),
}

call = json.load(sys.stdin)
ticket_id = str((call.get("arguments") or {}).get("ticket_id", "")).strip()
if ticket_id not in TICKETS:
    print(f"no ticket {ticket_id!r}; known tickets: {', '.join(sorted(TICKETS))}")
    sys.exit(1)
status, owner, summary = TICKETS[ticket_id]
print(f"ticket {ticket_id}: {status}, owner {owner}: {summary}")
