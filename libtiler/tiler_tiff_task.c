#include "tiler_tiff_task.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <tiffio.h>

#include "tiler_band.h"
#include "tiler_defaults.h"
#include "tiler_tiff.h"

/* TIFF field types written here. */
enum { T_UNDEFINED = 7, T_SHORT = 3, T_LONG = 4 };
/* Directory entries written: 17 tags are named in tiler_tiff_tiles_task,
 * and Predictor excludes the JPEG ones. */
#define MAX_ENTRIES 18
/* JPEG tables are a few hundred bytes (quantisation and Huffman tables):
 * more is not a JPEG TIFF a worker should be sent. */
#define MAX_TABLES_BYTES 65536u

struct tiler_tiff_tiles {
    tiler_tiff_source s;
    TIFF *t;
    tiler_tiff_kind k;
    uint64_t file_size;
    uint16_t comp, photo, fill, pred, spp, nextra, extra[4], sub[2];
    uint32_t tables_len;
    unsigned char *tables;     /* JPEGTables, copied */
};

/* The upload's tiles that cover a task's source. */
typedef struct {
    uint32_t c0, r0, cols, rows;   /* in tiles */
    uint32_t ox, oy, w, h;         /* in the upload's pixels, clipped to it */
} cover;

static void put16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static uint32_t get32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void cover_of(const tiler_tiff_kind *k, const tiler_rect *src, cover *c)
{
    uint32_t c1 = (uint32_t)(((uint64_t)src->x + src->w - 1) / k->tw), r1 = (uint32_t)(((uint64_t)src->y + src->h - 1) / k->th);
    uint64_t right, bottom;
    c->c0 = src->x / k->tw;
    c->r0 = src->y / k->th;
    c->cols = c1 - c->c0 + 1;
    c->rows = r1 - c->r0 + 1;
    c->ox = c->c0 * k->tw;
    c->oy = c->r0 * k->th;
    right = (uint64_t)(c1 + 1) * k->tw;
    bottom = (uint64_t)(r1 + 1) * k->th;
    c->w = (uint32_t)((right < k->w ? right : k->w) - c->ox);
    c->h = (uint32_t)((bottom < k->h ? bottom : k->h) - c->oy);
}

/* The most bytes a tile may have: no codec taken here makes 8-bit samples
 * much larger than they are (LZW's 12-bit codes, 1.5 times, at worst), so
 * a directory that claims more would only make the web host read, and the
 * broker carry, bytes no decoder needs. */
static uint64_t most_tile_bytes(const tiler_tiff_kind *k)
{
    return 2ull * k->tw * k->th * k->spp + 1024;
}

/* Bytes of the small TIFF's directory and fields for n tiles, at most. */
static uint64_t directory_bytes(const tiler_tiff_tiles *tt, uint64_t n)
{
    return 8 + 2 + 12 * MAX_ENTRIES + 4 + 8 * n + 2 * (uint64_t)tt->spp + 2 * tt->nextra + tt->tables_len + 16;
}

void tiler_tiff_tiles_close(tiler_tiff_tiles *tt)
{
    if (!tt) return;
    if (tt->t) TIFFClose(tt->t);
    free(tt->tables);
    free(tt);
}

