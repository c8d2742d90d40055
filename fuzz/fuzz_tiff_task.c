/* libFuzzer target: the worker's side of a tiled TIFF upload's tasks
 * (task version 3, libtiler/tiler_tiff_task.c): the input is the small
 * TIFF a task carries, whose tile bytes come from the upload as they are,
 * under a directory the module wrote. It goes through the message decoder
 * and tiler_tile_process, as tiler-worker runs it: corrupt or lying codec
 * streams, and any directory, must end in a reason, never a crash, a hang
 * or a huge allocation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_defaults.h"
#include "tiler_msg.h"
#include "tiler_tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static const unsigned char id[16] = { 0 };
    tiler_msg m;
    unsigned char *task, *out;
    size_t hdr, out_len;
    char err[512];
    if (len > TILER_MAX_MESSAGE_BYTES) return 0;
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
    if (!(task = malloc(tiler_msg_size(&m)))) return 0;
    hdr = tiler_msg_write_header(&m, task);
    memset(task + hdr, 0, 8);
    memcpy(task + hdr + 8, buf, len);
    if (tiler_msg_decode(&m, task, hdr + 8 + len, err, sizeof(err)) == 0) {
        out = tiler_tile_process(&m, &out_len, err, sizeof(err));
        free(out);
    }
    free(task);
    return 0;
}
