/* tiler-monitor's registry: states, and forgetting dead workers so that
 * new ones always find room. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "monitor_registry.h"
#include "tiler_log.h"

static monitor_registry reg;

static int beat(const char *id, long long now)
{
    char json[256], err[256];
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"host\":\"h\",\"pid\":1,\"tiles_done\":0,\"interval_ms\":1000}", id);
    return monitor_registry_heartbeat(&reg, json, strlen(json), now, err, sizeof(err));
}

static int beat_full(const char *id, long long pid, long long done, long long interval, long long now)
{
    char json[256], err[256];
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"host\":\"h\",\"pid\":%lld,\"tiles_done\":%lld,\"interval_ms\":%lld}",
             id, pid, done, interval);
    return monitor_registry_heartbeat(&reg, json, strlen(json), now, err, sizeof(err));
}

static int beat_done(const char *id, long long done, long long now)
{
    return beat_full(id, 1, done, 1000, now);
}

static const monitor_worker *find(const char *id)
{
    int i;
    for (i = 0; i < reg.count; i++) if (!strcmp(reg.workers[i].id, id)) return &reg.workers[i];
    return NULL;
}

int main(void)
{
    char id[64], err[512], path[] = "/tmp/tiler-test-registry-XXXXXX";
    long long t = 1000000;
    int i, all = 1;
    tiler_log_init("test", TILER_LOG_ERROR);
    reg.dead_after_ms = 15000;
    reg.suspect_after_missed = 2;
    reg.forget_after_ms = 3600000;

    for (i = 0; i < MONITOR_MAX_WORKERS; i++) {
        snprintf(id, sizeof(id), "w%d", i);
        all &= beat(id, t) == 0;
    }
    ok(all && reg.count == MONITOR_MAX_WORKERS, "%d workers fill the registry", MONITOR_MAX_WORKERS);
    ok(beat("one-more", t) < 0, "a full registry of live workers refuses a new one");

    /* w0 keeps beating; the others go silent. */
    t += 20000;
    beat("w0", t);
    monitor_registry_sweep(&reg, t);
    ok(find("w1") && find("w1")->state == MONITOR_DEAD && reg.count == MONITOR_MAX_WORKERS,
       "silent workers turn dead and are kept for now");
    ok(beat("one-more", t) < 0, "so a new worker still finds no room");
    for (i = 0; i < 3500; i++) {   /* most of an hour of heartbeats from w0, a second apart */
        t += 1000;
        beat("w0", t);
        monitor_registry_sweep(&reg, t);
    }
    ok(find("w1") && find("w1")->state == MONITOR_DEAD, "a dead worker is kept until forget-after-ms");
    t += 100000;
    beat("w0", t);
    monitor_registry_sweep(&reg, t);
    ok(reg.count == 1 && find("w0") && find("w0")->state == MONITOR_ALIVE,
       "after forget-after-ms the dead are forgotten, the live one stays (count %d)", reg.count);
    ok(beat("one-more", t) == 0 && find("one-more"), "and a new worker is accepted");

    /* A worker that comes back before it is forgotten is the same entry. */
    t += 30000;
    monitor_registry_sweep(&reg, t);
    ok(find("one-more") && find("one-more")->state == MONITOR_DEAD, "one-more dies");
    beat("one-more", t + 1000);
    ok(find("one-more") && find("one-more")->state == MONITOR_ALIVE && reg.count == 2, "and comes back alive, not twice");

    /* forget_after_ms 0 keeps them for ever. */
    reg.forget_after_ms = 0;
    monitor_registry_sweep(&reg, t + 365LL * 86400000);
    ok(reg.count == 2, "forget-after-ms 0: never forgotten");

    /* Rates. A worker whose tiles take 3 s each, beating every second,
     * shows a steady third of a tile a second once it has beaten for the
     * window, never 0 and never 1. */
    {
        long long done = 0, s;
        int never_zero = 1, steady = 1, near = 1;
        double lo = 1e9, hi = 0;
        beat_done("slow", 0, t);
        ok(find("slow") && find("slow")->tiles_per_second == 0, "a first heartbeat has no rate yet");
        for (s = 1; s <= 60; s++) {
            if (s % 3 == 0) done++;
            beat_done("slow", done, t + s * 1000);
            if (s >= 3 && find("slow")->tiles_per_second <= 0) never_zero = 0;
            if (s >= MONITOR_RATE_WINDOW_MS / 1000 + 1) {
                double r = find("slow")->tiles_per_second;
                if (r < lo) lo = r;
                if (r > hi) hi = r;
            }
        }
        /* 3 or 4 tiles in the last 10 s, as the beats fall. */
        steady = hi - lo < 0.11;
        near = lo > 0.29 && hi < 0.41;
        ok(never_zero, "a slow worker's rate never drops to 0 between its tiles");
        ok(steady && near, "and it is steady near 1/3 tile/s once the window is full (%.3f..%.3f)", lo, hi);
        /* It restarts and counts from zero: no negative rate. */
        beat_done("slow", 1, t + 61000);
        ok(find("slow")->tiles_per_second == 0, "a restarted worker's rate is 0, not negative");
        beat_done("slow", 3, t + 62000);
        ok(find("slow")->tiles_per_second > 1.9 && find("slow")->tiles_per_second < 2.1,
           "and then counts from its new start (%.2f)", find("slow")->tiles_per_second);
        /* Heartbeats far apart (a worker with a long interval) still give a rate. */
        beat_done("slow", 33, t + 62000 + 30000);
        ok(find("slow")->tiles_per_second > 0.99 && find("slow")->tiles_per_second < 1.01,
           "heartbeats wider apart than the window still give a rate (%.2f)", find("slow")->tiles_per_second);
        /* Many heartbeats in the window (a 10 ms interval): the sample ring stays bounded. */
        for (s = 1; s <= 200; s++) beat_full("slow", 1, 33 + s, 10, t + 92000 + s * 10);
        ok(find("slow")->samples == MONITOR_RATE_SAMPLES && find("slow")->tiles_per_second > 90
           && find("slow")->tiles_per_second < 110,
           "heartbeats faster than the ring keep it bounded (%d samples, %.0f tiles/s)",
           find("slow")->samples, find("slow")->tiles_per_second);
        /* Another process under the same id is a restart, whatever its count. */
        beat_full("slow", 2, 1000, 10, t + 95000);
        ok(find("slow")->tiles_per_second == 0, "a new pid starts the rate again");
        t += 200000;
    }
    /* A restarted monitor reads the heartbeats it missed at once: they
     * measure no time, so they show no rate, and the first heartbeat after
     * them shows the worker's real one (2 tiles/s here), not the backlog's. */
    {
        long long s, done = 0;
        double most = 0;
        for (s = 0; s < 300; s++) {
            done += 2;
            beat_done("replayed", done, t + s / 10);
            if (find("replayed")->tiles_per_second > most) most = find("replayed")->tiles_per_second;
        }
        ok(most == 0, "a backlog read at once shows no rate (at most %.1f)", most);
        beat_done("replayed", done + 2, t + 1000);
        ok(find("replayed")->tiles_per_second > 1.9 && find("replayed")->tiles_per_second < 2.1,
           "the heartbeat after it shows the real rate (%.2f tiles/s)", find("replayed")->tiles_per_second);
        t += 200000;
    }

    /* A snapshot that cannot be written says why. */
    mkdtemp(path);
    chmod(path, 0500);
    snprintf(id, sizeof(id), "%s/workers.json", path);
    if (geteuid() == 0) {   /* root writes anywhere: take a path under a file instead */
        FILE *f;
        snprintf(id, sizeof(id), "%s/file", path);
        chmod(path, 0700);
        f = fopen(id, "w");
        if (f) fclose(f);
        snprintf(id, sizeof(id), "%s/file/workers.json", path);
    }
    ok(monitor_registry_write(&reg, NULL, id, t, err, sizeof(err)) < 0
       && strstr(err, "workers.json.tmp: ") && (strstr(err, "Permission denied") || strstr(err, "Not a directory")),
       "an unwritable snapshot names the file and the OS error: %s", err);
    snprintf(id, sizeof(id), "%s/file", path);
    unlink(id);
    chmod(path, 0700);
    snprintf(id, sizeof(id), "%s/workers.json", path);
    ok(monitor_registry_write(&reg, NULL, id, t, err, sizeof(err)) == 0 && access(id, R_OK) == 0, "a writable one is written");
    unlink(id);
    rmdir(path);
    return done_testing();
}
