/*
 * LianLian messages: strict parsing of one flat JSON object, and writing it back.
 *
 * Why not cJSON alone: cJSON keeps a number as a double (LianLian signs the text, "200.10"), it
 * accepts numbers JSON forbids ("+1", "01", ".5"), keeps every duplicate key, and turns a \u0000
 * escape into a C string cut short. Any of these lets the signer and us read different messages.
 *
 * How: parsing runs in three steps over the same bytes.
 *  1. The body must be valid UTF-8 as a whole (no overlong forms, no encoded surrogates, nothing
 *     above U+10FFFF).
 *  2. A small strict scanner walks the top-level object without recursion. It refuses nested
 *     objects and arrays before anything recurses into them, enforces the JSON number grammar,
 *     refuses \u0000 and unpaired surrogate escapes and raw control characters in strings, and
 *     records each member's raw value span and type.
 *  3. cJSON parses the same bytes (NUL-terminated copy, require_null_terminated) and decodes the
 *     strings. It keeps members in document order, so its i-th child is the scanner's i-th member;
 *     the counts and types must agree. Strings take cJSON's decoded text; numbers and true/false
 *     take the raw text from the scanner.
 * Keys are then checked for duplicates after decoding and case-insensitively ("a" = "\u0061" =
 * "A"): LianLian sorts keys case-insensitively, so a Java TreeMap on their side would merge "Sign"
 * and "sign" and the message would be ambiguous. Sorting an index keeps this O(n log n) for
 * hostile bodies with thousands of members.
 *
 * Pure functions, no global state: safe from any thread.
 */
#include "msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* One member as the scanner saw it: where its raw value lies in the body. */
struct span {
    size_t start;
    size_t len;
    enum msg_type type;
};

struct scanner {
    const unsigned char *p;
    size_t len;
    size_t pos;
    struct span *spans;
    size_t n;
    size_t cap;
    const char *why;
};

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, UTF-16 surrogates and values past Unicode are not UTF-8. */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        /* ASCII, most of a message, 8 bytes at a time: no byte with its high bit set. */
        uint64_t w;
        while (n - i >= 8 && (memcpy(&w, s + i, 8), (w & UINT64_C(0x8080808080808080)) == 0))
            i += 8;
        if (i == n)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned char peek(const struct scanner *sc)
{
    return sc->pos < sc->len ? sc->p[sc->pos] : '\0';
}

static bool at_end(const struct scanner *sc)
{
    return sc->pos >= sc->len;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scanner *sc)
{
    while (!at_end(sc) && is_ws(sc->p[sc->pos]))
        sc->pos++;
}

