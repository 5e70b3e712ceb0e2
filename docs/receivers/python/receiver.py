"""FoxReload relay delivery webhook receiver: Python 3.10+, standard library + `standardwebhooks`.

Verifies the Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature) with
the official library (`pip install standardwebhooks`), which also rejects timestamps more than
5 minutes off; deduplicates on webhook-id (= Idempotency-Key) and answers:
  200 accepted (also for a duplicate: the relay must stop retrying), 401 bad signature,
  400 body not JSON. Any other 4xx makes the relay dead-letter the order; 5xx/429/408 or no
  answer make it retry later with the same webhook-id and the same body.

    WEBHOOK_SECRET='whsec_...' PORT=8080 python receiver.py

WEBHOOK_SECRET: the relay's webhook secret (whsec_<base64>, or a plain string: then its UTF-8
bytes are the key). Several, separated by spaces, are all accepted (a storefront that wants to
hold the old and the new secret during a rotation). PORT=0 picks a free port. HOST: 127.0.0.1.
Stripe's library verifies the other signature header, X-Relay-Signature, with the same secret
string: stripe.WebhookSignature.verify_header(body, headers["X-Relay-Signature"], secret, 300).
Never log the codes: this example logs the webhook-id, event and code count only.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1024 * 1024


def verifier(secret: str) -> Webhook:
    # The library base64-decodes whsec_ secrets; a plain secret is its own UTF-8 bytes.
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


VERIFIERS = [verifier(s) for s in os.environ.get("WEBHOOK_SECRET", "").split()]

# A real storefront records the webhook-id in the same database transaction that fulfils the
# order (a unique constraint), so a crash between the two cannot lose or double a delivery.
SEEN: set[str] = set()
SEEN_LOCK = threading.Lock()


def verified(body: bytes, headers: dict[str, str]) -> bool:
    for webhook in VERIFIERS:
        try:
            webhook.verify(body, headers, json_parse=False)
            return True
        except (WebhookVerificationError, ValueError):  # malformed headers included
            continue
    return False


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        declared = self.headers.get("Content-Length", "0")
        length = int(declared) if declared.isdigit() else -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.answer(413, {"error": "Content-Length missing or too large"})
            return
        body = self.rfile.read(length)  # verify the raw bytes, before any JSON parsing
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not verified(body, headers):
            self.answer(401, {"error": "invalid signature"})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self.answer(400, {"error": "body is not JSON"})
            return
        webhook_id = headers["webhook-id"]
        with SEEN_LOCK:
            duplicate = webhook_id in SEEN
            SEEN.add(webhook_id)
        if not duplicate:
            codes = sum(len(item.get("codes") or []) for item in payload.get("items") or [])
            # Fulfil here: payload["event"] is order.delivered, order.failed or order.cancelled.
            line = {"accepted": webhook_id, "event": payload.get("event"), "codes": codes}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        self.answer(200, {"received": True, "duplicate": duplicate})

    def answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no access log


def main() -> int:
    if not VERIFIERS:
        sys.stderr.write("set WEBHOOK_SECRET to the relay's webhook secret (whsec_...)\n")
        return 2
    host = os.environ.get("HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, int(os.environ.get("PORT", "8080"))), Handler)
    sys.stdout.write(f"listening on http://{host}:{server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
