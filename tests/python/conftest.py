"""Fixtures that run the real `cairn` binary and point the official Python SDK at it.

The SDK addresses a project as `<project>.<endpoint>`. The endpoint is `localhost`; every request
reaches Cairn through HTTP_PROXY, which Cairn accepts (absolute-form request targets), so no DNS
set-up is needed.

Besides the fixtures this module holds the helpers the tests share: LogGroup builders, a reader
that drains a shard, and a v1 signer written from the documented string-to-sign, used to send
requests the SDK would never send.
"""
import base64
import email.utils
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
import requests.adapters

AK = "cairn-test-ak"
SECRET = "cairn-test-secret"
ENDPOINT = "localhost"
REGION = "cn-hangzhou"
ROOT = Path(__file__).resolve().parents[2]
KEY_SPACE = 1 << 128
START_TIMEOUT = 60


def _binary():
    path = os.environ.get("CAIRN_BIN") or str(ROOT / "target" / "debug" / "cairn")
    if not os.access(path, os.X_OK):
        pytest.exit(f"cairn binary not found at {path}: build it (cargo build --bin cairn) or set CAIRN_BIN", 2)
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CairnServer:
    """One `cairn serve` process on a free port with its own data directory.

    `restart()` keeps port and data directory, so clients keep working across it.
    """

    def __init__(self, extra_args=()):
        self.port = _free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="cairn-pytest-")
        self.data_dir = os.path.join(self._tmp.name, "data")
        self.log_path = os.path.join(self._tmp.name, "server.log")
        self.extra_args = list(extra_args)
        self.ak = AK
        self.secret = SECRET
        self.proc = None
        self._log = None

    @property
    def proxy(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ, CAIRN_ACCESS_KEY_ID=self.ak, CAIRN_ACCESS_KEY_SECRET=self.secret)
        # Rejected requests are logged at debug level: their reasons end up in failure reports.
        env.setdefault("CAIRN_LOG", "info,cairn=debug")
        env.setdefault("NO_COLOR", "1")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [_binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
             *self.extra_args],
            env=env, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cairn exited with {self.proc.returncode} during start-up:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"cairn did not listen on port {self.port} within {START_TIMEOUT}s:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _closed(self):
        if self._log:
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL: no chance to flush or clean up."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._closed()
        return self.proc.returncode if self.proc else None

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code (SIGKILL after `timeout`)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError(f"cairn ignored SIGTERM for {timeout}s:\n{self.log()}")
        self._closed()
        return self.proc.returncode if self.proc else None

    def restart(self, graceful=True):
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    def cleanup(self):
        self.kill()
        self._tmp.cleanup()


def use_proxy(server):
    """Routes every `requests` call without explicit proxies (the SDK's) to `server`."""
    for k in ("HTTP_PROXY", "http_proxy"):
        os.environ[k] = server.proxy
    for k in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(k, None)


