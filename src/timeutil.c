/*
 * Clocks and the two text forms of time the project uses: ISO-8601 UTC timestamps with
 * milliseconds (every TEXT time in the database, so that they sort as strings) and the
 * configuration's durations ("36m"); and the condition variables that wait on the monotonic clock.
 */
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int time_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);

    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

void time_iso(int64_t ms, char *buf)
{
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* gmtime_r's fields are in range, but the compiler cannot know: format into room enough
     * for any int, then keep the 24 characters of the fixed-width form. */
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    memcpy(buf, tmp, TIME_ISO_LEN - 1);
    buf[TIME_ISO_LEN - 1] = '\0';
}

void time_iso_cached(int64_t ms, char *buf)
{
    static _Thread_local int64_t last_second = -1;
    static _Thread_local char last[TIME_ISO_LEN];

    if (ms < 0 || ms / 1000 != last_second) {
        time_iso(ms, last);
        last_second = ms < 0 ? -1 : ms / 1000;
    } else {
        int millis = (int)(ms % 1000);
        last[20] = (char)('0' + millis / 100);
        last[21] = (char)('0' + millis / 10 % 10);
        last[22] = (char)('0' + millis % 10);
    }
    memcpy(buf, last, TIME_ISO_LEN);
}

static int parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int time_parse_iso(const char *s, int64_t *ms)
{
    struct tm tm;
    int year, mon, day, hour, min, sec, millis = 0;

    memset(&tm, 0, sizeof(tm));
    if (strlen(s) < 20 || parse_digits(s, 4, &year) || s[4] != '-' ||
        parse_digits(s + 5, 2, &mon) || s[7] != '-' || parse_digits(s + 8, 2, &day) ||
        s[10] != 'T' || parse_digits(s + 11, 2, &hour) || s[13] != ':' ||
        parse_digits(s + 14, 2, &min) || s[16] != ':' || parse_digits(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        if (parse_digits(p + 1, 3, &millis))
            return -1;
        p += 4;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000 + millis;
    return 0;
}

int time_parse_duration(const char *s, int64_t *seconds)
{
    int64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX / 86400 - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
        p++;
    }
    int64_t unit;
    switch (*p) {
    case '\0':
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -1;
    }
    if (*p != '\0' && p[1] != '\0')
        return -1;
    *seconds = v * unit;
    return 0;
}
