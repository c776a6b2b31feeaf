#ifndef LIANPAY_MIGRATIONS_H
#define LIANPAY_MIGRATIONS_H

/* The SQL migrations of sql/, embedded at build time by tools/embed_sql.py. Migration number i
 * (1-based) brings the schema from PRAGMA user_version i-1 to i. */
struct migration {
    int number;
    const char *name;
    const char *sql;
};

extern const struct migration store_migrations[];
extern const int store_migrations_count;

#endif
