"""The official command line tool `aliyunlog` (aliyun-log-cli) against the real binary.

Every `aliyunlog log` subcommand that maps onto an API Cairn implements is run as a command, the
way a user runs it: projects (create, get, list, delete), logstores (create, get, list, update,
delete), shards (list, split, merge, arrange), cursors (by position, by time, a cursor's time,
the previous cursor's time), reading logs (pull_logs, pull_log, pull_log_dump into files, copy_data
between logstores) and consumer groups (create, list, update, checkpoints, delete). What a command
changed is read back through the CLI and through the classic SDK; errors must leave the CLI with a
non-zero exit and the SLS errorCode in its output.

The CLI has no put_logs subcommand: logs are written with the SDK. The index subcommands are run
by test_index_config.py, get_log and get_log_all by test_query.py. Left out because they need
APIs Cairn does not have: copy_project and copy_logstore (ListLogtailConfig), and the logtail
config, machine group, dashboard, saved search, alert, metric store, external store and
execute_*_sql subcommands.

Each command runs with HOME in a temporary directory (no user configuration is read, and the CLI's
own log file lands there) and with the account in the global options
`--access-id/--access-key/--region-endpoint=localhost`; HTTP_PROXY routes it to Cairn.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (AK, ENDPOINT, KEY_SPACE, REGION, SECRET, cursor_str, group_fields, key_hex, log_item,
                      pull_all, put_request, unique)

CLI = Path(sys.executable).with_name("aliyunlog")
CLI_TIMEOUT = 180
HALF = KEY_SPACE // 2
LOW_KEY = key_hex(7)           # owned by shard 0 of a two-shard logstore
HIGH_KEY = key_hex(HALF + 7)   # owned by shard 1

# Variables through which the CLI would pick up an account or options from the environment.
_ACCOUNT_ENV_PREFIXES = ("ALIYUN_LOG_CLI_", "ALIBABA_CLOUD_", "ALIBABACLOUD_", "ALICLOUD_")

_HOME = tempfile.TemporaryDirectory(prefix="cairn-cli-home-")


@pytest.fixture(scope="module", autouse=True)
def _cli_home():
    if not os.access(CLI, os.X_OK):
        pytest.fail(f"the aliyunlog command is not installed next to {sys.executable}: "
                    "pip install -r requirements-test.txt")
    yield
    # The CLI read no configuration and wrote none: only its debug log is in HOME.
    leftovers = set(os.listdir(_HOME.name)) - {"aliyunlogcli.log"}
    _HOME.cleanup()
    assert not leftovers, f"the CLI wrote {sorted(leftovers)} into HOME"


def _cli_env(server):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_ACCOUNT_ENV_PREFIXES) and k != "SECURITY_TOKEN"}
    for k in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env.update(HOME=_HOME.name, HTTP_PROXY=server.proxy, http_proxy=server.proxy, PYTHONIOENCODING="utf-8")
    return env


def _parse(text):
    """One JSON document, or one per line (commands that page print one per page), or the text;
    None when the command printed nothing."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return text


def run_cli(server, *args, check=True, access_key=None, sign=None):
    """Runs `aliyunlog log <args>` against `server`.

    With check=True the command must exit 0; returns its parsed output (see `_parse`). With
    check=False returns (exit code, parsed output). `sign=("v4", region)` signs with v4.
    """
    cmd = [str(CLI), "log", *args, f"--access-id={AK}", f"--access-key={access_key or SECRET}",
           f"--region-endpoint={ENDPOINT}"]
    if sign:
        cmd += [f"--sign-version={sign[0]}", f"--region-id={sign[1]}"]
    p = subprocess.run(cmd, env=_cli_env(server), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, encoding="utf-8", timeout=CLI_TIMEOUT)
    if check:
        assert p.returncode == 0, (f"{' '.join(args)} exited {p.returncode}\nstdout: {p.stdout[-3000:]}\n"
                                   f"stderr: {p.stderr[-3000:]}")
        return _parse(p.stdout)
    return p.returncode, _parse(p.stdout)


def assert_cli_error(server, code, *args, **kw):
    """The command fails (the CLI exits 3 on an SLS error) and prints the error with its code."""
    rc, out = run_cli(server, *args, check=False, **kw)
    assert rc != 0, f"{' '.join(args)} succeeded: {out}"
    assert isinstance(out, dict), f"{' '.join(args)}: no JSON error in the output: {out!r}"
    assert out.get("errorCode") == code, f"{' '.join(args)}: expected {code}, got {out}"
    assert out.get("errorMessage") and out.get("requestId"), out
    return out


def p_ls(project, logstore):
    """The --project_name/--logstore_name pair most subcommands take."""
    return [f"--project_name={project}", f"--logstore_name={logstore}"]


