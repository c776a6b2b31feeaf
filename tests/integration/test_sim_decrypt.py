#!/usr/bin/env python3
"""lianpay-sim decrypt: prints a pay_load's plaintext; exit 1 when the HMAC does not check, 2 when
the input is unusable, with a one-line reason on stderr.

LianLian's own pay_loads (tests/vectors/payload) are decrypted as they are. Variants are built
here with the openssl command (RSA-OAEP, AES-256-CTR) and Python's hmac, independently of the C
code: re-wrapped with LF as LianLian's Java writes on Linux, changed bytes, a hostile plaintext.
"""
import base64
import hashlib
import hmac
import os
import pty
import select
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import SIM, VECTORS, TempDir, eq, keypair, ok, run, test  # noqa: E402

PAYLOAD = os.path.join(VECTORS, 'payload')
PRIVATE = os.path.join(PAYLOAD, 'private_key.pem')
PUBLIC = os.path.join(PAYLOAD, 'public_key.pem')
VECTOR_PAIRS = [
    ('v1_payment_chinese.java2016-crlf.pay_load', 'v1_payment_chinese.plain.json'),
    ('v1_payment_chinese.php-json_encode.php2016.pay_load',
     'v1_payment_chinese.php-json_encode.plain.json'),
    ('v3_payment_company_ascii.java2016-crlf.pay_load', 'v3_payment_company_ascii.plain.json'),
    ('v3_payment_company_ascii.php2016.pay_load', 'v3_payment_company_ascii.plain.json'),
]
OAEP = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1',
        '-pkeyopt', 'rsa_mgf1_md:sha1']


def read(name):
    with open(os.path.join(PAYLOAD, name), 'rb') as f:
        return f.read()


