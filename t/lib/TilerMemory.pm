# README's "Memory per process" as code, for the tests and benches that
# check measured peaks against it. The Kafka sizes and the encoder's rows
# are read from libtiler/tiler_defaults.h, where the programs get them.
package TilerMemory;
use strict;
use warnings;
use File::Basename ();
use File::Spec;

my $MiB = 1024 * 1024;
my %def;

sub defaults {
    return \%def if %def;
    my $h = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/../../libtiler/tiler_defaults.h');
    open my $fh, '<', $h or die "$h: $!";
    while (<$fh>) {
        next unless /^#define\s+(TILER_\w+)\s+(.*?)\s*(?:\/\*.*)?$/;
        my ($k, $v) = ($1, $2);
        next unless $v =~ /^[\d\s*()+]+$/;    # numbers and products only
        $def{$k} = eval $v;
    }
    return \%def;
}

sub kafka {
    my $d = defaults();
    return ($d->{TILER_PRODUCER_QUEUE_BYTES}, $d->{TILER_CONSUMER_QUEUE_BYTES}, $d->{TILER_CONSUMER_FETCH_BYTES});
}

# One encoder thread making a strip of a W-wide result: the raster rows it
# reads at a time, libjpeg's or the PNG filter's row buffers (48 W at most)
# and zlib's or libjpeg's state and 64 KiB of output (1 MiB, generously).
sub chunk_rows {
    my ($W) = @_;
    my $d = defaults();
    my $rows = int($d->{TILER_STRIP_CHUNK_BYTES} / (4 * $W));
    return $rows < 1 ? 1 : $rows > $d->{TILER_STRIP_CHUNK_ROWS} ? $d->{TILER_STRIP_CHUNK_ROWS} : $rows;
}
sub encoder { my ($W) = @_; return 4 * $W * chunk_rows($W) + 48 * $W + $MiB }

# The tile size a W-wide upload gets (tiler_band_fit_tile): TilerTileSize
# halved while the band is over TilerMaxBandBytes, down to 16.
sub fit_tile {
    my ($W, $T, $h, $max) = @_;
    $max //= defaults()->{TILER_DEFAULT_MAX_BAND_BYTES};
    $T /= 2 while $W * ($T + 2 * $h) * 4 > $max && $T % 2 == 0 && $T / 2 >= 16;
    return $T;
}

# The httpd child that takes a W-wide upload and also runs the results
# consumer: the band, the tile being cut, the producer's queue, the results
# consumer's queue and fetch, the encoder threads (TilerEncodeThreads) and
# 64 MiB for httpd itself and its libraries. T is TilerTileSize: the job's
# tile is what TilerMaxBandBytes leaves of it.
sub httpd {
    my ($W, $T, $h, $threads) = @_;
    my ($pq, $q, $f) = kafka();
    $T = fit_tile($W, $T, $h);
    $threads //= defaults()->{TILER_DEFAULT_ENCODE_THREADS};
    return $W * ($T + 2 * $h) * 4 + ($T + 2 * $h)**2 * 4 + $pq + $q + $f + $threads * encoder($W) + 64 * $MiB;
}

# A worker with a backlog: its consumer's queue and fetch, its producer's
# queue, per thread two tasks waiting and up to five copies of a tile with
# halo (sharpen's blurred copy; edges' byte of luma a pixel): 29 bytes a
# tile pixel, and 24 MiB for the process, librdkafka and libraries.
sub worker {
    my ($T, $h, $threads) = @_;
    my ($pq, $q, $f) = kafka();
    $threads //= 2;
    return $pq + $q + $f + $threads * 29 * ($T + 2 * $h)**2 + 24 * $MiB;
}

# tiler-worker --local: 12 W (256 + 2h), and 32 MiB for the process.
sub local_mode { my ($W, $h) = @_; return 12 * $W * (256 + 2 * $h) + 32 * $MiB }

1;
