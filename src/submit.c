/*
 * The submit thread (submit.h). One payout at a time, in queue order:
 *
 *   payout_check ── a problem ──▶ writer: refused (ret_code NULL, the sentence as reason)
 *   build the request ── writer: queued -> sending, committed ──▶ POST ──▶ writer: the answer
 *
 *   a review payout a person asked to confirm (confirm_requested_at, lianpayctl confirm) first:
 *   writer: review -> confirming, committed ──▶ POST confirmPayment.htm ──▶ writer: the answer
 *
 * Nothing leaves before "sending"/"confirming" is committed, and a payout no longer queued (a
 * person cancelled it) or no longer asked to confirm (declined, lapsed) then is not sent. The
 * answer, its attempts row and the payments row's next query are one writer job, so an answer is
 * recorded before anything else happens to the payout.
 */
#include "submit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "log.h"
#include "payout_check.h"
#include "store.h"
#include "store_submit.h"
#include "timeutil.h"
#include "worker.h"
#include "writer.h"

#define IDLE_MS          1000
#define STORAGE_PAUSE_MS 5000
#define CONFIRM_LIFE_MS  (30 * 60 * 1000) /* protocol.md: a confirm code lives 30 minutes */
#define CONFIRM_TRIES    6                /* ...and takes 6 tries */

static const char recovered_reason[] =
    "the daemon stopped while the request was in flight: it is queried, never sent again";
static const char expired_reason[] = "the confirm code lapsed: nothing is paid";

struct submitter {
    const struct submit_options *opt;
    struct keyring *keys;
    struct writer *writer;
    struct store *store; /* read-only */
    struct payout_client *pc;

    pthread_t thread;
    struct worker w; /* stop requests, writer jobs, heartbeat, max_rate */

    atomic_ullong attempts, refused_before_sending, recovered, expired;
    bool build_failing; /* the last request could not be built (cannot_build logged it) */
    atomic_ullong by_class[PAYOUT_CLASS_COUNT];
};

static void log_storage(const char *op)
{
    log_kv(LOG_LEVEL_ERROR, "storage_error", "op", op, "kind", "writer", "error",
           "the writer did not commit the payout's step", NULL);
}

static void log_change(const char *no_order, const char *from, const char *to, const char *reason)
{
    log_kv(LOG_LEVEL_INFO, "payout", "no_order", log_outside(no_order), "from", from, "to", to,
           "reason", log_outside(reason), NULL);
}

/* One line per payout a committed sweep changed. */
static void log_changes(const struct store_submit_step *step)
{
    for (int i = 0; i < step->n_changes; i++) {
        const struct store_submit_change *c = &step->changes[i];
        log_kv(LOG_LEVEL_WARNING, "payout", "no_order", log_outside(c->no_order), "from", c->from,
               "to", c->to, "reason", log_outside(c->reason[0] != '\0' ? c->reason : NULL), NULL);
    }
}

/* Hands step to the writer as kind and waits for the commit. Returns 0 when committed. */
static int write_step(struct submitter *s, enum writer_kind kind, struct store_submit_step *step)
{
    struct writer_job job = {.kind = kind, .in.payout = step};
    return worker_write(&s->w, s->writer, &job);
}

static int refuse(struct submitter *s, const char *no_order, const char *reason)
{
    char now[TIME_ISO_LEN];
    time_iso(time_now_ms(), now);
    struct store_submit_step step = {.no_order = no_order, .now_iso = now, .reason = reason};
    if (write_step(s, WRITER_PAYOUT_REFUSE, &step) != 0) {
        log_storage("payout_refuse");
        return -1;
    }
    if (step.changed > 0) {
        atomic_fetch_add(&s->refused_before_sending, 1);
        log_change(no_order, "queued", "refused", reason);
    }
    return 0;
}

/* Records answer a of the request b (an apply, or a confirm of the review payout c) about no_order
 * sent at sent_ms. Returns 0, or -1 when not stored. */
