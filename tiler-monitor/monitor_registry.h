/* The worker registry: what each worker last said, and whether it is alive. */
#ifndef MONITOR_REGISTRY_H
#define MONITOR_REGISTRY_H

#include <stddef.h>

#define MONITOR_MAX_WORKERS 1024

typedef struct {
    char id[128], host[128], current_job[40], version[32];
    long long pid, tiles_done, uptime_s;
    long long last_seen_ms;   /* this monitor's clock */
    int alive;
} monitor_worker;

typedef struct {
    monitor_worker workers[MONITOR_MAX_WORKERS];
    int count;
    long long dead_after_ms;
} monitor_registry;

/* Applies one heartbeat (the JSON a worker sends). 0, or -1 with a reason. */
int monitor_registry_heartbeat(monitor_registry *r, const char *json, size_t len, long long now_ms,
                               char *err, size_t errlen);
/* Marks workers dead whose last heartbeat is older than dead_after_ms; logs transitions. */
void monitor_registry_sweep(monitor_registry *r, long long now_ms);
/* Writes {"workers": [...]} to path atomically (temp file + rename). */
int monitor_registry_write(const monitor_registry *r, const char *path, long long now_ms);

#endif