static int fail(struct scanner *sc, const char *why)
{
    sc->why = why;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at pos (just after "\u"). Returns the code unit or -1. */
static long scan_u_hex(struct scanner *sc)
{
    long v = 0;

    if (sc->len - sc->pos < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(sc->p[sc->pos + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    sc->pos += 4;
    return v;
}

/* A \u escape, pos just after the 'u'. Surrogates must come as a high-low pair. */
static int scan_u_escape(struct scanner *sc)
{
    /* Reasons end up inside the JSON answer as they are: no quote or backslash in them. */
    long u = scan_u_hex(sc);

    if (u < 0)
        return fail(sc, "bad unicode escape");
    if (u == 0)
        return fail(sc, "escaped NUL character");
    if (u >= 0xdc00 && u <= 0xdfff)
        return fail(sc, "invalid surrogate escape");
    if (u < 0xd800 || u > 0xdbff)
        return 0;
    if (sc->len - sc->pos < 2 || sc->p[sc->pos] != '\\' || sc->p[sc->pos + 1] != 'u')
        return fail(sc, "invalid surrogate escape");
    sc->pos += 2;
    u = scan_u_hex(sc);
    if (u < 0xdc00 || u > 0xdfff)
        return fail(sc, "invalid surrogate escape");
    return 0;
}

static int scan_escape(struct scanner *sc)
{
    unsigned char c = peek(sc);

    if (at_end(sc))
        return fail(sc, "malformed JSON");
    sc->pos++;
    if (c == 'u')
        return scan_u_escape(sc);
    if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL)
        return fail(sc, "bad escape in string");
    return 0;
}

/* True when none of the 8 bytes at p is a quote, a backslash or a control character (below
 * 0x20): the classic word tests for a zero byte and for a byte below n, which are exact about
 * whether there is one. */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    uint64_t w, q, b;

    memcpy(&w, p, 8);
    q = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & high) == 0;
}

/* A string, pos on the opening quote. The body is already known to be valid UTF-8. */
static int scan_string(struct scanner *sc)
{
    const unsigned char *p = sc->p;
    size_t pos = sc->pos + 1, len = sc->len;

    for (;;) {
        /* The plain bytes, 8 at a time and then one by one, with the position in a register
         * (sc->pos may alias the body). */
        while (len - pos >= 8 && plain8(p + pos))
            pos += 8;
        while (pos < len && p[pos] >= 0x20 && p[pos] != '"' && p[pos] != '\\')
            pos++;
        sc->pos = pos;
        if (pos >= len)
            return fail(sc, "malformed JSON");
        if (p[pos] == '"')
            break;
        if (p[pos] < 0x20)
            return fail(sc, "control character in string");
        sc->pos++; /* the backslash */
        if (scan_escape(sc) < 0)
            return -1;
        pos = sc->pos;
    }
    sc->pos++;
    return 0;
}

static size_t skip_digits(struct scanner *sc)
{
    size_t from = sc->pos;

    while (is_digit(peek(sc)))
        sc->pos++;
    return sc->pos - from;
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int scan_number(struct scanner *sc)
{
    if (peek(sc) == '-')
        sc->pos++;
    if (peek(sc) == '0')
        sc->pos++;
    else if (skip_digits(sc) == 0)
        return fail(sc, "invalid number");
    if (peek(sc) == '.') {
        sc->pos++;
        if (skip_digits(sc) == 0)
            return fail(sc, "invalid number");
    }
    if (peek(sc) == 'e' || peek(sc) == 'E') {
        sc->pos++;
        if (peek(sc) == '+' || peek(sc) == '-')
            sc->pos++;
        if (skip_digits(sc) == 0)
            return fail(sc, "invalid number");
    }
    /* "01", "1.2.3", "1x": the number ran into something that cannot follow it. */
    if (!at_end(sc) && !is_ws(peek(sc)) && peek(sc) != ',' && peek(sc) != '}')
        return fail(sc, "invalid number");
    return 0;
}

static int scan_literal(struct scanner *sc, const char *word)
{
    size_t n = strlen(word);

    if (sc->len - sc->pos < n || memcmp(sc->p + sc->pos, word, n) != 0)
        return fail(sc, "malformed JSON");
    sc->pos += n;
    return 0;
}

/* One value, pos on its first byte; fills span. */
static int scan_value(struct scanner *sc, struct span *span)
{
    unsigned char c = peek(sc);
    int rc;

    span->start = sc->pos;
    if (c == '"') {
        span->type = MSG_STRING;
        rc = scan_string(sc);
    } else if (c == '-' || is_digit(c)) {
        span->type = MSG_NUMBER;
        rc = scan_number(sc);
    } else if (c == 't') {
        span->type = MSG_TRUE;
        rc = scan_literal(sc, "true");
    } else if (c == 'f') {
        span->type = MSG_FALSE;
        rc = scan_literal(sc, "false");
    } else if (c == 'n') {
        span->type = MSG_NULL;
        rc = scan_literal(sc, "null");
    } else if (c == '{' || c == '[') {
        rc = fail(sc, "nested value");
    } else if (c == '+' || c == '.') {
        rc = fail(sc, "invalid number");
    } else {
        rc = fail(sc, "malformed JSON");
    }
    span->len = sc->pos - span->start;
    return rc;
}

static int push_span(struct scanner *sc, const struct span *span)
{
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        struct span *p = realloc(sc->spans, cap * sizeof(*p));
        if (p == NULL)
            return fail(sc, "out of memory");
        sc->spans = p;
        sc->cap = cap;
    }
    sc->spans[sc->n++] = *span;
    return 0;
}

/* "key": value, pos on the key's opening quote. */
static int scan_member(struct scanner *sc)
{
    struct span span;

    if (peek(sc) != '"')
        return fail(sc, "malformed JSON");
    if (scan_string(sc) < 0)
        return -1;
    skip_ws(sc);
    if (peek(sc) != ':')
        return fail(sc, "malformed JSON");
    sc->pos++;
    skip_ws(sc);
    if (scan_value(sc, &span) < 0)
        return -1;
    return push_span(sc, &span);
}

static int scan_members(struct scanner *sc)
{
    skip_ws(sc);
    if (peek(sc) == '}')
        return 0;
    for (;;) {
        if (scan_member(sc) < 0)
            return -1;
        skip_ws(sc);
        if (peek(sc) == '}')
            return 0;
        if (peek(sc) != ',')
            return fail(sc, "malformed JSON");
        sc->pos++;
        skip_ws(sc);
    }
}

static int scan_object(struct scanner *sc)
{
    skip_ws(sc);
    if (at_end(sc))
        return fail(sc, "empty body");
    if (peek(sc) != '{')
        return fail(sc, "not a JSON object");
    sc->pos++;
    if (scan_members(sc) < 0)
        return -1;
    sc->pos++;
    skip_ws(sc);
    if (!at_end(sc))
        return fail(sc, "trailing garbage");
    return 0;
}

static bool type_matches(const cJSON *item, enum msg_type type)
{
    switch (type) {
    case MSG_STRING:
        return cJSON_IsString(item) && item->valuestring != NULL;
    case MSG_NUMBER:
        return cJSON_IsNumber(item);
    case MSG_TRUE:
        return cJSON_IsTrue(item);
    case MSG_FALSE:
        return cJSON_IsFalse(item);
    case MSG_NULL:
        return cJSON_IsNull(item);
    }
    return false;
}

/* f's key and value in one allocation, the key first (value NULL when vlen is (size_t)-1: null). */
static int set_field(struct msg_field *f, const char *key, const char *value, size_t vlen,
                     enum msg_type type)
{
    size_t klen = strlen(key);
    bool has_value = vlen != (size_t)-1;
    char *block = malloc(klen + 1 + (has_value ? vlen + 1 : 0));

    if (block == NULL)
        return -1;
    memcpy(block, key, klen + 1);
    f->key = block;
    f->value = NULL;
    f->type = type;
    if (has_value) {
        f->value = block + klen + 1;
        memcpy(f->value, value, vlen);
        f->value[vlen] = '\0';
    }
    return 0;
}

/* Fills f from cJSON's decoded item and the scanner's raw span. */
static int make_field(struct msg_field *f, const cJSON *item, const struct span *span,
                      const char *body)
{
    if (span->type == MSG_STRING)
        return set_field(f, item->string, item->valuestring, strlen(item->valuestring), MSG_STRING);
    if (span->type == MSG_NULL)
        return set_field(f, item->string, NULL, (size_t)-1, MSG_NULL);
    return set_field(f, item->string, body + span->start, span->len, span->type);
}

/* Pairs cJSON's children with the scanned spans, in document order. */
static int build_fields(const cJSON *root, const struct scanner *sc, const char *body,
                        struct msg *out, const char **why)
{
    const cJSON *item = NULL;
    size_t i = 0;

    out->fields = calloc(sc->n ? sc->n : 1, sizeof(*out->fields));
    if (out->fields == NULL) {
        *why = "out of memory";
        return -1;
    }
    cJSON_ArrayForEach(item, root)
    {
        if (i >= sc->n || item->string == NULL || !type_matches(item, sc->spans[i].type)) {
            *why = "malformed JSON";
            return -1;
        }
        out->n = i + 1;
        if (make_field(&out->fields[i], item, &sc->spans[i], body) < 0) {
            *why = "out of memory";
            return -1;
        }
        i++;
    }
    if (i != sc->n) {
        *why = "malformed JSON";
        return -1;
    }
    return 0;
}

/* ASCII-only on purpose: strcasecmp follows the locale, the signer does not. */
int msg_key_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca += 'a' - 'A';
        if (cb >= 'A' && cb <= 'Z')
            cb += 'a' - 'A';
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

/* Few members, as in every real message: insertion sort is cheaper than qsort's set-up and
 * calls. Many (a hostile body): qsort, O(n log n). */
#define INSERTION_SORT_MAX 24

void msg_sort_fields(const struct msg_field **idx, size_t n, int (*cmp)(const void *, const void *))
{
    if (n > INSERTION_SORT_MAX) {
        qsort(idx, n, sizeof(*idx), cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        const struct msg_field *f = idx[i];
        size_t j = i;
        for (; j > 0 && cmp(&idx[j - 1], &f) > 0; j--)
            idx[j] = idx[j - 1];
        idx[j] = f;
    }
}

static int cmp_field_key(const void *a, const void *b)
{
    const struct msg_field *const *fa = a;
    const struct msg_field *const *fb = b;
    return msg_key_casecmp((*fa)->key, (*fb)->key);
}

/* Refuses empty keys and keys equal up to ASCII case. */
static int check_keys(const struct msg *m, const char **why)
{
    const struct msg_field **idx = NULL;
    int rc = -1;

    for (size_t i = 0; i < m->n; i++) {
        if (m->fields[i].key[0] == '\0') {
            *why = "empty key";
            return -1;
        }
    }
    idx = malloc((m->n ? m->n : 1) * sizeof(*idx));
    if (idx == NULL) {
        *why = "out of memory";
        goto out;
    }
    for (size_t i = 0; i < m->n; i++)
        idx[i] = &m->fields[i];
    msg_sort_fields(idx, m->n, cmp_field_key);
    for (size_t i = 1; i < m->n; i++) {
        if (msg_key_casecmp(idx[i - 1]->key, idx[i]->key) == 0) {
            *why = "duplicate key";
            goto out;
        }
    }
    rc = 0;
out:
    free(idx);
    return rc;
}

/* cJSON wants the NUL inside the length it is given to check that nothing trails the object. */
static cJSON *cjson_parse(const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    cJSON *root = NULL;

    if (copy == NULL)
        return NULL;
    memcpy(copy, body, len);
    copy[len] = '\0';
    root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    free(copy);
    return root;
}

int msg_parse(const char *body, size_t len, struct msg *out, const char **why)
{
    struct scanner sc = {.p = (const unsigned char *)body, .len = len};
    cJSON *root = NULL;
    int rc = -1;

    out->fields = NULL;
    out->n = 0;
    if (!utf8_valid(sc.p, len)) {
        *why = "invalid UTF-8";
        goto out;
    }
    if (scan_object(&sc) < 0) {
        *why = sc.why;
        goto out;
    }
    root = cjson_parse(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        *why = "malformed JSON";
        goto out;
    }
    if (build_fields(root, &sc, body, out, why) < 0 || check_keys(out, why) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        msg_finish(out);
    cJSON_Delete(root);
    free(sc.spans);
    return rc;
}

void msg_finish(struct msg *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->fields[i].key); /* the value's block too */
    free(m->fields);
    m->fields = NULL;
    m->n = 0;
}

const struct msg_field *msg_find(const struct msg *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->fields[i].key, key) == 0)
            return &m->fields[i];
    }
    return NULL;
}

