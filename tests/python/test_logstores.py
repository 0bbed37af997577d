"""Logstore CRUD and ListShards through the official SDK, and malformed logstore definitions."""
import json

import pytest
from aliyun.log import LogException

from conftest import (KEY_SPACE, assert_error, assert_sdk_error, cursor_str, key_hex, log_item, put_request,
                      raw_request, unique)

LOGSTORE_FIELDS = ("logstoreName", "ttl", "shardCount", "enable_tracking", "autoSplit", "maxSplitShard",
                   "appendMeta", "createTime", "lastModifyTime")


def test_logstore_lifecycle(client, project):
    client.create_logstore(project, "store-a", ttl=7, shard_count=4, append_meta=True, max_split_shard=32)
    res = client.get_logstore(project, "store-a")
    body = res.get_body()
    for k in LOGSTORE_FIELDS:
        assert k in body, f"GetLogStore lacks {k}: {body}"
    assert body["logstoreName"] == "store-a"
    assert body["ttl"] == 7 and res.get_ttl() == 7
    assert body["shardCount"] == 4 and res.get_shard_count() == 4
    assert body["enable_tracking"] is False
    assert body["autoSplit"] is True
    assert body["maxSplitShard"] == 32
    assert body["appendMeta"] is True
    assert isinstance(body["createTime"], int) and isinstance(body["lastModifyTime"], int)
    assert body["lastModifyTime"] >= body["createTime"] > 1_600_000_000

    with pytest.raises(LogException) as e:
        client.create_logstore(project, "store-a", ttl=7, shard_count=4)
    assert_sdk_error(e, 400, "LogStoreAlreadyExist")

    # The SDK's update re-sends the whole definition (shardCount included) with the new ttl.
    client.update_logstore(project, "store-a", ttl=30)
    body2 = client.get_logstore(project, "store-a").get_body()
    assert body2["ttl"] == 30
    for k in ("shardCount", "enable_tracking", "autoSplit", "maxSplitShard", "appendMeta", "createTime"):
        assert body2[k] == body[k], k
    client.update_logstore(project, "store-a", preserve_storage=True)
    assert client.get_logstore(project, "store-a").get_ttl() == 3650

    client.create_logstore(project, "store-b", ttl=1, shard_count=1)
    listed = client.list_logstore(project)
    assert sorted(listed.get_logstores()) == ["store-a", "store-b"]
    assert listed.get_total() == 2 and listed.get_count() == 2
    page = client.list_logstore(project, offset=1, size=1)
    assert page.get_count() == 1 and page.get_total() == 2
    assert client.list_logstore(project, "store-b").get_logstores() == ["store-b"]

    client.delete_logstore(project, "store-a")
    with pytest.raises(LogException) as e:
        client.get_logstore(project, "store-a")
    assert_sdk_error(e, 404, "LogStoreNotExist")
    with pytest.raises(LogException) as e:
        client.delete_logstore(project, "store-a")
    assert_sdk_error(e, 404, "LogStoreNotExist")
    with pytest.raises(LogException) as e:
        client.update_logstore(project, "store-a", ttl=3)
    assert_sdk_error(e, 404, "LogStoreNotExist")
    assert client.list_logstore(project).get_logstores() == ["store-b"]


def test_logstore_needs_a_project(client):
    with pytest.raises(LogException) as e:
        client.create_logstore(unique("nope"), "store", ttl=1, shard_count=1)
    assert_sdk_error(e, 404, "ProjectNotExist")
    with pytest.raises(LogException) as e:
        client.list_logstore(unique("nope"))
    assert_sdk_error(e, 404, "ProjectNotExist")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_list_shards_splits_the_key_space_evenly(client, project, n):
    client.create_logstore(project, "shards", ttl=1, shard_count=n)
    shards = client.list_shards(project, "shards").get_shards_info()
    assert [s["shardID"] for s in shards] == list(range(n))
    for i, s in enumerate(shards):
        assert s["status"] == "readwrite"
        assert s["inclusiveBeginKey"] == key_hex(i * KEY_SPACE // n)
        end = key_hex((i + 1) * KEY_SPACE // n) if i + 1 < n else "f" * 32
        assert s["exclusiveEndKey"] == end
        assert isinstance(s["createTime"], int) and s["createTime"] > 1_600_000_000
    with pytest.raises(LogException) as e:
        client.list_shards(project, "missing")
    assert_sdk_error(e, 404, "LogStoreNotExist")


def test_recreated_logstore_starts_empty(client, project):
    client.create_logstore(project, "again", ttl=1, shard_count=1)
    for i in range(3):
        client.put_logs(put_request(project, "again", "t", "s", [log_item(1_700_000_000, [("i", str(i))], 1)]))
    assert client.get_cursor(project, "again", 0, "end").get_cursor() == cursor_str(3)
    client.delete_logstore(project, "again")
    client.create_logstore(project, "again", ttl=1, shard_count=1)
    assert client.get_cursor(project, "again", 0, "begin").get_cursor() == cursor_str(0)
    assert client.get_cursor(project, "again", 0, "end").get_cursor() == cursor_str(0)


@pytest.mark.parametrize("bad", ["ab", "Upper", "a b c", "a" * 64, "abc_", "-abc"])
def test_bad_logstore_names(client, project, bad):
    with pytest.raises(LogException) as e:
        client.create_logstore(project, bad, ttl=1, shard_count=1)
    assert_sdk_error(e, 400, "ParameterInvalid")
    assert client.list_logstore(project).get_logstores() == []


def create_raw(server, project, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw_request(server, "POST", project, "/logstores", body=data,
                       headers={"Content-Type": "application/json"})


def test_bad_logstore_definitions(cairn_server, client, project):
    r = create_raw(cairn_server, project, b"{not json")
    assert_error(r, 400, "PostBodyInvalid")
    r = create_raw(cairn_server, project, b"[1, 2]")
    assert_error(r, 400, "LogStoreInfoInvalid")
    cases = [
        {"ttl": 1, "shardCount": 1},                                   # no name
        {"logstoreName": "okname", "shardCount": 1},                   # no ttl
        {"logstoreName": "okname", "ttl": 1},                          # no shardCount
        {"logstoreName": "okname", "ttl": 0, "shardCount": 1},
        {"logstoreName": "okname", "ttl": 3651, "shardCount": 1},
        {"logstoreName": "okname", "ttl": "7", "shardCount": 1},
        {"logstoreName": "okname", "ttl": 1, "shardCount": 0},
        {"logstoreName": "okname", "ttl": 1, "shardCount": -2},
        {"logstoreName": "okname", "ttl": 1, "shardCount": 1, "autoSplit": "yes"},
    ]
    for body in cases:
        r = create_raw(cairn_server, project, body)
        assert_error(r, 400, "LogStoreInfoInvalid")
    assert client.list_logstore(project).get_logstores() == []
    # The minimal definition Node sends is enough; unknown keys are ignored.
    r = create_raw(cairn_server, project, {"logstoreName": "okname", "ttl": 2, "shardCount": 2,
                                           "resourceQuota": {"storage": {"preserved": -1}}})
    assert r.status_code == 200, r.text
    assert r.headers.get("x-log-requestid")
    got = client.get_logstore(project, "okname")
    assert got.get_ttl() == 2 and got.get_shard_count() == 2
