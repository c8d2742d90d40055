# Images of any size. An upload decodes into a band of tile size + 2 x halo
# rows, so a tall image goes through the running system, comes back
# identical to local mode, and the httpd children's peak memory (VmHWM) is
# the same for a short and a tall image of the same width. Formats that
# decode whole have their own limit (413), and sides past what the format or
# the band allow are refused. (An image above the old 536,870,911-pixel
# ceiling, a gigapixel, goes through in t/34-giga.t.)
#
# The big image is cheap: one flat colour with small squares of detail
# scattered over it (t/tools/tiler-bigimg, written a row at a time), and
# lz4 on httpd's producer squeezes its flat tasks to almost nothing. The
# results stay uncompressed: a consumer's fetch limits count compressed
# bytes, and one fetch of flat tiles would unpack to gigabytes in the
# child that assembles them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use TilerTest;
use TilerMemory;

my $W = $ENV{TILER_BIG_WIDTH} // 25000;
my $H = $ENV{TILER_BIG_HEIGHT} // 12000;    # 300 MP, three times the short image
my $OPS = 'invert,blur:1';

my $t = TilerTest->new(name => 'big', directives => join("\n",
    'TilerMaxPixels 700000000', 'TilerMaxWholeDecodePixels 200000', 'TilerKafkaProperty compression.type lz4',
    # No zoomable view: this test is about the job's memory and size, and a
    # pyramid of 300 MP would be built after each job, on the next test's time.
    'TilerZoom Off',
    # One child takes every upload and runs the results consumer: its peak
    # holds everything httpd does for a job, whatever child an upload hits.
    'StartServers 1', 'ServerLimit 1', 'MaxRequestWorkers 16', 'MinSpareThreads 1', 'MaxSpareThreads 17', ''),
    allow_log => [qr/AH30301: kafka results consumer CONFWARN: .*compression\.codec is a producer property/]);
TilerTest::need($t->kafka_ready, "a Kafka broker on $t->{brokers} (scripts/kafka start)");
$t->start_httpd;
$t->start_worker($_) for 1, 2;
$t->start_monitor;

sub big_image {
    my ($name, $w, $h, $seed) = @_;
    my $path = $t->dir . "/$name";
    system($t->bin('t/tools/tiler-bigimg'), $path, $w, $h, $seed) == 0 or die "tiler-bigimg failed";
    return $path;
}

# The httpd child's VmHWM, in KiB.
sub child_peak {
    my $parent = $t->httpd_pid;
    my $peak = 0;
    for my $status (glob '/proc/[0-9]*/status') {
        open my $fh, '<', $status or next;
        my $s = do { local $/; <$fh> };
        next unless $s =~ /^PPid:\s+$parent$/m && $s =~ /^Name:\s+apache2$/m;
        my ($hwm) = $s =~ /^VmHWM:\s+(\d+) kB/m or next;
        $peak = $hwm if $hwm > $peak;
    }
    return $peak;
}

