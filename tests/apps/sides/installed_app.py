"""An app laid out as a package under src/ and installed with `pip install -e .`: gunicorn finds
it only through the environment it was installed into. /items busy-waits ITEMS_MS (a constant
the head commit of the test changes: a real slowdown in the code)."""

import time

ITEMS_MS = 0.0


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/items":
        end = time.perf_counter() + ITEMS_MS / 1000
        while time.perf_counter() < end:
            pass
    body = f"{__file__}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
