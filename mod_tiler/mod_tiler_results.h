/* The results consumer: a mod_watchdog singleton, so exactly one child at a
 * time assembles results. All its state is in the spool and the job store,
 * so it can move between children and survive restarts. */
#ifndef MOD_TILER_RESULTS_H
#define MOD_TILER_RESULTS_H

#include "mod_tiler.h"

/* Registers the singleton (post_config, second pass). NULL or an error. */
const char *tiler_results_register(apr_pool_t *p, server_rec *s);

#endif
