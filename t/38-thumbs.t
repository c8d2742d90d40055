# Thumbnails cannot be used to burn CPU or disk: ?thumb=N is made and cached
# at one of a few standard sizes (the first of 64, 128, 256, 512, 1024, 2048
# not below N), concurrent requests for one uncached size decode the result
# once (single-flight on an flock), decodes across the server are bounded
# (503 too_many_thumbnails with Retry-After), and a thumbnail made while the
# job is deleted is not left behind. The test takes the module's own locks
# (flock on the same files) to hold requests at a known point, and watches
# /proc/locks to know when they wait, so no sleep stands in for an order.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl qw(:flock O_RDWR O_CREAT);
use Time::HiRes qw(sleep time);
use TilerTest;

TilerTest::need(-x '/usr/bin/curl', 'curl');
TilerTest::need(-r '/proc/locks', '/proc/locks');
TilerTest::need(system('sqlite3 -version >/dev/null 2>&1') == 0, 'the sqlite3 command');
my $t = TilerTest->new(name => 'thumbs');
$t->start_all(workers => 1);

my $img = $t->make_image('big.png', 900, 600, 'png', 0, 38);
my (undef, $sub) = $t->submit($img, 'grayscale');
my $id = $sub->{id};
my ($j) = $t->wait_job($id, 60);
is($j->{state}, 'done', 'job done');
my $url = "/tiler/api/jobs/$id/result";
my $jobdir = $t->dir . "/spool/jobs/$id";

# A lock file of the module's, made as httpd's user would, locked by the test.
sub hold_lock {
    my ($path) = @_;
    my $new = !-e $path;
    sysopen(my $fh, $path, O_RDWR | O_CREAT, 0600) or die "$path: $!";
    if ($new) {   # owned like the spool, so that httpd (www-data under root) can open it
        my @st = stat($t->dir . '/spool');
        chown $st[4], $st[5], $path;
    }
    flock($fh, LOCK_EX) or die "flock $path: $!";
    return $fh;
}

# Waits until n processes are blocked on the flock of path (lines "-> FLOCK"
# in /proc/locks naming its inode). True when they are.
sub waiters {
    my ($path, $n) = @_;
    my $ino = (stat $path)[1];
    my $deadline = time + 30;
    while (time < $deadline) {
        open my $fh, '<', '/proc/locks' or return 0;
        my $w = grep { /->\s+FLOCK\s.*:$ino\s/ } <$fh>;
        return 1 if $w >= $n;
        sleep 0.05;
    }
    return 0;
}

# curl in the background: its status and body land in files.
sub fetch_bg {
    my ($path, $out) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        exec('curl', '-s', '-o', $out, '--max-time', '60', $t->url . $path)
            or exit 127;
    }
    return $pid;
}

sub decodes {
    my ($side) = @_;
    my $log = TilerTest::slurp($t->dir . '/logs/error.log');
    my @n = $log =~ /AH30180: job $id: making the $side-pixel thumbnail/g;
    return scalar @n;
}

sub png_size {
    my ($body) = @_;
    return (0, 0) unless length($body) >= 24 && substr($body, 0, 8) eq "\x89PNG\r\n\x1a\n";
    return unpack('NN', substr($body, 16, 8));
}

