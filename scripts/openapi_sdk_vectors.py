#!/usr/bin/env python3
"""Records requests signed by the OpenAPI SDK for SLS (alibabacloud-sls20201230, unmodified).

Writes crates/auth/tests/vectors/openapi_sdk.json, which crates/auth/tests/openapi_sdk_vectors.rs
verifies byte for byte. Each vector is one request as it reached the wire (method, path and
query still encoded, every header, the body in hex) and the exact text the SDK's signer fed to
HMAC-SHA256 (its v1 string to sign) or hashed (its v4 canonical request).

How: the SDK's clock is frozen at 2026-11-22T12:48:03Z, its HMAC and SHA-256 helpers are wrapped
to record their input, and its requests go through HTTP_PROXY to a local server that records
them and answers each with a minimal JSON body. Run it with the SDK installed:

    .venv/bin/python scripts/openapi_sdk_vectors.py
"""

import http.server
import json
import os
import sys
import threading
import urllib.parse

AK = "LTAI5tCairnTestKey"
SECRET = "cairn-test-secret-2Qz"
DATE = "Sun, 22 Nov 2026 12:48:03 GMT"
V4_DATE = "20261122T124803Z"
ENDPOINT = "cn-hangzhou.log.example.com"

captured = []  # (method, target, headers, body)
signed_texts = []


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        captured.append((self.command, self.path, list(self.headers.items()), body))
        out = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("x-log-requestid", "0")
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = handle_one

    def log_message(self, *args):
        pass


def main():
    from alibabacloud_darabonba_signature_util.signer import Signer
    from alibabacloud_gateway_sls.client import Client as Gateway
    from alibabacloud_tea_util.client import Client as UtilClient
    from alibabacloud_openapi_util.client import Client as OpenApiUtil  # noqa: F401
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_sls20201230 import models
    from alibabacloud_sls20201230.client import Client

    UtilClient.get_date_utcstring = staticmethod(lambda: DATE)
    Gateway.get_date_iso8601 = lambda self: V4_DATE
    original = Signer.hmac_sha256sign

    def recording(text, secret):
        signed_texts.append(text)
        return original(text, secret)

    Signer.hmac_sha256sign = staticmethod(recording)
    from alibabacloud_darabonba_encode_util.encoder import Encoder

    original_hash = Encoder.hash

    def recording_hash(raw, algorithm):
        if isinstance(raw, bytes) and raw.startswith((b"GET\n", b"POST\n", b"PUT\n", b"DELETE\n")):
            signed_texts.append(raw.decode())
        return original_hash(raw, algorithm)

    Encoder.hash = staticmethod(recording_hash)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["HTTP_PROXY"] = "http://127.0.0.1:%d" % server.server_address[1]
    os.environ["NO_PROXY"] = ""

    def client(version):
        config = open_api_models.Config(
            access_key_id=AK,
            access_key_secret=SECRET,
            endpoint=ENDPOINT,
            protocol="http",
            signature_version=version,
            region_id="cn-hangzhou",
        )
        return Client(config)

    vectors = []

    def record(name, call):
        before_req, before_text = len(captured), len(signed_texts)
        try:
            call()
        except Exception:
            pass  # the answers are minimal; only the request matters
        assert len(captured) == before_req + 1, (name, len(captured) - before_req)
        texts = signed_texts[before_text:]
        method, target, headers, body = captured[-1]
        url = urllib.parse.urlsplit(target)
        vectors.append(
            {
                "name": name,
                "method": method,
                "path": url.path,
                "query": url.query,
                "headers": headers,
                "body_hex": body.hex(),
                # v1: the string to sign (the only HMAC input that starts with the method);
                # v4: the canonical request (hashed; the HMAC inputs are the key derivation's).
                "signed_text": next(t for t in texts if t.startswith(method + "\n")),
            }
        )

    item = models.LogItem(
        time=1795351683,
        contents=[models.LogContent(key="level", value="info"), models.LogContent(key="msg", value="héllo")],
    )
    group = models.LogGroup(
        topic="web", source="10.0.0.1", log_tags=[models.LogTag(key="host", value="h1")], log_items=[item]
    )
    for version in ("v1", "v4"):
        c = client(version)
        p = f"{version}_"
        record(p + "list_project", lambda: c.list_project(models.ListProjectRequest(offset=0, size=100)))
        record(
            p + "create_project",
            lambda: c.create_project(models.CreateProjectRequest(project_name="proj1", description="d")),
        )
        record(
            p + "create_log_store",
            lambda: c.create_log_store(
                "proj1", models.CreateLogStoreRequest(logstore_name="ls1", ttl=7, shard_count=2)
            ),
        )
        record(p + "get_log_store", lambda: c.get_log_store("proj1", "ls1"))
        record(p + "list_shards", lambda: c.list_shards("proj1", "ls1"))
        record(
            p + "get_cursor",
            lambda: c.get_cursor("proj1", "ls1", "0", models.GetCursorRequest(from_="begin")),
        )
        record(
            p + "pull_logs",
            lambda: c.pull_logs(
                "proj1",
                "ls1",
                "1",
                models.PullLogsRequest(cursor="MTU0+NDM/0NjAz==", count=10, end_cursor="MTU1+OTk="),
            ),
        )
        record(p + "put_logs", lambda: c.put_logs("proj1", "ls1", models.PutLogsRequest(body=group)))
        record(
            p + "consumer_group_update_check_point",
            lambda: c.consumer_group_update_check_point(
                "proj1",
                "ls1",
                "cg 1",
                models.ConsumerGroupUpdateCheckPointRequest(shard=0, checkpoint="MTA=", force_success=True),
            ),
        )
        record(
            p + "split_shard",
            lambda: c.split_shard(
                "proj1", "ls1", "0", models.SplitShardRequest(key="7f000000000000000000000000000000")
            ),
        )
    server.shutdown()
    out = os.path.join(os.path.dirname(__file__), "..", "crates", "auth", "tests", "vectors", "openapi_sdk.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"sdk": sdk_version(), "date": DATE, "vectors": vectors}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(vectors)} vectors written to {os.path.normpath(out)}", file=sys.stderr)


def sdk_version():
    from importlib.metadata import version

    return {
        "alibabacloud-sls20201230": version("alibabacloud-sls20201230"),
        "alibabacloud-gateway-sls": version("alibabacloud-gateway-sls"),
    }


if __name__ == "__main__":
    main()
