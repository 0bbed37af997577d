"""Web tracking: unsigned writes into logstores created or updated with `enable_tracking`.

From a real browser: Debian's headless Chromium loads tests/js/track.html, which sends logs with
the official `@aliyun-sls/web-track-browser` package (sendBeacon and XMLHttpRequest), an image
beacon and a fetch to a logstore without tracking; the logs are read back with PullLogs through
the official SDK. Then the protocol itself: the JSON body of PutWebtracking, compressed bodies,
GET beacons, the CORS preflight, refusals that store nothing, and the rate bound.
"""
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

import lz4.block
import pytest
import requests

from conftest import ROOT, CairnServer, assert_error, make_client, pull_all, unique

WEB = ROOT / "tests" / "js"
DEADLINE = 60


def tracked_logstore(client, project, name, tracking=True):
    client.create_logstore(project, name, ttl=7, shard_count=2)
    if tracking:
        # The classic SDK's update_logstore sends every field; enable_tracking is one of them.
        client.update_logstore(project, name, ttl=7, enable_tracking=True)


def all_logs(client, project, logstore):
    """(topic, source, tags, fields) of every log in the logstore, across its shards."""
    out = []
    for shard in client.list_shards(project, logstore).get_shards_info():
        for g in pull_all(client, project, logstore, shard["shardID"]):
            tags = {t.Key: t.Value for t in g.LogTags}
            for log in g.Logs:
                out.append((g.Topic, g.Source, tags, {c.Key: c.Value for c in log.Contents}, log.Time))
    return out


def wait_for_steps(client, project, logstore, run, steps):
    """The logs of this run once every step in `steps` has arrived (fails after DEADLINE s)."""
    deadline = time.time() + DEADLINE
    while True:
        logs = [entry for entry in all_logs(client, project, logstore) if entry[3].get("run") == run]
        seen = {entry[3].get("step") for entry in logs}
        if steps <= seen:
            return logs
        assert time.time() < deadline, f"only {sorted(seen)} of {sorted(steps)} arrived in {DEADLINE} s"
        time.sleep(0.1)


def track_url(server, path):
    return f"http://127.0.0.1:{server.port}{path}"


def track_post(server, project, logstore, body, headers=None, query="APIVersion=0.6.0"):
    h = {"Host": f"{project}.localhost", "Content-Type": "text/plain;charset=UTF-8"}
    h.update(headers or {})
    return requests.post(track_url(server, f"/logstores/{logstore}/track?{query}"), data=body, headers=h,
                         proxies={"http": None}, timeout=30)


# ------------------------------------------------------------------------------------------------
# The browser


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_server():
    """Serves tests/js (the page and the npm package) on its own origin, as a site would."""
    if not (WEB / "node_modules" / "@aliyun-sls" / "web-track-browser").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `npm ci` in tests/js (scripts/test.sh does)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WEB))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: scripts/test.sh installs it (apt-get install chromium)")
    return path


