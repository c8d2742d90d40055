#include "tiler_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "tiler_defaults.h"
#include "tiler_png_tile.h"
#include "tiler_tiff_jpeg.h"

static void put32(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void put16(unsigned char *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static uint32_t get32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

size_t tiler_msg_header_size(const tiler_msg *m)
{
    return TILER_MSG_FIXED_BYTES + strlen(m->ops);
}

unsigned tiler_msg_pixel_bytes(const tiler_msg *m)
{
    return m->packing ? m->packing : 4;
}

size_t tiler_msg_size(const tiler_msg *m)
{
    if (m->kind == TILER_MSG_ENCODED || m->tiff_tiles) return tiler_msg_header_size(m) + m->payload_len;
    return tiler_msg_header_size(m) + (size_t)m->src.w * m->src.h * tiler_msg_pixel_bytes(m);
}

/* The encoding's two bytes: codec in the low nibble and samples in the
 * high one of the first, side / 16 in the second. */
static void put_enc(unsigned char *p, const tiler_tile_enc *e)
{
    p[0] = (unsigned char)((e->codec & 0x0f) | (e->samples & 0x0f) << 4);
    p[1] = (unsigned char)(e->side / 16);
}

static int get_enc(const unsigned char *p, tiler_tile_enc *e)
{
    e->codec = p[0] & 0x0f;
    e->samples = p[0] >> 4;
    e->side = (uint16_t)(p[1] * 16);
    if (e->side < 16 || e->side > 2048) return -1;
    if (e->codec == TILER_CODEC_TIFF_DEFLATE || e->codec == TILER_CODEC_PNG_ROWS)
        return e->samples >= 1 && e->samples <= 4 ? 0 : -1;
    /* JPEG has no alpha: grey or colour only. */
    if (e->codec == TILER_CODEC_TIFF_JPEG) return e->samples == 1 || e->samples == 3 ? 0 : -1;
    return -1;
}

size_t tiler_msg_enc_max_bytes(const tiler_tile_enc *enc)
{
    if (enc->codec == TILER_CODEC_TIFF_JPEG) return tiler_tiff_jpeg_max_bytes(enc->side, enc->samples);
    if (enc->codec == TILER_CODEC_PNG_ROWS) return tiler_png_tile_max_bytes(enc->side, enc->samples);
    return compressBound((uLong)enc->side * enc->side * enc->samples);
}

int tiler_msg_set_encoding(unsigned char *buf, const tiler_tile_enc *enc)
{
    if (!enc || enc->codec == TILER_CODEC_RAW) return 0;
    if (buf[4] == TILER_MSG_VERSION_PACKED) return -1;
    if (buf[4] != TILER_MSG_VERSION_TIFF_TILES) buf[4] = TILER_MSG_VERSION_ENCODED;
    put_enc(buf + 74, enc);
    return 0;
}

static void put_rect(unsigned char *p, const tiler_rect *r)
{
    put32(p, r->x); put32(p + 4, r->y); put32(p + 8, r->w); put32(p + 12, r->h);
}

static void get_rect(const unsigned char *p, tiler_rect *r)
{
    r->x = get32(p); r->y = get32(p + 4); r->w = get32(p + 8); r->h = get32(p + 12);
}

size_t tiler_msg_write_header(const tiler_msg *m, unsigned char *buf)
{
    size_t ops_len = strlen(m->ops), hdr = TILER_MSG_FIXED_BYTES + ops_len;
    memcpy(buf, TILER_MSG_MAGIC, 4);
    buf[4] = m->tiff_tiles ? TILER_MSG_VERSION_TIFF_TILES : m->enc.codec ? TILER_MSG_VERSION_ENCODED
             : m->packing ? TILER_MSG_VERSION_PACKED : TILER_MSG_VERSION;
    buf[5] = (unsigned char)m->kind;
    put16(buf + 6, (uint16_t)hdr);
    memcpy(buf + 8, m->job_id, 16);
    put32(buf + 24, m->tile_index);
    put32(buf + 28, m->tiles_total);
    put32(buf + 32, m->image_w);
    put32(buf + 36, m->image_h);
    put_rect(buf + 40, &m->core);
    put_rect(buf + 56, &m->src);
    put16(buf + 72, (uint16_t)ops_len);
    if (m->enc.codec) put_enc(buf + 74, &m->enc);
    else put16(buf + 74, m->packing);
    memcpy(buf + 76, m->ops, ops_len);
    return hdr;
}

static int inside(const tiler_rect *r, uint32_t w, uint32_t h)
{
    return r->w && r->h && r->x < w && r->y < h && r->w <= w - r->x && r->h <= h - r->y;
}

static int contains(const tiler_rect *outer, const tiler_rect *in)
{
    return in->x >= outer->x && in->y >= outer->y
        && (uint64_t)in->x + in->w <= (uint64_t)outer->x + outer->w
        && (uint64_t)in->y + in->h <= (uint64_t)outer->y + outer->h;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int tiler_msg_decode(tiler_msg *m, const void *vbuf, size_t len, char *err, size_t errlen)
{
    const unsigned char *buf = vbuf;
    size_t hdr, ops_len, i;
    uint64_t pix;

    if (len < TILER_MSG_FIXED_BYTES) FAIL("message of %zu bytes is shorter than the %d-byte header", len, TILER_MSG_FIXED_BYTES);
    if (memcmp(buf, TILER_MSG_MAGIC, 4)) FAIL("message has no TILE magic");
    if (buf[4] < TILER_MSG_VERSION || buf[4] > TILER_MSG_VERSION_PACKED)
        FAIL("message has unknown version %u (this build speaks %d to %d)", buf[4], TILER_MSG_VERSION,
             TILER_MSG_VERSION_PACKED);
    if (buf[5] != TILER_MSG_TASK && buf[5] != TILER_MSG_RESULT && buf[5] != TILER_MSG_FAILURE && buf[5] != TILER_MSG_ENCODED)
        FAIL("message has unknown kind %u", buf[5]);
    m->kind = buf[5];
    memset(&m->enc, 0, sizeof(m->enc));
    m->payload_len = 0;
    m->tiff_tiles = buf[4] == TILER_MSG_VERSION_TIFF_TILES;
    m->packing = 0;
    /* Version 1 keeps the field zero; version 2 is a task asking for an
     * encoding or the encoded result (a failure may answer either);
     * version 3 is a task only, asking for raw pixels (0) or an encoding. */
    if (m->tiff_tiles) {
        if (m->kind != TILER_MSG_TASK) FAIL("a version %d message must be a task", TILER_MSG_VERSION_TIFF_TILES);
        if ((buf[74] || buf[75]) && get_enc(buf + 74, &m->enc) < 0)
            FAIL("message has an unknown encoding %02x%02x", buf[74], buf[75]);
    } else if (buf[4] == TILER_MSG_VERSION_PACKED) {
        /* Packed pixels: a task or its raw result only. */
        if (m->kind != TILER_MSG_TASK && m->kind != TILER_MSG_RESULT)
            FAIL("a version %d message must be a task or a raw result", TILER_MSG_VERSION_PACKED);
        if ((buf[74] != TILER_PACK_GREY && buf[74] != TILER_PACK_RGB && buf[74] != TILER_PACK_GD) || buf[75])
            FAIL("message has an unknown packing %02x%02x", buf[74], buf[75]);
        m->packing = buf[74];
    } else if (buf[4] == TILER_MSG_VERSION) {
        if (m->kind == TILER_MSG_ENCODED) FAIL("an encoded result must be a version %d message", TILER_MSG_VERSION_ENCODED);
    } else if (m->kind == TILER_MSG_RESULT) {
        FAIL("a version %d message cannot be a raw result", TILER_MSG_VERSION_ENCODED);
    } else if (m->kind != TILER_MSG_FAILURE && get_enc(buf + 74, &m->enc) < 0) {
        FAIL("message has an unknown encoding %02x%02x", buf[74], buf[75]);
    }
    hdr = get16(buf + 6);
    ops_len = get16(buf + 72);
    if (ops_len > TILER_MSG_MAX_OPS_LEN || hdr != TILER_MSG_FIXED_BYTES + ops_len || hdr > len)
        FAIL("message header length %zu is inconsistent", hdr);
    memcpy(m->job_id, buf + 8, 16);
    m->tile_index = get32(buf + 24);
    m->tiles_total = get32(buf + 28);
    m->image_w = get32(buf + 32);
    m->image_h = get32(buf + 36);
    get_rect(buf + 40, &m->core);
    get_rect(buf + 56, &m->src);
    for (i = 0; i < ops_len; i++) {
        unsigned char c = buf[76 + i];
        if (c < 0x20 || c > 0x7e) FAIL("message op chain has a non-printable byte");
        m->ops[i] = (char)c;
    }
    m->ops[ops_len] = '\0';
    if (!m->tiles_total || m->tile_index >= m->tiles_total) FAIL("tile index %u is outside 0..%u", m->tile_index, m->tiles_total);
    if (m->kind == TILER_MSG_FAILURE) {
        if (len != hdr) FAIL("a failure message carries no pixels");
        m->pixels = NULL;
        return 0;
    }
    if (!inside(&m->src, m->image_w, m->image_h)) FAIL("tile source rectangle lies outside the %ux%u image", m->image_w, m->image_h);
    /* A task's core is in the result's pixels, which only its op chain
     * tells (a flip, rotation or downscale moves it): the worker checks it
     * against the chain (tiler_tile_process). A result's is its pixels. */
    if (m->kind == TILER_MSG_RESULT && !inside(&m->core, m->image_w, m->image_h))
        FAIL("tile core rectangle lies outside the %ux%u image", m->image_w, m->image_h);
    if (m->kind == TILER_MSG_RESULT && !contains(&m->src, &m->core)) FAIL("tile source rectangle does not contain its core");
    if (!m->core.w || !m->core.h) FAIL("tile core rectangle is empty");
    if (m->kind == TILER_MSG_ENCODED) {
        /* The tile is side x side samples, padded: its core must fit one,
         * and its stream cannot be longer than its codec's bound for it. */
        size_t most = tiler_msg_enc_max_bytes(&m->enc);
        if (memcmp(&m->src, &m->core, sizeof(m->src))) FAIL("an encoded result's source rectangle is not its core");
        if (m->core.w > m->enc.side || m->core.h > m->enc.side)
            FAIL("tile core %ux%u is larger than the %u-pixel tiles it is encoded as", m->core.w, m->core.h, m->enc.side);
        if (len - hdr < 2 || len - hdr > most) FAIL("encoded tile of %zu bytes is outside 2..%zu", len - hdr, most);
        m->pixels = buf + hdr;
        m->payload_len = len - hdr;
        return 0;
    }
    if (m->tiff_tiles) {
        /* What the tiles hold is the worker's decoder's to check
         * (tiler_tiff_task.c); here only that there are some. */
        if (len - hdr <= 8) FAIL("a task of TIFF tiles carries %zu bytes of them", len - hdr);
        m->pixels = buf + hdr;
        m->payload_len = len - hdr;
        return 0;
    }
    pix = (uint64_t)m->src.w * m->src.h * tiler_msg_pixel_bytes(m);
    if (pix != len - hdr) FAIL("message carries %zu pixel bytes, its header says %llu", len - hdr, (unsigned long long)pix);
    /* A packed tile decodes to 4 bytes a pixel: it must fit a message as
     * it would unpacked, so that a small message never makes a worker
     * hold more than the largest task would (nor its result more). */
    if ((uint64_t)m->src.w * m->src.h * 4 + hdr > TILER_MAX_MESSAGE_BYTES)
        FAIL("a %ux%u tile is larger than a message can carry unpacked (%d bytes)", m->src.w, m->src.h,
             TILER_MAX_MESSAGE_BYTES);
    m->pixels = buf + hdr;
    return 0;
}

unsigned char *tiler_msg_failure(const unsigned char job_id[16], uint32_t tile_index, uint32_t tiles_total,
                                 const char *reason, size_t *len)
{
    tiler_msg m;
    unsigned char *buf;
    size_t i;
    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_FAILURE;
    memcpy(m.job_id, job_id, 16);
    m.tile_index = tile_index < tiles_total ? tile_index : 0;
    m.tiles_total = tiles_total ? tiles_total : 1;
    /* Keep the reason printable and within the field. */
    for (i = 0; reason[i] && i < TILER_MSG_MAX_OPS_LEN; i++)
        m.ops[i] = reason[i] >= 0x20 && reason[i] <= 0x7e ? reason[i] : '?';
    m.ops[i] = '\0';
    *len = tiler_msg_header_size(&m);
    if (!(buf = malloc(*len))) return NULL;
    tiler_msg_write_header(&m, buf);
    return buf;
}

void tiler_pixels_to_wire(unsigned char *dst, const int *src, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, n * 4);
#else
    size_t i;
    for (i = 0; i < n; i++) put32(dst + 4 * i, (uint32_t)src[i]);
#endif
}

void tiler_pixels_from_wire(int *dst, const unsigned char *src, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, n * 4);
#else
    size_t i;
    for (i = 0; i < n; i++) dst[i] = (int)get32(src + 4 * i);
#endif
}

int tiler_pack_need(const int *src, size_t n)
{
    /* Or-ed over the row without a branch, so that the compiler vectorizes
     * it: any alpha bit (or bit 31, which gd never sets), and any bit
     * where R or G differs from B. */
    uint32_t alpha = 0, chroma = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t v = (uint32_t)src[i];
        alpha |= v >> 24;
        chroma |= (v >> 16 ^ v) | (v >> 8 ^ v);
    }
    return alpha ? TILER_PACK_GD : chroma & 0xff ? TILER_PACK_RGB : TILER_PACK_GREY;
}

