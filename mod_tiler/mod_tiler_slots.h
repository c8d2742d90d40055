/* A bound on the uploads decoding at once, across every httpd child: each
 * decoding upload holds one of n slot files (<spool>/slots/<i>) under an
 * flock, which the kernel drops when the file is closed or the holder dies,
 * so a crashed child leaks no slot. Without it, uploads arriving together
 * all pass the TilerMaxJobs check (a job is recorded only at its first
 * decoded rows) and each decodes a whole image at once. */
#ifndef MOD_TILER_SLOTS_H
#define MOD_TILER_SLOTS_H

#include "mod_tiler.h"

/* Takes a free slot of n until r's pool is cleared. 0 when taken, -1 when
 * all n are held, -2 on an error (logged). */
int tiler_decode_slot_take(request_rec *r, const char *spool_dir, int n);

/* The same for another set of n slots (<spool>/slots/<set><i>), held until
 * the pool hold is cleared. Thumbnails use the set "thumb-". */
int tiler_slot_take(request_rec *r, apr_pool_t *hold, const char *spool_dir, const char *set, int n);

#endif
