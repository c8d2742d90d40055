# The upload page and the dashboard in a real browser: Debian's Chromium,
# driven by playwright-core (t/browser/ui.mjs). The downloaded result is
# compared pixel for pixel with local mode; screenshots go to t/artifacts/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

my $top = $TilerTest::TOP;
TilerTest::need(-x '/usr/bin/chromium' && -d "$top/t/browser/node_modules/playwright-core",
                'chromium and playwright-core (scripts/check installs them)');

my $t = TilerTest->new(name => 'browser');
$t->start_all(workers => 2);
my $img = $t->make_image('photo.png', 1300, 900, 'png', 1, 31);
my $artifacts = "$top/t/artifacts";
my $download = $t->dir . '/downloaded.png';
my $big = $t->make_image('big.png', 4000, 3000, 'png', 0, 32);   # a job long enough to open the dashboard in
my $out = `node $top/t/browser/ui.mjs @{[$t->url]}/tiler/ $img $download $artifacts $big 2>&1`;
my $rc = $?;
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok - (.*)$/) { ok(!$1, $2) }
    elsif ($line !~ /^RESULT /) { diag($line) }
}
is($rc, 0, 'the browser run passed');
my ($json) = $out =~ /^RESULT (.*)$/m;
my $res = JSON::PP::decode_json($json // '{}');
like($res->{job} // '', qr/^[0-9a-f]{32}$/, 'the browser made a job');
my ($msg, $same) = $t->imgcmp($download, $t->local_result($img, 'grayscale,blur:2,invert,rotate:270'));
ok($same, "the downloaded result is identical to local mode ($msg)");
ok(-s "$artifacts/$_.png", "screenshot $_.png saved") for qw(upload upload-done job dashboard dashboard-mid-job);
$t->finish;
done_testing;
