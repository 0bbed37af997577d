"""Malformed requests, sent raw (v1-signed by the test helper) or through the SDK: each gets the
documented 4xx with a JSON error body and a request id, and changes nothing."""
import hashlib
import os
import time

import lz4.block
import pytest
import zstd
from aliyun.log import LogException
from aliyun.log.proto import LogGroup

from conftest import (assert_error, assert_sdk_error, cursor_str, group_fields, log_item, pull_all, put_request,
                      raw_request, unique)

LIMIT = 10 * 1024 * 1024


def group_bytes(topic="t", n=1, value="v"):
    g = LogGroup()
    g.Topic = topic
    g.Source = "raw"
    for i in range(n):
        log = g.Logs.add()
        log.Time = 1_700_000_000
        log.Time_ns = i
        c = log.Contents.add()
        c.Key, c.Value = "k", value
    return g.SerializeToString()


def lz4_raw(data):
    return lz4.block.compress(data)[4:]     # raw block, without lz4.block's size prefix


def raw_put(server, project, logstore, body, headers=None, path=None, params=None):
    h = {"Content-Type": "application/x-protobuf", "x-log-bodyrawsize": str(len(body))}
    h.update(headers or {})
    return raw_request(server, "POST", project, path or f"/logstores/{logstore}/shards/lb", params=params,
                       body=body, headers=h)


def ends(client, project, logstore, shards):
    return [client.get_cursor(project, logstore, s, "end").get_cursor() for s in range(shards)]


@pytest.fixture
def store(client, project):
    client.create_logstore(project, "bad-input", ttl=30, shard_count=2)
    return "bad-input"


