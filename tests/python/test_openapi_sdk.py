"""The OpenAPI SDK for SLS (`alibabacloud-sls20201230`), unmodified, against the real binary.

This generation signs v1 with `x-log-signaturemethod: hmac-sha256` and an empty `Content-MD5`
on requests without a body, compresses PutLogs with zstd (else lz4, else deflate), asks for zstd
PullLogs answers and reads them as JSON (`Accept: application/json`). Every field written comes
back identical, through this SDK and through the classic one. Both signature versions are run.
"""
import base64
import time

import pytest
from alibabacloud_sls20201230 import models as m
from darabonba.runtime import RuntimeOptions
from alibabacloud_sls20201230.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from Tea.exceptions import TeaException

from conftest import ENDPOINT, KEY_SPACE, REGION, cursor_int, key_hex, pull_all, unique, use_proxy

NOW = int(time.time())


def openapi_client(server, version="v1", secret=None):
    use_proxy(server)
    config = open_api_models.Config(
        access_key_id=server.ak,
        access_key_secret=secret or server.secret,
        endpoint=ENDPOINT,
        protocol="http",
        signature_version=version,
        region_id=REGION,
    )
    return Client(config)


@pytest.fixture(params=["v1", "v4"])
def api(request, cairn_server):
    return openapi_client(cairn_server, request.param)


@pytest.fixture
def proj(api):
    name = unique("oa")
    api.create_project(m.CreateProjectRequest(project_name=name, description="openapi suite"))
    yield name
    try:
        api.delete_project(name, m.DeleteProjectRequest())
    except TeaException:
        pass


def sdk_error(excinfo, status, code):
    e = excinfo.value
    assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
    assert e.data["httpCode"] == status, f"{code}: expected HTTP {status}, got {e.data}"
    assert e.data["requestId"], "error responses carry x-log-requestid"


def group(topic, source, tags, items):
    return m.LogGroup(
        topic=topic,
        source=source,
        log_tags=[m.LogTag(key=k, value=v) for k, v in tags],
        log_items=[
            m.LogItem(time=t, time_ns=ns, contents=[m.LogContent(key=k, value=v) for k, v in contents])
            for t, ns, contents in items
        ],
    )


def as_tuple(g):
    """(topic, source, tags, [(time, time_ns, contents)]) of a LogGroup model."""
    return (
        g.topic or "",
        g.source or "",
        [(t.key, t.value) for t in g.log_tags or []],
        [(i.time, i.time_ns, [(c.key, c.value) for c in i.contents]) for i in g.log_items],
    )


def classic_tuple(g):
    return (
        g.Topic,
        g.Source,
        [(t.Key, t.Value) for t in g.LogTags],
        [(l.Time, l.Time_ns if l.HasField("Time_ns") else None, [(c.Key, c.Value) for c in l.Contents])
         for l in g.Logs],
    )


def openapi_pull_all(api, project, logstore, shard, accept_encoding=None):
    """Every LogGroup of a shard through the OpenAPI SDK's PullLogs, and each answer's headers."""
    cursor = api.get_cursor(project, logstore, str(shard), m.GetCursorRequest(from_="begin")).body.cursor
    groups, answers = [], []
    while True:
        headers = m.PullLogsHeaders(accept_encoding=accept_encoding)
        r = api.pull_logs_with_options(project, logstore, str(shard), m.PullLogsRequest(cursor=cursor, count=10),
                                       headers, RuntimeOptions())
        answers.append(r.headers)
        got = r.body.log_group_list or []
        assert int(r.headers["x-log-count"]) == len(got)
        if not got:
            assert r.headers["x-log-cursor"] == cursor
            return groups, answers
        assert cursor_int(r.headers["x-log-cursor"]) == cursor_int(cursor) + len(got)
        groups.extend(got)
        cursor = r.headers["x-log-cursor"]


# ------------------------------------------------------------------------------------------------
# Projects and logstores


def test_projects(api, cairn_server):
    name = unique("oa")
    api.create_project(m.CreateProjectRequest(project_name=name, description="first"))
    with pytest.raises(TeaException) as e:
        api.create_project(m.CreateProjectRequest(project_name=name, description="again"))
    sdk_error(e, 400, "ProjectAlreadyExist")
    got = api.get_project(name, m.GetProjectRequest()).body
    assert (got.project_name, got.description, got.status) == (name, "first", "Normal")
    api.update_project(name, m.UpdateProjectRequest(description="second"))
    assert api.get_project(name, m.GetProjectRequest()).body.description == "second"
    listed = api.list_project(m.ListProjectRequest(project_name=name, offset=0, size=100)).body
    assert [p.project_name for p in listed.projects] == [name]
    assert listed.total == 1 and listed.count == 1
    api.delete_project(name, m.DeleteProjectRequest())
    with pytest.raises(TeaException) as e:
        api.get_project(name, m.GetProjectRequest())
    sdk_error(e, 404, "ProjectNotExist")