int tiler_tiff_tiles_open(FILE *f, tiler_tiff_tiles **out, char *why, size_t whylen)
{
    tiler_tiff_tiles *tt = calloc(1, sizeof(*tt));
    uint16_t *extra = NULL, n = 0, h = 2, v = 2;
    uint32_t tl = 0;
    void *tables = NULL;
    off_t end;
    int i;

    *out = NULL;
    if (!tt) { snprintf(why, whylen, "out of memory"); return -1; }
    tt->s.f = f;
    if (fseeko(f, 0, SEEK_END) || (end = ftello(f)) < 0) {
        snprintf(why, whylen, "the upload's size cannot be read");
        free(tt);
        return -1;
    }
    tt->file_size = (uint64_t)end;
    /* "rmO": each tile's offset and byte count read when asked for, never
     * the tables whole (tiler_tiff.c). */
    if (!(tt->t = tiler_tiff_open(&tt->s, "rmO"))) {
        tiler_tiff_open_failed(&tt->s, why, whylen);
        free(tt);
        return -1;
    }
    if (tiler_tiff_read_kind(tt->t, &tt->k, why, whylen) < 0 || tt->s.msg[0]) {
        if (tt->s.msg[0]) tiler_tiff_open_failed(&tt->s, why, whylen);
        tiler_tiff_tiles_close(tt);
        return -1;
    }
    if (!tt->k.tiled) {
        snprintf(why, whylen, "the TIFF is in strips, not tiles");
        tiler_tiff_tiles_close(tt);
        return 0;
    }
    TIFFGetFieldDefaulted(tt->t, TIFFTAG_COMPRESSION, &tt->comp);
    TIFFGetField(tt->t, TIFFTAG_PHOTOMETRIC, &tt->photo);
    TIFFGetFieldDefaulted(tt->t, TIFFTAG_FILLORDER, &tt->fill);
    TIFFGetFieldDefaulted(tt->t, TIFFTAG_SAMPLESPERPIXEL, &tt->spp);
    /* The predictor is the LZW and Deflate codecs' field: asked of
     * another codec, libtiff would read its state as theirs. */
    tt->pred = PREDICTOR_NONE;
    if (tt->comp == COMPRESSION_LZW || tt->comp == COMPRESSION_DEFLATE || tt->comp == COMPRESSION_ADOBE_DEFLATE)
        TIFFGetField(tt->t, TIFFTAG_PREDICTOR, &tt->pred);
    if (TIFFGetField(tt->t, TIFFTAG_EXTRASAMPLES, &n, &extra) && n)
        for (tt->nextra = n < 4 ? n : 4, i = 0; i < tt->nextra; i++) tt->extra[i] = extra[i];
    if (tt->photo == PHOTOMETRIC_YCBCR) TIFFGetFieldDefaulted(tt->t, TIFFTAG_YCBCRSUBSAMPLING, &h, &v);
    tt->sub[0] = h;
    tt->sub[1] = v;
    if (tt->comp == COMPRESSION_JPEG && TIFFGetField(tt->t, TIFFTAG_JPEGTABLES, &tl, &tables) && tl) {
        if (tl > MAX_TABLES_BYTES) {
            snprintf(why, whylen, "its JPEG tables are %u bytes", tl);
            tiler_tiff_tiles_close(tt);
            return 0;
        }
        if (!(tt->tables = malloc(tl))) {
            snprintf(why, whylen, "out of memory");
            tiler_tiff_tiles_close(tt);
            return -1;
        }
        memcpy(tt->tables, tables, tl);
        tt->tables_len = tl;
    }
    *out = tt;
    return 1;
}

int tiler_tiff_tiles_alpha(const tiler_tiff_tiles *tt)
{
    return tt->k.alpha;
}

/* Tile n's place in the file, checked: 0, or -1 with why. */
static int tile_place(tiler_tiff_tiles *tt, uint32_t n, uint64_t *off, uint64_t *cnt, char *why, size_t whylen)
{
    int bad = 0;
    *off = TIFFGetStrileOffsetWithErr(tt->t, n, &bad);
    *cnt = bad ? 0 : TIFFGetStrileByteCountWithErr(tt->t, n, &bad);
    if (bad || tt->s.msg[0]) {
        snprintf(why, whylen, "tiff image could not be decoded: tile %u's place cannot be read%s%s", n,
                 tt->s.msg[0] ? ": " : "", tt->s.msg);
        return -1;
    }
    if (*off > tt->file_size || *cnt > tt->file_size - *off) {
        snprintf(why, whylen, "tiff image could not be decoded: tile %u lies past the end of the %llu-byte file "
                 "(offset %llu, %llu bytes)", n, (unsigned long long)tt->file_size, (unsigned long long)*off,
                 (unsigned long long)*cnt);
        return -1;
    }
    if (*cnt > most_tile_bytes(&tt->k)) {
        snprintf(why, whylen, "tiff image could not be decoded: tile %u has %llu bytes, more than any encoding of its "
                 "%ux%u pixels takes", n, (unsigned long long)*cnt, tt->k.tw, tt->k.th);
        return -1;
    }
    return 0;
}