def _nodelay_proxy_manager(orig):
    """urllib3 leaves Nagle's algorithm on for connections to a proxy. Through the proxy trick
    that makes every request with a body wait for the server's delayed ACK (~40 ms), because
    http.client sends headers and body in separate writes. Setting TCP_NODELAY on the proxy
    connection (which is the connection to Cairn) changes only timing, not a byte on the wire."""

    def proxy_manager_for(self, proxy, **kw):
        kw.setdefault("socket_options", [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        return orig(self, proxy, **kw)

    return proxy_manager_for


requests.adapters.HTTPAdapter.proxy_manager_for = _nodelay_proxy_manager(
    requests.adapters.HTTPAdapter.proxy_manager_for)

_SERVERS = []


@pytest.fixture(scope="session")
def cairn_server():
    server = CairnServer().start()
    _SERVERS.append(server)
    use_proxy(server)
    yield server
    try:
        code = server.stop()
        assert code == 0, f"cairn exited with {code} on SIGTERM:\n{server.log()[-4000:]}"
    finally:
        _SERVERS.remove(server)
        server.cleanup()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches what the server logged during a failed test to its report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for server in _SERVERS:
            start = item.stash.get(_LOG_START, {}).get(id(server), 0)
            text = server.log_since(start) if server.log_size() >= start else server.log()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            state = "running" if server.running() else f"exited ({server.proc.returncode})"
            rep.sections.append((f"cairn server output (port {server.port}, {state})", text or "(empty)"))


_LOG_START = pytest.StashKey()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_LOG_START] = {id(s): s.log_size() for s in _SERVERS}


def make_client(server, secret=None, ak=None, **kw):
    from aliyun.log import LogClient

    use_proxy(server)
    return LogClient(ENDPOINT, ak or server.ak, secret or server.secret, **kw)


@pytest.fixture
def client(cairn_server):
    return make_client(cairn_server)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def project(client):
    name = unique("pt")
    client.create_project(name, "python suite")
    yield name
    try:
        client.delete_project(name)
    except Exception:
        pass


# ------------------------------------------------------------------------------------------------
# LogGroups


def log_item(timestamp, contents, time_ns):
    """A LogItem with exactly this time and nanosecond part (the SDK replaces a 0 by 'now')."""
    from aliyun.log import LogItem

    item = LogItem(timestamp=timestamp, contents=contents)
    item.set_time_nano_part(time_ns)
    return item


def put_request(project, logstore, topic, source, items, tags=None, hash_key=None, compress_type=None,
                compress=True):
    from aliyun.log import PutLogsRequest

    return PutLogsRequest(project, logstore, topic=topic, source=source, logitems=items, hashKey=hash_key,
                          compress=compress, logtags=tags, compress_type=compress_type)


def expected_group(req):
    """What reading back `req` must give: (topic, source, tags, [(time, time_ns, contents)])."""
    return (
        req.get_topic() or "",
        req.get_source(),
        [(k, v) for k, v in (req.get_log_tags() or [])],
        [(it.get_time(), it.get_time_nano_part(), [(k, v) for k, v in it.get_contents()])
         for it in req.get_log_items()],
    )


def group_fields(g):
    """The same shape as `expected_group`, from a pulled LogGroup."""
    return (
        g.Topic,
        g.Source,
        [(t.Key, t.Value) for t in g.LogTags],
        [(l.Time, l.Time_ns, [(c.Key, c.Value) for c in l.Contents]) for l in g.Logs],
    )


def pull_all(client, project, logstore, shard, count=1000, cursor=None, **kw):
    """Every LogGroup of a shard from `cursor` (default: begin) to the end, in order."""
    if cursor is None:
        cursor = client.get_cursor(project, logstore, shard, "begin").get_cursor()
    groups = []
    while True:
        res = client.pull_logs(project, logstore, shard, cursor, count, **kw)
        n = res.get_loggroup_count()
        got = list(res.get_loggroup_list().LogGroups)
        assert len(got) == n, f"x-log-count {n} but the body holds {len(got)} LogGroups"
        if n == 0:
            assert res.get_next_cursor() == cursor, "an empty pull returns the request cursor"
            return groups
        assert cursor_int(res.get_next_cursor()) == cursor_int(cursor) + n, "one cursor step per LogGroup"
        groups.extend(got)
        cursor = res.get_next_cursor()


def cursor_int(c):
    return int(base64.b64decode(c))


def cursor_str(n):
    return base64.b64encode(str(n).encode()).decode()


def even_begin(i, n):
    return i * KEY_SPACE // n


def key_hex(k):
    return "%032x" % k


def shard_for_key(shards, key):
    """The readwrite shard owning a 32-hex key (the last shard also owns ff..ff)."""
    k = int(key, 16)
    for s in shards:
        if s["status"] != "readwrite":
            continue
        b, e = int(s["inclusiveBeginKey"], 16), int(s["exclusiveEndKey"], 16)
        if b <= k < e or (k == e == KEY_SPACE - 1):
            return s["shardID"]
    raise AssertionError(f"no readwrite shard owns {key}")


# ------------------------------------------------------------------------------------------------
# Raw requests, signed with a v1 signature built from the documented string-to-sign


def http_date(t=None):
    return email.utils.formatdate(time.time() if t is None else t, usegmt=True)


def sign_v1(method, path, params, headers, secret=SECRET, ak=AK):
    """Adds `Authorization: LOG ak:sig` to `headers`.

    StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Date \\n
                   sorted lowercase x-log-*/x-acs-* headers except x-log-date, each `name:value\\n`
                   path [? sorted key=value joined by &]
    """
    lower = {k.lower(): v for k, v in headers.items()}
    canon = "".join(
        f"{k}:{lower[k]}\n" for k in sorted(lower)
        if (k.startswith("x-log-") or k.startswith("x-acs-")) and k != "x-log-date"
    )
    resource = path
    if params:
        resource += "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
    sts = "\n".join([method, lower.get("content-md5", ""), lower.get("content-type", ""), lower.get("date", ""),
                     canon + resource])
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers["Authorization"] = f"LOG {ak}:{sig}"
    return headers


def raw_request(server, method, project, path, params=None, body=b"", headers=None, date=None,
                secret=None, ak=None, sign=True):
    """Sends one v1-signed request the way the SDK would, through the proxy, and returns the
    `requests.Response`. `headers` override the defaults (a value of None removes one)."""
    h = {
        "Date": date or http_date(),
        "x-log-apiversion": "0.6.0",
        "x-log-signaturemethod": "hmac-sha1",
        "x-log-bodyrawsize": "0",
    }
    if body:
        h["Content-MD5"] = hashlib.md5(body).hexdigest().upper()
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    if sign:
        sign_v1(method, path, params or {}, h, secret=secret or server.secret, ak=ak or server.ak)
    host = f"{project}.{ENDPOINT}" if project else ENDPOINT
    h["Host"] = host
    return requests.request(method, f"http://{host}{path}", params=params, data=body, headers=h,
                            proxies={"http": server.proxy}, timeout=60)


def assert_error(resp, status, code):
    """An SLS error response: status, JSON body with errorCode/errorMessage, a request id."""
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("x-log-requestid"), "every response carries x-log-requestid"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("errorCode") == code, body
    assert isinstance(body.get("errorMessage"), str) and body["errorMessage"], body


def assert_sdk_error(excinfo, status, code):
    e = excinfo.value
    assert e.get_error_code() == code, f"expected {code}, got {e.get_error_code()}: {e.get_error_message()}"
    assert e.resp_status == status, f"{code}: expected HTTP {status}, got {e.resp_status}"
    assert e.get_request_id(), "error responses carry x-log-requestid"


def index_state(server, project, logstore):
    """How far the background indexer reached: GetIndex's `x-cairn-indexing` header."""
    import json
    r = raw_request(server, "GET", project, f"/logstores/{logstore}/index")
    assert r.status_code == 200, r.text
    return json.loads(r.headers["x-cairn-indexing"])


def wait_indexed(server, project, logstore, timeout=180):
    """Waits until every stored log of the logstore is indexed."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = index_state(server, project, logstore)
        if state["complete"]:
            assert state["indexedLogGroups"] == state["totalLogGroups"]
            return state
        time.sleep(0.02)
    raise AssertionError(f"indexing did not complete within {timeout}s: {state}\n{server.log()[-4000:]}")
