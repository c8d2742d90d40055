/* A PNG result's rows deflated by the workers (tiler_png_tile.c): tiles
 * encoded one by one, placed in a tiles file shuffled, joined into strips
 * and a PNG the web host's way, and the PNG read back with libgd pixel by
 * pixel; each tile inflated back alone; hostile payloads refused. */
#include <fcntl.h>
#include <sys/stat.h>
#include <gd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_png.h"
#include "tiler_png_tile.h"
#include "tiler_strip.h"
#include "tiler_tiff_out.h"

/* A noisy pixel of the test image: grey when samples < 3, alpha when even. */
static int pixel(uint32_t x, uint32_t y, int samples)
{
    uint32_t h = (x * 2654435761u) ^ (y * 40503u + 17);
    unsigned r = (x * 3 + (h & 15)) & 0xff, g = (y * 5 + (h >> 8 & 7)) & 0xff, b = (x ^ y) & 0xff;
    unsigned a = samples % 2 == 0 ? (x + 2 * y + (h >> 16 & 3)) % 128 : 0;
    if (samples < 3) r = b = g;
    return (int)(a << 24 | r << 16 | g << 8 | b);
}

static int color_of(int samples)
{
    return samples == 1 ? TILER_PNG_GRAY : samples == 2 ? TILER_PNG_GRAY_ALPHA : samples == 3 ? TILER_PNG_RGB : TILER_PNG_RGBA;
}

/* Tile (tx, ty)'s rows of the image. */
static int **tile_rows(uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, int samples)
{
    int **rows = malloc(h * sizeof(int *));
    uint32_t x, y;
    for (y = 0; y < h; y++) {
        rows[y] = malloc(w * sizeof(int));
        for (x = 0; x < w; x++) rows[y][x] = pixel(x0 + x, y0 + y, samples);
    }
    return rows;
}

static void free_rows(int **rows, uint32_t h)
{
    uint32_t y;
    for (y = 0; y < h; y++) free(rows[y]);
    free(rows);
}

/* The w x h image in side-pixel tiles, samples a pixel: every tile
 * encoded, checked plausible and inflated back alone; placed in the tiles
 * file from the last to the first; the strips made chunk rows at a time;
 * the PNG joined from them and read back by libgd. */