def cg_args(project, logstore, group=None):
    """The consumer-group subcommands, arrange_shard and copy_data spell them --project/--logstore."""
    args = [f"--project={project}", f"--logstore={logstore}"]
    return args + [f"--consumer_group={group}"] if group else args


# ------------------------------------------------------------------------------------------------
# Data written with the SDK, and what the CLI prints for it


def write_groups(client, project, logstore, prefix, n, hash_key=None):
    """n LogGroups of two logs each (tags, a non-ASCII value, an empty value); returns the requests."""
    reqs = []
    for i in range(n):
        items = [
            log_item(1_600_000_000 + i, [("id", f"{prefix}-{i}-a"), ("msg", "grüße, 日志"), ("empty", "")], 100 + i),
            log_item(1_600_000_000 + i, [("id", f"{prefix}-{i}-b"), ("level", "warn")], 200 + i),
        ]
        req = put_request(project, logstore, f"topic-{prefix}", f"10.0.0.{i % 250}", items,
                          tags=[("tag-a", prefix), ("tag-b", str(i))], hash_key=hash_key)
        client.put_logs(req)
        reqs.append(req)
    return reqs


def flat_logs(reqs):
    """The logs of `reqs` as the CLI prints them (the SDK's flattened form).

    aliyun-log-python-sdk 0.9.52 builds `__time_ns_part__` with a stray trailing comma, so it is
    a one-element tuple, printed as a list: that is the client's doing, not the data's.
    """
    out = []
    for req in reqs:
        tags = {f"__tag__:{k}": v for k, v in req.get_log_tags()}
        for it in req.get_log_items():
            d = {"__time__": it.get_time(), "__topic__": req.get_topic(), "__source__": req.get_source(),
                 "__time_ns_part__": [it.get_time_nano_part()]}
            d.update(tags)
            d.update(dict(it.get_contents()))
            out.append(d)
    return out


def group_fields_of(req):
    """`group_fields` of what a PutLogsRequest wrote."""
    return (req.get_topic(), req.get_source(), [tuple(t) for t in req.get_log_tags()],
            [(it.get_time(), it.get_time_nano_part(), [tuple(c) for c in it.get_contents()])
             for it in req.get_log_items()])


def cursor_time(client, project, logstore, shard, c):
    return client.get_cursor_time(project, logstore, shard, cursor_str(c)).get_cursor_time()


# ------------------------------------------------------------------------------------------------
# Projects


@pytest.mark.parametrize("sign", [None, ("v4", REGION)], ids=["v1", "v4"])
def test_project_commands(cairn_server, client, sign):
    name = unique("cli")
    assert run_cli(cairn_server, "create_project", f"--project_name={name}", "--project_des=made by the CLI",
                   sign=sign) is None
    got = run_cli(cairn_server, "get_project", f"--project_name={name}", sign=sign)
    assert got["projectName"] == name and got["description"] == "made by the CLI" and got["status"] == "Normal"
    assert client.get_project(name).get_description() == "made by the CLI"

    listed = run_cli(cairn_server, "list_project", f"--project_name_pattern={name}", sign=sign)
    assert [p["projectName"] for p in listed["projects"]] == [name]
    assert listed["count"] == 1 and listed["total"] == 1
    assert listed["projects"][0] == got, "ListProject and GetProject describe a project alike"
    # --size=-1 makes the CLI page through everything itself.
    everything = run_cli(cairn_server, "list_project", "--size=-1", sign=sign)
    assert name in [p["projectName"] for p in everything["projects"]]

    assert_cli_error(cairn_server, "ProjectAlreadyExist", "create_project", f"--project_name={name}",
                     "--project_des=again", sign=sign)
    assert client.get_project(name).get_description() == "made by the CLI"

    assert run_cli(cairn_server, "delete_project", f"--project_name={name}", sign=sign) is None
    assert_cli_error(cairn_server, "ProjectNotExist", "get_project", f"--project_name={name}", sign=sign)
    assert_cli_error(cairn_server, "ProjectNotExist", "delete_project", f"--project_name={name}", sign=sign)
    assert run_cli(cairn_server, "list_project", f"--project_name_pattern={name}", sign=sign)["projects"] == []
    assert name not in [p["projectName"] for p in client.list_project(project_name_pattern=name).get_projects()]


def test_wrong_secret_is_refused(cairn_server, project):
    assert_cli_error(cairn_server, "SignatureNotMatch", "get_project", f"--project_name={project}",
                     access_key="not-the-secret")


# ------------------------------------------------------------------------------------------------
# Logstores


