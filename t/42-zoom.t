# The zoomable view of a result over TilerPreviewAbovePixels: a DZI pyramid
# fed from a PNG or Deflate-TIFF job's own tiles as they are assembled (six
# strips of 128-pixel tiles, completing in any order), or built from a JPEG
# or JPEG-TIFF result once done, served from the spool. Its descriptor's
# numbers, every tile of the top level and of lower levels compared with the
# result's pixels and with a reference downsample of them (tiler-zoomcheck),
# the error answers (400, 404, 409, with JSON bodies), a result under the
# threshold without one, TilerZoom Off, a build cut short by a restart made
# again on start, and the pyramid gone with its job. The test holds the
# builder's own lock (flock on zoom.lock) to keep a pyramid unbuilt at a
# known point, so no sleep stands in for an order.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Path qw(make_path remove_tree);
use Fcntl qw(:flock O_RDWR O_CREAT);
use Time::HiRes qw(sleep time);
use TilerTest;

# TilerPngRows On: the PNG pyramid is fed from the workers' deflated rows
# (t/50-faults.t feeds one from a raster, the default).
my $t = TilerTest->new(name => 'zoom', directives => "TilerPreviewAbovePixels 200000\nTilerTileSize 128\nTilerPngRows On\n");
$t->start_all(workers => 2);
my $zoomcheck = $t->bin('t/tools/tiler-zoomcheck');

