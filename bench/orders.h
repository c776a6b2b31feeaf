#ifndef LIANPAY_BENCH_ORDERS_H
#define LIANPAY_BENCH_ORDERS_H

/*
 * The benchmark's orders, shared by the body generator (bench-gen) and the database builder
 * (bench-scale): both must agree on an order's number, amount and date, so that a notification
 * generated for a pending order of the big database matches what the database holds (a mismatch
 * would be flagged for review and measure a different path).
 */
#include <stdint.h>
#include <stdio.h>

#define BENCH_OID_PARTNER "201103171000000000"
#define BENCH_DT_ORDER    "20261122083000"
#define BENCH_SETTLE_DATE "20261122"

/* Pending orders of the big database are "P" and 9 digits; new orders "N<run prefix>...". */
static inline void bench_pending_no(uint64_t n, char out[33])
{
    snprintf(out, 33, "P%09llu", (unsigned long long)n);
}

/* 0.01 .. 1000.00 yuan, spread so that amounts differ between neighbours. */
static inline int64_t bench_amount_fen(uint64_t n)
{
    return 1 + (int64_t)((n * 2654435761u) % 100000u);
}

static inline void bench_money(uint64_t n, char out[24])
{
    int64_t fen = bench_amount_fen(n);
    snprintf(out, 24, "%lld.%02lld", (long long)(fen / 100), (long long)(fen % 100));
}

/* Visits 0..m-1 in a scattered order (a multiplicative permutation: 1000003 is prime and larger
 * than any m used here, so it is coprime with m), so that notifications hit the big database's
 * B-trees at random places rather than in insertion order. */
static inline uint64_t bench_scatter(uint64_t i, uint64_t m)
{
    return (i % m) * 1000003u % m;
}

#endif
