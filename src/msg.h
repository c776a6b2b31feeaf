#ifndef LIANPAY_MSG_H
#define LIANPAY_MSG_H

#include <stddef.h>

/*
 * A LianLian message: one flat JSON object, kept as its members in the order received.
 * Strings are JSON-decoded; numbers and true/false keep their text exactly as written,
 * because LianLian signs that text (200.10 signs as "200.10", never "200.1").
 */
enum msg_type {
    MSG_STRING,
    MSG_NUMBER,
    MSG_TRUE,
    MSG_FALSE,
    MSG_NULL,
};

struct msg_field {
    char *key;   /* decoded, NUL-terminated, valid UTF-8 */
    char *value; /* decoded string, or the literal text of a number/true/false; NULL for null */
    enum msg_type type;
}; /* key and value are one allocation (key's), owned by msg.c: msg_set and msg_finish free it */

struct msg {
    struct msg_field *fields;
    size_t n;
};

/*
 * Parses body (len bytes, need not be NUL-terminated) strictly: one JSON object whose members
 * are strings, numbers, true, false or null; anything else (nested object/array, duplicate key
 * after decoding, invalid UTF-8, a NUL in a key or value, trailing garbage) is refused.
 * Returns 0 and fills *out (free with msg_finish), or -1 with *why set to a static reason.
 */
int msg_parse(const char *body, size_t len, struct msg *out, const char **why);
void msg_finish(struct msg *m);

/* The member named exactly key, or NULL. */
const struct msg_field *msg_find(const struct msg *m, const char *key);
/* Its value when it is a string or a number, else NULL (absent, null, boolean). */
const char *msg_get(const struct msg *m, const char *key);

/* Compares two keys with ASCII letters folded to lower case, as LianLian's signer orders them
 * and as msg_parse tells duplicates apart; a key sorts before a longer key it prefixes. Returns
 * <0, 0 or >0, whatever the locale. */
int msg_key_casecmp(const char *a, const char *b);

/* Sorts idx[0..n) with cmp (qsort's convention, called with pointers to elements of idx):
 * insertion sort for the few members of a real message, qsort for many. */
void msg_sort_fields(const struct msg_field **idx, size_t n,
                     int (*cmp)(const void *, const void *));

/* Adds or replaces a string member (used to set sign_type and sign). Returns 0 or -1 (ENOMEM). */
int msg_set(struct msg *m, const char *key, const char *value);

/* Removes the member named exactly key, if there is one (the others keep their order). */
void msg_remove(struct msg *m, const char *key);

/* Serialises the message as compact JSON, numbers and literals as their original text.
 * Returns a malloc'd string, or NULL on ENOMEM. */
char *msg_to_json(const struct msg *m);

#endif
