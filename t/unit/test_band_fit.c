/* What keeps an httpd child's memory from growing with an upload's width:
 * the tile size a job gets under TilerMaxBandBytes (tiler_band_fit_tile),
 * and the rows an encoder thread reads at a time (tiler_strip_chunk_rows). */
#include "tap.h"
#include "tiler_band.h"
#include "tiler_defaults.h"
#include "tiler_strip.h"

#define MiB (1024ull * 1024)

int main(void)
{
    uint32_t w;
    ok(tiler_band_fit_tile(32768, 512, 9, 1, 128 * MiB) == 512, "32,768 wide at blur:3: 512-pixel tiles (68 MiB band)");
    ok(tiler_band_fit_tile(65536, 512, 9, 1, 128 * MiB) == 256, "65,536 wide: 256 (530 rows would be 136 MiB)");
    ok(tiler_band_fit_tile(2000, 256, 0, 1, MiB) == 128 && tiler_band_fit_tile(2000, 256, 6, 1, MiB) == 64,
       "2,000 wide under 1 MiB: 128 with no halo, 64 with a 6-pixel one");
    ok(tiler_band_fit_tile(1u << 20, 512, 1, 1, 128 * MiB) == 16, "2^20 wide: down to 16, the least, even if over");
    ok(tiler_band_fit_tile(1u << 20, 512, 1, 64, 128 * MiB) == 64, "...but a multiple of the chain's downscale (64)");
    ok(tiler_band_fit_tile(1u << 20, 100, 1, 1, 128 * MiB) == 25, "an odd half is where halving stops (100, 50, 25)");
    ok(tiler_band_fit_tile(100000, 2048, 0, 1, 1ull << 40) == 2048, "no limit to speak of: TilerTileSize");
    for (w = 1; w <= (1u << 20); w = w * 3 + 1) {
        uint32_t t = tiler_band_fit_tile(w, 512, 4, 2, 128 * MiB);
        if ((uint64_t)w * (t + 8) * 4 > 128 * MiB && t > 16) { ok(0, "%u wide: %u-pixel tiles over the limit", w, t); break; }
    }
    ok(w > (1u << 20), "every width up to 2^20: within the limit, or at the least tile");

    ok(tiler_strip_chunk_rows(1) == TILER_STRIP_CHUNK_ROWS && tiler_strip_chunk_rows(32768) == 32,
       "32 rows a read up to 32,768 wide (4 MiB)");
    ok(tiler_strip_chunk_rows(65536) == 16 && tiler_strip_chunk_rows(1u << 20) == 1, "16 at 65,536, one row at 2^20");
    for (w = 1; w <= (1u << 20); w = w * 2 + 1)
        if ((uint64_t)tiler_strip_chunk_rows(w) * w * 4 > TILER_STRIP_CHUNK_BYTES && tiler_strip_chunk_rows(w) > 1) break;
    ok(w > (1u << 20), "never more than TILER_STRIP_CHUNK_BYTES but for one row");
    return done_testing();
}
