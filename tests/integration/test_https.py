#!/usr/bin/env python3
"""HTTPS: with server.tls_cert and server.tls_key the daemon speaks TLS (and only TLS)."""
import os
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import (NOTIFYD, Daemon, TempDir, eq, keypair, notification, ok, raw_http, run, sh,  # noqa: E402
                     sign, test)


def certificate(tmp):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    cert, key = tmp.file('tls_cert.pem'), tmp.file('tls_key.pem')
    sh(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
    return cert, key


@test
def https_notification_is_acknowledged():
    tmp = TempDir()
    cert, key = certificate(tmp)
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    d = Daemon(tmp, ll_pub, sections={'server': {'tls_cert': cert, 'tls_key': key}})
    ok('tls=on' in d.log_lines('ready')[0], 'ready line says tls=on')
    ctx = ssl.create_default_context(cafile=cert)
    status, answer = d.post(sign(notification('TLS-1'), ll_priv), scheme='https', context=ctx)
    eq((status, answer['ret_code']), (200, '0000'), 'answer')
    eq(d.row('TLS-1')['result_pay'], 'SUCCESS', 'row')
    # plain HTTP on the TLS port gets no answer that LianLian could take for 0000
    raw = raw_http(d.port, b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 2'
                   b'\r\n\r\n{}')
    ok(b'0000' not in raw, 'no plain-text acknowledgement')
    # a client that does not trust the certificate cannot complete the handshake
    try:
        d.post('{}', scheme='https', context=ssl.create_default_context())
        ok(False, 'untrusted certificate accepted')
    except ssl.SSLError:
        pass
    eq(d.post(sign(notification('TLS-2'), ll_priv), scheme='https', context=ctx)[0], 200,
       'still serving')


@test
def unreadable_certificate_is_a_config_error():
    tmp = TempDir()
    _, ll_pub = keypair(tmp, 'lianlian')
    d = Daemon(tmp, ll_pub, sections={'server': {'tls_cert': tmp.file('missing.pem'),
                                                 'tls_key': tmp.file('missing-key.pem')}},
               start=False)
    r = subprocess.run([NOTIFYD, '-t', '-c', d.config], capture_output=True, text=True)
    eq(r.returncode, 1, 'exit status of -t')
    ok('tls_cert' in r.stderr and 'notifyd.conf' in r.stderr, r.stderr)


if __name__ == '__main__':
    run()
