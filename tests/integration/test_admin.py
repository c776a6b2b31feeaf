#!/usr/bin/env python3
"""The admin listener as a monitoring system sees it: /livez, /readyz, /metrics."""
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, NOTIFYD, Daemon, Env, Sim, Skip, TempDir, admin_get, eq,  # noqa: E402
                     keypair, notification, ok, run, sh, sign, test, wait_for)
from slow import PARTIAL, Trickler, close_all, count_open, hold, wait_all_closed  # noqa: E402
from threads import freeze  # noqa: E402

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}


def readyz(d):
    status, headers, body = admin_get(d, '/readyz')
    eq(headers.get('content-type'), 'application/json', 'content type')
    return status, json.loads(body)


# ---- Prometheus text format, checked strictly --------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, checking the exposition format on the way: every
    sample belongs to a family announced by HELP and TYPE, histograms are cumulative and end
    with +Inf equal to _count."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith('# HELP '):
            continue
        if line.startswith('# TYPE '):
            _, _, name, typ = line.split(' ', 3)
            ok(name not in types, 'family %s announced twice' % name)
            ok(typ in ('counter', 'gauge', 'histogram'), 'type ' + typ)
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        ok(m, 'malformed sample line %r' % line)
        name, labels = m.group(1), frozenset()
        if m.group(3):
            labels = frozenset(LABEL.match(p).groups() for p in m.group(3).split(','))
        family = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
        ok(family in types, 'sample %s without TYPE' % name)
        if types[family] == 'counter':
            ok(name.endswith('_total'), 'counter %s named _total' % name)
        value = float(m.group(4))
        ok((name, labels) not in samples, 'duplicate sample %s %s' % (name, labels))
        samples[(name, labels)] = value
    for family, typ in types.items():
        if typ != 'histogram':
            continue
        buckets = sorted(((float(dict(l)['le']), v) for (n, l), v in samples.items()
                          if n == family + '_bucket'))
        ok(buckets and buckets[-1][0] == float('inf'), family + ' ends with +Inf')
        ok(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), family + ' cumulative')
        eq(buckets[-1][1], samples[(family + '_count', frozenset())], family + ' +Inf = _count')
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(d):
    status, headers, body = admin_get(d, '/metrics')
    eq(status, 200, '/metrics status')
    ok(headers['content-type'].startswith('text/plain; version=0.0.4'), headers['content-type'])
    return body.decode('utf-8'), parse_metrics(body.decode('utf-8'))


# ---- /livez and /readyz ------------------------------------------------------------------

@test
def livez_and_readyz_when_healthy():
    e = Env()
    status, headers, body = admin_get(e.d, '/livez')
    eq((status, body), (200, b'ok\n'), '/livez')
    status, r = readyz(e.d)
    eq(status, 200, '/readyz')
    eq(r, {'ready': True, 'checks': {'database': 'ok', 'writer': 'ok', 'reconciler': 'off',
                                     'submitter': 'off', 'live': 'ok', 'connections': 'ok'}},
       '/readyz body')
    eq(admin_get(e.d, '/livez', method='HEAD')[0], 200, 'HEAD')


@test
def readyz_reports_a_locked_database_and_recovers():
    e = Env()
    holder = sqlite3.connect(e.d.db_path, timeout=1, isolation_level=None)
    holder.execute('BEGIN EXCLUSIVE')
    try:
        # the writer checks the lock itself within 5 s of idleness
        status, r = wait_for(lambda: (lambda x: x if x[0] == 503 else None)(readyz(e.d)),
                             '/readyz to fail', timeout=12)
        eq(r['ready'], False, 'ready')
        ok(r['checks']['database'].startswith('busy: database is locked'), r)
        eq(r['checks']['writer'], 'ok', 'the writer itself is alive')
        eq(admin_get(e.d, '/livez')[0], 200, '/livez: a restart would not help')
        e.d.wait_log(r'level=warning event=storage_error op=check kind=busy')
        _, s = scrape(e.d)
        eq(metric(s, 'lianpay_database_writable'), 0, 'lianpay_database_writable')
        ok(metric(s, 'lianpay_storage_errors_total', kind='busy') >= 1, 'busy counted')
        for kind in ('full', 'readonly', 'ioerr', 'sql'):
            eq(metric(s, 'lianpay_storage_errors_total', kind=kind), 0, kind + ' not counted')
    finally:
        holder.execute('ROLLBACK')
        holder.close()
    wait_for(lambda: readyz(e.d)[0] == 200, '/readyz to recover', timeout=12)
    e.d.wait_log(r'event=storage_ok')