static int roundtrip(uint32_t w, uint32_t h, uint32_t side, int samples, uint32_t chunk)
{
    const char *tiles = tmpdir_path("tiles"), *index = tmpdir_path("tiles.idx");
    uint32_t across = (w + side - 1) / side, down = (h + side - 1) / side, n = across * down, i, x, y, k;
    int good = 1, fd, ifd;
    char err[512];
    tiler_png_writer *pw;
    FILE *out;
    gdImagePtr im;

    if (tiler_tiff_out_start(tiles, index, n, err, sizeof(err)) < 0) { printf("# %s\n", err); return 0; }
    for (i = n; i-- > 0;) {
        uint32_t tx = i % across * side, ty = i / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        int **rows = tile_rows(tx, ty, cw, ch, samples);
        unsigned char *z, *back = malloc((size_t)cw * ch * samples);
        size_t len;
        if (tiler_png_tile_encode((const int *const *)rows, cw, ch, samples, tx == 0, 3, &z, &len, err, sizeof(err)) < 0) {
            printf("# tile %u: %s\n", i, err);
            good = 0;
        } else {
            good &= tiler_png_tile_plausible(z, len, cw, ch, samples, tx == 0);
            good &= len <= tiler_png_tile_max_bytes(side, samples);
            if (tiler_png_tile_decode(z, len, cw, ch, samples, tx == 0, back, (size_t)cw * samples, err, sizeof(err)) < 0) {
                printf("# decode tile %u: %s\n", i, err);
                good = 0;
            } else {
                for (y = 0; y < ch; y++) {
                    unsigned char *rowb = malloc((size_t)cw * samples);
                    tiler_png_row_samples(rowb, rows[y], cw, color_of(samples));
                    if (memcmp(rowb, back + (size_t)y * cw * samples, (size_t)cw * samples)) good = 0;
                    free(rowb);
                }
            }
            if (tiler_tiff_out_add(tiles, index, i, z, len, err, sizeof(err)) < 0) { printf("# %s\n", err); good = 0; }
            free(z);
        }
        free(back);
        free_rows(rows, ch);
    }
    /* The strips, then the PNG. */
    fd = open(tiles, O_RDONLY);
    ifd = open(index, O_RDONLY);
    out = fopen(tmpdir_path("out.png"), "wb");
    pw = tiler_png_begin(out, w, h, color_of(samples));
    for (k = 0; k < down && good; k++) {
        tiler_png_tile_ref *refs = calloc(across, sizeof(*refs));
        uint32_t nrows = h - k * side < side ? h - k * side : side;
        FILE *sf = fopen(tmpdir_path("strip"), "wb");
        for (i = 0; i < across; i++) tiler_tiff_out_entry(ifd, k * across + i, &refs[i].off, &refs[i].len);
        if (tiler_png_tile_strip(sf, fd, refs, across, w, side, nrows, samples, k == down - 1, chunk, err, sizeof(err)) < 0) {
            printf("# strip %u: %s\n", k, err);
            good = 0;
        }
        fclose(sf);
        if (good && tiler_png_add_file(pw, tmpdir_path("strip"), err, sizeof(err)) < 0) { printf("# %s\n", err); good = 0; }
        free(refs);
    }
    if (tiler_png_end(pw, err, sizeof(err)) < 0 && good) { printf("# %s\n", err); good = 0; }
    fclose(out);
    close(fd);
    close(ifd);
    out = fopen(tmpdir_path("out.png"), "rb");
    im = good ? gdImageCreateFromPng(out) : NULL;
    fclose(out);
    if (!im) return 0;
    if ((uint32_t)gdImageSX(im) != w || (uint32_t)gdImageSY(im) != h) good = 0;
    for (y = 0; good && y < h; y++)
        for (x = 0; x < w; x++) {
            int want = pixel(x, y, samples), got = gdImageGetTrueColorPixel(im, (int)x, (int)y);
            if (got != want) {
                printf("# (%u,%u): %08x, want %08x\n", x, y, (unsigned)got, (unsigned)want);
                good = 0;
                break;
            }
        }
    gdImageDestroy(im);
    return good;
}

static void put32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

/* A 16 x 2 grey lead tile whose rows are deflated in one stream with sync
 * flushes only: the second row, equal to the first, refers back to it. */
static unsigned char *chained(size_t *len)
{
    unsigned char line[17], *buf = malloc(1024);
    z_stream z;
    size_t at = 16, before;
    int y;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    for (y = 0; y < 2; y++) {
        int i;
        line[0] = 0;   /* None on both rows: equal bytes, so a match */
        for (i = 1; i < 17; i++) line[i] = (unsigned char)(i * 37);
        z.next_in = line;
        z.avail_in = 17;
        z.next_out = buf + at;
        z.avail_out = (uInt)(1024 - at);
        before = at;
        deflate(&z, Z_SYNC_FLUSH);
        at = 1024 - z.avail_out;
        put32le(buf + y * 8, (uint32_t)(at - before));
        put32le(buf + y * 8 + 4, (uint32_t)adler32(adler32(0, NULL, 0), line, 17));
    }
    deflateEnd(&z);
    *len = at;
    return buf;
}

