"""Hash-key routing, SplitShard and MergeShards through the official SDK."""
import pytest
from aliyun.log import LogException

from conftest import (KEY_SPACE, assert_sdk_error, cursor_str, key_hex, log_item, pull_all, put_request,
                      shard_for_key)

HALF = KEY_SPACE // 2


def put_keyed(client, project, logstore, tag, key=None):
    client.put_logs(put_request(project, logstore, "t", "s", [log_item(1_700_000_000, [("tag", tag)], 9)],
                                hash_key=key))


def tags(groups):
    return [g.Logs[0].Contents[0].Value for g in groups]


def shard_map(client, project, logstore):
    return {s["shardID"]: s for s in client.list_shards(project, logstore).get_shards_info()}


def test_routed_writes_land_in_the_owning_shard(client, project):
    client.create_logstore(project, "route", ttl=30, shard_count=4)
    shards = client.list_shards(project, "route").get_shards_info()
    keys = []
    for i in range(4):
        b = i * KEY_SPACE // 4
        e = (i + 1) * KEY_SPACE // 4
        keys += [key_hex(b), key_hex(b + 1), key_hex(e - 1), key_hex((b + e) // 2)]
    keys.append("f" * 32)
    for k in keys:
        put_keyed(client, project, "route", k, key=k)
    for s in shards:
        got = tags(pull_all(client, project, "route", s["shardID"]))
        want = [k for k in keys if shard_for_key(shards, k) == s["shardID"]]
        assert got == want, f"shard {s['shardID']} [{s['inclusiveBeginKey']}, {s['exclusiveEndKey']})"
    assert len(tags(pull_all(client, project, "route", 3))) == 5, "ff..ff belongs to the last shard"


def test_split_and_merge(client, project):
    client.create_logstore(project, "resharded", ttl=30, shard_count=2)
    for i in range(6):
        key = key_hex((i % 2) * HALF + 99)
        put_keyed(client, project, "resharded", f"before-{i}", key=key)
    assert tags(pull_all(client, project, "resharded", 1)) == ["before-1", "before-3", "before-5"]

    # Split shard 1 ([80.., ff..]) at c0..: it becomes readonly, children get ids max+1, max+2.
    res = client.split_shard(project, "resharded", 1, "c" + "0" * 31).get_shards_info()
    assert [(s["shardID"], s["status"]) for s in res] == [(1, "readonly"), (2, "readwrite"), (3, "readwrite")]
    assert (res[1]["inclusiveBeginKey"], res[1]["exclusiveEndKey"]) == ("8" + "0" * 31, "c" + "0" * 31)
    assert (res[2]["inclusiveBeginKey"], res[2]["exclusiveEndKey"]) == ("c" + "0" * 31, "f" * 32)
    shards = shard_map(client, project, "resharded")
    assert sorted(shards) == [0, 1, 2, 3]
    assert shards[1]["status"] == "readonly" and shards[0]["status"] == "readwrite"
    assert (shards[1]["inclusiveBeginKey"], shards[1]["exclusiveEndKey"]) == ("8" + "0" * 31, "f" * 32)

    # The readonly parent stays readable and keeps its data and cursors.
    assert tags(pull_all(client, project, "resharded", 1)) == ["before-1", "before-3", "before-5"]
    assert client.get_cursor(project, "resharded", 1, "end").get_cursor() == cursor_str(3)

    # New writes in its range go to the children; load-balanced writes skip readonly shards.
    put_keyed(client, project, "resharded", "to-2", key="9" + "0" * 31)
    put_keyed(client, project, "resharded", "to-3", key="d" + "0" * 31)
    put_keyed(client, project, "resharded", "to-3-top", key="f" * 32)
    put_keyed(client, project, "resharded", "to-0", key="1" + "0" * 31)
    for i in range(9):
        put_keyed(client, project, "resharded", f"lb-{i}")
    assert client.get_cursor(project, "resharded", 1, "end").get_cursor() == cursor_str(3)
    assert tags(pull_all(client, project, "resharded", 1)) == ["before-1", "before-3", "before-5"]
    t2 = tags(pull_all(client, project, "resharded", 2))
    t3 = tags(pull_all(client, project, "resharded", 3))
    t0 = tags(pull_all(client, project, "resharded", 0))
    assert t2[0] == "to-2" and t3[:2] == ["to-3", "to-3-top"]
    assert t0[:4] == ["before-0", "before-2", "before-4", "to-0"]
    lb = sorted(t for t in t0 + t2 + t3 if t.startswith("lb-"))
    assert lb == sorted(f"lb-{i}" for i in range(9))
    assert all(any(t.startswith("lb-") for t in ts) for ts in (t0, t2, t3)), "lb spreads over readwrite shards"

    # Merge 2 with its right neighbour 3: [merged (readwrite), left, right].
    res = client.merge_shard(project, "resharded", 2).get_shards_info()
    assert [(s["shardID"], s["status"]) for s in res] == [(4, "readwrite"), (2, "readonly"), (3, "readonly")]
    assert (res[0]["inclusiveBeginKey"], res[0]["exclusiveEndKey"]) == ("8" + "0" * 31, "f" * 32)
    shards = shard_map(client, project, "resharded")
    assert sorted(shards) == [0, 1, 2, 3, 4]
    assert [shards[i]["status"] for i in range(5)] == ["readwrite", "readonly", "readonly", "readonly",
                                                       "readwrite"]
    put_keyed(client, project, "resharded", "to-4", key="d" + "0" * 31)
    assert tags(pull_all(client, project, "resharded", 4)) == ["to-4"]
    assert tags(pull_all(client, project, "resharded", 2)) == t2
    assert tags(pull_all(client, project, "resharded", 3)) == t3
    assert client.get_logstore(project, "resharded").get_shard_count() == 2


def test_split_and_merge_errors(client, project):
    client.create_logstore(project, "reshard-err", ttl=30, shard_count=2)
    # Key outside (or at the edge of) the shard's range.
    for bad in ("0" * 32, "8" + "0" * 31, "4" + "0" * 31):
        with pytest.raises(LogException) as e:
            client.split_shard(project, "reshard-err", 1, bad)
        assert_sdk_error(e, 400, "ParameterInvalid")
    with pytest.raises(LogException) as e:
        client.split_shard(project, "reshard-err", 9, "c" + "0" * 31)
    assert_sdk_error(e, 400, "ShardNotExist")
    # The last shard has no right neighbour.
    with pytest.raises(LogException) as e:
        client.merge_shard(project, "reshard-err", 1)
    assert_sdk_error(e, 400, "ParameterInvalid")
    client.split_shard(project, "reshard-err", 1, "c" + "0" * 31)
    # A readonly shard can be neither split nor merged again.
    with pytest.raises(LogException) as e:
        client.split_shard(project, "reshard-err", 1, "d" + "0" * 31)
    assert_sdk_error(e, 400, "ParameterInvalid")
    with pytest.raises(LogException) as e:
        client.merge_shard(project, "reshard-err", 1)
    assert_sdk_error(e, 400, "ParameterInvalid")
    # Nothing changed by the failed calls.
    assert sorted(shard_map(client, project, "reshard-err")) == [0, 1, 2, 3]
    with pytest.raises(LogException) as e:
        client.split_shard(project, "missing", 0, "1" + "0" * 31)
    assert_sdk_error(e, 404, "LogStoreNotExist")


def test_delete_readonly_shard(client, project):
    client.create_logstore(project, "trimmed", ttl=30, shard_count=2)
    put_keyed(client, project, "trimmed", "old", key=key_hex(HALF + 7))
    # A readwrite shard cannot be deleted, and the failed call changes nothing.
    with pytest.raises(LogException) as e:
        client.delete_shard(project, "trimmed", 1)
    assert_sdk_error(e, 400, "ParameterInvalid")
    assert tags(pull_all(client, project, "trimmed", 1)) == ["old"]
    client.split_shard(project, "trimmed", 1, "c" + "0" * 31)
    put_keyed(client, project, "trimmed", "new", key=key_hex(HALF + 7))
    client.delete_shard(project, "trimmed", 1)
    shards = shard_map(client, project, "trimmed")
    assert sorted(shards) == [0, 2, 3]
    assert all(s["status"] == "readwrite" for s in shards.values())
    with pytest.raises(LogException) as e:
        client.get_cursor(project, "trimmed", 1, "begin")
    assert_sdk_error(e, 400, "ShardNotExist")
    # The children keep what was written after the split; ids are not reused.
    assert tags(pull_all(client, project, "trimmed", 2)) == ["new"]
    with pytest.raises(LogException) as e:
        client.delete_shard(project, "trimmed", 1)
    assert_sdk_error(e, 400, "ShardNotExist")
    res = client.split_shard(project, "trimmed", 3, "e" + "0" * 31).get_shards_info()
    assert [s["shardID"] for s in res] == [3, 4, 5]