def test_logstore_commands(cairn_server, client, project):
    assert run_cli(cairn_server, "create_logstore", *p_ls(project, "cli-store"), "--ttl=7", "--shard_count=3",
                   "--append_meta=true", "--auto_split=false", "--enable_tracking=true") is None
    got = run_cli(cairn_server, "get_logstore", *p_ls(project, "cli-store"))
    assert (got["logstoreName"], got["ttl"], got["shardCount"]) == ("cli-store", 7, 3)
    assert (got["appendMeta"], got["autoSplit"], got["enable_tracking"]) == (True, False, True)
    sdk = client.get_logstore(project, "cli-store")
    assert (sdk.get_ttl(), sdk.get_shard_count(), sdk.append_meta, sdk.auto_split) == (7, 3, True, False)
    assert len(client.list_shards(project, "cli-store").get_shards_info()) == 3

    run_cli(cairn_server, "create_logstore", *p_ls(project, "cli-other"), "--ttl=30", "--shard_count=1",
            "--hot_ttl=7", "--mode=lite", "--telemetry_type=Metrics", "--infrequent_access_ttl=10")
    other = run_cli(cairn_server, "get_logstore", *p_ls(project, "cli-other"))
    assert (other["hot_ttl"], other["mode"], other["telemetryType"], other["infrequentAccessTTL"]) == \
           (7, "lite", "Metrics", 10)

    listed = run_cli(cairn_server, "list_logstore", f"--project_name={project}")
    assert sorted(listed["logstores"]) == ["cli-other", "cli-store"] and listed["total"] == 2
    assert run_cli(cairn_server, "list_logstore", f"--project_name={project}",
                   "--logstore_name_pattern=other")["logstores"] == ["cli-other"]
    assert run_cli(cairn_server, "list_logstore", f"--project_name={project}", "--size=-1")["logstores"] \
           == listed["logstores"]
    # --jmes-filter is applied by the CLI to the JSON it got.
    assert run_cli(cairn_server, "list_logstore", f"--project_name={project}", "--jmes-filter=total") == 2

    # update_logstore reads the logstore and sends it back with the changes.
    assert run_cli(cairn_server, "update_logstore", *p_ls(project, "cli-store"), "--ttl=11",
                   "--append_meta=false", "--auto_split=true", "--max_split_shard=10") is None
    upd = run_cli(cairn_server, "get_logstore", *p_ls(project, "cli-store"))
    assert (upd["ttl"], upd["appendMeta"], upd["autoSplit"], upd["maxSplitShard"]) == (11, False, True, 10)
    assert upd["shardCount"] == 3 and upd["enable_tracking"] is True and upd["createTime"] == got["createTime"]
    assert client.get_logstore(project, "cli-store").get_ttl() == 11
    run_cli(cairn_server, "update_logstore", *p_ls(project, "cli-other"), "--hot_ttl=8", "--mode=standard")
    other2 = run_cli(cairn_server, "get_logstore", *p_ls(project, "cli-other"))
    assert (other2["hot_ttl"], other2["mode"], other2["ttl"]) == (8, "standard", 30)

    assert_cli_error(cairn_server, "LogStoreAlreadyExist", "create_logstore", *p_ls(project, "cli-store"),
                     "--ttl=1", "--shard_count=1")
    assert client.get_logstore(project, "cli-store").get_ttl() == 11

    assert run_cli(cairn_server, "delete_logstore", *p_ls(project, "cli-store")) is None
    assert_cli_error(cairn_server, "LogStoreNotExist", "get_logstore", *p_ls(project, "cli-store"))
    assert_cli_error(cairn_server, "LogStoreNotExist", "delete_logstore", *p_ls(project, "cli-store"))
    assert run_cli(cairn_server, "list_logstore", f"--project_name={project}")["logstores"] == ["cli-other"]
    assert client.list_logstore(project).get_logstores() == ["cli-other"]


# ------------------------------------------------------------------------------------------------
# Shards


