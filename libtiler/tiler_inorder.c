#include "tiler_inorder.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t partition;
    int64_t *inflight;      /* ascending: begun in offset order */
    int n, cap;
    int64_t highest_done;   /* -1: none yet */
    int64_t stored;         /* last offset returned to store, or the first begun */
} part;

struct tiler_inorder {
    part *parts;
    int n, cap;
    int pending;
};

tiler_inorder *tiler_inorder_new(void)
{
    return calloc(1, sizeof(tiler_inorder));
}

void tiler_inorder_free(tiler_inorder *t)
{
    int i;
    if (!t) return;
    for (i = 0; i < t->n; i++) free(t->parts[i].inflight);
    free(t->parts);
    free(t);
}

static part *find(tiler_inorder *t, int32_t partition, int create)
{
    int i;
    for (i = 0; i < t->n; i++)
        if (t->parts[i].partition == partition) return &t->parts[i];
    if (!create) return NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 8;
        part *p = realloc(t->parts, sizeof(*p) * (size_t)cap);
        if (!p) return NULL;
        t->parts = p;
        t->cap = cap;
    }
    memset(&t->parts[t->n], 0, sizeof(part));
    t->parts[t->n].partition = partition;
    t->parts[t->n].highest_done = -1;
    t->parts[t->n].stored = -1;
    return &t->parts[t->n++];
}

int tiler_inorder_begin(tiler_inorder *t, int32_t partition, int64_t offset)
{
    part *p = find(t, partition, 1);
    if (!p) return -1;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        int64_t *f = realloc(p->inflight, sizeof(*f) * (size_t)cap);
        if (!f) return -1;
        p->inflight = f;
        p->cap = cap;
    }
    /* Where consumption started needs no store. */
    if (p->stored < 0) p->stored = offset;
    p->inflight[p->n++] = offset;
    t->pending++;
    return 0;
}

int64_t tiler_inorder_done(tiler_inorder *t, int32_t partition, int64_t offset)
{
    part *p = find(t, partition, 0);
    int64_t next;
    int i;
    if (!p) return -1;
    for (i = 0; i < p->n && p->inflight[i] != offset; i++) { }
    if (i == p->n) return -1;   /* not ours (forgotten after a revoke) */
    memmove(p->inflight + i, p->inflight + i + 1, sizeof(int64_t) * (size_t)(p->n - i - 1));
    p->n--;
    t->pending--;
    if (offset > p->highest_done) p->highest_done = offset;
    /* Everything below the oldest message still in flight is finished. */
    next = p->n ? p->inflight[0] : p->highest_done + 1;
    if (next <= p->stored) return -1;
    p->stored = next;
    return next;
}

int tiler_inorder_pending(const tiler_inorder *t)
{
    return t->pending;
}

void tiler_inorder_forget(tiler_inorder *t, int32_t partition)
{
    part *p = find(t, partition, 0);
    if (!p) return;
    t->pending -= p->n;
    free(p->inflight);
    *p = t->parts[--t->n];
}
