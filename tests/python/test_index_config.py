"""Index configuration (CreateIndex, GetIndex, UpdateIndex, DeleteIndex) through the official
clients, unmodified: the classic SDK's IndexConfig objects, the OpenAPI SDK's models and the
CLI's JSON files. What is written comes back identical, survives a restart, and bad
configurations are refused with SLS's error codes without changing anything.
"""
import json
import os
import subprocess

import pytest
from aliyun.log import LogException
from aliyun.log.index_config import IndexConfig, IndexJsonKeyConfig, IndexKeyConfig, IndexLineConfig

from conftest import ROOT, assert_sdk_error, unique

FULL = {
    "line": {"token": [",", " ", "'", "\"", ";", "=", "(", ")", "[", "]", "{", "}", "?", "@", "&", "<", ">",
                       "/", ":", "\n", "\t", "\r"],
             "caseSensitive": False, "chn": True, "exclude_keys": ["password"]},
    "keys": {
        "status": {"type": "long", "doc_value": True},
        "latency": {"type": "double", "doc_value": True, "alias": "rt"},
        "path": {"type": "text", "token": ["/", "?", "&"], "caseSensitive": True, "chn": False, "doc_value": True},
        "req": {"type": "json", "token": [",", " "], "caseSensitive": False, "chn": False, "doc_value": False,
                "index_all": True, "max_depth": 3,
                "json_keys": {"user.id": {"type": "long", "doc_value": True},
                              "ua": {"type": "text", "token": [" "], "caseSensitive": False, "chn": False,
                                     "doc_value": True}}},
    },
    "max_text_len": 2048,
    "log_reduce": False,
}


def comparable(index_json):
    """An index JSON without what GetIndex adds, and without the empty `json_keys` the OpenAPI
    SDK's model writes for every field."""
    out = {k: v for k, v in index_json.items() if k not in ("ttl", "lastModifyTime", "index_mode", "storage")}
    for key in (out.get("keys") or {}).values():
        if key.get("json_keys") == {} and key.get("type") != "json":
            del key["json_keys"]
    return out


@pytest.fixture
def logstore(client, project):
    client.create_logstore(project, "indexed", ttl=30, shard_count=1)
    return "indexed"


def test_the_classic_sdk_index_lifecycle(client, project, logstore, cairn_server):
    with pytest.raises(LogException) as e:
        client.get_index_config(project, logstore)
    assert_sdk_error(e, 400, "IndexConfigNotExist")
    json_key = IndexJsonKeyConfig(index_all=True, max_depth=2)
    json_key.add_key("user.id", "long", doc_value=True)
    config = IndexConfig(
        ttl=30,
        line_config=IndexLineConfig(token_list=[",", " ", ";"], case_sensitive=False, chinese=False),
        key_config_list={
            "status": IndexKeyConfig(index_type="long", doc_value=True),
            "path": IndexKeyConfig(token_list=["/"], case_sensitive=True, index_type="text", doc_value=True,
                                   alias="p", chinese=False),
            "req": IndexKeyConfig(token_list=[","], index_type="json", json_key_config=json_key, chinese=False),
        },
    )
    client.create_index(project, logstore, config)
    with pytest.raises(LogException) as e:
        client.create_index(project, logstore, config)
    assert_sdk_error(e, 400, "IndexAlreadyExist")
    got = client.get_index_config(project, logstore).get_index_config()
    assert got.to_json() == config.to_json()
    assert got.ttl == 30
    # UpdateIndex replaces the whole configuration.
    config.key_config_list.pop("path")
    config.line_config = None
    client.update_index(project, logstore, config)
    cairn_server.restart()
    got = client.get_index_config(project, logstore).get_index_config()
    assert got.to_json() == config.to_json()
    assert sorted(got.key_config_list) == ["req", "status"]
    client.delete_index(project, logstore)
    with pytest.raises(LogException) as e:
        client.delete_index(project, logstore)
    assert_sdk_error(e, 400, "IndexConfigNotExist")


def test_bad_index_configurations_are_refused_and_change_nothing(cairn_server, client, project, logstore):
    from conftest import assert_error, raw_request

    def create(doc):
        body = json.dumps(doc).encode()
        return raw_request(cairn_server, "POST", project, f"/logstores/{logstore}/index", body=body,
                           headers={"Content-Type": "application/json"})

    for doc in [
        {},
        {"line": {"token": []}},
        {"line": {"token": ["ab"]}},
        {"line": {"token": [","], "include_keys": ["a"], "exclude_keys": ["b"]}},
        {"keys": {"a": {"type": "date"}}},
        {"keys": {"a": {"type": "text"}}},
        {"keys": {"a": {"type": "long", "doc_value": "yes"}}},
        {"keys": {"a": {"type": "long", "alias": "x"}, "b": {"type": "long", "alias": "x"}}},
        {"line": {"token": [","]}, "max_text_len": 1},
        [],
    ]:
        assert_error(create(doc), 400, "ParameterInvalid")
    with pytest.raises(LogException) as e:
        client.get_index_config(project, logstore)
    assert_sdk_error(e, 400, "IndexConfigNotExist")
    r = raw_request(cairn_server, "GET", project, "/logstores/missing/index")
    assert_error(r, 404, "LogStoreNotExist")


def test_the_openapi_sdk_index_lifecycle(cairn_server, client, project, logstore):
    from alibabacloud_sls20201230 import models as m
    from Tea.exceptions import TeaException

    from test_openapi_sdk import openapi_client

    api = openapi_client(cairn_server)
    index = m.Index().from_map(FULL)
    api.create_index(project, logstore, m.CreateIndexRequest(body=index))
    got = api.get_index(project, logstore).body
    assert comparable(got.to_map()) == comparable(FULL)
    assert got.ttl == 30 and got.last_modify_time > 0
    changed = dict(FULL, keys={"status": FULL["keys"]["status"]})
    api.update_index(project, logstore, m.UpdateIndexRequest(body=m.Index().from_map(changed)))
    assert comparable(api.get_index(project, logstore).body.to_map()) == comparable(changed)
    api.delete_index(project, logstore)
    with pytest.raises(TeaException) as e:
        api.get_index(project, logstore)
    assert e.value.code == "IndexConfigNotExist" and e.value.data["httpCode"] == 400


def test_the_cli_index_commands(cairn_server, client, project, logstore, tmp_path):
    cli = ROOT / ".venv" / "bin" / "aliyunlog"
    env = dict(os.environ, HOME=str(tmp_path), HTTP_PROXY=cairn_server.proxy, NO_PROXY="")
    common = [f"--project_name={project}", f"--logstore_name={logstore}", f"--access-id={cairn_server.ak}",
              f"--access-key={cairn_server.secret}", "--region-endpoint=localhost"]

    def run(*args):
        r = subprocess.run([str(cli), "log", *args, *common], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else None

    # The CLI reads the file into the classic SDK's IndexConfig, which is what it sends.
    sent = IndexConfig()
    sent.from_json(FULL)
    detail = tmp_path / "index.json"
    detail.write_text(json.dumps(FULL))
    run("create_index", f"--index_detail=file://{detail}")
    assert comparable(run("get_index_config")) == comparable(sent.to_json())
    # (`aliyunlog log update_index` 0.2.10 passes the file's text to the SDK, which cannot send
    # it: a client bug, so it is not run here.)
    run("delete_index")
    with pytest.raises(LogException):
        client.get_index_config(project, logstore)
