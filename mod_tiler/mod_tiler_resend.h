/* The safety net under at-least-once delivery: a job's tiles that were lost
 * on the way (a broker that acknowledged and then lost a task, a client
 * library bug) are cut from the kept upload and produced again. Runs on the
 * results consumer's thread, so that at most one process does it. */
#ifndef MOD_TILER_RESEND_H
#define MOD_TILER_RESEND_H

#include "mod_tiler.h"
#include "tiler_store.h"

typedef struct tiler_resend tiler_resend;

/* State that lives in pool p (a Kafka handle in the workers' group, made
 * on first need, closed with p). */
tiler_resend *tiler_resend_create(server_rec *s, apr_pool_t *p);

/* Looks at jobs without progress for TilerResendSeconds. A job's tiles are
 * lost when the workers' group has consumed past every one of its tasks and
 * the results consumer (results) has read everything it was given; those
 * tiles are produced again, up to TILER_MAX_RESENDS times, and then the job
 * fails. scratch is cleared by the caller. */
void tiler_resend_check(tiler_resend *x, tiler_store *store, rd_kafka_t *results, apr_pool_t *scratch);

#endif