int tiler_tiff_tiles_fit(tiler_tiff_tiles *tt, const tiler_grid *g, char *why, size_t whylen)
{
    uint32_t i, n = tiler_grid_count(g), tiles = TIFFNumberOfTiles(tt->t);
    uint64_t decoded = 0, most_px = 0, most_bytes = 0, stored = 0;
    if (g->src_w != tt->k.w || g->src_h != tt->k.h) {
        snprintf(why, whylen, "the job is for %ux%u, the TIFF is %ux%u", g->src_w, g->src_h, tt->k.w, tt->k.h);
        return 0;
    }
    /* Every tile in the file, and their bytes together no more than it:
     * tiles sharing bytes would make a small upload a flood of tasks. */
    for (i = 0; i < tiles; i++) {
        uint64_t off, cnt;
        if (tile_place(tt, i, &off, &cnt, why, whylen) < 0) return -1;
        stored += cnt;
    }
    if (stored > tt->file_size) {
        snprintf(why, whylen, "its tiles' bytes add up to %llu, more than the %llu-byte file (tiles share bytes)",
                 (unsigned long long)stored, (unsigned long long)tt->file_size);
        return 0;
    }
    for (i = 0; i < n; i++) {
        tiler_rect core, src;
        cover c;
        uint64_t px, bytes;
        tiler_grid_tile(g, i, &core, &src);
        cover_of(&tt->k, &src, &c);
        /* Whole tiles: what the worker's decoder holds. */
        px = (uint64_t)c.cols * c.rows * tt->k.tw * tt->k.th;
        bytes = (uint64_t)c.cols * c.rows * (most_tile_bytes(&tt->k) + 8) + directory_bytes(tt, (uint64_t)c.cols * c.rows);
        decoded += px;
        if (px > most_px) most_px = px;
        if (bytes > most_bytes) most_bytes = bytes;
    }
    if (most_px > TILER_TIFF_TASK_FIT_PIXELS) {
        snprintf(why, whylen, "a task would need %llu pixels of %ux%u-pixel tiles, over %u", (unsigned long long)most_px,
                 tt->k.tw, tt->k.th, TILER_TIFF_TASK_FIT_PIXELS);
        return 0;
    }
    if (most_bytes + TILER_MSG_FIXED_BYTES + TILER_MSG_MAX_OPS_LEN > TILER_MAX_MESSAGE_BYTES) {
        snprintf(why, whylen, "a task could carry %llu bytes of tiles, over the %d-byte message limit",
                 (unsigned long long)most_bytes, TILER_MAX_MESSAGE_BYTES);
        return 0;
    }
    if ((double)decoded > TILER_TIFF_TASK_MAX_RATIO * (double)tt->k.w * tt->k.h) {
        snprintf(why, whylen, "the workers would decode %.1f times the image's pixels (%ux%u-pixel tiles under %u-pixel "
                 "tasks with a %u-pixel halo), over %.1f", (double)decoded / ((double)tt->k.w * tt->k.h), tt->k.tw,
                 tt->k.th, g->src_tile, g->halo, TILER_TIFF_TASK_MAX_RATIO);
        return 0;
    }
    return 1;
}

/* A directory entry: count values of type, little-endian in data (or in
 * small, when they fit the entry's four bytes). */
typedef struct {
    uint16_t tag, type;
    uint32_t count;
    unsigned char small[4];
    const unsigned char *data;
} entry;

static size_t entry_bytes(const entry *e)
{
    return (size_t)e->count * (e->type == T_SHORT ? 2 : e->type == T_LONG ? 4 : 1);
}

