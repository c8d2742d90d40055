/* One idempotent producer per httpd child, created after fork. */
#ifndef MOD_TILER_PRODUCER_H
#define MOD_TILER_PRODUCER_H

#include "mod_tiler.h"
#include "tiler_band.h"
#include "tiler_grid.h"
#include "tiler_image.h"
#include "tiler_msg.h"
#include "tiler_tiff_task.h"

void tiler_producer_child_init(apr_pool_t *pchild, server_rec *s);

/* Where Kafka put a job's tasks: the highest acknowledged offset on each
 * partition of the tasks topic, -1 where none went. */
typedef struct {
    int nparts;
    int64_t *last;
} tiler_delivered;

/* Decodes the upload at input again, through a band, and produces the tiles
 * (asking for enc, NULL for raw pixels) listed in which (an array of uint32_t) to the tasks topic as their rows
 * decode; waits until Kafka has acknowledged each (acks=all) or
 * TilerProduceTimeout passes. Any thread of a child may call it. OK with
 * *out filled (from p), or -1 with the reason in *reason. */
int tiler_produce_tiles(server_rec *s, apr_pool_t *p, const char *input, tiler_format fmt, const tiler_grid *g,
                        const unsigned char id[16], const char *ops, const tiler_tile_enc *enc,
                        const apr_array_header_t *which, tiler_delivered *out, const char **reason);

/* The same in steps, for tiles cut while the image still decodes: begin,
 * add each tile once the rows it needs are final, end. Between begin and
 * end the child's producer is held (not replaced). */
typedef struct tiler_production tiler_production;
/* NULL with *reason when there is no producer or no tasks topic. */
tiler_production *tiler_production_begin(server_rec *s, apr_pool_t *p, const unsigned char id[16], const char *ops,
                                         const char **reason);
/* Makes the tasks that follow ask for enc (a TIFF job's); NULL or codec 0:
 * raw pixels, as without it. */
void tiler_production_encode(tiler_production *pr, const tiler_tile_enc *enc);
/* Queues tile i, cut now from the band (in its callback for the tile's
 * row of tiles). -1 with *reason. */
int tiler_production_add(tiler_production *pr, const tiler_band *b, const tiler_grid *g, uint32_t i, const char **reason);
/* Queues tile i's task msg (malloc'd; taken in every case), cut by the
 * caller (tiler_tiff_tiles_task). -1 with *reason. */
int tiler_production_send(tiler_production *pr, uint32_t i, unsigned char *msg, size_t len, const char **reason);
/* Waits for every queued tile's acknowledgement (unless abandon), and ends.
 * OK with *out filled, or -1 with *reason (always -1 when abandoning). */
int tiler_production_end(tiler_production *pr, int abandon, tiler_delivered *out, const char **reason);

/* Whether the workers decode a TIFF upload's tiles (tiler_tiff_task.h):
 * 1 with it opened for cutting in *tt and its file in *fp; 0 when this
 * host decodes it (strips, tiles too big for the grid's tasks, a directory
 * libtiff cannot read, which the decoder then names); -1 with why when a
 * tile lies past the end of the file or is longer than any encoding of it
 * (a 422, before any task is cut). */
int tiler_tiff_for_workers(server_rec *s, const char *input, const tiler_grid *g, tiler_tiff_tiles **tt, FILE **fp,
                           char *why, size_t whylen);

/* 1 when this child's producer reaches a broker within timeout_ms (a
 * metadata request for the brokers only), else 0 with why. For the health
 * check. */
int tiler_producer_ready(int timeout_ms, char *why, size_t whylen);

#endif
