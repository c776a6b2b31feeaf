#ifndef LIANPAY_NETADDR_H
#define LIANPAY_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address family and prefix: "10.0.0.0/8", "::1", "127.0.0.1" (a bare address is /32 or /128).
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are compared as IPv4. */
struct netaddr_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct netaddr_list {
    struct netaddr_cidr *items;
    size_t n;
};

/* A listening address as configured ("server.listen = [::1]:8080"). Borrowed strings. */
struct netaddr_listen {
    const char *key;  /* the setting it comes from ("server.listen"), for messages */
    const char *text; /* as written */
    const char *host; /* the IP address, without brackets */
    uint16_t port;    /* 0: a free port */
};

/* Parses one address or CIDR. Returns 0, or -1. */
int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out);

/* Parses a space- (or comma-) separated list. Returns 0, or -1 with the offending word copied
 * into bad (badlen bytes). An empty string gives an empty list. */
int netaddr_parse_list(const char *s, struct netaddr_list *out, char *bad, size_t badlen);
void netaddr_list_finish(struct netaddr_list *l);

/* True when the textual address addr falls in some entry of l. */
bool netaddr_list_contains(const struct netaddr_list *l, const char *addr);

/* Formats a socket address as text without port ("127.0.0.1", "::1"; IPv4-mapped shown as IPv4).
 * buf must hold 46 bytes. Returns 0, or -1. */
int netaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/*
 * The client address to believe: when peer is in trusted, the right-most address of the
 * X-Forwarded-For header that is not itself trusted (or the left-most if all are); otherwise
 * peer. xff may be NULL. A malformed X-Forwarded-For from a trusted proxy yields -1 (refuse).
 * Result written into out (46 bytes).
 */
int netaddr_client(const char *peer, const char *xff, const struct netaddr_list *trusted, char *out,
                   size_t len);

/* The other way round: "host:port", an IPv6 host in brackets ("[::1]:8080"), into buf.
 * Returns 0, or -1 when it was cut short. */
int netaddr_join_hostport(const char *host, uint16_t port, char *buf, size_t len);

/* Fills *ss with the IPv4 or IPv6 address host (text, no brackets) and port. Returns 0, or -1
 * when host is not an IP address. */
int netaddr_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *ss);

/* Splits "host:port" / "[v6]:port" into host (without brackets) and port. Returns 0, or -1. */
int netaddr_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
