/* Every default and hard limit of mod_tiler and its daemons, in one place.
 * The module's directives, the daemons' options and the docs refer to these. */
#ifndef TILER_DEFAULTS_H
#define TILER_DEFAULTS_H

#define TILER_VERSION_STRING        "0.1.0"

/* Kafka */
#define TILER_DEFAULT_BROKERS       "127.0.0.1:9092"
#define TILER_DEFAULT_TOPIC_TASKS   "tasks"
#define TILER_DEFAULT_TOPIC_RESULTS "results"
#define TILER_DEFAULT_TOPIC_HEARTBEATS "heartbeats"
#define TILER_DEFAULT_TOPIC_DEAD_LETTERS "dead-letters"
#define TILER_DEFAULT_WORKER_GROUP  "tiler-workers"
#define TILER_DEFAULT_RESULTS_GROUP "tiler-results"
#define TILER_DEFAULT_MONITOR_GROUP "tiler-monitor"

/* Topic layout set on creation (see conf/topics.md). */
#define TILER_TASKS_PARTITIONS      12   /* default of TilerTasksPartitions / --tasks-partitions */
#define TILER_MAX_TASKS_PARTITIONS  1024 /* their upper bound (the monitor follows at most this many) */
#define TILER_RESULTS_PARTITIONS    4
#define TILER_HEARTBEATS_PARTITIONS 1
#define TILER_DEAD_LETTERS_PARTITIONS 1
#define TILER_TASKS_RETENTION_MS    "86400000"   /* 1 day */
#define TILER_RESULTS_RETENTION_MS  "86400000"
#define TILER_HEARTBEATS_RETENTION_MS "3600000"  /* 1 hour */
#define TILER_DEAD_LETTERS_RETENTION_MS "604800000" /* 7 days: time to look */
#define TILER_DEFAULT_FORGET_AFTER_MS 3600000LL   /* the monitor forgets a dead worker after an hour */
#define TILER_DEFAULT_MAX_CRASHES   2   /* a task that crashed the worker this often is skipped */
/* The largest message any tile may become (header + pixels). Topics, the
 * producer's message.max.bytes and the consumers' fetch sizes follow it. */
#define TILER_MAX_MESSAGE_BYTES     (32 * 1024 * 1024)
/* What a Kafka client may hold, per process (README, Memory per process);
 * tiler_kafka.c derives every client limit from these, and TilerKafkaProperty
 * or -X override them. A producer waits for room past its queue. A
 * consumer stops fetching once its queue holds TILER_CONSUMER_QUEUE_BYTES,
 * and a fetch brings at most TILER_CONSUMER_FETCH_BYTES more (or one
 * message, if larger): the queue peaks at the sum. librdkafka 2.0 fetches
 * a partition whose queue was full again only about a second later, so the
 * queue holds more than a second of a worker's tasks (about 52 MiB/s for a
 * worker with two threads on this project's 2-core machine at 1 GP); a
 * smaller one starves the workers (16 + 16 MiB took 153 s where the
 * defaults took about 60 at 1 GP). */
#define TILER_PRODUCER_QUEUE_BYTES  (16 * 1024 * 1024)
#define TILER_CONSUMER_QUEUE_BYTES  (64 * 1024 * 1024)
#define TILER_CONSUMER_FETCH_BYTES  (8 * 1024 * 1024)
/* Blocks this big or bigger are mapped on their own and unmapped when
 * freed, in the workers and httpd's children (tiler_malloc.c). */
#define TILER_MMAP_THRESHOLD        (256 * 1024)

/* The spool (TilerSpoolDir); relative paths are under ServerRoot. */
#define TILER_DEFAULT_SPOOL_DIR     "/var/lib/apache2/tiler"

/* Images and tiles */
#define TILER_DEFAULT_TILE_SIZE     512
#define TILER_MIN_TILE_SIZE         16
#define TILER_MAX_TILE_SIZE         2048
#define TILER_DEFAULT_MAX_UPLOAD    (256L * 1024 * 1024)      /* bytes */
/* An image's pixels cost memory only through a band of its width (see
 * tiler_band.h); the limit is the disk's: 1 to 4 bytes a pixel of raster
 * (tiler_raster.h). */
