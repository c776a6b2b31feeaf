/*
 * IP addresses as the receiver sees them: the CIDR lists of the configuration (trusted_proxies,
 * allow_from), the client address behind a reverse proxy (X-Forwarded-For) and the listen
 * address. Pure functions, no state: safe from any thread.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is turned into plain IPv4 as soon as it is
 * parsed, on both sides of every comparison, so that a dual-stack socket's peer "::ffff:10.1.2.3"
 * matches "10.0.0.0/8". A CIDR whose address has bits set beyond its prefix ("10.1.2.3/8") is
 * refused rather than silently widened: it is usually an interface address pasted by mistake,
 * and in an allow list that mistake opens a whole network.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest textual IPv6 address (INET6_ADDRSTRLEN - 1) plus "/128". */
#define CIDR_TEXT_MAX 64
/* A proxy chain longer than this is not one we built: refuse rather than walk it. */
#define XFF_MAX_ENTRIES 32

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses a bare address; IPv4-mapped IPv6 comes out as AF_INET in addr[0..3]. */
static int parse_ip(const char *s, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) != 1)
        return -1;
    if (memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
        return 0;
    }
    *family = AF_INET6;
    return 0;
}

/* Strictly decimal, no sign, no spaces; at most max. */
static int parse_small_uint(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

static bool host_bits_clear(const uint8_t addr[16], unsigned prefix, unsigned bits)
{
    for (unsigned i = prefix; i < bits; i++) {
        if (addr[i / 8] & (0x80u >> (i % 8)))
            return false;
    }
    return true;
}

int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out)
{
    char text[CIDR_TEXT_MAX];
    size_t n = strlen(s);
    unsigned prefix = 0;
    bool has_prefix = false;
    int family = 0;
    uint8_t addr[16];

    if (n == 0 || n >= sizeof(text))
        return -1;
    memcpy(text, s, n + 1);
    char *slash = strchr(text, '/');
    if (slash != NULL) {
        *slash = '\0';
        if (parse_small_uint(slash + 1, 128, &prefix) < 0)
            return -1;
        has_prefix = true;
    }
    if (parse_ip(text, &family, addr) < 0)
        return -1;

    unsigned bits = family == AF_INET ? 32 : 128;
    if (has_prefix && family == AF_INET && strchr(text, ':') != NULL) {
        /* "::ffff:10.0.0.0/104" is written in IPv6 prefix length. */
        if (prefix < 96)
            return -1;
        prefix -= 96;
    }
    if (!has_prefix)
        prefix = bits;
    if (prefix > bits || !host_bits_clear(addr, prefix, bits))
        return -1;

    out->family = family;
    memcpy(out->addr, addr, sizeof(out->addr));
    out->prefix = prefix;
    return 0;
}

static bool is_list_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

/* Copies the next word of *s into word (NUL-terminated, truncated to len) and advances *s.
 * Returns the word's full length, 0 at the end. */
static size_t next_word(const char **s, char *word, size_t len)
{
    const char *p = *s;
    while (is_list_sep(*p))
        p++;
    const char *start = p;
    while (*p != '\0' && !is_list_sep(*p))
        p++;
    size_t n = (size_t)(p - start);
    size_t copy = n < len ? n : len - 1;
    memcpy(word, start, copy);
    word[copy] = '\0';
    *s = p;
    return n;
}

static void copy_bad(char *bad, size_t badlen, const char *word)
{
    if (bad == NULL || badlen == 0)
        return;
    size_t n = strlen(word);
    if (n >= badlen)
        n = badlen - 1;
    memcpy(bad, word, n);
    bad[n] = '\0';
}

int netaddr_parse_list(const char *s, struct netaddr_list *out, char *bad, size_t badlen)
{
    char word[CIDR_TEXT_MAX + 1];
    const char *p = s;
    size_t count = 0;
    struct netaddr_cidr *items = NULL;
    int rc = -1;

    out->items = NULL;
    out->n = 0;
    while (next_word(&p, word, sizeof(word)) > 0)
        count++;
    if (count == 0)
        return 0;
    items = calloc(count, sizeof(*items));
    if (items == NULL) {
        copy_bad(bad, badlen, "(out of memory)");
        goto out;
    }
    p = s;
    for (size_t i = 0; i < count; i++) {
        size_t n = next_word(&p, word, sizeof(word));
        /* A word too long for the buffer is no address; report what fits of it. */
        if (n >= sizeof(word) || netaddr_parse_cidr(word, &items[i]) < 0) {
            copy_bad(bad, badlen, word);
            goto out;
        }
    }
    out->items = items;
    out->n = count;
    items = NULL;
    rc = 0;
out:
    free(items);
    return rc;
}

