/* The safety net under at-least-once delivery: a job's tiles that were lost
 * on the way (a broker that acknowledged and then lost a task, a client
 * library bug) are cut from the kept upload and produced again. Only the
 * child running the results consumer does it, and on a thread of its own:
 * decoding an upload and waiting for Kafka take seconds, which the results
 * consumer's (mod_watchdog's) thread must spend assembling other jobs. */
#ifndef MOD_TILER_RESEND_H
#define MOD_TILER_RESEND_H

#include "mod_tiler.h"
#include "tiler_store.h"

typedef struct tiler_resend tiler_resend;

/* Starts the resend thread (unless TilerResendSeconds is 0) and its state
 * (a Kafka handle in the workers' group, made on first need) in pool p.
 * Clearing p stops the thread: it finishes the job it is on and exits. */
tiler_resend *tiler_resend_create(server_rec *s, apr_pool_t *p);

/* Asks the thread for a check, and returns at once; asks made while a
 * check runs make one more check after it. A check looks at up to 16 jobs without
 * progress for TilerResendSeconds; a job's tiles are lost when the workers'
 * group has consumed past every one of its tasks and, asked after that, the
 * results consumer has been handed everything the results topic holds; they
 * are produced again, up to TILER_MAX_RESENDS times; then the job fails.
 * results must stay valid until tiler_resend_stop. */
void tiler_resend_kick(tiler_resend *x, rd_kafka_t *results);

/* Stops the thread now (it finishes the job it is on), before the results
 * consumer it was given goes. x may be NULL. */
void tiler_resend_stop(tiler_resend *x);

#endif
