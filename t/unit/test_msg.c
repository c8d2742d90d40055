#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testimg.h"
#include "tiler_msg.h"
#include "tiler_tile.h"

int main(void)
{
    gdImagePtr im = testimg_make(300, 200, 1, 7);
    tiler_grid g;
    tiler_msg m;
    unsigned char id[16], *buf, *copy;
    size_t len, i;
    char err[256];
    uint32_t row;
    int same = 1;

    for (i = 0; i < 16; i++) id[i] = (unsigned char)(i * 17);
    tiler_grid_init(&g, 300, 200, 128, 5);
    buf = tiler_tile_task(im, &g, 4, id, "blur:1.5", &len);
    ok(buf != NULL, "task built");
    ok(tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0, "task decodes: %s", err);
    ok(m.kind == TILER_MSG_TASK && m.tile_index == 4 && m.tiles_total == 6 && !memcmp(m.job_id, id, 16),
       "header fields round-trip");
    ok(m.core.x == 128 && m.core.y == 128 && m.core.w == 128 && m.core.h == 72, "core rect round-trips");
    ok(m.src.x == 123 && m.src.y == 123 && m.src.w == 138 && m.src.h == 77, "src rect round-trips");
    ok(!strcmp(m.ops, "blur:1.5"), "ops round-trip");
    for (row = 0; row < m.src.h; row++)
        for (i = 0; i < m.src.w; i++) {
            const unsigned char *p = m.pixels + ((size_t)row * m.src.w + i) * 4;
            int v = (int)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
            if (v != im->tpixels[m.src.y + row][m.src.x + i]) same = 0;
        }
    ok(same, "pixels round-trip");

    copy = malloc(len);
    for (i = 0; i < len; i += len / 97 + 1)
        ok(tiler_msg_decode(&m, buf, i, err, sizeof(err)) < 0, "truncated at %zu refused", i);
    memcpy(copy, buf, len); copy[0] = 'X';
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "bad magic refused");
    memcpy(copy, buf, len); copy[4] = 9;
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "version 9"), "unknown version named: %s", err);
    memcpy(copy, buf, len); copy[5] = 7;
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "unknown kind refused");
    memcpy(copy, buf, len); copy[40 + 8] = 0xff; copy[40 + 9] = 0xff;   /* core.w huge */
    {
        /* A task's core is in the result's pixels, known from its chain: the
         * worker refuses it, not the decoder. A result's is refused at once. */
        size_t rlen;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) == 0
           && !tiler_tile_process(&m, &rlen, err, sizeof(err)) && strstr(err, "outside"),
           "task core outside the result refused by the worker: %s", err);
        copy[5] = TILER_MSG_RESULT;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "result core outside the image refused");
    }
    memcpy(copy, buf, len); copy[24] = 6;                                /* index == total */
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "index out of range refused");
    memcpy(copy, buf, len); copy[76] = '\n';
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "control byte in ops refused");
    memcpy(copy, buf, len); copy[72] = 200;
    ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "inconsistent ops length refused");
    ok(tiler_msg_decode(&m, buf, len - 4, err, sizeof(err)) < 0, "short pixel payload refused");

    /* A task whose halo is narrower than its chain needs is refused by the worker. */
    tiler_msg_decode(&m, buf, len, err, sizeof(err));
    strcpy(m.ops, "blur:3");
    {
        size_t out_len;
        unsigned char *out = tiler_tile_process(&m, &out_len, err, sizeof(err));
        ok(out == NULL && strstr(err, "does not cover what its op chain needs"), "too-narrow halo refused: %s", err);
        free(out);
    }
    {
        size_t flen;
        unsigned char *f = tiler_msg_failure(id, 3, 6, "tile could not be decoded:\n bad", &flen);
        ok(f && tiler_msg_decode(&m, f, flen, err, sizeof(err)) == 0 && m.kind == TILER_MSG_FAILURE
           && m.tile_index == 3 && !memcmp(m.job_id, id, 16), "failure message round-trips");
        ok(!strcmp(m.ops, "tile could not be decoded:? bad"), "its reason is kept printable: %s", m.ops);
        ok(tiler_msg_decode(&m, f, flen - 1, err, sizeof(err)) < 0, "a short failure message is refused");
        free(f);
    }
    free(copy);
    free(buf);
    gdImageDestroy(im);
    return done_testing();
}
