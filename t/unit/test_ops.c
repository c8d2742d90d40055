#include <string.h>
#include "tap.h"
#include "tiler_ops.h"

static int parses(const char *text)
{
    tiler_chain c;
    char err[256];
    return tiler_chain_parse(&c, text, TILER_MAX_OPS, err, sizeof(err)) == 0;
}

int main(void)
{
    tiler_chain c;
    char err[256], buf[256];
    const char *bad[] = { "", ",", "grayscale,", ",invert", "grayscale,,invert", "emboss", "blur:", "blur:0",
                          "blur:-1", "blur:64.5", "blur:1e1", "blur:nan", "blur:inf", "blur:0x10", "blur:3:4",
                          "blur:3 ", " blur", "grayscale:1", "invert:", "blur:1..2", "BLUR", "blur:.", "blur:0.0000001",
                          "blur:0.0000008375319363696624582", NULL };
    int i;

    ok(tiler_chain_parse(&c, "grayscale,blur:3,invert", TILER_MAX_OPS, err, sizeof(err)) == 0, "chain parses");
    ok(c.count == 3 && c.ops[0].kind == TILER_OP_GRAYSCALE && c.ops[1].kind == TILER_OP_BLUR
       && c.ops[2].kind == TILER_OP_INVERT, "kinds in order");
    ok(c.ops[1].sigma == 3.0 && c.ops[1].radius == 9, "blur:3 has radius 9");
    ok(tiler_chain_halo(&c) == 9, "halo is the blur radius");
    tiler_chain_format(&c, buf, sizeof(buf));
    ok(!strcmp(buf, "grayscale,blur:3,invert"), "canonical form round-trips: %s", buf);

    ok(tiler_chain_parse(&c, "blur", TILER_MAX_OPS, err, sizeof(err)) == 0 && c.ops[0].sigma == 3.0, "blur defaults to sigma 3");
    ok(tiler_chain_parse(&c, "blur:0.5,blur:2.25,grayscale", TILER_MAX_OPS, err, sizeof(err)) == 0
       && tiler_chain_halo(&c) == 2 + 7, "chained blurs add radii (ceil(1.5)+ceil(6.75))");
    ok(parses("blur:64") && parses("blur:0.01") && parses("invert,invert"), "range edges and repeats");
    ok(tiler_chain_halo(&(tiler_chain){ 0 }) == 0, "empty chain has no halo");
    {
        /* The canonical form parses back to the same numbers (found by fuzzing). */
        const char *forms[][2] = { { "blur:0.000001", "blur:0.000001" }, { "blur:3.50", "blur:3.5" },
                                   { "blur:064", "blur:64" }, { "blur:2.", "blur:2" }, { "blur:.25", "blur:0.25" } };
        size_t k;
        for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
            tiler_chain again;
            ok(tiler_chain_parse(&c, forms[k][0], TILER_MAX_OPS, err, sizeof(err)) == 0
               && tiler_chain_format(&c, buf, sizeof(buf)) > 0 && !strcmp(buf, forms[k][1])
               && tiler_chain_parse(&again, buf, TILER_MAX_OPS, err, sizeof(err)) == 0
               && again.ops[0].sigma == c.ops[0].sigma, "%s is canonically %s and parses back the same", forms[k][0], buf);
        }
    }

    for (i = 0; bad[i]; i++) ok(!parses(bad[i]), "refuses '%s'", bad[i]);

    tiler_chain_parse(&c, "emboss", TILER_MAX_OPS, err, sizeof(err));
    ok(strstr(err, "emboss") != NULL && strstr(err, "sharpen[:SIGMA[:AMOUNT]]"), "error names the unknown op and the known: %s", err);

    /* The ops of issue 17: parameters, ranges, defaults, halo, canonical form. */
    {
        const char *bad2[] = { "sharpen:0", "sharpen:16.5", "sharpen:1:0", "sharpen:1:10.5", "sharpen:1:2:3", "edges:1",
                               "brightness", "brightness:256", "brightness:-256", "brightness:1.5", "brightness:+5",
                               "contrast", "contrast:-1", "contrast:10.1", "gamma", "gamma:0.09", "gamma:10.5", "gamma:0",
                               "threshold", "threshold:256", "threshold:-1", "threshold:1.5", "contrast:-0", "gamma:-1",
                               "sharpen:-1", NULL };
        const char *forms[][2] = { { "sharpen", "sharpen:1:1" }, { "sharpen:2", "sharpen:2:1" },
                                   { "sharpen:0.5:2.50", "sharpen:0.5:2.5" }, { "edges", "edges" },
                                   { "brightness:-255", "brightness:-255" }, { "brightness:255", "brightness:255" },
                                   { "brightness:0", "brightness:0" }, { "brightness:-0", "brightness:0" },
                                   { "contrast:0", "contrast:0" }, { "contrast:10", "contrast:10" },
                                   { "contrast:1.25", "contrast:1.25" }, { "gamma:0.1", "gamma:0.1" },
                                   { "gamma:10", "gamma:10" }, { "threshold:0", "threshold:0" },
                                   { "threshold:255", "threshold:255" } };
        size_t k;
        for (k = 0; bad2[k]; k++) ok(!parses(bad2[k]), "refuses '%s'", bad2[k]);
        for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
            tiler_chain again;
            ok(tiler_chain_parse(&c, forms[k][0], TILER_MAX_OPS, err, sizeof(err)) == 0
               && tiler_chain_format(&c, buf, sizeof(buf)) > 0 && !strcmp(buf, forms[k][1])
               && tiler_chain_parse(&again, buf, TILER_MAX_OPS, err, sizeof(err)) == 0
               && again.ops[0].value == c.ops[0].value && again.ops[0].sigma == c.ops[0].sigma,
               "%s is canonically %s and parses back the same", forms[k][0], buf);
        }
        ok(tiler_chain_parse(&c, "sharpen:2.5,edges,brightness:3,contrast:2,gamma:2,threshold:9,blur:1", TILER_MAX_OPS, err,
                             sizeof(err)) == 0 && tiler_chain_halo(&c) == 8 + 1 + 3, "halo: sharpen ceil(7.5), edges 1, blur 3, point ops 0");
        tiler_chain_parse(&c, "brightness", TILER_MAX_OPS, err, sizeof(err));
        ok(strstr(err, "brightness:DELTA") != NULL, "a missing parameter says the usage: %s", err);
        tiler_chain_parse(&c, "threshold:300", TILER_MAX_OPS, err, sizeof(err));
        ok(strstr(err, "[0, 255]") != NULL, "a value out of range says the range: %s", err);
        ok(tiler_chain_parse(&c, "edges", TILER_MAX_OPS, err, sizeof(err)) == 0 && tiler_chain_gray(&c), "edges: grey out");
        ok(tiler_chain_parse(&c, "threshold:5,gamma:2", TILER_MAX_OPS, err, sizeof(err)) == 0 && tiler_chain_gray(&c),
           "threshold then anything: grey");
        ok(tiler_chain_parse(&c, "sharpen,brightness:4", TILER_MAX_OPS, err, sizeof(err)) == 0 && !tiler_chain_gray(&c),
           "sharpen, brightness: colour");
    }
    /* The geometry ops of issue 17: canonical forms, refusals with the
     * usage in the message, the 64 bound on the chain's downscale, the halo
     * they multiply, moves and scale. */
    {
        const char *forms[][2] = { { "flip:h", "flip:h" }, { "flip:v", "flip:v" }, { "rotate:90", "rotate:90" },
                                   { "rotate:180", "rotate:180" }, { "rotate:270", "rotate:270" },
                                   { "downscale:2", "downscale:2" }, { "downscale:4", "downscale:4" },
                                   { "downscale:8", "downscale:8" },
                                   /* Whole numbers are whole numbers however written. */
                                   { "rotate:090", "rotate:90" }, { "rotate:270.000000", "rotate:270" },
                                   { "downscale:2.0", "downscale:2" }, { "downscale:08", "downscale:8" },
                                   { "flip:v,rotate:90,downscale:4,blur:1,flip:h", "flip:v,rotate:90,downscale:4,blur:1,flip:h" } };
        /* Each refusal and a piece its message must have: the op's usage,
         * and the client's text where there is one. */
        const char *refused[][2] = { { "flip:x", "flip:h|v: 'x' is not h or v" }, { "flip", "needs its parameter: flip:h|v" },
                                     { "flip:", "flip:h|v" }, { "flip:h:v", "'h:v' is not h or v" },
                                     { "flip:H", "'H' is not h or v" }, { "flip:hv", "'hv'" }, { "flip:0", "'0'" },
                                     { "rotate:45", "rotate:90|180|270: 45" }, { "rotate:135", "rotate:90|180|270: 135 is not one of those" },
                                     { "rotate:-90", "rotate:90|180|270: '-90' must not be negative" },
                                     { "rotate", "needs its parameter: rotate:90|180|270" }, { "rotate:", "rotate:90|180|270" },
                                     { "rotate:0", "rotate:90|180|270: 0" }, { "rotate:360", "rotate:90|180|270: 360" },
                                     { "rotate:90.5", "'90.5' is not a whole number" }, { "rotate:1e2", "rotate:90|180|270: '1e2'" },
                                     { "rotate:90:1", "at most 1 parameter (rotate:90|180|270)" },
                                     { "downscale:3", "downscale:2|4|8: 3 is not one of those" },
                                     { "downscale:6", "downscale:2|4|8: 6 is not one of those" },
                                     { "downscale:16", "downscale:2|4|8: 16" }, { "downscale:1", "downscale:2|4|8: 1" },
                                     { "downscale:0", "downscale:2|4|8: 0" }, { "downscale", "needs its parameter: downscale:2|4|8" },
                                     { "downscale:2.5", "'2.5' is not a whole number" }, { "downscale:+2", "downscale:2|4|8: '+2'" },
                                     { "downscale:-2", "'-2' must not be negative" },
                                     { "downscale:2:2", "at most 1 parameter (downscale:2|4|8)" },
                                     { "downscale:8,downscale:8,downscale:2", "downscale by 128 in all, more than 64" },
                                     { "downscale:2,downscale:2,downscale:2,downscale:2,downscale:2,downscale:2,downscale:2",
                                       "downscale by 128 in all, more than 64" },
                                     { "downscale:8,flip:h,downscale:8,rotate:90,downscale:4", "by 256 in all" } };
        /* Halo: from the last op back, times K at a downscale, plus each radius. */
        const struct { const char *ops; int halo; } halos[] = {
            { "blur:3,downscale:2,blur:1", 3 * 2 + 9 }, { "downscale:2,blur:1", 3 * 2 }, { "blur:1,downscale:2", 3 },
            { "downscale:2,downscale:4,edges", 1 * 4 * 2 }, { "edges,downscale:8,downscale:8,blur:1", 3 * 8 * 8 + 1 },
            { "rotate:90,blur:1,flip:h,rotate:270", 3 }, { "flip:h,flip:v,rotate:180,downscale:8", 0 },
            { "blur:1,downscale:4,edges,downscale:2,sharpen:1", ((3 * 2) + 1) * 4 + 3 },
        };
        size_t k;
        for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
            tiler_chain again;
            int same = 1, j;
            ok(tiler_chain_parse(&c, forms[k][0], TILER_MAX_OPS, err, sizeof(err)) == 0
               && tiler_chain_format(&c, buf, sizeof(buf)) > 0 && !strcmp(buf, forms[k][1])
               && tiler_chain_parse(&again, buf, TILER_MAX_OPS, err, sizeof(err)) == 0 && again.count == c.count,
               "%s is canonically %s and parses back", forms[k][0], buf);
            for (j = 0; j < c.count; j++) same &= again.ops[j].kind == c.ops[j].kind && again.ops[j].value == c.ops[j].value;
            ok(same, "...to the same ops");
        }
        ok(tiler_chain_parse(&c, "flip:h,flip:v,rotate:90,rotate:180,rotate:270,downscale:2,downscale:4", TILER_MAX_OPS, err,
                             sizeof(err)) == 0
           && c.ops[0].kind == TILER_OP_FLIP && c.ops[0].value == TILER_FLIP_H && c.ops[1].value == TILER_FLIP_V
           && c.ops[2].kind == TILER_OP_ROTATE && c.ops[2].value == 90 && c.ops[3].value == 180 && c.ops[4].value == 270
           && c.ops[5].kind == TILER_OP_DOWNSCALE && c.ops[5].value == 2 && c.ops[6].value == 4,
           "kinds and values: flip h/v, rotate degrees, downscale K");
        {
            int j, r = 0;
            for (j = 0; j < c.count; j++) r |= c.ops[j].radius;
            ok(r == 0 && tiler_chain_halo(&c) == 0, "geometry ops read no context of their own");
        }
        for (k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
            err[0] = '\0';
            ok(tiler_chain_parse(&c, refused[k][0], TILER_MAX_OPS, err, sizeof(err)) < 0 && strstr(err, refused[k][1]),
               "refuses '%s': %s", refused[k][0], err);
        }
        ok(tiler_chain_parse(&c, "downscale:8,downscale:8", TILER_MAX_OPS, err, sizeof(err)) == 0 && tiler_chain_scale(&c) == 64,
           "downscale:8,downscale:8 is 64 in all, the most allowed");
        ok(tiler_chain_parse(&c, "downscale:4,rotate:90,downscale:2,flip:h,downscale:8", TILER_MAX_OPS, err, sizeof(err)) == 0
           && tiler_chain_scale(&c) == 64, "downscales apart multiply: 4 x 2 x 8 = 64");
        ok(tiler_chain_parse(&c, "downscale:2,downscale:2,downscale:2,downscale:2,downscale:2,downscale:2", TILER_MAX_OPS, err,
                             sizeof(err)) == 0 && tiler_chain_scale(&c) == 64, "six downscale:2 are 64");
        for (k = 0; k < sizeof(halos) / sizeof(halos[0]); k++) {
            int parsed = tiler_chain_parse(&c, halos[k].ops, TILER_MAX_OPS, err, sizeof(err)) == 0, h = tiler_chain_halo(&c);
            ok(parsed && h == halos[k].halo, "halo of %s is %d (got %d)", halos[k].ops, halos[k].halo, h);
        }
        {
            static const char *moving[] = { "flip:h", "flip:v", "rotate:90", "rotate:180", "rotate:270", "downscale:2",
                                            "blur:1,grayscale,flip:v", "rotate:180,invert", NULL };
            static const char *still[] = { "grayscale", "blur:2,invert,sharpen,edges,brightness:1,contrast:2,gamma:2,threshold:3",
                                           NULL };
            int m = 1, st = 1, sc = 1;
            for (k = 0; moving[k]; k++) {
                m &= tiler_chain_parse(&c, moving[k], TILER_MAX_OPS, err, sizeof(err)) == 0 && tiler_chain_moves(&c);
                sc &= tiler_chain_scale(&c) == (strstr(moving[k], "downscale") ? 2u : 1u);
            }
            for (k = 0; still[k]; k++) {
                st &= tiler_chain_parse(&c, still[k], TILER_MAX_OPS, err, sizeof(err)) == 0 && !tiler_chain_moves(&c);
                sc &= tiler_chain_scale(&c) == 1;
            }
            ok(m, "a flip, rotation or downscale anywhere in a chain moves pixels");
            ok(st, "filters and point ops alone do not");
            ok(sc, "scale is 1 without a downscale, K with one");
            ok(tiler_chain_scale(&(tiler_chain){ 0 }) == 1 && !tiler_chain_moves(&(tiler_chain){ 0 }), "the empty chain: scale 1, still");
        }
    }
    tiler_chain_parse(&c, "blur:99", TILER_MAX_OPS, err, sizeof(err));
    ok(strstr(err, "99") != NULL, "error names the bad sigma: %s", err);
    ok(tiler_chain_parse(&c, "invert,invert,invert", 2, err, sizeof(err)) < 0 && strstr(err, "more than 2"),
       "max ops enforced: %s", err);
    {
        char nul[] = "gray\x01scale";
        ok(!parses(nul), "control bytes refused");
    }
    return done_testing();
}