static int record_answer(struct submitter *s, const char *no_order,
                         const struct store_submit_confirm *c, const struct payout_built *b,
                         int64_t sent_ms, const struct payout_answer *a)
{
    int64_t answered_ms = time_now_ms();
    char sent_at[TIME_ISO_LEN], answered_at[TIME_ISO_LEN], expires[TIME_ISO_LEN],
        next_query[TIME_ISO_LEN], reason[400] = "";
    const char *state = payout_class_state(a->cls);

    time_iso(sent_ms, sent_at);
    time_iso(answered_ms, answered_at);
    struct store_submit_step step = {
        .no_order = no_order,
        .now_iso = answered_at,
        .call = c != NULL ? "confirm" : "apply",
        .state = state,
        .signed_ok = a->signed_ok,
        .sent_at = sent_at,
        .answered_at = answered_at,
        .answer = a->body,
        .answer_len = a->body_len,
        .request = b->journal_json,
    };
    if (a->signed_ok) {
        step.ret_code = a->ret_code;
        step.ret_msg = a->ret_msg;
        step.oid_paybill = a->oid_paybill;
    } else {
        snprintf(reason, sizeof(reason), "unsigned answer: %s", a->detail);
        step.reason = reason;
    }
    switch (a->cls) {
    case PAYOUT_ACCEPTED:
        time_iso(sent_ms + s->opt->notify_window_s * 1000, next_query);
        step.next_query_at = next_query;
        break;
    case PAYOUT_REVIEW:
        if (c != NULL) { /* 4011: the same code and expiry, a try less, for a person again */
            step.confirm_code = c->confirm_code;
            step.confirm_expires_at = c->confirm_expires_at;
            step.confirm_tries = c->confirm_tries > 0 ? c->confirm_tries - 1 : 0;
            snprintf(reason, sizeof(reason), "wrong confirm code: %d tries left",
                     step.confirm_tries);
            step.reason = reason;
            break;
        }
        time_iso(answered_ms + CONFIRM_LIFE_MS, expires);
        step.confirm_code = a->confirm_code;
        step.confirm_expires_at = expires;
        step.confirm_tries = CONFIRM_TRIES;
        break;
    case PAYOUT_UNKNOWN:
        time_iso(answered_ms + s->opt->unknown_query_after * 1000, next_query);
        step.next_query_at = next_query;
        break;
    case PAYOUT_REFUSED_NOTHING_STORED:
    case PAYOUT_REFUSED_MAY_RESUBMIT:
        if (c != NULL) {
            /* LianLian refused the confirm, not the payout: it still holds the order in review
             * under the same code, and a resubmit would only be 1002. A person fixes the cause
             * and confirms again while the code lives. */
            step.state = "review";
            step.attempt_class = state;
            step.confirm_code = c->confirm_code;
            step.confirm_expires_at = c->confirm_expires_at;
            step.confirm_tries = c->confirm_tries;
            snprintf(reason, sizeof(reason),
                     "confirm refused (%s%s%.200s): fix the cause and confirm again before %s",
                     a->ret_code, a->ret_msg[0] != '\0' ? " " : "", a->ret_msg,
                     c->confirm_expires_at);
            step.reason = reason;
        }
        break;
    default:
        break;
    }
    if (c != NULL && a->cls != PAYOUT_REVIEW && a->cls != PAYOUT_UNKNOWN &&
        strcmp(step.state, "review") != 0) {
        /* The code stays with the row (what was confirmed, or what closed), and who asked. */
        step.confirm_code = c->confirm_code;
        step.confirm_expires_at = c->confirm_expires_at;
        step.confirm_tries = c->confirm_tries;
        if (step.reason == NULL && c->reason[0] != '\0')
            step.reason = c->reason;
    }
    int status = write_step(s, WRITER_PAYOUT_ANSWER, &step);
    if (status != 0) {
        log_storage("payout_answer");
        return -1;
    }
    if (step.changed > 0)
        log_change(no_order, c != NULL ? "confirming" : "sending", step.state, step.reason);
    return 0;
}

