#ifndef LIANPAY_FUZZ_H
#define LIANPAY_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* A property that must hold for every input: a violation is a crash libFuzzer records. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A reason goes into a JSON answer and a log line as it is: printable ASCII, no quote or
 * backslash. */
static inline int fuzz_reason_ok(const char *why)
{
    if (why == NULL || *why == '\0')
        return 0;
    for (const char *p = why; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return 0;
    }
    return 1;
}

#endif