def test_the_official_browser_sdk_writes_from_headless_chromium(cairn_server, client, project, web_server):
    tracked_logstore(client, project, "web-logs")
    tracked_logstore(client, project, "no-tracking", tracking=False)
    run = uuid.uuid4().hex
    query = "&".join(f"{k}={v}" for k, v in {
        "host": f"http://{project}.localhost:{cairn_server.port}",
        "project": project, "logstore": "web-logs", "notrack": "no-tracking", "run": run,
    }.items())
    profile = tempfile.mkdtemp(prefix="cairn-chromium-")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    browser = subprocess.Popen(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-proxy-server", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", f"{web_server}/track.html?{query}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    try:
        logs = wait_for_steps(client, project, "web-logs", run, {"one", "big", "big2", "image", "done"})
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    by_step = {entry[3]["step"]: entry for entry in logs}
    assert len(logs) == 5, [entry[3]["step"] for entry in logs]
    done = by_step["done"][3]
    assert "error" not in done, done
    # The page saw the refusal, and could read its answer (CORS).
    assert (done["refused_status"], done["refused_cors"]) == ("401", "true"), done
    topic, source, tags, one, log_time = by_step["one"]
    assert (topic, source, tags) == ("browser", "chromium", {"page": "track.html"})
    assert one == {"run": run, "step": "one", "n": "1", "nested": '{"a":[1,2]}'}
    assert abs(log_time - time.time()) < 600, "tracked logs take the time they arrive"
    assert len(by_step["big"][3]["pad"]) == 40000
    assert by_step["big2"][3]["text"] == "héllo ✓"
    image = by_step["image"][3]
    assert "Chrome" in image["__userAgent__"], image
    assert image["__referer__"].startswith(web_server), image
    # The refused write stored nothing (it was answered before anything else was sent).
    assert all_logs(client, project, "no-tracking") == []


# ------------------------------------------------------------------------------------------------
# The protocol


def test_put_webtracking_bodies_in_every_encoding(cairn_server, client, project):
    tracked_logstore(client, project, "api")
    body = json.dumps({"__topic__": "t", "__source__": "s", "__tags__": {"k": "v"},
                       "__logs__": [{"a": "1", "__time__": "1"}, {"b": "2"}]}).encode()
    variants = [
        ({}, body),
        ({"x-log-compresstype": "lz4", "x-log-bodyrawsize": str(len(body))}, lz4.block.compress(body)[4:]),
        ({"x-log-compresstype": "deflate", "x-log-bodyrawsize": str(len(body))}, zlib.compress(body)),
        ({"x-log-compresstype": "gzip", "x-log-bodyrawsize": str(len(body))}, zlib.compress(body)),
    ]
    before = time.time()
    for headers, payload in variants:
        r = track_post(cairn_server, project, "api", payload,
                       dict(headers, **{"x-log-apiversion": "0.6.0", "Content-Type": "application/json"}),
                       query="")
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    logs = all_logs(client, project, "api")
    assert sorted((t, s, tuple(tags.items()), tuple(f.items())) for t, s, tags, f, _ in logs) == sorted(
        [("t", "s", (("k", "v"),), (("a", "1"),)), ("t", "s", (("k", "v"),), (("b", "2"),))] * 4)
    # __time__ is not a field: every log takes the time it arrived.
    assert all(before - 1 <= entry[4] <= time.time() + 1 for entry in logs)


def test_get_beacons_put_the_query_string(cairn_server, client, project):
    tracked_logstore(client, project, "beacons")
    r = requests.get(track_url(cairn_server, "/logstores/beacons/track"), proxies={"http": None},
                     params={"APIVersion": "0.6.0", "__topic__": "img", "__tag__:app": "x", "k": "a b", "e": "é"},
                     headers={"Host": f"{project}.localhost"}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(track_url(cairn_server, "/logstores/beacons/track_ua.gif"), proxies={"http": None},
                     params={"APIVersion": "0.6.0", "k": "gif"},
                     headers={"Host": f"{project}.localhost", "User-Agent": "ua/1", "Referer": "http://site/"},
                     timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/gif" and r.content.startswith(b"GIF89a")
    got = sorted((t, tags, f) for t, _, tags, f, _ in all_logs(client, project, "beacons"))
    assert got == sorted([("img", {"app": "x"}, {"k": "a b", "e": "é"}),
                          ("", {}, {"k": "gif", "__userAgent__": "ua/1", "__referer__": "http://site/"})])


def test_the_cors_preflight_is_answered_without_credentials(cairn_server, project):
    r = requests.options(track_url(cairn_server, "/logstores/any/track"), proxies={"http": None}, timeout=30,
                         headers={"Host": f"{project}.localhost", "Origin": "http://site.example",
                                  "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "x-log-apiversion, x-log-bodyrawsize"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "x-log-apiversion, x-log-bodyrawsize"
    # Nothing else is open without a signature.
    r = requests.options(track_url(cairn_server, "/logstores/any"), proxies={"http": None}, timeout=30,
                         headers={"Host": f"{project}.localhost"})
    assert_error(r, 401, "Unauthorized")


def test_refused_tracking_writes_store_nothing(cairn_server, client, project):
    tracked_logstore(client, project, "closed", tracking=False)
    tracked_logstore(client, project, "open")
    good = json.dumps({"__logs__": [{"k": "v"}]}).encode()
    r = track_post(cairn_server, project, "closed", good)
    assert_error(r, 401, "Unauthorized")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    refusal = r.json()["errorMessage"]
    assert "enable_tracking" in refusal
    # A stranger learns nothing of which names exist: a missing project, logstore or host gets
    # the same answer as a logstore without tracking.
    for r in [track_post(cairn_server, unique("nope"), "open", good),
              track_post(cairn_server, project, "missing", good),
              requests.post(track_url(cairn_server, "/logstores/open/track?APIVersion=0.6.0"), data=good,
                            headers={"Host": "unknown.example.com"}, proxies={"http": None}, timeout=30)]:
        assert_error(r, 401, "Unauthorized")
        assert r.json()["errorMessage"] == refusal
    for bad in [b"", b"not json", b"[]", b'{"__logs__": []}', b'{"__logs__": [{}]}', b'{"__logs__": "x"}']:
        assert_error(track_post(cairn_server, project, "open", bad), 400, "PostBodyInvalid")
    assert_error(track_post(cairn_server, project, "open", good, query=""), 400, "ParameterInvalid")
    assert_error(track_post(cairn_server, project, "open", b"\x00garbage",
                            {"x-log-compresstype": "lz4", "x-log-bodyrawsize": "100"}), 400,
                 "PostBodyUncompressError")
    # Unsigned bodies are at most 1 MiB, as sent and once decompressed.
    big = json.dumps({"__logs__": [{"k": "x" * (1 << 20)}]}).encode()
    assert_error(track_post(cairn_server, project, "open", big), 413, "PostBodyTooLarge")
    packed = zlib.compress(big)
    assert len(packed) < 1 << 20
    assert_error(track_post(cairn_server, project, "open", packed,
                            {"x-log-compresstype": "deflate", "x-log-bodyrawsize": str(len(big))}),
                 413, "PostBodyTooLarge")
    # Other routes are not opened by the tracking path's exemption.
    r = requests.post(track_url(cairn_server, "/logstores/open/shards/lb"), data=b"x", proxies={"http": None},
                      headers={"Host": f"{project}.localhost"}, timeout=30)
    assert_error(r, 401, "Unauthorized")
    assert all_logs(client, project, "closed") == [] and all_logs(client, project, "open") == []
    # Turning tracking on opens the logstore, turning it off closes it again.
    client.update_logstore(project, "closed", ttl=7, enable_tracking=True)
    assert track_post(cairn_server, project, "closed", good).status_code == 200
    client.update_logstore(project, "closed", ttl=7, enable_tracking=False)
    assert_error(track_post(cairn_server, project, "closed", good), 401, "Unauthorized")
    assert len(all_logs(client, project, "closed")) == 1


def test_a_signed_put_webtracking_needs_tracking_too(cairn_server, client, project):
    from conftest import raw_request

    tracked_logstore(client, project, "signed", tracking=False)
    body = json.dumps({"__logs__": [{"k": "v"}]}).encode()
    headers = {"Content-Type": "application/json", "x-log-bodyrawsize": str(len(body))}
    assert_error(raw_request(cairn_server, "POST", project, "/logstores/signed/track", body=body,
                             headers=headers), 401, "Unauthorized")
    client.update_logstore(project, "signed", ttl=7, enable_tracking=True)
    r = raw_request(cairn_server, "POST", project, "/logstores/signed/track", body=body, headers=headers)
    assert r.status_code == 200, r.text
    # A wrong signature is still refused: a signed request is checked like any other.
    r = raw_request(cairn_server, "POST", project, "/logstores/signed/track", body=body, headers=headers,
                    secret="wrong")
    assert_error(r, 401, "SignatureNotMatch")
    assert len(all_logs(client, project, "signed")) == 1


def test_unsigned_tracking_is_bounded_in_rate():
    server = CairnServer(["--config", str(_config("[sls]\ntracking_requests_per_minute = 3\n"))]).start()
    try:
        client = make_client(server)
        project = unique("rate")
        client.create_project(project, "rate")
        tracked_logstore(client, project, "limited")
        good = json.dumps({"__logs__": [{"k": "v"}]}).encode()
        codes = [track_post(server, project, "limited", good).status_code for _ in range(5)]
        # A minute's worth (3) is taken at once; no test machine takes 20 s for five requests.
        assert codes[:3] == [200, 200, 200] and codes[3:] == [503, 503], codes
        r = track_post(server, project, "limited", good)
        assert_error(r, 503, "ServerBusy")
        assert len(all_logs(client, project, "limited")) == 3
        # Signed requests are not counted.
        assert client.list_logstore(project).get_logstores() == ["limited"]
    finally:
        server.cleanup()


def _config(text):
    d = Path(tempfile.mkdtemp(prefix="cairn-conf-"))
    p = d / "cairn.toml"
    p.write_text(text)
    return p


def test_an_unknown_host_is_told_the_configured_endpoints(cairn_server):
    from conftest import http_date, sign_v1

    h = {"Date": http_date(), "x-log-apiversion": "0.6.0", "x-log-signaturemethod": "hmac-sha1",
         "x-log-bodyrawsize": "0"}
    sign_v1("GET", "/", {}, h, secret=cairn_server.secret, ak=cairn_server.ak)
    h["Host"] = "proj.cn-hangzhou.log.aliyuncs.com"
    r = requests.get(track_url(cairn_server, "/"), headers=h, proxies={"http": None}, timeout=30)
    assert_error(r, 400, "ParameterInvalid")
    msg = r.json()["errorMessage"]
    assert "proj.cn-hangzhou.log.aliyuncs.com" in msg and "localhost" in msg and "sls.endpoints" in msg, msg
