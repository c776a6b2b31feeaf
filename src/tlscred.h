#ifndef LIANPAY_TLSCRED_H
#define LIANPAY_TLSCRED_H

#include <stddef.h>

/*
 * The notification listener's TLS certificate chain and key, handed to GnuTLS for each
 * handshake through libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK, so that a SIGHUP can put a
 * renewed certificate in place without a restart: handshakes from then on use the new one,
 * connections already up keep theirs. One per process (the callback has no argument of its own).
 */
struct tlscred;

/* Loads the PEM chain at cert_path and the PEM key at key_path (read as a secret: the buffers
 * are wiped). Returns the credentials, or NULL with "PATH: reason" in err. */
struct tlscred *tlscred_create(const char *cert_path, const char *key_path, char *err,
                               size_t errlen);

/* Loads the pair again (renewed files, or other paths) and uses it for every later handshake.
 * The key must be the certificate's. Returns 0, or -1 with a reason in err and the previous pair
 * still in use. Call from one thread at a time. */
int tlscred_reload(struct tlscred *c, const char *cert_path, const char *key_path, char *err,
                   size_t errlen);

/* The value of MHD_OPTION_HTTPS_CERT_CALLBACK (a gnutls_certificate_retrieve_function2). */
void *tlscred_callback(void);

/* Frees every pair loaded; after the libmicrohttpd daemon stopped. NULL is accepted. */
void tlscred_destroy(struct tlscred *c);

#endif