static void hostile(void)
{
    int *row0 = malloc(40 * sizeof(int)), *row1 = malloc(40 * sizeof(int));
    const int *rows[2] = { row0, row1 };
    unsigned char *z, *bad, back[2 * 40 * 3];
    size_t len, clen;
    char err[512];
    int x;
    for (x = 0; x < 40; x++) { row0[x] = pixel((uint32_t)x, 0, 3); row1[x] = pixel((uint32_t)x, 1, 3); }
    ok(tiler_png_tile_encode(rows, 40, 2, 3, 1, 3, &z, &len, err, sizeof(err)) == 0, "a 40x2 RGB tile encodes");
    ok(tiler_png_tile_plausible(z, len, 40, 2, 3, 1), "and is plausible");
    ok(!tiler_png_tile_plausible(z, len - 1, 40, 2, 3, 1), "one byte short: refused");
    ok(!tiler_png_tile_plausible(z, 15, 40, 2, 3, 1), "shorter than its table: refused");
    ok(!tiler_png_tile_plausible(z, len, 40, 3, 3, 1), "told one row more: refused");
    ok(!tiler_png_tile_plausible(z, len, 40, 1, 3, 1), "told one row fewer: refused");
    bad = malloc(len + 8);
    memcpy(bad, z, len);
    bad[len - 1] ^= 0xff;
    ok(!tiler_png_tile_plausible(bad, len, 40, 2, 3, 1), "a piece not ending in a full flush: refused");
    memcpy(bad, z, len);
    put32le(bad, 0xfffffff0u);
    ok(!tiler_png_tile_plausible(bad, len, 40, 2, 3, 1), "a piece length past the payload: refused");
    memcpy(bad, z, len);
    put32le(bad, 4);
    ok(!tiler_png_tile_plausible(bad, len, 40, 2, 3, 1), "a piece too short to be one: refused");
    memcpy(bad, z, len);
    bad[4] ^= 1;
    ok(tiler_png_tile_decode(bad, len, 40, 2, 3, 1, back, 120, err, sizeof(err)) < 0 && strstr(err, "Adler"),
       "a wrong Adler-32 is found on decoding (%s)", err);
    /* The same pieces told to be another tile's: too few bytes each. */
    ok(tiler_png_tile_decode(z, len, 40, 2, 3, 0, back, 120, err, sizeof(err)) < 0,
       "a lead tile's pieces decoded as another's: refused (%s)", err);
    ok(tiler_png_tile_decode(z, len, 40, 2, 3, 1, back, 120, err, sizeof(err)) == 0, "the tile decodes");
    free(z);
    free(bad);
    z = chained(&clen);
    ok(tiler_png_tile_plausible(z, clen, 16, 2, 1, 1), "pieces with sync flushes only look plausible");
    ok(tiler_png_tile_decode(z, clen, 16, 2, 1, 1, back, 16, err, sizeof(err)) < 0,
       "but a piece that refers into the one before is refused (%s)", err);
    free(z);
    free(row0);
    free(row1);
}

/* The strip writer reads the tiles file again, and trusts it no more. */
static void hostile_strip(void)
{
    int *row = malloc(32 * sizeof(int));
    const int *rows[1] = { row };
    unsigned char *z;
    size_t len;
    char err[512];
    tiler_png_tile_ref ref[2];
    FILE *f, *sf;
    int fd, x;
    for (x = 0; x < 32; x++) row[x] = pixel((uint32_t)x, 0, 4);
    tiler_png_tile_encode(rows, 16, 1, 4, 1, 3, &z, &len, err, sizeof(err));
    f = fopen(tmpdir_path("hostile"), "wb");
    fwrite(z, 1, len, f);
    fclose(f);
    fd = open(tmpdir_path("hostile"), O_RDONLY);
    sf = fopen(tmpdir_path("hstrip"), "wb");
    ref[0].off = 0;
    ref[0].len = len;
    ok(tiler_png_tile_strip(sf, fd, ref, 1, 16, 16, 1, 4, 1, 8, err, sizeof(err)) == 0, "one tile's strip is written");
    ref[0].len = len + 1;
    ok(tiler_png_tile_strip(sf, fd, ref, 1, 16, 16, 1, 4, 1, 8, err, sizeof(err)) < 0, "an index length one too long: refused (%s)", err);
    ref[0].len = 4;
    ok(tiler_png_tile_strip(sf, fd, ref, 1, 16, 16, 1, 4, 1, 8, err, sizeof(err)) < 0, "an index length shorter than the table: refused");
    ref[0].len = len;
    ref[0].off = 1u << 30;
    ok(tiler_png_tile_strip(sf, fd, ref, 1, 16, 16, 1, 4, 1, 8, err, sizeof(err)) < 0, "an offset past the file: refused (%s)", err);
    ref[0].off = 0;
    ref[1] = ref[0];
    ok(tiler_png_tile_strip(sf, fd, ref, 2, 16, 16, 1, 4, 1, 8, err, sizeof(err)) < 0, "two tiles for one tile's width: refused");
    ok(tiler_png_tile_strip(sf, fd, ref, 1, 40, 16, 1, 4, 1, 8, err, sizeof(err)) < 0, "a tile short of the strip's width: refused");
    fclose(sf);
    close(fd);
    free(z);
    free(row);
}