#define TILER_DEFAULT_MAX_PIXELS    (1000LL * 1000 * 1000)    /* 1 GP: a raster of up to 4 GB */
#define TILER_HARD_MAX_PIXELS       (1LL << 36)               /* 68.7 GP; tile indexes stay 32-bit */
/* Formats whose decoder holds the whole image (tiler_decodes_whole): up
 * to 4 bytes a pixel in the httpd child, hence a limit of their own. */
#define TILER_DEFAULT_MAX_WHOLE_DECODE_PIXELS (64LL * 1000 * 1000)   /* 64 MP: 256 MB */
/* The most pixels of one JPEG-compressed TIFF strip (width x rows per
 * strip) or tile: libjpeg holds a progressive JPEG's coefficients whole,
 * 2 bytes a sample (at most 96 MB for 3 samples); baseline ones are held
 * to it too (tiler_tiff.c cannot tell them apart from the directory). */
#define TILER_TIFF_MAX_JPEG_PIXELS  (16u * 1000 * 1000)
/* Tiled TIFF uploads whose tiles the workers decode (tiler_tiff_task.h).
 * The protocol's bound: a worker decodes a task's tiles only when they
 * make at most this many pixels, counting whole tiles (4 bytes a pixel
 * decoded). A web host's own choice, below, must stay within it, so that
 * tasks of any web host are taken by any worker of the same version. */
#define TILER_TIFF_TASK_MAX_PIXELS  (4u << 20)
/* The web host sends a tiled TIFF's tiles to the workers when every task's
 * tiles make at most FIT pixels and the tasks together make at most RATIO
 * times the image's (a tile under several tasks' sources, halos included,
 * is decoded by each); it decodes the upload itself otherwise, as it does
 * strips. */
#define TILER_TIFF_TASK_FIT_PIXELS  (2u << 20)
#define TILER_TIFF_TASK_MAX_RATIO   4.0
/* TilerMaxBandBytes: an upload's band, W x (tile + 2 halo) x 4 bytes, is
 * kept under this by halving the job's tile size (down to 16) for wide
 * images: 512-pixel tiles up to about 61,000 pixels wide at blur:3, 256
 * at 65,536. */
#define TILER_DEFAULT_MAX_BAND_BYTES (128 * 1024 * 1024)
/* The widest or tallest image: a band is (tile + 2 halo) rows this wide. */
#define TILER_MAX_SIDE              (1u << 20)
#define TILER_MAX_OPS               16
#define TILER_DEFAULT_MAX_JOBS      64        /* queued or running */
#define TILER_DEFAULT_JOB_TTL       86400     /* seconds a finished job is kept */
#define TILER_DEFAULT_SIGMA         3.0
#define TILER_MAX_SIGMA             64.0
/* A chain's downscale factors multiplied: a task's source is that many
 * tiles a side, so this bounds a task (and the context it carries). */
#define TILER_MAX_SCALE             64
#define TILER_SIGMA_DECIMALS        6
/* The other ops' parameters (README, ops). */
#define TILER_MAX_SHARPEN_SIGMA     16.0
#define TILER_DEFAULT_SHARPEN_SIGMA 1.0
#define TILER_DEFAULT_SHARPEN_AMOUNT 1.0
#define TILER_MAX_SHARPEN_AMOUNT    10.0
#define TILER_MAX_CONTRAST          10.0
#define TILER_MIN_GAMMA             0.1
#define TILER_MAX_GAMMA             10.0
#define TILER_JPEG_QUALITY          90
/* zlib level of PNG results. Our encoder (tiler_png.c) at 3 with the Up
 * filter made files within 3% of libgd's level 6 on generated photographs,
 * in a fifth of the time (bench/). */
