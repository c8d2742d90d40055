# A gigapixel JPEG through the running system: a 32768 x 32768 baseline JPEG
# (1,073,741,824 pixels, twice the old 536,870,911 ceiling, with
# TilerMaxPixels and TilerMaxUploadBytes raised) is uploaded, tiled over
# Kafka by two workers, reassembled and downloaded, and comes back identical
# to tiler-worker --local on the same file, every row compared by hash
# (neither image is ever whole in memory here). While it runs the test
# samples the peak memory (VmHWM) of httpd's child, the workers and local
# mode against README's Memory formulas, and the job's disk use in the
# spool against its upload plus its result.
#
# The image is cheap: one flat colour with small squares of detail
# (t/tools/tiler-bigimg, written a row at a time with libjpeg), a few
# megabytes, and a point op with a 1-pixel blur. The 4-gigapixel PNG of the
# same kind is in bench/run (--size 4096): on this project's 2-core machine
# a 65500 x 65500 one took 350 s through the system, 136 s more in local
# mode, 32 GiB of room for a PNG result and 16 GiB of results on the
# broker, too much for the test suite (README, Performance).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use TilerTest;
use TilerMemory;

my ($W, $H) = (($ENV{TILER_GIGA_SIDE} // 32768) x 2);   # square, a multiple of the tile size
my $OPS = 'invert,blur:1';
my ($T, $HALO) = (512, 1);
my $MiB = 1024 * 1024;

my $t = TilerTest->new(name => 'giga', directives => join("\n",
    'TilerMaxPixels 5000000000', 'TilerMaxUploadBytes 1073741824',
    # No zoomable view: this test is about the job's memory and disk (the
    # finished job holds only its result), and a 1 GP pyramid takes minutes.
    'TilerZoom Off',
    # One child takes the upload and runs the results consumer: its peak
    # holds everything httpd does for a job (as in t/32-big.t).
    'StartServers 1', 'ServerLimit 1', 'MaxRequestWorkers 16', 'MinSpareThreads 1', 'MaxSpareThreads 17', ''),
    allow_log => [qr/AH30301: kafka results consumer CONFWARN: .*compression\.codec is a producer property/]);
TilerTest::need($t->kafka_ready, "a Kafka broker on $t->{brokers} (scripts/kafka start)");
$t->start_httpd;
$t->start_worker($_) for 1, 2;
$t->start_monitor;

sub hwm {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    my ($kb) = do { local $/; <$fh> } =~ /^VmHWM:\s+(\d+) kB/m;
    return $kb // 0;
}

# Peak VmHWM (KiB) of httpd's children, and of each worker's processes
# (the supervisor and the worker proper, its child).
sub peaks {
    my %p = (httpd => 0);
    my $parent = $t->httpd_pid;
    for my $status (glob '/proc/[0-9]*/status') {
        open my $fh, '<', $status or next;
        my $s = do { local $/; <$fh> };
        next unless $s =~ /^PPid:\s+$parent$/m && $s =~ /^Name:\s+apache2$/m;
        my ($kb) = $s =~ /^VmHWM:\s+(\d+) kB/m;
        $p{httpd} = $kb if ($kb // 0) > $p{httpd};
    }
    for my $w (1, 2) {
        my $pid = $t->{pids}{"worker$w"} or next;
        for my $q ($pid, split ' ', `pgrep -P $pid`) { my $kb = hwm($q); $p{worker} = $kb if $kb > ($p{worker} // 0) }
    }
    return \%p;
}

# Blocks the job's files hold on disk (bytes): the raster is sparse, and
# what punch-hole freed no longer counts.
sub disk_use {
    my ($dir) = @_;
    my $sum = 0;
    for my $f (glob "$dir/*") { my @s = stat $f or next; $sum += $s[12] * 512 }
    return $sum;
}

my $img = $t->dir . '/giga.jpg';
my $t0 = time;
system($t->bin('t/tools/tiler-bigimg'), $img, $W, $H, 11) == 0 or die 'tiler-bigimg failed';
my $upload = -s $img;
note(sprintf('made a %ux%u baseline JPEG of %.1f MiB in %.1f s', $W, $H, $upload / $MiB, time - $t0));
ok($W * $H > 536_870_911, "the image, ${W}x$H, is above the old ceiling of 536,870,911 pixels");

$t0 = time;
# The 202 comes once every tile is out, when the upload has decoded at the
# pace the workers take tasks: minutes on a slow machine, not the 60 s the
# other tests' requests wait.
my ($r, $j) = do {
    local $t->{http} = HTTP::Tiny->new(timeout => 900, keep_alive => 0);
    $t->submit($img, $OPS);
};
is($r->{status}, 202, 'a 1-gigapixel JPEG is accepted') or do {
    diag($r->{content});
    $t->finish;
    done_testing;
    exit 1;
};
my $dir = $t->dir . "/spool/jobs/$j->{id}";
my ($s, $peak_disk, $raster_size) = (undef, 0, undef);
my $deadline = time + 900;
while (time < $deadline) {
    (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    my $d = disk_use($dir);
    $raster_size //= -s "$dir/raster";
    $peak_disk = $d if $d > $peak_disk;
    last if $s && ($s->{state} eq 'done' || $s->{state} eq 'failed');
    sleep 0.2;
}
my $took = time - $t0;
is($s->{state}, 'done', sprintf('done in %.1f s end to end (%.1f MP/s)', $took, $W * $H / 1e6 / $took)) or diag(explain $s);
is($s->{tiles_total}, ($W / $T) ** 2, "in $s->{tiles_total} tiles");
my $out = $t->dir . '/giga.result.png';
my $res = $t->{http}->mirror("$t->{url}/tiler/api/jobs/$j->{id}/result", $out);
ok($res->{success}, 'result downloaded (' . (-s $out // 0) . ' bytes)');
my $result = -s $out // 0;
my $p = peaks();

# Local mode on the same file, its peak sampled while it runs.
$t0 = time;
my $local = "$img.local.png";
my $pid = fork // die "fork: $!";
if (!$pid) { exec $t->bin('tiler-worker/tiler-worker'), '--local', $img, $local, '--ops', $OPS or die "exec: $!" }
my $local_peak = 0;
while (waitpid($pid, POSIX::WNOHANG()) == 0) { my $kb = hwm($pid); $local_peak = $kb if $kb > $local_peak; sleep 0.1 }
is($?, 0, sprintf('local mode on the same file took %.1f s', time - $t0));
my ($msg, $same) = $t->imgcmp_stream($out, $local);
ok($same, "identical to local mode, every row ($msg)");

# README, Memory per process (t/lib/TilerMemory.pm, with the Kafka sizes
# of libtiler/tiler_defaults.h). httpd's child: the band, W(T + 2h) * 4,
# Kafka's producer queue, the results consumer's queue and fetch, two
# encoder threads reading the raster 32 rows at a time, and 64 MiB for
# httpd itself. A worker: its consumer's queue and fetch, which a backlog
# of tasks fills (this flat image decodes far faster than two workers
# process it), its producer's queue and its threads' tiles. Local mode:
# about 12W(256 + 2h), plus 32 MiB for the process and libraries.
my %model = (httpd => TilerMemory::httpd($W, $T, $HALO), worker => TilerMemory::worker($T, $HALO),
             local => TilerMemory::local_mode($W, $HALO));
my %got = (%$p, local => $local_peak);
for my $k (qw(httpd worker local)) {
    ok($got{$k} > 0 && $got{$k} * 1024 <= $model{$k},
       sprintf('%s peaked at %.0f MiB, within the model for a %u-pixel width (%.0f MiB)', $k, $got{$k} / 1024, $W,
               $model{$k} / $MiB));
}
# The issue's goals, whatever the image's size.
ok($got{httpd} * 1024 <= 256 * $MiB, sprintf('httpd\'s child within 256 MiB (%.0f MiB)', $got{httpd} / 1024));
ok($got{worker} * 1024 <= 128 * $MiB, sprintf('every worker within 128 MiB (%.0f MiB)', $got{worker} / 1024));
my $whole = $W * $H * 4;
ok($got{httpd} * 1024 < $whole / 8, sprintf('httpd\'s child: under an eighth of the decoded image (%.0f MiB)', $whole / 8 / $MiB));

# The spool: the upload, the result so far and the rows of tiles still being
# assembled; the raster (R G B here, 3 bytes a pixel: the JPEG has no
# transparency) is freed as its rows are encoded.
# How many rows are in progress at once depends on how evenly the workers
# go through the tasks' partitions (10 of 64 measured with the defaults, 55
# with smaller fetches), so the bound is the room the job was admitted
# with: raster and result besides the upload (the 507 check).
is($raster_size, $W * $H * 3, 'its raster was R G B, 3 bytes a pixel');
my $row = 3 * $T * $W;
note(sprintf('spool: the job peaked at %.1f MiB on disk; upload %.1f MiB, result %.1f MiB, a row of tiles of raster %.0f MiB, '
             . 'the whole raster %.0f MiB', $peak_disk / $MiB, $upload / $MiB, $result / $MiB, $row / $MiB, $whole * 3 / 4 / $MiB));
ok($peak_disk >= $upload, 'the spool sampling saw the job');
ok($peak_disk <= $upload + $result + $whole * 3 / 4,
   sprintf('the job\'s peak on disk (%.0f MiB) is within upload + result + raster (%.0f MiB)', $peak_disk / $MiB,
           ($upload + $result + $whole * 3 / 4) / $MiB));
is(join(' ', map { s{.*/}{}r } glob("$dir/*")), 'result', 'the finished job holds only its result');

$t->finish;
# The topics keep their messages for a day: 4 GiB of results on the
# broker's disk for every run, unless deleted.
is(system($t->bin('t/tools/tiler-deltopics'), $t->{brokers}, sort values %{ $t->{topics} }), 0,
   'the test\'s topics are deleted from the broker');
done_testing;
