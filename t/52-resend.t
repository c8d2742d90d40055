# Lost tiles: a task Kafka acknowledged but that never reaches a worker (or a
# result that never comes back) must not leave its job unfinished forever.
# Once the workers' group is past all of a job's tasks and it has made no
# progress for TilerResendSeconds, the missing tiles are cut again from the
# kept upload and produced again; a slow job is never taken for a lost one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'resend', directives => "TilerTileSize 256\nTilerResendSeconds 3\n",
    allow_log => [qr/AH30704: job [0-9a-f]{32}: 1 tiles were lost on the way .* attempt [123] of 3/, qr/AH30702: job [0-9a-f]{32} failed: 1 tiles never came back, though produced 4 times over/]);
$t->require_test_hooks;   # TILER_TEST_*: ./configure --enable-test-hooks
# TILER_TEST_RESEND_HOLD (a --enable-test-hooks build): a resend waits
# before producing while this file is missing; it exists until part 4.
my $hold = $t->dir . '/resend-go';
TilerTest::spew($hold, '');
$ENV{TILER_TEST_RESEND_HOLD} = $hold;
$t->start_all(workers => 0);
my $ops = 'grayscale,blur:2';
my $input = $t->make_image('lost.png', 1500, 1000, 'png', 0, 52);   # 6 x 4 = 24 tiles

sub log_count {
    my ($re) = @_;
    open my $fh, '<', $t->dir . '/logs/error.log' or return 0;
    return scalar grep { $_ =~ $re } <$fh>;
}

# 1. Slow is not lost: with no worker running, the job waits well past
#    TilerResendSeconds and nothing is produced again.
{
    my ($r, $j) = $t->submit($input, $ops);
    is($r->{status}, 202, 'slow: job accepted');
    sleep 12;
    my (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($s->{state}, 'queued', 'slow: still queued with no worker running');
    is($s->{resends}, 0, 'slow: no resend while the tasks wait for a worker');
    $t->start_worker($_) for 1, 2;
    my ($f) = $t->wait_job($j->{id}, 90);
    is($f->{state}, 'done', 'slow: done once workers come');
    is($f->{resends}, 0, 'slow: done without any resend');
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $ops);
    ok($same, "slow: result identical to local mode ($msg)");
    $t->stop_process("worker$_") for 1, 2;
}

# 2. One tile lost once: the job still completes, identical to local mode,
#    after exactly one resend of exactly that tile.
{
    my $marker = $t->dir . '/dropped-once';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $j) = $t->submit($input, $ops);
    is($r->{status}, 202, 'lost once: job accepted');
    my ($f) = $t->wait_job($j->{id}, 90);
    ok(-e $marker, 'lost once: a worker dropped tile 5');
    is($f->{state}, 'done', 'lost once: the job completes') or diag(explain $f);
    is($f->{tiles_done}, $f->{tiles_total}, "lost once: all $f->{tiles_total} tiles counted");
    is($f->{resends}, 1, 'lost once: after one resend');
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $ops);
    ok($same, "lost once: result identical to local mode ($msg)");
    is(log_count(qr/AH30704: job $j->{id}: 1 tiles were lost on the way .*attempt 1 of 3/), 1,
       'lost once: the error log says which job lost how many tiles');
    # The job's own directory: its result is there, so the checks below look
    # where the upload, the raster and the strips were.
    my $spool = $t->dir . "/spool/jobs/$j->{id}";
    ok(-e "$spool/result", 'lost once: the result is in the job\'s spool directory');
    ok(!grep({ -e "$spool/$_" } qw(input raster)), 'lost once: upload and raster are gone once done');
    ok(!glob("$spool/strip-*"), 'lost once: and so are the PNG strips');
    $t->stop_process("worker$_") for 1, 2;
}

# 2b. The same after a rotation: tile 5 of the result has its source in
#     another place of the upload, and is cut again from there.
{
    my $marker = $t->dir . '/dropped-once-rotated';
    my $rops = 'rotate:90,blur:2';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $j) = $t->submit($input, $rops);
    is($r->{status}, 202, 'lost once, rotated: job accepted');
    my ($f) = $t->wait_job($j->{id}, 90);
    ok(-e $marker, 'lost once, rotated: a worker dropped tile 5');
    is($f->{state}, 'done', 'lost once, rotated: the job completes') or diag(explain $f);
    is($f->{resends}, 1, 'lost once, rotated: after one resend');
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $rops);
    ok($same, "lost once, rotated: result identical to local mode ($msg)");
    $t->stop_process("worker$_") for 1, 2;
}