def test_shard_commands(cairn_server, client, project):
    client.create_logstore(project, "cli-shards", ttl=30, shard_count=2)
    listed = run_cli(cairn_server, "list_shards", *p_ls(project, "cli-shards"))
    assert listed == client.list_shards(project, "cli-shards").get_shards_info()
    assert [(s["shardID"], s["status"], s["inclusiveBeginKey"], s["exclusiveEndKey"]) for s in listed] == [
        (0, "readwrite", "0" * 32, "8" + "0" * 31), (1, "readwrite", "8" + "0" * 31, "f" * 32)]

    # Split shard 1 at c0..: it turns readonly, its children are 2 and 3.
    res = run_cli(cairn_server, "split_shard", *p_ls(project, "cli-shards"), "--shardId=1",
                  "--split_hash=c" + "0" * 31)
    assert [(s["shardID"], s["status"], s["inclusiveBeginKey"], s["exclusiveEndKey"]) for s in res] == [
        (1, "readonly", "8" + "0" * 31, "f" * 32), (2, "readwrite", "8" + "0" * 31, "c" + "0" * 31),
        (3, "readwrite", "c" + "0" * 31, "f" * 32)]
    shards = {s["shardID"]: s["status"] for s in run_cli(cairn_server, "list_shards", *p_ls(project, "cli-shards"))}
    assert shards == {0: "readwrite", 1: "readonly", 2: "readwrite", 3: "readwrite"}

    # Merge 2 with its right neighbour 3 into 4.
    res = run_cli(cairn_server, "merge_shard", *p_ls(project, "cli-shards"), "--shardId=2")
    assert [(s["shardID"], s["status"]) for s in res] == [(4, "readwrite"), (2, "readonly"), (3, "readonly")]
    assert (res[0]["inclusiveBeginKey"], res[0]["exclusiveEndKey"]) == ("8" + "0" * 31, "f" * 32)
    sdk = {s["shardID"]: s["status"] for s in client.list_shards(project, "cli-shards").get_shards_info()}
    assert sdk == {0: "readwrite", 1: "readonly", 2: "readonly", 3: "readonly", 4: "readwrite"}

    # Refusals change nothing: a key outside the shard, a readonly shard, the last shard's merge.
    assert_cli_error(cairn_server, "ParameterInvalid", "split_shard", *p_ls(project, "cli-shards"), "--shardId=0",
                     "--split_hash=c" + "0" * 31)
    assert_cli_error(cairn_server, "ParameterInvalid", "split_shard", *p_ls(project, "cli-shards"), "--shardId=1",
                     "--split_hash=d" + "0" * 31)
    assert_cli_error(cairn_server, "ParameterInvalid", "merge_shard", *p_ls(project, "cli-shards"), "--shardId=4")
    assert_cli_error(cairn_server, "ShardNotExist", "split_shard", *p_ls(project, "cli-shards"), "--shardId=9",
                     "--split_hash=1" + "0" * 31)
    assert len(client.list_shards(project, "cli-shards").get_shards_info()) == 5


def test_arrange_shard(cairn_server, client, project):
    """arrange_shard splits the widest readwrite shards until there are `count` of them; it prints
    nothing."""
    client.create_logstore(project, "cli-arrange", ttl=30, shard_count=2)
    write_groups(client, project, "cli-arrange", "old", 2, hash_key=HIGH_KEY)
    assert run_cli(cairn_server, "arrange_shard", *cg_args(project, "cli-arrange"), "--count=4") is None
    shards = client.list_shards(project, "cli-arrange").get_shards_info()
    rw = sorted(((s["inclusiveBeginKey"], s["exclusiveEndKey"]) for s in shards if s["status"] == "readwrite"))
    # Each shard is split at begin + length // 2, computed by the CLI (ff..ff is the last end key).
    assert rw == [("0" * 32, "4" + "0" * 31), ("4" + "0" * 31, "8" + "0" * 31),
                  ("8" + "0" * 31, "b" + "f" * 31), ("b" + "f" * 31, "f" * 32)]
    assert {s["shardID"]: s["status"] for s in shards if s["status"] == "readonly"} == {0: "readonly", 1: "readonly"}
    assert len(pull_all(client, project, "cli-arrange", 1)) == 2, "the readonly parent keeps its data"
    # Already at (or above) the count: nothing to do.
    assert run_cli(cairn_server, "arrange_shard", *cg_args(project, "cli-arrange"), "--count=3") is None
    assert client.list_shards(project, "cli-arrange").get_shards_info() == shards


# ------------------------------------------------------------------------------------------------
# Cursors


