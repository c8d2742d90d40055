# The zoomable view in a real browser (t/browser/zoom.mjs, Debian's Chromium
# and playwright-core): the job page of a result over
# TilerPreviewAbovePixels shows OpenSeadragon on the result's pyramid (fed
# from the job's own tiles as the result was assembled), and
# zoomed to 1:1 on the highest level its canvas holds exactly the result's
# pixels; a page opened while the pyramid is built shows the preview and
# then the view, without a reload (t/browser/zoom-wait.mjs).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Fcntl qw(:flock O_RDWR O_CREAT);
use TilerTest;

use constant MIN_CHECKS => 9;   # the checks in t/browser/zoom.mjs

my $top = $TilerTest::TOP;
TilerTest::need(-x '/usr/bin/chromium' && -d "$top/t/browser/node_modules/playwright-core",
                'chromium and playwright-core (scripts/check installs them)');

my $t = TilerTest->new(name => 'zoombrowser', directives => "TilerPreviewAbovePixels 200000\n");
$t->start_all(workers => 2);
my $big = $t->make_image('big.png', 1000, 700, 'png', 0, 43);
my (undef, $s) = $t->submit($big, 'grayscale');
my ($j) = $t->wait_job($s->{id}, 120);
is($j->{state}, 'done', 'the job is done');
my $deadline = time + 60;
while (!$j->{zoom_url} && time < $deadline) {
    (undef, $j) = $t->request('GET', "/tiler/api/jobs/$s->{id}");
    sleep 0.05;
}
ok($j->{zoom_url}, 'its zoomable view is built');
like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30908: job $s->{id}: zoomable view of 1000x700 built from its tiles as they were assembled/,
     'fed from the job\'s own tiles as they were assembled');
my $out = `node $top/t/browser/zoom.mjs @{[$t->url]}/tiler/ $s->{id} 1000 700 $top/t/artifacts 2>&1`;
my $rc = $?;
my $seen = 0;
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok - (.*)$/) { ok(!$1, $2); $seen++ }
    elsif ($line !~ /^RESULT /) { diag($line) }
}
is($rc, 0, 'the browser run passed');
my ($json) = $out =~ /^RESULT (.*)$/m;
my $res = eval { JSON::PP::decode_json($json // '') } // {};
is($res->{checks} // 0, $seen, 'the browser script finished, reporting each check it made');
cmp_ok($seen, '>=', MIN_CHECKS, 'and made all ' . MIN_CHECKS . ' of them');

# ---- a page opened while the pyramid is built ----
# What a restart mid-build leaves (no pyramid), with the builder's lock held
# by the test so that the start leaves it unbuilt; once the page is seen
# waiting, the lock goes and a restart builds it.
my $jobdir = $t->dir . "/spool/jobs/$s->{id}";
$t->stop_httpd;
system('rm', '-rf', "$jobdir/zoom");
my @st = stat($t->dir . '/spool');
sysopen(my $lock, "$jobdir/zoom.lock", O_RDWR | O_CREAT, 0640) or die "zoom.lock: $!";
chown $st[4], $st[5], "$jobdir/zoom.lock";
flock($lock, LOCK_EX) or die "flock: $!";
$t->start_httpd;
open(my $node, '-|', "node $top/t/browser/zoom-wait.mjs @{[$t->url]}/tiler/ $s->{id} $top/t/artifacts 2>&1") or die "node: $!";
my ($seen2, $json2) = (0, undef);
while (my $line = <$node>) {
    chomp $line;
    if ($line eq 'WAITING') {
        close $lock;
        $t->stop_httpd;
        $t->start_httpd;
    } elsif ($line =~ /^(not )?ok - (.*)$/) { ok(!$1, $2); $seen2++ }
    elsif ($line =~ /^RESULT (.*)$/) { $json2 = $1 }
    else { diag($line) }
}
close $node;
is($?, 0, 'the second browser run passed');
$res = eval { JSON::PP::decode_json($json2 // '') } // {};
is($res->{checks} // 0, $seen2, 'and reported each check it made');
cmp_ok($seen2, '>=', 4, 'all 4 of them');

$t->finish;
done_testing;