def decrypt(args, input=None, key=PRIVATE):
    """Runs lianpay-sim decrypt; returns (exit status, stdout bytes, stderr text)."""
    r = subprocess.run([SIM, 'decrypt', '--private-key', key] + args, input=input,
                       capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode()


def refused(payload, status, reason, key=PRIVATE):
    code, out, err = decrypt([], input=payload, key=key)
    eq(code, status, 'exit status (stderr: %r)' % err)
    eq(out, b'', 'nothing on stdout')
    eq(err.count('\n'), 1, 'one line on stderr')
    ok(err.startswith('lianpay-sim: decrypt: ') and reason in err, 'reason: %r' % err)


def openssl(args, data):
    return subprocess.run(['openssl'] + args, input=data, capture_output=True, check=True,
                          timeout=60).stdout


def java_b64(data, sep):
    """Base64 as LianLian's Java writes it: a separator after every full 57-byte line."""
    if sep is None:
        return base64.b64encode(data)
    out = b''
    for i in range(0, len(data), 57):
        chunk = data[i:i + 57]
        out += base64.b64encode(chunk) + (sep if len(chunk) == 57 else b'')
    return out


def p5(hmac_key, p3, p4):
    return base64.b64encode(hmac.new(hmac_key, p3 + b'$' + p4, hashlib.sha256).digest())


def rewrap(payload, sep, recompute):
    """The pay_load with its fields wrapped the Java way with sep; P5 recomputed or kept."""
    f = payload.split(b'$')
    raw = [base64.b64decode(x.replace(b'\r', b'').replace(b'\n', b'')) for x in f[1:]]
    new = [f[0]] + [java_b64(x, sep) for x in raw[:4]] + [f[5]]
    if recompute:
        hmac_key = openssl(['pkeyutl', '-decrypt', '-inkey', PRIVATE] + OAEP, raw[0])
        eq(len(hmac_key), 32, 'hmac_key length')
        new[5] = p5(hmac_key, new[3], new[4])
    return b'$'.join(new)


def make_payload(plain, sep=None, hmac_key=b'0123456789ABCDEFGHIJKLMNOPQRSTUV',
                 aes_key=b'ZYXWVUTSRQPONMLKJIHGFEDCBA987654', nonce=b'NONCE123'):
    """A pay_load built from protocol.md with the openssl command, as a third producer would."""
    enc = ['pkeyutl', '-encrypt', '-pubin', '-inkey', PUBLIC] + OAEP
    p1, p2 = openssl(enc, hmac_key), openssl(enc, aes_key)
    ct = openssl(['enc', '-aes-256-ctr', '-K', aes_key.hex(),
                  '-iv', (nonce + b'\0' * 7 + b'\1').hex()], plain)
    fields = [java_b64(x, sep) for x in (p1, p2, nonce, ct)]
    return b'$'.join([b'lianpay1_0_1'] + fields + [p5(hmac_key, fields[2], fields[3])])


@test
def vectors_decrypt_to_their_plaintexts():
    for payload, plain in VECTOR_PAIRS:
        want = read(plain)
        code, out, err = decrypt([os.path.join(PAYLOAD, payload)])
        eq((code, err), (0, ''), payload)
        eq(out, want, payload + ': plaintext byte for byte')
        print('# %s: %d bytes -> %d bytes, identical' % (payload, len(read(payload)), len(out)))
        eq(decrypt([], input=read(payload))[:2], (0, want), payload + ' from stdin')
        eq(decrypt(['-'], input=read(payload))[:2], (0, want), payload + ' from -')
    # As a file saved by an editor or echo would hold it: a line break after P5 is no change.
    eq(decrypt([], input=read(VECTOR_PAIRS[1][0]) + b'\n')[:2], (0, read(VECTOR_PAIRS[1][1])),
       'trailing newline')


@test
def hmac_covers_p3_and_p4_as_sent():
    for payload, plain in VECTOR_PAIRS:
        original, want = read(payload), read(plain)
        # LianLian's Java on Linux: LF line breaks. With the HMAC over what is sent, it opens.
        lf = rewrap(original, b'\n', True)
        ok(b'\n' in lf and b'\r' not in lf, 'LF-wrapped')
        eq(decrypt([], input=lf)[:2], (0, want), payload + ' LF-wrapped, HMAC recomputed')
        # The same wrapping with the HMAC of the original text: P4 is not what was signed.
        refused(rewrap(original, b'\n', False), 1, 'HMAC')
        # A changed character of the encrypted request.
        i = original.index(b'$', original.index(b'$', 14) + 1) + 30  # inside P4
        changed = original[:i] + bytes([original[i] ^ 1]) + original[i + 1:]
        refused(changed, 1, 'HMAC')


@test
def third_party_payloads_decrypt():
    plain = '{"acct_name":"张三","memo":"代付","money_order":"0.02"}'.encode()
    for sep in (None, b'\n', b'\r\n'):
        eq(decrypt([], input=make_payload(plain, sep))[:2], (0, plain), 'sep %r' % sep)
    # 114 bytes, a multiple of 57: Java ends P4 with a line break, and the HMAC covers it.
    plain = b'{"memo":"' + b'x' * 103 + b'"}'
    eq(len(plain), 114, 'length')
    p = make_payload(plain, b'\n')
    ok(b'\n$' in p, 'P4 ends with a line break')
    eq(decrypt([], input=p)[:2], (0, plain), 'trailing line break on P4')
    refused(p.replace(b'\n$', b'$'), 1, 'HMAC')


@test
def unusable_input_exits_2():
    v = read(VECTOR_PAIRS[3][0])
    refused(b'', 2, 'not a pay_load')
    refused(b'junk', 2, 'not a pay_load')
    refused(b'lianpay1_0_2' + v[12:], 2, 'unknown version')
    refused(v + b'$', 2, 'not a pay_load')
    refused(v[:20] + b'*' + v[21:], 2, 'P1 is not base64')
    refused(make_payload(b'{}', hmac_key=b'short'), 2, 'P1 holds no hmac_key')
    refused(make_payload(b'{}', aes_key=b'0123456789abcdefghijklmnopqrstuv'), 2,
            'P2 holds no aes_key')
    refused(make_payload(b'{}', nonce=b'nonce123'), 2, 'P3 holds no nonce')
    tmp = TempDir()
    other, _ = keypair(tmp, 'other')
    refused(v, 2, 'P1 does not decrypt', key=other)


@test
def bad_command_lines_exit_2():
    r = subprocess.run([SIM, 'decrypt', os.path.join(PAYLOAD, VECTOR_PAIRS[0][0])],
                       capture_output=True, timeout=60)
    eq(r.returncode, 2, 'no --private-key')
    ok(b'--private-key' in r.stderr, 'says what is missing')
    code, out, err = decrypt(['/nonexistent/x.pay_load'])
    eq((code, out), (2, b''), 'missing file')
    ok('cannot open' in err, err)
    eq(decrypt(['a', 'b'])[0], 2, 'two inputs')
    eq(decrypt([], key='/nonexistent/key.pem')[0], 2, 'missing key')


@test
def terminal_sees_control_characters_escaped():
    plain = b'{"memo":"\x1b[2J\x1b]0;owned\x07","x":"\xc2\x9b31m"}'
    payload = make_payload(plain)
    tmp = TempDir()
    path = tmp.file('hostile.pay_load', payload)
    # into a pipe: exactly the bytes
    eq(decrypt([path])[:2], (0, plain), 'pipe')
    # onto a terminal: no raw escape reaches it
    master, slave = pty.openpty()
    p = subprocess.Popen([SIM, 'decrypt', '--private-key', PRIVATE, path], stdout=slave,
                         stderr=subprocess.PIPE)
    os.close(slave)
    shown = b''
    while True:
        ready, _, _ = select.select([master], [], [], 10)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    eq(p.wait(timeout=10), 0, 'exit status on a terminal')
    os.close(master)
    ok(b'\x1b' not in shown and b'\x07' not in shown and b'\xc2\x9b' not in shown,
       'no control characters: %r' % shown)
    ok(b'\\x1b[2J' in shown and b'\\u009b' in shown, 'escaped: %r' % shown)


if __name__ == '__main__':
    run()
