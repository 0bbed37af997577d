// The OpenAPI SDK for SLS on Node (@alicloud/sls20201230), unmodified, against the real binary,
// with the signature version CAIRN_SIGNATURE (v1, hmac-sha256; or v4). Run by
// tests/python/test_node_sdks.py, which starts the server and passes it in the environment.
// (This SDK's putLogs and pullLogs cannot work against any server: putLogs never serializes
// its LogGroup, and pullLogs sends no project in the Host; see the Python OpenAPI suite.)
import assert from "node:assert/strict";
import { test } from "node:test";
import Sls, * as $Sls from "@alicloud/sls20201230";
import * as $OpenApi from "@alicloud/openapi-client";

const env = (k) => process.env[k] ?? assert.fail(`${k} is not set`);
const Client = Sls.default ?? Sls;
const client = new Client(new $OpenApi.Config({
  accessKeyId: env("CAIRN_AK"),
  accessKeySecret: env("CAIRN_SK"),
  endpoint: env("CAIRN_ENDPOINT"),
  protocol: "http",
  signatureVersion: env("CAIRN_SIGNATURE"),
  regionId: "cn-hangzhou",
}));
const project = env("CAIRN_PROJECT");
const KEY_SPACE = 1n << 128n;
const hex = (k) => k.toString(16).padStart(32, "0");

async function refused(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.statusCode ?? e.data?.statusCode, status, e.message);
    return true;
  });
}

test("projects", async () => {
  await client.createProject(new $Sls.CreateProjectRequest({ projectName: project, description: "node" }));
  await refused(client.createProject(new $Sls.CreateProjectRequest({ projectName: project, description: "x" })),
    400, "ProjectAlreadyExist");
  const got = (await client.getProject(project)).body;
  assert.deepEqual([got.projectName, got.description, got.status], [project, "node", "Normal"]);
  await client.updateProject(project, new $Sls.UpdateProjectRequest({ description: "changed" }));
  assert.equal((await client.getProject(project)).body.description, "changed");
  const list = (await client.listProject(new $Sls.ListProjectRequest({ projectName: project, offset: 0, size: 10 }))).body;
  assert.deepEqual(list.projects.map((p) => p.projectName), [project]);
});

test("every logstore field is kept", async () => {
  const fields = {
    logstoreName: "every-field", ttl: 30, shardCount: 2, autoSplit: true, maxSplitShard: 16,
    appendMeta: true, enableTracking: true, telemetryType: "None", mode: "standard", hotTtl: 7,
    infrequentAccessTTL: 14,
  };
  await client.createLogStore(project, new $Sls.CreateLogStoreRequest(fields));
  const got = (await client.getLogStore(project, "every-field")).body;
  for (const [k, v] of Object.entries(fields)) {
    assert.deepEqual(got[k], v, k);
  }
  await client.updateLogStore(project, "every-field",
    new $Sls.UpdateLogStoreRequest({ logstoreName: "every-field", ttl: 60, shardCount: 2, autoSplit: false }));
  const after = (await client.getLogStore(project, "every-field")).body;
  assert.deepEqual([after.ttl, after.autoSplit, after.maxSplitShard], [60, false, 16]);
  assert.deepEqual((await client.listLogStores(project, new $Sls.ListLogStoresRequest({}))).body.logstores,
    ["every-field"]);
  await client.deleteLogStore(project, "every-field");
  await refused(client.getLogStore(project, "every-field"), 404, "LogStoreNotExist");
});

test("shards, cursors and consumer groups", async () => {
  await client.createLogStore(project, new $Sls.CreateLogStoreRequest({ logstoreName: "shards", ttl: 7, shardCount: 2 }));
  const shards = (await client.listShards(project, "shards")).body;
  assert.deepEqual(shards.map((s) => [s.shardID, s.status, s.inclusiveBeginKey, s.exclusiveEndKey]), [
    [0, "readwrite", hex(0n), hex(KEY_SPACE / 2n)],
    [1, "readwrite", hex(KEY_SPACE / 2n), "f".repeat(32)],
  ]);
  const split = (await client.splitShard(project, "shards", "0",
    new $Sls.SplitShardRequest({ key: hex(KEY_SPACE / 4n) }))).body;
  assert.deepEqual(split.map((s) => [s.shardID, s.status]).sort(), [[0, "readonly"], [2, "readwrite"], [3, "readwrite"]]);
  const merged = (await client.mergeShard(project, "shards", "2")).body;
  assert.deepEqual(merged.map((s) => [s.shardID, s.status]).sort(), [[2, "readonly"], [3, "readonly"], [4, "readwrite"]]);

  const begin = (await client.getCursor(project, "shards", "1", new $Sls.GetCursorRequest({ from: "begin" }))).body.cursor;
  const end = (await client.getCursor(project, "shards", "1", new $Sls.GetCursorRequest({ from: "end" }))).body.cursor;
  assert.deepEqual([begin, end], ["MA==", "MA=="]);
  await refused(client.getCursor(project, "shards", "9", new $Sls.GetCursorRequest({ from: "begin" })), 400,
    "ShardNotExist");

  await client.createConsumerGroup(project, "shards",
    new $Sls.CreateConsumerGroupRequest({ consumerGroup: "g1", timeout: 30, order: true }));
  const groups = (await client.listConsumerGroup(project, "shards")).body;
  assert.deepEqual(groups.map((g) => [g.name, g.timeout, g.order]), [["g1", 30, true]]);
  await client.updateConsumerGroup(project, "shards", "g1", new $Sls.UpdateConsumerGroupRequest({ timeout: 40, order: false }));
  const held = (await client.consumerGroupHeartBeat(project, "shards", "g1",
    new $Sls.ConsumerGroupHeartBeatRequest({ consumer: "c1", body: [] }))).body;
  assert.deepEqual([...held].sort(), [1, 4]);
  await client.consumerGroupUpdateCheckPoint(project, "shards", "g1",
    new $Sls.ConsumerGroupUpdateCheckPointRequest({ shard: 1, checkpoint: end, consumer: "c1", forceSuccess: false }));
  const cp = (await client.getCheckPoint(project, "shards", "g1", new $Sls.GetCheckPointRequest({ shard: 1 }))).body;
  assert.deepEqual(cp.map((c) => [c.shard, c.checkpoint, c.consumer]), [[1, end, "c1"]]);
  await client.deleteConsumerGroup(project, "shards", "g1");
  await refused(client.getCheckPoint(project, "shards", "g1", new $Sls.GetCheckPointRequest({})), 404,
    "ConsumerGroupNotExist");
  await client.deleteLogStore(project, "shards");
  await client.deleteProject(project, new $Sls.DeleteProjectRequest({}));
  await refused(client.getProject(project), 404, "ProjectNotExist");
});
