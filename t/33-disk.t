# Disk use during a job: the raster (1, 3 or 4 bytes a pixel, by what the
# result can hold: libtiler/tiler_raster.h) is freed as its rows
# are encoded, so a running job holds its upload, the result so far and the
# rows still being assembled; a finished job holds only its result. A PNG
# job with TilerPngRows On has no raster: its workers deflate its rows,
# which go to a tiles file freed under each row of tiles once its strip is
# joined (a raster again with tiles that are not a multiple of 16 pixels,
# or TilerPngRows Off, the default).
# PNG and JPEG results alike are encoded a row of tiles at a time as rows
# complete; a JPEG with a tile size that is not a multiple of 8 is encoded
# in bands at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my @allow = (qr/AH30704: job [0-9a-f]{32}: 1 tiles were lost on the way .* attempt 1 of 3/,
             qr/AH30802: job [0-9a-f]{32}: cannot write the result: the encoding of the result was interrupted/);

sub allocated { my @s = stat($_[0]); return @s ? $s[12] * 512 : -1 }
sub leaves { my ($dir) = @_; return join ' ', sort map { s{.*/}{}r } glob("$dir/*") }

# Starts workers that drop tile $drop once (the first time they meet it)
# and submits $input: the lost tile's resend waits for the hold file, so
# the job stays mid-way, every other tile in, for as long as the test looks
# at its spool. Returns the job's id and spool directory.
sub held_job {
    my ($t, $input, $drop, $tiles, %o) = @_;
    my $hold = $t->dir . '/resend-go';
    unlink $hold;
    $t->stop_process("worker$_") for 1, 2;
    my $marker = $t->dir . "/dropped-" . time;
    $t->start_worker($_, TILER_TEST_DROP_TILE => "$drop:$marker") for 1, 2;
    my $ops = delete $o{ops} // 'invert';
    my ($r, $j) = $t->submit($input, $ops, %o);
    is($r->{status}, 202, "held: job accepted") or diag($r->{content});
    my $s;
    my $deadline = time + 60;
    while (time < $deadline) {
        (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
        last if ($s->{tiles_done} // 0) == $tiles - 1;
        sleep 0.05;
    }
    is($s->{tiles_done}, $tiles - 1, "held: $s->{tiles_done} of $tiles tiles in, tile $drop lost");
    return ($j->{id}, $t->dir . "/spool/jobs/$j->{id}");
}

sub release { TilerTest::spew($_[0]->dir . '/resend-go', '') }

my $t = TilerTest->new(name => 'disk', directives => "TilerTileSize 128\nTilerResendSeconds 2\nTilerPngRows On\n", allow_log => \@allow);
$t->require_test_hooks;   # TILER_TEST_*: ./configure --enable-test-hooks
$ENV{TILER_TEST_RESEND_HOLD} = $t->dir . '/resend-go';
$t->start_all(workers => 0);
# 1000 x 1200 in 128-pixel tiles: 8 x 10 tiles; tile 75 is in the last row.
my $input = $t->make_image('tall.png', 1000, 1200, 'png', 0, 33);
# Its PNG is RGBA (colour type 6) though opaque: from its header it may be
# transparent, so a PNG result's raster keeps gd values, 4 bytes a pixel;
# a JPEG result keeps no transparency: R G B, 3.
my $full = 1000 * 1200 * 4;

for my $format ('png', 'jpeg') {
    my ($id, $dir) = held_job($t, $input, 75, 80, format => $format);
    # A PNG's workers deflate its rows: it has no raster, and the tiles
    # file is freed under each row of tiles once its strip is joined.
    my $held = $format eq 'png' ? "$dir/tiles" : "$dir/raster";
    # The 9 complete rows of tiles are encoded as strips as they complete,
    # and the raster (or the tiles) freed under each right after.
    my ($strips, $alloc, $size) = (0, -1, 0);
    my $deadline = time + 60;
    while (time < $deadline) {
        $strips = () = glob("$dir/strip-[0-9]");
        $alloc = allocated($held);
        $size = -s $held // 0;
        last if $strips == 9 && $alloc >= 0 && $alloc < $size / 4;
        sleep 0.05;
    }
    is($strips, 9, "$format mid-way: the 9 complete rows of tiles are encoded as strips");
    ok($alloc >= 0 && $alloc < $size / 4, "$format mid-way: the " . ($held =~ s{.*/}{}r) . " holds $alloc bytes of its $size (the last row of tiles)");
    if ($format eq 'png') {
        ok(!-e "$dir/raster", 'png mid-way: no raster');
        ok($size > 79 * 1000, "png mid-way: the tiles file is as long as the 79 tiles placed ($size bytes)");
    } else {
        is($size, 1000 * 1200 * 3, "$format mid-way: a JPEG result's raster is R G B, 3 bytes a pixel, and keeps its size");
    }
    ok(-e "$dir/input", "$format mid-way: the upload is kept (for resends)");
    release($t);
    my ($f) = $t->wait_job($id, 90);
    is($f->{state}, 'done', "$format: the resent tile completes the job") or diag(explain $f);
    my ($msg, $same) = $t->matches_local($id, $input, 'invert', $format);
    ok($same, "$format: the result, made from strips whose rows were freed, has local mode's pixels ($msg)");
    is(leaves($dir), 'result', "$format done: only the result is left in the job directory");
}

# JPEG strips at odd sides (not multiples of 8 or 16) and with alpha, which
# JPEG drops as libgd does.
{
    my $odd = $t->make_image('odd.png', 1001, 1203, 'png', 1, 34);
    my ($r, $j) = $t->submit($odd, 'blur:2', format => 'jpeg');
    is($r->{status}, 202, 'odd JPEG job accepted') or diag($r->{content});
    my ($f) = $t->wait_job($j->{id}, 90);
    is($f->{state}, 'done', 'odd JPEG job done') or diag(explain $f);
    my ($msg, $same) = $t->matches_local($j->{id}, $odd, 'blur:2', 'jpeg');
    ok($same, "odd JPEG: local mode's pixels ($msg)");
    like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30804: job $j->{id} done: 1001x1203, 80 tiles, JPEG joined from 10 strips/,
         'odd JPEG: joined from its strips');
}
# TilerPngRows Off (the default): a PNG's pixels go to a raster, freed
# under each row of tiles once its strip is written, as a JPEG's above.
$t->{directives} =~ s/TilerPngRows On/TilerPngRows Off/;
$t->stop_httpd;
$t->start_httpd;
{
    my ($id, $dir) = held_job($t, $input, 75, 80, format => 'png');
    my ($strips, $alloc) = (0, -1);
    my $deadline = time + 60;
    while (time < $deadline) {
        $strips = () = glob("$dir/strip-[0-9]");
        $alloc = allocated("$dir/raster");
        last if $strips == 9 && $alloc >= 0 && $alloc < $full / 4;
        sleep 0.05;
    }
    ok(!-e "$dir/tiles" && $strips == 9, 'TilerPngRows Off: no tiles file, the 9 complete rows of tiles encoded as strips');
    ok($alloc >= 0 && $alloc < $full / 4, "TilerPngRows Off: the raster holds $alloc bytes of its $full (the last row of tiles)");
    is(-s "$dir/raster", $full, 'TilerPngRows Off: an upload that may be transparent: gd values, 4 bytes a pixel');
    release($t);
    my ($f) = $t->wait_job($id, 90);
    is($f->{state}, 'done', 'TilerPngRows Off: done');
    my ($msg, $same) = $t->matches_local($id, $input, 'invert', 'png');
    ok($same, "TilerPngRows Off: local mode's pixels ($msg)");
    is(leaves($dir), 'result', 'TilerPngRows Off done: only the result is left');
}
{
    # A grey result of an opaque upload: a byte a pixel, encoded as read.
    my $grey_in = $t->make_image('tall.jpg', 1000, 1200, 'jpeg', 0, 34);
    my ($id, $dir) = held_job($t, $grey_in, 75, 80, format => 'png', ops => 'grayscale,blur:1');
    is(-s "$dir/raster", 1000 * 1200, 'grey: the raster of a grey result of a JPEG is a byte a pixel');
    release($t);
    my ($f) = $t->wait_job($id, 90);
    is($f->{state}, 'done', 'grey: done');
    my ($msg, $same) = $t->matches_local($id, $grey_in, 'grayscale,blur:1', 'png');
    ok($same, "grey: local mode's pixels ($msg)");
}
$t->finish;

# ---- JPEG in bands at the end (tile size 100, not a multiple of 8) ----
my $b = TilerTest->new(name => 'disk-bands', directives => "TilerTileSize 100\nTilerResendSeconds 2\nTilerPngRows On\n", allow_log => \@allow);
$ENV{TILER_TEST_RESEND_HOLD} = $b->dir . '/resend-go';
$b->start_all(workers => 0);
my $in2 = $b->make_image('bands.png', 601, 403, 'png', 1, 35);   # 7 x 5 tiles
{
    my ($id, $dir) = held_job($b, $in2, 33, 35, format => 'jpeg');
    ok(!glob("$dir/strip-*"), 'bands: no strips while the job runs');
    release($b);
    my ($f) = $b->wait_job($id, 90);
    is($f->{state}, 'done', 'bands: done');
    my ($msg, $same) = $b->matches_local($id, $in2, 'invert', 'jpeg');
    ok($same, "bands: local mode's pixels ($msg)");
    my ($res) = $b->request('GET', "/tiler/api/jobs/$id/result");
    ok($res->{content} eq TilerTest::slurp($b->local_result($in2, 'invert', 'jpeg')), "bands: and local mode's bytes");
    like(TilerTest::slurp($b->dir . '/logs/error.log'), qr/AH30843: job $id done: 601x403, 35 tiles, JPEG encoded in bands of 64 rows/,
         'bands: encoded in bands');
    is(leaves($dir), 'result', 'bands done: only the result is left in the job directory');
}
# An encoding cut short after freeing rows fails the job: the child dying
# mid-encoding leaves result.tmp and a raster with rows freed, and encoding
# again would show those rows as black. Made here by hand on a held job.
{
    my ($id, $dir) = held_job($b, $in2, 33, 35, format => 'jpeg');
    is(system('fallocate', '-p', '-o', 0, '-l', 65536, "$dir/raster"), 0, 'cut short: the first rows freed');
    TilerTest::spew("$dir/result.tmp", 'half a JPEG');
    my @owner = (stat "$dir/raster")[4, 5];   # httpd's user, as the child would have left it
    chown @owner, "$dir/result.tmp";
    release($b);
    my ($f) = $b->wait_job($id, 90);
    is($f->{state}, 'failed', 'cut short: the job fails');
    like($f->{error} // '', qr/^the encoding of the result was interrupted after it had freed part of the raster; submit the image again$/,
         "cut short: saying why: " . ($f->{error} // ''));
    is(leaves($dir), '', 'cut short: and its files are gone');
}
# Local mode writes JPEG results in bands too: a 60 MP image (240 MB as a
# whole image) goes through under a 150 MB address space.
{
    my $tall = $b->dir . '/tall-local.png';
    system($b->bin('t/tools/tiler-bigimg'), $tall, 2000, 30000, 36) == 0 or die 'tiler-bigimg failed';
    my $out = $b->dir . '/tall-local.jpg';
    my $bin = $b->bin('tiler-worker/tiler-worker');
    my $rc = system('bash', '-c', "ulimit -v 150000; exec $bin --local $tall $out --ops invert,blur:1 --format jpeg");
    is($rc, 0, 'local mode: a 2000 x 30000 JPEG result within a 150 MB address space');
    my ($msg) = $b->imgcmp($out, $out);
    is($msg, 'identical: 2000x30000', 'local mode: and it decodes whole');
}
# Tiles of 100 pixels (not a multiple of 16): even with TilerPngRows On a
# PNG's workers cannot deflate its rows in that encoding, so its pixels go
# to a raster, which is freed as its strips are made.
{
    my ($id, $dir) = held_job($b, $in2, 33, 35, format => 'png');
    ok(-e "$dir/raster" && !-e "$dir/tiles", 'PNG in 100-pixel tiles: a raster, no tiles file');
    release($b);
    my ($f) = $b->wait_job($id, 90);
    is($f->{state}, 'done', 'PNG in 100-pixel tiles: done');
    my ($msg, $same) = $b->matches_local($id, $in2, 'invert', 'png');
    ok($same, "PNG in 100-pixel tiles: local mode's pixels ($msg)");
}
$b->finish;

done_testing();
