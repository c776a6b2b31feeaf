#ifndef LIANPAY_PAYOUT_H
#define LIANPAY_PAYOUT_H

#include <stddef.h>
#include <openssl/evp.h>

struct keyring;

/*
 * The payment.htm (apply) and confirmPayment.htm clients (protocol.md): the signed request,
 * encrypted into pay_load with LianLian's first key, POSTed as {"oid_partner","pay_load"}; the
 * answer's signature checked with LianLian's keys before any field of it is believed, and the
 * answer put in one class of protocol.md's table. What the class does to the payout is the
 * caller's business (the submit thread); this module only says what the answer is.
 */

/* Which call an answer is for: some codes mean something only after one of them. */
enum payout_call {
    PAYOUT_APPLY,
    PAYOUT_CONFIRM,
};

/* protocol.md's classes. Only a signed answer about this request is anything but UNKNOWN. */
enum payout_class {
    PAYOUT_ACCEPTED,               /* 0000: the payout exists (oid_paybill) */
    PAYOUT_REVIEW,                 /* 4002-4004 with a confirm_code; 4011 after a confirm */
    PAYOUT_REFUSED_NOTHING_STORED, /* LianLian stored nothing: fix the cause, same no_order */
    PAYOUT_REFUSED_MAY_RESUBMIT,   /* 4103 4104 9104: same no_order, identical fields */
    PAYOUT_CLOSED,                 /* 4008 4010 after a confirm: not paid under this no_order */
    PAYOUT_UNKNOWN,                /* anything else: query, never send again */
    PAYOUT_CLASS_COUNT
};

/* The request: protocol.md's payment.htm fields that vary per payout. Optional ones NULL or "". */
struct payout_request {
    const char *no_order, *dt_order, *money_order;
    const char *card_no, *acct_name, *bank_name;
    const char *info_order, *flag_card, *memo;
    const char *prcptcd, *bank_code, *city_code, *brabank_name;
};

/* What is the same for every request of a merchant. Strings and keys are borrowed. */
struct payout_options {
    const char *payment_url, *confirm_url;
    const char *ca_file; /* NULL: the system store */
    EVP_PKEY *merchant_key;
    const char *oid_partner;
    const char *platform;    /* optional: NULL or "" sends none */
    const char *api_version; /* NULL: "1.0" */
    const char *notify_url;
    long connect_timeout_ms, timeout_ms; /* 0: 5 s and 30 s */
};

/* A built request (all malloc'd; free with payout_built_finish). */
struct payout_built {
    char *signed_json;  /* the signed request, what pay_load carries */
    char *journal_json; /* the same with card_no and acct_name masked and the sign withheld */
    char *body;         /* {"oid_partner":…,"pay_load":…}, what is POSTed */
};

/*
 * Builds the signed apply request for r (the merchant key signs; the pay_load is encrypted for
 * lianlian_key). Required fields must be present; their formats are the caller's to have checked.
 * Returns 0; PAYOUT_BUILD_FIELD when a field of r itself cannot be sent (missing, not UTF-8: the
 * payout's own problem, refused); or -1 for ours (the configuration, a key that cannot sign or
 * encrypt, the random-number generator, memory: the payout is not to blame). *why is then a
 * static reason naming the field or the cause, and *out is empty.
 */
#define PAYOUT_BUILD_FIELD (-2)
int payout_build_apply(const struct payout_options *opt, const struct payout_request *r,
                       EVP_PKEY *lianlian_key, struct payout_built *out, const char **why);
/* The same for confirmPayment.htm of no_order with the confirm_code a person typed. */
int payout_build_confirm(const struct payout_options *opt, const char *no_order,
                         const char *confirm_code, EVP_PKEY *lianlian_key, struct payout_built *out,
                         const char **why);
void payout_built_finish(struct payout_built *b);

/* What one apply or confirm taught us. */
struct payout_answer {
    enum payout_class cls;
    int signed_ok;     /* the answer's signature verified with one of LianLian's keys */
    int wrong_code;    /* REVIEW after a confirm: 4011, the code was wrong (tries left) */
    long http_status;  /* 0 when no answer came */
    char ret_code[16]; /* as answered ("" when none); believe it only when signed_ok */
    char ret_msg[256];
    char oid_paybill[33]; /* signed answers only, "" when none */
    char confirm_code[7]; /* REVIEW after an apply: the 6 digits to confirm with */
    char detail[256];     /* a short reason for logs and for the person who looks */
    char *body;           /* the answer as received (malloc'd; NULL when none) */
    size_t body_len;
};

/*
 * Classifies what came back for a request about no_order from merchant oid_partner: a
 * transport_error (non-NULL: no answer, a timeout, a network error) or an HTTP status other than
 * 200 is UNKNOWN; otherwise body (len bytes) is parsed, verified with keys and read. Pure: fills
 * every field of *out but body/body_len (left alone), touches nothing else. Exposed for tests.
 */
void payout_classify_answer(enum payout_call call, const char *transport_error, long http_status,
                            const char *body, size_t len, struct keyring *keys,
                            const char *oid_partner, const char *no_order,
                            struct payout_answer *out);

/* One client per thread (each request on a connection of its own). NULL with a reason in err. */
struct payout_client;
struct payout_client *payout_client_create(const struct payout_options *opt, char *err,
                                           size_t errlen);
void payout_client_destroy(struct payout_client *pc);

/*
 * Sends one request built by payout_build_* (to payment_url for PAYOUT_APPLY, confirm_url for
 * PAYOUT_CONFIRM) and classifies the answer. Always fills *out (free with payout_answer_finish).
 */
void payout_send(struct payout_client *pc, enum payout_call call, const struct payout_built *b,
                 struct keyring *keys, const char *no_order, struct payout_answer *out);
void payout_answer_finish(struct payout_answer *a);

/* "accepted", "review", "refused_nothing_stored", "refused_may_resubmit", "closed", "unknown". */
const char *payout_class_name(enum payout_class c);
/* The class as payouts.state and payout_attempts name it (design.md): the two refused classes
 * are both "refused". */
const char *payout_class_state(enum payout_class c);

/* A card number as logs, metrics and the attempts journal show it: at most the first 6 and the
 * last 4 characters around a fixed "******", at least 6 hidden whatever the length (head
 * min(6, len - 10), tail min(4, len - 6 - head), neither below 0): 622848******1474,
 * 1******7890 for 11 digits, ******78 for 8; "******" alone for anything not plain ASCII letters
 * and digits. */
#define PAYOUT_MASKED_CARD_LEN 17
/* What the attempts journal keeps in place of the request's sign. */
#define PAYOUT_JOURNAL_SIGN "withheld"

void payout_mask_card(const char *card_no, char out[PAYOUT_MASKED_CARD_LEN]);

/* An account name (len bytes of UTF-8) as the journal and lianpayctl show it: its first
 * character and one '*' whatever the length ("李三" -> "李*"), "*" alone for a name of one
 * character or none. */
#define PAYOUT_MASKED_NAME_LEN 6
void payout_mask_name(const char *name, size_t len, char out[PAYOUT_MASKED_NAME_LEN]);

#endif
