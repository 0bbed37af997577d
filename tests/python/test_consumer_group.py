"""The official consumer library (`aliyun.log.consumer`) against the real binary: several worker
processes share a logstore, take over from a killed worker, resume from checkpoints, and follow
split shards in order."""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import pytest
from aliyun.log import LogItem, PutLogsRequest

from conftest import AK, SECRET

KEY_SPACE = 1 << 128

WORKER = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from aliyun.log.consumer import ConsumerProcessorBase, ConsumerWorker, CursorPosition, LogHubConfig

    project, logstore, group, name, out_path, in_order = sys.argv[1:7]
    out = open(out_path, "a", buffering=1)

    class Recorder(ConsumerProcessorBase):
        def process(self, log_groups, tracker):
            for g in log_groups.LogGroups:
                for log in g.Logs:
                    ids = [c.Value for c in log.Contents if c.Key == "id"]
                    out.write(json.dumps({"shard": self.shard_id, "id": ids[0], "t": time.time()}) + "\\n")
            out.flush()
            os.fsync(out.fileno())
            self.save_checkpoint(tracker, force=True)

    config = LogHubConfig("localhost", os.environ["CAIRN_AK"], os.environ["CAIRN_SECRET"], project, logstore, group,
                          name, cursor_position=CursorPosition.BEGIN_CURSOR, heartbeat_interval=1,
                          data_fetch_interval=0.1, in_order=(in_order == "1"))
    worker = ConsumerWorker(Recorder, consumer_option=config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    while not stop.wait(0.1):
        pass
    worker.shutdown()
    out.close()
    """
)


class Workers:
    def __init__(self, server, project, logstore, group, in_order=False):
        self.server, self.project, self.logstore, self.group = server, project, logstore, group
        self.in_order = in_order
        self.dir = tempfile.mkdtemp(prefix="cairn-consumers-")
        self.script = os.path.join(self.dir, "worker.py")
        with open(self.script, "w") as f:
            f.write(WORKER)
        self.procs = {}

    def start(self, name):
        env = dict(os.environ, CAIRN_AK=AK, CAIRN_SECRET=SECRET, HTTP_PROXY=self.server.proxy, http_proxy=self.server.proxy)
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        out = os.path.join(self.dir, name + ".jsonl")
        self.procs[name] = subprocess.Popen(
            [sys.executable, self.script, self.project, self.logstore, self.group, name, out, "1" if self.in_order else "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, name + ".err"), "w"),
        )

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def records(self, name=None):
        out = []
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".jsonl") and (name is None or f == name + ".jsonl"):
                with open(os.path.join(self.dir, f)) as fh:
                    for line in fh:
                        if line.endswith("\n"):
                            r = json.loads(line)
                            r["worker"] = f[:-6]
                            out.append(r)
        return out

    def wait_for(self, ids, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = {r["id"] for r in self.records()}
            if ids <= got:
                return
            for name, p in self.procs.items():
                assert p.poll() is None, f"worker {name} died: " + open(os.path.join(self.dir, name + ".err")).read()
            time.sleep(0.2)
        missing = ids - {r["id"] for r in self.records()}
        raise AssertionError(f"{len(missing)} LogGroups never consumed, e.g. {sorted(missing)[:5]}")


def write(client, project, logstore, prefix, n, shards=None):
    ids = set()
    for i in range(n):
        gid = f"{prefix}-{i}"
        key = None if shards is None else "%032x" % ((i % shards) * KEY_SPACE // shards + 7)
        client.put_logs(PutLogsRequest(project, logstore, topic="t", source="s", hashKey=key,
                                       logitems=[LogItem(timestamp=int(time.time()), contents=[("id", gid)])]))
        ids.add(gid)
    return ids


def test_workers_share_fail_over_and_resume(cairn_server, client, project):
    client.create_logstore(project, "cg-logs", ttl=7, shard_count=4)
    w = Workers(cairn_server, project, "cg-logs", "group-a")
    try:
        first = write(client, project, "cg-logs", "a", 200, shards=4)
        for name in ("w1", "w2", "w3"):
            w.start(name)
        w.wait_for(first)
        held_by_w1 = {r["shard"] for r in w.records("w1")}
        # The group timeout is 2 s (twice the heartbeat): the killed worker's shards move.
        w.kill("w1")
        second = write(client, project, "cg-logs", "b", 200, shards=4)
        w.wait_for(first | second)
        seen = {}
        for r in w.records():
            seen.setdefault(r["id"], []).append(r)
        for gid, rs in seen.items():
            if len(rs) > 1:
                # Re-delivery only of what the killed worker had not committed.
                assert {r["shard"] for r in rs} <= held_by_w1, (gid, rs)
                assert any(r["worker"] == "w1" for r in rs), (gid, rs)
        assert {r["shard"] for r in w.records() if r["id"] in second} == {0, 1, 2, 3}
        # Everyone stops (committing on shutdown); a new worker resumes from the checkpoints.
        w.stop_all()
        before = {r["id"] for r in w.records()}
        third = write(client, project, "cg-logs", "c", 100, shards=4)
        w.start("w4")
        w.wait_for(third)
        again = {r["id"] for r in w.records("w4")} & before
        assert not again, f"consumed again after a clean restart: {sorted(again)[:5]}"
        # GetCheckPoint through the SDK agrees with the shard ends.
        for shard in range(4):
            end = client.get_cursor(project, "cg-logs", shard, "end").get_cursor()
            deadline = time.time() + 30
            while True:
                cps = client.get_check_point(project, "cg-logs", "group-a", shard).get_consumer_group_check_points()
                assert len(cps) == 1 and cps[0]["shard"] == shard
                if cps[0]["checkpoint"] == end:
                    break
                assert time.time() < deadline, cps
                time.sleep(0.2)
            assert abs(cps[0]["updateTime"] / 1e6 - time.time()) < 300, "updateTime is in microseconds"
    finally:
        w.stop_all()


@pytest.mark.parametrize("in_order", [True, False])
def test_split_while_consuming(cairn_server, client, project, in_order):
    client.create_logstore(project, "split-logs", ttl=7, shard_count=1)
    w = Workers(cairn_server, project, "split-logs", "group-split", in_order=in_order)
    try:
        parent = write(client, project, "split-logs", "p", 150)
        w.start("s1")
        w.start("s2")
        deadline = time.time() + 60
        while not w.records():
            assert time.time() < deadline, "nothing consumed"
            time.sleep(0.1)
        client.split_shard(project, "split-logs", 0, "80000000000000000000000000000000")
        children = write(client, project, "split-logs", "k", 150, shards=2)
        w.wait_for(parent | children)
        recs = sorted(w.records(), key=lambda r: r["t"])
        assert {r["shard"] for r in recs if r["id"] in children} == {1, 2}
        if in_order:
            last_parent = max(r["t"] for r in recs if r["shard"] == 0)
            first_child = min(r["t"] for r in recs if r["shard"] != 0)
            assert last_parent <= first_child, "a child shard was consumed before its parent was finished"
    finally:
        w.stop_all()
