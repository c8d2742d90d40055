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
    buf = tiler_tile_task(im, &g, 4, id, "blur:1.5", 0, &len);
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

    /* Version 4: packed pixels. An opaque image's task goes as RGB, its
     * bytes exactly the pixels'; what does not add up is refused. */
    {
        gdImagePtr op = gdImageClone(im);
        int x, y;
        unsigned char *p;
        for (y = 0; y < gdImageSY(op); y++)
            for (x = 0; x < gdImageSX(op); x++) op->tpixels[y][x] &= 0xffffff;
        buf = tiler_tile_task(op, &g, 4, id, "blur:1.5", 1, &len);
        ok(buf && buf[4] == TILER_MSG_VERSION_PACKED && buf[74] == TILER_PACK_RGB && buf[75] == 0,
           "a packed task of an opaque image is version 4, RGB");
        err[0] = '\0';
        ok(tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0 && m.packing == TILER_PACK_RGB
           && len == tiler_msg_header_size(&m) + (size_t)m.src.w * m.src.h * 3, "and decodes, 3 bytes a pixel: %s", err);
        same = 1;
        p = (unsigned char *)m.pixels;
        for (row = 0; row < m.src.h; row++)
            for (i = 0; i < m.src.w; i++, p += 3)
                if ((p[0] << 16 | p[1] << 8 | p[2]) != op->tpixels[m.src.y + row][m.src.x + i]) same = 0;
        ok(same, "its bytes are R, G, B of each pixel");
        copy = malloc(len);
        memcpy(copy, buf, len); copy[74] = 2;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "unknown packing 02"),
           "packing 2 is refused: %s", err);
        memcpy(copy, buf, len); copy[75] = 1;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "unknown packing"),
           "a packing with a second byte is refused: %s", err);
        memcpy(copy, buf, len); copy[74] = TILER_PACK_GD;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "pixel bytes"),
           "a payload that does not match its packing is refused: %s", err);
        memcpy(copy, buf, len); copy[74] = TILER_PACK_GREY;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "pixel bytes"),
           "nor one too long for it: %s", err);
        {
            /* An encoding is never asked of a packed task: its pixels are
             * not a version 2 task's. */
            tiler_tile_enc enc = { TILER_CODEC_TIFF_DEFLATE, 3, 128 };
            memcpy(copy, buf, len);
            ok(tiler_msg_set_encoding(copy, &enc) < 0 && !memcmp(copy, buf, len),
               "asking a packed task for an encoding fails and leaves it as it was");
            enc.codec = TILER_CODEC_RAW;
            ok(tiler_msg_set_encoding(copy, &enc) == 0 && !memcmp(copy, buf, len), "asking it for raw pixels is a no-op");
        }
        memcpy(copy, buf, len); copy[5] = TILER_MSG_ENCODED;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "task or a raw result"),
           "a packed encoded result is refused: %s", err);
        memcpy(copy, buf, len); copy[5] = TILER_MSG_FAILURE;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0, "so is a packed failure");
        memcpy(copy, buf, len); copy[4] = 5;
        ok(tiler_msg_decode(&m, copy, len, err, sizeof(err)) < 0 && strstr(err, "version 5")
           && strstr(err, "1 to 4"), "version 5 is unknown: %s", err);
        free(copy);
        free(buf);
        gdImageDestroy(op);
    }
    /* A packed tile that would not fit a message unpacked is refused: a
     * 2900 x 2900 grey tile is 8.4 MB packed but 33.6 MB as 4 bytes a pixel. */
    {
        tiler_msg big;
        size_t hdr;
        memset(&big, 0, sizeof(big));
        big.kind = TILER_MSG_RESULT;
        big.tiles_total = 1;
        big.image_w = big.image_h = 2900;
        big.core.w = big.core.h = big.src.w = big.src.h = 2900;
        strcpy(big.ops, "invert");
        big.packing = TILER_PACK_GREY;
        len = tiler_msg_size(&big);
        buf = calloc(1, len);
        hdr = tiler_msg_write_header(&big, buf);
        ok(len - hdr == 2900u * 2900u && tiler_msg_decode(&m, buf, len, err, sizeof(err)) < 0
           && strstr(err, "larger than a message can carry unpacked"), "an oversized packed tile is refused: %s", err);
        free(buf);
        big.image_w = big.image_h = big.core.w = big.core.h = big.src.w = big.src.h = 2896;   /* 33,547,264 bytes unpacked */
        len = tiler_msg_size(&big);
        buf = calloc(1, len);
        tiler_msg_write_header(&big, buf);
        err[0] = '\0';
        ok(tiler_msg_decode(&m, buf, len, err, sizeof(err)) == 0, "one that fits unpacked is taken: %s", err);
        free(buf);
    }
    /* The packings' choice and round trip, pixel by pixel. */
    {
        int px[6] = { 0x000000, 0x7f7f7f, 0xffffff, 0x123456, 0x01000000, (int)0x80000000u }, back[6];
        unsigned char bytes[24];
        ok(tiler_pack_need(px, 3) == TILER_PACK_GREY && tiler_pack_need(px, 4) == TILER_PACK_RGB
           && tiler_pack_need(px, 5) == TILER_PACK_GD && tiler_pack_need(px + 5, 1) == TILER_PACK_GD,
           "grey, then RGB, then any alpha (or a value gd never makes) needs all 4 bytes");
        tiler_pack_row(bytes, px, 3, TILER_PACK_GREY);
        tiler_unpack_row(back, bytes, 3, TILER_PACK_GREY);
        ok(!memcmp(back, px, 3 * sizeof(int)) && bytes[1] == 0x7f, "grey round-trips");
        tiler_pack_row(bytes, px, 4, TILER_PACK_RGB);
        tiler_unpack_row(back, bytes, 4, TILER_PACK_RGB);
        ok(!memcmp(back, px, 4 * sizeof(int)) && bytes[9] == 0x12 && bytes[11] == 0x56, "RGB round-trips");
        tiler_pack_row(bytes, px, 6, TILER_PACK_GD);
        tiler_unpack_row(back, bytes, 6, TILER_PACK_GD);
        ok(!memcmp(back, px, 6 * sizeof(int)), "gd values round-trip");
    }
    gdImageDestroy(im);
    return done_testing();
}