static entry *add(entry *e, int *n, uint16_t tag, uint16_t type, uint32_t count, const unsigned char *data)
{
    entry *x = &e[(*n)++];   /* at most MAX_ENTRIES, by the code that calls */
    memset(x, 0, sizeof(*x));
    x->tag = tag;
    x->type = type;
    x->count = count;
    x->data = data;
    return x;
}

static void add_short(entry *e, int *n, uint16_t tag, uint16_t v)
{
    put16(add(e, n, tag, T_SHORT, 1, NULL)->small, v);
}

static void add_long(entry *e, int *n, uint16_t tag, uint32_t v)
{
    put32(add(e, n, tag, T_LONG, 1, NULL)->small, v);
}

/* Writes the directory and its out-of-line fields at tiff + at (entries in
 * ascending tag order), the header's pointer to it at 4. Returns the
 * TIFF's length; with tiff NULL, only measures it. */
static size_t write_directory(unsigned char *tiff, size_t at, const entry *e, int n)
{
    size_t pos = at, ifd;
    int i;
    for (i = 0; i < n; i++)
        if (entry_bytes(&e[i]) > 4) pos = ((pos + 1) & ~(size_t)1) + entry_bytes(&e[i]);
    ifd = (pos + 1) & ~(size_t)1;
    if (!tiff) return ifd + 2 + 12 * (size_t)n + 4;
    memcpy(tiff, "II", 2);
    put16(tiff + 2, 42);
    put32(tiff + 4, (uint32_t)ifd);
    if (pos & 1) tiff[ifd - 1] = 0;
    put16(tiff + ifd, (uint32_t)n);
    for (pos = at, i = 0; i < n; i++) {
        unsigned char *d = tiff + ifd + 2 + 12 * (size_t)i;
        size_t b = entry_bytes(&e[i]);
        put16(d, e[i].tag);
        put16(d + 2, e[i].type);
        put32(d + 4, e[i].count);
        memset(d + 8, 0, 4);
        if (b > 4) {
            if (pos & 1) tiff[pos++] = 0;   /* word alignment: no heap bytes go out */
            memcpy(tiff + pos, e[i].data, b);
            put32(d + 8, (uint32_t)pos);
            pos += b;
        } else {
            memcpy(d + 8, e[i].data ? e[i].data : e[i].small, b);
        }
    }
    put32(tiff + ifd + 2 + 12 * (size_t)n, 0);   /* no next directory */
    return ifd + 2 + 12 * (size_t)n + 4;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

unsigned char *tiler_tiff_tiles_task(tiler_tiff_tiles *tt, const tiler_grid *g, uint32_t idx,
                                     const unsigned char job_id[16], const char *ops, size_t *len,
                                     char *err, size_t errlen)
{
    tiler_msg m;
    cover c;
    entry e[MAX_ENTRIES];
    unsigned char bits[8], extra[8], *offs = NULL, *counts = NULL, *buf = NULL, *tiff;
    uint64_t *at = NULL, total = 0;
    uint32_t n, i, r, col;
    size_t tiff_len, pos;
    int ne = 0;

    memset(&m, 0, sizeof(m));
    m.kind = TILER_MSG_TASK;
    m.tiff_tiles = 1;
    memcpy(m.job_id, job_id, 16);
    m.tile_index = idx;
    m.tiles_total = tiler_grid_count(g);
    m.image_w = g->src_w;
    m.image_h = g->src_h;
    tiler_grid_tile(g, idx, &m.core, &m.src);
    snprintf(m.ops, sizeof(m.ops), "%s", ops);
    cover_of(&tt->k, &m.src, &c);
    n = c.cols * c.rows;
    if (!(offs = malloc(4 * (size_t)n)) || !(counts = malloc(4 * (size_t)n)) || !(at = malloc(8 * (size_t)n)))
        FAIL("out of memory for %u tiles' directory", n);
    /* Each tile's place and size, checked against the file before a byte
     * of it is read: a hostile table is named here, not in a worker. */
    for (i = 0, r = 0; r < c.rows; r++) {
        for (col = 0; col < c.cols; col++, i++) {
            uint32_t tile = TIFFComputeTile(tt->t, (c.c0 + col) * tt->k.tw, (c.r0 + r) * tt->k.th, 0, 0);
            uint64_t off, cnt;
            if (tile_place(tt, tile, &off, &cnt, err, errlen) < 0) goto fail;
            at[i] = off;
            put32(counts + 4 * (size_t)i, (uint32_t)cnt);
            put32(offs + 4 * (size_t)i, cnt ? (uint32_t)(8 + total) : 0);
            total += cnt;
        }
    }
    if (total + directory_bytes(tt, n) + TILER_MSG_FIXED_BYTES + TILER_MSG_MAX_OPS_LEN > TILER_MAX_MESSAGE_BYTES)
        FAIL("tile %u's input tiles are %llu bytes, over the %d-byte message limit", idx, (unsigned long long)total,
             TILER_MAX_MESSAGE_BYTES);
    /* The upload's decoding fields, in ascending tag order. */
    for (i = 0; i < tt->spp && i < 4; i++) put16(bits + 2 * i, 8);
    for (i = 0; i < tt->nextra; i++) put16(extra + 2 * i, tt->extra[i]);
    add_long(e, &ne, TIFFTAG_IMAGEWIDTH, c.w);
    add_long(e, &ne, TIFFTAG_IMAGELENGTH, c.h);
    if (tt->spp <= 2) memcpy(add(e, &ne, TIFFTAG_BITSPERSAMPLE, T_SHORT, tt->spp, NULL)->small, bits, 2u * tt->spp);
    else add(e, &ne, TIFFTAG_BITSPERSAMPLE, T_SHORT, tt->spp, bits);
    add_short(e, &ne, TIFFTAG_COMPRESSION, tt->comp);
    add_short(e, &ne, TIFFTAG_PHOTOMETRIC, tt->photo);
    add_short(e, &ne, TIFFTAG_FILLORDER, tt->fill);
    add_short(e, &ne, TIFFTAG_SAMPLESPERPIXEL, tt->spp);
    add_short(e, &ne, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    if (tt->pred != PREDICTOR_NONE) add_short(e, &ne, TIFFTAG_PREDICTOR, tt->pred);
    add_long(e, &ne, TIFFTAG_TILEWIDTH, tt->k.tw);
    add_long(e, &ne, TIFFTAG_TILELENGTH, tt->k.th);
    add(e, &ne, TIFFTAG_TILEOFFSETS, T_LONG, n, offs);
    add(e, &ne, TIFFTAG_TILEBYTECOUNTS, T_LONG, n, counts);
    if (tt->nextra) add(e, &ne, TIFFTAG_EXTRASAMPLES, T_SHORT, tt->nextra, extra);
    if (tt->tables_len) add(e, &ne, TIFFTAG_JPEGTABLES, T_UNDEFINED, tt->tables_len, tt->tables);
    if (tt->photo == PHOTOMETRIC_YCBCR) {
        unsigned char *s = add(e, &ne, TIFFTAG_YCBCRSUBSAMPLING, T_SHORT, 2, NULL)->small;
        put16(s, tt->sub[0]);
        put16(s + 2, tt->sub[1]);
    }
    tiff_len = write_directory(NULL, 8 + (size_t)total, e, ne);
    m.payload_len = 8 + tiff_len;
    *len = tiler_msg_size(&m);
    if (!(buf = malloc(*len))) FAIL("out of memory for tile %u's task of %zu bytes", idx, *len);
    pos = tiler_msg_write_header(&m, buf);
    put32(buf + pos, c.ox);
    put32(buf + pos + 4, c.oy);
    tiff = buf + pos + 8;
    /* The tiles' bytes as they are in the upload, in the small TIFF's
     * order (row by row of the cover). */
    for (pos = 8, i = 0; i < n; i++) {
        size_t cnt = get32(counts + 4 * (size_t)i);
        if (!cnt) continue;
        if (fseeko(tt->s.f, (off_t)at[i], SEEK_SET) || fread(tiff + pos, 1, cnt, tt->s.f) != cnt)
            FAIL("tiff image could not be decoded: tile bytes at offset %llu cannot be read", (unsigned long long)at[i]);
        pos += cnt;
    }
    write_directory(tiff, pos, e, ne);
    free(offs);
    free(counts);
    free(at);
    return buf;
fail:
    free(offs);
    free(counts);
    free(at);
    free(buf);
    return NULL;
}

#undef FAIL
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return NULL; } while (0)

/* The task's TIFF's first directory, before any pixel is decoded: 0, or
 * -1 with why. libtiff's allocations while decoding are the tiles' (a row
 * of them), so the whole tiles are what is bounded. */
static int task_kind(FILE *f, tiler_tiff_kind *k, char *why, size_t whylen)
{
    tiler_tiff_source src = { f, "" };
    TIFF *t = tiler_tiff_open(&src, "rmD");
    int rc;
    if (!t) return tiler_tiff_open_failed(&src, why, whylen);
    rc = tiler_tiff_read_kind(t, k, why, whylen) < 0 ? -1 : 0;
    TIFFClose(t);
    if (rc == 0 && src.msg[0]) return tiler_tiff_open_failed(&src, why, whylen);
    if (rc == 0 && !k->tiled) {
        snprintf(why, whylen, "the task's TIFF is not tiled");
        return -1;
    }
    return rc;
}

gdImagePtr tiler_tiff_tiles_decode(const tiler_msg *task, uint32_t *ox, uint32_t *oy, char *err, size_t errlen)
{
    const tiler_rect *s = &task->src;
    tiler_tiff_kind k;
    tiler_band b;
    gdImagePtr im;
    uint64_t whole;
    char why[400];
    FILE *f;
    int rc;

    if (!task->tiff_tiles || task->payload_len <= 8) FAIL("the task carries no TIFF tiles");
    *ox = get32(task->pixels);
    *oy = get32(task->pixels + 4);
    if (!(f = fmemopen((void *)(task->pixels + 8), task->payload_len - 8, "rb"))) FAIL("the task's TIFF tiles cannot be read");
    if (task_kind(f, &k, why, sizeof(why)) < 0) {
        fclose(f);
        FAIL("input tiles: %s", why);
    }
    if (*ox > s->x || *oy > s->y || (uint64_t)*ox + k.w < (uint64_t)s->x + s->w || (uint64_t)*oy + k.h < (uint64_t)s->y + s->h
        || (uint64_t)*ox + k.w > task->image_w || (uint64_t)*oy + k.h > task->image_h) {
        fclose(f);
        FAIL("input tiles: %ux%u at (%u,%u) do not cover the task's source (%u,%u %ux%u) within the %ux%u image", k.w, k.h,
             *ox, *oy, s->x, s->y, s->w, s->h, task->image_w, task->image_h);
    }
    whole = ((uint64_t)k.w + k.tw - 1) / k.tw * k.tw * (((uint64_t)k.h + k.th - 1) / k.th * k.th);
    if (whole > TILER_TIFF_TASK_MAX_PIXELS) {
        fclose(f);
        FAIL("input tiles: %ux%u in %ux%u-pixel tiles, %llu pixels of whole tiles, over %u", k.w, k.h, k.tw, k.th,
             (unsigned long long)whole, TILER_TIFF_TASK_MAX_PIXELS);
    }
    /* The tiles decode into one image: they are the task's, no more. */
    tiler_band_init(&b, TILER_DEFAULT_TILE_SIZE, 0, 1, NULL, NULL);
    rc = tiler_tiff_decode(f, &b, why, sizeof(why));
    fclose(f);
    im = rc < 0 ? NULL : tiler_band_take_image(&b);
    tiler_band_free(&b);
    if (!im) FAIL("input tiles: %s", rc < 0 ? why : "out of memory");
    return im;
}
