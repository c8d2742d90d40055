# A spool too full for a job's zoom pyramid: the build fails with one
# warning (AH30901), leaves nothing half-built, notes the failure so that no
# start tries again, the zoom URLs answer 404 no_zoom, and the job stays
# done with its page showing the preview. The spool is a small tmpfs,
# filled while httpd is stopped; the build runs at the next start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'zoomfull', directives => "TilerPreviewAbovePixels 200000\n",
                       allow_log => [qr/AH30901: job [0-9a-f]{32}: the spool has no room for its zoomable view/]);
my $spool = $t->dir . '/spool';
mkdir $spool;
my $mounted = $> == 0 && system("mount -t tmpfs -o size=40m,mode=0755 tmpfs $spool 2>/dev/null") == 0;
END { system("umount -l $spool 2>/dev/null") if $mounted }
unless ($mounted) {
    TilerTest::missing('root, to mount a small tmpfs for the spool');
    plan skip_all => 'needs root to mount a small tmpfs for the spool';
}
$t->start_all(workers => 2);

my $img = $t->make_image('f.png', 1000, 700, 'png', 0, 44);
my (undef, $s) = $t->submit($img, 'invert');
my $id = $s->{id};
my $jobdir = "$spool/jobs/$id";
my ($j) = $t->wait_job($id, 120);
is($j->{state}, 'done', 'the job is done');
my $deadline = time + 60;
while (!$j->{zoom_url} && time < $deadline) { (undef, $j) = $t->request('GET', "/tiler/api/jobs/$id"); sleep 0.05 }
ok($j->{zoom_url}, 'its pyramid is built');

# What a restart mid-build leaves (the job done, no pyramid), on a spool
# with room for the job store's writes (256 KiB) but not for the pyramid's
# bands (2048 x 1000 bytes) and tiles: the next start builds it, and fails.
$t->stop_httpd;
system('rm', '-rf', "$jobdir/zoom");
my $avail = `df -B1 --output=avail $spool`;
($avail) = $avail =~ /(\d+)\s*$/;
my $filler = "$spool/filler";
system("dd if=/dev/zero of=$filler bs=4096 count=" . int(($avail - 256 * 1024) / 4096) . " 2>/dev/null");
$avail = `df -B1 --output=avail $spool`;
($avail) = $avail =~ /(\d+)\s*$/;
cmp_ok($avail, '<', 300 * 1024, "the spool is nearly full ($avail bytes left)");
my $log_from = -s $t->dir . '/logs/error.log';
$t->start_httpd;
my ($r, $d);
$deadline = time + 60;
my $log = '';
while (time < $deadline) {
    $log = substr(TilerTest::slurp($t->dir . '/logs/error.log'), $log_from);
    last if $log =~ /AH3090[123]: job $id/;
    sleep 0.05;
}
my @said = $log =~ /(AH30901: job $id: [^\n]*)/g;
is(scalar @said, 1, "one warning: $said[0]") if @said;
ok(@said == 1, 'the full spool is said once');
ok(!-e "$jobdir/zoom.tmp" && !-e "$jobdir/zoom", 'nothing half-built is left');
ok(-e "$jobdir/zoom.failed", 'the failure is noted, so that no start tries again');
($r, $d) = $t->request('GET', "/tiler/api/jobs/$id/zoom.dzi");
is($r->{status}, 404, 'zoom.dzi: 404');
is($d && $d->{error}, 'no_zoom', 'no_zoom');
(undef, $j) = $t->request('GET', "/tiler/api/jobs/$id");
is($j->{state}, 'done', 'the job stays done');
ok(!defined $j->{zoom_url}, 'without a zoom_url');
($r) = $t->request('GET', "/tiler/jobs/$id");
like($r->{content}, qr/id="preview-note"/, 'its page shows the preview');
unlike($r->{content}, qr/id="zoom"/, 'and no zoomable view');
# Room again, and a restart: the note keeps it from being tried again.
unlink $filler;
$t->stop_httpd;
$t->start_httpd;
($r, $d) = $t->request('GET', "/tiler/api/jobs/$id/zoom.dzi");
is($d && $d->{error}, 'no_zoom', 'a later start does not try again');

$t->stop_httpd;
system("umount -l $spool") if $mounted;
$mounted = 0;
$t->finish;
done_testing;