void netaddr_list_finish(struct netaddr_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static bool cidr_match(const struct netaddr_cidr *c, int family, const uint8_t addr[16])
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8;
    unsigned rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

static bool list_match(const struct netaddr_list *l, int family, const uint8_t addr[16])
{
    for (size_t i = 0; i < l->n; i++) {
        if (cidr_match(&l->items[i], family, addr))
            return true;
    }
    return false;
}

bool netaddr_list_contains(const struct netaddr_list *l, const char *addr)
{
    int family;
    uint8_t bytes[16];

    if (l == NULL || addr == NULL || parse_ip(addr, &family, bytes) < 0)
        return false;
    return list_match(l, family, bytes);
}

static int format_ip(int family, const uint8_t addr[16], char *buf, size_t len)
{
    if (inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
        return -1;
    return 0;
}

int netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    uint8_t addr[16];
    int family;

    if (sa == NULL || buf == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        memcpy(addr, &sin->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(addr, &sin6->sin6_addr, 16);
        family = AF_INET6;
        if (memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            memmove(addr, addr + 12, 4);
            family = AF_INET;
        }
    } else {
        return -1;
    }
    return format_ip(family, addr, buf, len);
}

struct xff_entry {
    int family;
    uint8_t addr[16];
};

/* Splits X-Forwarded-For into addresses, left to right. Returns the count (0 for a blank
 * header), or -1 when an entry is empty or not an address or there are too many. */
static int xff_parse(const char *xff, struct xff_entry *e)
{
    char word[CIDR_TEXT_MAX];
    int n = 0;
    const char *p = xff;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - p);
        if (n == XFF_MAX_ENTRIES || len == 0 || len >= sizeof(word))
            return -1;
        memcpy(word, p, len);
        word[len] = '\0';
        if (parse_ip(word, &e[n].family, e[n].addr) < 0)
            return -1;
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

int netaddr_client(const char *peer, const char *xff, const struct netaddr_list *trusted, char *out,
                   size_t len)
{
    struct xff_entry chain[XFF_MAX_ENTRIES];
    int family;
    uint8_t addr[16];

    if (peer == NULL || parse_ip(peer, &family, addr) < 0)
        return -1;
    if (xff == NULL || trusted == NULL || !list_match(trusted, family, addr))
        return format_ip(family, addr, out, len);

    int n = xff_parse(xff, chain);
    if (n < 0)
        return -1;
    if (n == 0)
        return format_ip(family, addr, out, len);
    /* Each proxy appends the address it saw: the right-most untrusted entry is the first hop
     * that no trusted proxy vouches for, and everything left of it may be forged. */
    for (int i = n - 1; i >= 0; i--) {
        if (!list_match(trusted, chain[i].family, chain[i].addr))
            return format_ip(chain[i].family, chain[i].addr, out, len);
    }
    return format_ip(chain[0].family, chain[0].addr, out, len);
}

int netaddr_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *h;
    const char *colon;
    size_t hlen;
    unsigned p;

    if (s == NULL || host == NULL || hostlen == 0)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        h = s;
        hlen = (size_t)(colon - s);
        /* An unbracketed IPv6 address cannot be told apart from its port. */
        if (memchr(h, ':', hlen) != NULL)
            return -1;
    }
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    /* Port 0 is allowed: the kernel picks a free port (tests, the simulator). */
    if (parse_small_uint(colon + 1, 65535, &p) < 0)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (s[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -1;
    }
    *port = (uint16_t)p;
    return 0;
}

int netaddr_join_hostport(const char *host, uint16_t port, char *buf, size_t len)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

int netaddr_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return 0;
    }
    return -1;
}
