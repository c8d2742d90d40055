/* bench/blurbench W H SIGMA: times libtiler's blur on one core over a
 * W x H truecolor image and prints the seconds and megapixels per second.
 * bench/kernel runs it next to vips gaussblur. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "tiler_filter.h"
#include "../t/unit/testimg.h"

int main(int argc, char **argv)
{
    int w = argc > 1 ? atoi(argv[1]) : 4096, h = argc > 2 ? atoi(argv[2]) : 4096;
    double sigma = argc > 3 ? atof(argv[3]) : 3.0, secs;
    struct timespec a, b;
    gdImagePtr im = testimg_make(w, h, 0, 1);
    if (!im) { fprintf(stderr, "blurbench: out of memory\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (tiler_blur(im, sigma) < 0) { fprintf(stderr, "blurbench: blur failed\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%.3f %.1f\n", secs, (double)w * h / 1e6 / secs);
    gdImageDestroy(im);
    return 0;
}
