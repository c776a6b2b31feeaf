/*
 * lianpayctl backup and archive (ctl_backup.h): argument checking and the result line around
 * store_backup.c, which does the work. Single-threaded, one store connection.
 */
#include "ctl_backup.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl_print.h"
#include "log.h"
#include "store.h"
#include "store_backup.h"
#include "timeutil.h"

static void print_path(FILE *out, const char *path)
{
    log_print_escaped(out, path, strlen(path));
}

int ctl_backup_backup(struct store *st, int argc, char **argv, FILE *out)
{
    struct store_backup_result res = {0};
    char err[1024];

    if (argc != 2 || argv[1][0] == '\0')
        return ctl_fail("usage: backup FILE");
    if (store_backup(st, argv[1], &res, err, sizeof(err)) < 0)
        return ctl_fail("backup: %s", err);
    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "path", ctl_json_string(argv[1]));
        ctl_json_put(o, "bytes", cJSON_CreateNumber((double)res.bytes));
        ctl_json_put(o, "seconds", cJSON_CreateNumber((double)res.elapsed_ms / 1000.0));
        return ctl_json_print(out, o) < 0 ? 2 : 0;
    }
    fputs("backup path=", out);
    print_path(out, argv[1]);
    fprintf(out, " bytes=%" PRId64 " seconds=%" PRId64 ".%03" PRId64 "\n", res.bytes,
            res.elapsed_ms / 1000, res.elapsed_ms % 1000);
    return 0;
}

/* DATE as YYYY-MM-DD (midnight UTC) or an ISO-8601 UTC instant with milliseconds, into iso. */
static int parse_before(const char *date, char iso[TIME_ISO_LEN])
{
    char buf[TIME_ISO_LEN + 16];
    int64_t ms;

    if (strlen(date) == 10)
        snprintf(buf, sizeof(buf), "%sT00:00:00.000Z", date);
    else
        snprintf(buf, sizeof(buf), "%s", date);
    if (time_parse_iso(buf, &ms) < 0)
        return -1;
    time_iso(ms, iso);
    /* time_parse_iso accepts what time_iso writes; anything it normalised was not a date. */
    return strcmp(iso, buf) == 0 ? 0 : -1;
}

int ctl_backup_archive(struct store *st, int argc, char **argv, FILE *out)
{
    static const struct option opts[] = {
        {"before", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    struct store_archive_result res = {0};
    const char *before = NULL;
    char iso[TIME_ISO_LEN];
    char err[1024];
    int c;

    while ((c = getopt_long(argc, argv, "b:", opts, NULL)) != -1) {
        if (c != 'b')
            return ctl_fail("usage: archive --before DATE FILE");
        before = optarg;
    }
    if (before == NULL || optind != argc - 1 || argv[optind][0] == '\0')
        return ctl_fail("usage: archive --before DATE FILE");
    if (parse_before(before, iso) < 0)
        return ctl_fail("archive: --before %s: not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.mmmZ", before);
    if (store_archive(st, iso, argv[optind], &res, err, sizeof(err)) < 0)
        return ctl_fail("archive: %s", err);
    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "orders", cJSON_CreateNumber((double)res.orders));
        ctl_json_put(o, "events", cJSON_CreateNumber((double)res.events));
        ctl_json_put(o, "before", cJSON_CreateString(iso));
        ctl_json_put(o, "path", ctl_json_string(argv[optind]));
        return ctl_json_print(out, o) < 0 ? 2 : 0;
    }
    fprintf(out, "archive orders=%" PRId64 " events=%" PRId64 " before=%s path=", res.orders,
            res.events, iso);
    print_path(out, argv[optind]);
    fputc('\n', out);
    return 0;
}