static void log_attempt(const char *no_order, const char *card_no, const char *call,
                        const struct payout_answer *a)
{
    char card[PAYOUT_MASKED_CARD_LEN];
    payout_mask_card(card_no, card);
    log_kv(a->cls == PAYOUT_ACCEPTED ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING, "submit", "no_order",
           log_outside(no_order), "call", call, "class", payout_class_name(a->cls), "ret_code",
           log_outside(a->ret_code[0] ? a->ret_code : NULL), "signed", a->signed_ok ? "1" : "0",
           "card", card, "detail", log_outside(a->detail), NULL);
}

/* The write-ahead rule: after max_rate's wait, commits kind (sending or confirming) for no_order
 * at *sent_ms. Returns 1 when committed (send b now); otherwise frees b and returns 0 when the
 * payout was not in the state kind expects, -1 on a storage failure, -2 when stopping. */
static int write_ahead(struct submitter *s, enum writer_kind kind, const char *no_order,
                       struct payout_built *b, int64_t *sent_ms)
{
    int rc = -2;

    if (!worker_rate_wait(&s->w)) {
        char sent_at[TIME_ISO_LEN];
        *sent_ms = time_now_ms();
        time_iso(*sent_ms, sent_at);
        struct store_submit_step step = {
            .no_order = no_order,
            .now_iso = sent_at,
            .call = kind == WRITER_PAYOUT_SENDING ? "apply" : "confirm",
            .request = b->journal_json,
        };
        rc = write_step(s, kind, &step);
        if (rc != 0)
            log_storage(kind == WRITER_PAYOUT_SENDING ? "payout_sending" : "payout_confirming");
        else if (step.changed > 0)
            return 1;
        rc = rc != 0 ? -1 : 0;
    }
    payout_built_finish(b);
    return rc;
}

/* Sends b, committed as sending/confirming, and records the answer; frees b. Returns 1 when
 * stopping before the answer was stored, 0 otherwise. */
static int send_and_record(struct submitter *s, enum payout_call call, const char *no_order,
                           const char *card_no, const struct store_submit_confirm *c,
                           struct payout_built *b, int64_t sent_ms)
{
    struct payout_answer a;
    int rc;

    payout_send(s->pc, call, b, s->keys, no_order, &a);
    atomic_fetch_add(&s->attempts, 1);
    if ((unsigned)a.cls < PAYOUT_CLASS_COUNT)
        atomic_fetch_add(&s->by_class[a.cls], 1);
    log_attempt(no_order, card_no, call == PAYOUT_CONFIRM ? "confirm" : "apply", &a);
    /* Until it is stored the payout stays "sending"/"confirming", which start-up makes
     * unknown: retried here, never sent again. */
    while ((rc = record_answer(s, no_order, c, b, sent_ms, &a)) < 0) {
        if (worker_sleep_until(&s->w, time_mono_ms() + STORAGE_PAUSE_MS))
            break;
    }
    payout_answer_finish(&a);
    payout_built_finish(b);
    return rc < 0 ? 1 : 0;
}

/* A request we could not build (no LianLian key, signing, encrypting, the random-number
 * generator, memory): our fault, not the payout's, which stays as it is (queued, or review with
 * its confirm request) and is tried again after a pause, as after a storage failure; logged once
 * until a request is built again. Returns -1 (pause). */
static int cannot_build(struct submitter *s, const char *no_order, const char *call,
                        const char *why)
{
    if (!s->build_failing)
        log_kv(LOG_LEVEL_ERROR, "submit", "no_order", log_outside(no_order), "call", call, "error",
               why != NULL ? why : "no LianLian public key", "action",
               "retried every few seconds, nothing sent meanwhile", NULL);
    s->build_failing = true;
    return -1;
}

/* Sends one queued payout. Returns -1 on a storage failure or a request that could not be built
 * (pause, then again), 1 when stopping, 0 otherwise. */
