#ifndef LIANPAY_SERVICE_H
#define LIANPAY_SERVICE_H

struct config;

/*
 * Runs the daemon until SIGTERM or SIGINT: opens and migrates the database, starts the writer, the
 * HTTP server (and the reconciler), reports readiness to systemd, reloads keys and log level on
 * SIGHUP, and on the way out drains every message already received. cfg is the loaded
 * configuration; config_text, when not NULL, is the embedded configuration it came from (reloaded
 * from there instead of cfg->file). Returns the process exit status.
 */
int service_run(struct config *cfg, const char *config_text);

#endif
