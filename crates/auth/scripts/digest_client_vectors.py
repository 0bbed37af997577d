#!/usr/bin/env python3
"""Prints the Digest headers of tests/digest_clients.rs.

They are made by python-requests' HTTPDigestAuth and by `curl --digest` (through a local
server that answers with the challenge), for the nonce `DigestAuthority::new(SECRET)` issues
at NOW. cnonces are random, so re-running gives other (equally valid) headers.

    /tmp/authvenv/bin/python crates/auth/scripts/digest_client_vectors.py
"""
import hashlib, hmac, http.server, subprocess, threading
from requests.auth import HTTPDigestAuth
from requests.utils import parse_dict_header

SECRET = b'cairn-digest-test-secret'
NOW = 1795351683
nonce = f"{NOW}:{hmac.new(SECRET, str(NOW).encode(), hashlib.sha256).digest()[:16].hex()}"
challenge = f'Digest realm="MMS Public API", domain="", nonce="{nonce}", algorithm=MD5, qop="auth", stale=false'
print('NONCE', nonce)
print('CHALLENGE', challenge)

def requests_header(user, pw, method, url, algorithm=None):
    a = HTTPDigestAuth(user, pw)
    a.init_per_thread_state()
    chal = parse_dict_header(challenge[len('Digest '):])
    if algorithm:
        chal['algorithm'] = algorithm
    a._thread_local.chal = chal
    return a.build_digest_header(method, url)

base = 'http://127.0.0.1:8080'
print('REQ_GET_QUERY', requests_header('pubkey1', 'priv-key-1', 'GET',
      base + '/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/backupCheckpoints?pageNum=2&itemsPerPage=5'))
print('REQ_POST', requests_header('pubkey1', 'priv-key-1', 'POST',
      base + '/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters/Cluster0/restoreJobs'))
print('REQ_MD5_SESS', requests_header('pubkey1', 'priv-key-1', 'GET',
      base + '/api/atlas/v1.0/groups/5f0f1e2d3c4b5a6978877665/clusters', algorithm='MD5-sess'))

seen = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        a = self.headers.get('Authorization')
        if not a:
            self.send_response(401)
            self.send_header('WWW-Authenticate', challenge)
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
