/*
 * RSA key files: LianLian's public key(s), our private key, and generating a pair.
 *
 * LianLian hands out its public key as bare base64 of the DER SubjectPublicKeyInfo, its Java demo
 * uses PKCS#8 and its PHP demo PKCS#1 PEM: all are accepted, told apart by the PEM header or its
 * absence. Error messages name the file and the problem; they never quote the file's content, and
 * buffers that held private key material are cleansed before they are freed. Nothing here ever
 * prompts for a passphrase: encrypted keys are refused.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fileio.h"

#define KEY_FILE_MAX (64 * 1024)
#define KEY_MIN_BITS 1024

static void set_err(char *err, size_t errlen, const char *path, const char *what)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", path, what);
}

/* The whole file, NUL-terminated, in *data (*len bytes; free with fileio_free_secret). */
static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    char why[256];

    *data = fileio_read(path, KEY_FILE_MAX, FILEIO_SECRET | FILEIO_REGULAR, len, why, sizeof(why));
    if (*data != NULL)
        return 0;
    set_err(err, errlen, path, errno == EFBIG ? "file too large for a key" : why);
    return -1;
}

static bool is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/*
 * Bare base64 with any white space in between, as LianLian hands its key out. Returns the DER
 * in *der (free with fileio_free_secret) and its length, or 0 when the text is not base64.
 */
static size_t b64_decode(const char *text, unsigned char **der)
{
    size_t len = strlen(text), n = 0, pad = 0;
    char *clean = malloc(len + 1);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    int got = -1;

    *der = NULL;
    if (clean == NULL || out == NULL)
        goto out;
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=')
            pad++;
        /* Padding only at the end, at most two. */
        if (pad > 2 || (c != '=' && (pad > 0 || !is_b64_char(c))))
            goto out;
        clean[n++] = (char)c;
    }
    if (n > 0 && n % 4 == 0)
        got = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n);
out:
    fileio_free_secret(clean, len + 1);
    if (got < 0 || (size_t)got <= pad) {
        fileio_free_secret(out, len / 4 * 3 + 3);
        return 0;
    }
    *der = out;
    return (size_t)got - pad;
}

/* Refuses anything but plain RSA of a usable size, naming what was found instead. */
static int check_rsa(EVP_PKEY *key, const char *path, char *err, size_t errlen)
{
    char what[96];

    if (!EVP_PKEY_is_a(key, "RSA")) {
        const char *type = EVP_PKEY_get0_type_name(key);
        snprintf(what, sizeof(what), "not an RSA key (%s)", type != NULL ? type : "unknown type");
        set_err(err, errlen, path, what);
        return -1;
    }
    if (EVP_PKEY_get_bits(key) < KEY_MIN_BITS) {
        snprintf(what, sizeof(what), "RSA key of %d bits, at least %d needed",
                 EVP_PKEY_get_bits(key), KEY_MIN_BITS);
        set_err(err, errlen, path, what);
        return -1;
    }
    return 0;
}

/* PEM password callback: there is never a passphrase, and never a prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static bool is_encrypted_pkcs8(const unsigned char *der, size_t n)
{
    const unsigned char *p = der;
    X509_SIG *sig = d2i_X509_SIG(NULL, &p, (long)n);
    bool whole = sig != NULL && p == der + n;

    X509_SIG_free(sig);
    return whole;
}

/* What tells the two kinds of key file apart: the loading is the same, these checks are not. */
struct key_kind {
    /* PEM: text that means the wrong file, and the words for it; the header expected. */
    const char *pem_refused;
    const char *pem_refused_why;
    const char *pem_header;
    const char *pem_header_why;
    const char *pem_unreadable;
    EVP_PKEY *(*from_pem)(BIO *bio, EVP_PKEY **key, pem_password_cb *cb, void *u);
    /* Bare base64 of DER: a form refused before decoding (NULL: none), and the decoder. */
    bool (*der_refused)(const unsigned char *der, size_t n);
    const char *der_refused_why;
    EVP_PKEY *(*from_der)(EVP_PKEY **key, const unsigned char **p, long n);
    const char *der_unreadable;
};

static const struct key_kind public_key = {
    .pem_refused = "PRIVATE KEY-----",
    .pem_refused_why = "holds a private key, not a public key",
    .pem_header = "-----BEGIN PUBLIC KEY-----",
    .pem_header_why = "not a PEM public key (BEGIN PUBLIC KEY expected)",
    .pem_unreadable = "unreadable PEM public key",
    .from_pem = PEM_read_bio_PUBKEY,
    .from_der = d2i_PUBKEY,
    .der_unreadable = "base64 is not a DER SubjectPublicKeyInfo",
};

#define ENCRYPTED_WHY "encrypted private key (passphrases are not supported)"

static const struct key_kind private_key = {
    /* "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8) or "Proc-Type: 4,ENCRYPTED" (PKCS#1). */
    .pem_refused = "ENCRYPTED",
    .pem_refused_why = ENCRYPTED_WHY,
    .pem_header = "PRIVATE KEY-----",
    .pem_header_why = "not a PEM private key (BEGIN PRIVATE KEY expected)",
    .pem_unreadable = "unreadable PEM private key",
    .from_pem = PEM_read_bio_PrivateKey,
    .der_refused = is_encrypted_pkcs8,
    .der_refused_why = ENCRYPTED_WHY,
    .from_der = d2i_AutoPrivateKey, /* PKCS#8 or PKCS#1 */
    .der_unreadable = "base64 is not a DER PKCS#8 or PKCS#1 private key",
};

