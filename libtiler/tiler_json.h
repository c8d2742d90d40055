/* JSON output through yajl: small helpers and the job document. */
#ifndef TILER_JSON_H
#define TILER_JSON_H

#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include "tiler_store.h"

void tiler_json_str(yajl_gen g, const char *s);
void tiler_json_kv_str(yajl_gen g, const char *key, const char *value); /* null when value is NULL */
void tiler_json_kv_int(yajl_gen g, const char *key, long long value);
void tiler_json_kv_double(yajl_gen g, const char *key, double value);
/* RFC 3339 UTC with milliseconds, from microseconds since the epoch. */
void tiler_rfc3339(char buf[64], int64_t usec);
/* Writes a parsed yajl tree back out (to pass a subtree through). */
void tiler_json_value(yajl_gen g, yajl_val v);
/* The job object of GET {loc}/api/jobs/{id}; base is the Location, e.g. "/tiler". */
void tiler_json_job(yajl_gen g, const tiler_job *j, const char *base);

#endif
