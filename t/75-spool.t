# The spool: DELETE cancels and removes a job (tiles still in flight are
# dropped), TilerJobTTL removes finished jobs, and a full disk fails a job
# with a clear error while httpd stays healthy and works again once space
# returns.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'spool', directives => "TilerJobTTL 3\n",
    allow_log => [qr/No space left on device/, qr/AH30304: job [0-9a-f]{32}: cannot write the result/, qr/AH30309: job [0-9a-f]{32}: cannot write raster/,
                  qr/AH30102: cannot write spool file/, qr/AH30403: cannot create job directory/,
                  qr/AH30441: spool too full for a 2000x1500 job/]);
my $spool = $t->dir . '/spool';
mkdir $spool;
my $mounted = $> == 0 && system("mount -t tmpfs -o size=40m,mode=0755 tmpfs $spool 2>/dev/null") == 0;
END { system("umount -l $spool 2>/dev/null") if $mounted }
$t->start_all(workers => 2);
my $img = $t->make_image('s.png', 600, 400, 'png', 0, 91);

# ---- DELETE ----
{
    my ($r, $j) = $t->submit($img, 'invert');
    my ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'done', 'a job to delete');
    ok(-d "$spool/jobs/$j->{id}", 'its spool directory exists');
    my ($d, $dj) = $t->request('DELETE', "/tiler/api/jobs/$j->{id}");
    is($d->{status}, 200, 'DELETE: 200');
    is_deeply([@$dj{qw(id deleted was)}], [$j->{id}, JSON::PP::true, 'done'], 'says what it deleted');
    ($d) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($d->{status}, 404, 'the job is gone');
    ($d) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    is($d->{status}, 404, 'and its result');
    ok(!-e "$spool/jobs/$j->{id}", 'and its files');

    # A queued job: cancelled; its tiles reach the results consumer later and are dropped.
    $t->stop_process("worker$_") for 1, 2;
    ($r, $j) = $t->submit($img, 'blur:2');
    ($d) = $t->request('DELETE', "/tiler/api/jobs/$j->{id}");
    is($d->{status}, 200, 'DELETE of a queued job');
    $t->start_worker($_) for 1, 2;
    my ($after, $a2) = $t->submit($img, 'grayscale');
    my ($s2) = $t->wait_job($a2->{id}, 60);
    is($s2->{state}, 'done', 'the next job runs while the cancelled tiles drain');
    ($d) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($d->{status}, 404, 'the cancelled job stays gone');
    ok(!-e "$spool/jobs/$j->{id}", 'no files came back for it');
}

# ---- TilerJobTTL: finished jobs go after 3 s (the sweep runs every 5 s) ----
{
    my ($r, $j) = $t->submit($img, 'invert');
    $t->wait_job($j->{id}, 60);
    my $gone = 0;
    for (1 .. 60) {
        my ($g) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
        if ($g->{status} == 404) { $gone = 1; last }
        sleep 0.5;
    }
    ok($gone, 'a finished job is removed after TilerJobTTL');
    ok(!-e "$spool/jobs/$j->{id}", 'with its files');
    like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30319: removed \d+ jobs finished more than 3 s ago/, 'the sweep logs it');
}

# ---- a full disk ----
SKIP: {
    TilerTest::missing('root, to mount a small tmpfs for the spool') unless $mounted;
    skip 'needs root to mount a small tmpfs for the spool', 14 unless $mounted;
    my $fill = "$spool/filler";
    # First leave 1 MiB: the upload itself cannot be stored.
    system("dd if=/dev/zero of=$fill bs=1M count=39 status=none");
    my $big = $t->make_image('big.jpg', 2000, 1500, 'jpeg', 0, 92);
    my ($r0, $j0) = $t->submit($big, 'invert');
    is($r0->{status}, 507, 'no room for the upload: 507');
    like($j0->{message} // '', qr/spool disk full/, "with a clear error: $j0->{message}");
    # Then room for the upload (about 3.6 MB) but not for the 12 MB raster
    # and the result: refused before any work, with the numbers.
    unlink $fill;
    system("dd if=/dev/zero of=$fill bs=1M count=34 status=none");
    my ($r, $j) = $t->submit($big, 'invert');
    is($r->{status}, 507, 'no room for the raster and result: 507');
    is($j->{error}, 'insufficient_storage', 'insufficient_storage');
    like($j->{message} // '', qr/the spool has \d+ bytes free; this 2000x1500 job needs about 24000000 more \(raster 12000000, png result up to 12000000\)/,
         "with the numbers: $j->{message}");
    ok(!grep({ !/^(filler|tiler\.db.*|jobs)$/ } map { s{.*/}{}r } glob("$spool/* $spool/jobs/*")), 'and nothing of it left in the spool');
    # Room at the start, but the disk fills while the job runs (someone
    # else's file): the job fails with the reason.
    unlink $fill;
    $t->stop_process("worker$_") for 1, 2;
    ($r, $j) = $t->submit($big, 'invert');
    is($r->{status}, 202, 'the job fits when it starts');
    my ($avail) = `df -B1M --output=avail $spool` =~ /(\d+)\s*$/;
    system("dd if=/dev/zero of=$fill bs=1M count=" . ($avail - 2) . " status=none");
    $t->start_worker($_) for 1, 2;
    my ($s1) = $t->wait_job($j->{id}, 60);
    is($s1->{state}, 'failed', 'the job fails when its raster fills the disk');
    like($s1->{error} // '', qr/No space left on device/, 'with a clear error: ' . ($s1->{error} // ''));
    my ($alive) = $t->request('GET', '/tiler/api/jobs');
    is($alive->{status}, 200, 'httpd stays healthy');
    unlink $fill;
    ($r, $j) = $t->submit($big, 'invert');
    is($r->{status}, 202, 'once space returns, the next job is accepted');
    my ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'done', 'and done');
    my ($msg, $same) = $t->matches_local($j->{id}, $big, 'invert');
    ok($same, "and right ($msg)");
}

# Unmount the small spool before the harness tidies the test directory.
$t->stop_httpd;
if ($mounted) { system("umount -l $spool"); $mounted = 0 }
$t->finish;
done_testing;
