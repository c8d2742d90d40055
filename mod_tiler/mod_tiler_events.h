/* GET {loc}/api/events[?job=ID]: Server-Sent Events with job progress and
 * worker changes. Each stream holds one httpd worker thread, so streams are
 * limited per child (TilerMaxEventStreams) and in length
 * (TilerEventStreamSeconds); browsers reconnect by themselves. */
#ifndef MOD_TILER_EVENTS_H
#define MOD_TILER_EVENTS_H

#include "mod_tiler.h"

int tiler_event_stream(request_rec *r, const char *base);

#endif
