#ifndef LIANPAY_PAYOUT_CHECK_H
#define LIANPAY_PAYOUT_CHECK_H

#include <stdbool.h>
#include <stddef.h>

struct payout_request;

/*
 * Validation of a payout before anything is sent (design.md, "Payout submission"): protocol.md's
 * formats, the 50,000-yuan rule, memo characters LianLian would strip, and company payouts'
 * bank details against seed 001's bank table. Pure: no I/O, no state. sql/0004's CHECKs refuse
 * at insert what SQL can say; this says the rest too, for lianpayctl pay before it inserts and
 * for the submit thread before it sends (a row refused here becomes "refused", ret_code NULL).
 */

/* The first problem of r as one sentence naming the field (in buf, at most len bytes, and
 * returned), or NULL when r may be sent. Optional fields of r are NULL or "". */
const char *payout_check(const struct payout_request *r, char *buf, size_t len);

/* Whether bank_code (8 digits) is one of seed 001's banks that need no branch details for a
 * company payout (prcptcd, or city_code + brabank_name). */
bool payout_check_bank_needs_no_branch(const char *bank_code);

#endif
