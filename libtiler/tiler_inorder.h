/* In-order completion of Kafka messages processed out of order.
 *
 * A consumer that hands messages to several threads finishes them out of
 * order, but may only store an offset once every message below it is
 * finished: otherwise a crash would skip the unfinished ones. This tracker
 * keeps, per partition, the offsets in flight and says which offset may be
 * stored after each completion. Not thread-safe: the caller locks. */
#ifndef TILER_INORDER_H
#define TILER_INORDER_H

#include <stdint.h>

typedef struct tiler_inorder tiler_inorder;

tiler_inorder *tiler_inorder_new(void);
void tiler_inorder_free(tiler_inorder *t);

/* A message of this partition is taken (offsets rise within a partition).
 * -1 when out of memory. */
int tiler_inorder_begin(tiler_inorder *t, int32_t partition, int64_t offset);

/* The message is finished. Returns the offset to store now (the next one
 * to consume, so one past the finished run), or -1 if it stays as it was. */
int64_t tiler_inorder_done(tiler_inorder *t, int32_t partition, int64_t offset);

/* How many messages are in flight in all partitions. */
int tiler_inorder_pending(const tiler_inorder *t);

/* The partition was revoked: forget its state (it restarts from the
 * committed offset when it comes back). */
void tiler_inorder_forget(tiler_inorder *t, int32_t partition);

#endif