EVERY_FIELD = dict(
    logstore_name="every-field",
    ttl=30,
    shard_count=3,
    auto_split=True,
    max_split_shard=32,
    append_meta=True,
    enable_tracking=True,
    telemetry_type="None",
    mode="standard",
    hot_ttl=7,
    infrequent_access_ttl=14,
    encrypt_conf=m.EncryptConf(enable=True, encrypt_type="default",
                               user_cmk_info=m.EncryptUserCmkConf(arn="acs:ram::1:role/r", cmk_key_id="k1",
                                                                  region_id="cn-hangzhou")),
)


def test_every_logstore_field_is_kept(api, proj, cairn_server):
    api.create_log_store(proj, m.CreateLogStoreRequest(**EVERY_FIELD))
    got = api.get_log_store(proj, "every-field").body
    for k, v in EVERY_FIELD.items():
        want = v.to_map() if hasattr(v, "to_map") else v
        have = getattr(got, k)
        have = have.to_map() if hasattr(have, "to_map") else have
        assert have == want, k
    assert got.create_time > 0 and got.last_modify_time >= got.create_time
    # An update changes what it names and keeps the rest, also across a restart.
    api.update_log_store(proj, "every-field", m.UpdateLogStoreRequest(
        logstore_name="every-field", ttl=60, shard_count=3, hot_ttl=10, infrequent_access_ttl=20,
        auto_split=False))
    cairn_server.restart()
    got = api.get_log_store(proj, "every-field").body
    assert (got.ttl, got.hot_ttl, got.infrequent_access_ttl, got.auto_split) == (60, 10, 20, False)
    assert (got.max_split_shard, got.append_meta, got.telemetry_type) == (32, True, "None")
    assert got.encrypt_conf.to_map() == EVERY_FIELD["encrypt_conf"].to_map()
    listed = api.list_log_stores(proj, m.ListLogStoresRequest()).body
    assert listed.logstores == ["every-field"] and listed.total == 1
    api.delete_log_store(proj, "every-field")
    with pytest.raises(TeaException) as e:
        api.get_log_store(proj, "every-field")
    sdk_error(e, 404, "LogStoreNotExist")


def test_logstore_errors(api, proj):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="dup", ttl=1, shard_count=1))
    with pytest.raises(TeaException) as e:
        api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="dup", ttl=1, shard_count=1))
    sdk_error(e, 400, "LogStoreAlreadyExist")
    with pytest.raises(TeaException) as e:
        api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="bad-ttl", ttl=0, shard_count=1))
    sdk_error(e, 400, "LogStoreInfoInvalid")
    with pytest.raises(TeaException) as e:
        api.list_log_stores(unique("nope"), m.ListLogStoresRequest())
    sdk_error(e, 404, "ProjectNotExist")


# ------------------------------------------------------------------------------------------------
# Shards


