/* Writing answers: JSON documents and JSON errors, made with yajl. */
#ifndef MOD_TILER_RESPOND_H
#define MOD_TILER_RESPOND_H

#include <yajl/yajl_gen.h>
#include "mod_tiler.h"
#include "tiler_store.h"

/* Sends g's document with status and frees g. Returns OK. */
int tiler_send_json(request_rec *r, int status, yajl_gen g);
/* {"error": code, "message": msg} with status. Returns OK. */
int tiler_send_error(request_rec *r, int status, const char *code, const char *msg);
int tiler_method_not_allowed(request_rec *r, const char *allow);
/* The job store for this request (closed with the request), or NULL after logging why. */
tiler_store *tiler_request_store(request_rec *r);
/* Looks a job up by the id in the URL. 0 with the job; otherwise an error
 * answer (404 for anything that is not a known valid id) was sent and its
 * return value is in *sent. */
int tiler_find_job(request_rec *r, const char *id, tiler_job *job, int *sent);

#endif
