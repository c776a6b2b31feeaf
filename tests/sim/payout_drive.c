/*
 * payout_drive: a test driver (not installed) that sends one payment.htm or confirmPayment.htm
 * request built by the project's own client (payout.c) and prints the classified answer as one
 * JSON line. test_sim_payout.py drives lianpay-sim with it, so that the simulator is checked
 * against exactly what the daemon sends. It can also tamper with the request:
 *   --tamper hmac       one character of P4 changed: the HMAC no longer checks
 *   --tamper plaintext  the signed request changed (money_order) and encrypted afresh: the HMAC
 *                       checks (anybody can make P1/P2), the merchant's signature does not
 *   --tamper partner    the outer oid_partner changed
 * Exit 0 when an answer was classified (whatever its class), 2 on bad usage.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "keys.h"
#include "msg.h"
#include "payload.h"
#include "payout.h"

static int tamper_hmac(struct payout_built *b)
{
    /* body: {"oid_partner":"…","pay_load":"lianpay1_0_1$P1$P2$P3$P4$P5"}: P4 follows the 4th $ */
    char *p = b->body;
    for (int i = 0; i < 4 && p != NULL; i++)
        p = strchr(p + 1, '$');
    if (p == NULL || p[1] == '\0')
        return -1;
    p[1] = p[1] == 'A' ? 'B' : 'A';
    return 0;
}

static int reseal(struct payout_built *b, EVP_PKEY *lianlian, const char *partner,
                  bool change_money)
{
    struct msg m = {0};
    const char *why = NULL;
    char *plain = NULL, *pl = NULL;
    int ret = -1;

    if (msg_parse(b->signed_json, strlen(b->signed_json), &m, &why) < 0)
        goto out;
    if (change_money)
        msg_set(&m, "money_order", "0.02");
    if ((plain = msg_to_json(&m)) == NULL ||
        (pl = payload_encrypt(lianlian, plain, strlen(plain))) == NULL)
        goto out;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "oid_partner", partner);
    cJSON_AddStringToObject(j, "pay_load", pl);
    free(b->body);
    b->body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ret = b->body != NULL ? 0 : -1;
out:
    free(plain);
    free(pl);
    msg_finish(&m);
    return ret;
}

static void print_answer(const struct payout_answer *a)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "class", payout_class_name(a->cls));
    cJSON_AddBoolToObject(j, "signed", a->signed_ok);
    cJSON_AddBoolToObject(j, "wrong_code", a->wrong_code);
    cJSON_AddNumberToObject(j, "http_status", (double)a->http_status);
    cJSON_AddStringToObject(j, "ret_code", a->ret_code);
    cJSON_AddStringToObject(j, "ret_msg", a->ret_msg);
    cJSON_AddStringToObject(j, "oid_paybill", a->oid_paybill);
    cJSON_AddStringToObject(j, "confirm_code", a->confirm_code);
    cJSON_AddStringToObject(j, "detail", a->detail);
    if (a->body != NULL)
        cJSON_AddStringToObject(j, "body", a->body);
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