#define TILER_PNG_LEVEL             3
/* zlib level of a TIFF result's tiles, deflated by the workers after
 * horizontal differencing (Predictor 2). The web host only places the
 * bytes: its cost does not depend on it. On a 64 MP photo-like JPEG with
 * blur:3 in local mode, level 3 took 7.2 s for 56.5 MB, level 6 (zlib's
 * default) 16.4 s for 47.9 MB (session 8): level 3, as for PNG. (71.6 MB
 * at level 6 without the predictor.) */
#define TILER_TIFF_LEVEL            3
#define TILER_PNG_STRIP_ROWS        256   /* rows per strip when one process encodes a whole image */
#define TILER_DEFAULT_ENCODE_THREADS 2    /* TilerEncodeThreads */
/* Raster rows an encoder thread reads at a time for a strip of the result
 * (tiler_strip.c): this many, or fewer so that they take at most
 * TILER_STRIP_CHUNK_BYTES (4 x width bytes a row), at least one: 32 rows
 * up to 32,768 pixels wide, 16 at 65,536, whatever the tile size. */
#define TILER_STRIP_CHUNK_ROWS      32
#define TILER_STRIP_CHUNK_BYTES     (4 * 1024 * 1024)

/* Web pages and live updates */
#define TILER_DEFAULT_MAX_EVENT_STREAMS 8         /* per httpd child */
#define TILER_DEFAULT_EVENT_STREAM_SECONDS 300
/* Thumbnails (?thumb=N) are made from the result as a stream, up to this side. */
#define TILER_THUMB_MIN             16
#define TILER_THUMB_MAX             2048
/* Thumbnails decoding a result at once, across the server; more get 503. */
#define TILER_THUMB_DECODES         2
/* A job page shows a result of more pixels than this (TilerPreviewAbovePixels)
 * as a preview of TILER_PREVIEW_SIDE pixels on its long side: a browser
 * decodes an image whole, 4 bytes a pixel, so 16 MP is 64 MiB of its memory. */
#define TILER_DEFAULT_PREVIEW_ABOVE_PIXELS (16L * 1000 * 1000)
#define TILER_PREVIEW_SIDE          2048
/* TilerZoom: such a result also gets a zoomable view, a DZI pyramid of
 * 256-pixel PNG tiles (tiler_pyramid.h), fed as the result is assembled
 * (tiler_zoom_feed.h) or built from it once the job is done. */
#define TILER_DEFAULT_ZOOM          1
/* TilerPngRows: a PNG job's workers deflate its tiles' rows and the web
 * host joins them (tiler_png_tile.h, docs/protocol.md codec 3). Off by
 * default, by measurement (docs/scaling.md): per-row pieces made a blur:8
 * photo's PNG a third larger, the workers' CPU per pixel doubled, and on
 * one 2-core machine nothing was faster; it pays where the web host is the
 * limit and worker hosts are many. */
#define TILER_DEFAULT_PNG_ROWS      0
/* zlib level of the pyramid's tiles: the fastest, the tiles are many and small. */
#define TILER_ZOOM_PNG_LEVEL        1
/* The most raster a PNG job keeps for its zoom pyramid's feed: rows
 * encoded before the feed has read them (it reads strips in order, and
 * strip 0 may be the last to come). Past this the feed is given up, its
 * rows freed, and the pyramid built from the result once the job is done. */
#define TILER_ZOOM_FEED_MAX_HELD_BYTES (1024ull * 1024 * 1024)

/* Timing */
#define TILER_DEFAULT_STUCK_SECONDS 60
/* A job without progress this long, whose tasks the workers have all
 * consumed, has lost tiles on the way: they are produced again, at most
 * TILER_MAX_RESENDS times before the job fails. */
#define TILER_DEFAULT_RESEND_SECONDS 30
#define TILER_MAX_RESENDS           3
#define TILER_DEFAULT_PRODUCE_TIMEOUT_MS 30000
#define TILER_DEFAULT_HEARTBEAT_MS  5000
#define TILER_DEFAULT_DEAD_AFTER_MS 15000
#define TILER_DEFAULT_SESSION_TIMEOUT_MS 6000    /* the broker's minimum: recovery in seconds */

#endif