@test
def readyz_reports_a_database_that_refused_a_write():
    e = Env()
    holder = sqlite3.connect(e.d.db_path, timeout=1, isolation_level=None)
    holder.execute('BEGIN EXCLUSIVE')
    try:
        eq(e.send(notification('RDY-1'))[0], 503, 'storage failure')
        status, r = readyz(e.d)
        eq(status, 503, 'at once after the failed commit')
        ok(r['checks']['database'].startswith('busy:'), r)
    finally:
        holder.execute('ROLLBACK')
        holder.close()
    eq(e.send(notification('RDY-1')), (200, ACK), 'resent')
    eq(readyz(e.d)[0], 200, 'ready after a commit')


@test
def readyz_and_livez_report_a_stuck_writer():
    e = Env()
    with freeze(e.d.proc.pid, names={'writer'}):
        status, r = wait_for(lambda: (lambda x: x if x[0] == 503 else None)(readyz(e.d)),
                             '/readyz to fail', timeout=20)
        ok(re.match(r'stalled for \d+ s', r['checks']['writer']), r)
        # the main loop checks every 5 s without a watchdog
        status, _, body = wait_for(lambda: (lambda x: x if x[0] == 503 else None)(
            admin_get(e.d, '/livez')), '/livez to fail', timeout=10)
        ok(body.startswith(b'not live: writer stalled for '), body)
    wait_for(lambda: readyz(e.d)[0] == 200, '/readyz to recover', timeout=10)


@test
def readyz_reports_a_stuck_reconciler():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'll')
    m_priv, m_pub = keypair(tmp, 'merchant')
    sim = Sim(tmp, ll_priv, m_pub)
    d = Daemon(tmp, ll_pub, m_priv, sections={'lianlian': {'query_url': sim.url,
                                                             'query_timeout': '2s'}})
    eq(readyz(d), (200, {'ready': True, 'checks': {'database': 'ok', 'writer': 'ok',
                                                   'reconciler': 'ok', 'submitter': 'off',
                                                   'live': 'ok', 'connections': 'ok'}}),
       'before')
    with freeze(d.proc.pid, names={'reconcile'}):
        # a turn may legitimately take a whole query (query_timeout) and 20 s more
        time.sleep(19)
        eq(readyz(d)[0], 200, 'not yet after 19 s')
        status, r = wait_for(lambda: (lambda x: x if x[0] == 503 else None)(readyz(d)),
                             '/readyz to fail', timeout=10)
        ok(re.match(r'stalled for 2\d s', r['checks']['reconciler']), r)
        eq(r['checks']['writer'], 'ok', 'writer')
        eq(admin_get(d, '/livez')[0], 200, '/livez: the notifications still work')
    wait_for(lambda: readyz(d)[0] == 200, '/readyz to recover', timeout=5)


# ---- /metrics ----------------------------------------------------------------------------

