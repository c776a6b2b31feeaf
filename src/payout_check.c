/*
 * What a payout must be before it is sent (payout_check.h): each rule is one function that names
 * the field it refuses. Pure and thread-free.
 *
 * The bank table is seed 001's company table as LianLian publishes it: github.com/LianLianPay/
 * Resources, 付款类产品支持银行表/instant-pay-support-bank-business.json at commit 9d49a765
 * (2018-06-05), 26 banks. Its require_business_info_flag says "否" (no; "否，建议提供" for 中国银行
 * and 邮储银行: not required, recommended) for the 14 below and "是" (yes) for the other 12
 * (广发 03060000, 交通 03010000, 包商 04791920, 东莞 04256020, 江苏 05083000, 北京 04031000,
 * 上海 04012900, 宁波 04083320, 广州 64135810, 珠海华润 04375850, 广东南粤 64895910,
 * 浙商 03160000), which therefore need prcptcd or city_code + brabank_name like any bank
 * outside the table. (design.md says all 26 need none; the file says otherwise. Later commits
 * of that file changed again: 农业 and 光大 became "是" in 2019 and 恒丰 03110000 was added.)
 */
#include "payout_check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "payout.h"
#include "payresult.h"

/* 50,000 yuan: from here info_order and memo are required (protocol.md). */
#define LARGE_PAYOUT_FEN 5000000

static const char *const no_branch_banks[] = {
    "01040000", /* 中国银行 */
    "01030000", /* 农业银行 */
    "01020000", /* 工商银行 */
    "01050000", /* 建设银行 */
    "03080000", /* 招商银行 */
    "03030000", /* 光大银行 */
    "03100000", /* 浦发银行 */
    "03090000", /* 兴业银行 */
    "01000000", /* 邮储银行 */
    "03070000", /* 平安银行 */
    "03020000", /* 中信银行 */
    "03040000", /* 华夏银行 */
    "03050000", /* 民生银行 */
    "04233310", /* 杭州银行 */
};

bool payout_check_bank_needs_no_branch(const char *bank_code)
{
    for (size_t i = 0; i < sizeof(no_branch_banks) / sizeof(no_branch_banks[0]); i++)
        if (bank_code != NULL && strcmp(bank_code, no_branch_banks[i]) == 0)
            return true;
    return false;
}

static bool present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    return strspn(s, "0123456789") == n;
}

/* The next UTF-8 code point of *p (advanced past it), or -1 when the bytes are not well-formed
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included). */
static int32_t next_code_point(const unsigned char **p)
{
    const unsigned char *s = *p;
    int32_t cp;
    int more;

    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        more = 1;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        more = 2;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        more = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= more; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *p = s + 1 + more;
    return cp;
}

/* Code points of s, or -1 when s is not UTF-8 or holds a control character. */
static long utf8_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p != '\0') {
        int32_t cp = next_code_point(&p);
        if (cp < 0x20 || cp == 0x7f)
            return -1;
        n++;
    }
    return n;
}

/* LianLian passes only [a-zA-Z0-9\u4e00-\u9fa5-_] of memo to the bank. */
static bool memo_char(int32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '-' || cp == '_' || (cp >= 0x4e00 && cp <= 0x9fa5);
}

__attribute__((format(printf, 3, 4))) static const char *say(char *buf, size_t len, const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

static const char *check_memo(const char *memo, char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)memo;
    long n = 0;

    while (*p != '\0') {
        long at = n + 1;
        int32_t cp = next_code_point(&p);
        if (cp < 0)
            return say(buf, len, "memo: not UTF-8");
        if (!memo_char(cp))
            return say(buf, len,
                       "memo: character %ld is one LianLian strips (allowed: letters, digits, "
                       "- _ and Chinese characters U+4E00 to U+9FA5)",
                       at);
        n++;
    }
    if (n > 24)
        return say(buf, len, "memo: %ld characters, at most 24", n);
    return NULL;
}

/* Company payouts (flag_card 1): the bank, and its branch unless the table says none. */
static const char *check_company(const struct payout_request *r, char *buf, size_t len)
{
    if (!present(r->bank_code))
        return say(buf, len, "bank_code: required for a company payout (flag_card 1)");
    if (payout_check_bank_needs_no_branch(r->bank_code))
        return NULL;
    if (present(r->prcptcd))
        return NULL;
    if (present(r->city_code) && present(r->brabank_name))
        return NULL;
    return say(buf, len,
               "prcptcd: bank_code %s needs the branch: prcptcd, or city_code and brabank_name",
               r->bank_code);
}

/* The optional fields' formats: digits of bounded length, or UTF-8 text. */
static const char *check_optional(const struct payout_request *r, char *buf, size_t len)
{
    if (present(r->bank_code) && !all_digits(r->bank_code, 8, 8))
        return say(buf, len, "bank_code: must be 8 digits");
    if (present(r->prcptcd) && !all_digits(r->prcptcd, 1, 12))
        return say(buf, len, "prcptcd: must be at most 12 digits");
    if (present(r->city_code) && !all_digits(r->city_code, 1, 12))
        return say(buf, len, "city_code: must be at most 12 digits");
    if (present(r->brabank_name) && utf8_length(r->brabank_name) < 0)
        return say(buf, len, "brabank_name: not UTF-8 text");
    if (present(r->bank_name) && utf8_length(r->bank_name) < 0)
        return say(buf, len, "bank_name: not UTF-8 text");
    return NULL;
}

const char *payout_check(const struct payout_request *r, char *buf, size_t len)
{
    int64_t fen = 0;
    long n;
    const char *why;

    if (!present(r->no_order) || !payresult_valid_no_order(r->no_order))
        return say(buf, len, "no_order: 1 to 32 printable ASCII characters without space & = \"");
    if (!present(r->dt_order) || !payresult_valid_dt_order(r->dt_order))
        return say(buf, len, "dt_order: must be 14 digits YYYYMMDDHHMMSS");
    if (!present(r->money_order) || payresult_money_fen(r->money_order, &fen) < 0 || fen <= 0)
        return say(buf, len, "money_order: must be yuan above 0 with at most 2 decimals (49.65)");
    if (!present(r->card_no) || !all_digits(r->card_no, 1, 32))
        return say(buf, len, "card_no: must be 1 to 32 digits");
    if (!present(r->acct_name) || utf8_length(r->acct_name) < 1)
        return say(buf, len, "acct_name: required, UTF-8 text");
    if (present(r->flag_card) && strcmp(r->flag_card, "0") != 0 && strcmp(r->flag_card, "1") != 0)
        return say(buf, len, "flag_card: must be 0 (personal) or 1 (company)");
    if (present(r->info_order) && ((n = utf8_length(r->info_order)) < 0 || n > 255))
        return say(buf, len, "info_order: UTF-8 text of at most 255 characters");
    if (present(r->memo) && (why = check_memo(r->memo, buf, len)) != NULL)
        return why;
    if (fen >= LARGE_PAYOUT_FEN && (!present(r->info_order) || !present(r->memo)))
        return say(buf, len, "%s: required from 50,000 yuan",
                   present(r->info_order) ? "memo" : "info_order");
    if ((why = check_optional(r, buf, len)) != NULL)
        return why;
    if (present(r->flag_card) && strcmp(r->flag_card, "1") == 0)
        return check_company(r, buf, len);
    return NULL;
}
