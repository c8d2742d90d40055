# Disk use during a job: the raster (4 bytes a pixel) is freed as its rows
# are encoded, so a running job holds its upload, the result so far and the
# rows still being assembled; a finished job holds only its result. A JPEG
# result is encoded in bands and comes out as local mode's, byte for byte.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'disk', directives => "TilerTileSize 128\nTilerResendSeconds 2\n",
    allow_log => [qr/AH30704: job [0-9a-f]{32}: 1 tiles were lost on the way .* attempt 1 of 3/,
                  qr/AH30802: job [0-9a-f]{32}: cannot write the result: the encoding of the result was interrupted/]);
$t->require_test_hooks;   # TILER_TEST_*: ./configure --enable-test-hooks
# The lost tile's resend waits until this file exists: the job stays
# mid-way, every row of tiles but the last one in, for as long as the test
# looks at its spool.
my $hold = $t->dir . '/resend-go';
$ENV{TILER_TEST_RESEND_HOLD} = $hold;
$t->start_all(workers => 0);
my $marker = $t->dir . '/dropped';
# 1000 x 1200 in 128-pixel tiles: 8 x 10 tiles; tile 75 is in the last row.
$t->start_worker($_, TILER_TEST_DROP_TILE => "75:$marker") for 1, 2;
my $input = $t->make_image('tall.png', 1000, 1200, 'png', 0, 33);
my $full = 1000 * 1200 * 4;

sub allocated { my @s = stat($_[0]); return @s ? $s[12] * 512 : -1 }
sub leaves { my ($dir) = @_; return join ' ', sort map { s{.*/}{}r } glob("$dir/*") }

# ---- PNG: strips free their rows as they are encoded ----
{
    my ($r, $j) = $t->submit($input, 'invert');
    is($r->{status}, 202, 'PNG job accepted') or diag($r->{content});
    my $dir = $t->dir . "/spool/jobs/$j->{id}";
    my $raster = "$dir/raster";
    # Every row of tiles but the last is in once 9 strips are written; the
    # raster is freed under them right after each.
    my ($strips, $alloc) = (0, -1);
    my $deadline = time + 60;
    while (time < $deadline) {
        $strips = () = glob("$dir/strip-[0-9]");
        $alloc = allocated($raster);
        last if $strips == 9 && $alloc >= 0 && $alloc < $full / 4;
        sleep 0.05;
    }
    ok(-e $marker, 'a worker dropped tile 75, in the last row of tiles');
    is($strips, 9, 'mid-way: the 9 complete rows of tiles are encoded as strips');
    ok($alloc >= 0 && $alloc < $full / 4, "mid-way: the raster holds $alloc bytes of its $full (only the last row of tiles and edges)");
    is(-s $raster, $full, 'and keeps its size');
    ok(-e "$dir/input", 'mid-way: the upload is kept (for resends)');
    my (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($s->{tiles_done}, 79, 'mid-way: 79 of 80 tiles in');
    TilerTest::spew($hold, '');
    my ($f) = $t->wait_job($j->{id}, 90);
    is($f->{state}, 'done', 'the resent tile completes the job') or diag(explain $f);
    my ($msg, $same) = $t->matches_local($j->{id}, $input, 'invert');
    ok($same, "the result, made from strips whose rows were freed, is local mode's ($msg)");
    is(leaves($dir), 'result', 'done: only the result is left in the job directory');
}

# ---- JPEG: encoded in bands at the end, freed as it goes ----
{
    # Odd sides (not multiples of 8 or 16) and alpha, which JPEG drops.
    my $odd = $t->make_image('odd.png', 1001, 1203, 'png', 1, 34);
    my ($r, $j) = $t->submit($odd, 'blur:2', format => 'jpeg');
    is($r->{status}, 202, 'JPEG job accepted') or diag($r->{content});
    my ($f) = $t->wait_job($j->{id}, 90);
    is($f->{state}, 'done', 'JPEG job done') or diag(explain $f);
    my $dir = $t->dir . "/spool/jobs/$j->{id}";
    is(leaves($dir), 'result', 'done: only the result is left in the job directory');
    my ($res) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    my $local = $t->local_result($odd, 'blur:2', 'jpeg');
    ok($res->{content} eq TilerTest::slurp($local), 'the JPEG result is local mode\'s, byte for byte');
    my ($msg, $same) = $t->matches_local($j->{id}, $odd, 'blur:2', 'jpeg');
    ok($same, "and so are its pixels ($msg)");
    like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30843: job $j->{id} done: 1001x1203, \d+ tiles, JPEG encoded in bands of 64 rows/,
         'the log says it was encoded in bands');
}

# ---- JPEG: an encoding cut short after freeing rows fails the job ----
# The child dying mid-encoding leaves result.tmp and a raster with rows
# freed; encoding again would show those rows as black. Made here by hand
# on a job held mid-way, before its last tile lands.
{
    unlink $hold;
    $t->stop_process("worker$_") for 1, 2;
    my $marker2 = $t->dir . '/dropped-2';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "75:$marker2") for 1, 2;
    my ($r, $j) = $t->submit($input, 'invert', format => 'jpeg');
    is($r->{status}, 202, 'cut short: JPEG job accepted');
    my $s;
    my $deadline = time + 60;
    while (time < $deadline) {
        (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
        last if ($s->{tiles_done} // 0) == 79;
        sleep 0.05;
    }
    is($s->{tiles_done}, 79, 'cut short: held with 79 of 80 tiles in');
    my $dir = $t->dir . "/spool/jobs/$j->{id}";
    is(system('fallocate', '-p', '-o', 0, '-l', 65536, "$dir/raster"), 0, 'cut short: the first rows freed');
    TilerTest::spew("$dir/result.tmp", 'half a JPEG');
    my @owner = (stat "$dir/raster")[4, 5];   # httpd's user, as the child would have left it
    chown @owner, "$dir/result.tmp";
    TilerTest::spew($hold, '');
    my ($f) = $t->wait_job($j->{id}, 90);
    is($f->{state}, 'failed', 'cut short: the job fails');
    like($f->{error} // '', qr/^the encoding of the result was interrupted after it had freed part of the raster; submit the image again$/,
         "cut short: saying why: " . ($f->{error} // ''));
    is(leaves($dir), '', 'cut short: and its files are gone');
}

$t->finish;
done_testing();
