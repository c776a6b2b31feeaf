/*
 * bench-httppath: the HTTP thread's per-notification CPU path without the HTTP server, for
 * callgrind: reads bodies from bench-gen (one per line) and runs on each what httpd.c's process()
 * runs before it queues the message: msg_parse, sign_string, keyring_verify_text,
 * payresult_from_signed, msg_finish.
 * Every body must be accepted (exit 1 otherwise). Measure with
 *   valgrind --tool=callgrind --toggle-collect=one_request bench-httppath KEY.pem BODIES
 * and divide the Ir by the count it prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "keys.h"
#include "msg.h"
#include "payresult.h"
#include "sign.h"

#define OID_PARTNER "201103171000000000" /* bench/orders.h */

/* Not static, not inlined: callgrind's --toggle-collect names it. */
__attribute__((noinline)) int one_request(struct keyring *kr, const char *body, size_t len,
                                          struct payresult *out);

__attribute__((noinline)) int one_request(struct keyring *kr, const char *body, size_t len,
                                          struct payresult *out)
{
    struct msg m = {0};
    const char *why = NULL;
    int rc = -1;

    if (msg_parse(body, len, &m, &why) < 0)
        return -1;
    size_t tlen = 0;
    char *text = sign_string(&m, &tlen);
    if (keyring_verify_text(kr, &m, text, tlen) >= 0 &&
        payresult_from_signed(&m, text, tlen, PAYRESULT_NOTIFY, OID_PARTNER, out, &why) ==
            PAYRESULT_ACCEPTED)
        rc = 0;
    free(text);
    msg_finish(&m);
    return rc;
}

int main(int argc, char **argv)
{
    char err[256];
    struct keyset ks = {0};
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    struct payresult r;

    if (argc != 3) {
        fprintf(stderr, "usage: bench-httppath PUBLIC_KEY.pem BODIES\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (f == NULL || keys_load_set(argv[1], &ks, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-httppath: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    struct keyring *kr = keyring_create(&ks);
    if (kr == NULL)
        return 2;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        if (one_request(kr, line, (size_t)len, &r) < 0) {
            fprintf(stderr, "bench-httppath: body %zu refused\n", n + 1);
            return 1;
        }
        n++;
    }
    printf("%zu requests\n", n);
    free(line);
    fclose(f);
    keyring_destroy(kr);
    return 0;
}
