#!/usr/bin/env python3
"""Prints the SLS signature test vectors of tests/sls_sdk_vectors.rs.

Drives unmodified aliyun-log-python-sdk 0.9.52 `LogClient` methods with the clock frozen at
2026-11-22T12:48:03Z and a transport that records, instead of sending, each request as
`requests` would put it on the wire (encoded path and query, headers, body). It also records the
exact text the SDK fed to HMAC (v1 string to sign, v4 canonical request).

    python3 -m venv /tmp/authvenv
    /tmp/authvenv/bin/pip install aliyun-log-python-sdk==0.9.52
    /tmp/authvenv/bin/python crates/auth/scripts/sls_sdk_vectors.py

PutLogs bodies carry a nanosecond timestamp, so re-running changes those vectors (all of them
stay self-consistent).
"""
import datetime as _dt
import json

import requests
import aliyun.log.auth as auth_mod
from aliyun.log import LogClient, PutLogsRequest, LogItem
from aliyun.log.logclient import LogClient as _LC

FIXED = _dt.datetime(2026, 11, 22, 12, 48, 3)


class FrozenDT(_dt.datetime):
    @classmethod
    def utcnow(cls):
        return FIXED


auth_mod.datetime = FrozenDT


class Captured(Exception):
    """Stops the client after the request is recorded (not a LogException: no retries)."""


captured = []
signed_text = []


def fake_get_http_response(self, method, url, params, body, headers):
    headers['User-Agent'] = self._user_agent
    prep = requests.Request(method, url, params=params, data=body, headers=headers).prepare()
    path, _, query = prep.path_url.partition('?')
    captured.append(dict(method=method, path=path, query=query,
                         headers=list(headers.items()), body=body or b''))
    raise Captured()


_LC._getHttpResponse = fake_get_http_response

_orig_hmac = auth_mod.Util.hmac_sha1


def _cap_hmac(content, key):
    signed_text.append(content)
    return _orig_hmac(content, key)


auth_mod.Util.hmac_sha1 = staticmethod(_cap_hmac)
_orig_bcr = auth_mod.AuthV4.build_canonical_request


def _cap_bcr(*a):
    r = _orig_bcr(*a)
    signed_text.append(r)
    return r


auth_mod.AuthV4.build_canonical_request = staticmethod(_cap_bcr)

AK, SK = 'LTAI5tCairnTestKey', 'cairn-test-secret-2Qz'
TOKEN = 'CAIS+sts/token=='
EP = 'cn-hangzhou.log.example.com'


def run(name, f):
    captured.clear()
    signed_text.clear()
    try:
        f()
    except Captured:
        pass
    assert len(captured) == 1 and len(signed_text) == 1, name
    c = captured[0]
    c['name'] = name
    c['signed'] = signed_text[0]
    return c


def clients(ver):
    kw = dict(auth_version=ver, region='cn-hangzhou') if ver == 'v4' else {}
    return (LogClient(EP, AK, SK, source='10.0.0.1', **kw),
            LogClient(EP, AK, SK, securityToken=TOKEN, source='10.0.0.1', **kw))


def put_req():
    item = LogItem(timestamp=1795000000, contents=[('k', 'v'), ('msg', 'héllo world')])
    return PutLogsRequest('proj1', 'ls1', topic='t', source='10.0.0.1', logitems=[item])


vectors = []
for ver in ('v1', 'v4'):
    c, sts = clients(ver)
    vectors += [
        run(f'{ver}_list_project', lambda: c.list_project(offset=0, size=100)),
        run(f'{ver}_get_cursor', lambda: c.get_cursor('proj1', 'ls1', 0, 'begin')),
        run(f'{ver}_pull_logs_cursor', lambda: c.pull_logs('proj1', 'ls1', 3, 'MTU0+NDM/0NjAz==', count=10,
                                                          end_cursor='MTU1+OTk=')),
        run(f'{ver}_pull_logs_query', lambda: c.pull_logs('proj1', 'ls1', 0, 'MTA=',
                                                         query="* | where a = 'x y' and b like '%z+~/é'")),
        run(f'{ver}_put_logs', lambda: c.put_logs(put_req())),
        run(f'{ver}_put_logs_sts', lambda: sts.put_logs(put_req())),
        run(f'{ver}_create_logstore', lambda: c.create_logstore('proj1', 'ls2', ttl=7, shard_count=2)),
        run(f'{ver}_heart_beat', lambda: c.heart_beat('proj1', 'ls1', 'cg 1', 'c1', [0, 1])),
        run(f'{ver}_get_logstore_space', lambda: c.get_logstore('proj1', 'ls x')),
        run(f'{ver}_put_object_meta', lambda: c.put_object('proj1', 'ls1', 'obj_1', b'',
                                                            headers={'x-log-meta-color': 'red',
                                                                     'Content-Type': 'text/plain'})),
    ]


def rs(s):
    return json.dumps(s, ensure_ascii=False)


for v in vectors:
    print('    Vector {')
    for key in ('name', 'method', 'path', 'query'):
        print(f'        {key}: {rs(v[key])},')
    print('        headers: &[')
    for k, val in v['headers']:
        print(f'            ({rs(k)}, {rs(val)}),')
    print('        ],')
    print(f'        body_hex: {rs(v["body"].hex())},')
    print(f'        signed_text: {rs(v["signed"])},')
    print('    },')