/* A one-row, 16-pixel grey lead tile whose piece is a stored block of the
 * row (filter None and 16 samples) followed by tail. */
static unsigned char *stored_tile(const unsigned char *tail, size_t tail_len, size_t *len)
{
    unsigned char row[17], *buf = malloc(8 + 5 + 17 + tail_len);
    size_t n = 5 + 17 + tail_len;
    int i;
    row[0] = 0;
    for (i = 1; i < 17; i++) row[i] = (unsigned char)(i * 11);
    put32le(buf, (uint32_t)n);
    put32le(buf + 4, (uint32_t)adler32(adler32(0, NULL, 0), row, 17));
    memcpy(buf + 8, "\x00\x11\x00\xee\xff", 5);   /* stored, not final, 17 bytes */
    memcpy(buf + 13, row, 17);
    memcpy(buf + 30, tail, tail_len);
    *len = 8 + n;
    return buf;
}

/* What the strip writer makes of one tile's payload written to a file. */
static int strip_of(const unsigned char *payload, size_t len, uint32_t w, uint32_t h, int samples, char *err, size_t errlen)
{
    tiler_png_tile_ref ref = { 0, len };
    FILE *f = fopen(tmpdir_path("one"), "wb"), *sf;
    int fd, rc;
    fwrite(payload, 1, len, f);
    fclose(f);
    fd = open(tmpdir_path("one"), O_RDONLY);
    sf = fopen(tmpdir_path("onestrip"), "wb");
    rc = tiler_png_tile_strip(sf, fd, &ref, 1, w, 16, h, samples, 1, 4, err, errlen);
    fclose(sf);
    close(fd);
    return rc;
}

/* Pieces that look right from the outside (their table fits, each ends
 * in 00 00 FF FF) but that the PNG's stream cannot hold: refused by the
 * strip writer and the decoder, which inflate each. */
static void hostile_pieces(void)
{
    static const struct { const char *tail; size_t len; int good; const char *what; } cases[] = {
        { "\x00\x00\x00\xff\xff", 5, 1, "a stored row and an empty stored block" },
        { "\x01\x00\x00\xff\xff", 5, 0, "a stored row and a final block" },
        { "\x00\x00\xff\xff", 4, 0, "a stored row and the header of a block cut short" },
    };
    size_t i, len;
    char err[512];
    unsigned char out[16];
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *t = stored_tile((const unsigned char *)cases[i].tail, cases[i].len, &len);
        int plausible = tiler_png_tile_plausible(t, len, 16, 1, 1, 1);
        int dec = tiler_png_tile_decode(t, len, 16, 1, 1, 1, out, 16, err, sizeof(err));
        int str = strip_of(t, len, 16, 1, 1, err, sizeof(err));
        ok(plausible, "%s: looks plausible from its table", cases[i].what);
        if (cases[i].good) ok(dec == 0 && str == 0 && out[15] == 176, "%s: decoded and joined (%s)", cases[i].what, err);
        else ok(dec < 0 && str < 0, "%s: refused by the decoder and the strip writer (%s)", cases[i].what, err);
        free(t);
    }
    unlink(tmpdir_path("one"));
    unlink(tmpdir_path("onestrip"));
}

static long long allocated(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long long)st.st_blocks * 512;
}

/* The encoder's steps on a job's files: a row of tiles joined into its
 * strip file and then freed in the tiles file; joined again once freed,
 * which fails, unless the strip is there (another copy placed it first). */
