"""Example command handler that answers with structured content items.

A JSON object with `contentItems` on stdout is sent to codex as given.
"""
import json
import sys

ARTICLES = [
    ("Resetting a password", "https://kb.example/reset-password", {"password", "reset", "login"}),
    ("VAT rates on invoices", "https://kb.example/vat", {"invoice", "vat", "tax"}),
    ("Slow login pages", "https://kb.example/slow-login", {"slow", "login", "performance"}),
]

call = json.load(sys.stdin)
args = call.get("arguments") or {}
words = set(str(args.get("query", "")).lower().split())
limit = args.get("limit", 3)
if not isinstance(limit, int) or limit < 1:
    limit = 3
hits = [(t, u) for t, u, keys in ARTICLES if words & keys][:limit]
items = [{"type": "inputText", "text": f"{t} <{u}>"} for t, u in hits]
if not items:
    items = [{"type": "inputText", "text": "no articles match " + json.dumps(args.get("query", ""))}]
print(json.dumps({"contentItems": items, "success": True}))