int main(int argc, char **argv)
{
    enum { O_URL = 1, O_MKEY, O_LPUB, O_PARTNER, O_NOTIFY, O_TAMPER, O_TIMEOUT, O_CODE, O_F };
    static const char *const fields[] = {
        "no-order",  "dt-order", "money",   "card",      "name",      "bank-name",   "info-order",
        "flag-card", "memo",     "prcptcd", "bank-code", "city-code", "brabank-name"};
    enum { NF = sizeof(fields) / sizeof(fields[0]) };
    struct option opts[9 + NF + 1] = {
        {"url", required_argument, NULL, O_URL},
        {"merchant-key", required_argument, NULL, O_MKEY},
        {"lianlian-public", required_argument, NULL, O_LPUB},
        {"oid-partner", required_argument, NULL, O_PARTNER},
        {"notify-url", required_argument, NULL, O_NOTIFY},
        {"tamper", required_argument, NULL, O_TAMPER},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"code", required_argument, NULL, O_CODE},
    };
    const char *val[NF] = {0};
    const char *base = NULL, *mkey = NULL, *lpub = NULL, *tamper = NULL, *code = NULL;
    char err[512], payment[512], confirm[512];
    struct payout_options po = {.api_version = "1.0"};
    int c;

    for (int i = 0; i < NF; i++)
        opts[8 + i] = (struct option){fields[i], required_argument, NULL, O_F + i};
    if (argc < 2 || (strcmp(argv[1], "apply") != 0 && strcmp(argv[1], "confirm") != 0)) {
        fprintf(stderr, "usage: payout_drive apply|confirm --url BASE --merchant-key F "
                        "--lianlian-public F --oid-partner N --notify-url U FIELDS\n");
        return 2;
    }
    bool is_apply = strcmp(argv[1], "apply") == 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            base = optarg;
            break;
        case O_MKEY:
            mkey = optarg;
            break;
        case O_LPUB:
            lpub = optarg;
            break;
        case O_PARTNER:
            po.oid_partner = optarg;
            break;
        case O_NOTIFY:
            po.notify_url = optarg;
            break;
        case O_TAMPER:
            tamper = optarg;
            break;
        case O_TIMEOUT:
            po.timeout_ms = atol(optarg);
            break;
        case O_CODE:
            code = optarg;
            break;
        default:
            if (c < O_F || c >= O_F + NF)
                return 2;
            val[c - O_F] = optarg;
        }
    }
    if (base == NULL || mkey == NULL || lpub == NULL || po.oid_partner == NULL || val[0] == NULL) {
        fprintf(stderr, "payout_drive: --url, --merchant-key, --lianlian-public, --oid-partner "
                        "and --no-order are required\n");
        return 2;
    }
    snprintf(payment, sizeof(payment), "%spayment.htm", base);
    snprintf(confirm, sizeof(confirm), "%sconfirmPayment.htm", base);
    po.payment_url = payment;
    po.confirm_url = confirm;
    po.merchant_key = keys_load_private(mkey, err, sizeof(err));
    struct keyset ks = {0};
    if (po.merchant_key == NULL || keys_load_set(lpub, &ks, err, sizeof(err)) < 0) {
        fprintf(stderr, "payout_drive: %s\n", err);
        return 2;
    }
    struct keyring *kr = keyring_create(&ks);
    EVP_PKEY *lianlian = keyring_first(kr);
    struct payout_request r = {
        .no_order = val[0],
        .dt_order = val[1] ? val[1] : "20261201093000",
        .money_order = val[2] ? val[2] : "49.65",
        .card_no = val[3] ? val[3] : "6228480223312311474",
        .acct_name = val[4] ? val[4] : "李三",
        .bank_name = val[5],
        .info_order = val[6] ? val[6] : "佣金",
        .flag_card = val[7] ? val[7] : "0",
        .memo = val[8],
        .prcptcd = val[9],
        .bank_code = val[10],
        .city_code = val[11],
        .brabank_name = val[12],
    };
    struct payout_built b = {0};
    const char *why = NULL;
    int rc = is_apply ? payout_build_apply(&po, &r, lianlian, &b, &why)
                      : payout_build_confirm(&po, r.no_order, code ? code : "000000", lianlian, &b,
                                             &why);
    if (rc < 0) {
        fprintf(stderr, "payout_drive: %s\n", why);
        return 2;
    }
    if (tamper != NULL) {
        if (strcmp(tamper, "hmac") == 0)
            rc = tamper_hmac(&b);
        else if (strcmp(tamper, "plaintext") == 0)
            rc = reseal(&b, lianlian, po.oid_partner, true);
        else if (strcmp(tamper, "partner") == 0)
            rc = reseal(&b, lianlian, "201801030001351899", false);
        else
            rc = -1;
        if (rc < 0) {
            fprintf(stderr, "payout_drive: cannot tamper: %s\n", tamper);
            return 2;
        }
    }
    struct payout_client *pc = payout_client_create(&po, err, sizeof(err));
    if (pc == NULL) {
        fprintf(stderr, "payout_drive: %s\n", err);
        return 2;
    }
    struct payout_answer a;
    payout_send(pc, is_apply ? PAYOUT_APPLY : PAYOUT_CONFIRM, &b, kr, r.no_order, &a);
    print_answer(&a);
    payout_answer_finish(&a);
    payout_client_destroy(pc);
    payout_built_finish(&b);
    EVP_PKEY_free(lianlian);
    EVP_PKEY_free(po.merchant_key);
    keyring_destroy(kr);
    return 0;
}
