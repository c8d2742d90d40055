/* The worker registry: what each worker last said, and whether it is alive. */
#ifndef MONITOR_REGISTRY_H
#define MONITOR_REGISTRY_H

#include <stddef.h>

#define MONITOR_MAX_WORKERS 1024
/* A worker's tiles/s is measured over about this long, not over one
 * heartbeat interval: a worker whose tiles each take longer than an
 * interval would otherwise flicker between 0 and twice its real rate. */
#define MONITOR_RATE_WINDOW_MS 10000
#define MONITOR_RATE_SAMPLES 16

typedef struct {
    char id[128], host[128], current_job[40], version[32];
    long long pid, tiles_done, uptime_s;
    long long threads;      /* the worker's --threads; 0 from an older worker */
    long long last_seen_ms;   /* this monitor's clock */
    long long interval_ms;    /* the worker's heartbeat interval, as it says */
    double tiles_per_second;  /* over the last MONITOR_RATE_WINDOW_MS or so */
    /* Heartbeats within the window, oldest first: (when, tiles_done). */
    long long sample_ms[MONITOR_RATE_SAMPLES], sample_done[MONITOR_RATE_SAMPLES];
    int samples;
    int state;                /* MONITOR_ALIVE, MONITOR_SUSPECT, MONITOR_DEAD */
} monitor_worker;

enum { MONITOR_ALIVE, MONITOR_SUSPECT, MONITOR_DEAD };

typedef struct {
    monitor_worker workers[MONITOR_MAX_WORKERS];
    int count;
    long long dead_after_ms;
    long long forget_after_ms;  /* a dead worker silent this long is dropped (0: never) */
    int suspect_after_missed;   /* heartbeats */
} monitor_registry;

/* Applies one heartbeat (the JSON a worker sends). 0, or -1 with a reason. */
int monitor_registry_heartbeat(monitor_registry *r, const char *json, size_t len, long long now_ms,
                               char *err, size_t errlen);
/* Marks workers suspect after suspect_after_missed missed heartbeats and
 * dead after dead_after_ms, and forgets dead ones silent for
 * forget_after_ms, so that the registry makes room for new worker ids;
 * logs every transition. */
void monitor_registry_sweep(monitor_registry *r, long long now_ms);
/* Writes {"workers": [...], "cluster": {...}} to path atomically (temp
 * file + rename). cluster may be NULL. 0, or -1 with the file and the OS
 * error in err. */
int monitor_registry_write(const monitor_registry *r, const void *cluster, const char *path, long long now_ms,
                           char *err, size_t errlen);

#endif
