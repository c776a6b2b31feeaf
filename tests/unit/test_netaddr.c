/* netaddr: CIDR parsing and matching, address lists, X-Forwarded-For, host:port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "netaddr.h"

static struct netaddr_list list_of(const char *s)
{
    struct netaddr_list l;
    char bad[64];
    assert_int_equal(netaddr_parse_list(s, &l, bad, sizeof(bad)), 0);
    return l;
}

static void test_parse_v4(void **state)
{
    struct netaddr_cidr c;
    static const uint8_t ten[4] = {10, 0, 0, 0};
    static const uint8_t host[4] = {192, 0, 2, 7};

    assert_int_equal(netaddr_parse_cidr("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_memory_equal(c.addr, ten, 4);

    assert_int_equal(netaddr_parse_cidr("192.0.2.7", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 32);
    assert_memory_equal(c.addr, host, 4);

    assert_int_equal(netaddr_parse_cidr("0.0.0.0/0", &c), 0);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(netaddr_parse_cidr("192.0.2.7/32", &c), 0);
    assert_int_equal(c.prefix, 32);
}

static void test_parse_v6(void **state)
{
    struct netaddr_cidr c;
    uint8_t want[16];

    assert_int_equal(netaddr_parse_cidr("2001:db8::/32", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::", want), 1);
    assert_memory_equal(c.addr, want, 16);

    assert_int_equal(netaddr_parse_cidr("::1", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(netaddr_parse_cidr("::/0", &c), 0);
    assert_int_equal(c.prefix, 0);
}

static void test_parse_mapped(void **state)
{
    struct netaddr_cidr c;
    static const uint8_t want[4] = {10, 1, 2, 3};
    static const uint8_t ten[4] = {10, 0, 0, 0};

    assert_int_equal(netaddr_parse_cidr("::ffff:10.1.2.3", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 32);
    assert_memory_equal(c.addr, want, 4);

    /* The prefix length of a mapped CIDR counts IPv6 bits. */
    assert_int_equal(netaddr_parse_cidr("::ffff:10.0.0.0/104", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_memory_equal(c.addr, ten, 4);
    assert_int_equal(netaddr_parse_cidr("::ffff:0.0.0.0/96", &c), 0);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(netaddr_parse_cidr("::ffff:0.0.0.0/95", &c), -1);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "",
        "10.0.0.0/33",
        "::/129",
        "1.2.3.4/",
        "/8",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4/-1",
        "1.2.3.4/ 8",
        "1.2.3.4 ",
        "fe80::1%lo",
        "10.0.0.1/8",
        "2001:db8::1/64",
        "192.168.1.128/24",
        "1.2.3.4/8a",
        "localhost",
        "1.2.3.4/32/1",
        "::ffff:11.0.0.0/103",
        "0x7f.0.0.1",
    };
    struct netaddr_cidr c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (netaddr_parse_cidr(bad[i], &c) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_contains_v4_edges(void **state)
{
    struct netaddr_list l = list_of("192.168.1.0/24 10.0.0.128/25 203.0.113.9");

    assert_true(netaddr_list_contains(&l, "192.168.1.0"));
    assert_true(netaddr_list_contains(&l, "192.168.1.255"));
    assert_false(netaddr_list_contains(&l, "192.168.0.255"));
    assert_false(netaddr_list_contains(&l, "192.168.2.0"));
    assert_true(netaddr_list_contains(&l, "10.0.0.128"));
    assert_true(netaddr_list_contains(&l, "10.0.0.255"));
    assert_false(netaddr_list_contains(&l, "10.0.0.127"));
    assert_false(netaddr_list_contains(&l, "10.0.1.128"));
    assert_true(netaddr_list_contains(&l, "203.0.113.9"));
    assert_false(netaddr_list_contains(&l, "203.0.113.8"));
    assert_false(netaddr_list_contains(&l, "203.0.113.10"));
    /* Not an address at all. */
    assert_false(netaddr_list_contains(&l, "192.168.1.0/24"));
    assert_false(netaddr_list_contains(&l, "nonsense"));
    assert_false(netaddr_list_contains(&l, ""));
    netaddr_list_finish(&l);
}

static void test_contains_zero_prefix(void **state)
{
    struct netaddr_list v4 = list_of("0.0.0.0/0");
    struct netaddr_list v6 = list_of("::/0");

    assert_true(netaddr_list_contains(&v4, "0.0.0.0"));
    assert_true(netaddr_list_contains(&v4, "255.255.255.255"));
    assert_false(netaddr_list_contains(&v4, "::1"));
    assert_true(netaddr_list_contains(&v6, "2001:db8::1"));
    assert_true(netaddr_list_contains(&v6, "::"));
    assert_false(netaddr_list_contains(&v6, "8.8.8.8"));
    /* A mapped address is IPv4, so IPv6's /0 does not take it. */
    assert_false(netaddr_list_contains(&v6, "::ffff:8.8.8.8"));
    assert_true(netaddr_list_contains(&v4, "::ffff:8.8.8.8"));
    netaddr_list_finish(&v4);
    netaddr_list_finish(&v6);
}

static void test_contains_v6_edges(void **state)
{
    struct netaddr_list l = list_of("2001:db8:0:1::/64 ::1 2001:db8:fffe::/47");

    assert_true(netaddr_list_contains(&l, "2001:db8:0:1::"));
    assert_true(netaddr_list_contains(&l, "2001:db8:0:1:ffff:ffff:ffff:ffff"));
    assert_false(netaddr_list_contains(&l, "2001:db8:0:2::"));
    assert_false(netaddr_list_contains(&l, "2001:db8:0:0:ffff:ffff:ffff:ffff"));
    assert_true(netaddr_list_contains(&l, "::1"));
    assert_true(netaddr_list_contains(&l, "0:0:0:0:0:0:0:1"));
    assert_false(netaddr_list_contains(&l, "::2"));
    assert_false(netaddr_list_contains(&l, "127.0.0.1"));
    /* /47 leaves the last bit of the third group free. */
    assert_true(netaddr_list_contains(&l, "2001:db8:fffe::"));
    assert_true(netaddr_list_contains(&l, "2001:db8:ffff:ffff::1"));
    assert_false(netaddr_list_contains(&l, "2001:db8:fffd::"));
    assert_false(netaddr_list_contains(&l, "2001:db8:fffc:ffff::"));
    netaddr_list_finish(&l);
}

static void test_contains_mapped_both_sides(void **state)
{
    struct netaddr_list v4 = list_of("10.0.0.0/8");
    struct netaddr_list mapped = list_of("::ffff:192.0.2.1");

    assert_true(netaddr_list_contains(&v4, "::ffff:10.1.2.3"));
    assert_true(netaddr_list_contains(&v4, "::FFFF:10.255.255.255"));
    assert_false(netaddr_list_contains(&v4, "::ffff:11.0.0.0"));
    assert_true(netaddr_list_contains(&mapped, "192.0.2.1"));
    assert_true(netaddr_list_contains(&mapped, "::ffff:192.0.2.1"));
    assert_false(netaddr_list_contains(&mapped, "192.0.2.2"));
    netaddr_list_finish(&v4);
    netaddr_list_finish(&mapped);
}

static void test_list_parse(void **state)
{
    struct netaddr_list l;
    char bad[64];

    assert_int_equal(netaddr_parse_list(" 127.0.0.1,::1\t10.0.0.0/8 ,, ", &l, bad, sizeof(bad)), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[0].family, AF_INET);
    assert_int_equal(l.items[1].family, AF_INET6);
    assert_int_equal(l.items[2].prefix, 8);
    netaddr_list_finish(&l);
    assert_null(l.items);
    assert_int_equal(l.n, 0);

    assert_int_equal(netaddr_parse_list("", &l, bad, sizeof(bad)), 0);
    assert_int_equal(l.n, 0);
    assert_null(l.items);
    assert_false(netaddr_list_contains(&l, "127.0.0.1"));
    assert_int_equal(netaddr_parse_list("  , ", &l, bad, sizeof(bad)), 0);
    assert_int_equal(l.n, 0);
    netaddr_list_finish(&l);
}

static void test_list_errors(void **state)
{
    struct netaddr_list l = {0};
    char bad[64];
    char small[6];

    assert_int_equal(netaddr_parse_list("127.0.0.1 10.0.0.0/33 ::1", &l, bad, sizeof(bad)), -1);
    assert_string_equal(bad, "10.0.0.0/33");
    assert_null(l.items);
    assert_int_equal(l.n, 0);

    assert_int_equal(netaddr_parse_list("::1,bogus", &l, bad, sizeof(bad)), -1);
    assert_string_equal(bad, "bogus");
    assert_int_equal(netaddr_parse_list("10.1.2.3/8", &l, bad, sizeof(bad)), -1);
    assert_string_equal(bad, "10.1.2.3/8");

    /* The bad word is cut to fit. */
    assert_int_equal(netaddr_parse_list("1.1.1.1 nonsense-word", &l, small, sizeof(small)), -1);
    assert_string_equal(small, "nonse");

    /* A word too long to be an address. */
    char longword[200];
    memset(longword, 'a', sizeof(longword) - 1);
    longword[sizeof(longword) - 1] = '\0';
    assert_int_equal(netaddr_parse_list(longword, &l, bad, sizeof(bad)), -1);
    assert_int_equal(strncmp(bad, "aaaa", 4), 0);
    netaddr_list_finish(&l);
    netaddr_list_finish(NULL);
}

static void test_format(void **state)
{
    char buf[46];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    assert_int_equal(inet_pton(AF_INET, "192.0.2.33", &sin.sin_addr), 1);
    assert_int_equal(netaddr_format((struct sockaddr *)&sin, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "192.0.2.33");

    assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr), 1);
    assert_int_equal(netaddr_format((struct sockaddr *)&sin6, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2001:db8::5");

    assert_int_equal(inet_pton(AF_INET6, "::ffff:198.51.100.4", &sin6.sin6_addr), 1);
    assert_int_equal(netaddr_format((struct sockaddr *)&sin6, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "198.51.100.4");

    assert_int_equal(netaddr_format((struct sockaddr *)&sun, buf, sizeof(buf)), -1);
}

static void test_client_untrusted_peer(void **state)
{
    struct netaddr_list trusted = list_of("127.0.0.1 ::1");
    char out[46];

    /* Anyone can write X-Forwarded-For: from an untrusted peer it is ignored, even malformed. */
    assert_int_equal(netaddr_client("198.51.100.7", "1.2.3.4", &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.100.7");
    assert_int_equal(netaddr_client("198.51.100.7", "bogus", &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.100.7");
    assert_int_equal(netaddr_client("::ffff:198.51.100.7", NULL, &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.100.7");
    assert_int_equal(netaddr_client("not-an-ip", NULL, &trusted, out, sizeof(out)), -1);
    netaddr_list_finish(&trusted);
}

static void test_client_trusted_peer(void **state)
{
    struct netaddr_list trusted = list_of("127.0.0.1 ::1 10.0.0.0/8");
    char out[46];

    assert_int_equal(netaddr_client("127.0.0.1", NULL, &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1");
    assert_int_equal(netaddr_client("127.0.0.1", "  ", &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1");
    assert_int_equal(netaddr_client("127.0.0.1", "203.0.113.5", &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "203.0.113.5");

    /* Right-most untrusted: the forged left part is not believed. */
    assert_int_equal(
        netaddr_client("127.0.0.1", "6.6.6.6, 203.0.113.5 ,10.0.0.5", &trusted, out, sizeof(out)),
        0);
    assert_string_equal(out, "203.0.113.5");
    assert_int_equal(netaddr_client("::1", "2001:db8::9,  10.1.1.1", &trusted, out, sizeof(out)),
                     0);
    assert_string_equal(out, "2001:db8::9");

    /* The peer is mapped, an entry is mapped: both come out as IPv4. */
    assert_int_equal(
        netaddr_client("::ffff:127.0.0.1", "::ffff:8.8.8.8", &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "8.8.8.8");

    /* All trusted: the left-most, the first hop. */
    assert_int_equal(netaddr_client("127.0.0.1", "10.0.0.1, 10.0.0.2", &trusted, out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.0.0.1");
    netaddr_list_finish(&trusted);
}

static void test_client_malformed(void **state)
{
    struct netaddr_list trusted = list_of("127.0.0.1");
    char out[46];
    char xff[1024] = "";
    static const char *const bad[] = {
        "1.2.3.4, bogus", "1.2.3.4,,5.6.7.8", "1.2.3.4,",        ",1.2.3.4",
        "1.2.3.4:80",     "unknown",          "1.2.3.4 5.6.7.8", "[::1]",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (netaddr_client("127.0.0.1", bad[i], &trusted, out, sizeof(out)) != -1)
            fail_msg("accepted X-Forwarded-For \"%s\"", bad[i]);
    }

    /* 32 entries are a long chain but allowed; 33 are refused. */
    for (int i = 0; i < 32; i++)
        snprintf(xff + strlen(xff), sizeof(xff) - strlen(xff), "%s10.0.0.%d", i ? ", " : "", i);
    assert_int_equal(netaddr_client("127.0.0.1", xff, &trusted, out, sizeof(out)), 0);
    assert_string_equal(out, "10.0.0.31");
    strcat(xff, ", 10.0.0.99");
    assert_int_equal(netaddr_client("127.0.0.1", xff, &trusted, out, sizeof(out)), -1);
    netaddr_list_finish(&trusted);
}

static void test_split_hostport(void **state)
{
    char host[64];
    uint16_t port = 0;

    assert_int_equal(netaddr_split_hostport("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(netaddr_split_hostport("[::1]:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(netaddr_split_hostport("0.0.0.0:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 80);
    assert_int_equal(netaddr_split_hostport("[::]:65535", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::");
    assert_int_equal(port, 65535);
    assert_int_equal(netaddr_split_hostport("127.0.0.1:0", host, sizeof(host), &port), 0);
    assert_int_equal(port, 0);
    assert_int_equal(netaddr_split_hostport("localhost:1", host, sizeof(host), &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 1);
}

static void test_split_hostport_errors(void **state)
{
    static const char *const bad[] = {
        "127.0.0.1",     "127.0.0.1:",      ":8080",        "::1:8080", "[::1]8080",
        "[::1]",         "[::1]:",          "[1.2.3.4]:80", "[]:80",    "127.0.0.1:65536",
        "127.0.0.1:80a", "127.0.0.1:+80",   "127.0.0.1:-1", "[::1:80",  "",
        "127.0.0.1: 80", "[fe80::1%lo]:80",
    };
    char host[64];
    char tiny[4];
    uint16_t port;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (netaddr_split_hostport(bad[i], host, sizeof(host), &port) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(netaddr_split_hostport("127.0.0.1:80", tiny, sizeof(tiny), &port), -1);
}

/* What split takes apart, join puts back: the form of the daemon's ready line. */
static void test_join_hostport(void **state)
{
    static const char *const forms[] = {"127.0.0.1:8080", "[::1]:8080", "[::]:0", "0.0.0.0:65535",
                                        "[fe80::1:2]:443"};
    char host[64], buf[96], tiny[10];
    uint16_t port = 0;

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        assert_int_equal(netaddr_split_hostport(forms[i], host, sizeof(host), &port), 0);
        assert_int_equal(netaddr_join_hostport(host, port, buf, sizeof(buf)), 0);
        assert_string_equal(buf, forms[i]);
    }
    assert_int_equal(netaddr_join_hostport("127.0.0.1", 8080, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "127.0.0.1");
}

static void test_sockaddr(void **state)
{
    struct sockaddr_storage ss;
    char buf[46];

    assert_int_equal(netaddr_sockaddr("127.0.0.1", 8080, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(netaddr_format((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "127.0.0.1");
    assert_int_equal(netaddr_sockaddr("::1", 0, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(netaddr_sockaddr("localhost", 80, &ss), -1);
    assert_int_equal(netaddr_sockaddr("[::1]", 80, &ss), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_parse_mapped),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_contains_v4_edges),
        cmocka_unit_test(test_contains_zero_prefix),
        cmocka_unit_test(test_contains_v6_edges),
        cmocka_unit_test(test_contains_mapped_both_sides),
        cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_client_untrusted_peer),
        cmocka_unit_test(test_client_trusted_peer),
        cmocka_unit_test(test_client_malformed),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_split_hostport_errors),
        cmocka_unit_test(test_join_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