# Polls the job's status until zoom_url is set (the build runs after the job
# is done); returns the last status.
sub wait_zoom {
    my ($id, $timeout) = @_;
    my $deadline = time + ($timeout // 60);
    my $j;
    while (time < $deadline) {
        (undef, $j) = $t->request('GET', "/tiler/api/jobs/$id");
        return $j if $j && $j->{zoom_url};
        sleep 0.05;
    }
    return $j;
}

sub error_is {
    my ($path, $status, $code, $what, %o) = @_;
    my ($r, $d) = $t->request($o{method} // 'GET', $path);
    is($r->{status}, $status, "$what: $status");
    is($d && $d->{error}, $code, "$what: JSON error $code") if $code;
}

# Downloads level $l's tiles (cols x rows) into a directory; returns it.
sub fetch_level {
    my ($id, $l, $cols, $rows) = @_;
    my $dir = $t->dir . "/tiles-$id-$l";
    make_path($dir);
    my $bad = 0;
    for my $r (0 .. $rows - 1) {
        for my $c (0 .. $cols - 1) {
            my ($resp) = $t->request('GET', "/tiler/api/jobs/$id/zoom_files/$l/${c}_$r.png");
            $bad++ unless $resp->{status} == 200 && ($resp->{headers}{'content-type'} // '') eq 'image/png';
            TilerTest::spew("$dir/${c}_$r.png", $resp->{content} // '');
        }
    }
    is($bad, 0, "level $l: all $cols x $rows tiles are served as image/png");
    return $dir;
}

sub zoomcheck {
    my ($result, $l, $dir, $what) = @_;
    my $out = `$zoomcheck $result $l $dir 2>&1`;
    chomp $out;
    ok($? == 0, "$what: $out");
}

# ---- a PNG result over the threshold: 1000 x 700 = 700,000 pixels ----
my $big = $t->make_image('big.png', 1000, 700, 'png', 0, 42);
my (undef, $s) = $t->submit($big, 'invert');
my $id = $s->{id};
my ($j) = $t->wait_job($id, 120);
is($j->{state}, 'done', 'the big job is done');
$j = wait_zoom($id);
is($j->{zoom_url}, "/tiler/api/jobs/$id/zoom.dzi", 'its status gets zoom_url once the pyramid is built');
my $elog = TilerTest::slurp($t->dir . '/logs/error.log');
like($elog, qr/AH30908: job $id: zoomable view of 1000x700 built from its tiles as they were assembled \(11 levels\)/,
     'the PNG result\'s pyramid was fed from its tiles as they were assembled');
unlike($elog, qr/AH3090[39]: job $id/, 'it was not built from the result file');
my ($r) = $t->request('GET', "/tiler/api/jobs/$id/result");
my $result = $t->dir . '/big-result.png';
TilerTest::spew($result, $r->{content});

($r) = $t->request('GET', "/tiler/api/jobs/$id/zoom.dzi");
is($r->{status}, 200, 'zoom.dzi: 200');
is($r->{headers}{'content-type'}, 'application/xml', 'as application/xml');
my $dzi = $r->{content} // '';
like($dzi, qr/<Image [^>]*Format="png"/, 'Format png');
like($dzi, qr/<Image [^>]*TileSize="256"/, 'TileSize 256');
like($dzi, qr/<Image [^>]*Overlap="0"/, 'Overlap 0');
like($dzi, qr/<Size Width="1000" Height="700"\/>/, 'the size of the result');
ok($r->{headers}{etag} && $r->{headers}{'last-modified'}, 'with ETag and Last-Modified');
($r) = $t->request('GET', "/tiler/api/jobs/$id/zoom.dzi", headers => { 'If-None-Match' => $r->{headers}{etag} });
is($r->{status}, 304, 'If-None-Match with its ETag: 304');

# maxL = ceil(log2(1000)) = 10: level 10 is 1000 x 700 (4 x 3 tiles), 9 is
# 500 x 350 (2 x 2), 8 is 250 x 175 (1), 0 one pixel.
zoomcheck($result, 10, fetch_level($id, 10, 4, 3), 'level 10 (the result itself)');
zoomcheck($result, 9, fetch_level($id, 9, 2, 2), 'level 9 against a reference downsample of the result');
zoomcheck($result, 8, fetch_level($id, 8, 1, 1), 'level 8');
zoomcheck($result, 0, fetch_level($id, 0, 1, 1), 'level 0');
($r) = $t->request('GET', "/tiler/api/jobs/$id/zoom_files/10/0_0.png");
my $etag = $r->{headers}{etag};
($r) = $t->request('GET', "/tiler/api/jobs/$id/zoom_files/10/0_0.png", headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'a tile answers If-None-Match too');

# ---- the errors ----
my $tiles = "/tiler/api/jobs/$id/zoom_files";
error_is("$tiles/11/0_0.png", 404, 'no_tile', 'a level above the top');
error_is("$tiles/10/4_0.png", 404, 'no_tile', 'a column past the grid');
error_is("$tiles/10/0_3.png", 404, 'no_tile', 'a row past the grid');
error_is("$tiles/9/2_0.png", 404, 'no_tile', 'a column past a lower level\'s grid');
error_is("$tiles/10/01_0.png", 400, 'bad_zoom_path', 'a leading zero');
error_is("$tiles/+1/0_0.png", 400, 'bad_zoom_path', 'a sign');
error_is("$tiles/-1/0_0.png", 400, 'bad_zoom_path', 'a minus');
error_is("$tiles/99999999999999999999/0_0.png", 400, 'bad_zoom_path', 'a huge number');
error_is("$tiles/10/0_0.jpg", 400, 'bad_zoom_path', 'another extension');
error_is("$tiles/10/0_0", 400, 'bad_zoom_path', 'no extension');
error_is("$tiles/10/%2e%2e/0_0.png", 400, 'bad_zoom_path', 'an escaped ..');
error_is("$tiles/", 400, 'bad_zoom_path', 'no tile');
error_is("/tiler/api/jobs/$id/zoom.dzi", 405, undef, 'POST zoom.dzi', method => 'POST');
error_is("/tiler/api/jobs/00000000000000000000000000000000/zoom.dzi", 404, 'not_found', 'an unknown job');
error_is("/tiler/api/jobs/../zoom.dzi", 404, undef, 'no job id');

# ---- under the threshold: 500 x 300 = 150,000 pixels ----
my $small = $t->make_image('small.png', 500, 300, 'png', 0, 43);
(undef, $s) = $t->submit($small, 'invert');
my $sid = $s->{id};
($j) = $t->wait_job($sid, 60);
is($j->{state}, 'done', 'the small job is done');
ok(exists $j->{zoom_url} && !defined $j->{zoom_url}, 'its zoom_url is null');
error_is("/tiler/api/jobs/$sid/zoom.dzi", 404, 'no_zoom', 'a result under the threshold has no zoom');
error_is("/tiler/api/jobs/$sid/zoom_files/0/0_0.png", 404, 'no_zoom', 'nor tiles');
ok(!-e $t->dir . "/spool/jobs/$sid/zoom", 'and no pyramid in its spool directory');

# ---- a JPEG result, read back by libjpeg a row at a time ----
(undef, $s) = $t->submit($big, 'grayscale', format => 'jpeg');
my $jid = $s->{id};
($j) = $t->wait_job($jid, 120);
is($j->{state}, 'done', 'the JPEG job is done');
$j = wait_zoom($jid);
ok($j->{zoom_url}, 'it gets a zoomable view too');
like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30903: job $jid: zoomable view of 1000x700 built/,
     'built from the JPEG result file (its pixels with JPEG\'s loss, as the download has them)');
($r) = $t->request('GET', "/tiler/api/jobs/$jid/result");
TilerTest::spew($t->dir . '/jpeg-result.jpg', $r->{content});
zoomcheck($t->dir . '/jpeg-result.jpg', 10, fetch_level($jid, 10, 4, 3), 'the JPEG result\'s top level');

# ---- a TIFF result, read back by the uploads' TIFF reader ----
# The same image and ops as the PNG job above: the same pixels, so the
# same pyramid, tile for tile and byte for byte.
(undef, $s) = $t->submit($big, 'invert', format => 'tiff');
my $tid = $s->{id};
($j) = $t->wait_job($tid, 120);
is($j->{state}, 'done', 'the TIFF job is done');
$j = wait_zoom($tid);
ok($j->{zoom_url}, 'a TIFF result gets a zoomable view too');
like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30908: job $tid: zoomable view of 1000x700 built from its tiles as they were assembled/,
     'fed from the workers\' Deflate tiles as they were placed');
for my $lv ([10, 4, 3], [9, 2, 2], [0, 1, 1]) {
    my ($l, $cols, $rows) = @$lv;
    my ($dt, $dp) = (fetch_level($tid, $l, $cols, $rows), $t->dir . "/tiles-$id-$l");
    my @differ = grep { TilerTest::slurp("$dt/$_") ne TilerTest::slurp("$dp/$_") }
                 map { my $r = $_; map { "${_}_$r.png" } 0 .. $cols - 1 } 0 .. $rows - 1;
    is("@differ", '', "level $l of the TIFF result's pyramid is the PNG result's, byte for byte");
}

# A TIFF of JPEG tiles (compression=jpeg): its pyramid is the definition's
# from its own (lossy) pixels, as the same reader decodes them.
(undef, $s) = $t->submit($big, 'invert', format => 'tiff', compression => 'jpeg');
my $jtid = $s->{id};
($j) = $t->wait_job($jtid, 120);
is($j->{state}, 'done', 'the JPEG-TIFF job is done');
$j = wait_zoom($jtid);
ok($j->{zoom_url}, 'a JPEG-TIFF result gets a zoomable view too');
like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30903: job $jtid: zoomable view of 1000x700 built/,
     'built from the JPEG-TIFF result file (its pixels as the download decodes)');
($r) = $t->request('GET', "/tiler/api/jobs/$jtid/result");
TilerTest::spew($t->dir . '/jpeg-tiff-result.tif', $r->{content});
zoomcheck($t->dir . '/jpeg-tiff-result.tif', 10, fetch_level($jtid, 10, 4, 3), "the JPEG-TIFF result's top level");
zoomcheck($t->dir . '/jpeg-tiff-result.tif', 9, fetch_level($jtid, 9, 2, 2), "the JPEG-TIFF result's level 9");

# ---- a build cut short: 409 while it is missing, made again on start ----
# The state a restart mid-build leaves: the job done, no pyramid, a half-built one.
my $jobdir = $t->dir . "/spool/jobs/$jid";
remove_tree("$jobdir/zoom");
make_path("$jobdir/zoom.tmp/zoom_files/10");
TilerTest::spew("$jobdir/zoom.tmp/zoom_files/10/0_0.png", 'half');
my @st = stat($t->dir . '/spool');
system('chown', '-R', "$st[4]:$st[5]", "$jobdir/zoom.tmp");
sysopen(my $lock, "$jobdir/zoom.lock", O_RDWR | O_CREAT, 0640) or die "zoom.lock: $!";
chown $st[4], $st[5], "$jobdir/zoom.lock";
flock($lock, LOCK_EX) or die "flock: $!";
error_is("/tiler/api/jobs/$jid/zoom.dzi", 409, 'zoom_not_ready', 'a pyramid not built yet');
($r) = $t->request('GET', "/tiler/api/jobs/$jid/zoom.dzi");
is($r->{headers}{'retry-after'}, '5', 'with Retry-After');
error_is("/tiler/api/jobs/$jid/zoom_files/10/0_0.png", 409, 'zoom_not_ready', 'its tiles too (never the half-built ones)');
(undef, $j) = $t->request('GET', "/tiler/api/jobs/$jid");
ok(!defined $j->{zoom_url}, 'zoom_url is null meanwhile');
# A restart while the lock is held: whenever the start's look runs, the
# builder finds the lock taken and leaves the job (another process builds it).
$t->stop_httpd;
$t->start_httpd;
error_is("/tiler/api/jobs/$jid/zoom.dzi", 409, 'zoom_not_ready', 'still not ready after a start that found it locked');
close $lock;
$t->stop_httpd;
$t->start_httpd;
$j = wait_zoom($jid);
ok($j->{zoom_url}, 'the next start builds the missing pyramid');
ok(!-e "$jobdir/zoom.tmp", 'and the half-built one is gone');
remove_tree($t->dir . "/tiles-$jid-10");
zoomcheck($t->dir . '/jpeg-result.jpg', 10, fetch_level($jid, 10, 4, 3), 'the rebuilt top level');

# ---- a feed that cannot start: another process holds the job's zoom lock ----
# (the old child of a graceful restart feeding it). The workers wait until
# the test holds the lock, so it is held before the job's first strip: the
# job is assembled without a feed and keeps its raster's rows for the other
# feed; once done, nobody here builds while the lock is held; after it is
# let go, the next start builds the pyramid from the result file.
$t->stop_process("worker$_") for 1, 2;
(undef, $s) = $t->submit($big, 'invert');
my $lid = $s->{id};
my $ldir = $t->dir . "/spool/jobs/$lid";
sysopen(my $held, "$ldir/zoom.lock", O_RDWR | O_CREAT, 0640) or die "zoom.lock: $!";
chown $st[4], $st[5], "$ldir/zoom.lock";
flock($held, LOCK_EX) or die "flock: $!";
$t->start_worker($_) for 1, 2;
($j) = $t->wait_job($lid, 120);
is($j->{state}, 'done', 'a job whose zoom lock another process holds is done');
($r) = $t->request('GET', "/tiler/api/jobs/$lid/result");
ok(defined $r->{content} && $r->{content} eq TilerTest::slurp($result), 'its result is the same job\'s fed one, byte for byte');
error_is("/tiler/api/jobs/$lid/zoom.dzi", 409, 'zoom_not_ready', 'no pyramid is built here while the lock is held');
ok(!-e "$ldir/zoom.tmp" && !-e "$ldir/zoom", 'and none was begun');
close $held;
$t->stop_httpd;
$t->start_httpd;
$j = wait_zoom($lid);
ok($j->{zoom_url}, 'the next start builds it');
like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30903: job $lid: zoomable view of 1000x700 built/,
     'from the result file');
