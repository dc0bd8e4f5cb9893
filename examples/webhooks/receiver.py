"""A small webhook receiver: verifies each delivery's Standard Webhooks signature and prints it.

    python examples/webhooks/receiver.py SECRET_FILE [--port 8900]

Point Termshift at it with `python starter.py webhooks add http://127.0.0.1:8900/ --secret-file
SECRET_FILE`. It answers 204 to what verifies (Termshift marks it delivered) and 401 to what does
not (Termshift retries it, and `webhooks list` shows why). A real receiver also drops a
`webhook-id` it has handled before: delivery is at least once.
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("secret_file", type=Path)
    parser.add_argument("--port", type=int, default=8900)
    arguments = parser.parse_args()
    verifier = Webhook(arguments.secret_file.read_text().strip())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                message = verifier.verify(body, dict(self.headers))
            except WebhookVerificationError as error:
                print(f"refused {self.headers.get('webhook-id')}: {error}", flush=True)
                self._answer(401)
                return
            data = message["data"]
            where = f" {data['contract_id']} #{data['sequence']}" if "sequence" in data else ""
            print(f"{message['type']}{where} {self.headers['webhook-id']}", flush=True)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
    print(f"Listening on http://127.0.0.1:{arguments.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
