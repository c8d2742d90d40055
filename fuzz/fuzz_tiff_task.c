/* libFuzzer target: tiled TIFF uploads whose tiles the workers decode
 * (task version 3, libtiler/tiler_tiff_task.c), both ways the bytes come:
 *  - as an upload: the web host's side reads the directory, checks the
 *    tiles (tiler_tiff_tiles_fit), cuts every task of a small grid, and
 *    each task goes through the message decoder and tiler_tile_process as
 *    tiler-worker runs it;
 *  - as the small TIFF inside a task, from a broken or hostile producer:
 *    straight to the worker's side.
 * Corrupt or lying directories and codec streams must end in a reason,
 * never a crash, a hang or a huge allocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_defaults.h"
#include "tiler_grid_chain.h"
#include "tiler_msg.h"
#include "tiler_ops.h"
#include "tiler_tile.h"
#include "tiler_tiff.h"
#include "tiler_tiff_task.h"

static const unsigned char id[16] = { 0 };

static void process(unsigned char *task, size_t len)
{
    tiler_msg m;
    unsigned char *out;
    size_t out_len;
    char err[512];
    if (tiler_msg_decode(&m, task, len, err, sizeof(err)) == 0) {
        out = tiler_tile_process(&m, &out_len, err, sizeof(err));
        free(out);
    }
}

static void as_upload(const uint8_t *buf, size_t len)
{
    tiler_tiff_tiles *tt;
    tiler_chain chain;
    tiler_geom geom;
    tiler_grid g;
    uint32_t w, h, i;
    char err[512];
    FILE *f = fmemopen((void *)buf, len, "rb");
    if (!f) return;
    /* The module refuses big images before this (TilerMaxPixels). */
    if (tiler_tiff_probe(f, &w, &h, err, sizeof(err)) == 0 && (uint64_t)w * h <= 1u << 20
        && tiler_tiff_tiles_open(f, &tt, err, sizeof(err)) == 1) {
        tiler_chain_parse(&chain, "blur:1", TILER_MAX_OPS, err, sizeof(err));
        if (tiler_grid_init_chain(&g, &geom, w, h, 64, &chain) == 0 && tiler_tiff_tiles_fit(tt, &g, err, sizeof(err)) == 1) {
            for (i = 0; i < tiler_grid_count(&g) && i < 64; i++) {
                size_t tlen;
                unsigned char *task = tiler_tiff_tiles_task(tt, &g, i, id, "blur:1", &tlen, err, sizeof(err));
                if (task) process(task, tlen);
                free(task);
            }
        }
        tiler_tiff_tiles_close(tt);
    }
    fclose(f);
}

static void as_task(const uint8_t *buf, size_t len)
{
    tiler_msg m;
    unsigned char *task;
    size_t hdr;
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_TASK;
    m.tiff_tiles = 1;
    memcpy(m.job_id, id, 16);
    m.tiles_total = 1;
    /* The widest image, and a one-pixel tile at its corner: any TIFF of
     * at least one pixel covers it (its origin is 0, 0). */
    m.image_w = m.image_h = 1u << 20;
    m.core.w = m.core.h = m.src.w = m.src.h = 1;
    strcpy(m.ops, "invert");
    m.payload_len = 8 + len;
    if (!(task = malloc(tiler_msg_size(&m)))) return;
    hdr = tiler_msg_write_header(&m, task);
    memset(task + hdr, 0, 8);
    memcpy(task + hdr + 8, buf, len);
    process(task, hdr + 8 + len);
    free(task);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    if (!len || len > TILER_MAX_MESSAGE_BYTES) return 0;
    as_upload(buf, len);
    as_task(buf, len);
    return 0;
}
