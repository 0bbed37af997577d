#!/usr/bin/env python3
"""Prints the Digest headers of tests/digest_clients.rs.

They are made by python-requests' HTTPDigestAuth and by `curl --digest` (through a local
server that answers with the challenge), each for its own nonce of the form
`DigestAuthority::new(SECRET)` issues at NOW (`<time>:<16 hex>:<MAC>`, with fixed random parts
here). requests answers two requests on one nonce (nc 1, then 2), as it does in a session.
cnonces are random, so re-running gives other (equally valid) headers.

    /tmp/authvenv/bin/python crates/auth/scripts/digest_client_vectors.py
"""
import hashlib, hmac, http.server, subprocess, threading
from requests.auth import HTTPDigestAuth
from requests.utils import parse_dict_header

SECRET = b'cairn-digest-test-secret'
NOW = 1795351683


def nonce(salt):
    mac = hmac.new(SECRET, f'{NOW}:{salt}'.encode(), hashlib.sha256).digest()[:16].hex()
    return f'{NOW}:{salt}:{mac}'


def challenge(n):
    return f'Digest realm="MMS Public API", domain="", nonce="{n}", algorithm=MD5, qop="auth", stale=false'


NONCE = nonce('0123456789abcdef')
NONCE_SESS = nonce('fedcba9876543210')
NONCE_CURL = nonce('5ca1ab1e0ddba115')
print('NONCE', NONCE)
print('NONCE_SESS', NONCE_SESS)
print('NONCE_CURL', NONCE_CURL)


def requests_auth(n, algorithm=None):
    a = HTTPDigestAuth('pubkey1', 'priv-key-1')
    a.init_per_thread_state()
    chal = parse_dict_header(challenge(n)[len('Digest '):])
    if algorithm:
        chal['algorithm'] = algorithm
    a._thread_local.chal = chal
    return a


base = 'http://127.0.0.1:8080/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters'
session = requests_auth(NONCE)
print('REQ_GET_QUERY', session.build_digest_header('GET', base + '/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5'))
print('REQ_POST', session.build_digest_header('POST', base + '/Cluster0/restoreJobs'))
print('REQ_MD5_SESS', requests_auth(NONCE_SESS, algorithm='MD5-sess').build_digest_header('GET', base))

seen = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        a = self.headers.get('Authorization')
        if not a:
            self.send_response(401)
            self.send_header('WWW-Authenticate', challenge(NONCE_CURL))
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        seen.append(a)
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass

srv = http.server.HTTPServer(('127.0.0.1', 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_address[1]
subprocess.run(['curl', '-s', '--digest', '-u', 'pubkey1:priv-key-1',
                f'http://127.0.0.1:{port}/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=1&itemsPerPage=100'], check=True)
srv.shutdown()
print('CURL', seen[0])
