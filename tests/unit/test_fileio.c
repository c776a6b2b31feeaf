/*
 * fileio: whole files into memory, as the configuration, the key loaders, the TLS listener and
 * the command-line tools read them: the bytes and their length, the limit, and the reasons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fileio.h"

static char dir[PATH_MAX];

static const char *path_in(const char *name)
{
    static char buf[2 * PATH_MAX];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *name, const char *data, size_t n)
{
    int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/test_fileio.XXXXXX", tmp != NULL ? tmp : "/tmp");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The bytes as they are, NUL bytes included, with a NUL after them; secret or not. */
static void test_reads_the_whole_file(void **state)
{
    static const char data[] = "-----BEGIN PRIVATE KEY-----\nMII\0AB\n";
    static const unsigned flags[] = {0, FILEIO_SECRET, FILEIO_REGULAR | FILEIO_SECRET};
    char why[128];
    size_t len = 0;

    write_file("key.pem", data, sizeof(data) - 1);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char *buf = fileio_read(path_in("key.pem"), 1024, flags[i], &len, why, sizeof(why));
        assert_non_null(buf);
        assert_int_equal(len, sizeof(data) - 1);
        assert_memory_equal(buf, data, len);
        assert_int_equal(buf[len], '\0');
        fileio_free_secret(buf, len);
    }
    write_file("empty", "", 0);
    char *buf = fileio_read(path_in("empty"), 1024, 0, &len, why, sizeof(why));
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_limit(void **state)
{
    char data[300], why[128];
    size_t len = 0;

    memset(data, 'x', sizeof(data));
    write_file("big", data, sizeof(data));
    char *buf = fileio_read(path_in("big"), sizeof(data), FILEIO_SECRET, &len, why, sizeof(why));
    assert_non_null(buf);
    assert_int_equal(len, sizeof(data));
    fileio_free_secret(buf, len);
    errno = 0;
    assert_null(fileio_read(path_in("big"), sizeof(data) - 1, 0, &len, why, sizeof(why)));
    assert_int_equal(errno, EFBIG);
    assert_string_equal(why, "larger than 299 bytes");
}

static void test_reasons(void **state)
{
    char why[128];
    size_t len = 0;

    errno = 0;
    assert_null(fileio_read(path_in("missing"), 1024, 0, &len, why, sizeof(why)));
    assert_int_equal(errno, ENOENT);
    assert_string_equal(why, "cannot open: No such file or directory");
    assert_null(fileio_read(dir, 1024, FILEIO_REGULAR, &len, why, sizeof(why)));
    assert_string_equal(why, "not a file");
    assert_null(fileio_read(dir, 1024, 0, &len, why, sizeof(why)));
    assert_int_equal(errno, EISDIR);
    assert_string_equal(why, "cannot read: Is a directory");
    /* "-" is a file name unless standard input was asked for. */
    assert_null(fileio_read("-", 1024, 0, &len, why, sizeof(why)));
    assert_int_equal(errno, ENOENT);
}

/* Standard input of unknown length: the buffer grows past its first size, and the limit still
 * holds. */
static void test_stdin(void **state)
{
    static const size_t sizes[] = {10000, 20001};
    char why[128];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *data = malloc(sizes[i]);
        int p[2];
        int saved = dup(STDIN_FILENO);
        size_t len = 0;

        assert_non_null(data);
        for (size_t k = 0; k < sizes[i]; k++)
            data[k] = (char)('a' + k % 26);
        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], data, sizes[i]), (ssize_t)sizes[i]);
        close(p[1]);
        assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
        close(p[0]);
        errno = 0;
        char *buf = fileio_read("-", 20000, FILEIO_STDIN | FILEIO_SECRET, &len, why, sizeof(why));
        assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
        close(saved);
        if (sizes[i] <= 20000) {
            assert_non_null(buf);
            assert_int_equal(len, sizes[i]);
            assert_memory_equal(buf, data, len);
            assert_int_equal(buf[len], '\0');
        } else {
            assert_null(buf);
            assert_int_equal(errno, EFBIG);
        }
        fileio_free_secret(buf, len);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_the_whole_file),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_stdin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
