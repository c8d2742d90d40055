/* tiler-zoombench IMAGE DIR: times the zoom pyramid's build from a PNG or
 * JPEG result as the module does it (tiler_pyramid_build_file, at
 * TILER_ZOOM_PNG_LEVEL) into the empty directory DIR, and prints the wall
 * and CPU time, the peak RSS and what the pyramid takes on disk, and
 * checks the growth of the RSS during the build against README's formula
 * for the builder's memory, 28·W + 1 MiB (exit 1 when over). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "tiler_defaults.h"
#include "tiler_pyramid.h"
#include "tiler_rows.h"

/* A field of /proc/self/status in KiB (VmRSS, VmHWM), or -1. */
static long status_kib(const char *field)
{
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':') v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char err[512], cmd[4200];
    struct rusage ru;
    uint32_t w, h;
    double t0, wall;
    long rss0, grew, formula;
    tiler_rows *rd;
    FILE *f;
    int rc;
    if (argc != 3) { fprintf(stderr, "usage: tiler-zoombench IMAGE DIR\n"); return 2; }
    if (!(f = fopen(argv[1], "rb")) || !(rd = tiler_rows_open(f, err, sizeof(err)))) {
        fprintf(stderr, "tiler-zoombench: %s: cannot read\n", argv[1]);
        return 2;
    }
    tiler_rows_size(rd, &w, &h);
    tiler_rows_close(rd);
    fclose(f);
    rss0 = status_kib("VmRSS");
    t0 = now();
    rc = tiler_pyramid_build_file(argv[1], argv[2], 0, 0, TILER_ZOOM_PNG_LEVEL, NULL, err, sizeof(err));
    wall = now() - t0;
    if (rc != 0) { fprintf(stderr, "tiler-zoombench: %s\n", err); return 1; }
    getrusage(RUSAGE_SELF, &ru);
    printf("%ux%u (%.1f MP): %u levels built in %.2f s wall, %.2f s CPU (user %.2f, system %.2f); peak RSS %ld KiB; "
           "builder heap by the formula %zu KiB\n", w, h, (double)w * h / 1e6, tiler_pyramid_max_level(w, h) + 1, wall,
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
           ru.ru_maxrss, tiler_pyramid_work_bytes(w) / 1024);
    grew = status_kib("VmHWM") - rss0;
    formula = (long)((28.0 * w + 1024 * 1024) / 1024);
    printf("RSS grew by %ld KiB during the build; README's formula 28·W + 1 MiB is %ld KiB: %s\n", grew, formula,
           grew <= formula ? "within it" : "OVER IT");
    fflush(stdout);
    if (grew > formula) return 1;
    snprintf(cmd, sizeof(cmd), "du -sh --apparent-size '%s' | cut -f1 | sed 's/^/pyramid on disk: /'; "
             "find '%s' -name '*.png' | wc -l | sed 's/$/ tiles/'", argv[2], argv[2]);
    return system(cmd) == 0 ? 0 : 1;
}
