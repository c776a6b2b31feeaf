#ifndef LIANPAY_CTL_PRINT_H
#define LIANPAY_CTL_PRINT_H

#include <stdbool.h>
#include <stdio.h>

struct cJSON;
struct store;
struct store_value;

/* --json (a global option, before the verb): every verb prints one JSON object per result line
 * (JSON Lines) instead of its text; reasons for failing stay on stderr. */
void ctl_set_json(bool on);
bool ctl_json(void);

/* A JSON string of v (null for SQL NULL). Bytes that are not UTF-8 (stored past the CHECKs), and
 * a NUL, become U+FFFD, so that the output is always valid JSON. NULL when out of memory. */
struct cJSON *ctl_json_value(struct store_value v);
/* The same for a C string (NULL gives null). */
struct cJSON *ctl_json_string(const char *s);

/* A JSON number for a stored integer (counters, ages), or its string when it is not one. */
struct cJSON *ctl_json_int(struct store_value v);

/* Adds v to object o under key (v is deleted when it cannot be added). */
void ctl_json_put(struct cJSON *o, const char *key, struct cJSON *v);

/* The result line of register and pay (--json): {"no_order", "line" (only when line > 0: a
 * --file line), "outcome", "reason" (null when none)}. */
void ctl_json_result(FILE *out, const char *no_order, long line, const char *outcome,
                     const char *reason);

/* Prints obj on one line to out and deletes it. Returns 0, or -1 (out of memory, NULL obj). */
int ctl_json_print(FILE *out, struct cJSON *obj);

/* Prints "lianpayctl: REASON" on stderr and returns 2, the exit status of unusable input. */
__attribute__((format(printf, 1, 2))) int ctl_fail(const char *fmt, ...);

/* A stored value escaped as the log escapes it, "-" for NULL. */
void ctl_print_value(FILE *out, struct store_value v);

/*
 * What lianpayctl prints for people. Prints an order's current row and its journal to out
 * (lianpayctl status), every stored value escaped as the log escapes. Returns 0, 1 when the
 * order is unknown (nothing printed), or -1 on a database error (store_errmsg) or when out
 * cannot be written.
 */
int ctl_print_status(struct store *st, const char *no_order, FILE *out);

/* The orders still chased (the pending_payments view), oldest first: a header line, then one
 * line per order, values separated by one space ("-" for NULL; the CHECKs keep spaces out of
 * every one, and each is escaped). Returns 0, or -1 as above. */
int ctl_print_pending(struct store *st, FILE *out);

#endif