def test_cursor_commands(cairn_server, client, project):
    client.create_logstore(project, "cli-cursors", ttl=30, shard_count=2)
    ls = p_ls(project, "cli-cursors")
    # An empty shard: begin and end are both 0.
    for cmd in ("get_begin_cursor", "get_end_cursor"):
        assert run_cli(cairn_server, cmd, *ls, "--shard_id=0") == {"cursor": cursor_str(0)}

    before = int(time.time())
    write_groups(client, project, "cli-cursors", "c", 5, hash_key=LOW_KEY)
    after = int(time.time())

    assert run_cli(cairn_server, "get_begin_cursor", *ls, "--shard_id=0") == {"cursor": cursor_str(0)}
    assert run_cli(cairn_server, "get_end_cursor", *ls, "--shard_id=0") == {"cursor": cursor_str(5)}
    assert run_cli(cairn_server, "get_end_cursor", *ls, "--shard_id=1") == {"cursor": cursor_str(0)}
    assert run_cli(cairn_server, "get_cursor", *ls, "--shard_id=0", "--start_time=begin") == {"cursor": cursor_str(0)}
    assert run_cli(cairn_server, "get_cursor", *ls, "--shard_id=0", "--start_time=end") == {"cursor": cursor_str(5)}

    # get_cursor_time: the receive time of the LogGroup at a cursor (the end cursor: the last one).
    times = []
    for c in range(5):
        t = run_cli(cairn_server, "get_cursor_time", *ls, "--shard_id=0", f"--cursor={cursor_str(c)}")["cursor_time"]
        assert before <= t <= after, f"cursor {c}: receive time {t} outside the write window [{before}, {after}]"
        assert t == cursor_time(client, project, "cli-cursors", 0, c)
        times.append(t)
    assert times == sorted(times)
    assert run_cli(cairn_server, "get_cursor_time", *ls, "--shard_id=0",
                   f"--cursor={cursor_str(5)}")["cursor_time"] == times[4]

    # get_cursor by time: the first LogGroup received at or after it; after the data: the end.
    for t in sorted(set(times)):
        want = cursor_str(min(i for i, x in enumerate(times) if x >= t))
        assert run_cli(cairn_server, "get_cursor", *ls, "--shard_id=0", f"--start_time={t}") == {"cursor": want}
    assert run_cli(cairn_server, "get_cursor", *ls, "--shard_id=0",
                   f"--start_time={times[-1] + 1}") == {"cursor": cursor_str(5)}
    # A readable time, converted by the CLI: long before the data, so the begin cursor.
    assert run_cli(cairn_server, "get_cursor", *ls, "--shard_id=0",
                   "--start_time=2001-02-03 04:05:06+8:00") == {"cursor": cursor_str(0)}

    # get_previous_cursor_time: the time of the LogGroup before the cursor; before cursor 0 the
    # CLI asks for cursor -1, gets InvalidCursor and (normalize, the default) uses the begin cursor.
    for c in range(1, 6):
        got = run_cli(cairn_server, "get_previous_cursor_time", *ls, "--shard_id=0", f"--cursor={cursor_str(c)}")
        assert got == {"cursor_time": times[c - 1]}, c
    assert run_cli(cairn_server, "get_previous_cursor_time", *ls, "--shard_id=0",
                   f"--cursor={cursor_str(0)}") == {"cursor_time": times[0]}
    assert_cli_error(cairn_server, "InvalidCursor", "get_previous_cursor_time", *ls, "--shard_id=0",
                     f"--cursor={cursor_str(0)}", "--normalize=false")

    assert_cli_error(cairn_server, "InvalidCursor", "get_cursor_time", *ls, "--shard_id=0",
                     f"--cursor={cursor_str(6)}")
    assert_cli_error(cairn_server, "ShardNotExist", "get_cursor", *ls, "--shard_id=7", "--start_time=begin")


# ------------------------------------------------------------------------------------------------
# Reading logs


def test_pull_logs(cairn_server, client, project):
    client.create_logstore(project, "cli-pull", ttl=30, shard_count=1)
    ls = p_ls(project, "cli-pull") + ["--shard_id=0"]
    reqs = write_groups(client, project, "cli-pull", "p", 6)
    want = flat_logs(reqs)

    got = run_cli(cairn_server, "pull_logs", *ls, f"--cursor={cursor_str(0)}")
    assert got == {"count": 12, "logs": want, "next_cursor": cursor_str(6)}
    # Uncompressed transfer gives the same.
    assert run_cli(cairn_server, "pull_logs", *ls, f"--cursor={cursor_str(0)}", "--compress=false") == got
    # --count is in LogGroups; --end_cursor stops before it.
    assert run_cli(cairn_server, "pull_logs", *ls, f"--cursor={cursor_str(1)}", "--count=2") == \
           {"count": 4, "logs": want[2:6], "next_cursor": cursor_str(3)}
    assert run_cli(cairn_server, "pull_logs", *ls, f"--cursor={cursor_str(2)}",
                   f"--end_cursor={cursor_str(5)}") == {"count": 6, "logs": want[4:10], "next_cursor": cursor_str(5)}
    # At the end: nothing, and the same cursor.
    assert run_cli(cairn_server, "pull_logs", *ls, f"--cursor={cursor_str(6)}") == \
           {"count": 0, "logs": [], "next_cursor": cursor_str(6)}
    assert_cli_error(cairn_server, "InvalidCursor", "pull_logs", *ls, f"--cursor={cursor_str(7)}")
    # The SDK reads back exactly the LogGroups that were written.
    assert [group_fields(g) for g in pull_all(client, project, "cli-pull", 0)] == \
           [group_fields(g) for g in pull_all(client, project, "cli-pull", 0, compress=False)]