static int submit_one(struct submitter *s, const struct store_submit_payout *p)
{
    char why[256];
    const char *problem = payout_check(&p->req, why, sizeof(why));
    const char *no_order = p->req.no_order;

    if (problem != NULL)
        return refuse(s, no_order, problem);

    struct payout_built b = {0};
    const char *build_why = NULL;
    EVP_PKEY *lianlian = keyring_first(s->keys);
    int rc = lianlian != NULL
                 ? payout_build_apply(&s->opt->payout, &p->req, lianlian, &b, &build_why)
                 : -1;
    EVP_PKEY_free(lianlian);
    if (rc == PAYOUT_BUILD_FIELD)
        return refuse(s, no_order, build_why);
    if (rc < 0)
        return cannot_build(s, no_order, "apply", build_why);
    s->build_failing = false;

    int64_t sent_ms;
    if ((rc = write_ahead(s, WRITER_PAYOUT_SENDING, no_order, &b, &sent_ms)) <= 0)
        return rc == 0 ? 0 : rc == -1 ? -1 : 1; /* 0: cancelled meanwhile, nothing is sent */
    log_change(no_order, "queued", "sending", NULL);

    return send_and_record(s, PAYOUT_APPLY, no_order, p->req.card_no, NULL, &b, sent_ms);
}

/* Sends the confirm a person asked for of the review payout c. Returns as submit_one. */
static int confirm_one(struct submitter *s, const struct store_submit_confirm *c)
{
    struct payout_built b = {0};
    const char *why = NULL;
    EVP_PKEY *lianlian = keyring_first(s->keys);
    int rc = lianlian != NULL ? payout_build_confirm(&s->opt->payout, c->no_order, c->confirm_code,
                                                     lianlian, &b, &why)
                              : -1;
    EVP_PKEY_free(lianlian);
    if (rc < 0) /* a confirm has no field of the payout's own to refuse */
        return cannot_build(s, c->no_order, "confirm", why);
    s->build_failing = false;
    int64_t sent_ms;
    if ((rc = write_ahead(s, WRITER_PAYOUT_CONFIRMING, c->no_order, &b, &sent_ms)) <= 0)
        return rc == 0 ? 0 : rc == -1 ? -1 : 1; /* 0: declined or lapsed, nothing is sent */
    log_change(c->no_order, "review", "confirming",
               c->reason[0] != '\0' ? c->reason : "confirm requested");
    return send_and_record(s, PAYOUT_CONFIRM, c->no_order, c->card_no, c, &b, sent_ms);
}

/* Closes the review payouts whose confirm code lapsed. */
static void expire(struct submitter *s)
{
    char now[TIME_ISO_LEN];
    time_iso(time_now_ms(), now);
    struct store_submit_step step = {.now_iso = now, .reason = expired_reason};
    if (write_step(s, WRITER_PAYOUT_EXPIRE, &step) == 0 && step.changed > 0) {
        atomic_fetch_add(&s->expired, (unsigned long long)step.changed);
        log_changes(&step);
    }
    store_submit_step_finish(&step);
}

/* Recovery (submit_recover) as one writer job handed over through w. Returns 0 when committed,
 * with *n the payouts it made unknown. */
static int recover_once(struct worker *w, struct writer *wr, const struct submit_options *opt,
                        int *n)
{
    char now[TIME_ISO_LEN], next[TIME_ISO_LEN];
    int64_t now_ms = time_now_ms();

    time_iso(now_ms, now);
    time_iso(now_ms + opt->unknown_query_after * 1000, next);
    struct store_submit_step step = {
        .now_iso = now, .reason = recovered_reason, .next_query_at = next};
    struct writer_job job = {.kind = WRITER_PAYOUT_RECOVER, .in.payout = &step};
    int status = worker_write(w, wr, &job);
    *n = step.changed;
    if (status != 0)
        log_storage("payout_recover");
    else
        log_changes(&step);
    store_submit_step_finish(&step);
    return status != 0 ? -1 : 0;
}

int submit_recover(const struct submit_options *opt, struct writer *wr)
{
    struct worker w;
    int n = 0;

    worker_init(&w, 1);
    int rc = recover_once(&w, wr, opt, &n);
    worker_finish(&w);
    return rc;
}

