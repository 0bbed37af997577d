// The classic Node SDK (@alicloud/log), unmodified, against the real binary. Run by
// tests/python/test_node_sdks.py, which starts the server, passes it in the environment
// (CAIRN_ENDPOINT, CAIRN_AK, CAIRN_SK, CAIRN_PROJECT) and then reads back, with the Python
// SDK, the LogGroups written here (the Node SDK has no PullLogs).
import assert from "node:assert/strict";
import { test } from "node:test";
import ALY from "@alicloud/log";

const env = (k) => process.env[k] ?? assert.fail(`${k} is not set`);
const client = new ALY({
  accessKeyId: env("CAIRN_AK"),
  accessKeySecret: env("CAIRN_SK"),
  endpoint: `http://${env("CAIRN_ENDPOINT")}`,
});
const project = env("CAIRN_PROJECT");
/** The fixed time of every log written here, so that Python can compare what it reads. */
const TIME = 1_700_000_000;

/** The SDK's error for an SLS error answer: its errorCode, message and request id. */
async function refused(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.length > 0);
    assert.ok(e.requestid, "error answers carry x-log-requestid");
    return true;
  });
}

test("projects, logstores and PutLogs", async () => {
  // CreateProject goes to the bare endpoint with the name in the body.
  await client.createProject(project, { description: "node classic" });
  await refused(client.createProject(project, { description: "again" }), "ProjectAlreadyExist");
  const p = await client.getProject(project);
  assert.equal(p.projectName, project);
  assert.equal(p.description, "node classic");

  await client.createLogStore(project, "node-logs", { ttl: 7, shardCount: 2 });
  await refused(client.createLogStore(project, "node-logs", { ttl: 7, shardCount: 2 }),
    "LogStoreAlreadyExist");
  const ls = await client.getLogStore(project, "node-logs");
  assert.deepEqual([ls.logstoreName, ls.ttl, ls.shardCount], ["node-logs", 7, 2]);
  await client.updateLogStore(project, "node-logs", { ttl: 30, shardCount: 2 });
  assert.equal((await client.getLogStore(project, "node-logs")).ttl, 30);
  const list = await client.listLogStore(project);
  assert.deepEqual(list.logstores, ["node-logs"]);

  await client.postLogStoreLogs(project, "node-logs", {
    topic: "node", source: "10.0.0.9", tags: [{ host: "h1" }, { zone: "z" }],
    logs: [
      { timestamp: TIME, content: { level: "info", msg: "héllo ✓" } },
      { timestamp: TIME + 1, timestampNsPart: 123, content: { k: "" } },
    ],
  });
  await client.postLogStoreLogs(project, "node-logs", {
    logs: [{ timestamp: TIME + 2, content: { only: "one" } }],
  });

  await client.createLogStore(project, "node-gone", { ttl: 1, shardCount: 1 });
  await client.deleteLogStore(project, "node-gone");
  await refused(client.getLogStore(project, "node-gone"), "LogStoreNotExist");
  await refused(client.getProject(`${project}-missing`), "ProjectNotExist");
});

test("a wrong secret is refused", async () => {
  const bad = new ALY({
    accessKeyId: env("CAIRN_AK"), accessKeySecret: "not-the-secret",
    endpoint: `http://${env("CAIRN_ENDPOINT")}`,
  });
  await refused(bad.getProject(project), "SignatureNotMatch");
});
