/* One idempotent producer per httpd child, created after fork. */
#ifndef MOD_TILER_PRODUCER_H
#define MOD_TILER_PRODUCER_H

#include <gd.h>
#include "mod_tiler.h"
#include "tiler_grid.h"

void tiler_producer_child_init(apr_pool_t *pchild, server_rec *s);

/* Where Kafka put a job's tasks: the highest acknowledged offset on each
 * partition of the tasks topic, -1 where none went. */
typedef struct {
    int nparts;
    int64_t *last;
} tiler_delivered;

/* Produces tiles of the job to the tasks topic (every tile, or those listed
 * in which, an array of uint32_t) and waits until Kafka has acknowledged
 * each (acks=all) or TilerProduceTimeout passes. Any thread of a child may
 * call it. OK with *out filled (from p), or -1 with the reason in *reason. */
int tiler_produce_tiles(server_rec *s, apr_pool_t *p, gdImagePtr im, const tiler_grid *g,
                        const unsigned char id[16], const char *ops, const apr_array_header_t *which,
                        tiler_delivered *out, const char **reason);

#endif