static void join_and_release(void)
{
    const char *tiles = tmpdir_path("jtiles"), *index = tmpdir_path("jtiles.idx"), *path = tmpdir_path("strip-0");
    uint32_t w = 700, h = 300, side = 256, across = 3, down = 2, i;
    tiler_strip_spec sp;
    char err[512];
    long long before, after;
    tiler_png_tile_ref r0;
    int fd;
    tiler_tiff_out_start(tiles, index, across * down, err, sizeof(err));
    for (i = 0; i < across * down; i++) {
        uint32_t tx = i % across * side, ty = i / across * side;
        uint32_t cw = w - tx < side ? w - tx : side, ch = h - ty < side ? h - ty : side;
        int **rows = tile_rows(tx, ty, cw, ch, 4);
        unsigned char *z;
        size_t len;
        tiler_png_tile_encode((const int *const *)rows, cw, ch, 4, tx == 0, 3, &z, &len, err, sizeof(err));
        tiler_tiff_out_add(tiles, index, i, z, len, err, sizeof(err));
        free(z);
        free_rows(rows, ch);
    }
    memset(&sp, 0, sizeof(sp));
    sp.width = w;
    sp.height = h;
    sp.top = 0;
    sp.n = side;
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, path, err, sizeof(err)) == 0 && access(path, F_OK) == 0,
       "a row of tiles is joined into its strip file (%s)", err);
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, path, err, sizeof(err)) == 1,
       "joined again: the strip there first is kept");
    sp.top = 16;
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, path, err, sizeof(err)) < 0, "rows that are not a row of tiles: refused");
    sp.top = 0;
    before = allocated(tiles);
    ok(tiler_strip_release_tiles(tiles, index, w, side, 0, err, sizeof(err)) >= 0, "the row's tiles are freed");
    after = allocated(tiles);
    fd = open(index, O_RDONLY);
    tiler_tiff_out_entry(fd, 0, &r0.off, &r0.len);
    close(fd);
    ok(after < before && before - after > (long long)(3 * r0.len) / 2,
       "the tiles file holds %lld bytes less of its %lld", before - after, before);
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, path, err, sizeof(err)) == 1,
       "a copy that reads freed tiles after the strip was placed: the placed strip is kept");
    unlink(path);
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, path, err, sizeof(err)) < 0 && access(path, F_OK) != 0,
       "freed tiles and no strip: refused, nothing placed (%s)", err);
    sp.top = 256;
    sp.n = 44;
    ok(tiler_strip_join_tiles(tiles, index, &sp, side, 4, tmpdir_path("strip-1"), err, sizeof(err)) == 0,
       "the other row is still whole");
    unlink(tmpdir_path("strip-1"));
    unlink(tiles);
    unlink(index);
}

int main(void)
{
    static const struct { uint32_t w, h, side; int samples; uint32_t chunk; } cases[] = {
        { 37, 21, 16, 1, 3 },  { 37, 21, 16, 2, 32 }, { 37, 21, 16, 3, 1 }, { 37, 21, 16, 4, 5 },
        { 16, 16, 16, 3, 16 }, { 5, 3, 16, 4, 2 },    { 300, 70, 64, 3, 7 }, { 1030, 17, 512, 4, 32 },
    };
    tiler_tile_enc enc;
    size_t i;
    if (tmpdir_make() < 0) return 1;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok(roundtrip(cases[i].w, cases[i].h, cases[i].side, cases[i].samples, cases[i].chunk),
           "%ux%u in %u-pixel tiles, %d samples, %u-row chunks: the joined PNG reads back exact", cases[i].w, cases[i].h,
           cases[i].side, cases[i].samples, cases[i].chunk);
    hostile();
    hostile_strip();
    hostile_pieces();
    join_and_release();
    ok(tiler_png_tile_format("png", TILER_PNG_TILE_COMPRESSION, 512, 1, "grayscale", &enc) == 1
       && enc.codec == TILER_CODEC_PNG_ROWS && enc.samples == 2 && enc.side == 512,
       "a PNG job with rows: codec 3, grey + alpha for grayscale with alpha, 512");
    ok(tiler_png_tile_format("png", NULL, 512, 0, "invert", &enc) == 0 && enc.codec == 0, "a PNG job without: raw pixels");
    ok(tiler_png_tile_format("png", TILER_PNG_TILE_COMPRESSION, 100, 0, "invert", &enc) == 0,
       "tiles not a multiple of 16: raw pixels");
    ok(tiler_png_tile_format("tiff", TILER_PNG_TILE_COMPRESSION, 512, 0, "invert", &enc) == 0, "not a PNG job: none");
    {
        static const char *const leaves[] = { "tiles", "tiles.idx", "out.png", "strip", "hostile", "hstrip" };
        for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) unlink(tmpdir_path(leaves[i]));
        rmdir(tmpdir_name);
    }
    return done_testing();
}
