# The zoomable view in a real browser (t/browser/zoom.mjs, Debian's Chromium
# and playwright-core): the job page of a result over
# TilerPreviewAbovePixels shows OpenSeadragon on the result's pyramid, and
# zoomed to 1:1 on the highest level its canvas holds exactly the result's
# pixels.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
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
$t->finish;
done_testing;
