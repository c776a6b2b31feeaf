#ifndef LIANPAY_SERVICE_H
#define LIANPAY_SERVICE_H

#include <stddef.h>

struct config;

/*
 * Runs the daemon until SIGTERM or SIGINT: opens and migrates the database, starts the writer, the
 * HTTP server (and the reconciler), reports readiness to systemd, reloads keys and log level on
 * SIGHUP, and on the way out drains every message already received. cfg is the loaded
 * configuration; config_text, when not NULL, is the embedded configuration it came from (reloaded
 * from there instead of cfg->file). Returns the process exit status.
 */
int service_run(struct config *cfg, const char *config_text);

/*
 * What start-up will need beyond the configuration itself (-t): the database's directory exists
 * and the user running this may write and search it, and the database and its WAL, where they
 * exist, are readable and writable by that user (by their modes: filecheck.h) and not by others.
 * Returns 0, or -1 with "FILE: database.path: reason" in err.
 */
int service_check(const struct config *cfg, char *err, size_t errlen);

#endif