def test_pull_log_by_time(cairn_server, client, project):
    """pull_log turns two times into cursors and pulls between them, one JSON line per page."""
    client.create_logstore(project, "cli-pull-time", ttl=30, shard_count=1)
    ls = p_ls(project, "cli-pull-time") + ["--shard_id=0"]
    # An empty shard: one empty page.
    assert run_cli(cairn_server, "pull_log", *ls, "--from_time=begin", "--to_time=end") == \
           {"count": 0, "logs": [], "next_cursor": cursor_str(0)}
    reqs = write_groups(client, project, "cli-pull-time", "t", 5)
    want = flat_logs(reqs)

    assert run_cli(cairn_server, "pull_log", *ls, "--from_time=begin", "--to_time=end") == \
           {"count": 10, "logs": want, "next_cursor": cursor_str(5)}
    pages = run_cli(cairn_server, "pull_log", *ls, "--from_time=begin", "--to_time=end", "--batch_size=2")
    assert [(p["count"], p["next_cursor"]) for p in pages] == [(4, cursor_str(2)), (4, cursor_str(4)),
                                                               (2, cursor_str(5))]
    assert [log for p in pages for log in p["logs"]] == want

    # By receive time: from the first LogGroup's second to just after the last one's.
    first = cursor_time(client, project, "cli-pull-time", 0, 0)
    last = cursor_time(client, project, "cli-pull-time", 0, 4)
    assert run_cli(cairn_server, "pull_log", *ls, f"--from_time={first}", f"--to_time={last + 1}")["logs"] == want
    assert run_cli(cairn_server, "pull_log", *ls, f"--from_time={last + 1}", "--to_time=end") == \
           {"count": 0, "logs": [], "next_cursor": cursor_str(5)}


def test_pull_log_dump(cairn_server, client, project, tmp_path):
    """pull_log_dump writes each shard's logs, one JSON object a line, into file_path with {}
    replaced by the shard id; shards without logs get no file."""
    client.create_logstore(project, "cli-dump", ttl=30, shard_count=3)
    low = write_groups(client, project, "cli-dump", "low", 4, hash_key=LOW_KEY)
    high = write_groups(client, project, "cli-dump", "high", 3, hash_key=key_hex(KEY_SPACE - 1))
    out = tmp_path

    def read(path):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    res = run_cli(cairn_server, "pull_log_dump", *p_ls(project, "cli-dump"), "--from_time=begin",
                  "--to_time=end", f"--file_path={out}/all_{{}}.data")
    assert res == {"files": {f"{out}/all_0.data": 8, f"{out}/all_2.data": 6}, "total_count": 14}
    assert sorted(os.listdir(out)) == ["all_0.data", "all_2.data"]
    assert read(out / "all_0.data") == flat_logs(low)
    assert read(out / "all_2.data") == flat_logs(high)
    # Non-ASCII is escaped unless --no_escape.
    assert "\\u65e5" in (out / "all_0.data").read_text(encoding="utf-8")

    res = run_cli(cairn_server, "pull_log_dump", *p_ls(project, "cli-dump"), "--from_time=begin",
                  "--to_time=end", f"--file_path={out}/some_{{}}.data", "--shard_list=0-1",
                  "--no_escape=true", "--batch_size=1")
    assert res == {"files": {f"{out}/some_0.data": 8}, "total_count": 8}
    text = (out / "some_0.data").read_text(encoding="utf-8")
    assert "grüße, 日志" in text and [json.loads(line) for line in text.splitlines()] == flat_logs(low)
    assert not (out / "some_1.data").exists() and not (out / "some_2.data").exists()


def test_copy_data(cairn_server, client, project):
    """copy_data pulls each shard and writes its LogGroups into another logstore (here of another
    project); the copies keep topic, source, tags and logs, or take a new topic/source."""
    client.create_logstore(project, "cli-copy-src", ttl=30, shard_count=2)
    low = write_groups(client, project, "cli-copy-src", "low", 3, hash_key=LOW_KEY)
    high = write_groups(client, project, "cli-copy-src", "high", 2, hash_key=HIGH_KEY)
    target = unique("cli-copy")
    client.create_project(target, "copy target")
    try:
        client.create_logstore(target, "dst", ttl=30, shard_count=1)
        res = run_cli(cairn_server, "copy_data", *cg_args(project, "cli-copy-src"), "--from_time=begin",
                      f"--to_project={target}", "--to_logstore=dst")
        assert res == {"shards": {"0": 6, "1": 4}, "total_count": 10}
        groups = [group_fields(g) for g in pull_all(client, target, "dst", 0)]
        want = [group_fields_of(r) for r in low + high]
        assert sorted(groups) == sorted(want)
        # Each shard's LogGroups stay in order.
        assert [g for g in groups if g[2][0] == ("tag-a", "low")] == [group_fields_of(r) for r in low]

        client.create_logstore(target, "renamed", ttl=30, shard_count=1)
        res = run_cli(cairn_server, "copy_data", *cg_args(project, "cli-copy-src"), "--from_time=begin",
                      "--to_time=end", f"--to_project={target}", "--to_logstore=renamed", "--shard_list=1",
                      "--new_topic=moved", "--new_source=copier")
        assert res == {"shards": {"1": 4}, "total_count": 4}
        groups = [group_fields(g) for g in pull_all(client, target, "renamed", 0)]
        assert groups == [("moved", "copier") + group_fields_of(r)[2:] for r in high]
    finally:
        client.delete_project(target)


