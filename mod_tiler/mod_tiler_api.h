/* The REST API under the handler's Location. */
#ifndef MOD_TILER_API_H
#define MOD_TILER_API_H

#include "mod_tiler.h"

int tiler_api_handler(request_rec *r);

#endif