const char *msg_get(const struct msg *m, const char *key)
{
    const struct msg_field *f = msg_find(m, key);

    if (f == NULL || (f->type != MSG_STRING && f->type != MSG_NUMBER))
        return NULL;
    return f->value;
}

static struct msg_field *find_casefold(struct msg *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (msg_key_casecmp(m->fields[i].key, key) == 0)
            return &m->fields[i];
    }
    return NULL;
}

/*
 * A member equal to key up to case is replaced, key included: msg_parse guarantees that no two
 * keys differ only by case, and setting "sign" beside a "Sign" would break that.
 */
int msg_set(struct msg *m, const char *key, const char *value)
{
    struct msg_field *f = NULL, nf;

    if (key[0] == '\0' || !utf8_valid((const unsigned char *)key, strlen(key)) ||
        !utf8_valid((const unsigned char *)value, strlen(value))) {
        errno = EINVAL;
        return -1;
    }
    if (set_field(&nf, key, value, strlen(value), MSG_STRING) < 0)
        goto fail;
    f = find_casefold(m, key);
    if (f == NULL) {
        struct msg_field *p = realloc(m->fields, (m->n + 1) * sizeof(*p));
        if (p == NULL) {
            free(nf.key);
            goto fail;
        }
        m->fields = p;
        f = &m->fields[m->n++];
        f->key = NULL;
    }
    free(f->key);
    *f = nf;
    return 0;
fail:
    errno = ENOMEM;
    return -1;
}

