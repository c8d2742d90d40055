/* One idempotent producer per httpd child, created after fork. */
#ifndef MOD_TILER_PRODUCER_H
#define MOD_TILER_PRODUCER_H

#include <gd.h>
#include "mod_tiler.h"
#include "tiler_grid.h"

void tiler_producer_child_init(apr_pool_t *pchild, server_rec *s);

/* Produces every tile of the job to the tasks topic and waits until Kafka
 * has acknowledged each (acks=all) or TilerProduceTimeout passes. OK, or -1
 * with the reason in *reason. */
int tiler_produce_tiles(request_rec *r, gdImagePtr im, const tiler_grid *g, const unsigned char id[16],
                        const char *ops, const char **reason);

#endif
