"""Signatures: v1 (the SDK default) and v4, wrong secrets and keys, and the request-time window.

Requests the SDK cannot produce (skewed dates, tampered queries) are built with `raw_request`,
which signs from the documented v1 string-to-sign."""
import time

import pytest
from aliyun.log import LogException
from aliyun.log.auth import AUTH_VERSION_4

from conftest import (REGION, assert_error, assert_sdk_error, cursor_str, group_fields, http_date, log_item,
                      make_client, pull_all, put_request, raw_request)


def test_wrong_secret_is_signature_not_match(cairn_server, project):
    bad = make_client(cairn_server, secret="not-the-secret")
    with pytest.raises(LogException) as e:
        bad.get_project(project)
    assert_sdk_error(e, 401, "SignatureNotMatch")
    with pytest.raises(LogException) as e:
        bad.create_logstore(project, "never", ttl=1, shard_count=1)
    assert_sdk_error(e, 401, "SignatureNotMatch")
    with pytest.raises(LogException) as e:
        bad.list_project()
    assert_sdk_error(e, 401, "SignatureNotMatch")
    good = make_client(cairn_server)
    assert good.list_logstore(project).get_logstores() == []


def test_unknown_access_key(cairn_server, project):
    stranger = make_client(cairn_server, ak="nobody-knows-me")
    with pytest.raises(LogException) as e:
        stranger.get_project(project)
    assert_sdk_error(e, 401, "InvalidAccessKeyId")


def test_missing_authorization(cairn_server, project):
    r = raw_request(cairn_server, "GET", project, "/", sign=False)
    assert_error(r, 401, "Unauthorized")
    r = raw_request(cairn_server, "GET", project, "/", headers={"Authorization": "LOG garbage"}, sign=False)
    assert r.status_code == 401, r.text


def test_v4_signed_client(cairn_server, project):
    c4 = make_client(cairn_server, auth_version=AUTH_VERSION_4, region=REGION)
    assert c4.get_project(project).get_body()["projectName"] == project
    assert project in {p["projectName"] for p in c4.list_project(size=500, project_name_pattern=project)
                       .get_projects()}
    c4.create_logstore(project, "v4store", ttl=7, shard_count=2)
    c4.update_logstore(project, "v4store", ttl=8)
    sent = []
    for i, (compress, ctype) in enumerate([(True, None), (True, "zstd"), (False, None)] * 2):
        req = put_request(project, "v4store", f"v4-{i}", "src", [log_item(1_700_000_000 + i, [("i", str(i))], i)],
                          tags=[("t", "v")], hash_key="0" * 32, compress=compress, compress_type=ctype)
        c4.put_logs(req)
        sent.append(req)
    got = pull_all(c4, project, "v4store", 0)
    assert [group_fields(g) for g in got] == [
        (r.get_topic(), "src", [("t", "v")], [(1_700_000_000 + i, i, [("i", str(i))])]) for i, r in enumerate(sent)]
    assert c4.get_cursor_time(project, "v4store", 0, cursor_str(0)).get_cursor_time() > 0
    res = c4.split_shard(project, "v4store", 1, "c" + "0" * 31).get_shards_info()
    assert [s["shardID"] for s in res] == [1, 2, 3]
    c4.delete_logstore(project, "v4store")

    bad = make_client(cairn_server, secret="wrong", auth_version=AUTH_VERSION_4, region=REGION)
    with pytest.raises(LogException) as e:
        bad.get_project(project)
    assert_sdk_error(e, 401, "SignatureNotMatch")


def test_raw_signer_matches_the_sdk(cairn_server, project):
    """The test-side signer produces accepted signatures (so failures below are about time, not
    signing), including query strings and bodies."""
    r = raw_request(cairn_server, "GET", project, "/")
    assert r.status_code == 200, r.text
    assert r.json()["projectName"] == project
    r = raw_request(cairn_server, "GET", None, "/", params={"offset": "0", "size": "10", "resourceGroupId": ""})
    assert r.status_code == 200, r.text
    r = raw_request(cairn_server, "PUT", project, "/", body=b'{"description": "raw"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers.get("x-log-requestid")
    r = raw_request(cairn_server, "GET", project, "/")
    assert r.json()["description"] == "raw"


def test_tampered_request_is_rejected(cairn_server, project):
    from conftest import sign_v1

    # Signed for one description, sent with another.
    headers = {"Date": http_date(), "x-log-apiversion": "0.6.0", "x-log-signaturemethod": "hmac-sha1",
               "x-log-bodyrawsize": "0", "Content-Type": "application/json"}
    sign_v1("GET", "/", {"offset": "0", "size": "1"}, headers)
    r = raw_request(cairn_server, "GET", None, "/", params={"offset": "0", "size": "2"},
                    headers=headers, sign=False)
    assert_error(r, 401, "SignatureNotMatch")


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60, -3600, 86400])
def test_skewed_date_is_request_time_expired(cairn_server, project, skew):
    r = raw_request(cairn_server, "GET", project, "/", date=http_date(time.time() + skew))
    assert_error(r, 400, "RequestTimeExpired")


@pytest.mark.parametrize("skew", [-14 * 60, 14 * 60])
def test_small_skew_is_accepted(cairn_server, project, skew):
    r = raw_request(cairn_server, "GET", project, "/", date=http_date(time.time() + skew))
    assert r.status_code == 200, r.text


def test_only_the_signed_date_is_checked(cairn_server, project):
    # x-log-date is not signed in v1, so it cannot make an old request current.
    old = http_date(time.time() - 3600)
    r = raw_request(cairn_server, "GET", project, "/", date=old, headers={"x-log-date": http_date()})
    assert_error(r, 400, "RequestTimeExpired")
    r = raw_request(cairn_server, "GET", project, "/", headers={"x-log-date": old})
    assert r.status_code == 200, r.text
    r = raw_request(cairn_server, "GET", project, "/", headers={"Date": None, "x-log-date": http_date()})
    assert_error(r, 400, "MissingDate")
