"""The official Node SDKs, unmodified, against the real binary: the classic `@alicloud/log` and
the OpenAPI SDK `@alicloud/sls20201230` (both signature versions).

Each runs its own `node --test` file in tests/js against the session's server. Node resolves
`<project>.localhost` to the loopback address through tests/js/localhost-dns.cjs, as browsers
and systemd-resolved do (RFC 6761): the SDKs build `http://<project>.<endpoint>` URLs and need
that name to reach this machine, which DNS would provide in a real set-up.
"""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, pull_all, unique

JS = ROOT / "tests" / "js"


def run_node(server, test_file, project, **env):
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed: scripts/test.sh needs Node.js and npm")
    if not (JS / "node_modules" / "@alicloud" / "log").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `npm ci` in tests/js (scripts/test.sh does)")
    e = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    e.update(CAIRN_AK=server.ak, CAIRN_SK=server.secret, CAIRN_ENDPOINT=f"localhost:{server.port}",
             CAIRN_PROJECT=project, **env)
    r = subprocess.run([node, "--require", "./localhost-dns.cjs", "--test", "--test-reporter=tap", test_file],
                       cwd=JS, env=e, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{test_file} failed:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    assert "# fail 0" in r.stdout and "# pass 0" not in r.stdout, r.stdout[-3000:]


def test_the_classic_node_sdk(cairn_server, client):
    project = unique("nodecl")
    run_node(cairn_server, "classic_sdk.test.mjs", project)
    # What postLogStoreLogs wrote, read back with the Python SDK (the Node SDK cannot pull).
    groups = [g for shard in (0, 1) for g in pull_all(client, project, "node-logs", shard)]
    got = sorted(
        (g.Topic, g.Source, [(t.Key, t.Value) for t in g.LogTags],
         [(l.Time, l.Time_ns if l.HasField("Time_ns") else None, [(c.Key, c.Value) for c in l.Contents])
          for l in g.Logs])
        for g in groups)
    t = 1_700_000_000
    assert got == sorted([
        ("node", "10.0.0.9", [("host", "h1"), ("zone", "z")],
         [(t, None, [("level", "info"), ("msg", "héllo ✓")]), (t + 1, 123, [("k", "")])]),
        ("", "", [], [(t + 2, None, [("only", "one")])]),
    ])
    client.delete_logstore(project, "node-logs")
    client.delete_project(project)


@pytest.mark.parametrize("signature", ["v1", "v4"])
def test_the_openapi_node_sdk(cairn_server, signature):
    run_node(cairn_server, "openapi_sdk.test.mjs", unique("nodeoa"), CAIRN_SIGNATURE=signature)