@test
def metrics_count_notifications_rejections_and_batches_without_order_numbers():
    e = Env()
    d = e.d
    # The writer's own jobs at start-up (the payouts' start-up recovery) are counted too.
    _, s0 = scrape(d)
    eq(e.send(notification('MET-1')), (200, ACK), 'applied')
    eq(e.send(notification('MET-1')), (200, ACK), 'duplicate')
    eq(e.send(notification('MET-2', result='CANCEL')), (200, ACK), 'applied')
    eq(e.send(notification('MET-2', result='SUCCESS')), (200, ACK), 'stale')
    eq(e.send(notification('MET-1', result='FAILURE')), (200, ACK), 'conflict')
    eq(e.send(notification('MET-3', money='1.00')), (200, ACK), 'applied')
    eq(e.send(notification('MET-3', money='2.00')), (200, ACK), 'mismatch')
    bad = sign(notification('MET-BAD'), e.ll_priv).replace('"MET-BAD"', '"MET-BAF"')
    eq(d.post(bad)[0], 400, 'bad signature')
    eq(d.post('{"a":1,"a":2}')[0], 400, 'malformed')
    eq(e.send(notification('MET-4', oid_partner='201801030001351895'))[0], 400, 'wrong partner')
    eq(e.send(notification('MET-5', money_order='abc'))[0], 400, 'invalid field')
    eq(d.post(sign(notification('MET-6'), e.ll_priv), path='/other')[0], 404, 'not found')
    eq(d.request(method='GET')[0], 405, 'method')
    eq(d.post('x' * 20000)[0], 413, 'too large')
    text, s = scrape(d)
    for outcome, n in (('applied', 3), ('duplicate', 1), ('stale', 1), ('conflict', 1),
                       ('mismatch', 1), ('failed', 0)):
        eq(metric(s, 'lianpay_notifications_total', outcome=outcome), n, outcome)
    for reason, n in (('bad_signature', 1), ('malformed', 1), ('wrong_partner', 1),
                      ('invalid_field', 1), ('not_found', 1), ('method_not_allowed', 1),
                      ('body_too_large', 1), ('source_not_allowed', 0),
                      ('bad_forwarded_for', 0), ('bad_header', 0), ('headers_too_large', 0),
                      ('per_ip_limit', 0),
                      ('connection_limit', 0), ('request_timeout', 0)):
        eq(metric(s, 'lianpay_rejections_total', reason=reason), n, reason)
    eq(metric(s, 'lianpay_writer_batch_size_sum') - metric(s0, 'lianpay_writer_batch_size_sum'), 7,
       'messages committed')
    ok(metric(s, 'lianpay_writer_batch_size_count') >= 1, 'batches')
    ok(metric(s, 'lianpay_writer_commit_seconds_count') >= 1, 'commits timed')
    ok(0 < metric(s, 'lianpay_writer_commit_seconds_sum') < 60, 'commit seconds')
    eq(metric(s, 'lianpay_build_info', version=sh([CTL, '--version']).stdout.split()[-1]), 1,
       'build info')
    eq(metric(s, 'lianpay_public_keys'), 1, 'keys')
    eq(metric(s, 'lianpay_live'), 1, 'live')
    eq(metric(s, 'lianpay_pending_orders'), 0, 'pending (none registered)')
    ok(metric(s, 'process_resident_memory_bytes') > 1e6, 'rss')
    # what the program holds: some of it (keys, contexts, buffers), never more than is resident;
    # not reported when glibc's malloc is not the allocator (the sanitizer build's is ASan's)
    heap = metric(s, 'lianpay_heap_in_use_bytes')
    if heap is None:
        ok('libasan' in open('/proc/%d/maps' % d.proc.pid).read(),
           'heap in use missing, and not an ASan build')
    else:
        ok(64 * 1024 < heap < metric(s, 'process_resident_memory_bytes'), 'heap in use %d' % heap)
    ok(metric(s, 'process_open_fds') > 3, 'fds')
    eq(metric(s, 'lianpay_http_max_connections'), 1000, 'max_connections')
    ok(metric(s, 'lianpay_http_connections') is not None, 'connections gauge')
    ok(time.time() - 3600 < metric(s, 'process_start_time_seconds') <= time.time(), 'start')
    ok('MET-' not in text, 'no order number in /metrics')
    # the scrape itself is not a notification
    eq(metric(scrape(d)[1], 'lianpay_rejections_total', reason='not_found'), 1, 'scrapes')


@test
def metrics_count_queries_by_result_and_pending_orders():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'll')
    m_priv, m_pub = keypair(tmp, 'merchant')
    sim = Sim(tmp, ll_priv, m_pub, {
        'Q-OK': [{'result_pay': 'SUCCESS', 'money_order': '1.00', 'dt_order': '20261122083000',
                  'oid_paybill': '2026112200012345', 'settle_date': '20261122'}],
        'Q-NONE': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}],
        'Q-BAD': [{'result_pay': 'SUCCESS', 'money_order': '1.00', 'dt_order': '20261122083000',
                   'oid_paybill': '2026112200012346', 'sign': 'bad'}],
    })
    d = Daemon(tmp, ll_pub, m_priv, sections={
        'lianlian': {'query_url': sim.url},
        'reconcile': {'notify_window': '1s', 'retry_interval': '1h'}})
    with d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order, registered_at) "
                  "VALUES ('Q-OLD', '1.00', '20261122083000', "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hours'))")
    for no in ('Q-OK', 'Q-NONE', 'Q-BAD'):
        sh([CTL, '-c', d.config, 'register', no, '1.00', '20261122083000'])
    wait_for(lambda: len(d.log_lines('query')) >= 4, 'four queries', timeout=20)
    time.sleep(2.5)  # past the pending gauges' cache
    text, s = scrape(d)
    eq(metric(s, 'lianpay_queries_total', result='result'), 1, 'result')
    eq(metric(s, 'lianpay_queries_total', result='no_record'), 2, 'no_record (Q-OLD too)')
    eq(metric(s, 'lianpay_queries_total', result='unsigned'), 1, 'badly signed')
    eq(metric(s, 'lianpay_queries_total', result='transport_error'), 0, 'transport')
    eq(metric(s, 'lianpay_pending_orders'), 3, 'pending: all but Q-OK')
    age = metric(s, 'lianpay_oldest_pending_age_seconds')
    ok(3590 <= age <= 3700, 'oldest pending age %r' % age)
    eq(metric(s, 'lianpay_review_orders'), 0, 'review')
    eq(metric(s, 'lianpay_reconcile_backlog_orders'), 0, 'every due order was asked')
    # Q-OK's result and the 8901s were stored; the badly signed answer was not a success
    last = metric(s, 'lianpay_last_successful_query_timestamp_seconds')
    ok(time.time() - 60 < last <= time.time(), 'last successful query %r' % last)
    ok('Q-' not in text, 'no order number in /metrics')