int tiler_pack_need_grey(const int *src, size_t n)
{
    /* grayscale keeps alpha's 7 bits and drops bit 31 (tiler_filter.c). */
    uint32_t alpha = 0;
    size_t i;
    for (i = 0; i < n; i++) alpha |= (uint32_t)src[i] >> 24 & 0x7f;
    return alpha ? TILER_PACK_GD : TILER_PACK_GREY;
}

void tiler_pack_row(unsigned char *dst, const int *src, size_t n, int packing)
{
    size_t i;
    if (packing == TILER_PACK_GREY) {
        for (i = 0; i < n; i++) dst[i] = (unsigned char)src[i];
    } else if (packing == TILER_PACK_RGB) {
        for (i = 0; i < n; i++, dst += 3) {
            uint32_t v = (uint32_t)src[i];
            dst[0] = (unsigned char)(v >> 16);
            dst[1] = (unsigned char)(v >> 8);
            dst[2] = (unsigned char)v;
        }
    } else {
        tiler_pixels_to_wire(dst, src, n);
    }
}

void tiler_unpack_row(int *dst, const unsigned char *src, size_t n, int packing)
{
    size_t i;
    if (packing == TILER_PACK_GREY) {
        for (i = 0; i < n; i++) dst[i] = (int)(src[i] * 0x010101u);
    } else if (packing == TILER_PACK_RGB) {
        for (i = 0; i < n; i++, src += 3) dst[i] = (int)((uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2]);
    } else {
        tiler_pixels_from_wire(dst, src, n);
    }
}