# ------------------------------------------------------------------------------------------------
# Consumer groups


def test_consumer_group_commands(cairn_server, client, project):
    client.create_logstore(project, "cli-cg", ttl=30, shard_count=2)
    write_groups(client, project, "cli-cg", "cg", 4, hash_key=LOW_KEY)
    times = [cursor_time(client, project, "cli-cg", 0, c) for c in range(4)]

    assert run_cli(cairn_server, "create_consumer_group", *cg_args(project, "cli-cg", "readers"),
                   "--timeout=30") is None
    assert run_cli(cairn_server, "create_consumer_group", *cg_args(project, "cli-cg", "ordered"),
                   "--timeout=20", "--in_order=true") is None
    want = [{"name": "ordered", "order": True, "timeout": 20}, {"name": "readers", "order": False, "timeout": 30}]
    listed = run_cli(cairn_server, "list_consumer_group", *cg_args(project, "cli-cg"))
    assert sorted(listed, key=lambda g: g["name"]) == want
    sdk = client.list_consumer_group(project, "cli-cg").get_consumer_groups()
    assert sorted(((g.get_consumer_group_name(), g.is_in_order(), g.get_timeout()) for g in sdk)) == \
           [("ordered", True, 20), ("readers", False, 30)]
    assert_cli_error(cairn_server, "ConsumerGroupAlreadyExist", "create_consumer_group",
                     *cg_args(project, "cli-cg", "readers"), "--timeout=5")

    assert run_cli(cairn_server, "update_consumer_group", *cg_args(project, "cli-cg", "readers"),
                   "--timeout=45", "--in_order=true") is None
    listed = run_cli(cairn_server, "list_consumer_group", *cg_args(project, "cli-cg"))
    assert {g["name"]: (g["order"], g["timeout"]) for g in listed} == {"readers": (True, 45), "ordered": (True, 20)}

    # Checkpoints: shard 0 at cursor 3 (by a named consumer), shard 1 never checkpointed.
    before = time.time()
    assert run_cli(cairn_server, "update_check_point", *cg_args(project, "cli-cg", "readers"), "--shard=0",
                   f"--check_point={cursor_str(3)}", "--consumer=cli-consumer") is None
    after = time.time()
    one = run_cli(cairn_server, "get_check_point", *cg_args(project, "cli-cg", "readers"), "--shard=0")
    assert [(c["shard"], c["checkpoint"], c["consumer"]) for c in one] == [(0, cursor_str(3), "cli-consumer")]
    assert int(before) - 1 <= one[0]["updateTime"] / 1e6 <= after + 1, "updateTime is in microseconds"
    every = run_cli(cairn_server, "get_check_point", *cg_args(project, "cli-cg", "readers"))
    assert {c["shard"]: c["checkpoint"] for c in every if c["checkpoint"]} == {0: cursor_str(3)}
    assert {c["shard"] for c in every} <= {0, 1}
    sdk = client.get_check_point(project, "cli-cg", "readers", 0).get_consumer_group_check_points()
    assert [(c["shard"], c["checkpoint"]) for c in sdk] == [(0, cursor_str(3))]
    # get_check_point_fixed adds the receive time of the LogGroup before the checkpoint.
    fixed = run_cli(cairn_server, "get_check_point_fixed", *cg_args(project, "cli-cg", "readers"), "--shard=0")
    assert fixed == [dict(one[0], checkpoint_previous_cursor_time=times[2])]
    fixed = run_cli(cairn_server, "get_check_point_fixed", *cg_args(project, "cli-cg", "readers"))
    assert [c.get("checkpoint_previous_cursor_time") for c in fixed if c["shard"] == 0] == [times[2]]

    # Moving it again (to the end cursor), without naming a consumer.
    run_cli(cairn_server, "update_check_point", *cg_args(project, "cli-cg", "readers"), "--shard=0",
            f"--check_point={cursor_str(4)}")
    fixed = run_cli(cairn_server, "get_check_point_fixed", *cg_args(project, "cli-cg", "readers"), "--shard=0")
    assert [(c["checkpoint"], c["checkpoint_previous_cursor_time"]) for c in fixed] == [(cursor_str(4), times[3])]
    # Past the end of the shard, or a consumer that holds nothing without force: refused, unchanged.
    assert_cli_error(cairn_server, "InvalidCursor", "update_check_point", *cg_args(project, "cli-cg", "readers"),
                     "--shard=0", f"--check_point={cursor_str(9)}")
    assert_cli_error(cairn_server, "ConsumerNotExist", "update_check_point",
                     *cg_args(project, "cli-cg", "readers"), "--shard=1", f"--check_point={cursor_str(0)}",
                     "--consumer=nobody", "--force_success=false")
    assert [c["checkpoint"] for c in client.get_check_point(project, "cli-cg", "readers", 0)
            .get_consumer_group_check_points()] == [cursor_str(4)]
    # Groups are independent.
    assert not any(c["checkpoint"] for c in run_cli(cairn_server, "get_check_point",
                                                    *cg_args(project, "cli-cg", "ordered")))

    assert run_cli(cairn_server, "delete_consumer_group", *cg_args(project, "cli-cg", "readers")) is None
    assert run_cli(cairn_server, "list_consumer_group", *cg_args(project, "cli-cg")) == want[:1]
    for args in (["delete_consumer_group"], ["update_consumer_group", "--timeout=9"], ["get_check_point"],
                 ["get_check_point_fixed"], ["update_check_point", "--shard=0", f"--check_point={cursor_str(1)}"]):
        assert_cli_error(cairn_server, "ConsumerGroupNotExist", args[0], *cg_args(project, "cli-cg", "readers"),
                         *args[1:])


