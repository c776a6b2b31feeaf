/*
 * TLS credentials that a reload can replace (tlscred.h). GnuTLS asks for the certificate during
 * each handshake, on libmicrohttpd's threads; a reload, on the main thread, loads the new pair
 * completely and checks it before publishing it with one atomic store, so that a handshake sees
 * either the old pair or the new one, never half of one. A pair once published is not freed
 * until tlscred_destroy: a handshake may still be using the one just replaced, and GnuTLS keeps
 * pointers into it for the session. Reloads are rare (a renewal every few weeks), so what they
 * keep is small.
 */
#include "tlscred.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

/* A certificate chain or its key; anything larger is the wrong file. */
#define PEM_MAX (1 << 20)
/* Certificates in a chain: ours and its intermediates. */
#define CHAIN_MAX 16

struct pair {
    gnutls_pcert_st chain[CHAIN_MAX];
    unsigned n;
    gnutls_privkey_t key;
    struct pair *older; /* the pair this one replaced, kept until destroy */
};

struct tlscred {
    struct pair *_Atomic current;
};

/* The callback has no argument: the process's one set of credentials. */
static struct tlscred *_Atomic installed;

static void pair_free(struct pair *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->chain[i]);
    if (p->key != NULL)
        gnutls_privkey_deinit(p->key);
    free(p);
}

/* The public key's id of a certificate and of a private key: equal when they belong together. */
static int same_key(gnutls_pcert_st *cert, gnutls_privkey_t key)
{
    unsigned char a[64], b[64];
    size_t alen = sizeof(a), blen = sizeof(b);
    gnutls_pubkey_t pub = NULL;
    int same = 0;

    if (gnutls_pubkey_init(&pub) < 0)
        return 0;
    if (gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
        gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a, &alen) == 0 &&
        gnutls_pubkey_get_key_id(cert->pubkey, GNUTLS_KEYID_USE_SHA256, b, &blen) == 0)
        same = alen == blen && memcmp(a, b, alen) == 0;
    gnutls_pubkey_deinit(pub);
    return same;
}

/* Reads and parses both files. Returns the pair, or NULL with a reason in err. */
static struct pair *pair_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    char why[256];
    size_t cert_len = 0, key_len = 0;
    char *cert = NULL, *key = NULL;
    struct pair *p = calloc(1, sizeof(*p));
    int rc;

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cert = fileio_read(cert_path, PEM_MAX, 0, &cert_len, why, sizeof(why));
    if (cert == NULL) {
        snprintf(err, errlen, "%s: %s", cert_path, why);
        goto fail;
    }
    key = fileio_read(key_path, PEM_MAX, FILEIO_SECRET, &key_len, why, sizeof(why));
    if (key == NULL) {
        snprintf(err, errlen, "%s: %s", key_path, why);
        goto fail;
    }
    gnutls_datum_t cd = {(unsigned char *)cert, (unsigned)cert_len};
    gnutls_datum_t kd = {(unsigned char *)key, (unsigned)key_len};
    p->n = CHAIN_MAX;
    rc = gnutls_pcert_list_import_x509_raw(p->chain, &p->n, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || p->n == 0) {
        p->n = 0;
        snprintf(err, errlen, "%s: not a PEM certificate chain: %s", cert_path,
                 rc < 0 ? gnutls_strerror(rc) : "empty");
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(err, errlen, "%s: not a PEM private key: %s", key_path, gnutls_strerror(rc));
        goto fail;
    }
    if (!same_key(&p->chain[0], p->key)) {
        snprintf(err, errlen, "%s is not the key of the certificate in %s", key_path, cert_path);
        goto fail;
    }
    free(cert);
    fileio_free_secret(key, key_len);
    return p;
fail:
    free(cert);
    fileio_free_secret(key, key_len);
    pair_free(p);
    return NULL;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    struct tlscred *c = atomic_load(&installed);
    struct pair *p = c != NULL ? atomic_load(&c->current) : NULL;

    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    if (p == NULL)
        return -1;
    *pcert = p->chain;
    *pcert_length = p->n;
    *pkey = p->key;
    return 0;
}

void *tlscred_callback(void)
{
    /* libmicrohttpd takes the function through its void * option value (POSIX makes function
     * and object pointers convertible, as dlsym needs). */
    union {
        gnutls_certificate_retrieve_function2 *fn;
        void *p;
    } u = {.fn = retrieve};
    return u.p;
}

struct tlscred *tlscred_create(const char *cert_path, const char *key_path, char *err,
                               size_t errlen)
{
    struct tlscred *c = calloc(1, sizeof(*c));
    struct pair *p;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p = pair_load(cert_path, key_path, err, errlen);
    if (p == NULL) {
        free(c);
        return NULL;
    }
    atomic_init(&c->current, p);
    atomic_store(&installed, c);
    return c;
}

int tlscred_reload(struct tlscred *c, const char *cert_path, const char *key_path, char *err,
                   size_t errlen)
{
    struct pair *p = pair_load(cert_path, key_path, err, errlen);

    if (p == NULL)
        return -1;
    p->older = atomic_load(&c->current);
    atomic_store(&c->current, p);
    return 0;
}

void tlscred_destroy(struct tlscred *c)
{
    if (c == NULL)
        return;
    struct tlscred *self = c;
    atomic_compare_exchange_strong(&installed, &self, NULL);
    for (struct pair *p = atomic_load(&c->current), *older; p != NULL; p = older) {
        older = p->older;
        pair_free(p);
    }
    free(c);
}