def test_well_formed_raw_puts_are_accepted(cairn_server, client, project, store):
    """The raw path works, so the rejections below are about the body: plain, lz4, zstd, and the
    Go SDK's keyless `POST /logstores/{ls}`."""
    raw = group_bytes("raw-ok")
    for body, headers in [
        (raw, {}),
        (lz4_raw(raw), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": str(len(raw))}),
        (zstd.compress(raw, 1), {"x-log-compresstype": "zstd", "x-log-bodyrawsize": str(len(raw))}),
    ]:
        r = raw_put(cairn_server, project, store, body, headers)
        assert r.status_code == 200, r.text
        assert r.headers.get("x-log-requestid")
    r = raw_put(cairn_server, project, store, raw, path=f"/logstores/{store}")
    assert r.status_code == 200, r.text
    r = raw_put(cairn_server, project, store, raw, path=f"/logstores/{store}/shards/route",
                params={"key": "f" * 32})
    assert r.status_code == 200, r.text
    groups = pull_all(client, project, store, 0) + pull_all(client, project, store, 1)
    assert len(groups) == 5
    assert all(group_fields(g) == ("raw-ok", "raw", [], [(1_700_000_000, 0, [("k", "v")])]) for g in groups)


def test_malformed_bodies_change_nothing(cairn_server, client, project, store):
    raw = group_bytes()
    before = ends(client, project, store, 2)
    cases = [
        # (body, headers, status, code)
        (raw[:-1], {}, 400, "PostBodyInvalid"),                                   # truncated
        (b"\xff\xff\xff\xff\xff", {}, 400, "PostBodyInvalid"),                    # not protobuf
        (b"\x0a\x05\x08\x01", {}, 400, "PostBodyInvalid"),                        # Log runs past the end
        (b"\x0a\x02\x12\x00", {}, 400, "PostBodyInvalid"),                        # Log without its required Time
        (lz4_raw(b"\x0a\xff" + b"\x00" * 40), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": "42"},
         400, "PostBodyInvalid"),                                                 # decompresses to garbage
        (lz4_raw(raw), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": str(len(raw) + 9)},
         400, "PostBodyUncompressError"),                                         # raw size too large
        (lz4_raw(raw), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": str(len(raw) - 3)},
         400, "PostBodyUncompressError"),                                         # raw size too small
        (b"\x00" * 64, {"x-log-compresstype": "zstd", "x-log-bodyrawsize": "64"}, 400, "PostBodyUncompressError"),
        (zstd.compress(raw, 1), {"x-log-compresstype": "zstd", "x-log-bodyrawsize": str(len(raw) - 1)},
         400, "PostBodyUncompressError"),
        (raw, {"x-log-compresstype": "snappy"}, 400, "InvalidCompressType"),
        (raw, {"x-log-compresstype": "lz5"}, 400, "InvalidCompressType"),
        (lz4_raw(raw), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": None}, 400, "MissingBodyRawSize"),
        (lz4_raw(raw), {"x-log-compresstype": "lz4", "x-log-bodyrawsize": "many"}, 400, "InvalidBodyRawSize"),
    ]
    for body, headers, status, code in cases:
        r = raw_put(cairn_server, project, store, body, headers)
        assert_error(r, status, code)
    assert ends(client, project, store, 2) == before, "rejected PutLogs must not append anything"


def test_bodies_over_10mb_are_rejected(cairn_server, client, project, store):
    before = ends(client, project, store, 2)
    big = group_bytes(value="x" * (LIMIT + 1024))
    r = raw_put(cairn_server, project, store, big)
    assert_error(r, 413, "PostBodyTooLarge")
    # Compressed small, but declared (and really) larger than 10 MB once decompressed.
    r = raw_put(cairn_server, project, store, lz4_raw(big),
                {"x-log-compresstype": "lz4", "x-log-bodyrawsize": str(len(big))})
    assert_error(r, 413, "PostBodyTooLarge")
    r = raw_put(cairn_server, project, store, zstd.compress(big, 1),
                {"x-log-compresstype": "zstd", "x-log-bodyrawsize": str(len(big))})
    assert_error(r, 413, "PostBodyTooLarge")
    assert ends(client, project, store, 2) == before


def test_nearly_10mb_group_round_trips(client, project, store):
    value = hashlib.sha256(b"seed").hexdigest() * (9 * 1024 * 1024 // 64)      # ~9 MB, hardly compressible
    items = [log_item(1_700_000_000, [("big", value[: len(value) // 2]), ("big2", value[len(value) // 2:])], 3)]
    req = put_request(project, store, "big", "s", items, hash_key="0" * 32)
    client.put_logs(req)
    got = pull_all(client, project, store, 0)
    assert len(got) == 1
    assert group_fields(got[0])[3][0][2] == [("big", value[: len(value) // 2]), ("big2", value[len(value) // 2:])]


def test_bad_cursors_and_shards(cairn_server, client, project, store):
    client.put_logs(put_request(project, store, "t", "s", [log_item(1_700_000_000, [("a", "b")], 1)],
                                hash_key="0" * 32))
    with pytest.raises(LogException) as e:
        client.pull_logs(project, store, 0, "***", 10)
    assert_sdk_error(e, 400, "ParameterInvalid")
    with pytest.raises(LogException) as e:
        client.pull_logs(project, store, 0, cursor_str(2), 10)
    assert_sdk_error(e, 400, "InvalidCursor")
    for call in (lambda: client.pull_logs(project, store, 7, cursor_str(0), 10),
                 lambda: client.get_cursor(project, store, 7, "begin"),
                 lambda: client.get_cursor_time(project, store, 7, cursor_str(0))):
        with pytest.raises(LogException) as e:
            call()
        assert_sdk_error(e, 400, "ShardNotExist")
    with pytest.raises(LogException) as e:
        client.put_logs(put_request(project, store, "t", "s", [log_item(1, [("a", "b")], 1)], hash_key="xyz"))
    assert_sdk_error(e, 400, "ParameterInvalid")
    # Things the SDK would not send.
    base = f"/logstores/{store}/shards"
    r = raw_request(cairn_server, "GET", project, f"{base}/abc", params={"type": "cursor", "from": "begin"})
    assert_error(r, 400, "ParameterInvalid")
    r = raw_request(cairn_server, "GET", project, f"{base}/0", params={"type": "cursor", "from": "yesterday"})
    assert_error(r, 400, "ParameterInvalid")
    r = raw_request(cairn_server, "GET", project, f"{base}/0", params={"type": "cursor"})
    assert_error(r, 400, "ParameterInvalid")
    r = raw_request(cairn_server, "GET", project, f"{base}/0", params={"type": "log", "count": "ten",
                                                                         "cursor": cursor_str(0)})
    assert_error(r, 400, "ParameterInvalid")
    # The Go SDK's spelling type=logs reads too.
    r = raw_request(cairn_server, "GET", project, f"{base}/0", params={"type": "logs", "count": "10",
                                                                         "cursor": cursor_str(0)},
                    headers={"Accept-Encoding": ""})
    assert r.status_code == 200, r.text
    assert r.headers["x-log-count"] == "1" and r.headers["x-log-cursor"] == cursor_str(1)


def test_missing_resources(client, project):
    ghost = unique("ghost")
    item = [log_item(1_700_000_000, [("a", "b")], 1)]
    with pytest.raises(LogException) as e:
        client.put_logs(put_request(project, "nope-store", "t", "s", item))
    assert_sdk_error(e, 404, "LogStoreNotExist")
    with pytest.raises(LogException) as e:
        client.put_logs(put_request(ghost, "nope-store", "t", "s", item))
    assert_sdk_error(e, 404, "ProjectNotExist")
    with pytest.raises(LogException) as e:
        client.pull_logs(project, "nope-store", 0, cursor_str(0), 10)
    assert_sdk_error(e, 404, "LogStoreNotExist")
    with pytest.raises(LogException) as e:
        client.get_cursor(project, "nope-store", 0, "end")
    assert_sdk_error(e, 404, "LogStoreNotExist")
    with pytest.raises(LogException) as e:
        client.get_logstore(ghost, "nope-store")
    assert_sdk_error(e, 404, "ProjectNotExist")


def test_every_response_has_a_request_id(cairn_server, client, project, store):
    ids = set()
    for res in (client.get_project(project), client.list_logstore(project), client.list_shards(project, store),
                client.get_cursor(project, store, 0, "end"),
                client.put_logs(put_request(project, store, "t", "s", [log_item(1_700_000_000, [("a", "b")], 1)])),
                client.list_project(size=1)):
        assert res.get_request_id()
        ids.add(res.get_request_id())
    assert len(ids) == 6, "request ids are unique"
    r = raw_request(cairn_server, "GET", project, "/no/such/api")
    assert r.status_code >= 400 and r.headers.get("x-log-requestid")
    assert set(r.json()) >= {"errorCode", "errorMessage"}