# ------------------------------------------------------------------------------------------------
# Errors: a missing logstore or project, through every subcommand that names one


# (subcommand, how it names project and logstore, its other arguments)
MISSING_LOGSTORE = [
    ("get_logstore", p_ls, []),
    ("update_logstore", p_ls, ["--ttl=3"]),
    ("delete_logstore", p_ls, []),
    ("list_shards", p_ls, []),
    ("split_shard", p_ls, ["--shardId=0", "--split_hash=4" + "0" * 31]),
    ("merge_shard", p_ls, ["--shardId=0"]),
    ("arrange_shard", cg_args, ["--count=4"]),
    ("get_cursor", p_ls, ["--shard_id=0", "--start_time=begin"]),
    ("get_begin_cursor", p_ls, ["--shard_id=0"]),
    ("get_end_cursor", p_ls, ["--shard_id=0"]),
    ("get_cursor_time", p_ls, ["--shard_id=0", "--cursor=" + cursor_str(0)]),
    ("get_previous_cursor_time", p_ls, ["--shard_id=0", "--cursor=" + cursor_str(1)]),
    ("pull_logs", p_ls, ["--shard_id=0", "--cursor=" + cursor_str(0)]),
    ("pull_log", p_ls, ["--shard_id=0", "--from_time=begin", "--to_time=end"]),
    ("pull_log_dump", p_ls, ["--from_time=begin", "--to_time=end", "--file_path={tmp}/never_{{}}.data"]),
    ("copy_data", cg_args, ["--from_time=begin", "--to_logstore=present"]),
    ("list_consumer_group", cg_args, []),
    ("create_consumer_group", cg_args, ["--consumer_group=group", "--timeout=10"]),
    ("update_consumer_group", cg_args, ["--consumer_group=group", "--timeout=10"]),
    ("delete_consumer_group", cg_args, ["--consumer_group=group"]),
    ("update_check_point", cg_args, ["--consumer_group=group", "--shard=0", "--check_point=" + cursor_str(0)]),
    ("get_check_point", cg_args, ["--consumer_group=group"]),
    ("get_check_point_fixed", cg_args, ["--consumer_group=group"]),
]


@pytest.mark.parametrize("cmd,names,extra", MISSING_LOGSTORE, ids=[c for c, _, _ in MISSING_LOGSTORE])
def test_missing_logstore(cairn_server, client, project, tmp_path, cmd, names, extra):
    client.create_logstore(project, "present", ttl=30, shard_count=1)
    assert_cli_error(cairn_server, "LogStoreNotExist", cmd, *names(project, "absent"),
                     *[a.format(tmp=tmp_path) for a in extra])
    assert client.list_logstore(project).get_logstores() == ["present"], "nothing was created"
    assert os.listdir(tmp_path) == [], "no file was written"


MISSING_PROJECT = [
    ("get_project", []),
    ("delete_project", []),
    ("list_logstore", []),
    ("create_logstore", ["--logstore_name=store", "--ttl=1", "--shard_count=1"]),
    ("get_logstore", ["--logstore_name=store"]),
    ("list_shards", ["--logstore_name=store"]),
]


@pytest.mark.parametrize("cmd,extra", MISSING_PROJECT, ids=[c for c, _ in MISSING_PROJECT])
def test_missing_project(cairn_server, client, cmd, extra):
    name = unique("cli-absent")
    assert_cli_error(cairn_server, "ProjectNotExist", cmd, f"--project_name={name}", *extra)
    assert name not in [p["projectName"] for p in run_cli(cairn_server, "list_project",
                                                           f"--project_name_pattern={name}")["projects"]]
