/*
 * libFuzzer target for the configuration parser (config_load_string): any text must give either
 * a configuration or one error message naming the place, never a crash, a leak or a hang. Key
 * paths in the seeds are relative to this directory (the fuzzer runs from here, see
 * LLVMFuzzerInitialize), so that the parser also gets past the key files.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FUZZ_CHECK(chdir(FUZZ_SOURCE_DIR) == 0);
    log_init();
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[1024];
    char *text = malloc(size + 1);

    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
    if (config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
        FUZZ_CHECK(cfg.oid_partner[0] != '\0' && cfg.public_keys.n > 0);
        FUZZ_CHECK(cfg.max_body > 0 && cfg.max_connections > 0);
    } else {
        FUZZ_CHECK(strncmp(err, "fuzz.conf", 9) == 0 && strchr(err, '\n') == NULL);
    }
    config_finish(&cfg);
    free(text);
    return 0;
}
