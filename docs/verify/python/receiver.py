"""A complete webhook receiver for mambo EMM webhooks in Python, standard library only: HTTPS,
the Standard Webhooks signature checked with hmac over the raw body, a 5-minute timestamp
tolerance, each event processed once (dedupe on webhook-id).

    WEBHOOK_SECRET=whsec_... TLS_CERT=cert.pem TLS_KEY=key.pem PORT=8443 python3 receiver.py
"""
import base64
import hashlib
import hmac
import json
import os
import ssl
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"]
# The key is the base64 part after "whsec_".
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
TOLERANCE_SECONDS = 5 * 60
seen = set()  # use your database in production: ids must survive a restart


def verified(headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False  # too old or from the future: a replay
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    # Several "v1,<signature>" while a secret is being rotated: any one may match.
    for candidate in headers.get("webhook-signature", "").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        msg_id = self.headers["webhook-id"]
        if msg_id not in seen:
            seen.add(msg_id)
            event = json.loads(body)
            print(f"verified {msg_id} {event['type']}", flush=True)  # process the event here
        self.send_response(204)  # answer fast; do slow work after
        self.end_headers()


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8443"))), Receiver)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(os.environ["TLS_CERT"], os.environ["TLS_KEY"])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
