#ifndef LIANPAY_MONEY_H
#define LIANPAY_MONEY_H

#include <stdint.h>

/*
 * Parses a LianLian amount in yuan ("49.65", "0.01", "100", "100.5") into fen, exactly and
 * without floating point. Accepted: no sign, no leading zeros (but "0.xx"), at most 2 decimals,
 * at most 12 integer digits. Returns 0 with *fen set, or -1. Zero parses (callers decide if it is
 * allowed).
 */
int money_parse_fen(const char *s, int64_t *fen);

/* Writes fen as yuan with exactly two decimals ("49.65") into buf (at least 24 bytes). */
void money_format(int64_t fen, char *buf);

#endif