def wait_metric(d, cond, what, timeout=15):
    """The samples of the first scrape for which cond(samples) holds (the database's figures
    are cached for two seconds)."""
    return wait_for(lambda: (lambda s: s if cond(s) else None)(scrape(d)[1]), what, timeout)


@test
def metrics_give_what_the_alerts_need():
    tmp = TempDir()
    cert, key = tmp.file('tls_cert.pem'), tmp.file('tls_key.pem')
    sh(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '10', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
    ll_priv, ll_pub = keypair(tmp, 'll')
    d = Daemon(tmp, ll_pub, sections={'server': {'tls_cert': cert, 'tls_key': key},
                                      'log': {'pending_warning_after': '2h'}})
    ctx = ssl.create_default_context(cafile=cert)
    _, s = scrape(d)
    eq(metric(s, 'lianpay_last_notification_timestamp_seconds'), 0, 'nothing stored yet')
    eq(metric(s, 'lianpay_http_request_duration_seconds_count'), 0, 'no request yet')
    ok(metric(s, 'lianpay_last_successful_query_timestamp_seconds') is None,
       'no query gauge without a reconciler')
    expiry = metric(s, 'lianpay_tls_certificate_expiry_timestamp_seconds')
    ok(time.time() + 9 * 86400 < expiry <= time.time() + 10 * 86400 + 60,
       'certificate expiry %r (10 days)' % expiry)
    t0 = time.time()
    for no, result in (('AL-1', 'SUCCESS'), ('AL-2', 'FAILURE'), ('AL-3', 'CANCEL'),
                       ('AL-4', 'SUCCESS')):
        eq(d.post(sign(notification(no, result=result), ll_priv), scheme='https',
                  context=ctx), (200, ACK), no)
    eq(d.post('{}', scheme='https', context=ctx)[0], 400, 'malformed')
    _, s = scrape(d)
    for result, n in (('SUCCESS', 2), ('FAILURE', 1), ('CANCEL', 1), ('CLOSED', 0),
                      ('APPLY', 0)):
        eq(metric(s, 'lianpay_notification_results_total', result=result), n, result)
    last = metric(s, 'lianpay_last_notification_timestamp_seconds')
    ok(t0 - 1 <= last <= time.time() + 1, 'last notification %r' % last)
    # observed when libmicrohttpd is done with the request, which may be just after the client
    # has its answer
    s = wait_metric(d, lambda s: metric(s, 'lianpay_http_request_duration_seconds_count') == 5,
                    'five requests timed')
    ok(0 < metric(s, 'lianpay_http_request_duration_seconds_sum') < 60, 'durations')
    eq(metric(s, 'lianpay_ready'), 1, 'ready')
    eq(metric(s, 'lianpay_pending_warning_after_seconds'), 7200, 'warning age')
    ok(metric(s, 'lianpay_database_size_bytes') >= 4096, 'database size')
    ok(metric(s, 'lianpay_database_wal_size_bytes') > 0, 'WAL written')
    eq(metric(s, 'lianpay_last_backup_timestamp_seconds'), 0, 'no good backup yet')
    # the reconciler is off: due orders pile up
    with d.db() as c:
        for no in ('AL-D1', 'AL-D2'):
            c.execute("INSERT INTO payments(no_order, money_order, dt_order, registered_at, "
                      "next_query_at) VALUES (?, '1.00', '20261122083000', "
                      "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hours'), "
                      "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 minutes'))", (no,))
        # what lianpayctl backup records: only a good backup counts
        c.execute("INSERT INTO backups(started_at, finished_at, path, ok, error) VALUES "
                  "('2026-12-01T02:59:00.000Z', '2026-12-01T03:00:00.000Z', 'x', 0, 'full')")
    s = wait_metric(d, lambda s: metric(s, 'lianpay_reconcile_backlog_orders') == 2, 'backlog')
    eq(metric(s, 'lianpay_last_backup_timestamp_seconds'), 0, 'a failed backup is none')
    t_backup = time.time()
    sh([CTL, '-c', d.config, 'backup', d.tmp.file('copy.db')])
    s = wait_metric(d, lambda s: metric(s, 'lianpay_last_backup_timestamp_seconds') != 0,
                    'backup time')
    got = metric(s, 'lianpay_last_backup_timestamp_seconds')
    ok(t_backup - 1 <= got <= time.time() + 1, 'the good one, just made: %r' % got)
    # after a restart the last notification's time comes from the journal
    d.stop()
    d.start()
    _, s = scrape(d)
    again = metric(s, 'lianpay_last_notification_timestamp_seconds')
    ok(abs(again - last) < 1, 'last notification across a restart: %r, was %r' % (again, last))
    eq(metric(s, 'lianpay_notification_results_total', result='SUCCESS'), 0, 'counters restart')


# ---- the listener itself -----------------------------------------------------------------

@test
def admin_refuses_other_methods_and_paths():
    e = Env()
    status, headers, _ = admin_get(e.d, '/metrics', method='POST')
    eq(status, 405, 'POST')
    eq(headers.get('allow'), 'GET, HEAD', 'Allow')
    eq(admin_get(e.d, '/')[0], 404, '/')
    eq(admin_get(e.d, '/lianpay/notify')[0], 404, 'the notification path is not served here')
    eq(e.d.request(method='GET', path='/metrics')[0], 404, '/metrics not on the public port')


@test
def trickling_connections_cannot_silence_the_admin_listener():
    e = Env(sections={'server': {'request_timeout': '2s'},
                      'admin': {'max_connections': '30', 'max_connections_per_ip': '8'}})
    port = e.d.admin_port
    t0 = time.monotonic()
    # more than the listener takes: 40 from one address, 8 more from each of two others
    socks = hold(port, 40, '127.0.0.1', PARTIAL)
    socks += hold(port, 8, '127.0.0.2', PARTIAL) + hold(port, 8, '127.0.0.3', PARTIAL)
    with Trickler(socks, period=0.3):
        held = count_open(socks)
        answers = {}
        for path in ('/livez', '/readyz', '/metrics'):
            t = time.monotonic()
            answers[path] = (admin_get(e.d, path, host='127.0.0.1', source='127.0.0.9')[0],
                             time.monotonic() - t)
        wait_all_closed(socks, 15)
        took = time.monotonic() - t0
    close_all(socks)
    print('# 56 trickling connections to the admin listener (%d held); /livez, /readyz, '
          '/metrics answered in %s ms; all closed after %.1f s (request_timeout 2s)'
          % (held, '/'.join('%.1f' % (a[1] * 1000) for a in answers.values()), took),
          flush=True)
    eq(held, 24, 'held: 8 from each address, the rest closed at once')
    eq({p: a[0] for p, a in answers.items()}, {'/livez': 200, '/readyz': 200, '/metrics': 200},
       'answers while they trickle')
    ok(took < 10, 'closed by the deadline')
    eq(admin_get(e.d, '/livez')[0], 200, 'from 127.0.0.1 again')
    ok([l for l in e.d.log_lines('admin_reject') if 'kind=per_ip_limit remote=127.0.0.1' in l],
       'the refusals are logged')


@test
def admin_can_be_switched_off():
    e = Env(sections={'admin': {'listen': 'off'}})
    ok(' admin=off ' in e.d.log_lines('ready')[0] + ' ', e.d.log_lines('ready')[0])
    eq(e.d.admin_port, None, 'no admin port')
    eq(e.send(notification('OFF-1')), (200, ACK), 'notifications still work')


@test
def admin_listens_where_configured_ipv6():
    try:
        socket.socket(socket.AF_INET6).bind(('::1', 0))
    except OSError:
        raise Skip('no IPv6 loopback')
    e = Env(sections={'admin': {'listen': '[::1]:0'}})
    ok(re.search(r' admin=\[::1\]:\d+', e.d.log_lines('ready')[0]), e.d.log_lines('ready')[0])
    eq(admin_get(e.d, '/livez', host='::1')[0], 200, '/livez over IPv6')


@test
def admin_port_taken_is_a_start_failure():
    blocker = socket.socket()
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, sections={'admin': {'listen': '127.0.0.1:%d' % port}}, start=False)
    r = subprocess.run([NOTIFYD, '-c', d.config], capture_output=True, text=True, timeout=20)
    blocker.close()
    eq(r.returncode, 1, 'exit status')
    ok('admin.listen: cannot listen on 127.0.0.1:%d' % port in r.stderr, r.stderr)


if __name__ == '__main__':
    run()
