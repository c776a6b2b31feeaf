/* payout_check: what a payout must be before it is sent, each rule naming its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "payout.h"
#include "payout_check.h"

/* design.md's example payout: valid. */
static struct payout_request valid(void)
{
    return (struct payout_request){
        .no_order = "P20261201000123",
        .dt_order = "20261201093000",
        .money_order = "49.65",
        .card_no = "6228480223312311474",
        .acct_name = "李三",
        .flag_card = "0",
        .info_order = "佣金",
        .memo = "代付",
    };
}

/* r is refused with a reason that starts with the field's name and holds want. */
static void assert_refused(const struct payout_request *r, const char *field, const char *want)
{
    char buf[256];
    const char *why = payout_check(r, buf, sizeof(buf));

    if (why == NULL)
        fail_msg("accepted; expected a refusal of %s", field);
    if (strncmp(why, field, strlen(field)) != 0 || why[strlen(field)] != ':' ||
        strstr(why, want) == NULL)
        fail_msg("refused as \"%s\"; expected %s: ...%s...", why, field, want);
}

static void assert_accepted(const struct payout_request *r)
{
    char buf[256];
    const char *why = payout_check(r, buf, sizeof(buf));
    if (why != NULL)
        fail_msg("refused: %s", why);
}

static void test_valid_personal(void **state)
{
    (void)state;
    struct payout_request r = valid();
    assert_accepted(&r);
    r.flag_card = NULL; /* defaults to personal */
    r.info_order = NULL;
    r.memo = "";
    assert_accepted(&r);
}

static void test_formats(void **state)
{
    (void)state;
    struct payout_request r = valid();

    r.no_order = "P 1";
    assert_refused(&r, "no_order", "without space");
    r = valid();
    r.dt_order = "2026120109300";
    assert_refused(&r, "dt_order", "14 digits");
    r.dt_order = "20261301093000";
    assert_refused(&r, "dt_order", "14 digits");
    r = valid();
    r.money_order = "0.00";
    assert_refused(&r, "money_order", "above 0");
    r.money_order = "1.234";
    assert_refused(&r, "money_order", "2 decimals");
    r = valid();
    r.card_no = "6228 4802";
    assert_refused(&r, "card_no", "digits");
    r.card_no = "622848022331231147462284802233123"; /* 33 */
    assert_refused(&r, "card_no", "32");
    r = valid();
    r.acct_name = "";
    assert_refused(&r, "acct_name", "required");
    r.acct_name = "\xe6\x9d"; /* cut in the middle of 李 */
    assert_refused(&r, "acct_name", "UTF-8");
    r.acct_name = "A\x1b[31m";
    assert_refused(&r, "acct_name", "UTF-8");
    r = valid();
    r.flag_card = "2";
    assert_refused(&r, "flag_card", "0 (personal) or 1");
    r = valid();
    char info[300];
    memset(info, 'x', 256);
    info[256] = '\0';
    r.info_order = info;
    assert_refused(&r, "info_order", "255");
    info[255] = '\0';
    assert_accepted(&r);
}

static void test_memo_characters(void **state)
{
    (void)state;
    struct payout_request r = valid();

    r.memo = "Pay-2026_12佣金";
    assert_accepted(&r);
    r.memo = "pay 1"; /* the space would be stripped */
    assert_refused(&r, "memo", "character 4 is one LianLian strips");
    r.memo = "佣金。"; /* U+3002 is outside U+4E00..U+9FA5 */
    assert_refused(&r, "memo", "character 3");
    r.memo = "\xe9\xbe\xa6"; /* U+9FA6, just past the range */
    assert_refused(&r, "memo", "character 1");
    r.memo = "\xc0\xaf"; /* overlong '/' */
    assert_refused(&r, "memo", "not UTF-8");
    /* 24 Chinese characters (72 bytes) are 24 characters; 25 are too many */
    r.memo = "一二三四五六七八九十一二三四五六七八九十一二三四";
    assert_accepted(&r);
    r.memo = "一二三四五六七八九十一二三四五六七八九十一二三四五";
    assert_refused(&r, "memo", "25 characters, at most 24");
}

static void test_large_payout_rule(void **state)
{
    (void)state;
    struct payout_request r = valid();

    r.money_order = "49999.99";
    r.info_order = NULL;
    r.memo = NULL;
    assert_accepted(&r);
    r.money_order = "50000";
    assert_refused(&r, "info_order", "required from 50,000 yuan");
    r.info_order = "佣金";
    assert_refused(&r, "memo", "required from 50,000 yuan");
    r.memo = "";
    assert_refused(&r, "memo", "required from 50,000 yuan");
    r.memo = "代付";
    assert_accepted(&r);
}

/* Every bank of the embedded table, as LianLian's file at commit 9d49a765 says. */
static void test_bank_table(void **state)
{
    (void)state;
    static const char *const none[] = {"01040000", "01030000", "01020000", "01050000", "03080000",
                                       "03030000", "03100000", "03090000", "01000000", "03070000",
                                       "03020000", "03040000", "03050000", "04233310"};
    static const char *const branch[] = {"03060000", "03010000", "04791920", "04256020", "05083000",
                                         "04031000", "04012900", "04083320", "64135810", "04375850",
                                         "64895910", "03160000", "03110000", "12345678"};
    struct payout_request r = valid();
    r.flag_card = "1";

    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_true(payout_check_bank_needs_no_branch(none[i]));
        r.bank_code = none[i];
        assert_accepted(&r);
    }
    for (size_t i = 0; i < sizeof(branch) / sizeof(branch[0]); i++) {
        assert_false(payout_check_bank_needs_no_branch(branch[i]));
        r.bank_code = branch[i];
        r.prcptcd = NULL;
        r.city_code = NULL;
        r.brabank_name = NULL;
        assert_refused(&r, "prcptcd", "needs the branch");
        r.city_code = "330100";
        assert_refused(&r, "prcptcd", "city_code and brabank_name");
        r.brabank_name = "杭州分行";
        assert_accepted(&r);
        r.city_code = NULL;
        r.brabank_name = NULL;
        r.prcptcd = "102331000000";
        assert_accepted(&r);
    }
}

static void test_company_fields(void **state)
{
    (void)state;
    struct payout_request r = valid();
    r.flag_card = "1";

    assert_refused(&r, "bank_code", "required for a company payout");
    r.bank_code = "0104000";
    assert_refused(&r, "bank_code", "8 digits");
    r.bank_code = "03010000";
    r.prcptcd = "10233100000x";
    assert_refused(&r, "prcptcd", "12 digits");
    r.prcptcd = NULL;
    r.city_code = "33a";
    r.brabank_name = "x";
    assert_refused(&r, "city_code", "12 digits");
    /* a personal payout needs none of it, but what is given must still be well-formed */
    r = valid();
    r.bank_code = "123";
    assert_refused(&r, "bank_code", "8 digits");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_personal),  cmocka_unit_test(test_formats),
        cmocka_unit_test(test_memo_characters), cmocka_unit_test(test_large_payout_rule),
        cmocka_unit_test(test_bank_table),      cmocka_unit_test(test_company_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