# 2d. A tiled TIFF upload, whose tasks carry its tiles undecoded: tile 5's
#     task is cut again from the tile directory.
{
    my $marker = $t->dir . '/dropped-once-tiled';
    my $tif = $t->dir . '/lost.tif';
    system($t->bin('t/tools/tiler-mktiff'), $tif, 1500, 1000, qw(rgb deflate predictor tile=64 seed=53)) == 0
        or die 'tiler-mktiff';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $j) = $t->submit($tif, $ops, type => 'image/tiff');
    is($r->{status}, 202, 'lost once, tiled TIFF upload: job accepted');
    my ($f) = $t->wait_job($j->{id}, 90);
    ok(-e $marker, 'lost once, tiled TIFF upload: a worker dropped tile 5');
    is($f->{state}, 'done', 'lost once, tiled TIFF upload: the job completes') or diag(explain $f);
    is($f->{resends}, 1, 'lost once, tiled TIFF upload: after one resend');
    is(log_count(qr/AH30406: job $j->{id} queued: .*its tiles go to the workers undecoded$/), 1,
       'lost once, tiled TIFF upload: its tiles went to the workers undecoded');
    is(log_count(qr/AH30413: job $j->{id}: 1 tiles cut again from the TIFF's tile directory/), 1,
       'lost once, tiled TIFF upload: the lost task was cut again from the tile directory, not decoded');
    my ($msg, $same) = $t->matches_local($j->{id}, $tif, $ops);
    ok($same, "lost once, tiled TIFF upload: result identical to local mode ($msg)");
    $t->stop_process("worker$_") for 1, 2;
}

# 2c. A TIFF result (format=tiff): tile 5's deflated bytes come with the
#     resend and are placed like any other tile's.
{
    my $marker = $t->dir . '/dropped-once-tiff';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $j) = $t->submit($input, $ops, format => 'tiff');
    is($r->{status}, 202, 'lost once, TIFF: job accepted');
    my ($f) = $t->wait_job($j->{id}, 90);
    ok(-e $marker, 'lost once, TIFF: a worker dropped tile 5');
    is($f->{state}, 'done', 'lost once, TIFF: the job completes') or diag(explain $f);
    is($f->{resends}, 1, 'lost once, TIFF: after one resend');
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $ops, 'tiff');
    ok($same, "lost once, TIFF: result identical to local mode's TIFF ($msg)");
    my $spool = $t->dir . "/spool/jobs/$j->{id}";
    ok(-e "$spool/result" && !grep({ -e "$spool/$_" } qw(input tiles tiles.idx raster)),
       'lost once, TIFF: only the result is left in the spool');
    $t->stop_process("worker$_") for 1, 2;
}

# 2e. A TIFF of JPEG tiles (compression=jpeg): the resent task asks for a
#     JPEG tile again (the job's compression, from the store).
{
    my $marker = $t->dir . '/dropped-once-jpeg-tiff';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $j) = $t->submit($input, $ops, format => 'tiff', compression => 'jpeg');
    is($r->{status}, 202, 'lost once, JPEG-TIFF: job accepted');
    my ($f) = $t->wait_job($j->{id}, 90);
    ok(-e $marker, 'lost once, JPEG-TIFF: a worker dropped tile 5');
    is($f->{state}, 'done', 'lost once, JPEG-TIFF: the job completes') or diag(explain $f);
    is($f->{resends}, 1, 'lost once, JPEG-TIFF: after one resend');
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $ops, 'tiff', 'jpeg');
    ok($same, "lost once, JPEG-TIFF: result identical to local mode's JPEG-TIFF ($msg)");
    $t->stop_process("worker$_") for 1, 2;
}

# 3. A tile lost every time: the job fails with a clear error after the
#    third resend, instead of waiting forever.
{
    $t->start_worker($_, TILER_TEST_DROP_TILE => '7') for 1, 2;
    my ($r, $j) = $t->submit($input, 'invert');
    is($r->{status}, 202, 'always lost: job accepted');
    my ($f) = $t->wait_job($j->{id}, 150);
    is($f->{state}, 'failed', 'always lost: the job fails');
    like($f->{error} // '', qr/^1 tiles never came back, though produced 4 times over$/, 'always lost: with a clear error');
    is($f->{resends}, 3, 'always lost: after three resends');
    is($f->{tiles_done}, $f->{tiles_total} - 1, 'always lost: every other tile counted');
}

# 4. A resend in progress holds up no other job: it runs on a thread of its
#    own, and the results consumer goes on assembling other jobs meanwhile.
{
    $t->stop_process("worker$_") for 1, 2;
    unlink $hold;
    my $marker = $t->dir . '/dropped-once-4';
    $t->start_worker($_, TILER_TEST_DROP_TILE => "5:$marker") for 1, 2;
    my ($r, $a) = $t->submit($input, 'grayscale');
    is($r->{status}, 202, 'held: a job that loses a tile');
    my $held;
    for (1 .. 1500) {
        last if ($held = log_count(qr/AH30705: job $a->{id}: resend held/));
        sleep 0.04;
    }
    ok($held, 'held: its resend is in progress (held by TILER_TEST_RESEND_HOLD)');
    my $small = $t->make_image('other.png', 700, 500, 'png', 0, 53);
    my ($r2, $b) = $t->submit($small, 'invert');
    my ($fb) = $t->wait_job($b->{id}, 60);
    is($fb->{state}, 'done', 'held: another job is assembled and done meanwhile');
    my (undef, $sa) = $t->request('GET', "/tiler/api/jobs/$a->{id}");
    is($sa->{state}, 'running', 'held: while the first one still waits for its resend');
    TilerTest::spew($hold, '');
    my ($fa) = $t->wait_job($a->{id}, 90);
    is($fa->{state}, 'done', 'held: let go, the resend completes its job');
    is($fa->{resends}, 1, 'held: after one resend');
    my ($msg, $same) = $t->matches_local($a->{id}, $input, 'grayscale');
    ok($same, "held: result identical to local mode ($msg)");
}

$t->finish;
done_testing();
