"""What the SDK sees across a SIGKILL and a graceful SIGTERM restart of the server: the same
projects, logstores, shards, LogGroups, cursors and cursor times."""
import socket

from conftest import (cursor_str, group_fields, key_hex, log_item, make_client, pull_all, put_request, KEY_SPACE)


def snapshot(client, project):
    out = {"project": client.get_project(project).get_body()["description"],
           "logstore": client.get_logstore(project, "durable").get_body(),
           "shards": client.list_shards(project, "durable").get_shards_info()}
    for s in out["shards"]:
        sid = s["shardID"]
        out[sid] = {
            "groups": [group_fields(g) for g in pull_all(client, project, "durable", sid)],
            "begin": client.get_cursor(project, "durable", sid, "begin").get_cursor(),
            "end": client.get_cursor(project, "durable", sid, "end").get_cursor(),
        }
        n = len(out[sid]["groups"])
        out[sid]["times"] = [client.get_cursor_time(project, "durable", sid, cursor_str(c)).get_cursor_time()
                             for c in range(n)]
    return out


def test_data_survives_kill_and_graceful_restart(cairn_server, client, project):
    client.create_logstore(project, "durable", ttl=30, shard_count=2)
    for i in range(40):
        key = key_hex((i % 2) * (KEY_SPACE // 2) + i)
        client.put_logs(put_request(project, "durable", f"t{i}", "s", [log_item(1_700_000_000 + i, [("i", str(i))],
                                                                                   i * 1000)],
                                    tags=[("n", str(i))], hash_key=key, compress_type="zstd" if i % 2 else None))
    client.split_shard(project, "durable", 1, "c" + "0" * 31)
    before = snapshot(client, project)
    assert [len(before[s]["groups"]) for s in (0, 1, 2, 3)] == [20, 20, 0, 0]

    cairn_server.restart(graceful=False)            # SIGKILL: every acknowledged write is durable
    client = make_client(cairn_server)
    assert snapshot(client, project) == before

    code = cairn_server.stop()
    assert code == 0, f"SIGTERM should exit cleanly, got {code}"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", cairn_server.port)) != 0, "the port is closed after shutdown"
    cairn_server.start()
    client = make_client(cairn_server)
    assert snapshot(client, project) == before

    # Writing continues at the next cursors; readonly shards stay readonly.
    client.put_logs(put_request(project, "durable", "after", "s", [log_item(1_700_000_100, [("i", "x")], 1)],
                                hash_key="0" * 32))
    res = client.pull_logs(project, "durable", 0, before[0]["end"], 10)
    assert res.get_loggroup_count() == 1 and res.get_next_cursor() == cursor_str(21)
    assert {s["shardID"]: s["status"] for s in client.list_shards(project, "durable").get_shards_info()} == {
        0: "readwrite", 1: "readonly", 2: "readwrite", 3: "readwrite"}