static EVP_PKEY *from_pem(const struct key_kind *kind, const char *data, size_t len,
                          const char *path, char *err, size_t errlen)
{
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;

    if (strstr(data, kind->pem_refused) != NULL) {
        set_err(err, errlen, path, kind->pem_refused_why);
        return NULL;
    }
    if (strstr(data, kind->pem_header) == NULL) {
        set_err(err, errlen, path, kind->pem_header_why);
        return NULL;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL)
        key = kind->from_pem(bio, NULL, no_passphrase, NULL);
    if (key == NULL)
        set_err(err, errlen, path, kind->pem_unreadable);
    BIO_free(bio);
    return key;
}

static EVP_PKEY *from_b64(const struct key_kind *kind, const char *data, const char *path,
                          char *err, size_t errlen)
{
    unsigned char *der = NULL;
    size_t n = b64_decode(data, &der);
    const unsigned char *p = der;
    EVP_PKEY *key = NULL;

    if (n == 0) {
        set_err(err, errlen, path, "neither PEM nor base64");
        return NULL;
    }
    if (kind->der_refused != NULL && kind->der_refused(der, n)) {
        set_err(err, errlen, path, kind->der_refused_why);
        goto out;
    }
    key = kind->from_der(NULL, &p, (long)n);
    if (key == NULL || p != der + n) {
        set_err(err, errlen, path, kind->der_unreadable);
        EVP_PKEY_free(key);
        key = NULL;
    }
out:
    fileio_free_secret(der, n);
    return key;
}

static EVP_PKEY *load_key(const struct key_kind *kind, const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;

    if (read_file(path, &data, &len, err, errlen) < 0)
        return NULL;
    if (strstr(data, "-----BEGIN") != NULL)
        key = from_pem(kind, data, len, path, err, errlen);
    else
        key = from_b64(kind, data, path, err, errlen);
    if (key != NULL && check_rsa(key, path, err, errlen) < 0) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    fileio_free_secret(data, len);
    ERR_clear_error();
    return key;
}

EVP_PKEY *keys_load_public(const char *path, char *err, size_t errlen)
{
    return load_key(&public_key, path, err, errlen);
}

EVP_PKEY *keys_load_private(const char *path, char *err, size_t errlen)
{
    return load_key(&private_key, path, err, errlen);
}

static int keyset_add(struct keyset *ks, EVP_PKEY *key)
{
    EVP_PKEY **p = realloc(ks->keys, (ks->n + 1) * sizeof(*p));

    if (p == NULL)
        return -1;
    ks->keys = p;
    ks->keys[ks->n++] = key;
    return 0;
}

int keys_load_set(const char *paths, struct keyset *out, char *err, size_t errlen)
{
    struct keyset ks = {0};
    const char *sep = " \t\r\n";
    const char *p = paths + strspn(paths, sep);

    while (*p != '\0') {
        size_t n = strcspn(p, sep);
        char *path = strndup(p, n);
        EVP_PKEY *key = path != NULL ? keys_load_public(path, err, errlen) : NULL;
        if (path == NULL)
            set_err(err, errlen, "public keys", "out of memory");
        free(path);
        if (key == NULL || keyset_add(&ks, key) < 0) {
            EVP_PKEY_free(key);
            keys_set_finish(&ks);
            return -1;
        }
        p += n;
        p += strspn(p, sep);
    }
    if (ks.n == 0) {
        set_err(err, errlen, "public keys", "no key file given");
        return -1;
    }
    *out = ks;
    return 0;
}

void keys_set_finish(struct keyset *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++)
        EVP_PKEY_free(ks->keys[i]);
    free(ks->keys);
    ks->keys = NULL;
    ks->n = 0;
}

/* Writes key as PEM to path, created with mode (and forced to it if the file existed). */
static int write_pem(const char *path, EVP_PKEY *key, bool private, mode_t mode, char *err,
                     size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    BIO *bio = NULL;
    int ok = 0;

    if (fd < 0) {
        set_err(err, errlen, path, strerror(errno));
        return -1;
    }
    if (private && fchmod(fd, mode) < 0)
        goto out;
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (bio == NULL)
        goto out;
    if (private)
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_PUBKEY(bio, key);
    ok = ok == 1 && BIO_flush(bio) == 1 && fsync(fd) == 0;
out:
    BIO_free(bio);
    if (close(fd) < 0)
        ok = 0;
    if (!ok)
        set_err(err, errlen, path, "cannot write the key");
    return ok ? 0 : -1;
}

int keys_generate(int bits, const char *private_path, const char *public_path, char *err,
                  size_t errlen)
{
    EVP_PKEY *key = NULL;
    int rc = -1;

    if (bits < KEY_MIN_BITS || bits > 16384) {
        set_err(err, errlen, "keygen", "RSA key size must be 1024 to 16384 bits");
        return -1;
    }
    key = EVP_RSA_gen((unsigned int)bits);
    if (key == NULL) {
        set_err(err, errlen, "keygen", "RSA key generation failed");
        goto out;
    }
    if (write_pem(private_path, key, true, 0600, err, errlen) < 0 ||
        write_pem(public_path, key, false, 0644, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}