zoomcheck($result, 10, fetch_level($lid, 10, 4, 3), 'its top level');
zoomcheck($result, 9, fetch_level($lid, 9, 2, 2), 'its level 9');

# ---- TilerZoom Off: no zoom, even where a pyramid is on disk ----
$t->{directives} .= "TilerZoom Off\n";
$t->stop_httpd;
$t->start_httpd;
error_is("/tiler/api/jobs/$id/zoom.dzi", 404, 'no_zoom', 'TilerZoom Off');
(undef, $j) = $t->request('GET', "/tiler/api/jobs/$id");
ok(!defined $j->{zoom_url}, 'and zoom_url is null');
$t->{directives} =~ s/TilerZoom Off\n//;
$t->stop_httpd;
$t->start_httpd;

# ---- deleting the job removes its pyramid ----
ok(-d $t->dir . "/spool/jobs/$id/zoom/zoom_files", 'the pyramid is in the job\'s spool directory');
($r) = $t->request('DELETE', "/tiler/api/jobs/$id");
is($r->{status}, 200, 'DELETE the job');
ok(!-e $t->dir . "/spool/jobs/$id", 'its directory, pyramid and all, is gone');
error_is("/tiler/api/jobs/$id/zoom.dzi", 404, 'not_found', 'and its zoom URLs answer 404');

$t->finish;
done_testing;