def test_list_split_and_merge_shards(api, proj):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="shards", ttl=1, shard_count=2))
    shards = api.list_shards(proj, "shards").body
    assert [(s.shard_id, s.status, s.inclusive_begin_key, s.exclusive_end_key) for s in shards] == [
        (0, "readwrite", key_hex(0), key_hex(KEY_SPACE // 2)),
        (1, "readwrite", key_hex(KEY_SPACE // 2), "f" * 32),
    ]
    quarter = key_hex(KEY_SPACE // 4)
    split = api.split_shard(proj, "shards", "0", m.SplitShardRequest(key=quarter)).body
    assert sorted((s.shard_id, s.status) for s in split) == [(0, "readonly"), (2, "readwrite"), (3, "readwrite")]
    merged = api.merge_shard(proj, "shards", "2").body
    assert sorted((s.shard_id, s.status) for s in merged) == [(2, "readonly"), (3, "readonly"), (4, "readwrite")]
    after = {s.shard_id: s for s in api.list_shards(proj, "shards").body}
    assert (after[4].inclusive_begin_key, after[4].exclusive_end_key) == (key_hex(0), key_hex(KEY_SPACE // 2))
    with pytest.raises(TeaException) as e:
        api.split_shard(proj, "shards", "0", m.SplitShardRequest(key=quarter))
    sdk_error(e, 400, "ParameterInvalid")


# ------------------------------------------------------------------------------------------------
# PutLogs, cursors and PullLogs


def compress_headers(ct):
    return m.PutLogsHeaders(x_log_compresstype=ct) if ct else m.PutLogsHeaders()


@pytest.mark.parametrize("compress", [None, "lz4", "deflate"])
def test_put_logs_in_every_compression_comes_back_identical(api, proj, cairn_server, compress):
    from conftest import make_client

    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="data", ttl=30, shard_count=1))
    written = [
        group("web", "10.0.0.1", [("host", "h1"), ("zone", "z")],
              [(NOW, 123, [("level", "info"), ("msg", "héllo ✓")]), (NOW + 1, None, [("k", "")])]),
        group("", "", [], [(NOW + 2, 999_999_999, [("only", "one")])]),
    ]
    for g in written:
        # None: the SDK's own choice, zstd.
        api.put_logs_with_options(proj, "data", m.PutLogsRequest(body=g), compress_headers(compress),
                                  RuntimeOptions())
    want = [as_tuple(g) for g in written]
    got, answers = openapi_pull_all(api, proj, "data", 0)
    assert [as_tuple(g) for g in got] == want
    assert answers[0]["x-log-compresstype"] == "zstd", "the SDK asks for zstd"
    # The classic SDK reads the same LogGroups from the protobuf answers.
    classic = make_client(cairn_server)
    assert [classic_tuple(g) for g in pull_all(classic, proj, "data", 0)] == want


@pytest.mark.parametrize("encoding", ["lz4", "gzip", "deflate", "zstd"])
def test_pull_answers_carry_the_wire_headers(api, proj, encoding):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="hdrs", ttl=30, shard_count=1))
    g = group("t", "s", [], [(NOW, None, [("n", str(i))]) for i in range(50)])
    api.put_logs(proj, "hdrs", m.PutLogsRequest(body=g))
    got, answers = openapi_pull_all(api, proj, "hdrs", 0, accept_encoding=encoding)
    assert [as_tuple(x) for x in got] == [as_tuple(g)]
    full, empty = answers
    name = "deflate" if encoding == "gzip" else encoding
    for h in (full, empty):
        for k in ("x-log-cursor", "x-log-count", "x-log-bodyrawsize", "x-log-rawdatasize",
                  "x-log-compresstype", "x-log-requestid"):
            assert k in h, (k, h)
        assert h["x-log-compresstype"] == name
        assert h["x-log-rawdatasize"] == h["x-log-bodyrawsize"]
    assert int(full["x-log-bodyrawsize"]) > 0 and full["x-log-count"] == "1"
    assert empty["x-log-count"] == "0" and empty.get("x-log-end-of-cursor") == "1"


def test_pull_with_an_spl_query(api, proj):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="spl", ttl=30, shard_count=1))
    for i in range(3):
        g = group("t", "s", [("env", "prod")], [(NOW, None, [("n", str(i * 10 + j)), ("x", "drop")]) for j in range(10)])
        api.put_logs(proj, "spl", m.PutLogsRequest(body=g))
    cursor = api.get_cursor(proj, "spl", "0", m.GetCursorRequest(from_="begin")).body.cursor
    r = api.pull_logs_with_options(
        proj, "spl", "0",
        m.PullLogsRequest(cursor=cursor, count=10, query="* | where cast(n as bigint) % 7 = 0 | project-away x"),
        m.PullLogsHeaders(accept_encoding="zstd"), RuntimeOptions())
    got = [as_tuple(g) for g in r.body.log_group_list]
    want = [("t", "s", [("env", "prod")], [(NOW, None, [("n", str(n))]) for n in range(30) if n % 7 == 0 and n // 10 == i])
            for i in range(3)]
    assert got == want
    assert (r.headers["x-log-count"], r.headers["x-log-rawdatacount"]) == ("3", "3")
    assert (r.headers["x-log-rawdatalines"], r.headers["x-log-resultlines"]) == ("30", "5")
    assert cursor_int(r.headers["x-log-cursor"]) == 3


def test_cursors_by_position_and_time(api, proj):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="cur", ttl=30, shard_count=1))
    for i in range(3):
        api.put_logs(proj, "cur", m.PutLogsRequest(body=group("t", "s", [], [(NOW, None, [("i", str(i))])])))
    begin = api.get_cursor(proj, "cur", "0", m.GetCursorRequest(from_="begin")).body.cursor
    end = api.get_cursor(proj, "cur", "0", m.GetCursorRequest(from_="end")).body.cursor
    assert (cursor_int(begin), cursor_int(end)) == (0, 3)
    t = api.get_cursor_time(proj, "cur", "0", m.GetCursorTimeRequest(cursor=begin)).body.cursor_time
    assert abs(t - time.time()) < 3600
    by_time = api.get_cursor(proj, "cur", "0", m.GetCursorRequest(from_=str(t))).body.cursor
    assert cursor_int(by_time) == 0
    after = api.get_cursor(proj, "cur", "0", m.GetCursorRequest(from_=str(t + 3600))).body.cursor
    assert after == end
    with pytest.raises(TeaException) as e:
        api.get_cursor_time(proj, "cur", "0", m.GetCursorTimeRequest(cursor=base64.b64encode(b"99").decode()))
    sdk_error(e, 400, "InvalidCursor")
    with pytest.raises(TeaException) as e:
        api.get_cursor(proj, "cur", "7", m.GetCursorRequest(from_="begin"))
    sdk_error(e, 400, "ShardNotExist")


# ------------------------------------------------------------------------------------------------
# Consumer groups


def test_consumer_groups_heartbeats_and_checkpoints(api, proj):
    api.create_log_store(proj, m.CreateLogStoreRequest(logstore_name="cgls", ttl=30, shard_count=2))
    for i in range(4):
        api.put_logs(proj, "cgls", m.PutLogsRequest(body=group("t", "s", [], [(NOW, None, [("i", str(i))])])))
    api.create_consumer_group(proj, "cgls", m.CreateConsumerGroupRequest(consumer_group="g1", timeout=30, order=True))
    with pytest.raises(TeaException) as e:
        api.create_consumer_group(proj, "cgls", m.CreateConsumerGroupRequest(consumer_group="g1", timeout=30,
                                                                            order=True))
    sdk_error(e, 400, "ConsumerGroupAlreadyExist")
    groups = api.list_consumer_group(proj, "cgls").body
    assert [(g.name, g.timeout, g.order) for g in groups] == [("g1", 30, True)]
    api.update_consumer_group(proj, "cgls", "g1", m.UpdateConsumerGroupRequest(timeout=45, order=False))
    assert [(g.name, g.timeout, g.order) for g in api.list_consumer_group(proj, "cgls").body] == [("g1", 45, False)]

    held = api.consumer_group_heart_beat(proj, "cgls", "g1", m.ConsumerGroupHeartBeatRequest(consumer="c1",
                                                                                            body=[])).body
    assert sorted(held) == [0, 1], "a lone consumer is given every shard"
    end = {s: api.get_cursor(proj, "cgls", str(s), m.GetCursorRequest(from_="end")).body.cursor for s in (0, 1)}
    for s in (0, 1):
        api.consumer_group_update_check_point(proj, "cgls", "g1", m.ConsumerGroupUpdateCheckPointRequest(
            shard=s, checkpoint=end[s], consumer="c1", force_success=False))
    one = api.get_check_point(proj, "cgls", "g1", m.GetCheckPointRequest(shard=1)).body
    assert [(c.shard, c.checkpoint, c.consumer) for c in one] == [(1, end[1], "c1")]
    every = api.get_check_point(proj, "cgls", "g1", m.GetCheckPointRequest()).body
    assert sorted((c.shard, c.checkpoint) for c in every) == [(0, end[0]), (1, end[1])]
    assert all(c.update_time > 0 for c in every)
    # A consumer that does not hold the shard cannot commit unless forced.
    with pytest.raises(TeaException) as e:
        api.consumer_group_update_check_point(proj, "cgls", "g1", m.ConsumerGroupUpdateCheckPointRequest(
            shard=0, checkpoint=end[0], consumer="intruder", force_success=False))
    sdk_error(e, 400, "ConsumerNotExist")
    with pytest.raises(TeaException) as e:
        api.consumer_group_update_check_point(proj, "cgls", "g1", m.ConsumerGroupUpdateCheckPointRequest(
            shard=0, checkpoint=base64.b64encode(b"1000").decode(), consumer="c1", force_success=True))
    sdk_error(e, 400, "InvalidCursor")
    api.delete_consumer_group(proj, "cgls", "g1")
    assert api.list_consumer_group(proj, "cgls").body == []
    with pytest.raises(TeaException) as e:
        api.get_check_point(proj, "cgls", "g1", m.GetCheckPointRequest())
    sdk_error(e, 404, "ConsumerGroupNotExist")


# ------------------------------------------------------------------------------------------------
# Authentication


def test_a_wrong_secret_is_refused(cairn_server):
    for version in ("v1", "v4"):
        bad = openapi_client(cairn_server, version, secret="not-the-secret")
        with pytest.raises(TeaException) as e:
            bad.list_project(m.ListProjectRequest())
        sdk_error(e, 401, "SignatureNotMatch")