# Runs a job to the end and compares the result with local mode, streaming
# both (neither is ever whole in memory here).
sub run_big {
    my ($img, $label) = @_;
    my $t0 = time;
    my ($r, $j) = $t->submit($img, $OPS);
    is($r->{status}, 202, "$label: accepted") or diag($r->{content});
    my ($s) = $t->wait_job($j->{id}, 600);
    is($s->{state}, 'done', "$label: done in " . sprintf('%.1f s', time - $t0)) or diag(explain $s);
    my $out = $t->dir . "/$label.result.png";
    my $res = $t->{http}->mirror("$t->{url}/tiler/api/jobs/$j->{id}/result", $out);
    ok($res->{success}, "$label: result downloaded (" . (-s $out // 0) . ' bytes)');
    my $t1 = time;
    my $local = $t->local_result($img, $OPS);
    note(sprintf('%s: local mode took %.1f s', $label, time - $t1));
    my ($msg, $same) = $t->imgcmp_stream($out, $local);
    ok($same, "$label: identical to local mode ($msg)");
}

# ---- formats that decode whole: their own limit ----
{
    my %kinds = ('png-interlaced' => ['i.png', qr/an interlaced PNG/], 'jpeg-progressive' => ['p.jpg', qr/a progressive JPEG/],
                 gif => ['g.gif', qr/a GIF/]);
    for my $kind (sort keys %kinds) {
        my ($name, $what) = @{ $kinds{$kind} };
        my $img = $t->make_image($name, 600, 400, $kind, 0, 3);
        my ($r, $j) = $t->submit($img, 'invert');
        is($r->{status}, 413, "$kind 600x400 over TilerMaxWholeDecodePixels: 413");
        is($j->{error}, 'too_many_pixels_to_decode_whole', "$kind: too_many_pixels_to_decode_whole");
        like($j->{message} // '', qr/240000 pixels, and $what decodes whole in memory: over TilerMaxWholeDecodePixels \(200000\)/,
             "$kind: says why: " . ($j->{message} // ''));
    }
    # The same size in the kinds that stream is fine (CMYK too: converted
    # row by row as libgd would).
    for my $kind ('png', 'jpeg-cmyk') {
        my $img = $t->make_image("s-$kind." . ($kind eq 'png' ? 'png' : 'jpg'), 600, 400, $kind, 0, 3);
        my ($r, $j) = $t->submit($img, 'invert');
        is($r->{status}, 202, "$kind 600x400 decodes in bands: 202");
        my ($s) = $t->wait_job($j->{id}, 60);
        is($s->{state}, 'done', "$kind: done");
        my ($msg, $same) = $t->matches_local($j->{id}, $img, 'invert');
        ok($same, "$kind: identical to local mode ($msg)");
    }
}

# ---- sides ----
{
    my $img = big_image('wide.png', (1 << 20) + 1, 1, 5);
    my ($r, $j) = $t->submit($img, 'invert');
    is($r->{status}, 413, 'a PNG 1048577 pixels wide: 413');
    like($j->{message} // '', qr/1048577x1: a png image may be at most 1048576 pixels a side/, 'says the limit: ' . ($j->{message} // ''));
}

# ---- a short and a tall image of the same width ----
# The short one is tall enough to fill every queue (Kafka's, the results
# consumer's, the encoders'), so that what differs is only the height.
my $short = big_image('short.png', $W, 4000, 7);
run_big($short, 'short');
my $peak_short = child_peak();
my $big = big_image('tall.png', $W, $H, 3);
ok($H >= 3 * 4000, "the tall image, ${W}x$H, is at least three times the short one");
run_big($big, 'tall');
my $peak_tall = child_peak();
my $whole = $W * $H * 4 / 1024;    # KiB: the decoded image a child held before
note(sprintf('the httpd child peaked at %.0f MiB after the %ux4000 job, %.0f MiB after the %ux%u one (a whole image: %.0f MiB)',
             $peak_short / 1024, $W, $peak_tall / 1024, $W, $H, $whole / 1024));
ok($peak_short > 0, 'the child\'s peak can be read');
# README's Memory model (t/lib/TilerMemory.pm), which has no height in it:
# the band, Kafka's producer queue, the results consumer's queue and fetch,
# two encoder threads reading the raster a few rows at a time, and 64 MiB
# for httpd itself. How full each queue gets depends on timing, so a short
# job may stay well under it.
my $model = TilerMemory::httpd($W, 512, 3) / 1024;
ok($peak_short <= $model && $peak_tall <= $model,
   sprintf('both peaks (%.0f and %.0f MiB) are within the model for a %u-pixel width (%.0f MiB), whatever the height',
           $peak_short / 1024, $peak_tall / 1024, $W, $model / 1024));
ok($peak_tall < $whole / 4, sprintf('and under a quarter of a whole decoded image (%.0f MiB)', $whole / 4 / 1024));

$t->finish;
done_testing;