void msg_remove(struct msg *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->fields[i].key, key) != 0)
            continue;
        free(m->fields[i].key);
        memmove(&m->fields[i], &m->fields[i + 1], (m->n - i - 1) * sizeof(m->fields[0]));
        m->n--;
        return;
    }
}

/* Bytes the JSON string form of s takes, quotes excluded. */
static size_t escaped_len(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            n += 2;
        else if (*p < 0x20)
            n += 6;
        else
            n++;
    }
    return n;
}

static char *put_escaped(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 0xf];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    return o;
}

static size_t value_json_len(const struct msg_field *f)
{
    if (f->type == MSG_NULL)
        return 4;
    if (f->type == MSG_STRING)
        return escaped_len(f->value) + 2;
    return strlen(f->value);
}

static char *put_value(char *o, const struct msg_field *f)
{
    const char *text = f->type == MSG_NULL ? "null" : f->value;
    size_t n;

    if (f->type == MSG_STRING)
        return put_escaped(o, f->value);
    n = strlen(text);
    memcpy(o, text, n);
    return o + n;
}

char *msg_to_json(const struct msg *m)
{
    size_t size = 3; /* braces and NUL */
    char *json = NULL, *o = NULL;

    for (size_t i = 0; i < m->n; i++)
        size += escaped_len(m->fields[i].key) + 4 + value_json_len(&m->fields[i]);
    json = malloc(size);
    if (json == NULL)
        return NULL;
    o = json;
    *o++ = '{';
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0)
            *o++ = ',';
        o = put_escaped(o, m->fields[i].key);
        *o++ = ':';
        o = put_value(o, &m->fields[i]);
    }
    *o++ = '}';
    *o = '\0';
    return json;
}