/* At the thread's start, before anything is sent: service.c has run submit_recover already, but
 * a storage fault then must not let a payout left "sending" be taken for one in flight now, so
 * the thread does it again (nothing is found when the first one committed) until it commits.
 * Returns true when stopping. */
static bool recover(struct submitter *s)
{
    for (;;) {
        int n = 0;
        if (recover_once(&s->w, s->writer, s->opt, &n) == 0) {
            atomic_fetch_add(&s->recovered, (unsigned long long)n);
            return false;
        }
        if (worker_sleep_until(&s->w, time_mono_ms() + STORAGE_PAUSE_MS))
            return true;
    }
}

static void *submit_main(void *arg)
{
    struct submitter *s = arg;

    pthread_setname_np(pthread_self(), "submit");
    if (recover(s))
        return NULL;
    for (;;) {
        atomic_store(&s->w.heartbeat, time_mono_ms());
        int64_t pause = IDLE_MS;
        expire(s);
        /* A person's confirm first: its code lapses, a queued payout waits. */
        struct store_submit_confirm c;
        int asked = store_submit_next_confirm(s->store, &c);
        if (asked > 0) {
            int rc = confirm_one(s, &c);
            if (rc > 0)
                return NULL;
            if (rc == 0)
                continue;
            pause = STORAGE_PAUSE_MS;
            if (worker_sleep_until(&s->w, time_mono_ms() + pause))
                return NULL;
            continue;
        }
        struct store_submit_payout p;
        int found = asked < 0 ? -1 : store_submit_next(s->store, &p);
        if (found < 0) {
            log_kv(LOG_LEVEL_ERROR, "storage_error", "op", "select_queued", "kind",
                   store_errkind(s->store), "error", store_errmsg(s->store), NULL);
            pause = STORAGE_PAUSE_MS;
        } else if (found > 0) {
            int rc = submit_one(s, &p);
            store_submit_payout_finish(&p);
            if (rc > 0)
                return NULL;
            if (rc == 0)
                continue; /* the next one at once (rate_wait paces the sends) */
            pause = STORAGE_PAUSE_MS;
        }
        if (worker_sleep_until(&s->w, time_mono_ms() + pause))
            return NULL;
    }
}

struct submitter *submit_start(const struct submit_options *opt, struct keyring *keys,
                               struct writer *w, char *err, size_t errlen)
{
    struct submitter *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->opt = opt;
    s->keys = keys;
    s->writer = w;
    s->pc = payout_client_create(&opt->payout, err, errlen);
    if (s->pc == NULL)
        goto fail;
    s->store = store_open(opt->database_path, STORE_READ, err, errlen);
    if (s->store == NULL)
        goto fail;
    worker_init(&s->w, opt->max_rate);
    if (pthread_create(&s->thread, NULL, submit_main, s) != 0) {
        snprintf(err, errlen, "cannot start the submit thread");
        worker_finish(&s->w);
        goto fail;
    }
    return s;
fail:
    store_close(s->store);
    payout_client_destroy(s->pc);
    free(s);
    return NULL;
}

int64_t submit_stall_ms(const struct submit_options *opt)
{
    /* As the reconciler's: 20 s for the writer's steps, a read and the rate limiter's wait. */
    return (opt->payout.timeout_ms > 0 ? opt->payout.timeout_ms : 30000) + 20000;
}

int64_t submit_heartbeat(struct submitter *s)
{
    return atomic_load(&s->w.heartbeat);
}

void submit_get_stats(struct submitter *s, struct submit_stats *out)
{
    out->attempts = atomic_load(&s->attempts);
    out->refused_before_sending = atomic_load(&s->refused_before_sending);
    out->recovered = atomic_load(&s->recovered);
    out->expired = atomic_load(&s->expired);
    for (int i = 0; i < PAYOUT_CLASS_COUNT; i++)
        out->by_class[i] = atomic_load(&s->by_class[i]);
}

void submit_stop(struct submitter *s)
{
    if (s == NULL)
        return;
    worker_stop(&s->w);
    pthread_join(s->thread, NULL);
    worker_finish(&s->w);
    store_close(s->store);
    payout_client_destroy(s->pc);
    free(s);
}
