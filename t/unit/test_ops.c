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
