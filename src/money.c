/*
 * Amounts. LianLian writes money as decimal yuan in text ("49.65"); we keep that text as received
 * and an exact integer number of fen beside it. Parsing is done digit by digit: a float would
 * turn 0.29 into 28 fen somewhere down the line.
 */
#include "money.h"

#include <inttypes.h>
#include <stdio.h>

#define MONEY_MAX_INT_DIGITS 12

int money_parse_fen(const char *s, int64_t *fen)
{
    if (s == NULL || *s == '\0')
        return -1;

    const char *p = s;
    int64_t yuan = 0;
    int digits = 0;

    /* Integer part: "0" alone, or a non-zero digit followed by at most 11 more. */
    if (*p == '0') {
        p++;
        digits = 1;
    } else {
        while (*p >= '0' && *p <= '9') {
            if (++digits > MONEY_MAX_INT_DIGITS)
                return -1;
            yuan = yuan * 10 + (*p - '0');
            p++;
        }
    }
    if (digits == 0)
        return -1;

    int64_t cents = 0;
    if (*p == '.') {
        p++;
        int decimals = 0;
        while (*p >= '0' && *p <= '9') {
            if (++decimals > 2)
                return -1;
            cents = cents * 10 + (*p - '0');
            p++;
        }
        if (decimals == 0)
            return -1;
        if (decimals == 1)
            cents *= 10;
    }
    if (*p != '\0')
        return -1;

    *fen = yuan * 100 + cents;
    return 0;
}

void money_format(int64_t fen, char *buf)
{
    const char *sign = fen < 0 ? "-" : "";
    uint64_t v = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(buf, 24, "%s%" PRIu64 ".%02" PRIu64, sign, v / 100, v % 100);
}
