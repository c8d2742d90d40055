# The spool: DELETE cancels and removes a job (tiles still in flight are
# dropped), TilerJobTTL removes finished jobs, and a full disk fails a job
# with a clear error while httpd stays healthy and works again once space
# returns.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'spool', directives => "TilerJobTTL 3\n",
    allow_log => [qr/No space left on device/, qr/AH30304: job [0-9a-f]{32}: cannot write the result/, qr/AH30309: job [0-9a-f]{32}: cannot write raster/,
                  qr/AH30102: cannot write spool file/, qr/AH30802: job [0-9a-f]{32}: cannot write the result: .*No space left on device/, qr/AH30420: cannot write spool file/, qr/AH30403: cannot create job directory/,
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

    # A running job deleted while its rows' PNG strips are being encoded:
    # the encoder threads find its files gone, and say nothing of it.
    $t->stop_process("worker$_") for 1, 2;
    my $tall = $t->make_image('tall.png', 800, 4000, 'png', 0, 93);   # 16 rows of strips
    ($r, $j) = $t->submit($tall, 'grayscale');
    is($r->{status}, 202, 'a tall job');
    $t->start_worker($_) for 1, 2;
    my $running;
    for (1 .. 3000) {
        my (undef, $s3) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
        if ($s3 && $s3->{tiles_done} >= 4) { $running = $s3; last }   # two rows: strips under way
        sleep 0.01;
    }
    ok($running && $running->{state} eq 'running', 'its rows are coming in');
    ($d) = $t->request('DELETE', "/tiler/api/jobs/$j->{id}");
    is($d->{status}, 200, 'DELETE in the middle of the encoding');
    # Tasks run in order: once a later job is done, the deleted job's are over.
    ($after, $a2) = $t->submit($tall, 'invert');
    ($s2) = $t->wait_job($a2->{id}, 90);
    is($s2->{state}, 'done', 'the next job is done');
    ok(!-e "$spool/jobs/$j->{id}", 'nothing of the deleted job is left in the spool');
    my @said = grep { /$j->{id}/ && !/AH30(406|407)/ } split /\n/, TilerTest::slurp($t->dir . '/logs/error.log');
    is_deeply(\@said, [], 'and the log says nothing of it but its upload and its deletion');
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
    skip 'needs root to mount a small tmpfs for the spool', 21 unless $mounted;
    my $fill = "$spool/filler";
    # First leave 1 MiB: the upload itself cannot be stored.
    system("dd if=/dev/zero of=$fill bs=1M count=39 status=none");
    my $big = $t->make_image('big.jpg', 2000, 1500, 'jpeg', 0, 92);
    # A client that keeps its connection open: refused midway, the answer
    # closes it, so that httpd does not read and discard the rest of the
    # body first (up to LimitRequestBody).
    my $ka = HTTP::Tiny->new(keep_alive => 1, timeout => 60);
    my $post = sub {
        my ($path, $type, $content) = @_;
        my $r = $ka->request('POST', $t->url . $path, { content => $content, headers => { 'Content-Type' => $type } });
        return ($r, eval { JSON::PP::decode_json($r->{content}) } // {});
    };
    my ($r0, $j0) = $post->('/tiler/api/jobs?ops=invert', 'image/jpeg', TilerTest::slurp($big));
    is($r0->{status}, 507, 'no room for the upload: 507');
    like($j0->{message} // '', qr/spool disk full/, "with a clear error: " . ($j0->{message} // ''));
    is(lc($r0->{headers}{connection} // ''), 'close', 'and the connection closes: the rest of the body is not read');
    # The same upload in a form.
    my $fb = 'tilerSpoolFormBoundary';
    my ($rf, $jf) = $post->('/tiler/api/jobs', "multipart/form-data; boundary=$fb",
        "--$fb\r\nContent-Disposition: form-data; name=\"ops\"\r\n\r\ninvert\r\n--$fb\r\n"
        . "Content-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        . TilerTest::slurp($big) . "\r\n--$fb--\r\n");
    is($rf->{status}, 507, 'no room for the upload in a form: 507');
    is($jf->{error} // '', 'spool_error', 'spool_error');
    is(lc($rf->{headers}{connection} // ''), 'close', 'and the connection closes');
    # Then room for the upload (about 3.6 MB) but not for the 9 MB raster
    # (3 bytes a pixel: a JPEG has no transparency) and the result: refused
    # before any work, with the numbers.
    unlink $fill;
    system("dd if=/dev/zero of=$fill bs=1M count=34 status=none");
    my ($r, $j) = $t->submit($big, 'invert');
    is($r->{status}, 507, 'no room for the raster and result: 507');
    is($j->{error}, 'insufficient_storage', 'insufficient_storage');
    like($j->{message} // '', qr/the spool has \d+ bytes free; this 2000x1500 job needs about 18014525 more \(raster 9000000, png result up to 9014525\)/,
         "with the numbers: $j->{message}");
    # A JPEG result still has a raster.
    my ($rj, $jj) = $t->submit($big, 'invert', format => 'jpeg');
    is($rj->{status}, 507, 'a JPEG job with no room for its raster: 507');
    like($jj->{message} // '', qr/this 2000x1500 job needs about 12000000 more \(raster 9000000, jpeg result up to 3000000\)/,
         "with its own numbers: " . ($jj->{message} // ''));
    ok(!grep({ !/^(filler|tiler\.db.*|jobs|slots)$/ } map { s{.*/}{}r } glob("$spool/* $spool/jobs/*")), 'and nothing of it left in the spool');
    # A TIFF job has no raster but its padded tiles: counted as such.
    my ($rt, $jt) = $t->submit($big, 'invert', format => 'tiff');
    is($rt->{status}, 507, 'a TIFF job with no room for its tiles: 507');
    like($jt->{message} // '', qr/this 2000x1500 job needs about \d+ more \(tile index \d+, tiff result up to \d+\)/,
         "with its own numbers: " . ($jt->{message} // ''));
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

# ---- the result file does not fit ----
# Less room than the PNG itself takes: the job fails with the disk's error
# (its raster's, its strips' or its result's, or the job store's, as the
# tiles and the strips interleave), never waits for the disk, and the disk
# it used comes back at once (no file left open by the encoder). (Room for
# one and a half PNGs, as before session 13, can fit the job when its rows
# come one after the other: the raster's rows are freed as their strips
# are written. And every earlier job goes first: in session 13 an earlier
# job's result, swept by TilerJobTTL mid-job, handed this one its room.)
SKIP: {
    skip 'needs root to mount a small tmpfs for the spool', 7 unless $mounted;
    my $img2 = $t->make_image('res.jpg', 1200, 1000, 'jpeg', 0, 94);
    my ($r, $j) = $t->submit($img2, 'invert');
    my ($s) = $t->wait_job($j->{id}, 60);
    my ($res) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    my $png = length($res->{content} // '');
    ok($s->{state} eq 'done' && $png > 1_000_000, "a run with room: the PNG is $png bytes");
    # That job and every earlier one go now, not at TilerJobTTL's sweep in
    # the middle of the next one (which would hand it the room the test
    # takes away: seen in session 13, an earlier job's result swept).
    my (undef, $list) = $t->request('GET', '/tiler/api/jobs');
    $t->request('DELETE', "/tiler/api/jobs/$_->{id}") for @{ $list->{jobs} // [] };
    my $deadline = time + 30;
    my $left = sub { scalar(() = glob("$spool/jobs/*")) };
    sleep 0.05 while $left->() && time < $deadline;
    is($left->(), 0, 'no other job holds room in the spool');
    # The job is accepted on an empty disk (the spool has room for its
    # raster and result), then someone else's file fills the disk, leaving
    # room for nine tenths of the PNG.
    my $fill = "$spool/filler";
    $t->stop_process("worker$_") for 1, 2;
    ($r, $j) = $t->submit($img2, 'invert');
    is($r->{status}, 202, 'the upload fits');
    my $room = avail($spool) - int($png * 0.9);   # the filler: all but 0.9 PNG
    system("dd if=/dev/zero of=$fill bs=64K count=" . int($room / 65536) . " status=none");
    my $before = avail($spool);
    $t->start_worker($_) for 1, 2;
    ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'failed', 'the job fails when its result does not fit');
    like($s->{error} // '', qr/No space left on device|database or disk is full/, 'with the disk\'s error: ' . ($s->{error} // ''));
    my $pid = $t->results_consumer_pid;
    # A strip task may be inside a chunk of rows as the job fails: it lets
    # go of the raster at the next one.
    my @open;
    my $let_go = time + 10;
    do { @open = grep { (readlink($_) // '') =~ m{^\Q$spool\E/jobs/} } glob("/proc/$pid/fd/*") } while @open && time < $let_go && sleep 0.05;
    is_deeply([map { readlink $_ } @open], [], 'the encoder has no spool file open');
    my $back = avail($spool);
    cmp_ok($back, '>=', $before - 1024 * 1024, "the disk it used is free again ($back of $before bytes)");
    unlink $fill;
}

sub avail {
    my ($dir) = @_;
    my $out = `df -B1 --output=avail $dir`;
    my ($n) = $out =~ /(\d+)\s*$/;
    return $n;
}

# Unmount the small spool before the harness tidies the test directory.
$t->stop_httpd;
if ($mounted) { system("umount -l $spool"); $mounted = 0 }
$t->finish;
done_testing;
