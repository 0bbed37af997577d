"""Project CRUD through the official SDK: fields, paging, errors."""
import re
import time

import pytest
from aliyun.log import LogException

from conftest import assert_sdk_error, unique

PROJECT_FIELDS = ("projectName", "description", "status", "region", "owner", "createTime", "lastModifyTime")
TIME_STRING = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def test_project_lifecycle(client):
    name = unique("proj")
    before = time.time()
    res = client.create_project(name, "first description")
    assert res.get_request_id()

    got = client.get_project(name)
    body = got.get_body()
    for k in PROJECT_FIELDS:
        assert k in body, f"GetProject lacks {k}: {body}"
    assert body["projectName"] == name
    assert body["description"] == "first description"
    assert body["status"] == "Normal"
    assert isinstance(body["region"], str) and isinstance(body["owner"], str)
    # createTime / lastModifyTime are "YYYY-MM-DD hh:mm:ss" strings in SLS.
    assert TIME_STRING.match(body["createTime"]), body["createTime"]
    assert TIME_STRING.match(body["lastModifyTime"]), body["lastModifyTime"]
    assert got.get_projectname() == name and got.get_description() == "first description"

    client.update_project(name, "second description")
    body2 = client.get_project(name).get_body()
    assert body2["description"] == "second description"
    assert body2["createTime"] == body["createTime"]
    assert body2["lastModifyTime"] >= body["lastModifyTime"]

    client.delete_project(name)
    with pytest.raises(LogException) as e:
        client.get_project(name)
    assert_sdk_error(e, 404, "ProjectNotExist")
    with pytest.raises(LogException) as e:
        client.delete_project(name)
    assert_sdk_error(e, 404, "ProjectNotExist")
    with pytest.raises(LogException) as e:
        client.update_project(name, "gone")
    assert_sdk_error(e, 404, "ProjectNotExist")
    assert time.time() - before < 60


def test_create_existing_project_fails(client, project):
    with pytest.raises(LogException) as e:
        client.create_project(project, "again")
    assert_sdk_error(e, 400, "ProjectAlreadyExist")
    # The first one is untouched.
    assert client.get_project(project).get_body()["description"] == "python suite"


def test_list_projects_pages(client):
    prefix = unique("plist")
    names = [f"{prefix}-{i}" for i in range(5)]
    for n in names:
        client.create_project(n, "listed")
    try:
        seen = []
        offset = 0
        pages = 0
        while True:
            res = client.list_project(offset=offset, size=2, project_name_pattern=prefix)
            body = res.get_body()
            assert res.get_count() == len(body["projects"]) <= 2
            assert res.get_total() == 5
            for p in body["projects"]:
                for k in PROJECT_FIELDS:
                    assert k in p, f"ListProject entry lacks {k}: {p}"
            seen.extend(p["projectName"] for p in body["projects"])
            pages += 1
            offset += res.get_count()
            if res.get_count() == 0 or offset >= res.get_total():
                break
        assert pages == 3
        assert sorted(seen) == sorted(names), "paging returns every project exactly once"
        past = client.list_project(offset=10, size=2, project_name_pattern=prefix)
        assert past.get_count() == 0 and past.get_total() == 5
        # Without a filter the projects are listed too.
        everything = set()
        offset = 0
        while True:
            res = client.list_project(offset=offset, size=100)
            everything.update(p["projectName"] for p in res.get_projects())
            offset += res.get_count()
            if res.get_count() == 0 or offset >= res.get_total():
                break
        assert set(names) <= everything
    finally:
        for n in names:
            client.delete_project(n)
    res = client.list_project(offset=0, size=100, project_name_pattern=prefix)
    assert res.get_count() == 0 and res.get_total() == 0


@pytest.mark.parametrize("bad", ["ab", "ab_cd", "a" * 64, "abc-", "-abc"])
def test_bad_project_names(client, bad):
    with pytest.raises(LogException) as e:
        client.create_project(bad, "bad name")
    assert_sdk_error(e, 400, "ParameterInvalid")


def test_delete_project_removes_its_logstores(client):
    name = unique("pdel")
    client.create_project(name, "x")
    client.create_logstore(name, "inner", ttl=1, shard_count=1)
    client.delete_project(name)
    client.create_project(name, "x again")
    try:
        assert client.list_logstore(name).get_logstores() == []
        with pytest.raises(LogException) as e:
            client.get_logstore(name, "inner")
        assert_sdk_error(e, 404, "LogStoreNotExist")
    finally:
        client.delete_project(name)


def test_bare_ip_endpoint_addresses_projects_by_host(cairn_server, project):
    """With a bare IPv4 endpoint the SDK sends `Host: <project>.127.0.0.1` (no port), and
    `Host: 127.0.0.1` for ListProject."""
    from conftest import make_client
    from aliyun.log import LogClient

    make_client(cairn_server)       # proxy environment
    ip_client = LogClient("127.0.0.1", cairn_server.ak, cairn_server.secret)
    assert ip_client.get_project(project).get_body()["projectName"] == project
    ip_client.create_logstore(project, "via-ip", ttl=1, shard_count=1)
    assert ip_client.list_logstore(project).get_logstores() == ["via-ip"]
    listed = ip_client.list_project(size=10, project_name_pattern=project).get_projects()
    assert [p["projectName"] for p in listed] == [project]