# ---- concurrent misses for one size decode the result once ----
{
    my $lock = hold_lock("$jobdir/thumb-256.png.lock");
    my @pids = map { fetch_bg("$url?thumb=256", $t->dir . "/par-$_.out") } 1 .. 4;
    ok(waiters("$jobdir/thumb-256.png.lock", 4), '4 requests for an uncached size wait for the one making it');
    close $lock;
    waitpid($_, 0) for @pids;
    my @got = map { eval { TilerTest::slurp($t->dir . "/par-$_.out") } // '' } 1 .. 4;
    my $thumb = eval { TilerTest::slurp("$jobdir/thumb-256.png") } // '';
    is(scalar(grep { $_ eq $thumb && length $thumb } @got), 4, 'all 4 get the thumbnail');
    is(decodes(256), 1, 'made once: one decode logged');
    my ($w, $h) = png_size($thumb);
    is("$w x $h", '256 x 171', 'at 256 pixels on the long side');
}

# ---- decodes across the server are bounded ----
{
    mkdir $t->dir . '/spool/slots';
    my @held = map { hold_lock($t->dir . "/spool/slots/thumb-$_") } 0 .. 1;
    my ($r, $d) = $t->request('GET', "$url?thumb=512");
    is($r->{status}, 503, 'every thumbnail slot held: 503') or diag($r->{content});
    is($d && $d->{error}, 'too_many_thumbnails', 'too_many_thumbnails');
    ok($r->{headers}{'retry-after'}, 'with Retry-After');
    ok(!-e "$jobdir/thumb-512.png", 'and nothing decoded');
    is(decodes(512), 0, 'no decode logged');
    close $_ for @held;
    ($r) = $t->request('GET', "$url?thumb=512");
    is($r->{status}, 200, 'a slot free: 200');
}

# ---- sizes are rounded up to the standard ones; the files stay few ----
{
    my ($r) = $t->request('GET', "$url?thumb=96");
    is($r->{status}, 200, 'thumb=96 (what the dashboard asks for)');
    is($r->{headers}{'content-type'}, 'image/png', 'a PNG');
    my ($w, $h) = png_size($r->{content});
    is("$w x $h", '128 x 85', 'made at 128, the next standard size');
    for my $n (16, 17, 63, 64, 65, 100, 127, 129, 200, 255, 300, 500, 513, 700, 1000, 1023, 1025, 1500, 2000, 2047, 2048) {
        ($r) = $t->request('GET', "$url?thumb=$n");
        is($r->{status}, 200, "thumb=$n") or diag($r->{content});
    }
    opendir(my $dh, $jobdir) or die $!;
    my @thumbs = sort { $a <=> $b } map { /^thumb-(\d+)\.png$/ ? $1 : () } readdir $dh;
    is("@thumbs", '64 128 256 512 1024 2048', 'after 23 sizes asked, six thumbnails cached');
    my @rest = grep { !/^(?:thumb-\d+\.png(?:\.lock)?|result|\.\.?)$/ } do { rewinddir $dh; readdir $dh };
    is("@rest", '', 'and beside them only their lock files and the result');
    for my $n (15, 2049) {
        my ($bad, $d) = $t->request('GET', "$url?thumb=$n");
        is($bad->{status}, 400, "thumb=$n: 400");
        like($d && $d->{message}, qr/16\.\.2048/, 'naming the range');
    }
}

# ---- a job deleted while its thumbnail is made leaves nothing behind ----
# DELETE removes the job's row and then sweeps its directory. A thumbnail
# written after the sweep passed (here: the row is removed while the request
# waits for the lock, before it decodes) must be removed by the request.
{
    my (undef, $s2) = $t->submit($t->make_image('small.png', 300, 200, 'png', 0, 39), 'invert');
    my ($j2) = $t->wait_job($s2->{id}, 60);
    is($j2->{state}, 'done', 'second job done');
    my $dir2 = $t->dir . "/spool/jobs/$s2->{id}";
    my $lock = hold_lock("$dir2/thumb-64.png.lock");
    my $pid = fetch_bg("/tiler/api/jobs/$s2->{id}/result?thumb=64", $t->dir . '/del.out');
    ok(waiters("$dir2/thumb-64.png.lock", 1), 'the thumbnail request waits');
    my @sqlite = ($> == 0 ? ('runuser', '-u', 'www-data', '--') : (), 'sqlite3', '-cmd', '.timeout 10000', $t->dir . '/spool/tiler.db');
    is(system(@sqlite, "DELETE FROM jobs WHERE id = '$s2->{id}'"), 0, 'the job row removed (as DELETE does first)');
    close $lock;
    waitpid($pid, 0);
    is(-d $dir2 ? join(' ', sort map { s{.*/}{}r } glob("$dir2/*")) : 'gone', 'gone', 'the job directory is gone, thumbnail and all');
    like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30181: job $s2->{id}: removed while its thumbnail was made/,
         'and the module says why');
}

$t->finish;
done_testing;
